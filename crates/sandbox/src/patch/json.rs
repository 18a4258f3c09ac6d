//! RFC 6902 JSON patch (`application/json-patch+json`), applied atomically, with RFC 6901 JSON
//! pointers.

use serde_json::Value;

use super::values::json_eq;
use crate::go_format::json_kind;

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `move`, `copy`, `test`; JSON pointers with
/// `~0`/`~1` escapes and `-` (append) for arrays. Atomic: on any error `target` is unchanged.
/// Errors name the failing operation's index and path.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let Value::Array(list) = ops else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(ops)
        ));
    };
    let mut doc = target.clone();
    for (i, op) in list.iter().enumerate() {
        if let Err(e) = apply_json_patch_op(&mut doc, op) {
            let name = op.get("op").and_then(Value::as_str).unwrap_or("?");
            let path = op.get("path").and_then(Value::as_str).unwrap_or("");
            return Err(format!(
                "json patch operation {i} ({name} \"{path}\") failed: {e}"
            ));
        }
    }
    *target = doc;
    Ok(())
}

fn apply_json_patch_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let Value::Object(o) = op else {
        return Err("operation is not a JSON object".to_string());
    };
    let name = match o.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("\"op\" is not a string".to_string()),
        None => return Err("missing \"op\"".to_string()),
    };
    let path = match o.get("path") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("\"path\" is not a string".to_string()),
        None => return Err("missing \"path\"".to_string()),
    };
    let tokens = parse_pointer(path)?;
    let value = || {
        o.get("value")
            .cloned()
            .ok_or_else(|| "missing \"value\"".to_string())
    };
    let from = || -> Result<Vec<String>, String> {
        match o.get("from") {
            Some(Value::String(s)) => parse_pointer(s),
            Some(_) => Err("\"from\" is not a string".to_string()),
            None => Err("missing \"from\"".to_string()),
        }
    };
    match name {
        "add" => pointer_add(doc, &tokens, value()?),
        "remove" => pointer_remove(doc, &tokens).map(|_| ()),
        "replace" => pointer_replace(doc, &tokens, value()?),
        "move" => {
            let from = from()?;
            if from == tokens {
                return pointer_get(doc, &from).map(|_| ());
            }
            if tokens.len() > from.len() && tokens.starts_with(&from) {
                return Err("cannot move a value into one of its own children".to_string());
            }
            let v = pointer_remove(doc, &from)?;
            pointer_add(doc, &tokens, v)
        }
        "copy" => {
            let v = pointer_get(doc, &from()?)?.clone();
            pointer_add(doc, &tokens, v)
        }
        "test" => {
            let want = value()?;
            let got = pointer_get(doc, &tokens)?;
            if json_eq(got, &want) {
                Ok(())
            } else {
                // As the API server's json-patch: no values (the object may be a Secret).
                Err("test failed".to_string())
            }
        }
        other => Err(format!("unsupported operation \"{other}\"")),
    }
}

/// RFC 6901: `""` is the whole document; otherwise `/`-separated reference tokens where `~1`
/// stands for `/` and `~0` for `~`.
fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer \"{p}\": must start with '/'"));
    };
    rest.split('/')
        .map(|tok| {
            let mut out = String::with_capacity(tok.len());
            let mut chars = tok.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(format!("invalid JSON pointer \"{p}\": bad '~' escape")),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index token: decimal digits without leading zeros.
fn array_index(tok: &str) -> Result<usize, String> {
    let digits = !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit());
    if !digits || (tok.len() > 1 && tok.starts_with('0')) {
        return Err(format!("\"{tok}\" is not a valid array index"));
    }
    tok.parse::<usize>()
        .map_err(|_| format!("\"{tok}\" is not a valid array index"))
}

fn pointer_get<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, String> {
    let mut cur = doc;
    for tok in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get(tok)
                .ok_or_else(|| format!("path segment \"{tok}\" not found"))?,
            Value::Array(a) => {
                let i = array_index(tok)?;
                a.get(i)
                    .ok_or_else(|| format!("array index {i} out of bounds (length {})", a.len()))?
            }
            _ => return Err(format!("cannot descend into a scalar at \"{tok}\"")),
        };
    }
    Ok(cur)
}

fn pointer_get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for tok in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(tok)
                .ok_or_else(|| format!("path segment \"{tok}\" not found"))?,
            Value::Array(a) => {
                let len = a.len();
                let i = array_index(tok)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of bounds (length {len})"))?
            }
            _ => return Err(format!("cannot descend into a scalar at \"{tok}\"")),
        };
    }
    Ok(cur)
}

fn pointer_add(doc: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = v;
        return Ok(());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                array_index(last)?
            };
            if i > a.len() {
                return Err(format!(
                    "array index {i} out of bounds (length {})",
                    a.len()
                ));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

fn pointer_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".to_string());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path segment \"{last}\" not found")),
        Value::Array(a) => {
            let i = array_index(last)?;
            if i >= a.len() {
                return Err(format!(
                    "array index {i} out of bounds (length {})",
                    a.len()
                ));
            }
            Ok(a.remove(i))
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

fn pointer_replace(doc: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = v;
        return Ok(());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => match m.get_mut(last) {
            Some(slot) => {
                *slot = v;
                Ok(())
            }
            None => Err(format!("path segment \"{last}\" not found")),
        },
        Value::Array(a) => {
            let len = a.len();
            let i = array_index(last)?;
            match a.get_mut(i) {
                Some(slot) => {
                    *slot = v;
                    Ok(())
                }
                None => Err(format!("array index {i} out of bounds (length {len})")),
            }
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jp(doc: Value, ops: Value) -> Result<Value, String> {
        let mut d = doc;
        json_patch(&mut d, &ops).map(|()| d)
    }

    #[test]
    fn json_patch_every_operation() {
        let doc =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2, 3]}});
        let out = jp(
            doc,
            json!([
                {"op": "test", "path": "/metadata/name", "value": "a"},
                {"op": "add", "path": "/metadata/labels/y", "value": "2"},
                {"op": "add", "path": "/spec/list/1", "value": 9},
                {"op": "add", "path": "/spec/list/-", "value": 4},
                {"op": "replace", "path": "/spec/list/0", "value": 0},
                {"op": "remove", "path": "/spec/list/2"},
                {"op": "copy", "from": "/metadata/labels", "path": "/spec/labels"},
                {"op": "move", "from": "/metadata/labels/x", "path": "/spec/moved"},
                {"op": "replace", "path": "/metadata/name", "value": "b"},
                {"op": "test", "path": "/spec/list", "value": [0, 9, 3, 4]}
            ]),
        );
        assert_eq!(
            out,
            Ok(json!({
                "metadata": {"name": "b", "labels": {"y": "2"}},
                "spec": {"list": [0, 9, 3, 4], "labels": {"x": "1", "y": "2"}, "moved": "1"}
            }))
        );
    }

    #[test]
    fn json_patch_pointer_escapes_and_root() {
        let doc = json!({"metadata": {"annotations": {"example.com/a~b": "1"}}});
        let out = jp(
            doc,
            json!([
                {"op": "test", "path": "/metadata/annotations/example.com~1a~0b", "value": "1"},
                {"op": "add", "path": "/metadata/annotations/x~1y", "value": "2"},
                {"op": "remove", "path": "/metadata/annotations/example.com~1a~0b"}
            ]),
        );
        assert_eq!(out, Ok(json!({"metadata": {"annotations": {"x/y": "2"}}})));
        assert_eq!(
            jp(
                json!({"a": 1}),
                json!([{"op": "replace", "path": "", "value": [1]}])
            ),
            Ok(json!([1]))
        );
        assert_eq!(
            jp(
                json!({"a": 1}),
                json!([{"op": "add", "path": "", "value": {"b": 2}}])
            ),
            Ok(json!({"b": 2}))
        );
        // Empty key is a real key.
        assert_eq!(
            jp(json!({}), json!([{"op": "add", "path": "/", "value": 1}])),
            Ok(json!({"": 1}))
        );
        // Numbers compare by value in `test`.
        assert!(
            jp(
                json!({"a": 1}),
                json!([{"op": "test", "path": "/a", "value": 1.0}])
            )
            .is_ok()
        );
    }

    #[test]
    fn json_patch_errors_are_atomic_and_name_the_op() {
        let doc = json!({"a": {"b": [1, 2]}});
        let cases = [
            (
                json!([{"op": "remove", "path": "/a/missing"}]),
                "operation 0 (remove \"/a/missing\")",
            ),
            (
                json!([{"op": "replace", "path": "/x", "value": 1}]),
                "not found",
            ),
            (
                json!([{"op": "add", "path": "/a/b/5", "value": 1}]),
                "out of bounds",
            ),
            (
                json!([{"op": "add", "path": "/a/b/01", "value": 1}]),
                "not a valid array index",
            ),
            (
                json!([{"op": "remove", "path": "/a/b/-"}]),
                "not a valid array index",
            ),
            (
                json!([{"op": "add", "path": "/x/y", "value": 1}]),
                "not found",
            ),
            (
                json!([{"op": "add", "path": "a", "value": 1}]),
                "must start with '/'",
            ),
            (
                json!([{"op": "add", "path": "/a~2", "value": 1}]),
                "bad '~' escape",
            ),
            (json!([{"op": "add", "path": "/a"}]), "missing \"value\""),
            (json!([{"op": "move", "path": "/a/c"}]), "missing \"from\""),
            (
                json!([{"op": "move", "from": "/q", "path": "/q"}]),
                "not found",
            ),
            (
                json!([{"op": "move", "from": "/a", "path": "/a/b/0"}]),
                "children",
            ),
            (
                json!([{"op": "test", "path": "/a/b/0", "value": 2}]),
                "test failed",
            ),
            (
                json!([{"op": "test", "path": "/a/b/0", "value": "s3cr3t-guess"}]),
                "test failed",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "unsupported operation",
            ),
            (json!([{"path": "/a"}]), "missing \"op\""),
            (json!([1]), "not a JSON object"),
            (
                json!([{"op": "add", "path": "/a/b/0/c", "value": 1}]),
                "parent is not",
            ),
            (
                json!([{"op": "test", "path": "/a/b/0/c", "value": 1}]),
                "scalar",
            ),
            (json!([{"op": "remove", "path": ""}]), "whole document"),
            (json!({"op": "add"}), "cannot unmarshal object"),
            (
                json!([
                    {"op": "add", "path": "/z", "value": 1},
                    {"op": "remove", "path": "/nope"}
                ]),
                "operation 1 (remove \"/nope\")",
            ),
        ];
        for (ops, want) in cases {
            let mut d = doc.clone();
            let err = json_patch(&mut d, &ops).err().unwrap_or_default();
            assert!(err.contains(want), "{ops}: {err}");
            assert_eq!(d, doc, "target changed by failing patch {ops}");
            assert!(!err.contains("s3cr3t"), "a value in the error: {err}");
        }
    }
}

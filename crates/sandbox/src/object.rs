//! Reading and writing objects held as JSON: their metadata fields, values at JSON pointers, and
//! maps made on the way down. Every part of the sandbox reads objects through these.

use serde_json::{Map, Value, json};

/// `Value::pointer` without an allocation per token (serde_json unescapes every token with
/// `str::replace`); the controllers look paths up on every object they touch.
pub trait PointerLookup {
    /// The value at a JSON pointer (RFC 6901), as `Value::pointer` finds it.
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl PointerLookup for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        if !pointer.starts_with('/') {
            return None;
        }
        if pointer.contains('~') {
            return self.pointer(pointer);
        }
        let mut cur = self;
        for token in pointer[1..].split('/') {
            cur = match cur {
                Value::Object(m) => m.get(token)?,
                Value::Array(a) => {
                    if token.len() > 1 && token.starts_with('0') || token.starts_with('+') {
                        return None;
                    }
                    a.get(token.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// The string at a JSON pointer, "" when absent.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.at(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The integer at a JSON pointer, `default` when absent.
pub fn int_at(v: &Value, pointer: &str, default: i64) -> i64 {
    v.at(pointer).and_then(Value::as_i64).unwrap_or(default)
}

/// `metadata`, when it is a map.
pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata.name` ("" when absent).
pub fn name_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/name")
}

/// `metadata.namespace` ("" when absent).
pub fn namespace_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/namespace")
}

/// `metadata.uid` ("" when absent).
pub fn uid_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/uid")
}

/// `metadata.resourceVersion` ("" when absent).
pub fn resource_version_of(obj: &Value) -> &str {
    str_at(obj, "/metadata/resourceVersion")
}

/// A namespaced object's key: (namespace, name).
pub type Key = (String, String);

/// (namespace, name) of an object.
pub fn key_of(obj: &Value) -> Key {
    (namespace_of(obj).to_string(), name_of(obj).to_string())
}

/// `metadata.labels`, when it is a map.
pub fn labels_of(obj: &Value) -> Option<&Map<String, Value>> {
    obj.at("/metadata/labels").and_then(Value::as_object)
}

/// The map under `key` of `map`, put there (in place of anything else) when absent or not a map.
pub fn child_object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let child = map.entry(key).or_insert_with(|| json!({}));
    if !child.is_object() {
        *child = json!({});
    }
    child.as_object_mut().expect("made an object above")
}

/// The map under `key` of `v`, made as [`child_object`] does; `v` becomes a map if it is not one.
pub fn object_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    child_object(v.as_object_mut().expect("made an object above"), key)
}

/// `metadata` of an object, made as [`object_mut`] does.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_mut(obj, "metadata")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_pointer() {
        let v = json!({"a": {"b": [1, {"c": "x"}], "d/e": 2, "0": 3}});
        for p in [
            "", "/a", "/a/b/1/c", "/a/b/0", "/a/b/01", "/a/b/9", "/a/d~1e", "/a/0", "/x", "a",
            "/a/b/-",
        ] {
            assert_eq!(v.at(p), v.pointer(p), "{p}");
        }
    }
}

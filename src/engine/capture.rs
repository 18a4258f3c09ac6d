//! Taking a variable's value out of a step's output: a regex group or a JSON path.

use regex::Regex;

use crate::runbook::Capture;

#[derive(Clone, Debug, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Parses `.a.b[0].c` (a leading dot is optional; `["key with dots"]` also works).
pub fn parse_json_path(path: &str) -> Result<Vec<Seg>, String> {
    let bad = |why: &str| format!("invalid JSON path `{path}`: {why}");
    let mut segs = Vec::new();
    let s = path.trim();
    let mut rest = s.strip_prefix('$').unwrap_or(s);
    if rest.is_empty() || rest == "." {
        return Ok(segs);
    }
    if !rest.starts_with('.') && !rest.starts_with('[') {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        segs.push(Seg::Key(rest[..end].to_string()));
        rest = &rest[end..];
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("empty key"));
            }
            segs.push(Seg::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            let inner = r[..end].trim();
            if let Some(q) = inner
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .or_else(|| inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\'')))
            {
                segs.push(Seg::Key(q.to_string()));
            } else {
                let i = inner
                    .parse::<usize>()
                    .map_err(|_| bad("an index is a number, a key is quoted"))?;
                segs.push(Seg::Index(i));
            }
            rest = &r[end + 1..];
        } else {
            return Err(bad("expected `.` or `[`"));
        }
    }
    Ok(segs)
}

/// The captured value, or why there is none.
pub fn extract(cap: &Capture, stdout: &str) -> Result<String, String> {
    if let Some(re) = &cap.regex {
        let re = Regex::new(re).map_err(|e| e.to_string())?;
        let c = re.captures(stdout).ok_or_else(|| {
            format!(
                "capture `{}`: the output does not match `{}`",
                cap.var.value, re
            )
        })?;
        let m = c.get(1).or_else(|| c.get(0)).expect("group 0 exists");
        return Ok(m.as_str().to_string());
    }
    if let Some(path) = &cap.json {
        let segs = parse_json_path(path)?;
        let value: serde_json::Value = serde_json::from_str(stdout.trim())
            .map_err(|e| format!("capture `{}`: the output is not JSON ({e})", cap.var.value))?;
        let mut cur = &value;
        for seg in &segs {
            let next = match seg {
                Seg::Key(k) => cur.get(k.as_str()),
                Seg::Index(i) => cur.get(*i),
            };
            cur = next.ok_or_else(|| {
                format!(
                    "capture `{}`: `{}` is not in the output",
                    cap.var.value, path.value
                )
            })?;
        }
        return Ok(match cur {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    Ok(stdout.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::Spanned;

    fn cap(regex: Option<&str>, json: Option<&str>) -> Capture {
        Capture {
            var: Spanned::new(Default::default(), "v".into()),
            regex: regex.map(|r| Spanned::new(Default::default(), r.into())),
            json: json.map(|j| Spanned::new(Default::default(), j.into())),
            secret: false,
        }
    }

    #[test]
    fn regex_json_and_whole() {
        assert_eq!(
            extract(&cap(Some(r"tag=(\S+)"), None), "x tag=v1.2 y").unwrap(),
            "v1.2"
        );
        let json = r#"{"items":[{"metadata":{"name":"web-1"}}],"n":3}"#;
        assert_eq!(
            extract(&cap(None, Some(".items[0].metadata.name")), json).unwrap(),
            "web-1"
        );
        assert_eq!(extract(&cap(None, Some("n")), json).unwrap(), "3");
        assert!(extract(&cap(None, Some(".items[1]")), json).is_err());
        assert_eq!(extract(&cap(None, None), "  abc\n").unwrap(), "abc");
        assert!(parse_json_path(".a[x]").is_err());
        assert!(parse_json_path(".a..b").is_err());
    }
}

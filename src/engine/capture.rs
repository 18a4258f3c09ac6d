//! Taking a variable's value out of a step's output: a regex group or a JSON path.

use regex::Regex;

use crate::runbook::Capture;
use crate::runbook::jsonpath::Query;

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
        let query = Query::parse(path)?;
        let value: serde_json::Value = serde_json::from_str(stdout.trim())
            .map_err(|e| format!("capture `{}`: the output is not JSON ({e})", cap.var.value))?;
        let cur = query.first(&value).ok_or_else(|| {
            format!(
                "capture `{}`: `{}` is not in the output",
                cap.var.value, path.value
            )
        })?;
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
            public: false,
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
        assert!(Query::parse(".a[x]").is_err());
        assert!(Query::parse(".a[0").is_err());
        // The one JSON path language: a capture takes what a kube.get template does.
        assert_eq!(
            extract(
                &cap(
                    None,
                    Some(r#".items[?(@.metadata.name=="web-1")].metadata.name"#)
                ),
                json
            )
            .unwrap(),
            "web-1"
        );
    }
}

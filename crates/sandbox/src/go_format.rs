//! Go's formatting of strings, durations and decoded JSON values, for the messages the sandbox
//! copies from the API server and the kubelet (`%q`, `%v`, `%#v`, `time.Duration`, and
//! `encoding/json`'s type names).

use serde_json::{Map, Value};

/// Go's `%q` for a string (error texts quote values as apimachinery does).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%#v` for a `[]string`.
pub fn go_string_slice(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// The JSON type `encoding/json` names in "cannot unmarshal X into Go value" errors.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `map[string]interface {}`, the Go type of a decoded JSON object.
pub const GO_MAP_TYPE: &str = "map[string]interface {}";
/// `[]interface {}`, the Go type of a decoded JSON array.
pub const GO_SLICE_TYPE: &str = "[]interface {}";

/// Go's `%v` for a decoded JSON value.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => go_slice(a),
        Value::Object(m) => go_map(m),
    }
}

/// Go's `%v` for a decoded JSON array.
pub fn go_slice(a: &[Value]) -> String {
    format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" "))
}

/// Go's `%v` for a decoded JSON object (keys sorted, as `fmt` prints maps).
pub fn go_map(m: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}:{}", go_value(v)))
        .collect();
    format!("map[{}]", inner.join(" "))
}

/// The Go type name of a decoded JSON value (`reflect.TypeOf`).
pub fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => GO_SLICE_TYPE,
        Value::Object(_) => GO_MAP_TYPE,
    }
}

/// Go's `time.Duration.String()` for a non-negative duration in seconds, truncated to
/// milliseconds.
pub fn go_duration(secs: f64) -> String {
    let ms = (secs * 1000.0).floor() as i64;
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let trim = |s: String| {
        let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        format!("{s}s")
    };
    if ms < 60_000 {
        return trim(format!("{:.3}", ms as f64 / 1000.0));
    }
    let m = ms / 60_000;
    let rest = trim(format!("{:.3}", (ms % 60_000) as f64 / 1000.0));
    let rest = if rest == "s" { "0s".to_string() } else { rest };
    if m < 60 {
        format!("{m}m{rest}")
    } else {
        format!("{}h{}m{rest}", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0.5), "500ms");
        assert_eq!(go_duration(1.5), "1.5s");
        assert_eq!(go_duration(10.0), "10s");
        assert_eq!(go_duration(300.0), "5m0s");
        assert_eq!(go_duration(80.25), "1m20.25s");
    }
}

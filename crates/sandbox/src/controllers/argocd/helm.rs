//! A Helm chart rendered as `helm template` renders it, for an Application whose source is a chart
//! (`spec.source.helm` set, or a `Chart.yaml` at the path, as Argo CD detects it), in a subset of
//! Helm's template language. What is outside the subset is an error naming the file, the line and
//! what the sandbox renders; never a panic.
//!
//! - **Chart**: `Chart.yaml` at the path (`apiVersion`, `name` and `version` required, as helm's
//!   loader says; `appVersion` optional). Dependencies (subcharts, `charts/`) and library charts are
//!   refused.
//! - **Values**, in Argo CD's order (`reposerver/repository/repository.go`, `helmTemplate`, and
//!   helm's `MergeValues`): the chart's `values.yaml` as defaults; then each `helm.valueFiles` entry
//!   (relative to the chart directory, inside the repository; a missing one is helm's "open FILE: no
//!   such file or directory" unless `ignoreMissingValueFiles`), then `helm.valuesObject` or else
//!   `helm.values` (a YAML string), all merged in order (maps merge, everything else replaces); then
//!   `helm.parameters` (`name: a.b`, `\.` a literal dot): without `forceString` typed as `--set`
//!   types them (`true`/`false` booleans, `null` removes, an integer without a leading zero an
//!   int), with it a string, the `--set-string` ones after the others. A `null` removes the chart
//!   default. Numbers read from YAML are float64, as helm reads them.
//! - **Templates**: every file under `templates/` except partials (`_*`) and `NOTES.txt`, in path
//!   order, after the plain files of `crds/` (Argo CD passes `--include-crds`). The output of each
//!   is split into YAML documents; empty and comment-only documents are dropped.
//! - **Actions**: text/template's `{{ … }}` with `{{- ` / ` -}}` trimming every adjacent space, tab
//!   and newline, and comments `{{/* … */}}` (also trimmed). A pipeline is commands joined by `|`,
//!   the value piped in as the last argument. Operands: `.Values.a.b` (a missing last key is empty,
//!   as helm prints `<no value>` as nothing; a missing key before it is text/template's "nil
//!   pointer evaluating interface {}.b"), `.Release.Name` (`helm.releaseName`, else the
//!   Application's name), `.Release.Namespace` (`helm.namespace`, else the destination namespace,
//!   else `default`), `.Chart.Name`, `.Chart.Version`, `.Chart.AppVersion`, and string ("…" and
//!   `…`), number, `true`/`false`/`nil` literals. Functions: sprig's `quote` (Go's `%q` of each
//!   non-nil argument, joined by spaces) and `default D X` (D when X is nil, "", 0, false or empty).
//! - **Printing**: strings raw, integers in decimal, floats as Go's `%v` prints a float64 (shortest
//!   form, an exponent from 1e+06 up and below 1e-04: `8080`, `0.5`, `1e+06`), `true`/`false`; a
//!   map or list is an error (`toYaml` is not rendered).

use std::path::Path;

use serde_json::{Map, Value};

use super::git;

/// What the sandbox renders, named in every refusal.
pub const RENDERED: &str = "it renders .Values.*, .Release.Name/Namespace, .Chart.Name/Version/AppVersion, quote and default";

/// The most bytes one template may render to.
const MAX_RENDERED: usize = 4 << 20;

/// The release a chart is rendered for.
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
}

/// What a template sees.
pub struct Context {
    pub values: Value,
    pub release_name: String,
    pub release_namespace: String,
    pub chart_name: String,
    pub chart_version: String,
    pub chart_app_version: String,
}

/// A path inside the repository, `rel` taken relative to `dir`: `None` when it leaves the
/// repository.
fn join(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect()
    };
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The manifests of the chart at `path` in commit `sha`, rendered with the Application's
/// `spec.source.helm` (`helm`, may be null) for `release`.
pub fn manifests(
    repo: &Path,
    sha: &str,
    path: &str,
    helm: &Value,
    release: &Release,
) -> Result<Vec<Value>, String> {
    let Some(dir) = join("", path).filter(|_| !path.contains('\0')) else {
        return Err(format!("app path \"{path}\" leaves the repository"));
    };
    let files = git::files_under(repo, sha, &dir)?;
    if files.is_empty() {
        return Err(format!("app path does not exist: \"{path}\""));
    }
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let rel: Vec<&str> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&prefix))
        .collect();
    let read = |name: &str| git::read_file(repo, sha, &format!("{prefix}{name}"));
    let chart_text = read("Chart.yaml")?.ok_or_else(|| fail("Chart.yaml file is missing"))?;
    let chart = chart_metadata(&chart_text)?;
    if rel.iter().any(|f| f.starts_with("charts/")) {
        return Err(fail(&format!(
            "charts/: subcharts are not rendered by the sandbox ({RENDERED})"
        )));
    }
    let defaults = match read("values.yaml")? {
        Some(t) => values_yaml(&t, "values.yaml")?,
        None => Value::Object(Map::new()),
    };
    let mut layers = Vec::new();
    let ignore_missing = helm.get("ignoreMissingValueFiles").and_then(Value::as_bool) == Some(true);
    for f in helm
        .get("valueFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(f) = f.as_str() else {
            return Err(fail(
                "spec.source.helm.valueFiles: an entry is not a string",
            ));
        };
        if f.contains("://") || f.starts_with('$') || f.contains(['*', '?', '[']) {
            return Err(fail(&format!(
                "value file \"{f}\": remote, referenced ($ref) and glob value files are not rendered by the sandbox (only files of the repository)"
            )));
        }
        let Some(file) = join(&dir, f) else {
            return Err(fail(&format!(
                "error resolving helm value files: error resolving value file path: file '{f}' resolved to outside repository root"
            )));
        };
        match git::read_file(repo, sha, &file)? {
            Some(t) => layers.push(values_yaml(&t, f)?),
            None if ignore_missing => {}
            None => {
                return Err(fail(&format!(
                    "Error: open {file}: no such file or directory"
                )));
            }
        }
    }
    if let Some(extra) = extra_values(helm)? {
        layers.push(extra);
    }
    let values = coalesce(defaults, user_values(layers, helm)?);
    let str_at = |k: &str| helm.get(k).and_then(Value::as_str).unwrap_or("");
    let ctx = Context {
        values,
        release_name: match str_at("releaseName") {
            "" => release.name.to_string(),
            n => n.to_string(),
        },
        release_namespace: match (str_at("namespace"), release.namespace) {
            ("", "") => "default".to_string(),
            ("", n) | (n, _) => n.to_string(),
        },
        chart_name: chart.0,
        chart_version: chart.1,
        chart_app_version: chart.2,
    };
    let mut crds = Vec::new();
    let mut templates = Vec::new();
    for f in &rel {
        let base = f.rsplit('/').next().unwrap_or(f);
        if let Some(t) = f.strip_prefix("templates/") {
            if !base.starts_with('_') && base != "NOTES.txt" && !t.is_empty() {
                templates.push(*f);
            }
        } else if f.starts_with("crds/") {
            let lower = base.to_ascii_lowercase();
            if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json") {
                crds.push(*f);
            }
        }
    }
    if crds.len() + templates.len() > git::MAX_FILES {
        return Err(fail(&format!(
            "the chart has more than the {} files served",
            git::MAX_FILES
        )));
    }
    let mut out = Vec::new();
    for f in crds.into_iter().chain(templates.iter().copied()) {
        let text = read(f)?.unwrap_or_default();
        let rendered = if f.starts_with("crds/") {
            text
        } else {
            render(f, &text, &ctx).map_err(|e| fail(&e))?
        };
        for m in crate::fixture::parse(&rendered, f).map_err(|e| fail(&e))? {
            if m.get("apiVersion")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                || m.get("kind")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                return Err(fail(&format!(
                    "{f}: Object 'Kind' is missing in a manifest"
                )));
            }
            out.push(m);
        }
    }
    Ok(out)
}

fn fail(what: &str) -> String {
    format!("helm template: {what}")
}

/// (name, version, appVersion) of a Chart.yaml, validated as helm's loader does.
fn chart_metadata(text: &str) -> Result<(String, String, String), String> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| {
        fail(&format!(
            "Chart.yaml: {}",
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    let field = |k: &str| doc.get(k).map(scalar_text).unwrap_or_default();
    for k in ["apiVersion", "name", "version"] {
        if field(k).is_empty() {
            return Err(fail(&format!("validation: chart.metadata.{k} is required")));
        }
    }
    if doc.get("type").and_then(Value::as_str) == Some("library") {
        return Err(fail("library charts are not installable"));
    }
    if doc
        .get("dependencies")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
    {
        return Err(fail(&format!(
            "Chart.yaml: dependencies (subcharts) are not rendered by the sandbox ({RENDERED})"
        )));
    }
    Ok((field("name"), field("version"), field("appVersion")))
}

/// A scalar of Chart.yaml as text (a version written as a number is printed as Go prints it).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => print(&floats(v.clone())).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Numbers as float64, as helm reads YAML values (through JSON).
fn floats(v: Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(floats).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        v => v,
    }
}

/// A values file: a map (empty when the file is).
pub fn values_yaml(text: &str, origin: &str) -> Result<Value, String> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| {
        fail(&format!(
            "{origin}: {}",
            e.to_string().lines().next().unwrap_or("")
        ))
    })?;
    match v {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(floats(v)),
        _ => Err(fail(&format!(
            "{origin}: error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            if v.is_array() { "array" } else { "string" }
        ))),
    }
}

/// `helm.valuesObject`, else `helm.values` (Argo CD's `ValuesYAML`).
fn extra_values(helm: &Value) -> Result<Option<Value>, String> {
    match helm.get("valuesObject") {
        Some(Value::Object(m)) if !m.is_empty() => {
            return Ok(Some(floats(Value::Object(m.clone()))));
        }
        Some(Value::Null | Value::Object(_)) | None => {}
        Some(_) => return Err(fail("spec.source.helm.valuesObject: must be a map")),
    }
    match helm.get("values") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            values_yaml(s, "spec.source.helm.values").map(Some)
        }
        Some(Value::String(_) | Value::Null) | None => Ok(None),
        Some(_) => Err(fail("spec.source.helm.values: must be a string of YAML")),
    }
}

/// Merge `over` into `base` as helm merges values files: maps merge, everything else replaces.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_object() && v.is_object() => merge(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The chart's defaults under the user's values (helm's `CoalesceValues`): a user `null` removes
/// the default.
pub fn coalesce(defaults: Value, user: Value) -> Value {
    match (defaults, user) {
        (Value::Object(mut d), Value::Object(u)) => {
            for (k, v) in u {
                if v.is_null() {
                    d.remove(&k);
                    continue;
                }
                let merged = match d.remove(&k) {
                    Some(dv @ Value::Object(_)) if v.is_object() => coalesce(dv, v),
                    _ => strip_nulls(v),
                };
                d.insert(k, merged);
            }
            Value::Object(d)
        }
        (_, u) => strip_nulls(u),
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        v => v,
    }
}

/// The values files merged in order, then `helm.parameters` set on them.
fn user_values(layers: Vec<Value>, helm: &Value) -> Result<Value, String> {
    let mut user = Value::Object(Map::new());
    for l in layers {
        merge(&mut user, l);
    }
    let params: Vec<&Value> = helm
        .get("parameters")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let forced = |p: &Value| p.get("forceString").and_then(Value::as_bool) == Some(true);
    for p in params
        .iter()
        .filter(|p| !forced(p))
        .chain(params.iter().filter(|p| forced(p)))
    {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let value = match p.get("value") {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => "",
            Some(_) => {
                return Err(fail(&format!(
                    "spec.source.helm.parameters: the value of \"{name}\" is not a string"
                )));
            }
        };
        set(&mut user, name, value, forced(p))?;
    }
    Ok(user)
}

/// `--set NAME=VALUE` (or `--set-string`) on the user's values.
pub fn set(values: &mut Value, name: &str, value: &str, string: bool) -> Result<(), String> {
    if name.is_empty() {
        return Err(fail("spec.source.helm.parameters: a parameter has no name"));
    }
    if name.contains(['[', ']', '=', ',']) || (value.starts_with('{') && value.ends_with('}')) {
        return Err(fail(&format!(
            "parameter \"{name}\": list indexes and list values are not rendered by the sandbox (names are keys joined by dots)"
        )));
    }
    let mut keys = Vec::new();
    let mut cur = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            '.' => keys.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    keys.push(cur);
    let typed = if string {
        Value::String(value.to_string())
    } else {
        typed_value(value)
    };
    let mut node = values;
    let last = keys.len() - 1;
    for (i, k) in keys.into_iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(m) = node else {
            return Ok(());
        };
        if i == last {
            m.insert(k, typed);
            return Ok(());
        }
        node = m.entry(k).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// How `--set` types a value (helm's strvals `typedVal`).
fn typed_value(v: &str) -> Value {
    if v.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if v.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if v.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if v == "0" {
        return Value::from(0i64);
    }
    if !v.starts_with('0')
        && let Ok(i) = v.parse::<i64>()
    {
        return Value::from(i);
    }
    Value::String(v.to_string())
}

// ---- the template language ----

fn refused(what: &str) -> String {
    format!("\"{what}\" is not rendered by the sandbox ({RENDERED})")
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Render one template (`name` is its path in the chart, for errors): the text with every action
/// replaced by what it prints.
pub fn render(name: &str, text: &str, ctx: &Context) -> Result<String, String> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut trim_next = false;
    // The line of the action being rendered, counted on from where the last one was.
    let (mut line, mut counted) = (1, 0);
    while i < b.len() {
        let Some(open) = text[i..].find("{{").map(|o| i + o) else {
            let rest = &text[i..];
            out.push_str(if trim_next {
                rest.trim_start_matches([' ', '\t', '\r', '\n'])
            } else {
                rest
            });
            break;
        };
        let mut lit = &text[i..open];
        if trim_next {
            lit = lit.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let mut start = open + 2;
        if b.len() >= start + 2 && b[start] == b'-' && is_space(b[start + 1]) {
            lit = lit.trim_end_matches([' ', '\t', '\r', '\n']);
            start += 2;
        }
        out.push_str(lit);
        line += b[counted..open].iter().filter(|c| **c == b'\n').count();
        counted = open;
        let at = |msg: String| format!("{name}:{line}: {msg}");
        // A comment: `/*` right after the delimiter, `*/` right before it.
        let next = if text[start..].starts_with("/*") {
            let Some(close) = text[start + 2..].find("*/").map(|c| start + 2 + c) else {
                return Err(at("unclosed comment".into()));
            };
            let after = close + 2;
            if text[after..].starts_with("}}") {
                trim_next = false;
                after + 2
            } else if text[after..].starts_with(" -}}") {
                trim_next = true;
                after + 4
            } else {
                return Err(at("comment ends before closing delimiter".into()));
            }
        } else {
            let end = action_end(b, start).map_err(|e| at(e.to_string()))?;
            let mut body = &text[start..end];
            trim_next =
                body.len() >= 2 && body.ends_with('-') && is_space(body.as_bytes()[body.len() - 2]);
            if trim_next {
                body = &body[..body.len() - 1];
            }
            let v = pipeline(body, ctx).map_err(at)?;
            out.push_str(&print(&v).map_err(at)?);
            end + 2
        };
        if out.len() > MAX_RENDERED {
            return Err(at(format!("renders more than {MAX_RENDERED} bytes")));
        }
        i = next;
    }
    Ok(out)
}

/// Where the action starting at `start` ends: the index of its `}}` (string literals skipped), or
/// text/template's complaint.
fn action_end(b: &[u8], start: usize) -> Result<usize, &'static str> {
    let mut i = start;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if i >= b.len() || b[i] == b'\n' {
                        return Err(if q == b'"' {
                            "unterminated quoted string"
                        } else {
                            "unterminated character constant"
                        });
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err("unterminated quoted string");
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                if i >= b.len() {
                    return Err("unterminated raw quoted string");
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    Err("unclosed action")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Field(String),
    Ident(String),
    Lit(Value),
    /// Something outside the subset (`$x`, `(`, `.`, `:=`): refused when reached.
    Other(String),
}

fn tokens(body: &str) -> Result<Vec<Token>, String> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        let word_end = |from: usize| {
            let mut j = from;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
                j += 1;
            }
            j
        };
        match c {
            b'|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            b'"' => {
                let (s, next) = quoted(body, i)?;
                out.push(Token::Lit(Value::String(s)));
                i = next;
            }
            b'`' => {
                let close = body[i + 1..]
                    .find('`')
                    .ok_or_else(|| "unterminated raw quoted string".to_string())?;
                out.push(Token::Lit(Value::String(
                    body[i + 1..i + 1 + close].to_string(),
                )));
                i += close + 2;
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (v, next) = number(body, i)?;
                out.push(Token::Lit(v));
                i = next;
            }
            b'.' => {
                let mut j = i;
                while j < b.len() && b[j] == b'.' {
                    let e = word_end(j + 1);
                    if e == j + 1 {
                        break;
                    }
                    j = e;
                }
                if j == i {
                    out.push(Token::Other(".".into()));
                    i += 1;
                } else {
                    out.push(Token::Field(body[i..j].to_string()));
                    i = j;
                }
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let (v, next) = number(body, i)?;
                out.push(Token::Lit(v));
                i = next;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let e = word_end(i);
                let w = &body[i..e];
                out.push(match w {
                    "true" => Token::Lit(Value::Bool(true)),
                    "false" => Token::Lit(Value::Bool(false)),
                    "nil" => Token::Lit(Value::Null),
                    w => Token::Ident(w.to_string()),
                });
                i = e;
            }
            b'$' => {
                let e = word_end(i + 1);
                out.push(Token::Other(body[i..e].to_string()));
                i = e;
            }
            _ => {
                let ch = body[i..].chars().next().unwrap_or('?');
                let what = if body[i..].starts_with(":=") {
                    ":=".to_string()
                } else {
                    ch.to_string()
                };
                i += what.len();
                out.push(Token::Other(what));
            }
        }
    }
    Ok(out)
}

/// A Go double-quoted string literal starting at `i`: its value and the index after it.
fn quoted(body: &str, i: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = body[i + 1..].char_indices();
    let bad = || "invalid syntax: a malformed string literal".to_string();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1 + k + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = chars.next().ok_or_else(bad)?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..n {
                            let (_, h) = chars.next().ok_or_else(bad)?;
                            code = code * 16 + h.to_digit(16).ok_or_else(bad)?;
                        }
                        if e == 'x' {
                            // A byte; bytes of 0x80 and up are not valid text on their own.
                            out.push(
                                char::from_u32(code)
                                    .filter(|_| code < 0x80)
                                    .ok_or_else(bad)?,
                            );
                        } else {
                            out.push(char::from_u32(code).ok_or_else(bad)?);
                        }
                    }
                    _ => return Err(bad()),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".to_string())
}

/// A number literal at `i`: an int (decimal or 0x) or a float, and the index after it.
fn number(body: &str, i: usize) -> Result<(Value, usize), String> {
    let b = body.as_bytes();
    let mut j = i;
    while j < b.len() && !is_space(b[j]) && b[j] != b'|' && b[j] != b')' {
        j += 1;
    }
    let text = &body[i..j];
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if digits.bytes().all(|c| c.is_ascii_digit()) && !digits.is_empty() {
        digits.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(n) = int {
        return Ok((Value::from(if neg { -n } else { n }), j));
    }
    match clean.parse::<f64>() {
        Ok(f) if f.is_finite() && !digits.starts_with(['i', 'I', 'n', 'N']) => Ok((
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            j,
        )),
        _ => Err(format!("bad number syntax: \"{text}\"")),
    }
}

/// Evaluate a pipeline: commands joined by `|`, each one's value the last argument of the next.
fn pipeline(body: &str, ctx: &Context) -> Result<Value, String> {
    let toks = tokens(body)?;
    // The first thing outside the subset, in reading order, is what the error names.
    for t in &toks {
        match t {
            Token::Ident(f) if f != "quote" && f != "default" => return Err(refused(f)),
            Token::Other(o) => return Err(refused(o)),
            Token::Field(f) => served_field(f)?,
            _ => {}
        }
    }
    if toks.is_empty() {
        return Err("missing value for command".to_string());
    }
    let mut piped: Option<Value> = None;
    for cmd in toks.split(|t| *t == Token::Pipe) {
        let Some((first, args)) = cmd.split_first() else {
            return Err("missing value for command".to_string());
        };
        let v = match first {
            Token::Ident(f) => {
                let mut vals = Vec::new();
                for a in args {
                    vals.push(operand(a, ctx)?);
                }
                vals.extend(piped.take());
                call(f, vals)?
            }
            _ if !args.is_empty() || piped.is_some() => {
                return Err(format!(
                    "can't give argument to non-function {}",
                    token_text(first)
                ));
            }
            t => operand(t, ctx)?,
        };
        piped = Some(v);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn token_text(t: &Token) -> String {
    match t {
        Token::Field(f) | Token::Ident(f) | Token::Other(f) => f.clone(),
        Token::Lit(v) => v.to_string(),
        Token::Pipe => "|".to_string(),
    }
}

fn operand(t: &Token, ctx: &Context) -> Result<Value, String> {
    match t {
        Token::Lit(v) => Ok(v.clone()),
        Token::Field(f) => field(f, ctx),
        Token::Ident(f) | Token::Other(f) => Err(refused(f)),
        Token::Pipe => Err("missing value for command".to_string()),
    }
}

/// Whether a field is one the sandbox renders.
fn served_field(path: &str) -> Result<(), String> {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    match parts.as_slice() {
        ["Values", ..]
        | ["Release", "Name" | "Namespace"]
        | ["Chart", "Name" | "Version" | "AppVersion"] => Ok(()),
        [root @ ("Release" | "Chart"), f, ..] => Err(refused(&format!(".{root}.{f}"))),
        [root, ..] => Err(refused(&format!(".{root}"))),
        [] => Err(refused(".")),
    }
}

/// `.Values.a.b`, `.Release.*`, `.Chart.*`.
fn field(path: &str, ctx: &Context) -> Result<Value, String> {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let text = |s: &str| Ok(Value::String(s.to_string()));
    match parts.as_slice() {
        ["Values", rest @ ..] => {
            let mut cur = &ctx.values;
            for (i, k) in rest.iter().enumerate() {
                cur = match cur {
                    Value::Object(m) => match m.get(*k) {
                        Some(v) => v,
                        None if i + 1 == rest.len() => return Ok(Value::Null),
                        None => {
                            return Err(format!(
                                "nil pointer evaluating interface {{}}.{}",
                                rest[i + 1]
                            ));
                        }
                    },
                    Value::Null => {
                        return Err(format!("nil pointer evaluating interface {{}}.{k}"));
                    }
                    other => {
                        return Err(format!(
                            "can't evaluate field {k} in type {}",
                            go_type(other)
                        ));
                    }
                };
            }
            Ok(cur.clone())
        }
        ["Release", "Name"] => text(&ctx.release_name),
        ["Release", "Namespace"] => text(&ctx.release_namespace),
        ["Chart", "Name"] => text(&ctx.chart_name),
        ["Chart", "Version"] => text(&ctx.chart_version),
        ["Chart", "AppVersion"] => text(&ctx.chart_app_version),
        _ => served_field(path).and(Err(refused(path))),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "interface {}",
    }
}

/// sprig's `empty`.
fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

fn call(f: &str, mut args: Vec<Value>) -> Result<Value, String> {
    match f {
        "quote" => {
            let mut out = Vec::new();
            for a in args.iter().filter(|a| !a.is_null()) {
                out.push(go_quote(&print(a)?));
            }
            Ok(Value::String(out.join(" ")))
        }
        "default" => {
            if args.is_empty() {
                return Err("wrong number of args for default: want at least 1 got 0".to_string());
            }
            let d = args.remove(0);
            match args.into_iter().next() {
                Some(g) if !empty(&g) => Ok(g),
                _ => Ok(d),
            }
        }
        other => Err(refused(other)),
    }
}

/// Go's `%q` of a string (`strconv.Quote`).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What an action prints: Go's `%v` of the value (nil prints nothing, as helm removes
/// `<no value>`); a map or list is an error.
pub fn print(v: &Value) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match (n.as_i64(), n.as_u64()) {
            _ if n.is_f64() => go_float(n.as_f64().unwrap_or(0.0)),
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => n.to_string(),
        }),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "a {} value is printed as YAML with \"toYaml\", which is not rendered by the sandbox ({RENDERED})",
            if v.is_array() { "list" } else { "map" }
        )),
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest digits that
/// read back, with an exponent of at least two digits when it is below -4 or 6 and up (`8080`,
/// `0.5`, `123456`, `1e+06`, `1.5e-05`).
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e6".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

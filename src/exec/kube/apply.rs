//! `kube.apply`: server-side apply of manifest files, directories or a kustomize overlay.
//!
//! Every manifest is read and checked (and its kind looked up through discovery) before anything
//! is sent, so a broken file applies nothing. Namespaces go first, then CustomResourceDefinitions,
//! then other cluster-scoped objects, then the rest, each group in file order. Each object is read
//! before it is applied (field manager `tollgate`), and reported the way kubectl does:
//! `deployment.apps/api created`, `... configured (spec.replicas: 2 → 3)` or `... unchanged`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::change::Change;
use super::get::{Kind, Kinds, MASKED};
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::kube::Apply;

/// One manifest and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The file (as the runbook names it), or `kustomize DIR`.
    pub origin: String,
    /// The line its document starts at (1-based).
    pub line: usize,
    pub doc: Value,
}

impl Manifest {
    fn at(&self) -> String {
        format!("{}:{}", self.origin, self.line)
    }
    fn str(&self, ptr: &str) -> &str {
        self.doc.pointer(ptr).and_then(Value::as_str).unwrap_or("")
    }
}

/// Largest manifest file read.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

pub async fn apply(cx: &mut KubeStep<'_>, a: &Apply) -> ActionResult {
    let mut manifests = Vec::new();
    for f in &a.files {
        manifests.extend(read_path(&cx.job.workdir, f)?);
    }
    if let Some(dir) = &a.kustomize {
        let text = kustomize(&cx.job.workdir, dir).await?;
        manifests.extend(parse_yaml(&text, &format!("kustomize {dir}"))?);
    }
    if manifests.is_empty() {
        return Err(Failure::Error(format!(
            "no manifests found in {}",
            a.files
                .iter()
                .chain(a.kustomize.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for m in &manifests {
        check_shape(m)?;
    }
    let mut kinds = Kinds::discover(&cx.client).await?;
    let defines_types = manifests
        .iter()
        .any(|m| m.str("/kind") == "CustomResourceDefinition");
    let rank = |m: &Manifest, kinds: &Kinds| match m.str("/kind") {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        k => match kinds.by_gvk(m.str("/apiVersion"), k) {
            Some(kind) if !kind.namespaced => 2,
            _ => 3,
        },
    };
    manifests.sort_by_key(|m| rank(m, &kinds));
    if !defines_types {
        for m in &manifests {
            kind_of(&kinds, m)?;
        }
    }
    for m in &manifests {
        let kind = match kind_of(&kinds, m) {
            Ok(k) => k,
            Err(_) => {
                // A type the CustomResourceDefinitions just applied define.
                kinds = Kinds::discover(&cx.client).await?;
                kind_of(&kinds, m)?
            }
        };
        apply_one(cx, &kind, m, a.force).await?;
    }
    Ok(())
}

fn kind_of(kinds: &Kinds, m: &Manifest) -> Result<Kind, Failure> {
    let (api_version, kind) = (m.str("/apiVersion"), m.str("/kind"));
    kinds.by_gvk(api_version, kind).cloned().ok_or_else(|| {
        Failure::Error(format!(
            "{}: {kind} \"{}\": no kind \"{kind}\" is served in version \"{api_version}\"",
            m.at(),
            m.str("/metadata/name")
        ))
    })
}

/// What every manifest needs before it can be sent.
fn check_shape(m: &Manifest) -> Result<(), Failure> {
    let fail = |what: &str| Err(Failure::Error(format!("{}: {what}", m.at())));
    if !m.doc.is_object() {
        return fail("a manifest must be a mapping");
    }
    if m.str("/apiVersion").is_empty() {
        return fail("`apiVersion` is missing");
    }
    if m.str("/kind").is_empty() {
        return fail("`kind` is missing");
    }
    if m.str("/metadata/name").is_empty() {
        if !m.str("/metadata/generateName").is_empty() {
            return fail("`metadata.generateName` cannot be applied: give the object a `name`");
        }
        return fail(&format!("{} has no `metadata.name`", m.str("/kind")));
    }
    Ok(())
}

async fn apply_one(cx: &mut KubeStep<'_>, kind: &Kind, m: &Manifest, force: bool) -> ActionResult {
    let name = m.str("/metadata/name").to_string();
    let ns = kind.namespaced.then(|| match m.str("/metadata/namespace") {
        "" => cx.ns.clone(),
        n => n.to_string(),
    });
    let api = kind.api(&cx.client, ns.as_deref().unwrap_or(""));
    let label = format!("{}/{name}", kind.display());
    let fail =
        |e: kube::Error| Failure::Error(format!("{}: {label}: {}", m.at(), describe_error(&e)));
    let mut body = m.doc.clone();
    if let Some(ns) = &ns {
        body["metadata"]["namespace"] = json!(ns);
    }
    let before = api.get_opt(&name).await.map_err(fail)?;
    let mut pp = PatchParams::apply("tollgate");
    if force {
        pp = pp.force();
    }
    let after = api
        .patch(&name, &pp, &Patch::Apply(&body))
        .await
        .map_err(fail)?;
    let after_v = serde_json::to_value(&after).unwrap_or(Value::Null);
    let left = comparable(&with_kind(&after_v, kind));
    let change = |created: bool, before: Option<Value>| Change::Applied {
        namespace: ns.clone(),
        api_version: kind.ar.api_version.clone(),
        kind: kind.ar.kind.clone(),
        name: name.clone(),
        created,
        before,
        after: Some(left.clone()),
    };
    let Some(before) = before else {
        cx.changed(change(true, None));
        cx.out(format!("{label} created")).await;
        return Ok(());
    };
    let before_v = serde_json::to_value(&before).unwrap_or(Value::Null);
    let diff = diff_line(&with_kind(&before_v, kind), &with_kind(&after_v, kind));
    // Unchanged: the same version, or nothing but what the server keeps (status, managed fields).
    if before.metadata.resource_version == after.metadata.resource_version || diff.is_empty() {
        cx.out(format!("{label} unchanged")).await;
        return Ok(());
    }
    cx.changed(change(false, Some(stripped(&with_kind(&before_v, kind)))));
    cx.out(format!("{label} configured ({diff})")).await;
    Ok(())
}

/// What of an object a revert holds an apply to: everything but `metadata` (of which its labels)
/// and `status`. Annotations are left out (controllers write theirs: a Deployment's revision); a
/// Secret's values never (see [`stripped`]).
pub fn comparable(v: &Value) -> Value {
    let mut v = stripped(v);
    if let Some(o) = v.as_object_mut() {
        let labels = o
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .cloned()
            .unwrap_or(Value::Null);
        o.insert("metadata".into(), json!({ "labels": labels }));
    }
    v
}

fn with_kind(v: &Value, kind: &Kind) -> Value {
    let mut v = v.clone();
    v["kind"] = json!(kind.ar.kind);
    v
}

/// An object as journaled for undo: without its status and the fields the server sets. A
/// Secret's values never reach the journal: its `data` is left out (undo cannot restore them,
/// and says so), and so is the last-applied annotation, which holds them too.
pub fn stripped(v: &Value) -> Value {
    let mut v = v.clone();
    let secret = v.get("kind").and_then(Value::as_str) == Some("Secret")
        || v.get("type").is_some() && v.get("data").is_some() && v.get("spec").is_none();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if secret {
            o.remove("data");
            o.remove("stringData");
            if let Some(a) = o
                .get_mut("metadata")
                .and_then(|m| m.get_mut("annotations"))
                .and_then(Value::as_object_mut)
            {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
                "selfLink",
            ] {
                m.remove(f);
            }
        }
    }
    v
}

/// Differences shown at most.
const DIFF_SHOWN: usize = 3;
/// Longest value shown in a difference.
const VALUE_SHOWN: usize = 40;

/// The changed fields between two versions of an object (its spec and other content, labels and
/// annotations; not the rest of the metadata, nor the status), e.g.
/// `spec.template.spec.containers[0].image: nginx:1.0 → nginx:1.1, spec.replicas: 2 → 3`; empty
/// when nothing changed. A Secret's values are not shown, only that they changed.
pub fn diff_line(before: &Value, after: &Value) -> String {
    let mut out = changes(before, after);
    let more = out.len().saturating_sub(DIFF_SHOWN);
    out.truncate(DIFF_SHOWN);
    let mut s = out.join(", ");
    if more > 0 {
        s.push_str(&format!(", +{more} more"));
    }
    s
}

/// Every changed field, as `path: before → after`.
fn changes(before: &Value, after: &Value) -> Vec<String> {
    let secret = after.get("kind").and_then(Value::as_str) == Some("Secret");
    let prep = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
            let keep: Value = ["labels", "annotations"]
                .iter()
                .filter_map(|k| {
                    o.get("metadata")
                        .and_then(|m| m.get(*k))
                        .map(|x| (k.to_string(), x.clone()))
                })
                .collect::<serde_json::Map<String, Value>>()
                .into();
            o.insert("metadata".into(), keep);
        }
        if secret
            && let Some(a) = v
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
        {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        v
    };
    let mut out = Vec::new();
    diff(&prep(before), &prep(after), String::new(), &mut out);
    out.into_iter()
        .map(|(path, a, b)| {
            if secret && (path.starts_with("data") || path.starts_with("stringData")) {
                format!("{path}: {MASKED} changed")
            } else {
                format!("{path}: {} → {}", short(&a), short(&b))
            }
        })
        .collect()
}

fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<(String, Value, Value)>) {
    if a == b {
        return;
    }
    let empty = Value::Object(serde_json::Map::new());
    let (a, b) = match (a, b) {
        (Value::Null, Value::Object(_)) => (&empty, b),
        (Value::Object(_), Value::Null) => (a, &empty),
        _ => (a, b),
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else if k.contains('.') || k.contains('/') {
                    format!("{path}[{k}]")
                } else {
                    format!("{path}.{k}")
                };
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    p,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, format!("{path}[{i}]"), out);
            }
        }
        _ => out.push((path, a.clone(), b.clone())),
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::Null => "(none)".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{} items]", a.len()),
        other => other.to_string(),
    };
    if s.chars().count() > VALUE_SHOWN {
        let cut: String = s.chars().take(VALUE_SHOWN - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The manifests of a file, or of the `*.yaml`, `*.yml` and `*.json` files of a directory (sorted,
/// not recursive). `path` is relative to `workdir` and names the files in errors.
pub fn read_path(workdir: &Path, path: &str) -> Result<Vec<Manifest>, Failure> {
    let full = workdir.join(path);
    let meta = std::fs::metadata(&full).map_err(|e| format!("{path}: {e}"))?;
    if !meta.is_dir() {
        return read_file(&full, path);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
        .map_err(|e| format!("{path}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(OsStr::to_str),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let name = f.file_name().and_then(OsStr::to_str).unwrap_or("");
        let shown = format!("{}/{name}", path.trim_end_matches('/'));
        out.extend(read_file(&f, &shown)?);
    }
    Ok(out)
}

fn read_file(full: &Path, shown: &str) -> Result<Vec<Manifest>, Failure> {
    let meta = std::fs::metadata(full).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_BYTES {
        return Err(Failure::Error(format!(
            "{shown}: {} bytes, more than the {MAX_BYTES} a manifest file may have",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(full).map_err(|e| format!("{shown}: {e}"))?;
    if full.extension().and_then(OsStr::to_str) == Some("json") {
        let doc: Value =
            serde_json::from_str(&text).map_err(|e| format!("{shown}:{}: {e}", e.line().max(1)))?;
        return Ok(flatten(vec![Manifest {
            origin: shown.to_string(),
            line: 1,
            doc,
        }]));
    }
    Ok(parse_yaml(&text, shown)?)
}

/// The documents of a YAML stream with the line each starts at; `List`s flattened, empty
/// documents left out. A syntax error says `origin:line: what`.
pub fn parse_yaml(text: &str, origin: &str) -> Result<Vec<Manifest>, String> {
    let mut docs: Vec<(usize, String)> = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_sep = line.starts_with("---")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '#');
        if is_sep {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            // Content after `--- ` on the same line belongs to the next document.
            let rest = line[3..].trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                start = i + 1;
                cur.push_str(rest);
                cur.push('\n');
            }
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push((start, cur));
    let mut out = Vec::new();
    for (start, chunk) in docs {
        let blank = chunk.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || t == "..."
        });
        if blank {
            continue;
        }
        // The first line with content.
        let skipped = chunk
            .lines()
            .take_while(|l| {
                let t = l.trim();
                t.is_empty() || t.starts_with('#')
            })
            .count();
        let doc: Value = serde_saphyr::from_str(&chunk).map_err(|e| {
            let line = e
                .location()
                .map(|l| l.line() as usize)
                .filter(|l| *l > 0)
                .map_or(start + skipped, |l| start + l - 1);
            let msg = e.to_string();
            let msg = msg.lines().next().unwrap_or("").trim();
            let msg = strip_location(msg);
            format!("{origin}:{line}: {msg}")
        })?;
        if doc.is_null() {
            continue;
        }
        out.push(Manifest {
            origin: origin.to_string(),
            line: start + skipped,
            doc,
        });
    }
    Ok(flatten(out))
}

/// serde-saphyr's message without its own `at line X, column Y` (the line is given before it).
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn flatten(ms: Vec<Manifest>) -> Vec<Manifest> {
    let mut out = Vec::new();
    for m in ms {
        let kind = m.str("/kind");
        if kind == "List" || (kind.ends_with("List") && m.doc.get("items").is_some()) {
            for it in m
                .doc
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                out.push(Manifest {
                    origin: m.origin.clone(),
                    line: m.line,
                    doc: it,
                });
            }
        } else {
            out.push(m);
        }
    }
    out
}

/// The program that builds a kustomize overlay, looked for in `path` (a `PATH`-style list):
/// `kustomize build`, else `kubectl kustomize`.
pub fn kustomize_program(path: Option<&OsStr>) -> Result<(PathBuf, &'static str), String> {
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for (bin, sub) in [("kustomize", "build"), ("kubectl", "kustomize")] {
        for d in &dirs {
            let p = d.join(bin);
            if is_executable(&p) {
                return Ok((p, sub));
            }
        }
    }
    Err("kustomize overlays need a kustomize or kubectl binary on PATH".into())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The overlay `dir` (relative to `workdir`) built into a YAML stream.
async fn kustomize(workdir: &Path, dir: &str) -> Result<String, Failure> {
    let full = workdir.join(dir);
    if !full.is_dir() {
        return Err(Failure::Error(format!(
            "kustomize: `{dir}` is not a directory"
        )));
    }
    let (prog, sub) = kustomize_program(std::env::var_os("PATH").as_deref())?;
    let out = tokio::process::Command::new(&prog)
        .arg(sub)
        .arg(&full)
        .current_dir(workdir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", prog.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Failure::Error(format!(
            "`{} {sub} {dir}` failed ({}): {first}",
            prog.file_name()
                .and_then(OsStr::to_str)
                .unwrap_or("kustomize"),
            out.status
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Failure::Error(format!("kustomize {dir}: the output is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secrets_values_never_reach_the_journal() {
        let before = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "app-secrets", "resourceVersion": "7", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"k\":\"c2VjcmV0\"}}",
                "owner": "payments"}},
            "data": {"k": "c2VjcmV0"}, "stringData": {"k": "secret"}
        });
        let kept = stripped(&before).to_string();
        assert!(
            !kept.contains("c2VjcmV0") && !kept.contains("secret\""),
            "{kept}"
        );
        assert!(kept.contains("payments"), "{kept}");
        // Other kinds keep their content.
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert_eq!(stripped(&cm)["data"]["k"], "v");
    }

    #[test]
    fn documents_know_their_lines() {
        let text = "# header\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\n---\n# c\nkind: List\nitems:\n  - {kind: Secret}\n  - {kind: Service}\n--- \napiVersion: v1\n";
        let ms = parse_yaml(text, "f.yaml").unwrap();
        let lines: Vec<(usize, &str)> = ms.iter().map(|m| (m.line, m.str("/kind"))).collect();
        assert_eq!(
            lines,
            vec![(2, "ConfigMap"), (9, "Secret"), (9, "Service"), (14, "")]
        );
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let text =
            "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: [unclosed\nmetadata: {}\n";
        let e = parse_yaml(text, "dir/bad.yaml").unwrap_err();
        assert!(e.starts_with("dir/bad.yaml:"), "{e}");
        let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!((4..=6).contains(&line), "{e}");
    }

    #[test]
    fn diffs_are_short_and_skip_metadata() {
        let a = json!({"kind": "Deployment", "metadata": {"name": "x", "resourceVersion": "1"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}},
            "status": {"replicas": 2}});
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("2");
        b["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        b["status"]["replicas"] = json!(3);
        assert_eq!(
            diff_line(&a, &b),
            "spec.template.spec.containers[0].image: a → b"
        );
        b["spec"]["replicas"] = json!(3);
        b["metadata"]["labels"] = json!({"app.kubernetes.io/name": "x"});
        assert_eq!(
            diff_line(&a, &b),
            "metadata.labels[app.kubernetes.io/name]: (none) → x, spec.replicas: 2 → 3, spec.template.spec.containers[0].image: a → b"
        );
        let s1 = json!({"kind": "Secret", "data": {"k": "b2xk"}});
        let s2 = json!({"kind": "Secret", "data": {"k": "bmV3"}});
        assert_eq!(diff_line(&s1, &s2), "data.k: <masked> changed");
        assert_eq!(diff_line(&s1, &s1), "");
    }

    #[test]
    fn kustomize_is_looked_for_on_the_given_path() {
        let empty = tempfile::tempdir().unwrap();
        let e = kustomize_program(Some(empty.path().as_os_str())).unwrap_err();
        assert_eq!(
            e,
            "kustomize overlays need a kustomize or kubectl binary on PATH"
        );
        assert!(kustomize_program(None).is_err());
        let bin = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = bin.path().join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write("kubectl");
        let path = std::env::join_paths([empty.path(), bin.path()]).unwrap();
        let (p, sub) = kustomize_program(Some(&path)).unwrap();
        assert_eq!(
            (p.file_name().unwrap().to_str().unwrap(), sub),
            ("kubectl", "kustomize")
        );
        write("kustomize");
        let (p, sub) = kustomize_program(Some(&path)).unwrap();
        assert_eq!(
            (p.file_name().unwrap().to_str().unwrap(), sub),
            ("kustomize", "build")
        );
    }
}

//! Fixtures: a YAML stream of ordinary Kubernetes manifests, loaded into a sandbox before it serves.

use std::path::Path;

use serde_json::{Value, json};

use super::object::{name_of, namespace_of};
use super::resources;
use super::store::Store;

/// Largest fixture file read.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Load a fixture file; the error is one line naming the file and the document.
pub fn load_file(store: &Store, path: &Path) -> Result<usize, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "{shown}: fixture is {} bytes, more than the {MAX_BYTES} allowed",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    load_str(store, &text, &shown.to_string())
}

/// The manifests of a YAML stream, `List`s flattened.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| format!("{origin}: {}", e.to_string().lines().next().unwrap_or("")))?;
    let mut out = Vec::new();
    for (i, d) in docs.into_iter().enumerate() {
        match d {
            Value::Null => {}
            Value::Object(_) if d.get("kind") == Some(&json!("List")) => {
                for it in d
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    out.push(it);
                }
            }
            Value::Object(_) => out.push(d),
            _ => {
                return Err(format!(
                    "{origin}: document {}: a manifest must be a mapping",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// CRDs known by name, for the message of an object whose CRD was not applied: (group, kind,
/// plural) of the bundled ones ([`crate::crds`]) and their siblings.
const KNOWN_CRDS: &[(&str, &str, &str)] = &[
    ("argoproj.io", "Rollout", "rollouts"),
    ("argoproj.io", "AnalysisTemplate", "analysistemplates"),
    (
        "argoproj.io",
        "ClusterAnalysisTemplate",
        "clusteranalysistemplates",
    ),
    ("argoproj.io", "AnalysisRun", "analysisruns"),
    ("argoproj.io", "Experiment", "experiments"),
    ("argoproj.io", "Application", "applications"),
    ("argoproj.io", "ApplicationSet", "applicationsets"),
    ("argoproj.io", "AppProject", "appprojects"),
];

/// Why a manifest's type is not served: a built-in group's kind the sandbox lacks, or a custom
/// kind whose CRD must be applied first (named when its plural is known: from a CRD stored here
/// or one of [`KNOWN_CRDS`]).
fn not_served(store: &Store, api_version: &str, kind: &str) -> String {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    if !group.contains('.') || group.ends_with(".k8s.io") {
        return format!("the sandbox does not serve {api_version} {kind}");
    }
    let crdrt = resources::by_kind("CustomResourceDefinition");
    let (crds, _) = store.list(crdrt, None, &|c| {
        crate::crd::group_of(c) == group
            && c.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind)
    });
    let known = crds.first().map(|c| name_of(c).to_string()).or_else(|| {
        KNOWN_CRDS
            .iter()
            .find(|(g, k, _)| *g == group && *k == kind)
            .map(|(g, _, p)| format!("{p}.{g}"))
    });
    match known {
        Some(name) => format!(
            "{kind} {api_version} is not served: apply the CustomResourceDefinition for {name} first"
        ),
        None => format!(
            "{kind} {api_version} is not served: apply the CustomResourceDefinition that serves kind {kind} in {group} first"
        ),
    }
}

/// Load the manifests of a YAML stream: namespaces first, then CustomResourceDefinitions (so
/// the objects of their kinds can follow), then the rest in order. Status is kept as written
/// (nodes report their capacity that way). Returns how many objects were created.
pub fn load_str(store: &Store, text: &str, origin: &str) -> Result<usize, String> {
    let docs = parse(text, origin)?;
    let mut order: Vec<(usize, &Value)> = docs.iter().enumerate().collect();
    let rank = |d: &Value| match d.get("kind").and_then(Value::as_str) {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    };
    order.sort_by_key(|(i, d)| (rank(d), *i));
    let mut n = 0;
    for (i, d) in order {
        let api_version = d.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = d.get("kind").and_then(Value::as_str).unwrap_or("");
        let what = format!("{origin}: document {} ({kind} {})", i + 1, name_of(d));
        let Some(rt) = store.find_api_version_kind(api_version, kind) else {
            return Err(format!("{what}: {}", not_served(store, api_version, kind)));
        };
        let ns = if rt.namespaced {
            match namespace_of(d) {
                "" => "default",
                n => n,
            }
        } else {
            ""
        };
        if rt.namespaced && ns != "default" {
            let nsrt = resources::by_kind("Namespace");
            if store.get(nsrt, "", ns).is_err() {
                let _ = store.create(nsrt, "", json!({"metadata": {"name": ns}}), false);
            }
        }
        let result = if rt.kind == "Namespace" && store.get(rt, "", name_of(d)).is_ok() {
            continue;
        } else {
            store.create_with_status(rt, ns, d.clone())
        };
        result.map_err(|e| format!("{what}: {}", e.message))?;
        n += 1;
    }
    Ok(n)
}

/// A cluster with no node gets one, so pods can be scheduled.
pub fn ensure_node(store: &Store) {
    let rt = resources::by_kind("Node");
    if store.count(rt) > 0 {
        return;
    }
    let _ = store.create_with_status(rt, "", default_node("sandbox-node-1"));
}

/// A ready node with room for 110 pods.
pub fn default_node(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }],
            "nodeInfo": {
                "kubeletVersion": "v1.35.0", "containerRuntimeVersion": "containerd://2.0.0",
                "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    })
}

//! `kube.patch`: one patch of one object of any kind the server serves (custom resources
//! included, found through discovery), as `kubectl patch KIND/NAME --type=… -p …`. The object as
//! it was is journaled; `kube.revert` replaces it with exactly that.

use kube::api::{Patch, PatchParams};
use serde_json::Value;

use super::apply::{diff_line, stripped};
use super::change::Change;
use super::get::{Kind, resolve, split_resource};
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::argo::{KubePatch, PatchType};

/// Whether a type is one of Kubernetes' own (strategic merge patch knows its lists): the core
/// group, the groups without a dot (`apps`, `batch`, `policy`, …) and `*.k8s.io`. Everything
/// else (`argoproj.io`, …) is a custom resource.
pub fn is_builtin(group: &str) -> bool {
    group.is_empty() || !group.contains('.') || group.ends_with(".k8s.io")
}

/// The patch type used: the one asked for, else strategic for a built-in kind and merge for a
/// custom resource (which strategic merge patch does not support).
pub fn patch_type(asked: Option<PatchType>, group: &str) -> PatchType {
    asked.unwrap_or(if is_builtin(group) {
        PatchType::Strategic
    } else {
        PatchType::Merge
    })
}

/// The request body, typed for kube-rs.
pub fn as_patch(t: PatchType, body: &Value) -> Result<Patch<Value>, String> {
    Ok(match t {
        PatchType::Merge => Patch::Merge(body.clone()),
        PatchType::Strategic => Patch::Strategic(body.clone()),
        PatchType::Json => Patch::Json(
            serde_json::from_value::<json_patch::Patch>(body.clone())
                .map_err(|e| format!("the json patch cannot be read: {e}"))?,
        ),
    })
}

pub async fn patch(cx: &mut KubeStep<'_>, a: &KubePatch) -> ActionResult {
    let (res, name) = split_resource(&a.resource)?;
    let Some(name) = name else {
        return Err(Failure::Error(format!(
            "`kube.patch` needs `KIND/NAME`, not `{}`",
            a.resource
        )));
    };
    let kind = resolve(&cx.client, res).await?;
    let t = patch_type(a.patch_type, &kind.ar.group);
    let body = as_patch(t, &a.patch)?;
    let ns = cx.ns.clone();
    patch_object(cx, &kind, &ns, name, t, &body).await
}

/// Patches `name` of `kind` (in `ns` when namespaced), journaling it as it was; says what changed.
pub async fn patch_object(
    cx: &mut KubeStep<'_>,
    kind: &Kind,
    ns: &str,
    name: &str,
    t: PatchType,
    body: &Patch<Value>,
) -> ActionResult {
    let api = kind.api(&cx.client, ns);
    let label = format!("{}/{name}", kind.display());
    let before = api
        .get(name)
        .await
        .map_err(|e| Failure::Error(format!("{label}: {}", describe_error(&e))))?;
    let after = api
        .patch(name, &PatchParams::default(), body)
        .await
        .map_err(|e| {
            let mut msg = describe_error(&e);
            if kind.ar.kind == "Secret" {
                msg = scrub(&msg, &secret_values(&before, body));
            }
            if t == PatchType::Strategic && !is_builtin(&kind.ar.group) {
                msg.push_str(" (a custom resource takes `type: merge` or `type: json`)");
            }
            Failure::Error(format!("cannot patch {label}: {msg}"))
        })?;
    let with_kind = |o: &kube::api::DynamicObject| {
        let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
        v["apiVersion"] = Value::from(kind.ar.api_version.clone());
        v["kind"] = Value::from(kind.ar.kind.clone());
        v
    };
    let (before_v, after_v) = (with_kind(&before), with_kind(&after));
    let diff = diff_line(&before_v, &after_v);
    if before.metadata.resource_version == after.metadata.resource_version || diff.is_empty() {
        cx.out(format!("{label} patched (no change)")).await;
        return Ok(());
    }
    cx.changed(Change::Patched {
        namespace: kind.namespaced.then(|| ns.to_string()),
        api_version: kind.ar.api_version.clone(),
        kind: kind.ar.kind.clone(),
        name: name.to_string(),
        patch_type: t.word().to_string(),
        before: stripped(&before_v),
    });
    cx.out(format!("{label} patched ({diff})")).await;
    Ok(())
}

/// Every value a Secret's error could echo: its data (base64 and decoded), and the patch's
/// values for it.
fn secret_values(before: &kube::api::DynamicObject, body: &Patch<Value>) -> Vec<String> {
    use base64::Engine;
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Object(m) => m.values().for_each(|v| strings(v, out)),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for key in ["data", "stringData"] {
        if let Some(d) = before.data.get(key) {
            strings(d, &mut out);
        }
    }
    let decoded: Vec<String> = out
        .iter()
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    out.extend(decoded);
    match body {
        Patch::Merge(v) | Patch::Strategic(v) => {
            for key in ["data", "stringData"] {
                if let Some(d) = v.get(key) {
                    strings(d, &mut out);
                }
            }
        }
        Patch::Json(p) => {
            let ops = serde_json::to_value(p).unwrap_or_default();
            for op in ops.as_array().into_iter().flatten() {
                if let Some(v) = op.get("value") {
                    strings(v, &mut out);
                }
            }
        }
        _ => {}
    }
    // A value of one or two characters would mask letters of the message, not a secret.
    out.retain(|s| s.len() >= 3);
    out
}

/// `msg` with each of `values` masked.
fn scrub(msg: &str, values: &[String]) -> String {
    let mut values: Vec<&String> = values.iter().collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = msg.to_string();
    for v in values {
        out = out.replace(v.as_str(), super::get::MASKED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secrets_values_are_scrubbed_from_an_error() {
        let before: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": "aHVudGVyMi1vbGQ="}
        }))
        .unwrap();
        let body = as_patch(
            PatchType::Json,
            &json!([{"op": "test", "path": "/data/password", "value": "Z3Vlc3M="}]),
        )
        .unwrap();
        let msg = "test failed: value is \"aHVudGVyMi1vbGQ=\" (hunter2-old), not \"Z3Vlc3M=\"";
        assert_eq!(
            scrub(msg, &secret_values(&before, &body)),
            "test failed: value is \"<masked>\" (<masked>), not \"<masked>\""
        );
    }

    #[test]
    fn custom_resources_default_to_merge_and_built_ins_to_strategic() {
        for g in [
            "",
            "apps",
            "batch",
            "networking.k8s.io",
            "rbac.authorization.k8s.io",
        ] {
            assert_eq!(patch_type(None, g), PatchType::Strategic, "{g}");
        }
        for g in [
            "argoproj.io",
            "cert-manager.io",
            "gateway.networking.x-k8s.io.example",
        ] {
            assert_eq!(patch_type(None, g), PatchType::Merge, "{g}");
        }
        assert_eq!(
            patch_type(Some(PatchType::Json), "argoproj.io"),
            PatchType::Json
        );
    }

    #[test]
    fn each_type_goes_out_with_its_media_type() {
        let body = json!({"spec": {"selector": {"version": "green"}}});
        let ops = json!([{"op": "replace", "path": "/spec/paused", "value": true}]);
        let types = [
            (PatchType::Merge, &body, "application/merge-patch+json"),
            (
                PatchType::Strategic,
                &body,
                "application/strategic-merge-patch+json",
            ),
            (PatchType::Json, &ops, "application/json-patch+json"),
        ];
        for (t, b, media) in types {
            let p = as_patch(t, b).unwrap();
            let req = kube::core::Request::new("/api/v1/namespaces/a/services")
                .patch("x", &PatchParams::default(), &p)
                .unwrap();
            assert_eq!(
                req.headers()["content-type"].to_str().unwrap(),
                media,
                "{t:?}"
            );
            let sent: Value = serde_json::from_slice(req.body()).unwrap();
            assert_eq!(&sent, b);
        }
        let e = as_patch(PatchType::Json, &json!([{"path": "/x"}])).unwrap_err();
        assert!(e.starts_with("the json patch cannot be read"), "{e}");
    }
}

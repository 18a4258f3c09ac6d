//! Progressive delivery as data: `kube.patch` (any object, custom resources included), the Argo
//! Rollouts steps (`argo.*`, the requests of the `kubectl argo rollouts` plugin) and the Argo CD
//! steps (`argocd.*`, through the Kubernetes API, without the argocd CLI). They run as kube steps:
//! the pinned cluster, the step's namespace, journaled changes put back by `kube.revert`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a `kube.patch` patch is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchType {
    /// RFC 7386 JSON merge patch (a mapping; `null` removes a key).
    Merge,
    /// RFC 6902 JSON patch (a list of `{op, path, value}`).
    Json,
    /// Kubernetes strategic merge patch (built-in kinds only).
    #[default]
    Strategic,
}

impl PatchType {
    pub fn word(self) -> &'static str {
        match self {
            PatchType::Merge => "merge",
            PatchType::Json => "json",
            PatchType::Strategic => "strategic",
        }
    }
}

/// Patches one object, of any kind the cluster serves (custom resources included). The object as
/// it was is journaled: `kube.revert` puts it back exactly.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubePatch {
    /// `KIND/NAME`, e.g. `service/api`, `ingress/api-canary`, `rollouts.argoproj.io/api`.
    #[serde(default)]
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The patch: a mapping (merge, strategic), or a list of operations (json).
    #[serde(default)]
    pub patch: serde_json::Value,
    /// `merge`, `json` or `strategic`; strategic for built-in kinds, merge for custom resources
    /// when left out.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
}

impl KubePatch {
    /// Whether the patched object may be a Secret (`secret/…`, `secrets.v1/…`, or a kind left to
    /// a variable): its values are then never shown.
    pub fn may_be_secret(&self) -> bool {
        let kind = self.resource.split('/').next().unwrap_or("").trim();
        let first = kind.split('.').next().unwrap_or("").to_ascii_lowercase();
        kind.contains("{{") || first == "secret" || first == "secrets"
    }

    /// The patch as shown (the step's command, plan, gates, journal): a Secret's values masked
    /// (under `data` and `stringData`, and every json operation's `value`).
    pub fn shown_patch(&self) -> serde_json::Value {
        use serde_json::Value;
        const MASKED: &str = "<masked>";
        fn mask_leaves(v: &mut Value) {
            match v {
                Value::Object(m) => m.values_mut().for_each(mask_leaves),
                Value::Array(a) => a.iter_mut().for_each(mask_leaves),
                Value::Null => {}
                other => *other = Value::from(MASKED),
            }
        }
        let mut p = self.patch.clone();
        if !self.may_be_secret() {
            return p;
        }
        match &mut p {
            Value::Array(ops) => {
                for op in ops {
                    if let Some(v) = op.get_mut("value") {
                        mask_leaves(v);
                    }
                }
            }
            Value::Object(m) => {
                for key in ["data", "stringData"] {
                    if let Some(v) = m.get_mut(key) {
                        mask_leaves(v);
                    }
                }
            }
            _ => {}
        }
        p
    }
}

/// What `argo.status` waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Until {
    /// Paused (at a canary pause step, or a blue-green pre-promotion pause).
    Paused,
    /// Fully promoted and healthy.
    Healthy,
    /// At canary step N or past it (`status.currentStepIndex >= N`).
    Step(u32),
    /// The canary's set weight at N % or more.
    Weight(u32),
}

impl Until {
    /// `paused`, `healthy`, `step N`, `weight N`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Until> {
        let s = s.trim().to_ascii_lowercase();
        let mut words = s.split_whitespace();
        let first = words.next()?;
        let n = words.next();
        if words.next().is_some() {
            return None;
        }
        match (first, n) {
            ("paused", None) => Some(Until::Paused),
            ("healthy", None) => Some(Until::Healthy),
            ("step", Some(n)) => n.parse().ok().map(Until::Step),
            ("weight", Some(n)) => n
                .trim_end_matches('%')
                .parse()
                .ok()
                .filter(|w| *w <= 100)
                .map(Until::Weight),
            _ => None,
        }
    }
}

impl Until {
    /// Why `s` is not an `until` (for a text [`Until::parse`] refuses), in one line.
    pub fn why_not(s: &str) -> String {
        let t = s.trim().to_ascii_lowercase();
        match t.split_whitespace().next() {
            Some("weight") => format!(
                "until `{}`: `weight N` takes a whole percentage, 0 to 100",
                s.trim()
            ),
            Some("step") => format!(
                "until `{}`: `step N` takes a step index, 0 to {}",
                s.trim(),
                u32::MAX
            ),
            _ => format!(
                "until `{}` is not one of `paused`, `healthy`, `step N`, `weight N`",
                s.trim()
            ),
        }
    }
}

/// Follows an Argo Rollout with a live line, until `until` holds; fails when it is Degraded or
/// aborted, with the failing pods' reasons and last log lines.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoStatus {
    #[serde(default)]
    pub rollout: String,
    /// `paused`, `healthy` (the default), `step N` or `weight N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ArgoStatus {
    pub fn until(&self) -> Option<Until> {
        match self.until.as_deref() {
            None => Some(Until::Healthy),
            Some(u) => Until::parse(u),
        }
    }
}

/// Promotes a paused rollout (to its next step), or fully (`full: true`: past every step, pause
/// and analysis), as `kubectl argo rollouts promote [--full]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoPromote {
    #[serde(default)]
    pub rollout: String,
    #[serde(default)]
    pub full: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One rollout, by name: `argo.abort` (traffic and replicas back to the stable version, as
/// `kubectl argo rollouts abort`) and `argo.retry` (an aborted rollout tried again).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoRollout {
    #[serde(default)]
    pub rollout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Rolls a rollout's pod template back to a revision (the previous one when left out), as
/// `kubectl argo rollouts undo [--to-revision]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoUndo {
    #[serde(default)]
    pub rollout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<super::int::Int>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Sets a container's image in a rollout (or its `workloadRef` deployment), as `kubectl argo
/// rollouts set image`; with `digest`, pinned to `IMAGE@DIGEST`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgoSetImage {
    #[serde(default)]
    pub rollout: String,
    /// The container (init and ephemeral containers included); `*` for every one. May be left
    /// out when the pod has one container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ArgoSetImage {
    /// `image`, pinned to `digest` when one is given (any digest already in `image` replaced),
    /// as `kube.set_image` pins a deployment's.
    pub fn reference(&self) -> String {
        match self.digest.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => {
                let base = self.image.split('@').next().unwrap_or_default();
                format!("{base}@{d}")
            }
            None => self.image.clone(),
        }
    }
}

/// The namespace Argo CD's Applications live in unless a step says otherwise.
pub const ARGOCD_NAMESPACE: &str = "argocd";

/// Starts a sync of an Argo CD Application (its `operation`, as Argo CD's API sets it) and waits
/// for it to succeed.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgocdSync {
    #[serde(default)]
    pub app: String,
    /// The revision to sync to; the Application's target revision when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Delete the resources Git no longer has.
    #[serde(default)]
    pub prune: bool,
    /// Where the Application is (default `argocd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Waits for an Argo CD Application's sync and health status, with a live line.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgocdWait {
    #[serde(default)]
    pub app: String,
    /// `Synced` or `OutOfSync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<String>,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The sync statuses and health statuses Argo CD reports.
pub const SYNC_STATUSES: &[&str] = &["Synced", "OutOfSync", "Unknown"];
pub const HEALTH_STATUSES: &[&str] = &[
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

/// Turns an Application's automated sync on or off (`spec.syncPolicy.automated`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgocdAutoSync {
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_the_four_forms_and_nothing_else() {
        assert_eq!(Until::parse("paused"), Some(Until::Paused));
        assert_eq!(Until::parse(" Healthy "), Some(Until::Healthy));
        assert_eq!(Until::parse("step 3"), Some(Until::Step(3)));
        assert_eq!(Until::parse("weight 25"), Some(Until::Weight(25)));
        assert_eq!(Until::parse("weight 25%"), Some(Until::Weight(25)));
        for bad in ["", "step", "step x", "weight 101", "done", "step 1 2"] {
            assert_eq!(Until::parse(bad), None, "{bad}");
        }
        assert_eq!(ArgoStatus::default().until(), Some(Until::Healthy));
        assert_eq!(
            Until::why_not("weight 101"),
            "until `weight 101`: `weight N` takes a whole percentage, 0 to 100"
        );
        assert!(Until::why_not("step -1").contains("takes a step index"));
        assert!(Until::why_not("done").contains("is not one of"));
    }

    #[test]
    fn a_secrets_patch_is_shown_without_its_values() {
        let merge = KubePatch {
            resource: "secrets.v1/db".into(),
            patch: serde_json::json!({"stringData": {"password": "hunter2"}, "data": {"k": "aHVudGVyMg=="}, "metadata": {"labels": {"a": "b"}}}),
            ..Default::default()
        };
        assert_eq!(
            merge.shown_patch(),
            serde_json::json!({"stringData": {"password": "<masked>"}, "data": {"k": "<masked>"}, "metadata": {"labels": {"a": "b"}}})
        );
        let json = KubePatch {
            resource: "Secret/db".into(),
            patch: serde_json::json!([{"op": "test", "path": "/data/k", "value": "aHVudGVyMg=="}, {"op": "remove", "path": "/data/x"}]),
            patch_type: Some(PatchType::Json),
            ..Default::default()
        };
        assert!(!json.shown_patch().to_string().contains("aHVudGVyMg"));
        let service = KubePatch {
            resource: "service/api".into(),
            patch: serde_json::json!({"data": {"k": "v"}}),
            ..Default::default()
        };
        assert_eq!(service.shown_patch(), service.patch);
    }

    #[test]
    fn set_image_pins_the_digest() {
        let a = ArgoSetImage {
            image: "ghcr.io/x/api:1.2@sha256:old".into(),
            digest: Some("sha256:new".into()),
            ..Default::default()
        };
        assert_eq!(a.reference(), "ghcr.io/x/api:1.2@sha256:new");
    }
}

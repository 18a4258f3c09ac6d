//! Native Kubernetes steps, as data. Each is one `kube.*` key of a step's `run`; string fields
//! may use `{{ var }}`. A step's `namespace` defaults to the runbook's `targets.kube.namespace`,
//! then to the context's namespace.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::argo::ARGOCD_NAMESPACE;
pub use super::argo::{
    ArgoPromote, ArgoRollout, ArgoSetImage, ArgoStatus, ArgoUndo, ArgocdAutoSync, ArgocdSync,
    ArgocdWait, KubePatch,
};
pub use super::revert::Revert;
use super::revert::RevertAction;

/// Server-side apply of manifests, showing what changed.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Apply {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), relative to the runbook's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// A kustomize overlay directory, built with `kustomize build` or `kubectl kustomize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<String>,
    /// Namespace for objects that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Take over fields another manager owns (server-side apply `force`).
    #[serde(default)]
    pub force: bool,
}

/// Waits for a deployment (or every deployment of a namespace) to finish rolling out.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutStatus {
    /// The deployment; every deployment of the namespace when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Rolls a deployment back to its previous revision, or to a given one, as `kubectl rollout undo`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutUndo {
    #[serde(default)]
    pub deployment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The revision to go back to; the previous one when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_revision: Option<super::int::Int>,
}

/// Sets a container's image in a deployment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetImage {
    #[serde(default)]
    pub deployment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The container; may be left out when the pod has only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default)]
    pub image: String,
    /// The digest the image must have (e.g. the one `docker.push` captured): the deployment is
    /// pinned to `IMAGE@DIGEST`, so what runs is exactly what was pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl SetImage {
    /// The image reference to deploy: `image`, pinned to `digest` when one is given (any digest
    /// already in `image` is replaced).
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

/// Whether `d` is a content digest as registries give them (`sha256:` and 64 hex digits).
pub fn is_digest(d: &str) -> bool {
    // OCI digests are lower-case hex.
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Scales one deployment, or every deployment of a namespace. The replica counts it replaced are
/// journaled, so undoing the step puts them back.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The deployment; every deployment of the namespace when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How many pods: a number, or a `{{ variable }}` holding one.
    #[serde(default)]
    pub replicas: super::int::Int,
}

/// Restarts a deployment's pods (or every deployment's) by a rolling update, as `kubectl rollout restart`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// The deployment; every deployment of the namespace when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Waits for a condition on resources: e.g. at least 2 nodes Ready, every pod Running, a job Complete.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// `KIND` (every one, e.g. `nodes`, `pods`) or `KIND/NAME` (e.g. `deployment/api`, `job/migrate`).
    #[serde(default)]
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A label selector, e.g. `app=api,tier=backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// A condition type that must be `True` (`Ready`, `Available`, `Complete`, …), a pod phase
    /// (`Running`, `Succeeded`), or `jsonpath={.status.phase}=Running`.
    #[serde(default)]
    pub condition: String,
    /// How many must meet it (a number, or a `{{ variable }}` holding one); every one (and at
    /// least one) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<super::int::Int>,
}

/// Reads resources; the output (JSON, or the JSONPath's result) can be checked with `expect`
/// and captured.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Get {
    /// `KIND` (a list) or `KIND/NAME`, e.g. `ingress/labelmint`.
    #[serde(default)]
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// A kubectl JSONPath template, e.g. `{.status.loadBalancer.ingress[0].hostname}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<String>,
}

/// Environment taken from a Secret or a ConfigMap (every key).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvFrom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
}

/// A Pod Security Standards level a `kube.job`'s pod is made to meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecurityLevel {
    Restricted,
}

/// Runs a Job in the cluster (e.g. a database migration): creates it, streams its logs, waits for
/// it to complete or fail, reports, and deletes it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeJob {
    /// The job's name prefix; a unique suffix is added.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment values (may use `{{ var }}`, secrets included: they go into the Job only).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFrom>,
    /// One key of a Kubernetes Secret per variable: `{ DB_PASSWORD: app-secrets/db-password }`
    /// (`SECRET/KEY`, the container's `valueFrom.secretKeyRef`); the value never passes tollgate.
    /// Set after `env`, in the order of their names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
    /// `restricted`: the pod and its container set what Pod Security's `restricted` level asks
    /// (runAsNonRoot, seccompProfile RuntimeDefault, allowPrivilegeEscalation false, capabilities
    /// drop ALL), so a namespace that enforces it admits the Job's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityLevel>,
    /// The user id the pod runs as (`securityContext.runAsUser`), e.g. when the image names its
    /// user by name, which `runAsNonRoot` cannot check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Attempts before the job fails (the job's `backoffLimit`, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Keep the job (and its pods) afterwards instead of deleting them.
    #[serde(default)]
    pub keep: bool,
}

/// One native Kubernetes action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KubeAction {
    Apply(Apply),
    RolloutStatus(RolloutStatus),
    RolloutUndo(RolloutUndo),
    SetImage(SetImage),
    Scale(Scale),
    Restart(Restart),
    Wait(Wait),
    Get(Get),
    Job(KubeJob),
    Revert(Revert),
    Patch(KubePatch),
    ArgoStatus(ArgoStatus),
    ArgoPromote(ArgoPromote),
    ArgoAbort(ArgoRollout),
    ArgoRetry(ArgoRollout),
    ArgoUndo(ArgoUndo),
    ArgoSetImage(ArgoSetImage),
    ArgocdSync(ArgocdSync),
    ArgocdWait(ArgocdWait),
    ArgocdAutoSync(ArgocdAutoSync),
}

impl KubeAction {
    /// The action with every string passed through `f` (filling `{{ var }}` templates).
    pub fn filled(&self, f: &dyn Fn(&str) -> String) -> KubeAction {
        super::vars::fill_strings(self, f)
    }

    /// The key it is written under, e.g. `kube.scale`.
    pub fn key(&self) -> &'static str {
        match self {
            KubeAction::Apply(_) => "kube.apply",
            KubeAction::RolloutStatus(_) => "kube.rollout_status",
            KubeAction::RolloutUndo(_) => "kube.rollout_undo",
            KubeAction::SetImage(_) => "kube.set_image",
            KubeAction::Scale(_) => "kube.scale",
            KubeAction::Restart(_) => "kube.restart",
            KubeAction::Wait(_) => "kube.wait",
            KubeAction::Get(_) => "kube.get",
            KubeAction::Job(_) => "kube.job",
            KubeAction::Revert(_) => "kube.revert",
            KubeAction::Patch(_) => "kube.patch",
            KubeAction::ArgoStatus(_) => "argo.status",
            KubeAction::ArgoPromote(_) => "argo.promote",
            KubeAction::ArgoAbort(_) => "argo.abort",
            KubeAction::ArgoRetry(_) => "argo.retry",
            KubeAction::ArgoUndo(_) => "argo.undo",
            KubeAction::ArgoSetImage(_) => "argo.set_image",
            KubeAction::ArgocdSync(_) => "argocd.sync",
            KubeAction::ArgocdWait(_) => "argocd.wait",
            KubeAction::ArgocdAutoSync(_) => "argocd.auto_sync",
        }
    }

    /// Whether it changes the cluster (and journals what it changed).
    pub fn mutates(&self) -> bool {
        !matches!(
            self,
            KubeAction::RolloutStatus(_)
                | KubeAction::Wait(_)
                | KubeAction::Get(_)
                | KubeAction::ArgoStatus(_)
                | KubeAction::ArgocdWait(_)
        )
    }

    /// The action that puts back what it journaled: `kube.revert`, for any that changes the
    /// cluster (a `kube.revert` included: its changes are put back in turn).
    pub fn reverted_by(&self) -> Option<RevertAction> {
        self.mutates().then_some(RevertAction::Kube)
    }

    /// The namespace it names, if any.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            KubeAction::Apply(a) => a.namespace.as_deref(),
            KubeAction::RolloutStatus(a) => a.namespace.as_deref(),
            KubeAction::RolloutUndo(a) => a.namespace.as_deref(),
            KubeAction::SetImage(a) => a.namespace.as_deref(),
            KubeAction::Scale(a) => a.namespace.as_deref(),
            KubeAction::Restart(a) => a.namespace.as_deref(),
            KubeAction::Wait(a) => a.namespace.as_deref(),
            KubeAction::Get(a) => a.namespace.as_deref(),
            KubeAction::Job(a) => a.namespace.as_deref(),
            KubeAction::Revert(_) => None,
            KubeAction::Patch(a) => a.namespace.as_deref(),
            KubeAction::ArgoStatus(a) => a.namespace.as_deref(),
            KubeAction::ArgoPromote(a) => a.namespace.as_deref(),
            KubeAction::ArgoAbort(a) | KubeAction::ArgoRetry(a) => a.namespace.as_deref(),
            KubeAction::ArgoUndo(a) => a.namespace.as_deref(),
            KubeAction::ArgoSetImage(a) => a.namespace.as_deref(),
            // Applications live in Argo CD's namespace, not the runbook's.
            KubeAction::ArgocdSync(a) => Some(a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE)),
            KubeAction::ArgocdWait(a) => Some(a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE)),
            KubeAction::ArgocdAutoSync(a) => {
                Some(a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE))
            }
        }
    }

    /// The Argo Rollout it acts on, if one.
    pub fn rollout(&self) -> Option<&str> {
        match self {
            KubeAction::ArgoStatus(a) => Some(&a.rollout),
            KubeAction::ArgoPromote(a) => Some(&a.rollout),
            KubeAction::ArgoAbort(a) | KubeAction::ArgoRetry(a) => Some(&a.rollout),
            KubeAction::ArgoUndo(a) => Some(&a.rollout),
            KubeAction::ArgoSetImage(a) => Some(&a.rollout),
            _ => None,
        }
    }

    /// The deployment it acts on, if one.
    pub fn deployment(&self) -> Option<&str> {
        match self {
            KubeAction::RolloutStatus(a) => a.deployment.as_deref(),
            KubeAction::RolloutUndo(a) => Some(&a.deployment),
            KubeAction::SetImage(a) => Some(&a.deployment),
            KubeAction::Scale(a) => a.deployment.as_deref(),
            KubeAction::Restart(a) => a.deployment.as_deref(),
            KubeAction::Wait(a) => a.resource.strip_prefix("deployment/"),
            _ => None,
        }
    }

    /// The action as one line, the way an operator would read it before approving, e.g.
    /// `kube.scale deployment/api replicas=0 -n orders`.
    pub fn describe(&self, default_ns: &str) -> String {
        let ns = |n: &Option<String>| format!(" -n {}", n.as_deref().unwrap_or(default_ns));
        let dep = |d: &Option<String>| match d {
            Some(d) => format!("deployment/{d}"),
            None => "all deployments".to_string(),
        };
        let key = self.key();
        match self {
            KubeAction::Apply(a) => {
                let mut what: Vec<String> = a.files.clone();
                if let Some(k) = &a.kustomize {
                    what.push(format!("-k {k}"));
                }
                let force = if a.force { " --force-conflicts" } else { "" };
                format!("{key} {}{force}{}", what.join(" "), ns(&a.namespace))
            }
            KubeAction::RolloutStatus(a) => {
                format!("{key} {}{}", dep(&a.deployment), ns(&a.namespace))
            }
            KubeAction::RolloutUndo(a) => format!(
                "{key} deployment/{}{}{}",
                a.deployment,
                a.to_revision
                    .as_ref()
                    .map(|r| format!(" to-revision={r}"))
                    .unwrap_or_default(),
                ns(&a.namespace)
            ),
            KubeAction::SetImage(a) => format!(
                "{key} deployment/{} {}={}{}",
                a.deployment,
                a.container.as_deref().unwrap_or("*"),
                a.reference(),
                ns(&a.namespace)
            ),
            KubeAction::Scale(a) => format!(
                "{key} {} replicas={}{}",
                dep(&a.deployment),
                a.replicas,
                ns(&a.namespace)
            ),
            KubeAction::Restart(a) => format!("{key} {}{}", dep(&a.deployment), ns(&a.namespace)),
            KubeAction::Wait(a) => format!(
                "{key} {}{} for={}{}{}",
                a.resource,
                a.selector
                    .as_ref()
                    .map(|s| format!(" -l {s}"))
                    .unwrap_or_default(),
                a.condition,
                a.count
                    .as_ref()
                    .map(|c| format!(" count>={c}"))
                    .unwrap_or_default(),
                ns(&a.namespace)
            ),
            KubeAction::Get(a) => format!(
                "{key} {}{}{}{}",
                a.resource,
                a.selector
                    .as_ref()
                    .map(|s| format!(" -l {s}"))
                    .unwrap_or_default(),
                a.jsonpath
                    .as_ref()
                    .map(|j| format!(" -o jsonpath='{j}'"))
                    .unwrap_or_default(),
                ns(&a.namespace)
            ),
            KubeAction::Job(a) => {
                let mut cmd: Vec<&str> = a.command.iter().map(String::as_str).collect();
                cmd.extend(a.args.iter().map(String::as_str));
                format!(
                    "{key} {} image={}{}{}",
                    a.name,
                    a.image,
                    if cmd.is_empty() {
                        String::new()
                    } else {
                        format!(" -- {}", cmd.join(" "))
                    },
                    ns(&a.namespace)
                )
            }
            KubeAction::Revert(a) => format!("{key} {}", a.describe()),
            KubeAction::Patch(a) => format!(
                "{key} {} --type={} -p '{}'{}",
                a.resource,
                a.patch_type.map_or("auto", |t| t.word()),
                a.shown_patch(),
                ns(&a.namespace)
            ),
            KubeAction::ArgoStatus(a) => format!(
                "{key} rollout/{} until={}{}",
                a.rollout,
                a.until.as_deref().unwrap_or("healthy"),
                ns(&a.namespace)
            ),
            KubeAction::ArgoPromote(a) => format!(
                "{key} rollout/{}{}{}",
                a.rollout,
                if a.full { " --full" } else { "" },
                ns(&a.namespace)
            ),
            KubeAction::ArgoAbort(a) | KubeAction::ArgoRetry(a) => {
                format!("{key} rollout/{}{}", a.rollout, ns(&a.namespace))
            }
            KubeAction::ArgoUndo(a) => format!(
                "{key} rollout/{}{}{}",
                a.rollout,
                a.to_revision
                    .as_ref()
                    .map(|r| format!(" to-revision={r}"))
                    .unwrap_or_default(),
                ns(&a.namespace)
            ),
            KubeAction::ArgoSetImage(a) => format!(
                "{key} rollout/{} {}={}{}",
                a.rollout,
                a.container.as_deref().unwrap_or("*"),
                a.reference(),
                ns(&a.namespace)
            ),
            KubeAction::ArgocdSync(a) => format!(
                "{key} application/{}{}{} -n {}",
                a.app,
                a.revision
                    .as_ref()
                    .map(|r| format!(" revision={r}"))
                    .unwrap_or_default(),
                if a.prune { " --prune" } else { "" },
                a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE)
            ),
            KubeAction::ArgocdWait(a) => format!(
                "{key} application/{}{}{} -n {}",
                a.app,
                a.sync
                    .as_ref()
                    .map(|s| format!(" sync={s}"))
                    .unwrap_or_default(),
                a.health
                    .as_ref()
                    .map(|h| format!(" health={h}"))
                    .unwrap_or_default(),
                a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE)
            ),
            KubeAction::ArgocdAutoSync(a) => format!(
                "{key} application/{} automated={} -n {}",
                a.app,
                if a.enabled { "on" } else { "off" },
                a.namespace.as_deref().unwrap_or(ARGOCD_NAMESPACE)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every progressive-delivery action: its key, whether it changes the cluster, and the revert
    /// that puts its changes back (`kube.revert`; none for those that only read).
    #[test]
    fn progressive_delivery_actions_are_kube_steps_reverted_by_kube_revert() {
        let rollout = || ArgoRollout {
            rollout: "shop".into(),
            namespace: None,
        };
        let cases = [
            (KubeAction::Patch(KubePatch::default()), "kube.patch", true),
            (
                KubeAction::ArgoStatus(ArgoStatus::default()),
                "argo.status",
                false,
            ),
            (
                KubeAction::ArgoPromote(ArgoPromote::default()),
                "argo.promote",
                true,
            ),
            (KubeAction::ArgoAbort(rollout()), "argo.abort", true),
            (KubeAction::ArgoRetry(rollout()), "argo.retry", true),
            (KubeAction::ArgoUndo(ArgoUndo::default()), "argo.undo", true),
            (
                KubeAction::ArgoSetImage(ArgoSetImage::default()),
                "argo.set_image",
                true,
            ),
            (
                KubeAction::ArgocdSync(ArgocdSync::default()),
                "argocd.sync",
                true,
            ),
            (
                KubeAction::ArgocdWait(ArgocdWait::default()),
                "argocd.wait",
                false,
            ),
            (
                KubeAction::ArgocdAutoSync(ArgocdAutoSync::default()),
                "argocd.auto_sync",
                true,
            ),
        ];
        for (a, key, mutates) in cases {
            assert_eq!(a.key(), key);
            assert_eq!(a.mutates(), mutates, "{key}");
            assert_eq!(
                a.reverted_by(),
                mutates.then_some(RevertAction::Kube),
                "{key}"
            );
        }
        // Applications live in Argo CD's namespace unless the step names one.
        let sync = KubeAction::ArgocdSync(ArgocdSync::default());
        assert_eq!(sync.namespace(), Some("argocd"));
        assert_eq!(KubeAction::ArgoAbort(rollout()).namespace(), None);
        assert_eq!(KubeAction::ArgoAbort(rollout()).rollout(), Some("shop"));
    }
}

//! Client-side operations as kubectl performs them, on kube-rs: the requests a runbook step makes are
//! the ones `kubectl rollout undo|status|restart` would make, so what it does to a cluster (or the
//! sandbox) is what kubectl would do.
//!
//! - [`rollback`]: `DeploymentRollbacker.Rollback` (`kubectl/pkg/polymorphichelpers/rollback.go`):
//!   the replica sets the Deployment controls, the previous revision (or the one asked for), then one
//!   JSON patch replacing `spec.template` with that replica set's template minus `pod-template-hash`
//!   and `metadata.annotations` with the replica set's (the deployment's own revision annotations
//!   kept). The deployment controller then finds the old replica set as its new one and gives it the
//!   next revision number.
//! - [`status_of`]: `DeploymentStatusViewer.Status` (`polymorphichelpers/rollout_status.go`).
//! - [`restart_from`]: `ObjectRestarter`: a strategic merge patch setting the template annotation
//!   `kubectl.kubernetes.io/restartedAt`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";
/// `annotationsToSkip` of the rollbacker.
const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// Why a rollout operation did not happen; the texts are kubectl's.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("failed to retrieve Deployment {0}: not found")]
    NotFound(String),
    #[error("unable to find specified revision {0} in history")]
    RevisionNotFound(i64),
    #[error("no rollout history found for deployment \"{0}\"")]
    NoHistory(String),
    #[error(
        "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
    )]
    PausedRollback,
    #[error("can't restart paused deployment (run rollout resume first)")]
    PausedRestart,
    #[error("cannot get the revision of deployment \"{0}\": {1}")]
    BadRevision(String, String),
    #[error("desired revision ({0}) is different from the running revision ({1})")]
    RevisionMismatch(i64, i64),
    #[error("{0}")]
    Invalid(String),
}

/// What `kubectl rollout status` would print, and whether it would stop waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutStatus {
    /// kubectl's line, without the trailing newline.
    pub message: String,
    /// The rollout finished successfully.
    pub done: bool,
    /// The rollout failed (its progress deadline passed); kubectl exits with an error.
    pub failed: bool,
}

/// `deploymentutil.Revision`.
fn revision_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<i64, String> {
    match meta.annotations.as_ref().and_then(|a| a.get(REVISION)) {
        None => Ok(0),
        Some(v) => v
            .parse::<i64>()
            .map_err(|e| format!("strconv.ParseInt: parsing {v:?}: {e}")),
    }
}

/// `metav1.LabelSelectorAsSelector(...).String()`.
pub fn selector_string(sel: &LabelSelector) -> String {
    let mut parts = Vec::new();
    if let Some(ml) = &sel.match_labels {
        for (k, v) in ml {
            parts.push(format!("{k}={v}"));
        }
    }
    for e in sel.match_expressions.iter().flatten() {
        let vals = e.values.clone().unwrap_or_default().join(",");
        match e.operator.as_str() {
            "In" => parts.push(format!("{} in ({vals})", e.key)),
            "NotIn" => parts.push(format!("{} notin ({vals})", e.key)),
            "Exists" => parts.push(e.key.clone()),
            "DoesNotExist" => parts.push(format!("!{}", e.key)),
            _ => {}
        }
    }
    parts.join(",")
}

/// A template without the hash label and with empty maps as none: `equalIgnoreHash`.
fn without_hash(t: &PodTemplateSpec) -> serde_json::Value {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(l) = m.labels.as_mut() {
            l.remove(HASH_LABEL);
            if l.is_empty() {
                m.labels = None;
            }
        }
        if m.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
            m.annotations = None;
        }
    }
    serde_json::to_value(&t).unwrap_or_default()
}

fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// `deploymentutil.GetAllReplicaSets`: the replica sets the Deployment controls.
async fn replica_sets_of(
    client: &kube::Client,
    ns: &str,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, RolloutError> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let sel = d
        .spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    let list = api.list(&ListParams::default().labels(&sel)).await?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    Ok(list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.controller == Some(true) && r.uid == uid)
        })
        .collect())
}

pub async fn get_deployment(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Deployment, RolloutError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await? {
        Some(d) => Ok(d),
        None => Err(RolloutError::NotFound(name.to_string())),
    }
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    /// The deployment's revision before.
    pub from_revision: i64,
    /// The revision whose template it now runs.
    pub to_revision: i64,
    /// The template already matched that revision: nothing was patched.
    pub skipped: bool,
}

/// `kubectl rollout undo deployment/NAME [--to-revision=N]`: the revision rolled back to, which
/// was live, and whether anything was patched (when the template already matches that revision
/// nothing is: "skipped rollback").
pub async fn rollback(
    client: &kube::Client,
    ns: &str,
    name: &str,
    to_revision: Option<i64>,
) -> Result<Rollback, RolloutError> {
    let to = to_revision.unwrap_or(0);
    if to < 0 {
        return Err(RolloutError::RevisionNotFound(to));
    }
    let d = get_deployment(client, ns, name).await?;
    let sets = replica_sets_of(client, ns, &d).await?;
    // deploymentRevision
    let mut latest: (i64, Option<&ReplicaSet>) = (-1, None);
    let mut previous: (i64, Option<&ReplicaSet>) = (-1, None);
    let mut chosen: Option<(i64, &ReplicaSet)> = None;
    for rs in &sets {
        let Ok(v) = revision_of(&rs.metadata) else {
            continue;
        };
        if to == 0 {
            if latest.0 < v {
                previous = latest;
                latest = (v, Some(rs));
            } else if previous.0 < v {
                previous = (v, Some(rs));
            }
        } else if to == v {
            chosen = Some((v, rs));
            break;
        }
    }
    let (rev, rs) = match chosen {
        Some(c) => c,
        None if to > 0 => return Err(RolloutError::RevisionNotFound(to)),
        None => match previous {
            (v, Some(rs)) => (v, rs),
            _ => return Err(RolloutError::NoHistory(name.to_string())),
        },
    };
    let spec = d.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Err(RolloutError::PausedRollback);
    }
    let from_revision =
        revision_of(&d.metadata).map_err(|e| RolloutError::BadRevision(name.to_string(), e))?;
    let done = |skipped| Rollback {
        from_revision,
        to_revision: rev,
        skipped,
    };
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    if equal_ignore_hash(&template, &spec.template) {
        return Ok(done(true));
    }
    if let Some(l) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove(HASH_LABEL);
    }
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    let d_anns = d.metadata.annotations.clone().unwrap_or_default();
    for k in ANNOTATIONS_TO_SKIP {
        if let Some(v) = d_anns.get(k) {
            annotations.insert(k.to_string(), v.clone());
        }
    }
    for (k, v) in rs.metadata.annotations.clone().unwrap_or_default() {
        if !ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
            annotations.insert(k, v);
        }
    }
    let ops = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    let patch = serde_json::from_value(ops).map_err(|e| RolloutError::Invalid(e.to_string()))?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await?;
    Ok(done(false))
}

/// `DeploymentStatusViewer.Status` on a Deployment already read.
pub fn status_of(d: &Deployment, revision: Option<i64>) -> Result<RolloutStatus, RolloutError> {
    let name = d.metadata.name.clone().unwrap_or_default();
    if let Some(want) = revision.filter(|r| *r > 0) {
        let have =
            revision_of(&d.metadata).map_err(|e| RolloutError::BadRevision(name.clone(), e))?;
        if want != have {
            return Err(RolloutError::RevisionMismatch(want, have));
        }
    }
    let waiting = |message: String| RolloutStatus {
        message,
        done: false,
        failed: false,
    };
    let status = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if generation > status.observed_generation.unwrap_or(0) {
        return Ok(waiting(
            "Waiting for deployment spec update to be observed...".into(),
        ));
    }
    let timed_out = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return Ok(RolloutStatus {
            message: format!("deployment \"{name}\" exceeded its progress deadline"),
            done: false,
            failed: true,
        });
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(want) = d.spec.as_ref().and_then(|s| s.replicas)
        && updated < want
    {
        return Ok(waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {want} new replicas have been updated..."
        )));
    }
    if replicas > updated {
        return Ok(waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        )));
    }
    if available < updated {
        return Ok(waiting(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
        )));
    }
    Ok(RolloutStatus {
        message: format!("deployment \"{name}\" successfully rolled out"),
        done: true,
        failed: false,
    })
}

/// The pod template annotation a rolling restart sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// `kubectl rollout restart deployment/NAME`: the `restartedAt` value before (none when it had
/// none) and the one set.
pub async fn restart_from(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<(Option<String>, String), RolloutError> {
    let d = get_deployment(client, ns, name).await?;
    if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        return Err(RolloutError::PausedRestart);
    }
    let before = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT))
        .cloned();
    let now = chrono::Local::now();
    let mut at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // A second restart within the same second would change nothing (and restart nothing):
    // then the value carries milliseconds, so the pod template changes.
    if before.as_deref() == Some(at.as_str()) {
        at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    set_restarted_at(client, ns, name, Some(&at)).await?;
    Ok((before, at))
}

/// Sets the pod template's `restartedAt` annotation, or removes it (`None`).
pub async fn set_restarted_at(
    client: &kube::Client,
    ns: &str,
    name: &str,
    value: Option<&str>,
) -> Result<(), RolloutError> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: value,
    }}}}});
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pp = PatchParams {
        field_manager: Some("kubectl-rollout".into()),
        ..PatchParams::default()
    };
    api.patch(name, &pp, &Patch::Strategic(patch)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn dep(generation: i64, status: DeploymentStatus) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(generation),
                annotations: Some([(REVISION.to_string(), "2".to_string())].into()),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                ..Default::default()
            }),
            status: Some(status),
        }
    }

    #[test]
    fn status_viewer_messages() {
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(1),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            s.message,
            "Waiting for deployment spec update to be observed..."
        );
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(2),
                    replicas: Some(4),
                    updated_replicas: Some(1),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            s.message,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..."
        );
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(2),
                    replicas: Some(4),
                    updated_replicas: Some(3),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            s.message,
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination..."
        );
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(2),
                    replicas: Some(3),
                    updated_replicas: Some(3),
                    available_replicas: Some(2),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            s.message,
            "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available..."
        );
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(2),
                    replicas: Some(3),
                    updated_replicas: Some(3),
                    available_replicas: Some(3),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert!(s.done && !s.failed);
        assert_eq!(s.message, "deployment \"web\" successfully rolled out");
        let s = status_of(
            &dep(
                2,
                DeploymentStatus {
                    observed_generation: Some(2),
                    conditions: Some(vec![DeploymentCondition {
                        type_: "Progressing".into(),
                        status: "False".into(),
                        reason: Some("ProgressDeadlineExceeded".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            ),
            None,
        )
        .unwrap();
        assert!(s.failed);
        assert!(matches!(
            status_of(&dep(2, DeploymentStatus::default()), Some(3)),
            Err(RolloutError::RevisionMismatch(3, 2))
        ));
    }

    #[test]
    fn selector_strings() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}))
        .unwrap();
        assert_eq!(selector_string(&sel), "app=web,tier=fe,env in (a,b)");
    }
}

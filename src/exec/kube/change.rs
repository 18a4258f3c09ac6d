//! What a kube step changed, as journaled (put back by `revert.rs`).

use serde::{Deserialize, Serialize};

/// One change to the cluster. Journaled as JSON (`{"change": "scaled", ...}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A deployment's replica count.
    Scaled {
        namespace: String,
        deployment: String,
        from: i32,
        to: i32,
    },
    /// A container's image.
    Image {
        namespace: String,
        deployment: String,
        container: String,
        from: String,
        to: String,
    },
    /// A rolling restart: the pod template's `kubectl.kubernetes.io/restartedAt` annotation.
    Restarted {
        namespace: String,
        deployment: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        to: String,
    },
    /// A rollback: the revision that was live before, and the one rolled back to.
    RolledBack {
        namespace: String,
        deployment: String,
        from_revision: i64,
        to_revision: i64,
    },
    /// An object applied: created, or changed from `before` (the object as it was, without its
    /// status and server-set fields).
    Applied {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        api_version: String,
        kind: String,
        name: String,
        created: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<serde_json::Value>,
        /// What the apply left, as [`super::apply::comparable`] reads it: a revert that finds the
        /// object otherwise has been changed since, and leaves it. Absent in older journals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<serde_json::Value>,
    },
    /// An object patched (`kube.patch`): `before` is the object as it was (without its status and
    /// server-set fields), which a revert puts back exactly.
    Patched {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        api_version: String,
        kind: String,
        name: String,
        patch_type: String,
        before: serde_json::Value,
    },
    /// An Argo Rollout changed by `argo.promote`, `argo.abort` or `argo.retry` (`op`), while its
    /// update `pod_hash` (`status.currentPodHash`) was under way; `before` is the rollout as it
    /// was, its status included.
    Rollout {
        namespace: String,
        rollout: String,
        op: RolloutOp,
        pod_hash: String,
        before: serde_json::Value,
    },
    /// A rollout's (or its `workloadRef` deployment's) container images set (`argo.set_image`):
    /// each container with the image it had.
    RolloutImage {
        namespace: String,
        rollout: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workload: Option<String>,
        containers: Vec<ImageWas>,
        to: String,
    },
    /// A rollout's (or its `workloadRef` deployment's) pod template replaced by a revision's
    /// (`argo.undo`): `before` is the template it had, `after` the one it was given.
    RolloutTemplate {
        namespace: String,
        rollout: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workload: Option<String>,
        to_revision: i64,
        before: serde_json::Value,
        after: serde_json::Value,
    },
    /// An Argo CD Application's `spec.syncPolicy.automated`, before and after (`None`: not set).
    AutoSync {
        namespace: String,
        app: String,
        #[serde(default)]
        before: Option<serde_json::Value>,
        #[serde(default)]
        after: Option<serde_json::Value>,
    },
    /// An Argo CD sync started (`argocd.sync`): the revision it synced to, and the one the
    /// Application was synced to before.
    Synced {
        namespace: String,
        app: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before_revision: Option<String>,
    },
    /// A job that was run.
    JobRan {
        namespace: String,
        name: String,
        succeeded: bool,
        deleted: bool,
    },
}

/// What an `argo.*` step did to a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutOp {
    Promote,
    PromoteFull,
    Abort,
    Retry,
}

/// A container and the image it had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageWas {
    pub container: String,
    pub from: String,
}

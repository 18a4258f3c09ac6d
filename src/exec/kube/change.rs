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
    },
    /// A job that was run.
    JobRan {
        namespace: String,
        name: String,
        succeeded: bool,
        deleted: bool,
    },
}

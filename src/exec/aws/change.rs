//! What an AWS step changed, as journaled (`{"aws": "secret_put", ...}`: names and version ids,
//! never a value); `revert.rs` puts it back.

use serde::{Deserialize, Serialize};

/// How long a secret the revert deletes can still be restored.
pub const RECOVERY_DAYS: i64 = 7;

/// One change to the AWS account. The last three are what `secrets.revert` itself did: they tell
/// the story in the journal, and a revert of them does nothing, so reverts never undo each other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "aws", rename_all = "snake_case")]
pub enum Change {
    /// A secret that did not exist, created with its first version.
    SecretCreated { id: String, version: String },
    /// A new version put; `previous` was `AWSCURRENT` before.
    SecretPut {
        id: String,
        version: String,
        #[serde(default)]
        previous: Option<String>,
    },
    /// A new version put by `secrets.rotate`; `previous` was `AWSCURRENT` before.
    SecretRotated {
        id: String,
        version: String,
        #[serde(default)]
        previous: Option<String>,
    },
    /// `secrets.rotate` moved `AWSCURRENT` back to `version`, from `from`, when its check failed.
    SecretRolledBack {
        id: String,
        version: String,
        from: String,
    },
    /// An ECR repository that did not exist.
    RepositoryCreated {
        name: String,
        #[serde(default)]
        uri: String,
        #[serde(default)]
        arn: Option<String>,
    },
    /// A revert moved `AWSCURRENT` back to `version`, from `from`.
    SecretReverted {
        id: String,
        version: String,
        from: String,
    },
    /// A revert scheduled a secret the step had created for deletion (restorable until then).
    SecretDeletionScheduled {
        id: String,
        version: String,
        recovery_days: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deletion_date: Option<String>,
    },
    /// A revert deleted an empty repository the step had created.
    RepositoryDeleted {
        name: String,
        #[serde(default)]
        uri: String,
        #[serde(default)]
        arn: Option<String>,
    },
    /// A kind this version of tollgate does not know.
    #[serde(other)]
    Unknown,
}

impl Change {
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Whether a journaled change is an AWS one (the others are the cluster's or Docker's).
pub fn is_aws(change: &serde_json::Value) -> bool {
    change.get("aws").is_some()
}

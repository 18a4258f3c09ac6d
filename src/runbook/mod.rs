//! The runbook as data: YAML with positions, the serde model, loading, variables and validation.

pub mod action;
pub mod argo;
pub mod aws;
pub mod de;
pub mod diag;
pub mod docker;
pub mod http;
pub mod int;
pub mod jsonpath;
pub mod kube;
pub mod lint;
mod literal_secrets;
pub mod loader;
pub mod model;
pub mod rehearse;
pub mod revert;
pub mod shorthand;
pub mod validate;
pub mod vars;
pub mod yaml;

pub use action::{Action, Run};
pub use de::Spanned;
pub use diag::{Diag, Severity};
pub use loader::{Loaded, Unreadable, load};
pub use model::*;
pub use rehearse::{Rehearsal, RehearsalRepo, Rehearse};
pub use revert::{Revert, RevertAction};
pub use yaml::Pos;

/// The JSON Schema of the runbook format, for editors.
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Runbook)).unwrap_or_default();
    // The shorthand forms (`gate: true`, `run: "cmd"`, `retries: 3`, checklist strings,
    // `aws.identity:` without a value) are accepted by the loader; say so in the schema too.
    if let Some(defs) = schema.get_mut("$defs").and_then(|d| d.as_object_mut()) {
        for (name, short) in [
            (
                "Gate",
                serde_json::json!({"type": "boolean", "const": true}),
            ),
            ("Run", serde_json::json!({"type": "string"})),
            (
                "Retries",
                serde_json::json!({"type": "integer", "minimum": 0}),
            ),
            ("ChecklistItem", serde_json::json!({"type": "string"})),
            ("AwsIdentity", serde_json::json!({"type": "null"})),
        ] {
            if let Some(def) = defs.get_mut(name) {
                let full = def.take();
                *def = serde_json::json!({ "anyOf": [short, full] });
            }
        }
    }
    schema
}

//! Who controls an object and who may adopt it: controller references and label selectors as the
//! controllers read them.

use serde_json::{Map, Value, json};

use crate::object::{PointerLookup, name_of, uid_of};
use crate::selector::LabelSelector;

/// The owner reference with `controller: true`.
pub fn controller_ref(v: &Value) -> Option<&Value> {
    v.at("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)))
}

/// `metav1.NewControllerRef(owner, gvk)`.
pub fn controller_ref_to(owner: &Value, kind: &str) -> Value {
    let api_version = match kind {
        "Deployment" | "ReplicaSet" => "apps/v1",
        "Job" => "batch/v1",
        _ => "v1",
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether a label selector (an object) selects these labels; an empty or invalid one selects nothing.
pub fn selector_matches(sel: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return false;
    };
    match LabelSelector::from_object(sel) {
        Ok(s) => !s.is_empty() && s.matches(labels),
        Err(_) => false,
    }
}

/// A parsed selector that selects nothing when empty or invalid, for many matches in a row.
pub struct Selector(Option<LabelSelector>);

impl Selector {
    pub fn new(sel: Option<&Value>) -> Selector {
        Selector(
            sel.filter(|s| !s.is_null())
                .and_then(|s| LabelSelector::from_object(s).ok())
                .filter(|s| !s.is_empty()),
        )
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.0.as_ref().is_some_and(|s| s.matches(labels))
    }
}

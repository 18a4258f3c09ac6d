//! `metadata.managedFields`: who owns which fields, decoded from and written back to an object.

use serde_json::Value;

use super::field_set::FieldSet;
use super::values::JsonMap;
use crate::object::metadata_mut;

#[derive(Clone, Debug)]
pub(super) struct ManagedEntry {
    pub(super) manager: String,
    pub(super) operation: String,
    pub(super) api_version: String,
    pub(super) time: Option<String>,
    pub(super) subresource: Option<String>,
    pub(super) set: FieldSet,
}

impl ManagedEntry {
    pub(super) fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.is_none()
    }

    fn encode(&self) -> Value {
        let mut m = JsonMap::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }
}

/// Decode `metadata.managedFields`; `None` when absent, not a list, or not decodable (the API
/// server then falls back to the live object's entries).
pub(super) fn decode_managed_fields(obj: &Value) -> Option<Vec<ManagedEntry>> {
    let list = obj.get("metadata")?.get("managedFields")?.as_array()?;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let m = e.as_object()?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let operation = s("operation")?;
        if operation != "Apply" && operation != "Update" {
            return None;
        }
        if m.get("fieldsType").and_then(Value::as_str) != Some("FieldsV1") {
            return None;
        }
        let set = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(v) => FieldSet::from_fields_v1(v)?,
        };
        out.push(ManagedEntry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|x| !x.is_empty()),
            set,
        });
    }
    Some(out)
}

/// Write the entries back, sorted like the API server does (operation, time, manager).
pub(super) fn set_managed_fields(obj: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    if !obj.is_object() {
        return;
    }
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    metadata_mut(obj).insert(
        "managedFields".into(),
        Value::Array(entries.iter().map(ManagedEntry::encode).collect()),
    );
}

pub(super) fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("managedFields");
    }
    v
}

//! Server-side apply and field ownership, a port of the parts of `sigs.k8s.io/structured-merge-diff`
//! (`merge.Updater`) and `k8s.io/apiserver`'s field manager that matter for built-in types: merge,
//! prune, conflicts, `force`, and `metadata.managedFields` in the real FieldsV1 encoding.

use std::fmt;

use serde_json::Value;

use super::field_set::{FieldSet, PathElement, ignored_set, path_string, strip_set};
use super::managed_fields::{
    ManagedEntry, decode_managed_fields, set_managed_fields, without_managed_fields,
};
use super::schema::Schema;
use super::typed_value::{compare_objects, field_set_of, prune, ssa_merge};
use super::values::{JsonMap, json_eq};
use crate::go_format::go_quote;

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A server-side apply that would change fields owned by other managers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    /// `(manager, field path)`, e.g. `("kubectl-edit", ".spec.replicas")` or
    /// `("ci", ".spec.template.spec.containers[name=\"web\"].image")`; sorted by manager.
    pub conflicts: Vec<(String, String)>,
}

impl fmt::Display for ApplyConflict {
    /// The API server's message (`getConflictMessage`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(m, p)] = self.conflicts.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: conflict with {}: {p}",
                go_quote(m)
            );
        }
        let mut lines = Vec::new();
        let mut last: Option<&str> = None;
        for (m, p) in &self.conflicts {
            if last != Some(m.as_str()) {
                lines.push(format!("conflicts with {}:", go_quote(m)));
                last = Some(m);
            }
            lines.push(format!("- {p}"));
        }
        write!(
            f,
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }
}

impl std::error::Error for ApplyConflict {}

/// Server-side apply of `config` (the full intended object) by `manager` to `live` (`None`:
/// the object does not exist yet; the caller stamps uid, timestamps and resourceVersion).
///
/// The result is `live` merged with `config` (granular objects merge, associative lists merge by
/// key, sets by value, everything else is replaced), minus the fields this manager applied last
/// time and no longer applies unless another manager owns them. A field whose value would change
/// and that another manager (Apply or Update) owns is a conflict; with `force` its ownership
/// moves to `manager` instead. Ownership is recorded in `metadata.managedFields`.
/// `metadata.managedFields` and `metadata.resourceVersion` in `config` are ignored, `status` is
/// never owned (the caller strips it from the config of the main resource).
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    kind: &str,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    apply_typed(live, config, Schema::root(kind), manager, force, now)
}

/// [`apply`](fn@apply) for a custom object whose CRD gives `schema` (its structural
/// `openAPIV3Schema`, interned with [`crate::patch::intern_schema`]; `None`: no schema): maps merge key by key,
/// lists are replaced unless the schema says `x-kubernetes-list-type: map` (merged by
/// `x-kubernetes-list-map-keys`) or `set`, and `x-kubernetes-map-type: atomic` maps are
/// replaced, as structured-merge-diff reads a CRD's schema.
pub fn apply_custom(
    live: Option<&Value>,
    config: &Value,
    schema: Option<&'static Value>,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    apply_typed(
        live,
        config,
        Schema::custom_root(schema),
        manager,
        force,
        now,
    )
}

fn apply_typed(
    live: Option<&Value>,
    config: &Value,
    schema: Schema,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    let live = live.filter(|v| v.is_object());
    let mut managers = live.and_then(decode_managed_fields).unwrap_or_default();
    let live_body = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(JsonMap::new()));
    let mut cfg = match config {
        Value::Object(_) => config.clone(),
        _ => Value::Object(JsonMap::new()),
    };
    drop_nulls(&mut cfg);
    if let Some(Value::Object(meta)) = cfg.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    let api_version = cfg
        .get("apiVersion")
        .or_else(|| live_body.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();

    let merged = ssa_merge(Some(&live_body), &cfg, schema);
    let ignored = ignored_set();
    let new_set = field_set_of(&cfg, schema).recursive_difference(&ignored);

    let me = match managers.iter().position(|m| m.is(manager, "Apply")) {
        Some(i) => i,
        None => {
            managers.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Apply".to_string(),
                api_version: api_version.clone(),
                time: None,
                subresource: None,
                set: FieldSet::default(),
            });
            managers.len() - 1
        }
    };
    let last_set = std::mem::replace(&mut managers[me].set, new_set);

    let result = if last_set.is_empty() {
        merged
    } else {
        let all = managers
            .iter()
            .fold(FieldSet::default(), |acc, m| acc.union(&m.set));
        prune(&merged, &all, &last_set, schema)
    };

    // Updater.update: conflicts, then ownership changes.
    let cmp = compare_objects(&live_body, &result, schema).exclude(&ignored);
    let changed = cmp.added.union(&cmp.modified);
    let conflicts: Vec<(usize, FieldSet)> = managers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .map(|(i, m)| (i, m.set.intersection(&changed)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if !force && !conflicts.is_empty() {
        let mut list: Vec<(String, Vec<PathElement>)> = Vec::new();
        for (i, c) in &conflicts {
            for p in c.member_paths() {
                list.push((managers[*i].manager.clone(), p));
            }
        }
        list.sort();
        list.dedup();
        return Err(ApplyConflict {
            conflicts: list
                .into_iter()
                .map(|(m, p)| (m, path_string(&p)))
                .collect(),
        });
    }
    for (i, c) in conflicts {
        managers[i].set = managers[i].set.difference(&c);
    }
    for (i, m) in managers.iter_mut().enumerate() {
        if i != me {
            m.set = m.set.difference(&cmp.removed);
        }
    }
    let object_changed = !json_eq(&live_body, &result);
    let entry = &mut managers[me];
    entry.set = entry.set.difference(&strip_set());
    entry.api_version = api_version;
    if object_changed || entry.time.is_none() {
        entry.time = Some(now.to_string());
    }
    managers.retain(|m| !m.set.is_empty());

    let mut out = result;
    set_managed_fields(&mut out, managers);
    Ok(out)
}

/// Record a create/update/patch by `manager` (`""` = `"unknown"`): `obj` is the object about to
/// be stored, `before` the stored one (`None` on create). The fields the change added or
/// modified move to an `operation: "Update"` entry of `manager` (taken from whoever owned them,
/// without conflicts); removed fields are dropped from every entry. The entries come from `obj`
/// when it carries decodable ones (a client may write them), otherwise from `before`;
/// `managedFields: [{}]` resets them.
pub fn record_update(obj: &mut Value, before: Option<&Value>, manager: &str, now: &str) {
    record_update_typed(obj, before, None, manager, now)
}

/// [`record_update`] for a custom object with its CRD's structural schema (see
/// [`apply_custom`]).
pub fn record_update_custom(
    obj: &mut Value,
    before: Option<&Value>,
    schema: Option<&'static Value>,
    manager: &str,
    now: &str,
) {
    record_update_typed(obj, before, Some(Schema::custom_root(schema)), manager, now)
}

fn record_update_typed(
    obj: &mut Value,
    before: Option<&Value>,
    schema: Option<Schema>,
    manager: &str,
    now: &str,
) {
    if !obj.is_object() {
        return;
    }
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    if let Some(Value::Array(list)) = obj.get("metadata").and_then(|m| m.get("managedFields"))
        && list.len() == 1
        && list[0].as_object().is_some_and(JsonMap::is_empty)
    {
        set_managed_fields(obj, Vec::new());
        return;
    }
    let before = before.filter(|b| b.is_object());
    let mut managers = decode_managed_fields(obj)
        .filter(|m| !m.is_empty())
        .or_else(|| before.and_then(decode_managed_fields))
        .unwrap_or_default();
    let kind = obj
        .get("kind")
        .or_else(|| before.and_then(|b| b.get("kind")))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let schema = schema.unwrap_or_else(|| Schema::root(kind));
    let before_body = before
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(JsonMap::new()));
    let after_body = without_managed_fields(obj);
    let ignored = ignored_set();
    let cmp = compare_objects(&before_body, &after_body, schema).exclude(&ignored);
    let changed = cmp.added.union(&cmp.modified);
    for m in managers.iter_mut() {
        m.set = m.set.difference(&changed).difference(&cmp.removed);
    }
    managers.retain(|m| !m.set.is_empty());
    let current = changed
        .difference(&cmp.removed)
        .recursive_difference(&ignored)
        .difference(&strip_set());
    if !current.is_empty() {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match managers.iter_mut().find(|m| m.is(manager, "Update")) {
            Some(m) => {
                m.set = m.set.union(&current);
                m.time = Some(now.to_string());
                m.api_version = api_version;
            }
            None => managers.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".to_string(),
                api_version,
                time: Some(now.to_string()),
                subresource: None,
                set: current,
            }),
        }
    }
    set_managed_fields(obj, managers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::{json_patch, merge_patch, strategic_merge};
    use serde_json::json;

    const T1: &str = "2024-01-01T00:00:00Z";
    const T2: &str = "2024-01-02T00:00:00Z";
    const T3: &str = "2024-01-03T00:00:00Z";

    fn deployment(replicas: i64, image: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
        obj.pointer("/metadata/managedFields")?
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager)
    }

    fn fields_of(obj: &Value, manager: &str) -> Value {
        entry(obj, manager)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }

    fn body(obj: &Value) -> Value {
        without_managed_fields(obj)
    }

    #[test]
    fn apply_create_records_fields_v1() {
        let cfg = deployment(2, "nginx:1", json!({"app": "web"}));
        let out = apply(None, &cfg, "Deployment", "mgr", false, T1).unwrap();
        assert_eq!(body(&out), cfg);
        let e = entry(&out, "mgr").unwrap();
        assert_eq!(e["operation"], "Apply");
        assert_eq!(e["apiVersion"], "apps/v1");
        assert_eq!(e["time"], T1);
        assert_eq!(e["fieldsType"], "FieldsV1");
        assert_eq!(
            e["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {},
                                "f:containerPort": {}
                            }}
                        }}}
                    }
                }
            })
        );
        assert_eq!(entries(&out).len(), 1);
    }

    #[test]
    fn apply_updates_replicas_image_env_and_removes_dropped_label() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web", "tier": "fe"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        let mut cfg = deployment(3, "nginx:2", json!({"app": "web"}));
        cfg["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "MODE", "value": "prod"}]);
        // Something the server defaulted and nobody owns must survive.
        let mut live = live;
        live["spec"]["progressDeadlineSeconds"] = json!(600);
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        let out = apply(Some(&live), &cfg, "Deployment", "mgr", false, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2");
        assert_eq!(c["env"], json!([{"name": "MODE", "value": "prod"}]));
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(out["spec"]["progressDeadlineSeconds"], 600);
        let f = fields_of(&out, "mgr");
        assert_eq!(f["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert_eq!(
            f.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:env"),
            Some(&json!({"k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}}}))
        );
        assert_eq!(entry(&out, "mgr").unwrap()["time"], T2);
        // Dropping the env var from the applied config removes it again.
        let out = apply(
            Some(&out),
            &deployment(3, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap();
        assert!(
            out["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn apply_conflicts_with_an_update_manager_unless_forced() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        // `kubectl scale`-like update by another manager.
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(&mut scaled, Some(&live), "kubectl-edit", T2);
        assert_eq!(
            fields_of(&scaled, "kubectl-edit"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            entry(&scaled, "kubectl-edit").unwrap()["operation"],
            "Update"
        );
        assert!(
            fields_of(&scaled, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_none()
        );

        // Applying a different value conflicts.
        let err = apply(
            Some(&scaled),
            &deployment(3, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap_err();
        assert_eq!(
            err.conflicts,
            vec![("kubectl-edit".to_string(), ".spec.replicas".to_string())]
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .spec.replicas"
        );
        // Applying the same value shares ownership.
        let shared = apply(
            Some(&scaled),
            &deployment(5, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(
            fields_of(&shared, "kubectl-edit"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(
            fields_of(&shared, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_some()
        );
        // Forcing takes the field over; the now-empty entry goes away.
        let forced = apply(
            Some(&scaled),
            &deployment(3, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            true,
            T3,
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        assert!(entry(&forced, "kubectl-edit").is_none());
        assert!(
            fields_of(&forced, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_some()
        );
    }

    #[test]
    fn apply_conflicts_between_appliers() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "a",
            false,
            T1,
        )
        .unwrap();
        let err = apply(
            Some(&live),
            &deployment(4, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "b",
            false,
            T2,
        )
        .unwrap_err();
        assert_eq!(
            err.conflicts,
            vec![
                ("a".to_string(), ".spec.replicas".to_string()),
                (
                    "a".to_string(),
                    ".spec.template.spec.containers[name=\"web\"].image".to_string()
                ),
            ]
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );
        let forced = apply(
            Some(&live),
            &deployment(4, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "b",
            true,
            T2,
        )
        .unwrap();
        let fa = fields_of(&forced, "a");
        assert!(fa.pointer("/f:spec/f:replicas").is_none());
        assert!(
            fa.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image")
                .is_none()
        );
        assert!(
            fa.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:name")
                .is_some()
        );
        assert_eq!(forced["spec"]["replicas"], 4);
    }

    #[test]
    fn apply_keeps_dropped_fields_another_manager_owns() {
        let cm = |labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels}, "data": {"k": "v"}});
        let live = apply(
            None,
            &cm(json!({"app": "x", "tier": "fe"})),
            "ConfigMap",
            "a",
            false,
            T1,
        )
        .unwrap();
        // b co-owns tier (same value: no conflict).
        let live = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"tier": "fe"}}}), "ConfigMap", "b", false, T2).unwrap();
        assert_eq!(
            fields_of(&live, "b"),
            json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
        );
        // a drops tier: still owned by b, so it stays.
        let live = apply(
            Some(&live),
            &cm(json!({"app": "x"})),
            "ConfigMap",
            "a",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(
            live["metadata"]["labels"],
            json!({"app": "x", "tier": "fe"})
        );
        // b drops it too: now it goes, and b has nothing left.
        let live = apply(
            Some(&live),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            "ConfigMap",
            "b",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"app": "x"}));
        assert!(entry(&live, "b").is_none());
        // a drops all labels: the map goes away.
        let live = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}), "ConfigMap", "a", false, T3).unwrap();
        assert!(live["metadata"].get("labels").is_none());
        assert_eq!(live["data"], json!({"k": "v"}));
    }

    #[test]
    fn apply_container_list_by_name() {
        let mut two = deployment(1, "nginx:1", json!({"app": "web"}));
        two["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy"}]);
        let live = apply(None, &two, "Deployment", "mgr", false, T1).unwrap();
        // Another client adds a container with an update.
        let mut debugged = live.clone();
        debugged["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug", "image": "busybox"}));
        record_update(&mut debugged, Some(&live), "kubectl-debug", T2);
        assert_eq!(
            fields_of(&debugged, "kubectl-debug"),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"debug\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        // The applier drops the sidecar and changes web's image: sidecar removed, debug kept.
        let mut one = deployment(1, "nginx:2", json!({"app": "web"}));
        one["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:2"}]);
        let out = apply(Some(&debugged), &one, "Deployment", "mgr", false, T3).unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["web", "debug"]);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
    }

    #[test]
    fn apply_merges_lists_in_structured_merge_diff_order() {
        let cm = |f: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": f}});
        let live = apply(None, &cm(json!(["a", "b"])), "ConfigMap", "x", false, T1).unwrap();
        assert_eq!(
            fields_of(&live, "x"),
            json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}})
        );
        let out = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["c"]}}), "ConfigMap", "y", false, T2).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        // x drops b (only x owned it) but keeps a.
        let out = apply(Some(&out), &cm(json!(["a"])), "ConfigMap", "x", false, T3).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    }

    #[test]
    fn apply_ignores_status_resource_version_and_managed_fields_in_config() {
        let mut live = apply(
            None,
            &deployment(1, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        live["status"] = json!({"replicas": 1});
        live["metadata"]["resourceVersion"] = json!("7");
        let mut cfg = deployment(1, "nginx:1", json!({"app": "web"}));
        cfg["metadata"]["resourceVersion"] = json!("1");
        cfg["metadata"]["managedFields"] = json!([{"manager": "evil", "operation": "Apply"}]);
        let out = apply(Some(&live), &cfg, "Deployment", "mgr", false, T2).unwrap();
        assert_eq!(out["status"], json!({"replicas": 1}));
        assert_eq!(out["metadata"]["resourceVersion"], "7");
        assert_eq!(entries(&out).len(), 1);
        // No-op apply keeps the entry's time.
        assert_eq!(entry(&out, "mgr").unwrap()["time"], T1);
        assert!(fields_of(&out, "mgr").get("f:status").is_none());
        // A config carrying status does not own it.
        let mut with_status = cfg.clone();
        with_status["status"] = json!({"replicas": 9});
        let out = apply(Some(&live), &with_status, "Deployment", "mgr", false, T2).unwrap();
        assert!(fields_of(&out, "mgr").get("f:status").is_none());
    }

    #[test]
    fn record_update_on_create_and_update() {
        let mut cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "uid": "u", "resourceVersion": "1",
                         "creationTimestamp": T1, "labels": {"app": "x"}},
            "data": {"a": "1"}
        });
        record_update(&mut cm, None, "", T1);
        let e = entry(&cm, "unknown").unwrap();
        assert_eq!(e["operation"], "Update");
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(
            e["fieldsV1"],
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        // A no-op update records nothing new.
        let before = cm.clone();
        let mut same = cm.clone();
        record_update(&mut same, Some(&before), "other", T2);
        assert_eq!(same, before);
        // A change by another manager moves the field and keeps the rest.
        let mut changed = cm.clone();
        changed["data"]["a"] = json!("2");
        changed["data"]["b"] = json!("3");
        changed["metadata"]["resourceVersion"] = json!("2");
        record_update(&mut changed, Some(&before), "other", T2);
        assert_eq!(
            fields_of(&changed, "other"),
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert_eq!(
            fields_of(&changed, "unknown"),
            json!({"f:data": {}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        // Removing a field drops it from every owner.
        let before = changed.clone();
        let mut removed = changed.clone();
        removed["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        record_update(&mut removed, Some(&before), "other", T3);
        assert_eq!(fields_of(&removed, "unknown"), json!({"f:data": {}}));
        // Entries missing from the new object come from the stored one.
        let mut stripped = removed.clone();
        stripped["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        stripped["data"]["c"] = json!("4");
        record_update(&mut stripped, Some(&removed), "other", T3);
        assert_eq!(
            fields_of(&stripped, "other"),
            json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}})
        );
        assert!(entry(&stripped, "unknown").is_some());
        // [{}] resets managed fields.
        let mut reset = stripped.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        record_update(&mut reset, Some(&stripped), "other", T3);
        assert!(reset["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn managed_fields_are_sorted_and_round_trip() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "z-applier",
            false,
            T2,
        )
        .unwrap();
        let mut upd = live.clone();
        upd["metadata"]["annotations"] = json!({"note": "x"});
        record_update(&mut upd, Some(&live), "a-updater", T1);
        let managers: Vec<String> = entries(&upd)
            .iter()
            .filter_map(|e| e["manager"].as_str().map(str::to_string))
            .collect();
        assert_eq!(managers, ["z-applier", "a-updater"]);
        for e in entries(&upd) {
            let set = FieldSet::from_fields_v1(&e["fieldsV1"]).unwrap();
            assert_eq!(set.to_fields_v1(), e["fieldsV1"]);
        }
        let set = FieldSet::from_fields_v1(
            &json!({"f:a": {".": {}, "f:b": {}}, "k:{\"x\":1}": {}, "v:\"s\"": {}, "i:3": {}}),
        )
        .unwrap();
        let paths: Vec<String> = set.member_paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(paths, [".a", ".a.b", "[x=1]", "[=\"s\"]", "[3]"]);
        assert!(FieldSet::from_fields_v1(&json!({"bogus": {}})).is_none());
    }

    #[test]
    fn ssa_never_panics_on_junk() {
        let junk = [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, {"a": null}]),
            json!({"metadata": "x"}),
            json!({"metadata": {"managedFields": "x"}}),
            json!({"metadata": {"managedFields": [{"manager": 1}]}}),
            json!({"metadata": {"managedFields": [{"operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"k:notjson": {}}}]}}),
            json!({"spec": {"template": {"spec": {"containers": [{"noname": 1}, "str", [1]]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}),
            json!({"metadata": {"finalizers": [1, "1", {"a": 1}, null]}}),
        ];
        for live in &junk {
            for cfg in &junk {
                for kind in ["Deployment", "Pod", "Widget"] {
                    let _ = apply(Some(live), cfg, kind, "m", false, T1);
                    let _ = apply(Some(live), cfg, kind, "m", true, T1);
                    let mut o = cfg.clone();
                    record_update(&mut o, Some(live), "m", T1);
                    let mut t = live.clone();
                    let _ = strategic_merge(&mut t, cfg, kind);
                    let mut t = live.clone();
                    let _ = json_patch(&mut t, cfg);
                    merge_patch(&mut t, cfg);
                }
            }
        }
    }
}

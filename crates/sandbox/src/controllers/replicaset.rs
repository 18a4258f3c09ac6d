//! The replica set controller (`pkg/controller/replicaset/replica_set.go`).
//!
//! A sync claims the pods its selector matches (adopting orphans, releasing pods whose labels no
//! longer match), creates pods from the template (`generateName: {rs}-`, a controller owner
//! reference) or deletes the surplus in the order `getPodsToDelete` ranks them (unassigned before
//! assigned, pending before running, not ready before ready, lower `pod-deletion-cost`, more pods of
//! the same owner on the node, ready for less time, more restarts, newer; the two timestamps compared
//! in logarithmic buckets as `LogarithmicScaleDown` does), at most 500 a sync (`burstReplicas`), and
//! writes `status` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
//! observedGeneration, a ReplicaFailure condition when a create or delete fails). With
//! `minReadySeconds` it requeues itself for the moment a ready pod becomes available.
//! Events: SuccessfulCreate "Created pod: x", SuccessfulDelete "Deleted pod: x", FailedCreate.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::conditions::{condition, is_pod_active, is_pod_ready, parse_time, put_condition};
use super::events::Source;
use super::manager::{Manager, Work};
use super::owners::{Selector, controller_ref, controller_ref_to};
use crate::object::{
    Key, PointerLookup, int_at, key_of, labels_of, metadata_mut, name_of, resource_version_of,
    str_at, uid_of,
};
use crate::resources::by_kind;
use crate::store::{self, DeleteOptions};

/// Most pods created or deleted in one sync.
pub const BURST: usize = 500;

const COMPONENT: &str = "replicaset-controller";

pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let rt = by_kind("ReplicaSet");
    let Ok(rs) = m.shared.store.get(rt, ns, name) else {
        return;
    };
    // A sync reads every pod of the replica set: one that has not a new spec to act on runs at
    // most every 10 ms plus 20 µs a pod (a 5,000-pod replica set refreshes its status ten times
    // a second while thousands of its pods change).
    let spec_pending =
        int_at(&rs, "/metadata/generation", 0) != int_at(&rs, "/status/observedGeneration", 0);
    let n = m
        .index
        .pods_by_owner
        .get(uid_of(&rs))
        .map_or(0, |s| s.len()) as u64;
    let gap = Duration::from_millis(10) + Duration::from_micros(20 * n);
    let work = Work::ReplicaSet((ns.to_string(), name.to_string()));
    if m.throttled(&work, if spec_pending { Duration::ZERO } else { gap }) {
        return;
    }
    let deleting = rs.at("/metadata/deletionTimestamp").is_some();
    let pods = claim_pods(m, &rs, "ReplicaSet");
    let active: Vec<Arc<Value>> = pods.into_iter().filter(|p| is_pod_active(p)).collect();
    let mut failure = None;
    let mut active = active;
    if !deleting {
        let deleted;
        (failure, deleted) = manage_replicas(m, &rs, &active);
        // The status counts what is left: a pod just deleted is no longer available, and the
        // deployment controller must not count it when it decides how many more it may take down.
        let deleted: std::collections::HashSet<String> = deleted.into_iter().collect();
        active.retain(|p| !deleted.contains(name_of(p)));
    }
    update_status(m, &rs, &active, failure);
}

/// The pods a controller (a ReplicaSet or a Job) owns after adoption and release, read fresh.
pub fn claim_pods(m: &mut Manager, owner: &Value, kind: &'static str) -> Vec<Arc<Value>> {
    let prt = by_kind("Pod");
    let store = m.shared.store.clone();
    let (ns, name) = key_of(owner);
    let uid = uid_of(owner).to_string();
    let deleting = owner.at("/metadata/deletionTimestamp").is_some();
    let sel = Selector::new(owner.at("/spec/selector"));
    let mut out = Vec::new();
    let owned: Vec<Key> = m
        .index
        .pods_by_owner
        .get(&uid)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    for k in owned {
        let Ok(p) = store.get(prt, &k.0, &k.1) else {
            continue;
        };
        if controller_ref(&p)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
            != Some(&uid)
        {
            continue;
        }
        if sel.matches(labels_of(&p)) || deleting {
            out.push(p);
        } else if p.at("/metadata/deletionTimestamp").is_none() {
            // Release: the pod's labels no longer match.
            let rv = resource_version_of(&p).to_string();
            let _ = m.write(prt, &k.0, &k.1, &rv, |o| {
                if let Some(refs) = o
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(&uid));
                }
                if o.at("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.is_empty())
                    && let Some(md) = o.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    md.remove("ownerReferences");
                }
            });
        }
    }
    let ckey = (kind, (ns.clone(), name.clone()));
    let candidates: Vec<String> = if m.scan_orphans.remove(&ckey) {
        m.adopt.remove(&ckey);
        m.index
            .orphan_pods
            .get(&ns)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    } else {
        m.adopt
            .remove(&ckey)
            .map(|s| s.into_iter().map(|k| k.1).collect())
            .unwrap_or_default()
    };
    if deleting {
        return out;
    }
    for pname in candidates {
        let Ok(p) = store.get(prt, &ns, &pname) else {
            continue;
        };
        if controller_ref(&p).is_some()
            || p.at("/metadata/deletionTimestamp").is_some()
            || !sel.matches(labels_of(&p))
        {
            continue;
        }
        let rv = resource_version_of(&p).to_string();
        let oref = controller_ref_to(owner, kind);
        if let Ok(adopted) = m.write(prt, &ns, &pname, &rv, |o| {
            let md = metadata_mut(o);
            match md.get_mut("ownerReferences").and_then(Value::as_array_mut) {
                Some(a) => a.push(oref),
                None => {
                    md.insert("ownerReferences".into(), json!([oref]));
                }
            }
        }) {
            out.push(adopted);
        }
    }
    out
}

/// A pod for a controller's template, as `controller.GetPodFromTemplate` makes it.
pub fn pod_from_template(template: &Value, owner: &Value, kind: &str) -> Value {
    let mut meta = Map::new();
    meta.insert("generateName".into(), json!(format!("{}-", name_of(owner))));
    for k in ["labels", "annotations", "finalizers"] {
        if let Some(v) = template.at(&format!("/metadata/{k}"))
            && !v.is_null()
        {
            meta.insert(k.into(), v.clone());
        }
    }
    meta.insert(
        "ownerReferences".into(),
        json!([controller_ref_to(owner, kind)]),
    );
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({})),
    })
}

/// Create or delete pods towards `spec.replicas`: the failure (reason, message), if any, and the
/// names of the pods deleted.
fn manage_replicas(
    m: &mut Manager,
    rs: &Value,
    active: &[Arc<Value>],
) -> (Option<(String, String)>, Vec<String>) {
    let mut deleted = Vec::new();
    let want = int_at(rs, "/spec/replicas", 1).max(0) as usize;
    let store = m.shared.store.clone();
    let prt = by_kind("Pod");
    let (ns, _) = key_of(rs);
    if active.len() < want {
        let n = (want - active.len()).min(BURST);
        let template = rs.at("/spec/template").cloned().unwrap_or(json!({}));
        for _ in 0..n {
            let pod = pod_from_template(&template, rs, "ReplicaSet");
            match store.create(prt, &ns, pod, false) {
                Ok(p) => {
                    let msg = format!("Created pod: {}", name_of(&p));
                    m.events.emit(
                        &store,
                        rs,
                        None,
                        "Normal",
                        "SuccessfulCreate",
                        &msg,
                        Source::Controller(COMPONENT),
                    );
                }
                Err(e) => {
                    let msg = format!("Error creating: {}", e.message);
                    m.events.emit(
                        &store,
                        rs,
                        None,
                        "Warning",
                        "FailedCreate",
                        &msg,
                        Source::Controller(COMPONENT),
                    );
                    return (Some(("FailedCreate".into(), e.message)), deleted);
                }
            }
        }
    } else if active.len() > want {
        let n = (active.len() - want).min(BURST);
        let related = related_pods(m, rs);
        let doomed = pods_to_delete(active, &related, n, chrono::Utc::now());
        for p in doomed {
            match store.delete(prt, &ns, name_of(&p), &DeleteOptions::default()) {
                Ok(_) => {
                    deleted.push(name_of(&p).to_string());
                    let msg = format!("Deleted pod: {}", name_of(&p));
                    m.events.emit(
                        &store,
                        rs,
                        None,
                        "Normal",
                        "SuccessfulDelete",
                        &msg,
                        Source::Controller(COMPONENT),
                    );
                }
                Err(e) if e.code == 404 => deleted.push(name_of(&p).to_string()),
                Err(e) => {
                    let msg = format!("Error deleting: {}", e.message);
                    m.events.emit(
                        &store,
                        rs,
                        None,
                        "Warning",
                        "FailedDelete",
                        &msg,
                        Source::Controller(COMPONENT),
                    );
                    return (Some(("FailedDelete".into(), e.message)), deleted);
                }
            }
        }
    }
    (None, deleted)
}

/// `getIndirectlyRelatedPods`: the pods of every replica set with the same controller.
fn related_pods(m: &Manager, rs: &Value) -> Vec<Arc<Value>> {
    let prt = by_kind("Pod");
    let mut owners = vec![uid_of(rs).to_string()];
    if let Some(r) = controller_ref(rs)
        && let Some(sets) = m.index.rs_by_owner.get(str_at(r, "/uid"))
    {
        for k in sets {
            if let Ok(o) = m.shared.store.get(by_kind("ReplicaSet"), &k.0, &k.1) {
                owners.push(uid_of(&o).to_string());
            }
        }
    }
    owners.sort();
    owners.dedup();
    let mut out = Vec::new();
    for o in owners {
        for k in m.index.pods_by_owner.get(&o).into_iter().flatten() {
            if let Ok(p) = m.shared.store.get(prt, &k.0, &k.1) {
                out.push(p);
            }
        }
    }
    out
}

fn log2_bucket(
    now: chrono::DateTime<chrono::Utc>,
    t: Option<chrono::DateTime<chrono::Utc>>,
) -> i64 {
    match t {
        // A zero time sorts first ("afterOrZero").
        None => i64::MIN,
        Some(t) => {
            let d = (now - t).num_nanoseconds().unwrap_or(i64::MAX);
            if d > 0 { (d as f64).log2() as i64 } else { -1 }
        }
    }
}

/// The pods to delete first: `getPodsToDelete` with `ActivePodsWithRanks` ordering.
pub fn pods_to_delete(
    active: &[Arc<Value>],
    related: &[Arc<Value>],
    n: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Arc<Value>> {
    if n >= active.len() {
        return active.to_vec();
    }
    let mut on_node: HashMap<&str, i64> = HashMap::new();
    for p in related.iter().filter(|p| is_pod_active(p)) {
        *on_node.entry(str_at(p, "/spec/nodeName")).or_default() += 1;
    }
    let phase_ord = |p: &Value| match str_at(p, "/status/phase") {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    };
    let max_restarts = |p: &Value| {
        p.at("/status/containerStatuses")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| int_at(c, "/restartCount", 0))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let mut ranked: Vec<(_, Arc<Value>)> = active
        .iter()
        .map(|p| {
            let node = str_at(p, "/spec/nodeName");
            let ready = is_pod_ready(p);
            let cost: i64 = p
                .at("/metadata/annotations")
                .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ready_time = if ready {
                log2_bucket(
                    now,
                    condition(p, "Ready")
                        .and_then(|c| parse_time(str_at(c, "/lastTransitionTime"))),
                )
            } else {
                0
            };
            let created = log2_bucket(now, parse_time(str_at(p, "/metadata/creationTimestamp")));
            let key = (
                !node.is_empty(),
                phase_ord(p),
                ready,
                cost,
                Reverse(if node.is_empty() {
                    0
                } else {
                    on_node.get(node).copied().unwrap_or(0)
                }),
                ready_time,
                Reverse(max_restarts(p)),
                created,
                uid_of(p).to_string(),
            );
            (key, p.clone())
        })
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.into_iter().take(n).map(|(_, p)| p).collect()
}

fn update_status(
    m: &mut Manager,
    rs: &Value,
    active: &[Arc<Value>],
    failure: Option<(String, String)>,
) {
    let min_ready = int_at(rs, "/spec/minReadySeconds", 0);
    let template_labels = rs
        .at("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let now = Instant::now();
    let (mut labeled, mut ready, mut available) = (0i64, 0i64, 0i64);
    let mut next_available: Option<Instant> = None;
    for p in active {
        let labels = labels_of(p);
        let full = template_labels.is_none_or(|t| {
            t.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        });
        if full {
            labeled += 1;
        }
        if is_pod_ready(p) {
            ready += 1;
            match m.available_at(p, min_ready) {
                Some(at) if at <= now => available += 1,
                Some(at) => {
                    next_available = Some(next_available.map_or(at, |n: Instant| n.min(at)))
                }
                None => {}
            }
        }
    }
    let mut status = rs.get("status").cloned().unwrap_or(json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let Some(st) = status.as_object_mut() else {
        return;
    };
    st.insert("replicas".into(), json!(active.len()));
    for (k, v) in [
        ("fullyLabeledReplicas", labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("observedGeneration", int_at(rs, "/metadata/generation", 0)),
    ] {
        if v != 0 {
            st.insert(k.into(), json!(v));
        } else {
            st.remove(k);
        }
    }
    let mut conds: Vec<Value> = st
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_failure = conds.iter().any(|c| str_at(c, "/type") == "ReplicaFailure");
    match failure {
        Some((reason, msg)) if !has_failure => put_condition(
            &mut conds,
            json!({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": store::now(),
                   "reason": reason, "message": msg}),
        ),
        None if has_failure => conds.retain(|c| str_at(c, "/type") != "ReplicaFailure"),
        _ => {}
    }
    if conds.is_empty() {
        st.remove("conditions");
    } else {
        st.insert("conditions".into(), json!(conds));
    }
    let (ns, name) = key_of(rs);
    if rs.get("status") != Some(&status) {
        let rv = resource_version_of(rs).to_string();
        if m.write(by_kind("ReplicaSet"), &ns, &name, &rv, |o| {
            o["status"] = status
        })
        .is_err()
        {
            m.enqueue(Work::ReplicaSet((ns.clone(), name.clone())));
        }
    }
    if let Some(at) = next_available {
        m.schedule(Work::ReplicaSet((ns, name)), at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": name, "uid": name, "creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": if ready {"True"} else {"False"},
                 "lastTransitionTime": created}]},
        }))
    }

    #[test]
    fn deletion_ranking_follows_kubernetes() {
        let now = chrono::Utc::now();
        let old = (now - chrono::Duration::hours(5)).to_rfc3339();
        let new = (now - chrono::Duration::seconds(30)).to_rfc3339();
        let unassigned = pod("unassigned", "", "Pending", false, &old);
        let pending = pod("pending", "n1", "Pending", false, &old);
        let not_ready = pod("notready", "n1", "Running", false, &old);
        let young = pod("young", "n1", "Running", true, &new);
        let veteran = pod("veteran", "n2", "Running", true, &old);
        let all = vec![
            veteran.clone(),
            young.clone(),
            not_ready.clone(),
            pending.clone(),
            unassigned.clone(),
        ];
        let order: Vec<String> = pods_to_delete(&all, &all, 4, now)
            .iter()
            .map(|p| name_of(p).to_string())
            .collect();
        assert_eq!(order, ["unassigned", "pending", "notready", "young"]);
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let now = chrono::Utc::now();
        let t = (now - chrono::Duration::hours(1)).to_rfc3339();
        let a = pod("a", "n1", "Running", true, &t);
        let b = pod("b", "n1", "Running", true, &t);
        let c = pod("c", "n2", "Running", true, &t);
        let all = vec![c.clone(), a, b];
        let first = pods_to_delete(&all, &all, 1, now);
        assert_eq!(str_at(&first[0], "/spec/nodeName"), "n1");
    }

    #[test]
    fn template_pod_has_owner_and_generate_name() {
        let rs = json!({"metadata": {"name": "web-5d8f", "uid": "u1"}});
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let p = pod_from_template(&t, &rs, "ReplicaSet");
        assert_eq!(p["metadata"]["generateName"], "web-5d8f-");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            true
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["labels"]["app"], "web");
    }
}

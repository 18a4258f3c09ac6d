//! The deployment controller (`pkg/controller/deployment`: `deployment_controller.go`, `sync.go`,
//! `rolling.go`, `recreate.go`, `progress.go`, `util/deployment_util.go`).
//!
//! - The new replica set is `{deployment}-{pod-template-hash}`, the hash an FNV-32a of the pod
//!   template (and `status.collisionCount`) encoded with apimachinery's `SafeEncodeString` alphabet;
//!   the hash is added to the replica set's labels, selector and template labels. A replica set whose
//!   template equals the deployment's, ignoring the hash label, is the new replica set: this is how
//!   `kubectl rollout undo` brings an old revision back (its revision becomes max+1 and the old number
//!   goes to `deployment.kubernetes.io/revision-history`).
//! - Annotations: `deployment.kubernetes.io/revision` (replica set and deployment),
//!   `desired-replicas`, `max-replicas`; the deployment's other annotations are copied to the new
//!   replica set (except last-applied-configuration and the deployment ones).
//! - RollingUpdate: `reconcileNewReplicaSet` (up to replicas + maxSurge pods in total),
//!   `reconcileOldReplicaSets` (`cleanupUnhealthyReplicas` then scale down while available pods stay at
//!   replicas − maxUnavailable); maxSurge rounds up and maxUnavailable down, both resolved to
//!   maxUnavailable 1 when both come to 0 (`ResolveFenceposts`). Recreate scales old replica sets to
//!   0, waits until no old pod exists, then creates the new one at full size.
//! - Scaling events (a replica set's `desired-replicas` differs from spec.replicas) and paused
//!   deployments scale proportionally (`scale`, `GetProportion`).
//! - Status: observedGeneration, replicas, updated/ready/available/unavailable, conditions Available
//!   (MinimumReplicasAvailable / MinimumReplicasUnavailable) and Progressing (NewReplicaSetCreated,
//!   FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded,
//!   DeploymentPaused, DeploymentResumed), with the controller's messages and lastUpdateTime /
//!   lastTransitionTime rules; a stuck rollout is requeued for its deadline.
//! - `revisionHistoryLimit`: old replica sets at 0 replicas beyond the limit are deleted, lowest
//!   revision first, once a rollout completes.
//! - Events: ScalingReplicaSet "Scaled up replica set web-5d8f6c7b9 from 0 to 3".

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::conditions::{instant_of_time, status_condition};
use super::events::Source;
use super::fnv::fnv32a;
use super::manager::{Manager, Work};
use super::owners::{controller_ref, controller_ref_to, selector_matches};
use crate::error::ApiError;
use crate::object::{
    PointerLookup, child_object, int_at, key_of, labels_of, metadata_mut, name_of,
    resource_version_of, str_at, uid_of,
};
use crate::resources::by_kind;
use crate::store::{self, DeleteOptions};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";
/// Annotations never copied between deployments and replica sets (`annotationsToSkip`).
pub const ANNOTATIONS_TO_SKIP: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];
const MAX_REV_HISTORY_CHARS: usize = 2000;
const COMPONENT: &str = "deployment-controller";

// --- pure helpers --------------------------------------------------------------------------------

/// `rand.SafeEncodeString`: each character mapped into an alphabet without vowels or confusables.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// A template with nulls, empty lists and empty label/annotation maps dropped: semantic equality.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let x = normalize(x);
                let empty_map = x.as_object().is_some_and(Map::is_empty)
                    && matches!(k.as_str(), "labels" | "annotations" | "nodeSelector");
                if x.is_null() || x.as_array().is_some_and(Vec::is_empty) || empty_map {
                    continue;
                }
                out.insert(k.clone(), x);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        x => x.clone(),
    }
}

fn without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    normalize(&t)
}

/// `EqualIgnoreHash`.
pub fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    without_hash(a) == without_hash(b)
}

/// `controller.ComputeHash`: the pod-template-hash of a template.
pub fn compute_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut data = serde_json::to_vec(&without_hash(template)).unwrap_or_default();
    if let Some(c) = collision_count {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&(c as u32).to_le_bytes());
        data.extend_from_slice(&b);
    }
    safe_encode(&fnv32a(&data).to_string())
}

/// `intstr.GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: Option<&Value>, total: i64, round_up: bool) -> Result<i64, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("invalid value for IntOrString: {n}")),
        Some(Value::String(s)) => {
            let Some(p) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let p: i64 = p
                .parse()
                .map_err(|_| format!("invalid value for IntOrString: invalid value \"{s}\""))?;
            let v = p as f64 * total as f64 / 100.0;
            Ok(if round_up { v.ceil() } else { v.floor() } as i64)
        }
        Some(other) => Err(format!("invalid value for IntOrString: {other}")),
    }
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable).
pub fn resolve_fenceposts(
    surge: Option<&Value>,
    unavailable: Option<&Value>,
    desired: i64,
) -> (i64, i64) {
    let s = scaled_value(surge, desired, true).unwrap_or(0);
    let mut u = scaled_value(unavailable, desired, false).unwrap_or(0);
    if s == 0 && u == 0 {
        u = 1;
    }
    (s, u)
}

fn replicas(d: &Value) -> i64 {
    int_at(d, "/spec/replicas", 1)
}

fn is_rolling(d: &Value) -> bool {
    str_at(d, "/spec/strategy/type") != "Recreate"
}

/// `MaxUnavailable`.
pub fn max_unavailable(d: &Value) -> i64 {
    let r = replicas(d);
    if !is_rolling(d) || r == 0 {
        return 0;
    }
    let (_, u) = resolve_fenceposts(
        d.at("/spec/strategy/rollingUpdate/maxSurge"),
        d.at("/spec/strategy/rollingUpdate/maxUnavailable"),
        r,
    );
    u.min(r)
}

/// `MaxSurge`.
pub fn max_surge(d: &Value) -> i64 {
    if !is_rolling(d) {
        return 0;
    }
    resolve_fenceposts(
        d.at("/spec/strategy/rollingUpdate/maxSurge"),
        d.at("/spec/strategy/rollingUpdate/maxUnavailable"),
        replicas(d),
    )
    .0
}

fn rs_replicas(rs: &Value) -> i64 {
    int_at(rs, "/spec/replicas", 1)
}

fn annotation<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.at("/metadata/annotations")
        .and_then(|a| a.get(k))
        .and_then(Value::as_str)
}

/// `deploymentutil.Revision` (0 when unset or not a number).
pub fn revision(v: &Value) -> i64 {
    annotation(v, REVISION)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_annotation(v: &mut Value, k: &str, val: &str) {
    child_object(metadata_mut(v), "annotations").insert(k.into(), json!(val));
}

fn created(v: &Value) -> (String, String) {
    (
        str_at(v, "/metadata/creationTimestamp").to_string(),
        name_of(v).to_string(),
    )
}

fn has_progress_deadline(d: &Value) -> bool {
    d.at("/spec/progressDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|p| p != i64::from(i32::MAX))
}

fn sum<F: Fn(&Value) -> i64>(sets: &[Value], f: F) -> i64 {
    sets.iter().map(f).sum()
}

fn spec_sum(sets: &[Value]) -> i64 {
    sum(sets, rs_replicas)
}

fn status_int(v: &Value, field: &str) -> i64 {
    int_at(v, &format!("/status/{field}"), 0)
}

fn new_condition(t: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = store::now();
    json!({"type": t, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

/// `SetDeploymentCondition`: nothing when status and reason are unchanged; lastTransitionTime kept
/// when the status is; the condition moves to the end.
fn set_condition(status: &mut Value, mut cond: Value) {
    let t = str_at(&cond, "/type").to_string();
    if let Some(cur) = status_condition(status, &t) {
        if str_at(cur, "/status") == str_at(&cond, "/status")
            && str_at(cur, "/reason") == str_at(&cond, "/reason")
        {
            return;
        }
        if str_at(cur, "/status") == str_at(&cond, "/status") {
            cond["lastTransitionTime"] = cur
                .get("lastTransitionTime")
                .cloned()
                .unwrap_or(Value::Null);
        }
    }
    remove_condition(status, &t);
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    if let Some(a) = status["conditions"].as_array_mut() {
        a.push(cond);
    }
}

fn remove_condition(status: &mut Value, t: &str) {
    if let Some(a) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        a.retain(|c| str_at(c, "/type") != t);
    }
}

/// `calculateStatus`.
fn calculate_status(all: &[Value], new_rs: Option<&Value>, d: &Value) -> Value {
    let available = sum(all, |r| status_int(r, "availableReplicas"));
    let total = spec_sum(all);
    let unavailable = (total - available).max(0);
    let mut st = Map::new();
    let put = |st: &mut Map<String, Value>, k: &str, v: i64| {
        if v != 0 {
            st.insert(k.into(), json!(v));
        }
    };
    put(
        &mut st,
        "observedGeneration",
        int_at(d, "/metadata/generation", 0),
    );
    put(&mut st, "replicas", sum(all, |r| status_int(r, "replicas")));
    put(
        &mut st,
        "updatedReplicas",
        new_rs.map_or(0, |r| status_int(r, "replicas")),
    );
    put(
        &mut st,
        "readyReplicas",
        sum(all, |r| status_int(r, "readyReplicas")),
    );
    put(&mut st, "availableReplicas", available);
    put(&mut st, "unavailableReplicas", unavailable);
    if let Some(c) = d.at("/status/collisionCount") {
        st.insert("collisionCount".into(), c.clone());
    }
    if let Some(c) = d.at("/status/conditions") {
        st.insert("conditions".into(), c.clone());
    }
    let mut status = Value::Object(st);
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
        );
    } else {
        set_condition(
            &mut status,
            new_condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
        );
    }
    status
}

/// `DeploymentComplete`.
fn deployment_complete(d: &Value, st: &Value) -> bool {
    let r = replicas(d);
    int_at(st, "/updatedReplicas", 0) == r
        && int_at(st, "/replicas", 0) == r
        && int_at(st, "/availableReplicas", 0) == r
        && int_at(st, "/observedGeneration", 0) >= int_at(d, "/metadata/generation", 0)
}

/// `DeploymentProgressing`.
fn deployment_progressing(d: &Value, new: &Value) -> bool {
    let old = d.get("status").cloned().unwrap_or(json!({}));
    let g = |v: &Value, k: &str| int_at(v, &format!("/{k}"), 0);
    let old_old = g(&old, "replicas") - g(&old, "updatedReplicas");
    let new_old = g(new, "replicas") - g(new, "updatedReplicas");
    g(new, "updatedReplicas") > g(&old, "updatedReplicas")
        || new_old < old_old
        || g(new, "readyReplicas") > g(&old, "readyReplicas")
        || g(new, "availableReplicas") > g(&old, "availableReplicas")
}

/// `FilterActiveReplicaSets`.
fn active(sets: &[Value]) -> Vec<Value> {
    sets.iter()
        .filter(|r| rs_replicas(r) > 0)
        .cloned()
        .collect()
}

/// `ReplicasAnnotationsNeedUpdate` / `SetReplicasAnnotations`.
fn set_replicas_annotations(rs: &mut Value, desired: i64, max: i64) -> bool {
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let s = v.to_string();
        if annotation(rs, k) != Some(s.as_str()) {
            set_annotation(rs, k, &s);
            changed = true;
        }
    }
    changed
}

/// `SetNewReplicaSetAnnotations`.
fn set_new_rs_annotations(d: &Value, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    if let Some(anns) = d.at("/metadata/annotations").and_then(Value::as_object) {
        for (k, v) in anns {
            if ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
                continue;
            }
            if rs.at("/metadata/annotations").and_then(|a| a.get(k)) == Some(v) {
                continue;
            }
            set_annotation(rs, k, v.as_str().unwrap_or(""));
            changed = true;
        }
    }
    let old = annotation(rs, REVISION).map(str::to_string);
    let old_int = match old.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    if old_int < new_revision {
        set_annotation(rs, REVISION, &new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let hist = annotation(rs, REVISION_HISTORY).unwrap_or("").to_string();
            if hist.is_empty() {
                set_annotation(rs, REVISION_HISTORY, &old);
            } else {
                let mut parts: Vec<&str> = hist.split(',').collect();
                let mut total = hist.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REV_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts = parts.split_off(start);
                    parts.push(&old);
                    set_annotation(rs, REVISION_HISTORY, &parts.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

// --- the controller --------------------------------------------------------------------------------

type R<T> = Result<T, ApiError>;

/// The working copies one sync reads and updates.
struct Sync<'a> {
    m: &'a mut Manager,
    d: Value,
}

pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let Ok(d) = m.shared.store.get(by_kind("Deployment"), ns, name) else {
        return;
    };
    let mut s = Sync { m, d: (*d).clone() };
    if s.run().is_err() {
        // Requeued with a short back-off, as the rate-limited work queue would.
        s.m.schedule_in(Work::Deployment((ns.to_string(), name.to_string())), 0.05);
    }
}

impl Sync<'_> {
    fn run(&mut self) -> R<()> {
        let sel = self.d.at("/spec/selector").cloned().unwrap_or(Value::Null);
        let everything = sel.is_null()
            || sel.as_object().is_some_and(|o| {
                o.values().all(|v| {
                    v.is_null()
                        || v.as_object().is_some_and(Map::is_empty)
                        || v.as_array().is_some_and(Vec::is_empty)
                })
            });
        if everything {
            let store = self.m.shared.store.clone();
            self.m.events.emit(
                &store,
                &self.d,
                None,
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
                Source::Controller(COMPONENT),
            );
            let g = int_at(&self.d, "/metadata/generation", 0);
            if status_int(&self.d, "observedGeneration") < g {
                self.d["status"]["observedGeneration"] = json!(g);
                self.update_status()?;
            }
            return Ok(());
        }
        let rs_list = self.replica_sets()?;
        if self.d.at("/metadata/deletionTimestamp").is_some() {
            let (new_rs, old) = self.all_and_sync_revision(&rs_list, false)?;
            return self.sync_deployment_status(&old, new_rs.as_ref());
        }
        self.check_paused_conditions()?;
        if self.d.at("/spec/paused").and_then(Value::as_bool) == Some(true) {
            return self.sync_scale(&rs_list);
        }
        if self.is_scaling_event(&rs_list)? {
            return self.sync_scale(&rs_list);
        }
        if is_rolling(&self.d) {
            self.rollout_rolling(&rs_list)
        } else {
            self.rollout_recreate(&rs_list)
        }
    }

    fn key(&self) -> (String, String) {
        key_of(&self.d)
    }

    /// `getReplicaSetsForDeployment`: owned replica sets that match, and orphans adopted.
    fn replica_sets(&mut self) -> R<Vec<Value>> {
        let rt = by_kind("ReplicaSet");
        let (ns, _) = self.key();
        let uid = uid_of(&self.d).to_string();
        let sel = self.d.at("/spec/selector").cloned();
        let deleting = self.d.at("/metadata/deletionTimestamp").is_some();
        let store = self.m.shared.store.clone();
        let mut out = Vec::new();
        let owned: Vec<(String, String)> = self
            .m
            .index
            .rs_by_owner
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for k in owned {
            let Ok(rs) = store.get(rt, &k.0, &k.1) else {
                continue;
            };
            if controller_ref(&rs).map(|r| str_at(r, "/uid")) != Some(uid.as_str()) {
                continue;
            }
            if deleting || selector_matches(sel.as_ref(), labels_of(&rs)) {
                out.push((*rs).clone());
            } else {
                let rv = resource_version_of(&rs).to_string();
                let _ = self.m.write(rt, &k.0, &k.1, &rv, |o| {
                    if let Some(a) = o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        a.retain(|r| str_at(r, "/uid") != uid);
                    }
                });
            }
        }
        self.m.scan_orphans.remove(&("Deployment", self.key()));
        if !deleting {
            let orphans: Vec<String> = self
                .m
                .index
                .orphan_rs
                .get(&ns)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            for n in orphans {
                let Ok(rs) = store.get(rt, &ns, &n) else {
                    continue;
                };
                if controller_ref(&rs).is_some()
                    || rs.at("/metadata/deletionTimestamp").is_some()
                    || !selector_matches(sel.as_ref(), labels_of(&rs))
                {
                    continue;
                }
                let rv = resource_version_of(&rs).to_string();
                let oref = controller_ref_to(&self.d, "Deployment");
                if let Ok(a) = self.m.write(rt, &ns, &n, &rv, |o| {
                    match o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        Some(a) => a.push(oref),
                        None => o["metadata"]["ownerReferences"] = json!([oref]),
                    }
                }) {
                    out.push((*a).clone());
                }
            }
        }
        out.sort_by_key(created);
        Ok(out)
    }

    /// Pods of the deployment's replica sets (for Recreate), by replica set uid.
    fn pods_of(&self, sets: &[Value]) -> Vec<Arc<Value>> {
        let prt = by_kind("Pod");
        let mut out = Vec::new();
        for rs in sets {
            for k in self
                .m
                .index
                .pods_by_owner
                .get(uid_of(rs))
                .into_iter()
                .flatten()
            {
                if let Ok(p) = self.m.shared.store.get(prt, &k.0, &k.1) {
                    out.push(p);
                }
            }
        }
        out
    }

    fn update_status(&mut self) -> R<()> {
        let (ns, name) = self.key();
        let rv = resource_version_of(&self.d).to_string();
        let status = self.d.get("status").cloned().unwrap_or(json!({}));
        let anns = self.d.at("/metadata/annotations").cloned();
        let generation = int_at(&self.d, "/metadata/generation", 0);
        let saved = self.m.write(by_kind("Deployment"), &ns, &name, &rv, |o| {
            if int_at(o, "/metadata/generation", 0) == generation {
                o["status"] = status;
                if let Some(a) = anns {
                    o["metadata"]["annotations"] = a;
                }
            }
        })?;
        if int_at(&saved, "/metadata/generation", 0) != generation {
            return Err(ApiError::conflict(by_kind("Deployment"), &name));
        }
        self.d = (*saved).clone();
        Ok(())
    }

    fn update_rs(&mut self, rs: &Value) -> R<Value> {
        let (ns, name) = key_of(rs);
        let rv = resource_version_of(rs).to_string();
        let next = rs.clone();
        let saved = self.m.write(by_kind("ReplicaSet"), &ns, &name, &rv, |o| {
            *o = next;
        })?;
        Ok((*saved).clone())
    }

    fn emit(&mut self, msg: &str) {
        let store = self.m.shared.store.clone();
        self.m.events.emit(
            &store,
            &self.d,
            None,
            "Normal",
            "ScalingReplicaSet",
            msg,
            Source::Controller(COMPONENT),
        );
    }

    /// Remember precisely when this sync updated the Progressing condition (its lastUpdateTime has
    /// a resolution of one second, many simulated seconds at a fast pace). Call before `status`
    /// replaces the deployment's.
    fn note_progress_condition(&mut self, status: &Value) {
        let old = self
            .d
            .get("status")
            .and_then(|s| status_condition(s, "Progressing"))
            .cloned();
        if let Some(c) = status_condition(status, "Progressing")
            && old.as_ref() != Some(c)
        {
            let t = str_at(c, "/lastUpdateTime").to_string();
            let uid = uid_of(&self.d).to_string();
            self.m.deployments.progress.insert(uid, (t, Instant::now()));
        }
    }

    /// `checkPausedConditions`.
    fn check_paused_conditions(&mut self) -> R<()> {
        if !has_progress_deadline(&self.d) {
            return Ok(());
        }
        let status = self.d.get("status").cloned().unwrap_or(json!({}));
        let cond = status_condition(&status, "Progressing");
        if cond.is_some_and(|c| str_at(c, "/reason") == "ProgressDeadlineExceeded") {
            return Ok(());
        }
        let paused_exists = cond.is_some_and(|c| str_at(c, "/reason") == "DeploymentPaused");
        let paused = self.d.at("/spec/paused").and_then(Value::as_bool) == Some(true);
        let mut st = status.clone();
        if paused && !paused_exists {
            set_condition(
                &mut st,
                new_condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused",
                ),
            );
        } else if !paused && paused_exists {
            set_condition(
                &mut st,
                new_condition(
                    "Progressing",
                    "Unknown",
                    "DeploymentResumed",
                    "Deployment is resumed",
                ),
            );
        } else {
            return Ok(());
        }
        self.note_progress_condition(&st);
        self.d["status"] = st;
        self.update_status()
    }

    /// `getAllReplicaSetsAndSyncRevision`: (new replica set, all old ones).
    fn all_and_sync_revision(
        &mut self,
        rs_list: &[Value],
        create: bool,
    ) -> R<(Option<Value>, Vec<Value>)> {
        let new_idx = rs_list.iter().position(|r| {
            equal_ignore_hash(
                r.at("/spec/template").unwrap_or(&Value::Null),
                self.d.at("/spec/template").unwrap_or(&Value::Null),
            )
        });
        let old: Vec<Value> = rs_list
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != new_idx)
            .map(|(_, r)| r.clone())
            .collect();
        let existing = new_idx.map(|i| rs_list[i].clone());
        let new_rs = self.new_replica_set(existing, &old, create)?;
        Ok((new_rs, old))
    }

    /// `getNewReplicaSet`.
    fn new_replica_set(
        &mut self,
        existing: Option<Value>,
        old: &[Value],
        create: bool,
    ) -> R<Option<Value>> {
        let max_old = old.iter().map(revision).max().unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(ex) = existing {
            let mut rs = ex.clone();
            let anns_changed = set_new_rs_annotations(&self.d, &mut rs, new_revision, true);
            let min_ready = int_at(&self.d, "/spec/minReadySeconds", 0);
            let mr_changed = int_at(&rs, "/spec/minReadySeconds", 0) != min_ready;
            if anns_changed || mr_changed {
                rs["spec"]["minReadySeconds"] = json!(min_ready);
                return Ok(Some(self.update_rs(&rs)?));
            }
            let rev = annotation(&rs, REVISION).unwrap_or("").to_string();
            let mut needs = false;
            if annotation(&self.d, REVISION) != Some(rev.as_str()) {
                set_annotation(&mut self.d, REVISION, &rev);
                needs = true;
            }
            let status = self.d.get("status").cloned().unwrap_or(json!({}));
            if has_progress_deadline(&self.d) && status_condition(&status, "Progressing").is_none()
            {
                let mut st = status;
                set_condition(
                    &mut st,
                    new_condition(
                        "Progressing",
                        "True",
                        "FoundNewReplicaSet",
                        &format!("Found new replica set \"{}\"", name_of(&rs)),
                    ),
                );
                self.note_progress_condition(&st);
                self.d["status"] = st;
                needs = true;
            }
            if needs {
                self.update_status()?;
            }
            return Ok(Some(rs));
        }
        if !create {
            return Ok(None);
        }
        let (ns, dname) = self.key();
        let collision = self.d.at("/status/collisionCount").and_then(Value::as_i64);
        let template = self.d.at("/spec/template").cloned().unwrap_or(json!({}));
        let hash = compute_hash(&template, collision);
        let mut tmpl = template.clone();
        if !tmpl.get("metadata").is_some_and(Value::is_object) {
            tmpl["metadata"] = json!({});
        }
        if !tmpl["metadata"].get("labels").is_some_and(Value::is_object) {
            tmpl["metadata"]["labels"] = json!({});
        }
        tmpl["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = self.d.at("/spec/selector").cloned().unwrap_or(json!({}));
        if !selector.get("matchLabels").is_some_and(Value::is_object) {
            selector["matchLabels"] = json!({});
        }
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let rs_name = format!("{dname}-{hash}");
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "labels": tmpl["metadata"]["labels"].clone(),
                "ownerReferences": [controller_ref_to(&self.d, "Deployment")],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int_at(&self.d, "/spec/minReadySeconds", 0),
                "selector": selector,
                "template": tmpl,
            },
        });
        let mut all: Vec<Value> = old.to_vec();
        all.push(rs.clone());
        let count = self.new_rs_new_replicas(&all, &rs)?;
        rs["spec"]["replicas"] = json!(count);
        set_new_rs_annotations(&self.d, &mut rs, new_revision, false);
        let store = self.m.shared.store.clone();
        let rt = by_kind("ReplicaSet");
        let mut already = false;
        let created_rs = match store.create(rt, &ns, rs, false) {
            Ok(c) => (*c).clone(),
            Err(e) if e.code == 409 && e.reason == "AlreadyExists" => {
                already = true;
                let cur = store.get(rt, &ns, &rs_name)?;
                let owned =
                    controller_ref(&cur).map(|r| str_at(r, "/uid")) == Some(uid_of(&self.d));
                if owned
                    && equal_ignore_hash(
                        &template,
                        cur.at("/spec/template").unwrap_or(&Value::Null),
                    )
                {
                    (*cur).clone()
                } else {
                    let c = collision.unwrap_or(0) + 1;
                    self.d["status"]["collisionCount"] = json!(c);
                    let _ = self.update_status();
                    return Err(e);
                }
            }
            Err(e) => {
                let msg = format!(
                    "Failed to create new replica set \"{rs_name}\": {}",
                    e.message
                );
                if has_progress_deadline(&self.d) {
                    let mut st = self.d.get("status").cloned().unwrap_or(json!({}));
                    set_condition(
                        &mut st,
                        new_condition("Progressing", "False", "ReplicaSetCreateError", &msg),
                    );
                    self.d["status"] = st;
                    let _ = self.update_status();
                }
                let store = self.m.shared.store.clone();
                self.m.events.emit(
                    &store,
                    &self.d,
                    None,
                    "Warning",
                    "ReplicaSetCreateError",
                    &msg,
                    Source::Controller(COMPONENT),
                );
                return Err(e);
            }
        };
        if !already && count > 0 {
            self.emit(&format!(
                "Scaled up replica set {} from 0 to {count}",
                name_of(&created_rs)
            ));
        }
        let mut needs = false;
        if annotation(&self.d, REVISION) != Some(new_revision.to_string().as_str()) {
            set_annotation(&mut self.d, REVISION, &new_revision.to_string());
            needs = true;
        }
        if !already && has_progress_deadline(&self.d) {
            let mut st = self.d.get("status").cloned().unwrap_or(json!({}));
            set_condition(
                &mut st,
                new_condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    &format!("Created new replica set \"{}\"", name_of(&created_rs)),
                ),
            );
            self.note_progress_condition(&st);
            self.d["status"] = st;
            needs = true;
        }
        if needs {
            self.update_status()?;
        }
        Ok(Some(created_rs))
    }

    /// `NewRSNewReplicas`.
    fn new_rs_new_replicas(&self, all: &[Value], new_rs: &Value) -> R<i64> {
        let r = replicas(&self.d);
        if !is_rolling(&self.d) {
            return Ok(r);
        }
        let surge = scaled_value(self.d.at("/spec/strategy/rollingUpdate/maxSurge"), r, true)
            .map_err(ApiError::bad_request)?;
        let current = spec_sum(all);
        let max_total = r + surge;
        if current >= max_total {
            return Ok(rs_replicas(new_rs));
        }
        let up = (max_total - current).min(r - rs_replicas(new_rs));
        Ok(rs_replicas(new_rs) + up)
    }

    /// `scaleReplicaSetAndRecordEvent`.
    fn scale_and_record(&mut self, rs: &Value, new_scale: i64) -> R<(bool, Value)> {
        let cur = rs_replicas(rs);
        if cur == new_scale {
            return Ok((false, rs.clone()));
        }
        let op = if cur < new_scale { "up" } else { "down" };
        self.scale_rs(rs, new_scale, op)
    }

    /// `scaleReplicaSet`.
    fn scale_rs(&mut self, rs: &Value, new_scale: i64, op: &str) -> R<(bool, Value)> {
        let size_changes = rs_replicas(rs) != new_scale;
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let mut copy = rs.clone();
        let anns_change = set_replicas_annotations(&mut copy, desired, max);
        if !size_changes && !anns_change {
            return Ok((false, rs.clone()));
        }
        let old = rs_replicas(rs);
        copy["spec"]["replicas"] = json!(new_scale);
        let saved = self.update_rs(&copy)?;
        if size_changes {
            self.emit(&format!(
                "Scaled {op} replica set {} from {old} to {new_scale}",
                name_of(&saved)
            ));
        }
        Ok((size_changes, saved))
    }

    /// `isScalingEvent`.
    fn is_scaling_event(&mut self, rs_list: &[Value]) -> R<bool> {
        let (new_rs, old) = self.all_and_sync_revision(rs_list, false)?;
        let mut all = old;
        all.extend(new_rs);
        let r = replicas(&self.d);
        Ok(active(&all).iter().any(|rs| {
            annotation(rs, DESIRED_REPLICAS)
                .and_then(|s| s.parse::<i64>().ok())
                .is_some_and(|d| d != r)
        }))
    }

    /// `sync`: scaling events and paused deployments.
    fn sync_scale(&mut self, rs_list: &[Value]) -> R<()> {
        let (new_rs, old) = self.all_and_sync_revision(rs_list, false)?;
        self.scale(new_rs.as_ref(), &old)?;
        let rs_list = self.replica_sets()?;
        let (new_rs, old) = self.all_and_sync_revision(&rs_list, false)?;
        if self.d.at("/spec/paused").and_then(Value::as_bool) == Some(true) {
            self.cleanup(&old)?;
        }
        self.sync_deployment_status(&old, new_rs.as_ref())
    }

    /// `scale`: proportional scaling.
    fn scale(&mut self, new_rs: Option<&Value>, old: &[Value]) -> R<()> {
        let r = replicas(&self.d);
        // FindActiveOrLatest
        let mut olds_newest_first = old.to_vec();
        olds_newest_first.sort_by_key(created);
        olds_newest_first.reverse();
        let mut all: Vec<Value> = olds_newest_first.clone();
        all.extend(new_rs.cloned());
        let act = active(&all);
        let active_or_latest = match act.len() {
            0 => new_rs
                .cloned()
                .or_else(|| olds_newest_first.first().cloned()),
            1 => Some(act[0].clone()),
            _ => None,
        };
        if let Some(rs) = active_or_latest {
            if rs_replicas(&rs) != r {
                self.scale_and_record(&rs, r)?;
            }
            return Ok(());
        }
        // IsSaturated
        if let Some(n) = new_rs {
            let desired = annotation(n, DESIRED_REPLICAS).and_then(|s| s.parse::<i64>().ok());
            if rs_replicas(n) == r && desired == Some(r) && status_int(n, "availableReplicas") == r
            {
                for o in active(old) {
                    self.scale_and_record(&o, 0)?;
                }
                return Ok(());
            }
        }
        if !is_rolling(&self.d) {
            return Ok(());
        }
        let mut all = old.to_vec();
        all.extend(new_rs.cloned());
        let mut all = active(&all);
        let current = spec_sum(&all);
        let allowed = if r > 0 { r + max_surge(&self.d) } else { 0 };
        let to_add = allowed - current;
        let op = if to_add > 0 {
            // ReplicaSetsBySizeNewer
            all.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| created(b).cmp(&created(a)))
            });
            "up"
        } else if to_add < 0 {
            // ReplicaSetsBySizeOlder
            all.sort_by(|a, b| {
                rs_replicas(b)
                    .cmp(&rs_replicas(a))
                    .then_with(|| created(a).cmp(&created(b)))
            });
            "down"
        } else {
            ""
        };
        let mut added = 0i64;
        let mut sizes: Vec<i64> = Vec::new();
        for rs in &all {
            if to_add != 0 {
                let p = self.proportion(rs, to_add, added);
                sizes.push(rs_replicas(rs) + p);
                added += p;
            } else {
                sizes.push(rs_replicas(rs));
            }
        }
        for (i, rs) in all.iter().enumerate() {
            if i == 0 && to_add != 0 {
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_rs(rs, sizes[i], op)?;
        }
        Ok(())
    }

    /// `GetProportion`.
    fn proportion(&self, rs: &Value, to_add: i64, added: i64) -> i64 {
        if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = {
            let r = replicas(&self.d);
            if r == 0 {
                -rs_replicas(rs)
            } else {
                let max = r + max_surge(&self.d);
                let mut before = annotation(rs, MAX_REPLICAS)
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
                if before == 0 {
                    before = status_int(&self.d, "replicas");
                }
                if before == 0 {
                    0
                } else {
                    ((rs_replicas(rs) * max) as f64 / before as f64).round() as i64
                        - rs_replicas(rs)
                }
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self, rs_list: &[Value]) -> R<()> {
        let (new_rs, old) = self.all_and_sync_revision(rs_list, true)?;
        let Some(new_rs) = new_rs else { return Ok(()) };
        let mut all = old.clone();
        all.push(new_rs.clone());
        // reconcileNewReplicaSet
        let r = replicas(&self.d);
        let scaled_up = if rs_replicas(&new_rs) == r {
            false
        } else if rs_replicas(&new_rs) > r {
            self.scale_and_record(&new_rs, r)?.0
        } else {
            let n = self.new_rs_new_replicas(&all, &new_rs)?;
            self.scale_and_record(&new_rs, n)?.0
        };
        if scaled_up {
            return self.sync_rollout_status_fresh();
        }
        if self.reconcile_old(&old, &new_rs)? {
            return self.sync_rollout_status_fresh();
        }
        let st = self.d.get("status").cloned().unwrap_or(json!({}));
        if deployment_complete(&self.d, &st) {
            self.cleanup(&old)?;
        }
        self.sync_rollout_status(&old, Some(&new_rs))
    }

    /// Status from freshly read replica sets, after a scale.
    fn sync_rollout_status_fresh(&mut self) -> R<()> {
        let rs_list = self.replica_sets()?;
        let (new_rs, old) = self.all_and_sync_revision(&rs_list, false)?;
        self.sync_rollout_status(&old, new_rs.as_ref())
    }

    /// `reconcileOldReplicaSets`.
    fn reconcile_old(&mut self, old: &[Value], new_rs: &Value) -> R<bool> {
        let old_pods = spec_sum(old);
        if old_pods == 0 {
            return Ok(false);
        }
        let mut all = old.to_vec();
        all.push(new_rs.clone());
        let all_pods = spec_sum(&all);
        let max_unavail = max_unavailable(&self.d);
        let min_available = replicas(&self.d) - max_unavail;
        let new_unavailable = rs_replicas(new_rs) - status_int(new_rs, "availableReplicas");
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // cleanupUnhealthyReplicas
        let mut olds = active(old);
        olds.sort_by_key(created);
        let mut cleaned = 0;
        for rs in olds.iter_mut() {
            if cleaned >= max_scaled_down {
                break;
            }
            let spec = rs_replicas(rs);
            let avail = status_int(rs, "availableReplicas");
            if spec == 0 || spec == avail {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(spec - avail);
            let (_, saved) = self.scale_and_record(rs, spec - down)?;
            *rs = saved;
            cleaned += down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate
        let mut all = olds.clone();
        all.push(new_rs.clone());
        let available = sum(&all, |r| status_int(r, "availableReplicas"));
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for rs in olds.iter() {
                if scaled >= total {
                    break;
                }
                let spec = rs_replicas(rs);
                if spec == 0 {
                    continue;
                }
                let down = spec.min(total - scaled);
                self.scale_and_record(rs, spec - down)?;
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// `rolloutRecreate`.
    fn rollout_recreate(&mut self, rs_list: &[Value]) -> R<()> {
        let (new_rs, old) = self.all_and_sync_revision(rs_list, false)?;
        let mut scaled_down = false;
        for rs in active(&old) {
            if self.scale_and_record(&rs, 0)?.0 {
                scaled_down = true;
            }
        }
        if scaled_down {
            return self.sync_rollout_status_fresh();
        }
        // oldPodsRunning
        let running = sum(&old, |r| status_int(r, "replicas")) > 0
            || self
                .pods_of(&old)
                .iter()
                .any(|p| !matches!(str_at(p, "/status/phase"), "Failed" | "Succeeded"));
        if running {
            return self.sync_rollout_status(&old, new_rs.as_ref());
        }
        let (new_rs, old) = match new_rs {
            Some(n) => (n, old),
            None => {
                let (n, o) = self.all_and_sync_revision(rs_list, true)?;
                match n {
                    Some(n) => (n, o),
                    None => return Ok(()),
                }
            }
        };
        let r = replicas(&self.d);
        self.scale_and_record(&new_rs, r)?;
        let st = self.d.get("status").cloned().unwrap_or(json!({}));
        if deployment_complete(&self.d, &st) {
            self.cleanup(&old)?;
        }
        self.sync_rollout_status_fresh()
    }

    /// `cleanupDeployment`: old replica sets beyond revisionHistoryLimit.
    fn cleanup(&mut self, old: &[Value]) -> R<()> {
        let Some(limit) = self
            .d
            .at("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
        else {
            return Ok(());
        };
        let mut alive: Vec<Value> = old
            .iter()
            .filter(|r| r.at("/metadata/deletionTimestamp").is_none())
            .cloned()
            .collect();
        let diff = alive.len() as i64 - limit;
        if diff <= 0 {
            return Ok(());
        }
        alive.sort_by(|a, b| {
            revision(a)
                .cmp(&revision(b))
                .then_with(|| created(a).cmp(&created(b)))
        });
        let store = self.m.shared.store.clone();
        for rs in alive.iter().take(diff as usize) {
            if status_int(rs, "replicas") != 0
                || rs_replicas(rs) != 0
                || int_at(rs, "/metadata/generation", 0) > status_int(rs, "observedGeneration")
            {
                continue;
            }
            let (ns, name) = key_of(rs);
            match store.delete(by_kind("ReplicaSet"), &ns, &name, &DeleteOptions::default()) {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `syncDeploymentStatus`.
    fn sync_deployment_status(&mut self, old: &[Value], new_rs: Option<&Value>) -> R<()> {
        let mut all = old.to_vec();
        all.extend(new_rs.cloned());
        let st = calculate_status(&all, new_rs, &self.d);
        if self.d.get("status") == Some(&st) {
            return Ok(());
        }
        self.d["status"] = st;
        self.update_status()
    }

    /// When the Progressing condition was last updated.
    fn progress_instant(&self, cond: &Value) -> Instant {
        let t = str_at(cond, "/lastUpdateTime");
        match self.m.deployments.progress.get(uid_of(&self.d)) {
            Some((s, i)) if s == t => *i,
            _ => instant_of_time(t).unwrap_or_else(Instant::now),
        }
    }

    /// `syncRolloutStatus`.
    fn sync_rollout_status(&mut self, old: &[Value], new_rs: Option<&Value>) -> R<()> {
        let mut all = old.to_vec();
        all.extend(new_rs.cloned());
        let mut st = calculate_status(&all, new_rs, &self.d);
        let deadline = has_progress_deadline(&self.d);
        if !deadline {
            remove_condition(&mut st, "Progressing");
        }
        let old_status = self.d.get("status").cloned().unwrap_or(json!({}));
        let current = status_condition(&old_status, "Progressing").cloned();
        let is_complete = int_at(&st, "/replicas", 0) == int_at(&st, "/updatedReplicas", 0)
            && current
                .as_ref()
                .is_some_and(|c| str_at(c, "/reason") == "NewReplicaSetAvailable");
        if deadline && !is_complete {
            let what = match new_rs {
                Some(n) => format!("ReplicaSet \"{}\"", name_of(n)),
                None => format!("Deployment \"{}\"", name_of(&self.d)),
            };
            if deployment_complete(&self.d, &st) {
                set_condition(
                    &mut st,
                    new_condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        &format!("{what} has successfully progressed."),
                    ),
                );
            } else if deployment_progressing(&self.d, &st) {
                let mut c = new_condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("{what} is progressing."),
                );
                if let Some(cur) = &current {
                    if str_at(cur, "/status") == "True" {
                        c["lastTransitionTime"] = cur
                            .get("lastTransitionTime")
                            .cloned()
                            .unwrap_or(Value::Null);
                    }
                    remove_condition(&mut st, "Progressing");
                }
                set_condition(&mut st, c);
            } else if let Some(c) = status_condition(&st, "Progressing").cloned() {
                // DeploymentTimedOut
                let reason = str_at(&c, "/reason");
                let timed_out = reason == "ProgressDeadlineExceeded"
                    || (reason != "NewReplicaSetAvailable" && {
                        let pds = int_at(&self.d, "/spec/progressDeadlineSeconds", 600);
                        self.progress_instant(&c) + self.m.shared.timing.delay(pds as f64)
                            < Instant::now()
                    });
                if timed_out {
                    set_condition(
                        &mut st,
                        new_condition(
                            "Progressing",
                            "False",
                            "ProgressDeadlineExceeded",
                            &format!("{what} has timed out progressing."),
                        ),
                    );
                }
            }
        }
        // Replica failures of the replica sets move to the deployment.
        let failure = all.iter().find_map(|r| {
            r.at("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "ReplicaFailure"))
                .cloned()
        });
        match failure {
            Some(f) => {
                let mut c = new_condition(
                    "ReplicaFailure",
                    str_at(&f, "/status"),
                    str_at(&f, "/reason"),
                    str_at(&f, "/message"),
                );
                c["lastTransitionTime"] =
                    f.get("lastTransitionTime").cloned().unwrap_or(Value::Null);
                set_condition(&mut st, c);
            }
            None => remove_condition(&mut st, "ReplicaFailure"),
        }
        self.note_progress_condition(&st);
        if self.d.get("status") == Some(&st) {
            self.requeue_stuck(&st);
            return Ok(());
        }
        self.d["status"] = st.clone();
        self.update_status()?;
        self.requeue_stuck(&st);
        Ok(())
    }

    /// `requeueStuckDeployment`: come back when the progress deadline passes.
    fn requeue_stuck(&mut self, st: &Value) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let Some(c) = status_condition(st, "Progressing") else {
            return;
        };
        if deployment_complete(&self.d, st) || str_at(c, "/reason") == "ProgressDeadlineExceeded" {
            return;
        }
        let pds = int_at(&self.d, "/spec/progressDeadlineSeconds", 600) as f64;
        let at = self.progress_instant(c)
            + self.m.shared.timing.delay(pds)
            + self.m.shared.timing.delay(1.0);
        let key = self.key();
        self.m.schedule(Work::Deployment(key), at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_and_safe_encoding() {
        // FNV-32a test vectors.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
        // Digits map as apimachinery maps them ('0' → '4', '9' → 'f').
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hash_ignores_the_hash_label_and_counts_collisions() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}});
        let mut t2 = t.clone();
        t2["metadata"]["labels"][HASH_LABEL] = json!("abc");
        assert_eq!(compute_hash(&t, None), compute_hash(&t2, None));
        assert_ne!(compute_hash(&t, None), compute_hash(&t, Some(1)));
        assert!(
            compute_hash(&t, None)
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
        assert!(equal_ignore_hash(&t, &t2));
        let mut t3 = t.clone();
        t3["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert!(!equal_ignore_hash(&t, &t3));
        let mut t4 = t.clone();
        t4["metadata"]["creationTimestamp"] = Value::Null;
        assert!(equal_ignore_hash(&t, &t4));
    }

    #[test]
    fn int_or_percent_rounding() {
        assert_eq!(scaled_value(Some(&json!("25%")), 10, true), Ok(3));
        assert_eq!(scaled_value(Some(&json!("25%")), 10, false), Ok(2));
        assert_eq!(scaled_value(Some(&json!(2)), 10, false), Ok(2));
        assert!(scaled_value(Some(&json!("2")), 10, false).is_err());
        // Both resolving to 0 gives maxUnavailable 1.
        assert_eq!(
            resolve_fenceposts(Some(&json!("25%")), Some(&json!("25%")), 1),
            (1, 0)
        );
        assert_eq!(
            resolve_fenceposts(Some(&json!(0)), Some(&json!("10%")), 3),
            (0, 1)
        );
        let d = json!({"spec": {"replicas": 4, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 1));
        let r = json!({"spec": {"replicas": 4, "strategy": {"type": "Recreate"}}});
        assert_eq!((max_surge(&r), max_unavailable(&r)), (0, 0));
    }

    #[test]
    fn rollback_bumps_revision_and_keeps_history() {
        let d = json!({"metadata": {"annotations": {"team": "a", REVISION: "3"}}, "spec": {"replicas": 2}});
        let mut rs = json!({"metadata": {"annotations": {REVISION: "1"}}});
        assert!(set_new_rs_annotations(&d, &mut rs, 4, true));
        assert_eq!(annotation(&rs, REVISION), Some("4"));
        assert_eq!(annotation(&rs, REVISION_HISTORY), Some("1"));
        assert_eq!(annotation(&rs, "team"), Some("a"));
        let mut rs2 = rs.clone();
        set_annotation(&mut rs2, REVISION, "4");
        assert!(!set_new_rs_annotations(&d, &mut rs2, 4, true));
        assert!(set_new_rs_annotations(&d, &mut rs2, 6, true));
        assert_eq!(annotation(&rs2, REVISION_HISTORY), Some("1,4"));
    }

    #[test]
    fn conditions_keep_transition_time_and_move_last() {
        let mut st = json!({"conditions": [
            {"type": "Progressing", "status": "True", "reason": "A", "lastTransitionTime": "t0", "lastUpdateTime": "t0"},
            {"type": "Available", "status": "True", "reason": "X"}]});
        set_condition(
            &mut st,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t1", "lastUpdateTime": "t1"}),
        );
        let c = st["conditions"].as_array().unwrap();
        assert_eq!(c[1]["type"], "Progressing");
        assert_eq!(c[1]["lastTransitionTime"], "t0");
        assert_eq!(c[1]["reason"], "B");
        // Same status and reason: no change at all.
        let before = st.clone();
        set_condition(
            &mut st,
            json!({"type": "Progressing", "status": "True", "reason": "B", "lastTransitionTime": "t2", "lastUpdateTime": "t2"}),
        );
        assert_eq!(st, before);
    }
}

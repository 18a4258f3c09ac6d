//! The Manager's side of the rollouts controller: a Rollout and what it owns read from the store
//! and the indexes, [`reconcile`] called, and its [`Plan`] applied as Argo's controller writes
//! through the API server (events recorded as `rollouts-controller`, timers through
//! [`Timing::delay`](crate::Timing::delay)).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::reconcile::{Clock, Observed, Plan, Write, reconcile};
use super::spec;
use crate::controllers::conditions::parse_time;
use crate::controllers::events::Source;
use crate::controllers::manager::{Manager, Work};
use crate::controllers::owners::controller_ref;
use crate::error::ApiError;
use crate::object::{Key, PointerLookup, name_of, str_at, uid_of};
use crate::resources::{ResourceType, by_kind};
use crate::store::{self, DeleteOptions, Part, Store};

pub const COMPONENT: &str = "rollouts-controller";

/// The Rollout type, once its CustomResourceDefinition is applied (`crds::ARGO_ROLLOUTS`).
pub fn rollout_type(store: &Store) -> Option<&'static ResourceType> {
    store.find_type(spec::GROUP, spec::VERSION, spec::PLURAL)
}

/// Simulated time for the controller: wall-clock timestamps, scaled by the sandbox's speed, and
/// the exact instants it recorded.
struct ManagerClock<'a> {
    speed: f64,
    marks: Option<&'a HashMap<String, (String, Instant)>>,
}

impl Clock for ManagerClock<'_> {
    fn stamp(&self) -> String {
        store::now()
    }

    fn since(&self, key: &str, stamp: &str) -> f64 {
        if let Some((s, at)) = self.marks.and_then(|m| m.get(key))
            && s == stamp
        {
            let now = Instant::now();
            let real = if now >= *at {
                (now - *at).as_secs_f64()
            } else {
                -(*at - now).as_secs_f64()
            };
            return real * self.speed;
        }
        match parse_time(stamp) {
            Some(t) => {
                let real = (chrono::Utc::now() - t).num_milliseconds() as f64 / 1000.0;
                real * self.speed
            }
            None => 0.0,
        }
    }

    fn stamp_in(&self, secs: f64) -> String {
        // Bounded (a few thousand years either way) so that the sum cannot leave chrono's range.
        let ms = (secs / self.speed * 1000.0).clamp(-1e14, 1e14);
        let real = chrono::Duration::try_milliseconds(ms as i64).unwrap_or_default();
        let now = chrono::Utc::now();
        now.checked_add_signed(real)
            .unwrap_or(now)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }
}

fn speed(m: &Manager) -> f64 {
    let s = m.shared.timing.speed;
    if s.is_finite() && s > 0.0 { s } else { 1.0 }
}

/// Reconcile the Rollout `ns/name`.
pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let store = m.shared.store.clone();
    let Some(rt) = rollout_type(&store) else {
        return;
    };
    let Ok(ro) = store.get(rt, ns, name) else {
        return;
    };
    let ro = spec::clamped(&ro);
    let uid = uid_of(&ro).to_string();
    let observed = observe(m, &store, &ro);
    let plan = {
        let clock = ManagerClock {
            speed: speed(m),
            marks: m.rollouts.marks.get(&uid),
        };
        reconcile(
            Observed {
                rollout: &ro,
                replica_sets: observed.0,
                pods: observed.1,
                services: observed.2,
            },
            &clock,
        )
    };
    apply(m, rt, &ro, plan);
}

type ObservedParts = (Vec<Value>, Vec<Value>, BTreeMap<String, Value>);

/// The ReplicaSets the Rollout controls, their pods, and the Services it names.
fn observe(m: &Manager, store: &Arc<Store>, ro: &Value) -> ObservedParts {
    let ns = str_at(ro, "/metadata/namespace");
    let uid = uid_of(ro);
    let rs_rt = by_kind("ReplicaSet");
    let pod_rt = by_kind("Pod");
    let mut sets = Vec::new();
    let mut pods = Vec::new();
    for k in m.index.rs_by_owner.get(uid).into_iter().flatten() {
        let Ok(rs) = store.get(rs_rt, &k.0, &k.1) else {
            continue;
        };
        if controller_ref(&rs).map(|r| str_at(r, "/uid")) != Some(uid) {
            continue;
        }
        for pk in m.index.pods_by_owner.get(uid_of(&rs)).into_iter().flatten() {
            if let Ok(p) = store.get(pod_rt, &pk.0, &pk.1) {
                pods.push((*p).clone());
            }
        }
        sets.push((*rs).clone());
    }
    let mut services = BTreeMap::new();
    for name in [
        spec::canary_service(ro),
        spec::stable_service(ro),
        spec::active_service(ro),
        spec::preview_service(ro),
    ] {
        if name.is_empty() {
            continue;
        }
        if let Ok(s) = store.get(by_kind("Service"), ns, name) {
            services.insert(name.to_string(), (*s).clone());
        }
    }
    (sets, pods, services)
}

fn apply(m: &mut Manager, rt: &'static ResourceType, ro: &Value, plan: Plan) {
    let store = m.shared.store.clone();
    let ns = str_at(ro, "/metadata/namespace").to_string();
    let name = name_of(ro).to_string();
    let key: Key = (ns.clone(), name.clone());
    let uid = uid_of(ro).to_string();
    let now = Instant::now();
    for mark in &plan.marks {
        let at = now + m.shared.timing.delay(mark.offset);
        m.rollouts
            .marks
            .entry(uid.clone())
            .or_default()
            .insert(mark.key.clone(), (mark.stamp.clone(), at));
    }
    let mut failed = false;
    for w in &plan.writes {
        if write(&store, rt, &ns, &name, w).is_err() {
            failed = true;
            break;
        }
    }
    for e in &plan.events {
        let kind = if e.warning { "Warning" } else { "Normal" };
        m.events.emit(
            &store,
            ro,
            None,
            kind,
            &e.reason,
            &e.message,
            Source::Controller(COMPONENT),
        );
    }
    if failed {
        // Requeued with a short back-off, as the rate-limited work queue would.
        m.schedule_in(Work::Rollout(key), 0.05);
    } else if let Some(secs) = plan.requeue_after {
        m.schedule_in(Work::Rollout(key), secs);
    }
}

fn write(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    w: &Write,
) -> Result<(), ApiError> {
    let rs_rt = by_kind("ReplicaSet");
    match w {
        Write::CreateReplicaSet(rs) => {
            store.create(rs_rt, ns, rs.clone(), false)?;
        }
        Write::UpdateReplicaSet(rs) => {
            let annotations = rs.at("/metadata/annotations").cloned();
            let replicas = rs.at("/spec/replicas").cloned();
            let min_ready = rs.at("/spec/minReadySeconds").cloned();
            store.modify(rs_rt, ns, name_of(rs), Part::All, |o| {
                o["metadata"]["annotations"] = annotations.unwrap_or(json!({}));
                if let Some(r) = replicas {
                    o["spec"]["replicas"] = r;
                }
                if let Some(mr) = min_ready {
                    o["spec"]["minReadySeconds"] = mr;
                }
                Ok(())
            })?;
        }
        Write::DeleteReplicaSet(n) => {
            store.delete(rs_rt, ns, n, &DeleteOptions::default())?;
        }
        Write::PatchService { name, patch } => {
            store.modify(by_kind("Service"), ns, name, Part::Main, |o| {
                crate::patch::merge::merge_patch(o, patch);
                Ok(())
            })?;
        }
        Write::EvictPod(pod) => {
            store.delete(by_kind("Pod"), ns, pod, &DeleteOptions::default())?;
        }
        Write::RolloutRevision(rev) => {
            store.modify(rt, ns, name, Part::Main, |o| {
                if !o.at("/metadata/annotations").is_some_and(Value::is_object) {
                    o["metadata"]["annotations"] = json!({});
                }
                o["metadata"]["annotations"][spec::REVISION] = json!(rev);
                Ok(())
            })?;
        }
        Write::Status(patch) => {
            store.modify(rt, ns, name, Part::Status, |o| {
                if !o.get("status").is_some_and(Value::is_object) {
                    o["status"] = json!({});
                }
                for (k, v) in patch {
                    if v.is_null() {
                        if let Some(s) = o["status"].as_object_mut() {
                            s.remove(k);
                        }
                    } else {
                        o["status"][k] = v.clone();
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

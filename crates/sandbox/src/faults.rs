//! Faults a rehearsal injects into a running sandbox, through the [`Sandbox`](crate::Sandbox)
//! handle: a Deployment's new pods crash-loop ([`Faults::crash_new_pods`]), a node is lost
//! ([`lose_node`]). The API server's restart is the handle's own
//! ([`Sandbox::restart_api`](crate::Sandbox::restart_api)).
//!
//! A lost node is what the node lifecycle controller makes of a kubelet that stopped posting
//! status: its conditions go `Unknown` (reason `NodeStatusUnknown`, "Kubelet stopped posting
//! node status."), the `node.kubernetes.io/unreachable` taints are added (NoSchedule, and
//! NoExecute with its `timeAdded`), its pods' Ready condition goes False (a `NodeNotReady`
//! warning on each) and the node gets a `NodeNotReady` event. Nothing sets it back: the node's
//! kubelet does nothing more (its pods' statuses and logs stop where they were, and a pod deleted
//! there stays Terminating, as on a real cluster until the node returns or is deleted). The
//! taint-eviction controller then deletes each pod once its toleration of the NoExecute taint runs
//! out (`tolerationSeconds`; a pod without a toleration for it gets the 300 s that the
//! DefaultTolerationSeconds admission plugin would have added; a toleration without seconds
//! keeps the pod there), with a `DisruptionTarget` condition and a `TaintManagerEviction` event;
//! its controller replaces it, on another node if one fits.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::controllers::events::{Recorder, Source};
use crate::object::{PointerLookup, name_of, str_at, uid_of};
use crate::resources::by_kind;
use crate::shared::Shared;
use crate::store::{self, DeleteOptions, Part};

/// The taint a lost node gets.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// How long a pod without a toleration of the unreachable taint stays on a lost node: the
/// DefaultTolerationSeconds admission plugin's 300 s.
pub const DEFAULT_TOLERATION_SECONDS: f64 = 300.0;

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("no Deployment \"{name}\" in namespace \"{namespace}\"")]
    UnknownDeployment { namespace: String, name: String },
    #[error("no node \"{0}\"")]
    UnknownNode(String),
}

/// A Deployment whose new pods crash-loop.
struct CrashFault {
    namespace: String,
    /// The Deployment's name: one created after the fault was armed is hit too.
    deployment: String,
    /// The pods of the namespace when the fault was injected: they are left alone.
    spared: HashSet<String>,
}

#[derive(Default)]
struct State {
    crashes: Vec<CrashFault>,
    lost: BTreeSet<String>,
}

/// The faults in force, read by the kubelet.
#[derive(Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on the pods of Deployment `name` in `namespace` that do not exist yet crash-loop
    /// as the `crashloop` image rule makes them: they start, log an error and exit 1, then
    /// restart with a growing back-off (`CrashLoopBackOff`).
    pub fn crash_new_pods(
        &self,
        store: &store::Store,
        namespace: &str,
        name: &str,
    ) -> Result<(), FaultError> {
        store
            .get(by_kind("Deployment"), namespace, name)
            .map_err(|_| FaultError::UnknownDeployment {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
        self.arm_crash(store, namespace, name);
        Ok(())
    }

    /// [`Faults::crash_new_pods`] for a Deployment that may not exist yet (a step about to
    /// create it): its pods created from now on crash-loop, whenever it appears.
    pub fn arm_crash(&self, store: &store::Store, namespace: &str, name: &str) {
        let (pods, _) = store.list(by_kind("Pod"), Some(namespace), &|_| true);
        let spared = pods.iter().map(|p| uid_of(p).to_string()).collect();
        self.lock().crashes.push(CrashFault {
            namespace: namespace.to_string(),
            deployment: name.to_string(),
            spared,
        });
    }

    /// Whether `pod` is one that [`Faults::crash_new_pods`] makes crash: created after the call,
    /// by a replica set of the Deployment.
    pub fn crashes(&self, store: &store::Store, pod: &Value) -> bool {
        let ns = str_at(pod, "/metadata/namespace");
        let uid = uid_of(pod);
        let deployments: Vec<String> = self
            .lock()
            .crashes
            .iter()
            .filter(|c| c.namespace == ns && !c.spared.contains(uid))
            .map(|c| c.deployment.clone())
            .collect();
        if deployments.is_empty() {
            return false;
        }
        let Some(rs) = controller_of(pod, "ReplicaSet") else {
            return false;
        };
        let Ok(rs) = store.get(by_kind("ReplicaSet"), ns, rs) else {
            return false;
        };
        controller_of(&rs, "Deployment").is_some_and(|d| deployments.iter().any(|x| x == d))
    }

    /// Whether node `name` was lost ([`lose_node`]): its kubelet does nothing more.
    pub fn node_lost(&self, name: &str) -> bool {
        let state = self.lock();
        !state.lost.is_empty() && state.lost.contains(name)
    }
}

fn controller_ref<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.at("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller") == Some(&json!(true)) && str_at(r, "/kind") == kind)
}

fn controller_of<'a>(obj: &'a Value, kind: &str) -> Option<&'a str> {
    controller_ref(obj, kind).map(|r| str_at(r, "/name"))
}

/// The node lifecycle controller's view of a lost node, written now (see the module docs); the
/// evictions follow in [`evict_after_tolerations`].
pub fn lose_node(shared: &Shared, name: &str) -> Result<(), FaultError> {
    let store = &shared.store;
    let nrt = by_kind("Node");
    store
        .get(nrt, "", name)
        .map_err(|_| FaultError::UnknownNode(name.to_string()))?;
    let newly = shared.faults.lock().lost.insert(name.to_string());
    if !newly {
        return Ok(());
    }
    let now = store::now();
    let node = store
        .modify(nrt, "", name, Part::All, |n| {
            if let Some(conds) = n
                .pointer_mut("/status/conditions")
                .and_then(Value::as_array_mut)
            {
                for c in conds.iter_mut() {
                    if str_at(c, "/status") != "Unknown" {
                        c["lastTransitionTime"] = json!(now);
                    }
                    c["status"] = json!("Unknown");
                    c["reason"] = json!("NodeStatusUnknown");
                    c["message"] = json!("Kubelet stopped posting node status.");
                }
            }
            let taints = &mut n["spec"]["taints"];
            if !taints.is_array() {
                *taints = json!([]);
            }
            if let Some(t) = taints.as_array_mut() {
                t.retain(|t| str_at(t, "/key") != UNREACHABLE);
                t.push(json!({"key": UNREACHABLE, "effect": "NoSchedule"}));
                t.push(json!({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}));
            }
            Ok(())
        })
        .map_err(|_| FaultError::UnknownNode(name.to_string()))?;
    let mut events = Recorder::default();
    events.emit(
        store,
        &node,
        None,
        "Normal",
        "NodeNotReady",
        &format!("Node {name} status is now: NodeNotReady"),
        Source::Controller("node-controller"),
    );
    let prt = by_kind("Pod");
    for pod in pods_on(shared, name) {
        let marked = store.modify(
            prt,
            str_at(&pod, "/metadata/namespace"),
            name_of(&pod),
            Part::All,
            |p| {
                if let Some(conds) = p
                    .pointer_mut("/status/conditions")
                    .and_then(Value::as_array_mut)
                {
                    for c in conds.iter_mut().filter(|c| str_at(c, "/type") == "Ready") {
                        if str_at(c, "/status") != "False" {
                            c["status"] = json!("False");
                            c["lastTransitionTime"] = json!(now);
                        }
                    }
                }
                Ok(())
            },
        );
        if let Ok(p) = marked {
            events.emit(
                store,
                &p,
                None,
                "Warning",
                "NodeNotReady",
                "Node is not ready",
                Source::Controller("node-controller"),
            );
        }
    }
    Ok(())
}

/// The pods bound to `node` that still run (not terminal, not being deleted).
fn pods_on(shared: &Shared, node: &str) -> Vec<Arc<Value>> {
    let keep = |p: &Value| {
        str_at(p, "/spec/nodeName") == node
            && p.at("/metadata/deletionTimestamp").is_none()
            && !matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed")
    };
    shared.store.list(by_kind("Pod"), None, &keep).0
}

/// How many simulated seconds `pod` tolerates the unreachable NoExecute taint: `None` for ever.
pub fn toleration_seconds(pod: &Value) -> Option<f64> {
    let tolerations = pod.at("/spec/tolerations").and_then(Value::as_array);
    let matching = tolerations.into_iter().flatten().filter(|t| {
        let op = match str_at(t, "/operator") {
            "" => "Equal",
            o => o,
        };
        let key = str_at(t, "/key");
        let effect = str_at(t, "/effect");
        (effect.is_empty() || effect == "NoExecute")
            && (key == UNREACHABLE || key.is_empty() && op == "Exists")
            && (op == "Exists" || str_at(t, "/value").is_empty())
    });
    let mut any = false;
    let mut least: Option<f64> = None;
    for t in matching {
        any = true;
        match t.get("tolerationSeconds").and_then(Value::as_i64) {
            // A toleration without seconds tolerates for ever.
            None => return None,
            Some(s) => {
                let s = s.max(0) as f64;
                least = Some(least.map_or(s, |l: f64| l.min(s)));
            }
        }
    }
    if any {
        least
    } else {
        Some(DEFAULT_TOLERATION_SECONDS)
    }
}

/// The taint-eviction controller on a lost node: deletes each pod once its toleration runs out,
/// counted from when the node was lost. Ends when every pod there is deleted or tolerates the
/// taint for ever.
pub async fn evict_after_tolerations(shared: Arc<Shared>, node: String) {
    let since = Instant::now();
    let mut events = Recorder::default();
    let mut evicted: HashSet<String> = HashSet::new();
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for pod in pods_on(&shared, &node) {
            if evicted.contains(uid_of(&pod)) {
                continue;
            }
            let Some(secs) = toleration_seconds(&pod) else {
                continue;
            };
            let at = since + shared.timing.delay(secs);
            if at > now {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
                continue;
            }
            evicted.insert(uid_of(&pod).to_string());
            evict(&shared, &mut events, &pod);
        }
        match next {
            Some(at) => tokio::time::sleep_until(at).await,
            None => return,
        }
    }
}

fn evict(shared: &Shared, events: &mut Recorder, pod: &Value) {
    let store = &shared.store;
    let prt = by_kind("Pod");
    let ns = str_at(pod, "/metadata/namespace");
    let name = name_of(pod);
    let now = store::now();
    let marked = store.modify(prt, ns, name, Part::All, |p| {
        let conds = &mut p["status"]["conditions"];
        if !conds.is_array() {
            *conds = json!([]);
        }
        if let Some(a) = conds.as_array_mut() {
            a.retain(|c| str_at(c, "/type") != "DisruptionTarget");
            a.push(json!({"type": "DisruptionTarget", "status": "True",
                "lastProbeTime": null, "lastTransitionTime": now,
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint"}));
        }
        Ok(())
    });
    let Ok(marked) = marked else {
        return;
    };
    events.emit(
        store,
        &marked,
        None,
        "Normal",
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {ns}/{name}"),
        Source::Controller("taint-eviction-controller"),
    );
    let _ = store.delete(prt, ns, name, &DeleteOptions::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_of_the_unreachable_taint() {
        let pod = |t: Value| json!({"spec": {"tolerations": t}});
        assert_eq!(toleration_seconds(&json!({})), Some(300.0));
        assert_eq!(
            toleration_seconds(&pod(json!([{"key": UNREACHABLE, "operator": "Exists",
                "effect": "NoExecute", "tolerationSeconds": 5}]))),
            Some(5.0)
        );
        assert_eq!(
            toleration_seconds(&pod(json!([{"key": UNREACHABLE, "operator": "Exists"}]))),
            None
        );
        assert_eq!(
            toleration_seconds(&pod(json!([{"operator": "Exists"}]))),
            None
        );
        // Another taint's toleration does not count.
        assert_eq!(
            toleration_seconds(&pod(json!([{"key": "node.kubernetes.io/not-ready",
                "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]))),
            Some(300.0)
        );
    }
}

//! The default scheduler (`pkg/scheduler`), reduced to the plugins a runbook meets.
//!
//! Filters, in the framework's order, the first failing one giving a node's reason:
//! NodeUnschedulable ("node(s) were unschedulable"), TaintToleration ("node(s) had untolerated taint
//! {key: value}"; a node whose Ready condition is not True carries `node.kubernetes.io/not-ready`
//! as the node lifecycle controller would add it), NodeAffinity ("node(s) didn't match Pod's node
//! affinity/selector": `nodeSelector` and required node affinity), NodeResourcesFit ("Too many pods",
//! "Insufficient cpu", "Insufficient memory" against `status.allocatable`, requests summed as
//! `resourcehelper.PodRequests` does: containers added, init containers as a maximum, limits standing
//! in for missing requests).
//!
//! Scoring spreads: fewest pods of the same controller on the node (PodTopologySpread's default
//! constraint), then the least allocated, then the fewest pods; ties broken at random.
//!
//! Binding sets `spec.nodeName` and the PodScheduled condition and records "Scheduled" ("Successfully
//! assigned ns/pod to node"). A pod that fits nowhere gets PodScheduled=False reason Unschedulable and
//! a FailedScheduling event with `FitError`'s message, e.g. "0/2 nodes are available: 2 Insufficient
//! cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.", and
//! waits in the unschedulable queue until a node changes or a bound pod goes away (or five minutes
//! pass, `podMaxInUnschedulablePodsDuration`).

use serde_json::json;

use super::conditions::condition;
use super::events::Source;
use super::index::NodeUsage;
use super::manager::{Manager, Work};
use super::memory::NodeCache;
use super::node_fit::{Allocatable, filter_with, fit_error, node_taints};
use super::owners::controller_ref;
use super::pod_requests::pod_requests;
use crate::object::{PointerLookup, resource_version_of, str_at};
use crate::resources::by_kind;
use crate::store;

/// Bind a pending pod to the best node that fits it, or leave it unschedulable (parked).
pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let prt = by_kind("Pod");
    let Ok(pod) = m.shared.store.get(prt, ns, name) else {
        return;
    };
    let key = (ns.to_string(), name.to_string());
    if !str_at(&pod, "/spec/nodeName").is_empty()
        || pod.at("/metadata/deletionTimestamp").is_some()
        || !matches!(
            str_at(&pod, "/spec/schedulerName"),
            "" | "default-scheduler"
        )
    {
        m.scheduler.parked.remove(&key);
        return;
    }
    let owner = controller_ref(&pod).map(|r| str_at(r, "/uid").to_string());
    let (cpu, mem) = pod_requests(&pod);
    let empty = NodeUsage::default();
    let mut unfit = Vec::new();
    let mut best: Option<((i64, i64, usize, u32), String)> = None;
    for (nname, node) in &m.index.nodes {
        let nrv = resource_version_of(node);
        if m.scheduler
            .nodes
            .get(nname)
            .is_none_or(|c| c.resource_version != nrv)
        {
            let c = NodeCache {
                resource_version: nrv.to_string(),
                allocatable: Allocatable::of(node),
                taints: node_taints(node),
            };
            m.scheduler.nodes.insert(nname.clone(), c);
        }
        let Some(cache) = m.scheduler.nodes.get(nname) else {
            continue;
        };
        let alloc = cache.allocatable;
        let used = m.index.pods_on_node.get(nname).unwrap_or(&empty);
        match filter_with(&pod, (cpu, mem), node, &alloc, &cache.taints, used) {
            Err(u) => unfit.push(u),
            Ok(()) => {
                let same = owner
                    .as_ref()
                    .and_then(|o| used.by_owner.get(o))
                    .copied()
                    .unwrap_or(0);
                let frac = |a: Option<i128>, used: i64, want: i64| -> i64 {
                    match a {
                        Some(a) if a > 0 => ((i128::from(used + want) * 1_000_000) / a) as i64,
                        _ => 0,
                    }
                };
                let load = frac(alloc.cpu, used.cpu_milli, cpu)
                    + frac(alloc.memory, used.memory * 1000, mem * 1000);
                let score = (same, load, used.pods.len(), fastrand::u32(..));
                if best.as_ref().is_none_or(|(s, _)| score < *s) {
                    best = Some((score, nname.clone()));
                }
            }
        }
    }
    let store = m.shared.store.clone();
    match best {
        Some((_, node)) => {
            let rv = resource_version_of(&pod).to_string();
            let now = store::now();
            let bound = m.write(prt, ns, name, &rv, |o| {
                o["spec"]["nodeName"] = json!(node);
                let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": now});
                let conds = &mut o["status"]["conditions"];
                if !conds.is_array() {
                    *conds = json!([]);
                }
                if let Some(a) = conds.as_array_mut() {
                    a.retain(|c| str_at(c, "/type") != "PodScheduled");
                    a.push(cond);
                }
            });
            match bound {
                Ok(b) => {
                    m.scheduler.parked.remove(&key);
                    m.index.bind(&key, &node, &b);
                    let msg = format!("Successfully assigned {ns}/{name} to {node}");
                    m.events.emit(
                        &store,
                        &b,
                        None,
                        "Normal",
                        "Scheduled",
                        &msg,
                        Source::Scheduler("Binding"),
                    );
                }
                Err(_) => m.enqueue(Work::Schedule(key)),
            }
        }
        None => {
            let never = str_at(&pod, "/spec/preemptionPolicy") == "Never";
            let msg = if m.index.nodes.is_empty() {
                "no nodes available to schedule pods".to_string()
            } else {
                fit_error(m.index.nodes.len(), &unfit, never)
            };
            let rv = resource_version_of(&pod).to_string();
            let now = store::now();
            let m2 = msg.clone();
            let _ = m.write(prt, ns, name, &rv, |o| {
                let prev = condition(o, "PodScheduled").cloned();
                let ltt = match &prev {
                    Some(p) if str_at(p, "/status") == "False" => {
                        p.get("lastTransitionTime").cloned().unwrap_or(json!(now))
                    }
                    _ => json!(now),
                };
                let cond = json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                    "lastTransitionTime": ltt, "reason": "Unschedulable", "message": m2});
                let conds = &mut o["status"]["conditions"];
                if !conds.is_array() {
                    *conds = json!([]);
                }
                if let Some(a) = conds.as_array_mut() {
                    a.retain(|c| str_at(c, "/type") != "PodScheduled");
                    a.push(cond);
                }
            });
            m.events.emit(
                &store,
                &pod,
                None,
                "Warning",
                "FailedScheduling",
                &msg,
                Source::Scheduler("Scheduling"),
            );
            m.scheduler.parked.insert(key.clone());
            m.schedule_in(Work::Schedule(key), 300.0);
        }
    }
}

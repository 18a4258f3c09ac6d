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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::super::resources::by_kind;
use super::super::store;
use super::events::Source;
use super::{Key, Manager, Work, condition, controller_ref};
use crate::object::{PointerLookup, labels_of, str_at};

/// What the scheduler parses once per version of a node.
struct NodeCache {
    rv: String,
    alloc: Alloc,
    taints: Vec<(String, String, String)>,
}

/// Pods waiting for the cluster to change, and the nodes' parsed allocatable resources and taints.
#[derive(Default)]
pub struct Scheduler {
    parked: BTreeSet<Key>,
    allocs: std::collections::HashMap<String, NodeCache>,
}

impl Scheduler {
    pub fn take_parked(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.parked).into_iter().collect()
    }

    pub fn forget(&mut self, key: &Key) {
        self.parked.remove(key);
    }
}

/// A quantity in millis of its unit ("100m" → 100, "1" → 1000, "1Ki" → 1024000).
pub fn parse_quantity_milli(q: &Value) -> Option<i128> {
    let s = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (n, mult) = SUFFIXES
        .iter()
        .find_map(|(suf, mult)| {
            s.strip_suffix(suf)
                .and_then(|n| n.parse::<f64>().ok())
                .map(|n| (n, *mult))
        })
        .or_else(|| s.parse::<f64>().ok().map(|n| (n, 1.0)))?;
    if !n.is_finite() {
        return None;
    }
    Some((n * mult * 1000.0).round() as i128)
}

fn container_requests(c: &Value) -> (i64, i64) {
    let get = |res: &str| {
        c.at(&format!("/resources/requests/{res}"))
            .or_else(|| c.at(&format!("/resources/limits/{res}")))
            .and_then(parse_quantity_milli)
            .unwrap_or(0)
    };
    let cpu = get("cpu");
    let mem = get("memory") / 1000;
    (cpu as i64, mem as i64)
}

/// A pod's effective requests: (cpu in millicores, memory in bytes).
pub fn pod_requests(pod: &Value) -> (i64, i64) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in pod
        .at("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (a, b) = container_requests(c);
        cpu += a;
        mem += b;
    }
    // Sidecars (restartable init containers) run alongside; other init containers run before.
    let (mut side_cpu, mut side_mem, mut init_cpu, mut init_mem) = (0, 0, 0, 0);
    for c in pod
        .at("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (a, b) = container_requests(c);
        if str_at(c, "/restartPolicy") == "Always" {
            side_cpu += a;
            side_mem += b;
        } else {
            init_cpu = init_cpu.max(side_cpu + a);
            init_mem = init_mem.max(side_mem + b);
        }
    }
    (
        (cpu + side_cpu).max(init_cpu),
        (mem + side_mem).max(init_mem),
    )
}

fn tolerates(pod: &Value, key: &str, value: &str, effect: &str) -> bool {
    pod.at("/spec/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|t| {
            let tk = str_at(t, "/key");
            let te = str_at(t, "/effect");
            let op = match str_at(t, "/operator") {
                "" => "Equal",
                o => o,
            };
            (te.is_empty() || te == effect)
                && (tk.is_empty() && op == "Exists" || tk == key)
                && (op == "Exists" || str_at(t, "/value") == value)
        })
}

fn node_taints(node: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = node
        .at("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| {
            (
                str_at(t, "/key").to_string(),
                str_at(t, "/value").to_string(),
                str_at(t, "/effect").to_string(),
            )
        })
        .collect();
    let ready = condition(node, "Ready").map(|c| str_at(c, "/status"));
    let synth = match ready {
        Some("True") => None,
        Some("Unknown") => Some("node.kubernetes.io/unreachable"),
        _ => Some("node.kubernetes.io/not-ready"),
    };
    if let Some(k) = synth
        && !out.iter().any(|t| t.0 == k)
    {
        out.push((k.to_string(), String::new(), "NoSchedule".into()));
    }
    out
}

fn expr_matches(e: &Value, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    let key = str_at(e, "/key");
    let val = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    let vals: Vec<&str> = e
        .get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match str_at(e, "/operator") {
        "In" => val.is_some_and(|v| vals.contains(&v)),
        "NotIn" => val.is_none_or(|v| !vals.contains(&v)),
        "Exists" => val.is_some(),
        "DoesNotExist" => val.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(w)) = (
                val.and_then(|v| v.parse::<i64>().ok()),
                vals.first().and_then(|w| w.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if str_at(e, "/operator") == "Gt" {
                v > w
            } else {
                v < w
            }
        }
        _ => false,
    }
}

fn affinity_matches(pod: &Value, node: &Value) -> bool {
    let labels = labels_of(node);
    if let Some(sel) = pod.at("/spec/nodeSelector").and_then(Value::as_object) {
        for (k, v) in sel {
            if labels.and_then(|l| l.get(k)) != Some(v) {
                return false;
            }
        }
    }
    let terms = pod
        .at("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    match terms {
        None => true,
        Some(terms) => terms.iter().any(|t| {
            t.get("matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .all(|e| expr_matches(e, labels))
        }),
    }
}

/// Why a node cannot take a pod: reasons, and whether preemption could help.
pub type Unfit = (Vec<String>, bool);

fn allocatable(node: &Value, res: &str) -> Option<i128> {
    node.at(&format!("/status/allocatable/{res}"))
        .or_else(|| node.at(&format!("/status/capacity/{res}")))
        .and_then(parse_quantity_milli)
}

/// A node's allocatable resources, parsed: (cpu in millicores, memory in millibytes, pods).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Alloc {
    pub cpu: Option<i128>,
    pub memory: Option<i128>,
    pub pods: Option<usize>,
}

impl Alloc {
    pub fn of(node: &Value) -> Alloc {
        Alloc {
            cpu: allocatable(node, "cpu"),
            memory: allocatable(node, "memory"),
            pods: allocatable(node, "pods").map(|p| (p / 1000) as usize),
        }
    }
}

/// Run the filters for one node; `Err` with the first failing plugin's reasons.
pub fn filter(pod: &Value, node: &Value, used: &super::NodeUsage) -> Result<(), Unfit> {
    filter_with(
        pod,
        pod_requests(pod),
        node,
        &Alloc::of(node),
        &node_taints(node),
        used,
    )
}

/// [`filter`] with the pod's requests and the node's allocatable already computed.
pub fn filter_with(
    pod: &Value,
    (cpu, mem): (i64, i64),
    node: &Value,
    alloc: &Alloc,
    taints: &[(String, String, String)],
    used: &super::NodeUsage,
) -> Result<(), Unfit> {
    if node.at("/spec/unschedulable").and_then(Value::as_bool) == Some(true)
        && !tolerates(pod, "node.kubernetes.io/unschedulable", "", "NoSchedule")
    {
        return Err((vec!["node(s) were unschedulable".into()], false));
    }
    for (k, v, effect) in taints {
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(pod, k, v, effect) {
            return Err((
                vec![format!("node(s) had untolerated taint {{{k}: {v}}}")],
                false,
            ));
        }
    }
    if !affinity_matches(pod, node) {
        return Err((
            vec!["node(s) didn't match Pod's node affinity/selector".into()],
            false,
        ));
    }
    let mut reasons = Vec::new();
    if let Some(cap) = alloc.pods
        && used.pods.len() + 1 > cap
    {
        reasons.push("Too many pods".to_string());
    }
    let (used_cpu, used_mem) = (used.cpu_milli, used.memory);
    if cpu > 0
        && let Some(a) = alloc.cpu
        && i128::from(used_cpu + cpu) > a
    {
        reasons.push("Insufficient cpu".into());
    }
    if mem > 0
        && let Some(a) = alloc.memory
        && i128::from(used_mem + mem) * 1000 > a
    {
        reasons.push("Insufficient memory".into());
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err((reasons, true))
    }
}

fn histogram(reasons: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
    v.sort();
    v.join(", ")
}

/// `FitError.Error()` with the default preemption plugin's PostFilter message.
pub fn fit_error(num_nodes: usize, unfit: &[Unfit], preempt_never: bool) -> String {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut post: BTreeMap<String, usize> = BTreeMap::new();
    for (rs, resolvable) in unfit {
        for r in rs {
            *reasons.entry(r.clone()).or_default() += 1;
        }
        let p = if *resolvable {
            "No preemption victims found for incoming pod"
        } else {
            "Preemption is not helpful for scheduling"
        };
        *post.entry(p.to_string()).or_default() += 1;
    }
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !reasons.is_empty() {
        msg.push_str(&format!(" {}.", histogram(&reasons)));
    }
    if preempt_never {
        msg.push_str(" preemption: not eligible due to preemptionPolicy=Never.");
    } else {
        msg.push_str(&format!(
            " preemption: 0/{num_nodes} nodes are available: {}.",
            histogram(&post)
        ));
    }
    msg
}

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
    let empty = super::NodeUsage::default();
    let mut unfit = Vec::new();
    let mut best: Option<((i64, i64, usize, u32), String)> = None;
    for (nname, node) in &m.index.nodes {
        let nrv = str_at(node, "/metadata/resourceVersion");
        if m.scheduler.allocs.get(nname).is_none_or(|c| c.rv != nrv) {
            let c = NodeCache {
                rv: nrv.to_string(),
                alloc: Alloc::of(node),
                taints: node_taints(node),
            };
            m.scheduler.allocs.insert(nname.clone(), c);
        }
        let Some(cache) = m.scheduler.allocs.get(nname) else {
            continue;
        };
        let alloc = cache.alloc;
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
            let rv = str_at(&pod, "/metadata/resourceVersion").to_string();
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
            let rv = str_at(&pod, "/metadata/resourceVersion").to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity_milli(&json!("100m")), Some(100));
        assert_eq!(parse_quantity_milli(&json!("2")), Some(2000));
        assert_eq!(parse_quantity_milli(&json!(0.5)), Some(500));
        assert_eq!(parse_quantity_milli(&json!("1Ki")), Some(1_024_000));
        assert_eq!(parse_quantity_milli(&json!("1e3")), Some(1_000_000));
        assert_eq!(
            parse_quantity_milli(&json!("128Mi")),
            Some(128 * 1024 * 1024 * 1000)
        );
        assert_eq!(parse_quantity_milli(&json!("1G")), Some(1_000_000_000_000));
        assert_eq!(parse_quantity_milli(&json!("bogus")), None);
    }

    #[test]
    fn requests_sum_containers_and_max_init() {
        let p = json!({"spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"resources": {"limits": {"cpu": "500m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}]}});
        assert_eq!(pod_requests(&p), (2000, 64 * 1024 * 1024));
    }

    #[test]
    fn fit_error_message_is_kubernetes_form() {
        let unfit = vec![
            (vec!["Insufficient cpu".to_string()], true),
            (vec!["Insufficient cpu".to_string()], true),
        ];
        assert_eq!(
            fit_error(2, &unfit, false),
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        let mixed = vec![
            (
                vec!["node(s) didn't match Pod's node affinity/selector".to_string()],
                false,
            ),
            (
                vec![
                    "Insufficient cpu".to_string(),
                    "Insufficient memory".to_string(),
                ],
                true,
            ),
        ];
        assert_eq!(
            fit_error(2, &mixed, false),
            "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn filters() {
        let node = crate::fixture::default_node("n1");
        let used = crate::controllers::NodeUsage::default();
        let big = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "8"}}}]}});
        assert_eq!(
            filter(&big, &node, &used),
            Err((vec!["Insufficient cpu".into()], true))
        );
        let sel = json!({"spec": {"nodeSelector": {"disk": "ssd"}, "containers": []}});
        assert!(filter(&sel, &node, &used).is_err());
        let mut cordoned = node.clone();
        cordoned["spec"]["unschedulable"] = json!(true);
        let small = json!({"spec": {"containers": []}});
        assert_eq!(
            filter(&small, &cordoned, &used),
            Err((vec!["node(s) were unschedulable".into()], false))
        );
        let mut not_ready = node.clone();
        not_ready["status"]["conditions"][0]["status"] = json!("False");
        assert_eq!(
            filter(&small, &not_ready, &used),
            Err((
                vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into()],
                false
            ))
        );
        assert_eq!(filter(&small, &node, &used), Ok(()));
    }
}

//! Whether a pod fits a node, the scheduler's filter plugins in the framework's order
//! (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit; see `scheduler.rs`), and
//! `FitError`'s message when it fits nowhere.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::conditions::condition;
use super::index::NodeUsage;
use super::pod_requests::{parse_quantity_milli, pod_requests};
use crate::object::{PointerLookup, labels_of, str_at};

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

/// A node's taints (key, value, effect), with `node.kubernetes.io/not-ready` added while its
/// Ready condition is not True.
pub fn node_taints(node: &Value) -> Vec<(String, String, String)> {
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

fn expr_matches(e: &Value, labels: Option<&Map<String, Value>>) -> bool {
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
pub struct Allocatable {
    pub cpu: Option<i128>,
    pub memory: Option<i128>,
    pub pods: Option<usize>,
}

impl Allocatable {
    pub fn of(node: &Value) -> Allocatable {
        Allocatable {
            cpu: allocatable(node, "cpu"),
            memory: allocatable(node, "memory"),
            pods: allocatable(node, "pods").map(|p| (p / 1000) as usize),
        }
    }
}

/// Run the filters for one node; `Err` with the first failing plugin's reasons.
pub fn filter(pod: &Value, node: &Value, used: &NodeUsage) -> Result<(), Unfit> {
    filter_with(
        pod,
        pod_requests(pod),
        node,
        &Allocatable::of(node),
        &node_taints(node),
        used,
    )
}

/// [`filter`] with the pod's requests and the node's allocatable already computed.
pub fn filter_with(
    pod: &Value,
    (cpu, mem): (i64, i64),
    node: &Value,
    alloc: &Allocatable,
    taints: &[(String, String, String)],
    used: &NodeUsage,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let used = NodeUsage::default();
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

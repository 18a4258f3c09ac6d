//! The metrics API (`metrics.k8s.io/v1beta1`) that `kubectl top` reads, as metrics-server serves it.
//!
//! Usage is derived, not measured: a running container uses its requests (its limits, or a few
//! millicores and mebibytes without either) times a factor between 0.55 and 0.95 fixed by its
//! namespace, pod and container names, so the numbers are steady and differ from pod to pod. Pods
//! that are not running have no metrics (as with metrics-server); a node uses what its running pods
//! use plus 5% of its allocatable for the system.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::controllers::fnv::fnv32a;
use crate::controllers::pod_requests::parse_quantity_milli;
use crate::error::ApiError;
use crate::object::{labels_of, name_of, namespace_of, str_at};
use crate::resources;
use crate::selector::{FieldSelector, LabelSelector};
use crate::server::{Body, json_response};
use crate::shared::Shared;

const API_VERSION: &str = "metrics.k8s.io/v1beta1";
/// The window metrics are averaged over, as metrics-server reports it.
const WINDOW: &str = "15s";
/// What a node's system (kubelet, runtime, OS) uses besides its pods, in percent of allocatable
/// (pods use at most 95% of their requests, so a full node stays at or under 100%).
const NODE_OVERHEAD_PERCENT: i64 = 5;
/// What a container without requests or limits uses at most: millicores, bytes.
const BARE_CONTAINER: (i64, i64) = (5, 24 * 1024 * 1024);

/// A path's segments, percent-decoded.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// What a metrics path names.
#[derive(Debug, PartialEq, Eq)]
pub enum Metrics {
    /// Node metrics: all, or one node's.
    Nodes(Option<String>),
    /// Pod metrics: in all namespaces or one, all or one pod's.
    Pods {
        namespace: Option<String>,
        name: Option<String>,
    },
}

/// The metrics `path` names, if any (the group's discovery is served with the others).
pub fn route(path: &str) -> Option<Metrics> {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    let rest = match s.as_slice() {
        ["apis", "metrics.k8s.io", "v1beta1", rest @ ..] => rest,
        _ => return None,
    };
    let own = |x: &&str| Some(x.to_string());
    match rest {
        ["nodes"] => Some(Metrics::Nodes(None)),
        ["nodes", n] => Some(Metrics::Nodes(own(n))),
        ["pods"] => Some(Metrics::Pods {
            namespace: None,
            name: None,
        }),
        ["namespaces", ns, "pods"] => Some(Metrics::Pods {
            namespace: own(ns),
            name: None,
        }),
        ["namespaces", ns, "pods", n] => Some(Metrics::Pods {
            namespace: own(ns),
            name: own(n),
        }),
        _ => None,
    }
}

/// What one container uses: (millicores, bytes), or `None` if it is not running.
fn container_usage(pod: &Value, c: &Value) -> Option<(i64, i64)> {
    let name = str_at(c, "/name");
    let running = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| str_at(s, "/name") == name && s.pointer("/state/running").is_some());
    if !running {
        return None;
    }
    let amount = |res: &str, bare: i64, milli: bool| -> i64 {
        ["requests", "limits"]
            .iter()
            .find_map(|k| c.pointer(&format!("/resources/{k}/{res}")))
            .and_then(parse_quantity_milli)
            .map(|m| if milli { m as i64 } else { (m / 1000) as i64 })
            .unwrap_or(bare)
    };
    let cpu = amount("cpu", BARE_CONTAINER.0, true);
    let mem = amount("memory", BARE_CONTAINER.1, false);
    let key = format!("{}/{}/{name}", namespace_of(pod), name_of(pod));
    let h = fnv32a(key.as_bytes());
    let factor = |salt: u32| 0.55 + f64::from((h.rotate_left(salt) % 1000) as u16) / 2500.0;
    Some((
        ((cpu as f64 * factor(0)) as i64).max(1),
        ((mem as f64 * factor(16)) as i64).max(1024 * 1024),
    ))
}

/// Each running container's usage; `None` if the pod is not running.
fn pod_usage(pod: &Value) -> Option<Vec<(String, i64, i64)>> {
    if str_at(pod, "/status/phase") != "Running"
        || pod.pointer("/metadata/deletionTimestamp").is_some()
    {
        return None;
    }
    let out: Vec<(String, i64, i64)> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            container_usage(pod, c).map(|(a, b)| (str_at(c, "/name").to_string(), a, b))
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn usage(cpu: i64, mem: i64) -> Value {
    json!({"cpu": format!("{}n", cpu * 1_000_000), "memory": format!("{}Ki", mem / 1024)})
}

fn timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn pod_metrics(pod: &Value, containers: &[(String, i64, i64)]) -> Value {
    let cs: Vec<Value> = containers
        .iter()
        .map(|(n, cpu, mem)| json!({"name": n, "usage": usage(*cpu, *mem)}))
        .collect();
    json!({
        "kind": "PodMetrics", "apiVersion": API_VERSION,
        "metadata": {
            "name": name_of(pod), "namespace": namespace_of(pod),
            "creationTimestamp": timestamp(),
            "labels": labels_of(pod).cloned().unwrap_or_default(),
        },
        "timestamp": timestamp(), "window": WINDOW, "containers": cs,
    })
}

fn selectors(
    q: &[(String, String)],
    kind: &str,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let get = |k: &str| {
        q.iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let labels = LabelSelector::parse(get("labelSelector")).map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(get("fieldSelector")).map_err(ApiError::bad_request)?;
    fields.validate_for(kind).map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn not_found(what: &str, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{what}.metrics.k8s.io \"{name}\" not found"),
    )
}

/// Answers a metrics GET.
pub fn serve(
    shared: &Shared,
    m: Metrics,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let q: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let pods_rt = resources::by_kind("Pod");
    match m {
        Metrics::Pods { namespace, name } => {
            if let (Some(ns), Some(name)) = (&namespace, &name) {
                let pod = shared
                    .store
                    .get(pods_rt, ns, name)
                    .map_err(|_| not_found("podmetrics", &format!("{ns}/{name}")))?;
                let cs = pod_usage(&pod)
                    .ok_or_else(|| not_found("podmetrics", &format!("{ns}/{name}")))?;
                return Ok(json_response(200, &pod_metrics(&pod, &cs)));
            }
            let (labels, fields) = selectors(&q, "Pod")?;
            let keep = |v: &Value| labels.matches_object(v) && fields.matches(v);
            let (pods, _) = shared.store.list(pods_rt, namespace.as_deref(), &keep);
            let items: Vec<Value> = pods
                .iter()
                .filter_map(|p| pod_usage(p).map(|cs| pod_metrics(p, &cs)))
                .collect();
            Ok(json_response(
                200,
                &json!({"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}),
            ))
        }
        Metrics::Nodes(name) => {
            let nodes_rt = resources::by_kind("Node");
            let (labels, fields) = selectors(&q, "Node")?;
            let nodes: Vec<std::sync::Arc<Value>> = match &name {
                Some(n) => vec![
                    shared
                        .store
                        .get(nodes_rt, "", n)
                        .map_err(|_| not_found("nodemetrics", n))?,
                ],
                None => {
                    let keep = |v: &Value| labels.matches_object(v) && fields.matches(v);
                    shared.store.list(nodes_rt, None, &keep).0
                }
            };
            let (pods, _) = shared.store.list(pods_rt, None, &|_: &Value| true);
            let node_metrics = |node: &Value| {
                let alloc = |r: &str| {
                    node.pointer(&format!("/status/allocatable/{r}"))
                        .and_then(parse_quantity_milli)
                        .unwrap_or(0) as i64
                        * NODE_OVERHEAD_PERCENT
                        / 100
                };
                let (mut cpu, mut mem) = (alloc("cpu"), alloc("memory") / 1000);
                for p in pods
                    .iter()
                    .filter(|p| str_at(p, "/spec/nodeName") == name_of(node))
                {
                    for (_, c, m) in pod_usage(p).unwrap_or_default() {
                        cpu += c;
                        mem += m;
                    }
                }
                json!({
                    "kind": "NodeMetrics", "apiVersion": API_VERSION,
                    "metadata": {
                        "name": name_of(node), "creationTimestamp": timestamp(),
                        "labels": labels_of(node).cloned().unwrap_or_default(),
                    },
                    "timestamp": timestamp(), "window": WINDOW, "usage": usage(cpu, mem),
                })
            };
            if name.is_some() {
                return Ok(json_response(200, &node_metrics(&nodes[0])));
            }
            let items: Vec<Value> = nodes.iter().map(|n| node_metrics(n)).collect();
            Ok(json_response(
                200,
                &json!({"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/apis/metrics.k8s.io/v1beta1/nodes"),
            Some(Metrics::Nodes(None))
        );
        assert_eq!(
            route("/apis/metrics.k8s.io/v1beta1/namespaces/demo/pods/web-1"),
            Some(Metrics::Pods {
                namespace: Some("demo".into()),
                name: Some("web-1".into())
            })
        );
        assert_eq!(route("/apis/metrics.k8s.io/v1beta1/widgets"), None);
        assert_eq!(route("/apis/apps/v1/deployments"), None);
    }

    #[test]
    fn a_running_container_uses_most_of_its_requests_steadily() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "demo"},
            "spec": {"containers": [
                {"name": "web", "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}}},
                {"name": "sidecar"},
            ]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "web", "state": {"running": {}}},
                {"name": "sidecar", "state": {"running": {}}},
            ]},
        });
        let u = pod_usage(&pod).unwrap();
        assert_eq!(u, pod_usage(&pod).unwrap());
        let (_, cpu, mem) = &u[0];
        assert!((110..=190).contains(cpu), "{cpu}");
        assert!((140 * 1048576..=244 * 1048576).contains(mem), "{mem}");
        assert!(u[1].1 <= BARE_CONTAINER.0 && u[1].2 <= BARE_CONTAINER.1);
        let mut pending = pod.clone();
        pending["status"]["phase"] = json!("Pending");
        assert!(pod_usage(&pending).is_none());
    }
}

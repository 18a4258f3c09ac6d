//! The comparison of desired manifests with live objects, and resource health as Argo CD's
//! gitops-engine assesses it (`pkg/health`) and aggregates it (`controller/health.go`).

use serde_json::Value;

use crate::object::{PointerLookup, int_at, str_at};

/// Whether every field the desired manifest sets is present with the same value in the live object.
/// `status` and the server-set metadata are not compared (of `metadata`, only the desired labels
/// and annotations are); a null in the manifest asks for nothing. Lists must have the same length
/// and each item must be contained in the live item at its place.
pub fn contains(desired: &Value, live: &Value) -> bool {
    let (Some(d), Some(l)) = (desired.as_object(), live.as_object()) else {
        return false;
    };
    for (k, v) in d {
        match k.as_str() {
            "status" => {}
            "metadata" => {
                for part in ["labels", "annotations"] {
                    let want = v.get(part).unwrap_or(&Value::Null);
                    let have = l.get("metadata").and_then(|m| m.get(part));
                    if !want.is_null() && !have.is_some_and(|h| subset(want, h)) {
                        return false;
                    }
                }
            }
            _ => {
                if v.is_null() {
                    continue;
                }
                if !l.get(k).is_some_and(|h| subset(v, h)) {
                    return false;
                }
            }
        }
    }
    true
}

fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Null, _) => true,
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| v.is_null() || h.get(k).is_some_and(|x| subset(v, x))),
        // An empty map asks for nothing the live object may leave out.
        (Value::Object(w), Value::Null) => w.is_empty(),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| subset(a, b))
        }
        (Value::Array(w), Value::Null) => w.is_empty(),
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        // Quantities and int-or-strings written as numbers in git read back as strings.
        (Value::Number(a), Value::String(b)) => a.to_string() == *b,
        (a, b) => a == b,
    }
}

/// Argo CD's health codes, best first (`healthOrder`): the worst of a set wins.
pub const HEALTH_ORDER: [&str; 6] = [
    "Healthy",
    "Suspended",
    "Progressing",
    "Missing",
    "Degraded",
    "Unknown",
];

fn rank(code: &str) -> usize {
    HEALTH_ORDER.iter().position(|c| *c == code).unwrap_or(0)
}

/// `health.IsWorse`.
pub fn is_worse(current: &str, new: &str) -> bool {
    rank(new) > rank(current)
}

/// A resource's health: (status, message), or `None` for a kind without a health check.
pub fn resource_health(obj: &Value) -> Option<(&'static str, String)> {
    if obj.at("/metadata/deletionTimestamp").is_some() {
        return Some(("Progressing", "Pending deletion".into()));
    }
    let api = str_at(obj, "/apiVersion");
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = str_at(obj, "/kind");
    match (group, kind) {
        ("apps", "Deployment") => Some(deployment_health(obj)),
        ("apps", "ReplicaSet") => Some(replicaset_health(obj)),
        ("apps", "StatefulSet") | ("apps", "DaemonSet") => Some(workload_health(obj)),
        ("", "Service") => Some(service_health(obj)),
        ("", "Pod") => Some(pod_health(obj)),
        ("", "PersistentVolumeClaim") => Some(match str_at(obj, "/status/phase") {
            "Bound" => ("Healthy", String::new()),
            "Lost" => ("Degraded", String::new()),
            _ => ("Progressing", String::new()),
        }),
        ("batch", "Job") => Some(job_health(obj)),
        ("networking.k8s.io", "Ingress") | ("extensions", "Ingress") => {
            let lb = obj
                .at("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            Some(if lb {
                ("Healthy", String::new())
            } else {
                ("Progressing", String::new())
            })
        }
        ("argoproj.io", "Rollout") => Some(rollout_health(obj)),
        ("argoproj.io", "Application") => {
            let s = str_at(obj, "/status/health/status");
            Some((known(s).unwrap_or("Unknown"), String::new()))
        }
        _ => None,
    }
}

fn known(s: &str) -> Option<&'static str> {
    HEALTH_ORDER.iter().copied().find(|c| *c == s)
}

fn observed(obj: &Value) -> bool {
    int_at(obj, "/metadata/generation", 0) <= int_at(obj, "/status/observedGeneration", 0)
}

/// `getAppsv1DeploymentHealth`.
fn deployment_health(d: &Value) -> (&'static str, String) {
    if d.at("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return ("Suspended", "Deployment is paused".into());
    }
    if !observed(d) {
        return (
            "Progressing",
            "Waiting for rollout to finish: observed deployment generation less than desired generation".into(),
        );
    }
    let progressing = d
        .at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "Progressing"));
    let replicas = d.at("/spec/replicas").and_then(Value::as_i64);
    let updated = int_at(d, "/status/updatedReplicas", 0);
    let total = int_at(d, "/status/replicas", 0);
    let available = int_at(d, "/status/availableReplicas", 0);
    if progressing.is_some_and(|c| str_at(c, "/reason") == "ProgressDeadlineExceeded") {
        let name = str_at(d, "/metadata/name");
        return (
            "Degraded",
            format!("Deployment \"{name}\" exceeded its progress deadline"),
        );
    }
    if let Some(r) = replicas
        && updated < r
    {
        return (
            "Progressing",
            format!(
                "Waiting for rollout to finish: {updated} out of {r} new replicas have been updated..."
            ),
        );
    }
    if total > updated {
        return (
            "Progressing",
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                total - updated
            ),
        );
    }
    if available < updated {
        return (
            "Progressing",
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    ("Healthy", String::new())
}

/// `getAppsv1ReplicaSetHealth`.
fn replicaset_health(rs: &Value) -> (&'static str, String) {
    if !observed(rs) {
        return (
            "Progressing",
            "Waiting for rollout to finish: observed replica set generation less than desired generation".into(),
        );
    }
    if let Some(c) = rs
        .at("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "ReplicaFailure"))
        && str_at(c, "/status") == "True"
    {
        return ("Degraded", str_at(c, "/message").to_string());
    }
    let want = int_at(rs, "/spec/replicas", 1);
    let available = int_at(rs, "/status/availableReplicas", 0);
    if available < want {
        return (
            "Progressing",
            format!(
                "Waiting for rollout to finish: {available} out of {want} new replicas are available..."
            ),
        );
    }
    ("Healthy", String::new())
}

/// StatefulSets and DaemonSets, reduced to their generation and ready counts.
fn workload_health(o: &Value) -> (&'static str, String) {
    if int_at(o, "/status/observedGeneration", 0) == 0 || !observed(o) {
        return (
            "Progressing",
            "Waiting for spec update to be observed...".into(),
        );
    }
    let (want, ready) = if str_at(o, "/kind") == "DaemonSet" {
        (
            int_at(o, "/status/desiredNumberScheduled", 0),
            int_at(o, "/status/numberAvailable", 0),
        )
    } else {
        (
            int_at(o, "/spec/replicas", 1),
            int_at(o, "/status/readyReplicas", 0),
        )
    };
    if ready < want {
        return (
            "Progressing",
            format!("Waiting for rollout to finish: {ready} of {want} pods are ready..."),
        );
    }
    ("Healthy", String::new())
}

/// `getCorev1ServiceHealth`.
fn service_health(s: &Value) -> (&'static str, String) {
    if str_at(s, "/spec/type") == "LoadBalancer"
        && s.at("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
    {
        return ("Progressing", String::new());
    }
    ("Healthy", String::new())
}

/// `getBatchv1JobHealth`.
fn job_health(j: &Value) -> (&'static str, String) {
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let mut msg = String::new();
    for c in j
        .at("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match str_at(c, "/type") {
            "Failed" => {
                failed = true;
                complete = true;
                msg = str_at(c, "/message").to_string();
            }
            "Complete" => {
                complete = true;
                msg = str_at(c, "/message").to_string();
            }
            "Suspended" => {
                complete = true;
                suspended = str_at(c, "/status") == "True";
            }
            _ => {}
        }
    }
    if !complete {
        ("Progressing", msg)
    } else if failed {
        ("Degraded", msg)
    } else if suspended {
        ("Suspended", msg)
    } else {
        ("Healthy", msg)
    }
}

/// `getCorev1PodHealth`.
fn pod_health(p: &Value) -> (&'static str, String) {
    let policy = match str_at(p, "/spec/restartPolicy") {
        "" => "Always",
        x => x,
    };
    let statuses = p
        .at("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let message = str_at(p, "/status/message").to_string();
    if policy == "Always" {
        let bad: Vec<String> = statuses
            .iter()
            .filter_map(|c| c.at("/state/waiting"))
            .filter(|w| {
                let r = str_at(w, "/reason");
                r.starts_with("Err") || r.ends_with("Error") || r.ends_with("BackOff")
            })
            .map(|w| str_at(w, "/message").to_string())
            .collect();
        if !bad.is_empty() {
            return ("Degraded", bad.join(", "));
        }
    }
    match str_at(p, "/status/phase") {
        "Pending" => ("Progressing", message),
        "Succeeded" => ("Healthy", message),
        "Failed" => ("Degraded", message),
        "Running" if policy == "Always" => {
            let ready = p
                .at("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True")
                });
            if ready {
                ("Healthy", message)
            } else if statuses
                .iter()
                .any(|c| c.at("/lastState/terminated").is_some())
            {
                ("Degraded", message)
            } else {
                ("Progressing", message)
            }
        }
        "Running" => ("Progressing", message),
        _ => ("Unknown", message),
    }
}

/// An Argo Rollout's health as Argo CD's `argoproj.io/Rollout/health.lua` reads it: a spec its
/// controller has not observed is Progressing; then `status.phase` (`Paused` is Suspended) with
/// `status.message`; a Rollout without a phase is Progressing.
fn rollout_health(r: &Value) -> (&'static str, String) {
    let message = str_at(r, "/status/message").to_string();
    // `isGenerationObserved`: a numeric observedGeneration (a string or a number) must equal the
    // generation; none at all (older controllers) counts as observed, no status at all does not.
    let observed_gen = r.at("/status/observedGeneration").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let generation = int_at(r, "/metadata/generation", 0);
    if r.get("status").is_none_or(Value::is_null) || observed_gen.is_some_and(|g| g < generation) {
        return (
            "Progressing",
            "Waiting for rollout spec update to be observed".into(),
        );
    }
    match str_at(r, "/status/phase") {
        "Paused" => ("Suspended", message),
        p => match known(p) {
            Some(code) => (code, message),
            None => ("Progressing", message),
        },
    }
}

/// One managed resource for the aggregation: whether it is live and its health (`None`: no check).
pub struct Assessed<'a> {
    pub live: bool,
    pub health: Option<&'a str>,
}

/// `setApplicationHealth`: the worst health of the live resources (a missing resource does not
/// count, its OutOfSync says it), and Missing when there are resources but none is live.
pub fn aggregate(resources: &[Assessed]) -> &'static str {
    let mut app = "Healthy";
    let mut any_live = false;
    for r in resources {
        any_live |= r.live;
        let Some(h) = r.health else { continue };
        if !r.live {
            continue;
        }
        if is_worse(app, h) {
            app = known(h).unwrap_or("Unknown");
        }
    }
    if !resources.is_empty() && !any_live && is_worse(app, "Missing") {
        app = "Missing";
    }
    app
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_ignores_status_and_server_fields() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "a:1"}]}}}});
        let mut live = desired.clone();
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["namespace"] = json!("default");
        live["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("x");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["status"] = json!({"replicas": 2});
        assert!(contains(&desired, &live));
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
        assert!(!contains(&desired, &live));
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:1");
        live["spec"]["replicas"] = json!(3);
        assert!(!contains(&desired, &live));
        live["spec"]["replicas"] = json!(2);
        live["metadata"]["labels"]["app"] = json!("other");
        assert!(!contains(&desired, &live));
    }

    #[test]
    fn health_worst_wins_and_missing_does_not_count() {
        let a = |live, health| Assessed { live, health };
        assert_eq!(
            aggregate(&[a(true, Some("Healthy")), a(true, Some("Progressing"))]),
            "Progressing"
        );
        assert_eq!(
            aggregate(&[a(true, Some("Suspended")), a(true, Some("Degraded"))]),
            "Degraded"
        );
        assert_eq!(
            aggregate(&[a(true, Some("Healthy")), a(false, Some("Missing"))]),
            "Healthy"
        );
        assert_eq!(
            aggregate(&[a(false, Some("Missing")), a(false, Some("Missing"))]),
            "Missing"
        );
        assert_eq!(aggregate(&[a(true, None)]), "Healthy");
    }

    #[test]
    fn deployment_and_rollout_health() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}});
        assert_eq!(resource_health(&d).map(|h| h.0), Some("Progressing"));
        d["status"]["replicas"] = json!(3);
        assert_eq!(resource_health(&d).map(|h| h.0), Some("Healthy"));
        d["metadata"]["generation"] = json!(3);
        assert_eq!(resource_health(&d).map(|h| h.0), Some("Progressing"));
        d["spec"]["paused"] = json!(true);
        assert_eq!(resource_health(&d).map(|h| h.0), Some("Suspended"));
        let r = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"generation": 1}, "status": {"observedGeneration": "1", "phase": "Paused"}});
        assert_eq!(resource_health(&r).map(|h| h.0), Some("Suspended"));
        let mut r = r.clone();
        r["status"] = json!({"phase": "Degraded", "message": "RolloutAborted"});
        assert_eq!(
            resource_health(&r),
            Some(("Degraded", "RolloutAborted".to_string()))
        );
        r["status"] = json!({"observedGeneration": "0", "phase": "Healthy"});
        assert_eq!(resource_health(&r).map(|h| h.0), Some("Progressing"));
        assert_eq!(
            resource_health(&json!({"apiVersion": "v1", "kind": "ConfigMap"})),
            None
        );
    }
}

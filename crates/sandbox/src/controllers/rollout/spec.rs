//! Reading a Rollout's spec as Argo Rollouts reads it: its strategy, steps and their defaults
//! (`utils/defaults`), the pod template hash and the steps hash (`utils/hash`,
//! `utils/conditions.ComputeStepHash`), pause durations (`RolloutPause.DurationSeconds`) and the
//! annotations and labels the controller puts on ReplicaSets and Services.

use serde_json::{Map, Value};

use super::super::deployment::{compute_hash, safe_encode};
use super::super::fnv::fnv32a;
use crate::object::{PointerLookup, int_at, str_at};

pub const GROUP: &str = "argoproj.io";
pub const VERSION: &str = "v1alpha1";
pub const PLURAL: &str = "rollouts";
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
pub const KIND: &str = "Rollout";
/// `v1alpha1.DefaultRolloutUniqueLabelKey`.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
pub const REVISION: &str = "rollout.argoproj.io/revision";
pub const REVISION_HISTORY: &str = "rollout.argoproj.io/revision-history";
pub const DESIRED_REPLICAS: &str = "rollout.argoproj.io/desired-replicas";
/// `v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey`.
pub const SCALE_DOWN_DEADLINE: &str = "argo-rollouts.argoproj.io/scale-down-deadline";
/// `v1alpha1.ManagedByRolloutsKey`, put on the Services whose selector the controller switches.
pub const MANAGED_BY: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";
/// Annotations never copied from a Rollout to its ReplicaSets (`annotationsToSkip`).
pub const ANNOTATIONS_TO_SKIP: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    "notified.notifications.argoproj.io",
];

pub const DEFAULT_PROGRESS_DEADLINE: i64 = 600;
pub const DEFAULT_SCALE_DOWN_DELAY: i64 = 30;
pub const DEFAULT_REVISION_HISTORY_LIMIT: i64 = 10;
/// How often the pod restarter looks again while pods still need a restart (`restartPodCheckTime`).
pub const RESTART_CHECK_SECONDS: f64 = 10.0;
/// A Rollout whose spec is invalid is looked at again after this (simulated seconds).
pub const INVALID_REQUEUE_SECONDS: f64 = 20.0;

pub fn replicas(ro: &Value) -> i64 {
    int_at(ro, "/spec/replicas", 1)
}

pub fn canary(ro: &Value) -> Option<&Value> {
    ro.at("/spec/strategy/canary").filter(|v| v.is_object())
}

pub fn blue_green(ro: &Value) -> Option<&Value> {
    ro.at("/spec/strategy/blueGreen").filter(|v| v.is_object())
}

pub fn steps(ro: &Value) -> &[Value] {
    canary(ro)
        .and_then(|c| c.get("steps"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn traffic_routing(ro: &Value) -> Option<&Value> {
    canary(ro)
        .and_then(|c| c.get("trafficRouting"))
        .filter(|v| v.is_object())
}

pub fn dynamic_stable_scale(ro: &Value) -> bool {
    canary(ro)
        .and_then(|c| c.get("dynamicStableScale"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// `weightutil.MaxTrafficWeight`.
pub fn max_weight(ro: &Value) -> i64 {
    traffic_routing(ro)
        .and_then(|t| t.get("maxTrafficWeight"))
        .and_then(Value::as_i64)
        .unwrap_or(100)
        // Weights are divided by it: never 0.
        .clamp(1, i64::from(i32::MAX))
}

pub fn paused(ro: &Value) -> bool {
    ro.at("/spec/paused").and_then(Value::as_bool) == Some(true)
}

pub fn canary_service(ro: &Value) -> &str {
    canary(ro).map_or("", |c| str_at(c, "/canaryService"))
}

pub fn stable_service(ro: &Value) -> &str {
    canary(ro).map_or("", |c| str_at(c, "/stableService"))
}

pub fn active_service(ro: &Value) -> &str {
    blue_green(ro).map_or("", |b| str_at(b, "/activeService"))
}

pub fn preview_service(ro: &Value) -> &str {
    blue_green(ro).map_or("", |b| str_at(b, "/previewService"))
}

/// The deprecated `intstr.GetValueFromIntOrPercent` Argo calls: an int is itself, any string is
/// a percentage of `total` (its `%` removed), rounded up or down.
pub fn int_or_percent(v: Option<&Value>, default: &str, total: i64, round_up: bool) -> i64 {
    let pct = |s: &str| -> i64 {
        let p: f64 = s.replace('%', "").trim().parse().unwrap_or(0.0);
        let v = p * total as f64 / 100.0;
        (if round_up { v.ceil() } else { v.floor() }) as i64
    };
    // An int32 in Argo: an absurd percentage cannot overflow the counts computed from it.
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => pct(s),
        _ => pct(default),
    }
    .clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// The Rollout as Argo's typed client reads it: every integer of its spec within int32 (the
/// CRD declares them int32; the sandbox's API does not check formats), so that no count, weight
/// or delay computed from them overflows.
pub fn clamped(ro: &Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                let i = n.as_i64().unwrap_or(i64::MAX);
                let c = i.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                if c != i {
                    *v = Value::from(c);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            Value::Object(m) => m.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut ro = ro.clone();
    if let Some(spec) = ro.get_mut("spec") {
        walk(spec);
    }
    ro
}

/// `resolveFenceposts` with Argo's defaults (25% and 25%): (maxSurge, maxUnavailable).
fn fenceposts(ro: &Value) -> (i64, i64) {
    let r = replicas(ro);
    let c = canary(ro);
    let surge_v = c.and_then(|c| c.get("maxSurge")).filter(|v| !v.is_null());
    let unavail_v = blue_green(ro)
        .and_then(|b| b.get("maxUnavailable"))
        .or_else(|| c.and_then(|c| c.get("maxUnavailable")))
        .filter(|v| !v.is_null());
    let surge = int_or_percent(surge_v, "25", r, true);
    let mut unavailable = int_or_percent(unavail_v, "25", r, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// `replicasetutil.MaxSurge`: 0 for blue-green.
pub fn max_surge(ro: &Value) -> i64 {
    if canary(ro).is_none() {
        return 0;
    }
    fenceposts(ro).0
}

/// `replicasetutil.MaxUnavailable`.
pub fn max_unavailable(ro: &Value) -> i64 {
    let r = replicas(ro);
    if r == 0 {
        return 0;
    }
    let u = if canary(ro).is_some() {
        fenceposts(ro).1
    } else {
        let v = blue_green(ro)
            .and_then(|b| b.get("maxUnavailable"))
            .filter(|v| !v.is_null());
        int_or_percent(v, "25", r, false)
    };
    u.min(r)
}

pub fn progress_deadline(ro: &Value) -> i64 {
    int_at(
        ro,
        "/spec/progressDeadlineSeconds",
        DEFAULT_PROGRESS_DEADLINE,
    )
}

pub fn progress_deadline_abort(ro: &Value) -> bool {
    ro.at("/spec/progressDeadlineAbort")
        .and_then(Value::as_bool)
        == Some(true)
}

/// `GetScaleDownDelaySecondsOrDefault`: blue-green 30 s unless set; a canary only with a traffic
/// router (30 s unless set), otherwise 0.
pub fn scale_down_delay(ro: &Value) -> i64 {
    if let Some(b) = blue_green(ro) {
        return int_at(b, "/scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY);
    }
    if let Some(c) = canary(ro)
        && traffic_routing(ro).is_some()
    {
        return int_at(c, "/scaleDownDelaySeconds", DEFAULT_SCALE_DOWN_DELAY);
    }
    0
}

/// `GetScaleDownRevisionLimit`.
pub fn scale_down_revision_limit(ro: &Value) -> i64 {
    blue_green(ro)
        .or_else(|| canary(ro))
        .and_then(|s| s.get("scaleDownDelayRevisionLimit"))
        .and_then(Value::as_i64)
        .unwrap_or(i64::from(i32::MAX))
}

pub fn revision_history_limit(ro: &Value) -> i64 {
    int_at(
        ro,
        "/spec/revisionHistoryLimit",
        DEFAULT_REVISION_HISTORY_LIMIT,
    )
}

/// blueGreen.autoPromotionEnabled (default true).
pub fn auto_promotion_enabled(ro: &Value) -> bool {
    blue_green(ro)
        .and_then(|b| b.get("autoPromotionEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

pub fn auto_promotion_seconds(ro: &Value) -> i64 {
    blue_green(ro).map_or(0, |b| int_at(b, "/autoPromotionSeconds", 0))
}

pub fn preview_replica_count(ro: &Value) -> Option<i64> {
    blue_green(ro)
        .and_then(|b| b.get("previewReplicaCount"))
        .and_then(Value::as_i64)
}

/// `RolloutPause.DurationSeconds`: `None` for an indefinite pause, -1 for a duration that cannot
/// be read; an int is seconds, a string is seconds ("30") or a Go duration ("10m", "1h30m").
pub fn pause_duration(pause: &Value) -> Option<i64> {
    let d = pause.get("duration").filter(|d| !d.is_null())?;
    Some(match d {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => go_duration_seconds(s).map_or(-1, |f| f.trunc() as i64),
        },
        _ => -1,
    })
}

/// Go's `time.ParseDuration`, in seconds.
pub fn go_duration_seconds(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(if neg { -total } else { total })
}

/// The pod template hash (`hash.ComputePodTemplateHash`): FNV-32a of the template without the
/// hash label, and the collision count, in the alphabet of `rand.SafeEncodeString`.
pub fn pod_template_hash(template: &Value, collision: Option<i64>) -> String {
    compute_hash(&template_without_hash(template), collision)
}

/// A pod template without the `rollouts-pod-template-hash` label.
pub fn template_without_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    t
}

/// Go's `json.Marshal` of a value with object keys in the order of `order` (struct field order),
/// other keys after them in sorted order; nested objects in sorted order.
fn go_json(v: &Value, order: &[&str], out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| {
                (
                    order.iter().position(|o| o == k).unwrap_or(order.len()),
                    (*k).clone(),
                )
            });
            let mut first = true;
            for k in keys {
                let x = &m[k];
                // omitempty: nulls and `false` are left out (the step's fields are pointers or
                // omitempty bools).
                if x.is_null() || x == &Value::Bool(false) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                let inner: &[&str] = match k.as_str() {
                    "setCanaryScale" => &["weight", "replicas", "matchTrafficWeight"],
                    _ => &[],
                };
                go_json(x, inner, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, order, out);
            }
            out.push(']');
        }
        x => out.push_str(&x.to_string()),
    }
}

/// `conditions.ComputeStepHash`: "" for blue-green; otherwise FNV-32a of the steps as Go marshals
/// them (`null` for no steps).
pub fn step_hash(ro: &Value) -> String {
    if blue_green(ro).is_some() || canary(ro).is_none() {
        return String::new();
    }
    let steps = canary(ro).and_then(|c| c.get("steps"));
    let mut s = String::new();
    match steps {
        Some(Value::Array(a)) => {
            const STEP: [&str; 8] = [
                "setWeight",
                "pause",
                "experiment",
                "analysis",
                "setCanaryScale",
                "setHeaderRoute",
                "setMirrorRoute",
                "plugin",
            ];
            go_json(&Value::Array(a.clone()), &STEP, &mut s);
        }
        _ => s.push_str("null"),
    }
    safe_encode(&fnv32a(s.as_bytes()).to_string())
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`.
pub fn format_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.and_then(Value::as_object) else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut keys: Vec<&String> = ml.keys().collect();
        keys.sort();
        for k in keys {
            parts.push(format!("{k}={}", ml[k].as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = str_at(e, "/key");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let part = match str_at(e, "/operator") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            };
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return "<none>".into();
    }
    parts.join(",")
}

/// A ReplicaSet's (or Service's selector's) `rollouts-pod-template-hash`.
pub fn rs_hash(rs: &Value) -> &str {
    str_at(rs, &format!("/metadata/labels/{HASH_LABEL}"))
}

pub fn annotation<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.at("/metadata/annotations")
        .and_then(|a| a.get(k))
        .and_then(Value::as_str)
}

/// `replicasetutil.Revision`: the revision annotation (0 when unset or not a number).
pub fn revision(v: &Value) -> i64 {
    annotation(v, REVISION)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The controller reference a Rollout's ReplicaSets carry.
pub fn owner_ref(ro: &Value) -> Value {
    serde_json::json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": str_at(ro, "/metadata/name"),
        "uid": str_at(ro, "/metadata/uid"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The labels of a map, for building selectors.
pub fn string_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations_and_pause_seconds() {
        assert_eq!(go_duration_seconds("10m"), Some(600.0));
        assert_eq!(go_duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(go_duration_seconds("1.5s"), Some(1.5));
        assert_eq!(go_duration_seconds("10"), None);
        assert_eq!(go_duration_seconds("abc"), None);
        assert_eq!(pause_duration(&json!({})), None);
        assert_eq!(pause_duration(&json!({"duration": 30})), Some(30));
        assert_eq!(pause_duration(&json!({"duration": "30"})), Some(30));
        assert_eq!(pause_duration(&json!({"duration": "30s"})), Some(30));
        assert_eq!(pause_duration(&json!({"duration": "10m"})), Some(600));
        assert_eq!(pause_duration(&json!({"duration": "1.9s"})), Some(1));
        assert_eq!(pause_duration(&json!({"duration": "soon"})), Some(-1));
    }

    #[test]
    fn fenceposts_follow_argo_defaults() {
        // Canary: maxSurge and maxUnavailable default to 25%.
        let ro = json!({"spec": {"replicas": 10, "strategy": {"canary": {}}}});
        assert_eq!((max_surge(&ro), max_unavailable(&ro)), (3, 2));
        let ro = json!({"spec": {"replicas": 1, "strategy": {"canary": {"maxSurge": 0, "maxUnavailable": 0}}}});
        assert_eq!((max_surge(&ro), max_unavailable(&ro)), (0, 1));
        // A string without `%` is still a percentage (the deprecated helper Argo uses).
        let ro = json!({"spec": {"replicas": 4, "strategy": {"canary": {"maxSurge": "50", "maxUnavailable": 1}}}});
        assert_eq!((max_surge(&ro), max_unavailable(&ro)), (2, 1));
        let ro =
            json!({"spec": {"replicas": 3, "strategy": {"blueGreen": {"activeService": "a"}}}});
        assert_eq!((max_surge(&ro), max_unavailable(&ro)), (0, 0));
        assert_eq!(scale_down_delay(&ro), 30);
        let ro = json!({"spec": {"strategy": {"canary": {}}}});
        assert_eq!(scale_down_delay(&ro), 0);
    }

    /// The steps hash Argo wrote for its fixture `canary-demo` (status.currentStepHash in
    /// tests/fixtures/argo/canary/canary-rollout.yaml): its steps when pause durations were ints
    /// (the fixture was recorded then; it now shows them as "10s", which hash differently).
    #[test]
    fn step_hash_matches_argo_for_its_fixture() {
        let ro = json!({"spec": {"strategy": {"canary": {"steps": [
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {"duration": 10}},
            {"setWeight": 60}, {"pause": {"duration": 10}}, {"setWeight": 80},
            {"pause": {"duration": 10}}
        ]}}}});
        assert_eq!(step_hash(&ro), "f64cdc9d");
        let bg = json!({"spec": {"strategy": {"blueGreen": {}}}});
        assert_eq!(step_hash(&bg), "");
    }

    #[test]
    fn selectors_format_as_kubectl_prints_them() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"},
                         "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(format_selector(Some(&sel)), "a=1,b=2,t in (x,y)");
    }

    #[test]
    fn template_hash_ignores_its_own_label() {
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}});
        let mut labelled = t.clone();
        labelled["metadata"]["labels"][HASH_LABEL] = json!("abc");
        assert_eq!(
            pod_template_hash(&t, None),
            pod_template_hash(&labelled, None)
        );
        assert_ne!(pod_template_hash(&t, None), pod_template_hash(&t, Some(1)));
    }
}

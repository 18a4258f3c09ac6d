//! A Rollout's status as Argo writes it: its conditions (`utils/conditions`: the reasons and
//! messages, `SetRolloutCondition`, `RolloutProgressing`, `RolloutHealthy`, `RolloutCompleted`)
//! and its phase (`utils/rollout.CalculateRolloutPhase`).

use serde_json::{Map, Value, json};

use super::counts;
use super::spec;
use crate::object::{int_at, str_at};

// Condition types.
pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const HEALTHY: &str = "Healthy";
pub const PAUSED: &str = "Paused";
pub const COMPLETED: &str = "Completed";
pub const INVALID_SPEC: &str = "InvalidSpec";

// Reasons and messages (`utils/conditions/conditions.go`).
pub const AVAILABLE_REASON: &str = "AvailableReason";
pub const NOT_AVAILABLE_MESSAGE: &str = "Rollout does not have minimum availability";
pub const AVAILABLE_MESSAGE: &str = "Rollout has minimum availability";
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const COMPLETED_REASON: &str = "RolloutCompleted";
pub const HEALTHY_REASON: &str = "RolloutHealthy";
pub const HEALTHY_MESSAGE: &str = "Rollout is healthy";
pub const NOT_HEALTHY_MESSAGE: &str = "Rollout is not healthy";
pub const ABORTED_REASON: &str = "RolloutAborted";
pub const RETRY_REASON: &str = "RolloutRetry";
pub const RETRY_MESSAGE: &str = "Retrying Rollout after abort";
pub const PAUSED_REASON: &str = "RolloutPaused";
pub const PAUSED_MESSAGE: &str = "Rollout is paused";
pub const RESUMED_REASON: &str = "RolloutResumed";
pub const RESUMED_MESSAGE: &str = "Rollout is resumed";
pub const RS_NOT_AVAILABLE_REASON: &str = "ReplicaSetNotAvailable";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const STEP_COMPLETED_REASON: &str = "RolloutStepCompleted";

/// Pause reasons.
pub const CANARY_PAUSE_STEP: &str = "CanaryPauseStep";
pub const BLUE_GREEN_PAUSE: &str = "BlueGreenPause";

/// `NewRolloutCondition`.
pub fn new_condition(t: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": t, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

pub fn get<'a>(status: &'a Value, t: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| str_at(c, "/type") == t)
}

pub fn remove(status: &mut Value, t: &str) {
    let mut empty = false;
    if let Some(a) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        a.retain(|c| str_at(c, "/type") != t);
        empty = a.is_empty();
    }
    if empty && let Some(o) = status.as_object_mut() {
        o.remove("conditions");
    }
}

/// `SetRolloutCondition`: nothing when status and reason are unchanged (false); the transition
/// time kept when the status is; the condition moves to the end.
pub fn set(status: &mut Value, mut cond: Value) -> bool {
    let t = str_at(&cond, "/type").to_string();
    if let Some(cur) = get(status, &t) {
        if str_at(cur, "/status") == str_at(&cond, "/status")
            && str_at(cur, "/reason") == str_at(&cond, "/reason")
        {
            return false;
        }
        if str_at(cur, "/status") == str_at(&cond, "/status") {
            cond["lastTransitionTime"] = cur["lastTransitionTime"].clone();
        }
    }
    remove(status, &t);
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    if let Some(a) = status["conditions"].as_array_mut() {
        a.push(cond);
    }
    true
}

fn bg_selector<'a>(st: &'a Value, which: &str) -> &'a str {
    str_at(st, &format!("/blueGreen/{which}"))
}

/// `conditions.RolloutProgressing`: something moved between the stored status and the new one.
pub fn progressing(ro: &Value, new: &Value) -> bool {
    let old = ro.get("status").unwrap_or(&Value::Null);
    let g = |v: &Value, k: &str| int_at(v, &format!("/{k}"), 0);
    let mut strategy = false;
    if spec::blue_green(ro).is_some() {
        strategy = bg_selector(old, "activeSelector") != bg_selector(new, "activeSelector")
            || bg_selector(old, "previewSelector") != bg_selector(new, "previewSelector");
    }
    if spec::canary(ro).is_some() {
        let stable_change = str_at(new, "/stableRS") != str_at(old, "/stableRS");
        let step_change = match (
            new.get("currentStepIndex").and_then(Value::as_i64),
            old.get("currentStepIndex").and_then(Value::as_i64),
        ) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        let hash_change = str_at(new, "/currentStepHash") != str_at(old, "/currentStepHash");
        strategy = stable_change || step_change || hash_change;
    }
    let old_old = g(old, "replicas") - g(old, "updatedReplicas");
    let new_old = g(new, "replicas") - g(new, "updatedReplicas");
    g(new, "updatedReplicas") != g(old, "updatedReplicas")
        || new_old < old_old
        || g(new, "readyReplicas") > g(old, "readyReplicas")
        || g(new, "availableReplicas") > g(old, "availableReplicas")
        || strategy
}

/// The generation as Argo writes status.observedGeneration: a string.
pub fn generation_string(ro: &Value) -> String {
    int_at(ro, "/metadata/generation", 0).to_string()
}

/// `conditions.RolloutHealthy`.
pub fn healthy(ro: &Value, new: &Value) -> bool {
    let r = spec::replicas(ro);
    let mut completed = true;
    if let Some(bg) = spec::blue_green(ro) {
        let hash = str_at(new, "/currentPodHash");
        let active = bg_selector(new, "activeSelector") == hash;
        let preview =
            str_at(bg, "/previewService").is_empty() || bg_selector(new, "previewSelector") == hash;
        completed = active && preview;
    }
    if spec::canary(ro).is_some() {
        let count = spec::steps(ro).len() as i64;
        let all_steps = match new.get("currentStepIndex").and_then(Value::as_i64) {
            Some(i) if count > 0 => i == count,
            _ => true,
        };
        let stable = str_at(new, "/stableRS");
        let is_stable = !stable.is_empty() && stable == str_at(new, "/currentPodHash");
        completed = all_steps && is_stable && int_at(new, "/replicas", 0) == r;
    }
    int_at(new, "/updatedReplicas", 0) == r
        && int_at(new, "/availableReplicas", 0) == r
        && str_at(ro, "/status/observedGeneration") == generation_string(ro)
        && completed
}

/// `conditions.RolloutCompleted`: the stable ReplicaSet is the current one.
pub fn completed(st: &Value) -> bool {
    let stable = str_at(st, "/stableRS");
    !stable.is_empty() && stable == str_at(st, "/currentPodHash")
}

pub fn pause_conditions(st: &Value) -> &[Value] {
    st.get("pauseConditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub fn pause_condition<'a>(st: &'a Value, reason: &str) -> Option<&'a Value> {
    pause_conditions(st)
        .iter()
        .find(|c| str_at(c, "/reason") == reason)
}

/// `isIndefiniteStep`: the current step waits on something without a deadline, or the Rollout
/// is paused.
pub fn indefinite_step(ro: &Value) -> bool {
    let (step, _) = counts::current_step(ro);
    if step.is_some_and(|s| {
        s.get("experiment").is_some() || s.get("analysis").is_some() || s.get("pause").is_some()
    }) {
        return true;
    }
    let st = ro.get("status").unwrap_or(&Value::Null);
    get(st, PAUSED).is_some_and(|c| str_at(c, "/status") == "True")
}

/// `rolloututil.CalculateRolloutPhase`: (phase, message).
pub fn phase(ro: &Value, st: &Value) -> (&'static str, String) {
    for c in st
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if str_at(c, "/type") == INVALID_SPEC {
            return (
                "Degraded",
                format!("{INVALID_SPEC}: {}", str_at(c, "/message")),
            );
        }
        let reason = str_at(c, "/reason");
        if reason == ABORTED_REASON || reason == TIMED_OUT_REASON {
            return ("Degraded", format!("{reason}: {}", str_at(c, "/message")));
        }
    }
    if spec::paused(ro) {
        return ("Paused", "manually paused".into());
    }
    if let Some(p) = pause_conditions(st).first() {
        return ("Paused", str_at(p, "/reason").to_string());
    }
    let restart_at = str_at(ro, "/spec/restartAt");
    if !restart_at.is_empty() && str_at(st, "/restartedAt") != restart_at {
        return ("Progressing", "rollout is restarting".into());
    }
    let updated = int_at(st, "/updatedReplicas", 0);
    if updated < spec::replicas(ro) {
        return ("Progressing", "more replicas need to be updated".into());
    }
    if int_at(st, "/availableReplicas", 0) < updated {
        return (
            "Progressing",
            "updated replicas are still becoming available".into(),
        );
    }
    let stable = str_at(st, "/stableRS");
    let promoted = !stable.is_empty() && stable == str_at(st, "/currentPodHash");
    if spec::blue_green(ro).is_some() {
        let active = bg_selector(st, "activeSelector");
        if active.is_empty() || active != str_at(st, "/currentPodHash") {
            return ("Progressing", "active service cutover pending".into());
        }
        if !promoted {
            return (
                "Progressing",
                "waiting for post-promotion verification to complete".into(),
            );
        }
    } else if spec::canary(ro).is_some() {
        if spec::traffic_routing(ro).is_none()
            && int_at(st, "/replicas", 0) > int_at(st, "/updatedReplicas", 0)
        {
            return ("Progressing", "old replicas are pending termination".into());
        }
        if !promoted {
            return ("Progressing", "waiting for all steps to complete".into());
        }
    }
    ("Healthy", String::new())
}

/// The keys of `status` that differ between `old` and `new`: the merge patch Argo sends
/// (`null` removes a key). `None` when nothing changed.
pub fn diff(old: &Value, new: &Value) -> Option<Map<String, Value>> {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut patch = Map::new();
    for (k, v) in n {
        if o.get(k) != Some(v) {
            patch.insert(k.clone(), v.clone());
        }
    }
    for k in o.keys() {
        if !n.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    (!patch.is_empty()).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_keeps_transition_time_and_skips_same_reason() {
        let mut st = json!({});
        assert!(set(
            &mut st,
            new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "m", "t1")
        ));
        assert!(!set(
            &mut st,
            new_condition(PROGRESSING, "True", RS_UPDATED_REASON, "m", "t2")
        ));
        assert!(set(
            &mut st,
            new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, "m", "t3")
        ));
        let c = get(&st, PROGRESSING).unwrap();
        assert_eq!(str_at(c, "/lastTransitionTime"), "t1");
        assert_eq!(str_at(c, "/lastUpdateTime"), "t3");
    }

    #[test]
    fn phases_follow_argo() {
        let ro = json!({"spec": {"replicas": 2, "strategy": {"canary": {}}}});
        let st = json!({"conditions": [new_condition(PROGRESSING, "False", ABORTED_REASON,
            "Rollout aborted update to revision 2", "t")]});
        assert_eq!(
            phase(&ro, &st),
            (
                "Degraded",
                "RolloutAborted: Rollout aborted update to revision 2".into()
            )
        );
        let st = json!({"pauseConditions": [{"reason": CANARY_PAUSE_STEP, "startTime": "t"}]});
        assert_eq!(phase(&ro, &st), ("Paused", CANARY_PAUSE_STEP.into()));
        let st = json!({"updatedReplicas": 2, "availableReplicas": 2, "replicas": 2,
                        "stableRS": "a", "currentPodHash": "a"});
        assert_eq!(phase(&ro, &st), ("Healthy", String::new()));
        let st = json!({"updatedReplicas": 2, "availableReplicas": 2, "replicas": 3,
                        "stableRS": "a", "currentPodHash": "b"});
        assert_eq!(
            phase(&ro, &st),
            ("Progressing", "old replicas are pending termination".into())
        );
    }

    #[test]
    fn diff_names_changed_and_removed_keys() {
        let old = json!({"a": 1, "b": 2, "c": 3});
        let new = json!({"a": 1, "b": 5, "d": 4});
        let p = diff(&old, &new).unwrap();
        assert_eq!(Value::Object(p), json!({"b": 5, "c": null, "d": 4}));
        assert!(diff(&old, &old).is_none());
    }
}

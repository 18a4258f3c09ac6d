//! Status conditions as the controllers read and set them, and the pod checks built on them.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::object::{PointerLookup, str_at};

/// `conditions[type=t]` of a status.
pub fn status_condition<'a>(status: &'a Value, t: &str) -> Option<&'a Value> {
    status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
}

/// `status.conditions[type=t]`.
pub fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    status_condition(obj.get("status")?, t)
}

pub fn condition_true(obj: &Value, t: &str) -> bool {
    condition(obj, t).is_some_and(|c| str_at(c, "/status") == "True")
}

pub fn is_terminal(pod: &Value) -> bool {
    matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// `controller.IsPodActive`.
pub fn is_pod_active(pod: &Value) -> bool {
    !is_terminal(pod) && pod.at("/metadata/deletionTimestamp").is_none()
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Parse a metav1.Time.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The monotonic instant of a wall-clock timestamp (for objects the controllers did not time
/// themselves, e.g. from a fixture).
pub fn instant_of_time(s: &str) -> Option<Instant> {
    let t = parse_time(s)?;
    let ago = (chrono::Utc::now() - t).to_std().unwrap_or(Duration::ZERO);
    let now = Instant::now();
    Some(now.checked_sub(ago).unwrap_or(now))
}

/// Set (or replace) a condition in a conditions array as the controllers' `SetCondition` helpers do:
/// lastTransitionTime is kept when the status does not change.
pub fn put_condition(conds: &mut Vec<Value>, mut cond: Value) {
    let t = str_at(&cond, "/type").to_string();
    if let Some(pos) = conds.iter().position(|c| str_at(c, "/type") == t) {
        let old = &conds[pos];
        if str_at(old, "/status") == str_at(&cond, "/status")
            && let Some(ltt) = old.get("lastTransitionTime")
        {
            cond["lastTransitionTime"] = ltt.clone();
        }
        conds[pos] = cond;
    } else {
        conds.push(cond);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn put_condition_keeps_transition_time() {
        let mut conds = vec![json!({"type": "A", "status": "True", "lastTransitionTime": "t0"})];
        put_condition(
            &mut conds,
            json!({"type": "A", "status": "True", "lastTransitionTime": "t1", "reason": "R"}),
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t0");
        put_condition(
            &mut conds,
            json!({"type": "A", "status": "False", "lastTransitionTime": "t2"}),
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t2");
    }
}

//! How many pods each ReplicaSet of a Rollout should run, as Argo computes it
//! (`utils/replicaset/canary.go`, `replicaset.go`, `bluegreen.go`): the canary's and the stable's
//! counts from the current weight without a traffic router (`CalculateReplicaCountsForBasicCanary`)
//! and with one (`CalculateReplicaCountsForTrafficRoutedCanary`), the current step and weight, and
//! whether the counts are reached. Plain functions over the Rollout and its ReplicaSets.

use serde_json::Value;

use super::spec::{self, HASH_LABEL};
use crate::object::{PointerLookup, int_at, name_of, str_at};

pub fn rs_spec(rs: &Value) -> i64 {
    int_at(rs, "/spec/replicas", 1)
}

pub fn rs_available(rs: &Value) -> i64 {
    int_at(rs, "/status/availableReplicas", 0)
}

pub fn rs_ready(rs: &Value) -> i64 {
    int_at(rs, "/status/readyReplicas", 0)
}

pub fn rs_actual(rs: &Value) -> i64 {
    int_at(rs, "/status/replicas", 0)
}

/// `GetReplicaCountForReplicaSets`: the sum of spec.replicas.
pub fn spec_sum<'a>(sets: impl IntoIterator<Item = &'a Value>) -> i64 {
    sets.into_iter().map(rs_spec).sum()
}

pub fn available_sum<'a>(sets: impl IntoIterator<Item = &'a Value>) -> i64 {
    sets.into_iter().map(rs_available).sum()
}

pub fn actual_sum<'a>(sets: impl IntoIterator<Item = &'a Value>) -> i64 {
    sets.into_iter().map(rs_actual).sum()
}

pub fn ready_sum<'a>(sets: impl IntoIterator<Item = &'a Value>) -> i64 {
    sets.into_iter().map(rs_ready).sum()
}

/// The Rollout's status.currentStepIndex, if set.
pub fn status_step_index(ro: &Value) -> Option<i64> {
    ro.at("/status/currentStepIndex").and_then(Value::as_i64)
}

/// `GetCurrentCanaryStep`: the current step (none past the last) and its index (none without steps).
pub fn current_step(ro: &Value) -> (Option<&Value>, Option<i64>) {
    let steps = spec::steps(ro);
    if spec::canary(ro).is_none() || steps.is_empty() {
        return (None, None);
    }
    let i = status_step_index(ro).unwrap_or(0);
    if i < 0 || i as usize >= steps.len() {
        return (None, Some(i));
    }
    (Some(&steps[i as usize]), Some(i))
}

fn aborted(ro: &Value) -> bool {
    ro.at("/status/abort").and_then(Value::as_bool) == Some(true)
}

fn promote_full(ro: &Value) -> bool {
    ro.at("/status/promoteFull").and_then(Value::as_bool) == Some(true)
}

/// `GetCurrentSetWeight`: the last setWeight at or before the current step; 0 when aborted; the
/// maximum past the last step.
pub fn current_set_weight(ro: &Value) -> i64 {
    if aborted(ro) {
        return 0;
    }
    let (step, idx) = current_step(ro);
    let (Some(_), Some(idx)) = (step, idx) else {
        return spec::max_weight(ro);
    };
    let steps = spec::steps(ro);
    for i in (0..=idx as usize).rev() {
        if let Some(w) = steps[i].get("setWeight").and_then(Value::as_i64) {
            return w;
        }
    }
    0
}

/// `UseSetCanaryScale`: the setCanaryScale in force (only with a traffic router; none when
/// aborted, nor after a matchTrafficWeight).
pub fn use_set_canary_scale(ro: &Value) -> Option<&Value> {
    spec::traffic_routing(ro)?;
    // Once aborted the canary scale is not used, unless abortScaleDownDelaySeconds is 0 (the
    // user asked to leave the canary scaled up).
    let keep_scaled = spec::canary(ro)
        .and_then(|c| c.get("abortScaleDownDelaySeconds"))
        .and_then(Value::as_i64)
        == Some(0);
    if aborted(ro) && !keep_scaled {
        return None;
    }
    let (step, idx) = current_step(ro);
    step?;
    let steps = spec::steps(ro);
    for i in (0..=idx? as usize).rev() {
        let Some(scs) = steps[i].get("setCanaryScale").filter(|v| v.is_object()) else {
            continue;
        };
        if scs.get("matchTrafficWeight").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        return Some(scs);
    }
    None
}

/// `GetCanaryReplicasOrWeight`: an explicit canary count, or the weight.
pub fn canary_replicas_or_weight(ro: &Value) -> (Option<i64>, i64) {
    let stable = str_at(ro, "/status/stableRS");
    if promote_full(ro) || stable.is_empty() || str_at(ro, "/status/currentPodHash") == stable {
        return (None, spec::max_weight(ro));
    }
    if let Some(scs) = use_set_canary_scale(ro) {
        if let Some(r) = scs.get("replicas").and_then(Value::as_i64) {
            return (Some(r), 0);
        }
        if let Some(w) = scs.get("weight").and_then(Value::as_i64) {
            return (None, w);
        }
    }
    (None, current_set_weight(ro))
}

fn floor_ceiling_tied(weight: i64, max_weight: i64, total: i64) -> bool {
    let v = total as f64 * (weight as f64 / max_weight as f64);
    v.fract() == 0.5
}

fn weight_delta(weight: i64, max_weight: i64, canary: i64, total: i64) -> f64 {
    ((canary * max_weight) as f64 / total as f64 - weight as f64).abs()
}

/// `approximateWeightedCanaryStableReplicaCounts`: (canary, stable) closest to the weight.
pub fn approximate(spec_replicas: i64, weight: i64, max_weight: i64, surge: i64) -> (i64, i64) {
    if spec_replicas == 0 {
        return (0, 0);
    }
    let exact = (spec_replicas * weight) as f64 / max_weight as f64;
    let ceil = exact.ceil() as i64;
    let floor = exact.floor() as i64;
    let tied = floor_ceiling_tied(weight, max_weight, spec_replicas);
    let zero_allowed = weight == max_weight || weight == 0 || (spec_replicas == 1 && surge == 0);
    let mut options: Vec<(i64, i64)> = Vec::new();
    if ceil < spec_replicas || zero_allowed {
        options.push((ceil, spec_replicas));
    }
    if !tied && (floor != 0 || zero_allowed) {
        options.push((floor, spec_replicas));
    }
    if surge > 0 {
        options.push((ceil, spec_replicas + 1));
        let surge_tied = floor_ceiling_tied(weight, max_weight, spec_replicas + 1);
        if !surge_tied && (floor != 0 || zero_allowed) {
            options.push((floor, spec_replicas + 1));
        }
    }
    let Some(first) = options.first().copied() else {
        return (0, spec_replicas);
    };
    let mut best = first;
    let mut best_delta = weight_delta(weight, max_weight, best.0, best.1);
    for o in options.into_iter().skip(1) {
        let d = weight_delta(weight, max_weight, o.0, o.1);
        if d < best_delta {
            best = o;
            best_delta = d;
        }
    }
    (best.0, best.1 - best.0)
}

/// `CheckStableRSExists`: a stable ReplicaSet that is not the new one.
pub fn stable_exists(new: Option<&Value>, stable: Option<&Value>) -> bool {
    match (new, stable) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(n), Some(s)) => name_of(n) != name_of(s),
    }
}

/// `GetReplicasForScaleDown`.
fn replicas_for_scale_down(rs: Option<&Value>, ignore_availability: bool) -> i64 {
    let Some(rs) = rs else { return 0 };
    if rs_spec(rs) < rs_available(rs) || ignore_availability {
        return rs_spec(rs);
    }
    rs_available(rs)
}

/// `calculateScaleDownReplicaCount`.
fn scale_down_count(drain: Option<&Value>, desired: i64, scale_down: i64, current: i64) -> i64 {
    match drain {
        Some(rs) if rs_spec(rs) > desired => desired.max(rs_spec(rs) - scale_down),
        _ => current,
    }
}

/// `adjustReplicaWithinLimits`: (drain, adjust).
fn adjust_within_limits(
    drain: Option<&Value>,
    adjust: Option<&Value>,
    mut drain_count: i64,
    mut adjust_count: i64,
    max_allowed: i64,
    min_available: i64,
) -> (i64, i64) {
    let mut over = (adjust_count + drain_count - max_allowed).max(0);
    let mut total_available = 0;
    if let Some(d) = drain {
        total_available += rs_available(d).min(drain_count);
    }
    if let Some(a) = adjust {
        adjust_count -= over;
        total_available += rs_available(a).min(adjust_count);
        let extra = (rs_available(a) - adjust_count).max(0);
        let more_needed = (min_available - total_available).max(0);
        adjust_count += extra.min(more_needed);
        over = (adjust_count + drain_count - max_allowed).max(0);
        drain_count -= over;
    }
    (drain_count, adjust_count)
}

/// `CalculateReplicaCountsForBasicCanary`: (new, stable) counts for the current weight without a
/// traffic router, within maxSurge and maxUnavailable, old ReplicaSets scaled down first.
pub fn basic_canary_counts(
    ro: &Value,
    new: Option<&Value>,
    stable: Option<&Value>,
    others: &[&Value],
) -> (i64, i64) {
    let spec_replicas = spec::replicas(ro);
    let (_, weight) = canary_replicas_or_weight(ro);
    let surge = spec::max_surge(ro);
    let max_weight = spec::max_weight(ro);
    let (mut desired_new, mut desired_stable) =
        approximate(spec_replicas, weight, max_weight, surge);
    let mut stable_count = 0;
    let mut new_count = new.map_or(0, rs_spec);
    let scale_stable = stable_exists(new, stable);
    if scale_stable {
        stable_count = stable.map_or(0, rs_spec);
    } else {
        desired_new = spec_replicas;
        desired_stable = 0;
    }
    let max_allowed = spec_replicas + surge;
    let mut all: Vec<&Value> = others.to_vec();
    all.extend(new);
    if scale_stable {
        all.extend(stable);
    }
    let mut scale_up = max_allowed - spec_sum(all.iter().copied());
    if scale_stable
        && let Some(s) = stable
        && rs_spec(s) < desired_stable
        && scale_up > 0
    {
        if rs_spec(s) + scale_up < desired_stable {
            stable_count = rs_spec(s) + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - rs_spec(s);
        }
    }
    if let Some(n) = new
        && rs_spec(n) < desired_new
        && scale_up > 0
    {
        new_count = if rs_spec(n) + scale_up < desired_new {
            rs_spec(n) + scale_up
        } else {
            desired_new
        };
    }
    if spec_sum(others.iter().copied()) > 0 {
        return (new_count, stable_count);
    }
    let min_available = spec_replicas - spec::max_unavailable(ro);
    let increasing = new.is_none_or(|n| desired_new >= rs_spec(n));
    let to_scale_down =
        replicas_for_scale_down(new, !increasing) + replicas_for_scale_down(stable, increasing);
    if to_scale_down <= min_available {
        return (new_count, stable_count);
    }
    let scale_down = to_scale_down - min_available;
    if !increasing {
        new_count = scale_down_count(new, desired_new, scale_down, new_count);
        (new_count, stable_count) = adjust_within_limits(
            new,
            stable,
            new_count,
            stable_count,
            max_allowed,
            min_available,
        );
    } else if scale_stable {
        stable_count = scale_down_count(stable, desired_stable, scale_down, stable_count);
        (stable_count, new_count) = adjust_within_limits(
            stable,
            new,
            stable_count,
            new_count,
            max_allowed,
            min_available,
        );
    }
    (new_count, stable_count)
}

/// `trafficWeightToReplicas`: rounded up.
pub fn weight_to_replicas(replicas: i64, weight: i64, max_weight: i64) -> i64 {
    ((weight * replicas) as f64 / max_weight as f64).ceil() as i64
}

/// `CheckMinPodsPerReplicaSet`.
fn min_pods(ro: &Value, count: i64) -> i64 {
    if count == 0 || spec::traffic_routing(ro).is_none() {
        return count;
    }
    match spec::canary(ro)
        .and_then(|c| c.get("minPodsPerReplicaSet"))
        .and_then(Value::as_i64)
    {
        Some(m) => count.max(m.min(spec::replicas(ro))),
        None => count,
    }
}

/// `CalculateReplicaCountsForTrafficRoutedCanary`: (canary, stable).
pub fn traffic_routed_counts(ro: &Value, weights: Option<&Value>) -> (i64, i64) {
    let r = spec::replicas(ro);
    let (explicit, weight) = canary_replicas_or_weight(ro);
    let max_weight = spec::max_weight(ro);
    let mut canary = match explicit {
        Some(c) => c,
        None => min_pods(ro, weight_to_replicas(r, weight, max_weight)),
    };
    if !spec::dynamic_stable_scale(ro) {
        return (canary, r);
    }
    let mut stable = weight_to_replicas(r, max_weight - weight, max_weight);
    if let Some(w) = weights {
        let stable_w = int_at(w, "/stable/weight", 0);
        stable = stable.max(weight_to_replicas(r, stable_w, max_weight));
        if aborted(ro) {
            let canary_w = int_at(w, "/canary/weight", 0);
            canary = canary.max(weight_to_replicas(r, canary_w, max_weight));
        }
    }
    (min_pods(ro, canary), min_pods(ro, stable))
}

/// `ReplicaProgressThresholdMet` without a threshold: every desired pod available.
fn all_desired_available(rs: Option<&Value>, desired: i64) -> bool {
    rs.is_some_and(|rs| desired == rs_spec(rs) && desired == rs_available(rs))
}

/// `ReplicaProgressThresholdMet`.
pub fn progress_threshold_met(ro: &Value, rs: Option<&Value>, desired: i64) -> bool {
    let t = spec::canary(ro).and_then(|c| c.get("replicaProgressThreshold"));
    let Some(t) = t.filter(|t| t.is_object()) else {
        return all_desired_available(rs, desired);
    };
    let value = int_at(t, "/value", -1);
    let Some(rs) = rs.filter(|_| value >= 0) else {
        return all_desired_available(rs, desired);
    };
    if str_at(t, "/type") == "Percent" {
        if desired == 0 {
            return true;
        }
        let pct = rs_available(rs) as f64 / desired as f64 * 100.0;
        return pct >= value as f64 || (pct - value as f64).abs() <= 1e-10;
    }
    rs_available(rs) >= value
}

/// `AtDesiredReplicaCountsForCanary`.
pub fn at_desired_counts(
    ro: &Value,
    new: Option<&Value>,
    stable: Option<&Value>,
    others: &[&Value],
    weights: Option<&Value>,
) -> bool {
    let (desired_new, desired_stable) = if spec::traffic_routing(ro).is_none() {
        basic_canary_counts(ro, new, stable, others)
    } else {
        traffic_routed_counts(ro, weights)
    };
    if !progress_threshold_met(ro, new, desired_new) {
        return false;
    }
    if (spec::traffic_routing(ro).is_none() || !spec::dynamic_stable_scale(ro))
        && !stable.is_some_and(|s| desired_stable == rs_spec(s) && desired_stable == rs_actual(s))
    {
        return false;
    }
    if spec::traffic_routing(ro).is_none() && available_sum(others.iter().copied()) != 0 {
        return false;
    }
    true
}

/// `GetStableRS`: the ReplicaSet whose hash is status.stableRS.
pub fn find_stable<'a>(ro: &Value, new: Option<&'a Value>, all: &'a [Value]) -> Option<&'a Value> {
    let stable = str_at(ro, "/status/stableRS");
    if stable.is_empty() {
        return None;
    }
    if let Some(n) = new
        && spec::rs_hash(n) == stable
    {
        return Some(n);
    }
    all.iter().find(|rs| spec::rs_hash(rs) == stable)
}

/// `GetReplicaSetByTemplateHash`.
pub fn by_hash<'a>(all: &'a [Value], hash: &str) -> Option<&'a Value> {
    if hash.is_empty() {
        return None;
    }
    all.iter()
        .find(|rs| str_at(rs, &format!("/metadata/labels/{HASH_LABEL}")) == hash)
}

/// `NewRSNewReplicas`: how many pods the new ReplicaSet should run.
pub fn new_rs_new_replicas(ro: &Value, all: &[Value], new: &Value, weights: Option<&Value>) -> i64 {
    let r = spec::replicas(ro);
    if spec::blue_green(ro).is_some() {
        let Some(preview) = spec::preview_replica_count(ro) else {
            return r;
        };
        let active = by_hash(all, str_at(ro, "/status/blueGreen/activeSelector"));
        if active.is_none_or(|a| name_of(a) == name_of(new)) || promote_full(ro) {
            return r;
        }
        if spec::rs_hash(new) != str_at(ro, "/status/currentPodHash") {
            return preview;
        }
        let not_paused = !spec::paused(ro)
            && ro
                .at("/status/pauseConditions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        let checkpoint = ro
            .at("/status/blueGreen/scaleUpPreviewCheckPoint")
            .and_then(Value::as_bool)
            == Some(true);
        if not_paused && checkpoint {
            return r;
        }
        return preview;
    }
    let stable = find_stable(ro, Some(new), all);
    if spec::traffic_routing(ro).is_none() {
        let others: Vec<&Value> = all
            .iter()
            .filter(|rs| {
                name_of(rs) != name_of(new) && stable.is_none_or(|s| name_of(s) != name_of(rs))
            })
            .collect();
        basic_canary_counts(ro, Some(new), stable, &others).0
    } else {
        traffic_routed_counts(ro, weights).0
    }
}

/// `ReadyForPause` (blue-green): the new ReplicaSet is at its count and all of it available.
pub fn ready_for_pause(ro: &Value, new: &Value, all: &[Value]) -> bool {
    let n = new_rs_new_replicas(ro, all, new, None);
    rs_spec(new) == n && rs_available(new) == n
}

/// `annotations.IsSaturated`.
pub fn is_saturated(ro: &Value, rs: Option<&Value>) -> bool {
    let Some(rs) = rs else { return false };
    let r = spec::replicas(ro);
    let desired = spec::annotation(rs, spec::DESIRED_REPLICAS).and_then(|s| s.parse::<i64>().ok());
    rs_spec(rs) == r && desired == Some(r) && rs_available(rs) == r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, hash: &str, spec: i64, available: i64) -> Value {
        json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash}},
               "spec": {"replicas": spec},
               "status": {"replicas": spec, "availableReplicas": available}})
    }

    struct Case {
        name: &'static str,
        replicas: i64,
        weight: i64,
        surge: Value,
        unavailable: Value,
        promote_full: bool,
        abort: bool,
        stable: (i64, i64),
        canary: (i64, i64),
        older: Option<(i64, i64)>,
        scs: Value,
        routed: bool,
        min_pods: Option<i64>,
        abort_delay: Option<i64>,
        want: (i64, i64),
    }

    /// Every case of Argo's `TestCalculateReplicaCountsForCanary` (utils/replicaset/canary_test.go
    /// at the commit the fixtures were copied from), converted from its table.
    #[test]
    fn replica_counts_match_argos_test_table() {
        let cases = [
            Case {
                name: "Do not add extra RSs in scaleDownCount when .Spec.Replica < AvailableReplicas",
                replicas: 10,
                weight: 100,
                surge: json!(3),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (7, 8),
                canary: (6, 3),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (6, 7),
            },
            Case {
                name: "Use max surge int to scale up canary",
                replicas: 10,
                weight: 20,
                surge: json!(2),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "Use max surge percentage to scale up canary",
                replicas: 10,
                weight: 20,
                surge: json!("20%"),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "Scale down extra stable replicas",
                replicas: 10,
                weight: 20,
                surge: json!("20%"),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (2, 2),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 8),
            },
            Case {
                name: "Do not go past max surge",
                replicas: 10,
                weight: 30,
                surge: json!(2),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "Use max unavailable int to scale down stableRS",
                replicas: 10,
                weight: 20,
                surge: json!(0),
                unavailable: json!(2),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 8),
            },
            Case {
                name: "Use max surge percentage to scale down stableRS",
                replicas: 10,
                weight: 20,
                surge: json!(0),
                unavailable: json!("20%"),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 8),
            },
            Case {
                name: "Do not go past max unavailable",
                replicas: 10,
                weight: 30,
                surge: json!(0),
                unavailable: json!(2),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 8),
            },
            Case {
                name: "Use Max Surge and Max Unavailable",
                replicas: 10,
                weight: 50,
                surge: json!(2),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 9),
            },
            Case {
                name: "Scale canaryRS to zero on setWeight of 0%",
                replicas: 10,
                weight: 0,
                surge: json!(1),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (1, 1),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 10),
            },
            Case {
                name: "Scale stable to zero on setWeight of 100%",
                replicas: 10,
                weight: 100,
                surge: json!(1),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (10, 10),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (10, 0),
            },
            Case {
                name: "Do not scale canaryRS down to zero on non-zero weight",
                replicas: 1,
                weight: 20,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 1),
            },
            Case {
                name: "Do not scale canaryRS down to zero on non-100 weight",
                replicas: 1,
                weight: 90,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 1),
            },
            Case {
                name: "Scale canaryRS to zero on <50 weight without surge",
                replicas: 1,
                weight: 49,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 1),
            },
            Case {
                name: "Scale stableRS down to zero on >=50 weight without surge",
                replicas: 1,
                weight: 51,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 0),
            },
            Case {
                name: "Scale canaryRS to one on >=50 weight without surge and stable replicas",
                replicas: 1,
                weight: 51,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (0, 0),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 0),
            },
            Case {
                name: "Scale up Stable before canaryRS",
                replicas: 10,
                weight: 30,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: Some((3, 3)),
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 7),
            },
            Case {
                name: "Scale down canaryRS and stable",
                replicas: 10,
                weight: 30,
                surge: json!(0),
                unavailable: json!(3),
                promote_full: false,
                abort: false,
                stable: (8, 5),
                canary: (4, 4),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (3, 7),
            },
            Case {
                name: "Scale down stable and canary available",
                replicas: 10,
                weight: 100,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 2),
                canary: (10, 8),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (9, 2),
            },
            Case {
                name: "Do not scale down canaryRS or stable when older RS count >= scaleDownCount",
                replicas: 10,
                weight: 30,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (8, 6),
                canary: (4, 2),
                older: Some((3, 3)),
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (4, 8),
            },
            Case {
                name: "Do not round past maxSurge with uneven setWeight divisor",
                replicas: 10,
                weight: 5,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 9),
            },
            Case {
                name: "Do not round past maxSurge with uneven setWeight divisor (part 2)",
                replicas: 10,
                weight: 5,
                surge: json!(0),
                unavailable: json!(1),
                promote_full: false,
                abort: false,
                stable: (9, 9),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 9),
            },
            Case {
                name: "Use maxUnavailable of 1 when percentage of maxUnavailable and maxSurge result in 0 replicas",
                replicas: 10,
                weight: 10,
                surge: json!("0%"),
                unavailable: json!("0%"),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 9),
            },
            Case {
                name: "For canary replicas, use setCanaryScale.replicas when specified along with trafficRouting (and ignore setWeight)",
                replicas: 1,
                weight: 100,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: json!({"replicas": 9}),
                routed: true,
                min_pods: None,
                abort_delay: None,
                want: (9, 1),
            },
            Case {
                name: "Use setCanaryScale.weight for canary replicas when specified with trafficRouting (and ignore setWeight)",
                replicas: 4,
                weight: 100,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (4, 4),
                canary: (0, 0),
                older: None,
                scs: json!({"weight": 200}),
                routed: true,
                min_pods: None,
                abort_delay: None,
                want: (8, 4),
            },
            Case {
                name: "Ignore setCanaryScale replicas/weight when matchTrafficWeight is true",
                replicas: 10,
                weight: 20,
                surge: json!("20%"),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: json!({"replicas": 9, "weight": 100, "matchTrafficWeight": true}),
                routed: true,
                min_pods: None,
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "Ignore setCanaryScale when trafficRouting is missing and use setWeight for replicas",
                replicas: 10,
                weight: 20,
                surge: json!("20%"),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: json!({"replicas": 9, "weight": 100}),
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "honor maxSurge during scale up when stableRS unavailable",
                replicas: 4,
                weight: 100,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (4, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 4),
            },
            Case {
                name: "scale down to maxunavailable without exceeding maxSurge",
                replicas: 3,
                weight: 99,
                surge: json!(0),
                unavailable: json!(2),
                promote_full: false,
                abort: false,
                stable: (3, 3),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (0, 1),
            },
            Case {
                name: "scale down to maxunavailable without exceeding maxSurge (part 2)",
                replicas: 3,
                weight: 99,
                surge: json!(0),
                unavailable: json!(2),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (2, 1),
            },
            Case {
                name: "honor maxUnavailable during scale down stableRS unavailable",
                replicas: 4,
                weight: 100,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (4, 1),
                canary: (1, 1),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (1, 3),
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 1",
                replicas: 4,
                weight: 0,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (0, 0),
                canary: (4, 4),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (4, 1),
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 2",
                replicas: 4,
                weight: 0,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 0),
                canary: (4, 4),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (4, 1),
            },
            Case {
                name: "honor maxUnavailable when aborting or reducing weight part 3",
                replicas: 4,
                weight: 0,
                surge: json!(1),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (1, 1),
                canary: (4, 4),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (3, 1),
            },
            Case {
                name: "promote full does not consider weight",
                replicas: 4,
                weight: 1,
                surge: json!(4),
                unavailable: json!(4),
                promote_full: true,
                abort: false,
                stable: (4, 4),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (4, 0),
            },
            Case {
                name: "promote full still honors maxSurge/maxUnavailable",
                replicas: 4,
                weight: 1,
                surge: json!(3),
                unavailable: json!(0),
                promote_full: true,
                abort: false,
                stable: (4, 4),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: false,
                min_pods: None,
                abort_delay: None,
                want: (3, 4),
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds:0 and setCanaryScale",
                replicas: 1,
                weight: 0,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: false,
                abort: true,
                stable: (1, 1),
                canary: (1, 1),
                older: None,
                scs: json!({"replicas": 1}),
                routed: true,
                min_pods: None,
                abort_delay: Some(0),
                want: (1, 1),
            },
            Case {
                name: "aborted with abortScaleDownDelaySeconds>0 and setCanaryScale",
                replicas: 1,
                weight: 0,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: false,
                abort: true,
                stable: (1, 1),
                canary: (1, 1),
                older: None,
                scs: json!({"replicas": 1}),
                routed: true,
                min_pods: None,
                abort_delay: Some(30),
                want: (0, 1),
            },
            Case {
                name: "Honor MinPodsPerReplicaSet when using trafficRouting and starting canary",
                replicas: 10,
                weight: 5,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: false,
                abort: false,
                stable: (10, 10),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: true,
                min_pods: Some(2),
                abort_delay: None,
                want: (2, 10),
            },
            Case {
                name: "Cap MinPodsPerReplicaSet when it exceeds rollout replicas with trafficRouting",
                replicas: 1,
                weight: 100,
                surge: json!(0),
                unavailable: json!(0),
                promote_full: true,
                abort: false,
                stable: (1, 1),
                canary: (0, 0),
                older: None,
                scs: Value::Null,
                routed: true,
                min_pods: Some(2),
                abort_delay: None,
                want: (1, 1),
            },
        ];
        let mut failed = Vec::new();
        for c in &cases {
            let mut ro = json!({
                "spec": {"replicas": c.replicas, "strategy": {"canary": {
                    "maxSurge": c.surge, "maxUnavailable": c.unavailable,
                    "steps": [{"setWeight": c.weight}]}}},
                "status": {"stableRS": "stable", "currentPodHash": "canary",
                           "promoteFull": c.promote_full, "abort": c.abort}
            });
            if !c.scs.is_null() {
                ro["spec"]["strategy"]["canary"]["steps"][0]["setCanaryScale"] = c.scs.clone();
            }
            if c.routed {
                ro["spec"]["strategy"]["canary"]["trafficRouting"] = json!({});
            }
            if let Some(m) = c.min_pods {
                ro["spec"]["strategy"]["canary"]["minPodsPerReplicaSet"] = json!(m);
            }
            if let Some(d) = c.abort_delay {
                ro["spec"]["strategy"]["canary"]["abortScaleDownDelaySeconds"] = json!(d);
            }
            let stable = rs("stable", "stable", c.stable.0, c.stable.1);
            let canary = rs("canary", "canary", c.canary.0, c.canary.1);
            let older = c.older.map(|(s, a)| rs("older", "older", s, a));
            let others: Vec<&Value> = older.iter().collect();
            let got = if c.routed {
                traffic_routed_counts(&ro, None)
            } else {
                basic_canary_counts(&ro, Some(&canary), Some(&stable), &others)
            };
            if got != c.want {
                failed.push(format!("{}: got {got:?}, Argo's {:?}", c.name, c.want));
            }
        }
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(cases.len(), 40);
    }

    #[test]
    fn approximation_prefers_the_closest_weight() {
        assert_eq!(approximate(10, 25, 100, 3), (3, 8));
        assert_eq!(approximate(4, 25, 100, 1), (1, 3));
        assert_eq!(approximate(3, 50, 100, 0), (2, 1));
        assert_eq!(approximate(100, 5, 100, 25), (5, 95));
        assert_eq!(approximate(5, 0, 100, 2), (0, 5));
        assert_eq!(approximate(5, 100, 100, 2), (5, 0));
    }

    #[test]
    fn without_a_stable_the_new_set_goes_to_all_replicas() {
        let ro = json!({"spec": {"replicas": 4, "strategy": {"canary": {
            "steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"stableRS": "", "currentPodHash": "n", "currentStepIndex": 0}});
        let new = rs("web-n", "n", 0, 0);
        assert_eq!(basic_canary_counts(&ro, Some(&new), None, &[]), (4, 0));
    }

    #[test]
    fn set_weight_and_steps() {
        let mut ro = json!({"spec": {"strategy": {"canary": {"steps": [
            {"setWeight": 5}, {"pause": {}}, {"setWeight": 25}, {"pause": {"duration": 10}}]}}},
            "status": {"currentStepIndex": 3, "stableRS": "s", "currentPodHash": "n"}});
        assert_eq!(current_set_weight(&ro), 25);
        ro["status"]["currentStepIndex"] = json!(4);
        assert_eq!(current_set_weight(&ro), 100);
        assert_eq!(current_step(&ro), (None, Some(4)));
        ro["status"]["currentStepIndex"] = json!(1);
        ro["status"]["abort"] = json!(true);
        assert_eq!(current_set_weight(&ro), 0);
        // setCanaryScale is ignored without a traffic router, as in Argo.
        let ro = json!({"spec": {"strategy": {"canary": {"steps": [
            {"setCanaryScale": {"replicas": 3}}, {"setWeight": 10}]}}},
            "status": {"currentStepIndex": 0, "stableRS": "s", "currentPodHash": "n"}});
        assert_eq!(canary_replicas_or_weight(&ro), (None, 0));
        let mut routed = ro.clone();
        routed["spec"]["strategy"]["canary"]["trafficRouting"] = json!({"nginx": {}});
        assert_eq!(canary_replicas_or_weight(&routed), (Some(3), 0));
    }
}

//! The job controller (`pkg/controller/job/job_controller.go`), for NonIndexed jobs.
//!
//! A sync counts each finished pod once (Succeeded → `succeeded`; Failed, or terminating and not
//! Succeeded as `podReplacementPolicy: TerminatingOrFailed` counts it → `failed`), keeps
//! min(parallelism, completions − succeeded) pods active, delaying a replacement after failures by
//! the pod failure back-off (10 s doubling, at most 10 min), and finishes the job:
//! - success: `SuccessCriteriaMet` (reason CompletionsReached, "Reached expected number of succeeded
//!   pods"), then, with no pod left running, `Complete`, `completionTime` and a "Completed" event;
//! - failure: more failures than `backoffLimit` (or, with restartPolicy OnFailure, as many container
//!   restarts) gives `FailureTarget` (reason BackoffLimitExceeded, "Job has reached the specified
//!   backoff limit"), the active pods are deleted, then `Failed` with a BackoffLimitExceeded warning
//!   event. `activeDeadlineSeconds` fails it the same way with DeadlineExceeded.
//!
//! `suspend` deletes the active pods and sets Suspended. Status: startTime, active, ready, succeeded,
//! failed, terminating, uncountedTerminatedPods, conditions, completionTime. Pods carry the labels the
//! API server put in the template (`batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name`,
//! `controller-uid`, `job-name`). The `batch.kubernetes.io/job-tracking` finalizer is not used: each
//! finished pod is counted once by uid in memory instead.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::conditions::{
    condition, condition_true, instant_of_time, is_pod_active, is_pod_ready, is_terminal,
    put_condition,
};
use super::events::Source;
use super::manager::{Manager, Work};
use super::replicaset::{claim_pods, pod_from_template};
use crate::object::{PointerLookup, int_at, key_of, name_of, resource_version_of, str_at, uid_of};
use crate::resources::by_kind;
use crate::store::{self, DeleteOptions};

const COMPONENT: &str = "job-controller";
/// `DefaultJobPodFailureBackOff` and `MaxJobPodFailureBackOff`, in simulated seconds.
const POD_FAILURE_BACKOFF: f64 = 10.0;
const MAX_POD_FAILURE_BACKOFF: f64 = 600.0;

fn new_condition(t: &str, reason: &str, message: &str) -> Value {
    let now = store::now();
    json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

/// `pastBackoffLimitOnFailure`.
fn past_backoff_limit_on_failure(job: &Value, pods: &[Arc<Value>]) -> bool {
    if str_at(job, "/spec/template/spec/restartPolicy") != "OnFailure" {
        return false;
    }
    let mut restarts = 0;
    for p in pods {
        if matches!(str_at(p, "/status/phase"), "Running" | "Pending") {
            for list in ["initContainerStatuses", "containerStatuses"] {
                for c in p
                    .at(&format!("/status/{list}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    restarts += int_at(c, "/restartCount", 0);
                }
            }
        }
    }
    let limit = int_at(job, "/spec/backoffLimit", 6);
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let jrt = by_kind("Job");
    let Ok(job) = m.shared.store.get(jrt, ns, name) else {
        return;
    };
    if job.at("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let uid = uid_of(&job).to_string();
    let store = m.shared.store.clone();
    let pods = claim_pods(m, &job, "Job");
    let now = Instant::now();
    let finished = condition_true(&job, "Complete") || condition_true(&job, "Failed");
    if finished {
        ttl_after_finished(m, &job);
    }
    let fresh = !m.jobs.jobs.contains_key(&uid);
    let rt = m.jobs.jobs.entry(uid.clone()).or_default();
    if fresh {
        // Pods that finished before this controller started are already in the status.
        for p in &pods {
            if is_terminal(p) {
                rt.counted.insert(uid_of(p).to_string());
            }
        }
    }

    let mut status = job.get("status").cloned().unwrap_or(json!({}));
    if !status.is_object() {
        status = json!({});
    }
    let mut succeeded = int_at(&status, "/succeeded", 0);
    let mut failed = int_at(&status, "/failed", 0);
    for p in &pods {
        let puid = uid_of(p).to_string();
        if rt.counted.contains(&puid) {
            continue;
        }
        let phase = str_at(p, "/status/phase");
        if phase == "Succeeded" {
            succeeded += 1;
            rt.counted.insert(puid);
            rt.failures_since_success = 0;
        } else if phase == "Failed"
            || (p.at("/metadata/deletionTimestamp").is_some() && phase != "Succeeded")
        {
            failed += 1;
            rt.counted.insert(puid);
            rt.failures_since_success += 1;
            rt.last_failure = Some(now);
        }
    }
    let failures = rt.failures_since_success;
    let last_failure = rt.last_failure;
    let mut active: Vec<Arc<Value>> = pods.iter().filter(|p| is_pod_active(p)).cloned().collect();
    let terminating = pods
        .iter()
        .filter(|p| p.at("/metadata/deletionTimestamp").is_some() && !is_terminal(p))
        .count() as i64;
    let mut conds: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut events: Vec<(&str, String, String)> = Vec::new();
    let suspended = job.at("/spec/suspend").and_then(Value::as_bool) == Some(true);
    if !finished {
        if suspended {
            if !condition_true(&job, "Suspended") {
                put_condition(
                    &mut conds,
                    new_condition("Suspended", "JobSuspended", "Job suspended"),
                );
                events.push(("Normal", "Suspended".into(), "Job suspended".into()));
            }
            delete_pods(m, &job, &active);
            active.clear();
            if let Some(o) = status.as_object_mut() {
                o.remove("startTime");
            }
        } else {
            if condition(&job, "Suspended").is_some_and(|c| str_at(c, "/status") == "True") {
                let mut c = new_condition("Suspended", "JobResumed", "Job resumed");
                c["status"] = json!("False");
                put_condition(&mut conds, c);
                events.push(("Normal", "Resumed".into(), "Job resumed".into()));
            }
            if status.get("startTime").is_none_or(Value::is_null) {
                status["startTime"] = json!(store::now());
            }
            let has = |conds: &[Value], t: &str| {
                conds
                    .iter()
                    .any(|c| str_at(c, "/type") == t && str_at(c, "/status") == "True")
            };
            let mut target = conds
                .iter()
                .find(|c| {
                    matches!(str_at(c, "/type"), "FailureTarget" | "SuccessCriteriaMet")
                        && str_at(c, "/status") == "True"
                })
                .cloned();
            if target.is_none() {
                let limit = int_at(&job, "/spec/backoffLimit", 6);
                if failed > limit || past_backoff_limit_on_failure(&job, &pods) {
                    target = Some(new_condition(
                        "FailureTarget",
                        "BackoffLimitExceeded",
                        "Job has reached the specified backoff limit",
                    ));
                } else if let Some(ads) = job
                    .at("/spec/activeDeadlineSeconds")
                    .and_then(Value::as_i64)
                {
                    let started = instant_of_time(str_at(&status, "/startTime")).unwrap_or(now);
                    let deadline = started + m.shared.timing.delay(ads as f64);
                    if now >= deadline {
                        target = Some(new_condition(
                            "FailureTarget",
                            "DeadlineExceeded",
                            "Job was active longer than specified deadline",
                        ));
                    } else {
                        m.schedule(Work::Job((ns.to_string(), name.to_string())), deadline);
                    }
                }
                if let Some(t) = &target {
                    put_condition(&mut conds, t.clone());
                }
            }
            if let Some(t) = target
                .as_ref()
                .filter(|t| str_at(t, "/type") == "FailureTarget")
            {
                delete_pods(m, &job, &active);
                active.clear();
                if terminating == 0 && !has(&conds, "Failed") {
                    let reason = str_at(t, "/reason").to_string();
                    let msg = str_at(t, "/message").to_string();
                    put_condition(&mut conds, new_condition("Failed", &reason, &msg));
                    m.jobs.finished.insert(uid.clone(), now);
                    events.push(("Warning", reason, msg));
                }
            } else {
                if target.is_none() {
                    manage(m, &job, &mut active, succeeded, failures, last_failure, now);
                }
                let completions = job.at("/spec/completions").and_then(Value::as_i64);
                let complete = match completions {
                    None => succeeded > 0,
                    Some(c) => succeeded >= c,
                } && active.is_empty();
                if (complete || target.is_some()) && !has(&conds, "SuccessCriteriaMet") {
                    put_condition(
                        &mut conds,
                        new_condition(
                            "SuccessCriteriaMet",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                        ),
                    );
                }
                if (complete || target.is_some())
                    && active.is_empty()
                    && terminating == 0
                    && !has(&conds, "Complete")
                {
                    put_condition(
                        &mut conds,
                        new_condition(
                            "Complete",
                            "CompletionsReached",
                            "Reached expected number of succeeded pods",
                        ),
                    );
                    status["completionTime"] = json!(store::now());
                    m.jobs.finished.insert(uid.clone(), now);
                    if let Some(c) = completions
                        && succeeded > c
                    {
                        events.push((
                            "Warning",
                            "TooManySucceededPods".into(),
                            "Too many succeeded pods running after completion count reached".into(),
                        ));
                    }
                    events.push(("Normal", "Completed".into(), "Job completed".into()));
                }
            }
        }
    }
    let ready = active.iter().filter(|p| is_pod_ready(p)).count() as i64;
    let Some(st) = status.as_object_mut() else {
        return;
    };
    for (k, v) in [
        ("active", active.len() as i64),
        ("succeeded", succeeded),
        ("failed", failed),
    ] {
        if v != 0 {
            st.insert(k.into(), json!(v));
        } else {
            st.remove(k);
        }
    }
    st.insert("ready".into(), json!(ready));
    st.insert("terminating".into(), json!(terminating));
    st.insert("uncountedTerminatedPods".into(), json!({}));
    if conds.is_empty() {
        st.remove("conditions");
    } else {
        st.insert("conditions".into(), json!(conds));
    }
    if job.get("status") != Some(&status) {
        let rv = resource_version_of(&job).to_string();
        if m.write(jrt, ns, name, &rv, |o| o["status"] = status)
            .is_err()
        {
            m.enqueue(Work::Job((ns.to_string(), name.to_string())));
            return;
        }
    }
    if !finished && m.jobs.finished.contains_key(&uid) {
        // Just finished: the TTL-after-finished controller takes it from here.
        m.enqueue(Work::Job((ns.to_string(), name.to_string())));
    }
    for (t, reason, msg) in events {
        m.events.emit(
            &store,
            &job,
            None,
            t,
            &reason,
            &msg,
            Source::Controller(COMPONENT),
        );
    }
}

/// The TTL-after-finished controller: a finished job with `ttlSecondsAfterFinished` is deleted
/// (foreground, its pods with it) that long after it finished.
fn ttl_after_finished(m: &mut Manager, job: &Value) {
    let Some(ttl) = job
        .at("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_i64)
    else {
        return;
    };
    let finished_at = ["Complete", "Failed"]
        .iter()
        .filter_map(|t| condition(job, t))
        .find(|c| str_at(c, "/status") == "True")
        .map(|c| str_at(c, "/lastTransitionTime"))
        .unwrap_or("");
    let key = key_of(job);
    let (ns, name) = (key.0.clone(), key.1.clone());
    let now = Instant::now();
    let since = m.jobs.finished.get(uid_of(job)).copied();
    let since = since
        .or_else(|| instant_of_time(finished_at))
        .unwrap_or(now);
    let at = since + m.shared.timing.delay(ttl.max(0) as f64);
    if now < at {
        m.schedule(Work::Job(key), at);
        return;
    }
    let opts = DeleteOptions {
        propagation: Some("Foreground".into()),
        precondition_uid: Some(uid_of(job).to_string()),
        ..DeleteOptions::default()
    };
    let _ = m.shared.store.delete(by_kind("Job"), &ns, &name, &opts);
}

fn delete_pods(m: &mut Manager, job: &Value, pods: &[Arc<Value>]) {
    let store = m.shared.store.clone();
    for p in pods {
        let (ns, name) = key_of(p);
        if store
            .delete(by_kind("Pod"), &ns, &name, &DeleteOptions::default())
            .is_ok()
        {
            let msg = format!("Deleted pod: {name}");
            m.events.emit(
                &store,
                job,
                None,
                "Normal",
                "SuccessfulDelete",
                &msg,
                Source::Controller(COMPONENT),
            );
        }
    }
}

/// `manageJob` for NonIndexed jobs.
fn manage(
    m: &mut Manager,
    job: &Value,
    active: &mut Vec<Arc<Value>>,
    succeeded: i64,
    failures: u32,
    last_failure: Option<Instant>,
    now: Instant,
) {
    let parallelism = int_at(job, "/spec/parallelism", 1).max(0);
    let want = match job.at("/spec/completions").and_then(Value::as_i64) {
        Some(c) => (c - succeeded).clamp(0, parallelism),
        None => {
            if succeeded > 0 {
                0
            } else {
                parallelism
            }
        }
    };
    let have = active.len() as i64;
    let store = m.shared.store.clone();
    let key = key_of(job);
    if have > want {
        let surplus: Vec<Arc<Value>> = active.drain(want as usize..).collect();
        delete_pods(m, job, &surplus);
        return;
    }
    if have == want {
        return;
    }
    if failures > 0
        && let Some(last) = last_failure
    {
        let secs =
            (POD_FAILURE_BACKOFF * 2f64.powi(failures as i32 - 1)).min(MAX_POD_FAILURE_BACKOFF);
        let until = last + m.shared.timing.delay(secs);
        if now < until {
            m.schedule(Work::Job(key), until);
            return;
        }
    }
    let template = job.at("/spec/template").cloned().unwrap_or(json!({}));
    for _ in 0..(want - have).min(500) {
        let pod = pod_from_template(&template, job, "Job");
        match store.create(by_kind("Pod"), &key.0, pod, false) {
            Ok(p) => {
                let msg = format!("Created pod: {}", name_of(&p));
                m.events.emit(
                    &store,
                    job,
                    None,
                    "Normal",
                    "SuccessfulCreate",
                    &msg,
                    Source::Controller(COMPONENT),
                );
                active.push(p);
            }
            Err(e) => {
                let msg = format!("Error creating: {}", e.message);
                m.events.emit(
                    &store,
                    job,
                    None,
                    "Warning",
                    "FailedCreate",
                    &msg,
                    Source::Controller(COMPONENT),
                );
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_restarts_count_against_the_limit() {
        let job = json!({"spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}});
        let pod = |n: i64| {
            Arc::new(
                json!({"status": {"phase": "Running", "containerStatuses": [{"restartCount": n}]}}),
            )
        };
        assert!(!past_backoff_limit_on_failure(&job, &[pod(1)]));
        assert!(past_backoff_limit_on_failure(&job, &[pod(1), pod(1)]));
        let never =
            json!({"spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never"}}}});
        assert!(!past_backoff_limit_on_failure(&never, &[pod(5)]));
    }
}

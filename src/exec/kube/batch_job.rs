//! `kube.job`: run a Job in the cluster, stream its logs, wait, report, clean up.
//!
//! The Job is created as `NAME-xxxxx` (`generateName`) with `restartPolicy: Never`, `backoffLimit`
//! 0 unless told, and the labels `app.kubernetes.io/managed-by: tollgate` and
//! `tollgate.dev/step: STEP`. Its pods' logs are followed as they start, into the step's output (a
//! follow that ends while the container still runs is resumed from the last line's timestamp,
//! without repeating lines). When the job is `Complete` or `Failed`, or the step's timeout runs
//! out, it is reported and deleted (propagation Background, its pods with it) unless `keep: true`.
//! A `FailedCreate` event on the job (the Job controller could not create its pod: a namespace's
//! Pod Security level, a quota) fails the step at once with the event's message.
//!
//! `secret_env` puts one key of a Secret in a variable (`valueFrom.secretKeyRef`);
//! `security_context: restricted` gives the pod and its container what Pod Security's
//! `restricted` level asks (runAsNonRoot, seccompProfile RuntimeDefault, allowPrivilegeEscalation
//! false, capabilities drop ALL); `run_as_user` sets the pod's runAsUser.
//!
//! Aborted (the step's future dropped): a guard deletes the job in the background, whatever
//! `keep` says, so an aborted run does not leave work running in the cluster. The journal then
//! holds the job as not succeeded and not deleted (the delete is not awaited).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::wait::await_condition;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::change::Change;
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::kube::{KubeJob, SecurityLevel};

/// How long the logs may take to catch up once the job has finished.
const LOG_DRAIN: Duration = Duration::from_secs(5);
/// Pause before following a container's log again after its stream ended early.
const RECONNECT: Duration = Duration::from_millis(200);

/// The Job a `kube.job` step creates.
pub fn manifest(a: &KubeJob, step: &str) -> Value {
    let labels = json!({
        "app.kubernetes.io/managed-by": "tollgate",
        "tollgate.dev/step": label_value(step),
    });
    let mut container = json!({"name": container_name(&a.name), "image": a.image});
    if !a.command.is_empty() {
        container["command"] = json!(a.command);
    }
    if !a.args.is_empty() {
        container["args"] = json!(a.args);
    }
    let env: Vec<Value> = a
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .chain(a.secret_env.iter().map(|(k, source)| {
            let (secret, key) = source.split_once('/').unwrap_or((source, ""));
            json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
        }))
        .collect();
    if !env.is_empty() {
        container["env"] = json!(env);
    }
    let env_from: Vec<Value> = a
        .env_from
        .iter()
        .flat_map(|e| {
            let mut v = Vec::new();
            if let Some(s) = &e.secret {
                v.push(json!({"secretRef": {"name": s}}));
            }
            if let Some(c) = &e.config_map {
                v.push(json!({"configMapRef": {"name": c}}));
            }
            v
        })
        .collect();
    if !env_from.is_empty() {
        container["envFrom"] = json!(env_from);
    }
    let mut pod_security = serde_json::Map::new();
    if a.security_context == Some(SecurityLevel::Restricted) {
        container["securityContext"] = json!({
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": true,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        pod_security.insert("runAsNonRoot".into(), json!(true));
        pod_security.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
    }
    if let Some(u) = a.run_as_user {
        pod_security.insert("runAsUser".into(), json!(u));
    }
    let mut pod_spec = json!({"restartPolicy": "Never", "containers": [container]});
    if !pod_security.is_empty() {
        pod_spec["securityContext"] = Value::Object(pod_security);
    }
    if let Some(sa) = &a.service_account {
        pod_spec["serviceAccountName"] = json!(sa);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"generateName": format!("{}-", a.name), "labels": labels},
        "spec": {
            "backoffLimit": a.backoff_limit.unwrap_or(0),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    })
}

/// A label value from a step id: at most 63 of `[A-Za-z0-9._-]`, starting and ending alphanumeric.
fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// A container name (a DNS label) from the job's name.
fn container_name(s: &str) -> String {
    let v: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let v = v.trim_matches('-').to_string();
    if v.is_empty() { "job".into() } else { v }
}

/// Deletes the job in the background if the step is dropped before it cleaned up.
struct Guard {
    api: Option<Api<Job>>,
    name: String,
}

impl Guard {
    fn disarm(&mut self) {
        self.api = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(api) = self.api.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        rt.spawn(async move {
            if let Err(e) = api.delete(&name, &DeleteParams::background()).await {
                tracing::warn!(job = %name, error = %e, "could not delete an aborted job");
            }
        });
    }
}

/// Whether the job has finished: `Some(true)` complete, `Some(false)` failed.
fn finished(job: &Job) -> Option<bool> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    for c in conds {
        if c.status == "True" {
            match c.type_.as_str() {
                "Complete" => return Some(true),
                "Failed" => return Some(false),
                _ => {}
            }
        }
    }
    None
}

pub async fn job(cx: &mut KubeStep<'_>, a: &KubeJob) -> ActionResult {
    let ns = cx.ns.clone();
    let jobs: Api<Job> = Api::namespaced(cx.client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(cx.client.clone(), &ns);
    let spec: Job = serde_json::from_value(manifest(a, &cx.job.step))
        .map_err(|e| Failure::Error(format!("job manifest: {e}")))?;
    let created = jobs
        .create(&PostParams::default(), &spec)
        .await
        .map_err(|e| Failure::Error(format!("creating job {}: {}", a.name, describe_error(&e))))?;
    let name = created.name_any();
    let mut guard = Guard {
        api: Some(jobs.clone()),
        name: name.clone(),
    };
    cx.changed(Change::JobRan {
        namespace: ns.clone(),
        name: name.clone(),
        succeeded: false,
        deleted: false,
    });
    cx.say(format!("job/{name} created in namespace {ns}"))
        .await;
    let started = Instant::now();

    let (tx, mut rx) = mpsc::channel::<String>(256);
    let (done_tx, done_rx) = watch::channel(false);
    let logs = follow_logs(pods.clone(), name.clone(), tx, done_rx);
    tokio::pin!(logs);
    let mut logs_over = false;
    let refused = failed_create(
        Api::namespaced(cx.client.clone(), &ns),
        created.uid().unwrap_or_default(),
    );
    tokio::pin!(refused);
    let end = await_condition(jobs.clone(), &name, |j: Option<&Job>| {
        j.is_none_or(|j| finished(j).is_some())
    });
    tokio::pin!(end);
    let step_deadline = cx.deadline;
    let deadline = async move {
        match step_deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    // Some(job) when it ended (None: deleted by someone else), Err on timeout or a broken watch.
    let ended: Result<Option<Job>, Failure> = loop {
        tokio::select! {
            Some(line) = rx.recv() => cx.out(line).await,
            _ = &mut logs, if !logs_over => logs_over = true,
            r = &mut end => break r.map_err(|e| Failure::Error(format!("watching job/{name}: {e}"))),
            // The Job controller could not create a pod (a namespace's Pod Security level, a
            // quota, a missing service account): it would retry for ever, so the step fails now.
            msg = &mut refused => break Err(Failure::Error(format!(
                "job/{name} could not create its pod: {msg}"
            ))),
            _ = &mut deadline => break Err(Failure::Timeout(format!(
                "job/{name} did not finish within the step's timeout"
            ))),
        }
    };
    // The logs catch up: the containers have stopped, so their follows end.
    let _ = done_tx.send(true);
    let drain_until = tokio::time::Instant::now()
        + cx.remaining()
            .map_or(LOG_DRAIN, |r| r.min(LOG_DRAIN))
            .max(Duration::from_millis(500));
    while !logs_over {
        tokio::select! {
            Some(line) = rx.recv() => cx.out(line).await,
            _ = &mut logs => logs_over = true,
            _ = tokio::time::sleep_until(drain_until) => break,
        }
    }
    while let Ok(line) = rx.try_recv() {
        cx.out(line).await;
    }

    let took = started.elapsed();
    let result = match ended {
        Ok(Some(j)) if finished(&j) == Some(true) => {
            cx.say(format!("job/{name} completed in {}", human(took)))
                .await;
            Ok(())
        }
        Ok(Some(j)) => Err(Failure::Error(why_failed(&pods, &name, &j).await)),
        Ok(None) => Err(Failure::Error(format!(
            "job/{name} was deleted before it finished"
        ))),
        Err(e) => Err(e),
    };
    let succeeded = result.is_ok();
    let deleted = if a.keep {
        cx.say(format!("job/{name} kept")).await;
        false
    } else {
        match jobs.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {
                cx.say(format!("job/{name} deleted")).await;
                true
            }
            Err(kube::Error::Api(s)) if s.code == 404 => true,
            Err(e) => {
                cx.say(format!(
                    "job/{name} could not be deleted: {}",
                    describe_error(&e)
                ))
                .await;
                false
            }
        }
    };
    guard.disarm();
    // The change recorded when the job was created, now with how it ended.
    if let Some(last) = cx.changes.last_mut()
        && let Ok(Change::JobRan { .. }) = serde_json::from_value::<Change>(last.clone())
    {
        last["succeeded"] = serde_json::Value::Bool(succeeded);
        last["deleted"] = serde_json::Value::Bool(deleted);
    }
    result
}

/// The message of the first `FailedCreate` event about the job with this uid (the Job
/// controller's `Error creating: pods "x-abc" is forbidden: …`); pending while there is none.
async fn failed_create(events: Api<KubeEvent>, uid: String) -> String {
    let fields = format!("involvedObject.uid={uid},reason=FailedCreate");
    let mut stream = watcher::watcher(events, watcher::Config::default().fields(&fields))
        .default_backoff()
        .boxed();
    while let Some(ev) = stream.next().await {
        if let Ok(Event::Apply(e) | Event::InitApply(e)) = ev
            && e.reason.as_deref() == Some("FailedCreate")
        {
            return e
                .message
                .unwrap_or_else(|| "FailedCreate".into())
                .replace('\n', " ");
        }
    }
    std::future::pending().await
}

/// `job/x failed: BackoffLimitExceeded (pod x-abc: Error, exit code 1)`.
async fn why_failed(pods: &Api<Pod>, name: &str, job: &Job) -> String {
    let cond = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "Failed" && c.status == "True")
        });
    let reason = cond
        .and_then(|c| c.reason.clone())
        .unwrap_or_else(|| "Failed".into());
    let mut s = format!("job/{name} failed: {reason}");
    let lp = ListParams::default().labels(&format!("job-name={name}"));
    if let Ok(list) = pods.list(&lp).await {
        let mut terminated: Vec<(String, String, i32, Option<Timestamp>)> = list
            .items
            .iter()
            .filter_map(|p| {
                let st = p
                    .status
                    .as_ref()?
                    .container_statuses
                    .as_ref()?
                    .iter()
                    .find_map(|c| c.state.as_ref()?.terminated.clone())?;
                Some((
                    p.name_any(),
                    st.reason.unwrap_or_else(|| "Terminated".into()),
                    st.exit_code,
                    st.finished_at.map(|t| t.0),
                ))
            })
            .collect();
        terminated.sort_by_key(|t| t.3);
        if let Some((pod, reason, code, _)) = terminated.last() {
            s.push_str(&format!(" (pod {pod}: {reason}, exit code {code})"));
        }
    }
    s
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 120.0 {
        format!("{}s", s.round())
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Where a container's log was read up to: the last line's time and how many lines had it.
#[derive(Default)]
struct Cursor {
    last: Option<Timestamp>,
    at_last: usize,
    replayed: usize,
}

impl Cursor {
    /// Called before reading the log again from `since()`.
    fn restart(&mut self) {
        self.replayed = 0;
    }

    /// Where to read from: the last line's second (`sinceTime` has seconds only).
    fn since(&self) -> Option<Timestamp> {
        self.last
            .and_then(|t| Timestamp::from_second(t.as_second()).ok())
    }

    /// Whether a line with this time is new.
    fn accept(&mut self, ts: Timestamp) -> bool {
        match self.last {
            Some(l) if ts < l => false,
            Some(l) if ts == l => {
                self.replayed += 1;
                if self.replayed <= self.at_last {
                    false
                } else {
                    self.at_last += 1;
                    true
                }
            }
            _ => {
                self.last = Some(ts);
                self.at_last = 1;
                self.replayed = 1;
                true
            }
        }
    }
}

fn has_started(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            })
        })
}

fn is_running(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            })
}

/// Follows the logs of the job's pods, oldest first, sending their lines; ends once `done` is
/// set and every pod that started has been read to its end.
async fn follow_logs(
    pods: Api<Pod>,
    job: String,
    tx: mpsc::Sender<String>,
    mut done: watch::Receiver<bool>,
) {
    let selector = format!("job-name={job}");
    let mut events = watcher::watcher(pods.clone(), watcher::Config::default().labels(&selector))
        .default_backoff()
        .boxed();
    let mut known: BTreeMap<String, Pod> = BTreeMap::new();
    let mut read: HashSet<String> = HashSet::new();
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    let mut listed_at_end = false;
    loop {
        let next = known
            .values()
            .filter(|p| !read.contains(&p.uid().unwrap_or_default()) && has_started(p))
            .min_by_key(|p| p.creation_timestamp().map(|t| t.0))
            .cloned();
        if let Some(pod) = next {
            let uid = pod.uid().unwrap_or_default();
            let pname = pod.name_any();
            let cursor = cursors.entry(uid.clone()).or_default();
            let got_any = stream_pod(&pods, &pname, cursor, &tx).await;
            match pods.get_opt(&pname).await {
                Ok(Some(p)) if is_running(&p) => {
                    known.insert(uid, p);
                    if !got_any {
                        tokio::time::sleep(RECONNECT).await;
                    }
                }
                Ok(Some(p)) => {
                    known.insert(uid.clone(), p);
                    read.insert(uid);
                }
                Ok(None) | Err(_) => {
                    read.insert(uid);
                }
            }
            continue;
        }
        if *done.borrow() {
            if listed_at_end {
                return;
            }
            // Pods the watch has not shown yet: one list, then whatever of them is left to read.
            listed_at_end = true;
            if let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await {
                for p in list.items {
                    known.insert(p.uid().unwrap_or_default(), p);
                }
            }
            continue;
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Apply(p) | Event::InitApply(p))) => {
                    known.insert(p.uid().unwrap_or_default(), p);
                }
                Some(Ok(Event::Delete(p))) => {
                    known.remove(&p.uid().unwrap_or_default());
                }
                Some(Ok(Event::Init | Event::InitDone)) | Some(Err(_)) => {}
                None => {
                    // The watch ended for good: the list at the end picks up what is left.
                    let _ = done.changed().await;
                }
            },
            _ = done.changed() => {}
        }
    }
}

/// Follows one pod's log from the cursor until the stream ends; whether any new line came.
async fn stream_pod(
    pods: &Api<Pod>,
    pod: &str,
    cursor: &mut Cursor,
    tx: &mpsc::Sender<String>,
) -> bool {
    cursor.restart();
    let lp = LogParams {
        follow: true,
        timestamps: true,
        since_time: cursor.since(),
        ..LogParams::default()
    };
    let Ok(stream) = pods.log_stream(pod, &lp).await else {
        return false;
    };
    let mut lines = stream.lines();
    let mut any = false;
    while let Some(Ok(line)) = lines.next().await {
        let (ts, text) = match line.split_once(' ') {
            Some((ts, text)) => match ts.parse::<Timestamp>() {
                Ok(t) => (Some(t), text.to_string()),
                Err(_) => (None, line.clone()),
            },
            None => (line.parse::<Timestamp>().ok(), String::new()),
        };
        if let Some(ts) = ts
            && !cursor.accept(ts)
        {
            continue;
        }
        any = true;
        if tx.send(text).await.is_err() {
            return any;
        }
    }
    any
}

/// The labels every job a step runs carries, as a selector.
pub fn step_selector(step: &str) -> String {
    format!(
        "app.kubernetes.io/managed-by=tollgate,tollgate.dev/step={}",
        label_value(step)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_skips_what_was_read() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut c = Cursor::default();
        assert!(c.accept(t("2026-01-01T00:00:01.5Z")));
        assert!(c.accept(t("2026-01-01T00:00:02.1Z")));
        assert!(c.accept(t("2026-01-01T00:00:02.1Z")));
        assert_eq!(c.since(), Some(t("2026-01-01T00:00:02Z")));
        c.restart();
        assert!(!c.accept(t("2026-01-01T00:00:02.0Z")));
        assert!(!c.accept(t("2026-01-01T00:00:02.1Z")));
        assert!(!c.accept(t("2026-01-01T00:00:02.1Z")));
        assert!(c.accept(t("2026-01-01T00:00:02.1Z")));
        assert!(c.accept(t("2026-01-01T00:00:03Z")));
    }

    #[test]
    fn the_manifest() {
        let a = KubeJob {
            name: "db-migrate".into(),
            image: "migrate:1".into(),
            command: vec!["migrate".into()],
            env: [("A".to_string(), "1".to_string())].into_iter().collect(),
            env_from: vec![crate::runbook::kube::EnvFrom {
                secret: Some("db".into()),
                config_map: Some("cfg".into()),
            }],
            service_account: Some("runner".into()),
            ..KubeJob::default()
        };
        let m = manifest(&a, "migrate db");
        assert_eq!(m["metadata"]["generateName"], "db-migrate-");
        assert_eq!(m["metadata"]["labels"]["tollgate.dev/step"], "migrate_db");
        assert_eq!(m["spec"]["backoffLimit"], 0);
        let pod = &m["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["serviceAccountName"], "runner");
        assert_eq!(
            pod["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}])
        );
        assert_eq!(
            pod["containers"][0]["envFrom"],
            json!([{"secretRef": {"name": "db"}}, {"configMapRef": {"name": "cfg"}}])
        );
        let _: Job = serde_json::from_value(m).unwrap();
    }
}

//! Pods as the pods pane shows them: one [`PodRow`] per pod (the columns of `kubectl get pods`,
//! its owner and health), kept current by [`spawn_watch`] (kube-rs `runtime::watcher`), a pod's
//! detail for `describe`, and [`Focus`]: which pods the current step acts on.
//!
//! No drawing here: the pane in `ui::pods` turns [`PodsUpdate`]s into a screen.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::DefaultBackoff;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Events kept in a pod's detail (the newest).
pub const DETAIL_EVENTS: usize = 20;

/// How a pod is doing, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// Running with every container ready, or completed.
    Ok,
    /// On its way: pending, creating, initialising, not yet ready, terminating.
    Pending,
    /// In trouble: crash loops, image pull failures, errors, failed.
    Failed,
}

/// The controller of a pod, as grouped: a ReplicaSet made by a Deployment is that Deployment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    /// Deployment, ReplicaSet, Job, StatefulSet, DaemonSet, …
    pub kind: String,
    pub name: String,
}

/// One pod, as a row of `kubectl get pods` plus what the pane groups and filters by.
#[derive(Clone, Debug, PartialEq)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Ready containers, containers.
    pub ready: (u32, u32),
    /// The STATUS column of `kubectl get pods`: Running, ContainerCreating, CrashLoopBackOff, Init:0/1, …
    pub status: String,
    /// `status.phase` (Pending, Running, Succeeded, Failed, Unknown).
    pub phase: String,
    pub restarts: u32,
    pub created: Option<DateTime<Utc>>,
    pub node: Option<String>,
    pub images: Vec<String>,
    pub owner: Option<Owner>,
    pub labels: BTreeMap<String, String>,
    pub health: Health,
    /// Why the pod is not running, in a word: the scheduler's reason for a pod it has not
    /// placed (`Unschedulable`), or a waiting container's (`CrashLoopBackOff`, `ErrImagePull`).
    pub reason: Option<String>,
    /// The sentence that goes with it: `0/2 nodes are available: 2 Insufficient memory.`,
    /// `back-off 40s restarting failed container=…`.
    pub message: Option<String>,
}

fn time(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A terminated container's word when it has no reason, as kubectl writes it.
fn exit_word(prefix: &str, code: i32, signal: Option<i32>) -> String {
    match signal {
        Some(s) if s != 0 => format!("{prefix}Signal:{s}"),
        _ => format!("{prefix}ExitCode:{code}"),
    }
}

/// Waiting or terminated reasons that mean trouble (the rest are on their way).
fn is_failure(reason: &str) -> bool {
    let r = reason.strip_prefix("Init:").unwrap_or(reason);
    matches!(
        r,
        "CrashLoopBackOff"
            | "ImagePullBackOff"
            | "ErrImagePull"
            | "ErrImageNeverPull"
            | "InvalidImageName"
            | "CreateContainerConfigError"
            | "CreateContainerError"
            | "RunContainerError"
            | "ContainerCannotRun"
            | "PreStartHookError"
            | "PostStartHookError"
            | "Error"
            | "OOMKilled"
            | "DeadlineExceeded"
            | "Evicted"
            | "Failed"
            | "Unknown"
    ) || r.starts_with("ExitCode:")
        || r.starts_with("Signal:")
}

fn has_condition(pod: &Pod, t: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
}

/// The label Argo Rollouts gives the ReplicaSets and pods of a rollout's version.
pub const ROLLOUT_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// The pod's owner as grouped: its controller (or first owner), a Deployment's ReplicaSet as the
/// Deployment (the ReplicaSet is named `DEPLOYMENT-<pod-template-hash>`), an Argo Rollout's as the
/// Rollout (`ROLLOUT-<rollouts-pod-template-hash>`).
fn owner_of(pod: &Pod) -> Option<Owner> {
    let refs = pod.metadata.owner_references.as_ref()?;
    let r = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())?;
    if r.kind == "ReplicaSet"
        && let Some(hash) = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ROLLOUT_HASH_LABEL))
        && let Some(ro) = r.name.strip_suffix(hash.as_str())
        && let Some(ro) = ro.strip_suffix('-')
        && !ro.is_empty()
    {
        return Some(Owner {
            kind: "Rollout".into(),
            name: ro.to_string(),
        });
    }
    if r.kind == "ReplicaSet"
        && let Some(hash) = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
        && let Some(dep) = r.name.strip_suffix(hash.as_str())
        && let Some(dep) = dep.strip_suffix('-')
        && !dep.is_empty()
    {
        return Some(Owner {
            kind: "Deployment".into(),
            name: dep.to_string(),
        });
    }
    Some(Owner {
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

/// Whether an init container keeps running beside the others (a sidecar).
fn restartable_init(pod: &Pod, name: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == name))
        .is_some_and(|c| c.restart_policy.as_deref() == Some("Always"))
}

/// STATUS, ready containers, restarts: kubectl's `printPod` rules.
fn kubectl_status(pod: &Pod) -> (String, u32, u32) {
    let spec = pod.spec.as_ref();
    let st = pod.status.as_ref();
    let mut reason = st
        .and_then(|s| s.reason.clone())
        .filter(|r| !r.is_empty())
        .or_else(|| st.and_then(|s| s.phase.clone()))
        .unwrap_or_else(|| "Pending".into());
    let empty = Vec::new();
    let inits = st
        .and_then(|s| s.init_container_statuses.as_ref())
        .unwrap_or(&empty);
    let mains = st
        .and_then(|s| s.container_statuses.as_ref())
        .unwrap_or(&empty);
    let n_init = spec
        .and_then(|s| s.init_containers.as_ref())
        .map_or(inits.len(), Vec::len);
    let mut restarts = 0u32;
    let mut ready = 0u32;
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        restarts += count(c.restart_count);
        if restartable_init(pod, &c.name) && c.started == Some(true) {
            continue;
        }
        let state = c.state.as_ref();
        let term = state.and_then(|s| s.terminated.as_ref());
        let wait = state.and_then(|s| s.waiting.as_ref());
        match (term, wait) {
            (Some(t), _) if t.exit_code == 0 => continue,
            (Some(t), _) => {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => format!("Init:{r}"),
                    None => exit_word("Init:", t.exit_code, t.signal),
                };
            }
            (None, Some(w))
                if w.reason.as_deref().is_some_and(|r| !r.is_empty())
                    && w.reason.as_deref() != Some("PodInitializing") =>
            {
                reason = format!("Init:{}", w.reason.as_deref().unwrap_or_default());
            }
            _ => reason = format!("Init:{i}/{n_init}"),
        }
        initializing = true;
        break;
    }
    if !initializing || has_condition(pod, "Initialized") {
        restarts = inits
            .iter()
            .filter(|c| restartable_init(pod, &c.name))
            .map(|c| count(c.restart_count))
            .sum();
        let mut running = false;
        for c in mains.iter().rev() {
            restarts += count(c.restart_count);
            let state = c.state.as_ref();
            let term = state.and_then(|s| s.terminated.as_ref());
            let wait = state.and_then(|s| s.waiting.as_ref());
            if let Some(r) = wait
                .and_then(|w| w.reason.as_deref())
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(t) = term {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => exit_word("", t.exit_code, t.signal),
                };
            } else if c.ready && state.is_some_and(|s| s.running.is_some()) {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = if has_condition(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = if st.and_then(|s| s.reason.as_deref()) == Some("NodeLost") {
            "Unknown".into()
        } else {
            "Terminating".into()
        };
    }
    (reason, ready, restarts)
}

/// The scheduler's reason and message for a pod it has not placed, else the first waiting
/// container's (init containers first) that has a reason other than the usual way to start.
fn why_of(pod: &Pod) -> (Option<String>, Option<String>) {
    let Some(st) = pod.status.as_ref() else {
        return (None, None);
    };
    let unscheduled = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason.is_some());
    if let Some(c) = unscheduled {
        return (
            c.reason.clone(),
            c.message.clone().filter(|m| !m.is_empty()),
        );
    }
    let waiting = st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .find(|w| {
            w.reason
                .as_deref()
                .is_some_and(|r| !r.is_empty() && r != "PodInitializing")
        });
    match waiting {
        Some(w) => (
            w.reason.clone(),
            w.message.clone().filter(|m| !m.is_empty()),
        ),
        None => (None, None),
    }
}

fn health_of(status: &str, phase: &str, ready: (u32, u32)) -> Health {
    if phase == "Failed" || is_failure(status) {
        Health::Failed
    } else if status == "Completed"
        || phase == "Succeeded"
        || (status == "Running" && ready.0 == ready.1)
    {
        Health::Ok
    } else {
        Health::Pending
    }
}

impl PodRow {
    pub fn from_pod(pod: &Pod) -> PodRow {
        let m = &pod.metadata;
        let spec = pod.spec.as_ref();
        let (status, ready, restarts) = kubectl_status(pod);
        let total = spec.map_or(0, |s| s.containers.len()) as u32;
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        let health = health_of(&status, &phase, (ready, total));
        let (reason, message) = why_of(pod);
        PodRow {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
            uid: m.uid.clone().unwrap_or_default(),
            ready: (ready, total),
            status,
            phase,
            restarts,
            created: m.creation_timestamp.as_ref().and_then(time),
            node: spec.and_then(|s| s.node_name.clone()),
            images: spec.map_or_else(Vec::new, |s| {
                s.containers
                    .iter()
                    .map(|c| c.image.clone().unwrap_or_default())
                    .collect()
            }),
            owner: owner_of(pod),
            labels: m.labels.clone().unwrap_or_default(),
            health,
            reason,
            message,
        }
    }

    /// The STATUS column as the pane shows it: kubectl's word, and for a pod still Pending why
    /// (`Pending (Unschedulable)`).
    pub fn status_text(&self) -> String {
        match &self.reason {
            Some(r) if self.status == "Pending" => format!("Pending ({r})"),
            _ => self.status.clone(),
        }
    }
}

/// Which of an Argo Rollout's versions is which: the pods of each carry its hash
/// (`rollouts-pod-template-hash`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutRoles {
    pub namespace: String,
    pub name: String,
    pub blue_green: bool,
    /// `status.stableRS`.
    pub stable: String,
    /// `status.currentPodHash`: the version being rolled out (the canary while it is not stable).
    pub current: String,
    /// `status.blueGreen.activeSelector` and `previewSelector`.
    pub active: String,
    pub preview: String,
}

impl RolloutRoles {
    /// The roles of a Rollout object (as JSON).
    pub fn of(ro: &serde_json::Value) -> RolloutRoles {
        let s = |p: &str| {
            ro.pointer(p)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        RolloutRoles {
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            blue_green: ro
                .pointer("/spec/strategy/blueGreen")
                .is_some_and(|v| !v.is_null()),
            stable: s("/status/stableRS"),
            current: s("/status/currentPodHash"),
            active: s("/status/blueGreen/activeSelector"),
            preview: s("/status/blueGreen/previewSelector"),
        }
    }

    /// The role of the version `hash`, and its place among the roles (the new version first):
    /// `canary`, `stable` (canary); `preview`, `active` (blue/green); `None` for an old version.
    pub fn role(&self, hash: &str) -> Option<(u8, &'static str)> {
        if hash.is_empty() {
            return None;
        }
        if self.blue_green {
            if hash == self.preview && hash != self.active {
                return Some((0, "preview"));
            }
            if hash == self.active {
                return Some((1, "active"));
            }
            return None;
        }
        if hash == self.current && hash != self.stable {
            return Some((0, "canary"));
        }
        if hash == self.stable {
            return Some((1, "stable"));
        }
        None
    }
}

/// What the watch tells the pane.
// Upserts are most of the traffic: a box each would be an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum PodsUpdate {
    /// A (re)list succeeded: the pods shown are current.
    Connected,
    /// The watch failed; it is being retried with back-off.
    Disconnected {
        error: String,
    },
    /// The full state after a (re)list: replaces every row.
    Relisted {
        rows: Vec<PodRow>,
    },
    /// A pod was added or changed.
    Upsert(PodRow),
    Deleted {
        namespace: String,
        name: String,
    },
    /// An Argo Rollout's versions (added or changed): its pods are grouped by role.
    Rollout(RolloutRoles),
    /// An Argo Rollout was deleted.
    RolloutDeleted {
        namespace: String,
        name: String,
    },
}

/// One line from a watcher error: what failed and the innermost cause.
fn short_error(e: &watcher::Error) -> String {
    let what = match e {
        watcher::Error::InitialListFailed(_) => "list failed",
        watcher::Error::WatchStartFailed(_) => "watch failed to start",
        watcher::Error::WatchError(_) => "watch error",
        watcher::Error::WatchFailed(_) => "watch failed",
        watcher::Error::NoResourceVersion => "no resourceVersion",
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(s) = cause.source() {
        cause = s;
    }
    let mut text = cause.to_string();
    if let watcher::Error::WatchError(s) = e {
        text = s.message.clone();
    }
    let text = text.lines().next().unwrap_or_default().trim().to_string();
    let mut line = if text.is_empty() || std::ptr::eq(cause, e as &dyn std::error::Error) {
        what.to_string()
    } else {
        format!("{what}: {text}")
    };
    if line.chars().count() > 120 {
        line = line.chars().take(119).collect::<String>() + "…";
    }
    line
}

/// A watch that expired (410 Gone): the watcher relists at once, nothing is wrong.
fn is_gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

/// Aborts the per-namespace watchers when the merging task ends or is aborted.
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Watches one namespace (or all, for `None`) and forwards its events tagged with `index`.
///
/// Failures of the initial list are retried by the watcher itself, behind `default_backoff`.
/// A failure after the list (the watch did not start, broke, or errored other than 410 Gone)
/// ends the watcher and a fresh one starts after the next back-off delay: the fresh one lists
/// again, so the pane is complete and correct whatever was missed (an API server that came back
/// with other resourceVersions, say), and says when it is connected again.
async fn watch_one(
    api: Api<Pod>,
    index: usize,
    tx: mpsc::Sender<(usize, watcher::Result<watcher::Event<Pod>>)>,
) {
    let mut backoff = DefaultBackoff::default();
    loop {
        let mut listed = false;
        let mut stream = watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let restart = match &ev {
                Ok(watcher::Event::InitDone) => {
                    listed = true;
                    backoff.reset();
                    false
                }
                Err(e) => listed && !is_gone(e),
                _ => false,
            };
            if tx.send((index, ev)).await.is_err() {
                return;
            }
            if restart {
                break;
            }
        }
        drop(stream);
        let delay = backoff.next().unwrap_or(Duration::from_secs(30));
        tokio::time::sleep(delay).await;
    }
}

/// The Argo Rollouts type, watched beside the pods where the cluster serves it.
fn rollout_resource() -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Rollout".into(),
        plural: "rollouts".into(),
    }
}

/// How long a cluster without Argo Rollouts is left before it is asked again (the type may be
/// installed by a step).
const ROLLOUTS_RETRY: Duration = Duration::from_secs(10);

/// Watches the Argo Rollouts of `api` and sends their roles. A cluster that does not serve the
/// type (or forbids it) is asked again now and then, quietly: the pods pane works without it.
async fn watch_rollouts(api: Api<kube::api::DynamicObject>, tx: mpsc::Sender<PodsUpdate>) {
    loop {
        let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
        let mut failed = false;
        while let Some(ev) = stream.next().await {
            let u = match ev {
                Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => PodsUpdate::Rollout(
                    RolloutRoles::of(&serde_json::to_value(&o).unwrap_or_default()),
                ),
                Ok(watcher::Event::Delete(o)) => PodsUpdate::RolloutDeleted {
                    namespace: o.metadata.namespace.clone().unwrap_or_default(),
                    name: o.metadata.name.clone().unwrap_or_default(),
                },
                Ok(_) => continue,
                Err(e) if is_gone(&e) => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            };
            if tx.send(u).await.is_err() {
                return;
            }
        }
        drop(stream);
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(if failed {
            ROLLOUTS_RETRY
        } else {
            Duration::from_secs(1)
        })
        .await;
    }
}

/// Watches the pods of `namespaces` (all namespaces when empty), one watcher per namespace merged
/// into one stream of [`PodsUpdate`]s on `tx`, and beside them the Argo Rollouts of the same
/// namespaces (where the cluster serves them). Ends when `tx` is closed.
pub fn spawn_watch(
    client: kube::Client,
    namespaces: Vec<String>,
    tx: mpsc::Sender<PodsUpdate>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut apis: Vec<Api<Pod>> = Vec::new();
        if namespaces.is_empty() {
            apis.push(Api::all(client));
        } else {
            let mut seen = std::collections::BTreeSet::new();
            for ns in namespaces {
                if seen.insert(ns.clone()) {
                    apis.push(Api::namespaced(client.clone(), &ns));
                }
            }
        }
        let n = apis.len();
        let rollout_apis: Vec<Api<kube::api::DynamicObject>> = apis
            .iter()
            .map(|a| {
                let ar = rollout_resource();
                match a.namespace() {
                    Some(ns) => Api::namespaced_with(a.clone().into_client(), ns, &ar),
                    None => Api::all_with(a.clone().into_client(), &ar),
                }
            })
            .collect();
        let _rollouts = AbortOnDrop(
            rollout_apis
                .into_iter()
                .map(|api| tokio::spawn(watch_rollouts(api, tx.clone())))
                .collect(),
        );
        let (etx, mut erx) = mpsc::channel(1024);
        let _watchers = AbortOnDrop(
            apis.into_iter()
                .enumerate()
                .map(|(i, api)| tokio::spawn(watch_one(api, i, etx.clone())))
                .collect(),
        );
        drop(etx);
        // With several watchers, a relist of one namespace must still send every namespace's
        // rows: each watcher's current rows are kept here. One watcher's buffer is enough alone.
        let keep = n > 1;
        let mut state: Vec<HashMap<String, PodRow>> = vec![HashMap::new(); n];
        let mut init: Vec<Vec<PodRow>> = vec![Vec::new(); n];
        let mut down = false;
        while let Some((i, ev)) = erx.recv().await {
            let mut out = Vec::with_capacity(2);
            match ev {
                Ok(watcher::Event::Init) => init[i].clear(),
                Ok(watcher::Event::InitApply(p)) => init[i].push(PodRow::from_pod(&p)),
                Ok(watcher::Event::InitDone) => {
                    let rows = std::mem::take(&mut init[i]);
                    let rows = if keep {
                        state[i] = rows.into_iter().map(|r| (r.name.clone(), r)).collect();
                        state.iter().flat_map(|m| m.values().cloned()).collect()
                    } else {
                        rows
                    };
                    out.push(PodsUpdate::Relisted { rows });
                    out.push(PodsUpdate::Connected);
                    down = false;
                }
                Ok(watcher::Event::Apply(p)) => {
                    let row = PodRow::from_pod(&p);
                    if keep {
                        state[i].insert(row.name.clone(), row.clone());
                    }
                    if down {
                        out.push(PodsUpdate::Connected);
                        down = false;
                    }
                    out.push(PodsUpdate::Upsert(row));
                }
                Ok(watcher::Event::Delete(p)) => {
                    let namespace = p.metadata.namespace.clone().unwrap_or_default();
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if keep {
                        state[i].remove(&name);
                    }
                    if down {
                        out.push(PodsUpdate::Connected);
                        down = false;
                    }
                    out.push(PodsUpdate::Deleted { namespace, name });
                }
                Err(e) if is_gone(&e) => {}
                Err(e) => {
                    down = true;
                    out.push(PodsUpdate::Disconnected {
                        error: short_error(&e),
                    });
                }
            }
            for u in out {
                if tx.send(u).await.is_err() {
                    return;
                }
            }
        }
    })
}

/// A container in a pod's detail.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerDetail {
    pub name: String,
    pub image: String,
    /// An init container (sidecars included).
    pub init: bool,
    /// Running, Waiting, Terminated (or Unknown without a status).
    pub state: String,
    /// The waiting or terminated reason.
    pub reason: Option<String>,
    /// The waiting or terminated message (`back-off 40s restarting failed container=…`).
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub ready: bool,
    pub restarts: u32,
    /// The previous run's end: its reason and exit code (`Error (exit 1)`).
    pub last_termination: Option<String>,
    /// The previous run (`lastState.terminated`): its reason, exit code and when it ended.
    pub last: Option<LastRun>,
}

/// How a container's previous run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct LastRun {
    pub reason: Option<String>,
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished: Option<DateTime<Utc>>,
}

/// A pod condition.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionDetail {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// An event about the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDetail {
    /// Normal or Warning.
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: u32,
    /// When it last happened.
    pub last: Option<DateTime<Utc>>,
}

/// What `kubectl describe pod` tells, in short.
#[derive(Clone, Debug, PartialEq)]
pub struct PodDetail {
    pub row: PodRow,
    pub containers: Vec<ContainerDetail>,
    pub conditions: Vec<ConditionDetail>,
    /// The newest [`DETAIL_EVENTS`] events, oldest first.
    pub events: Vec<EventDetail>,
}

fn container_detail(
    spec_image: &str,
    c: Option<&ContainerStatus>,
    name: &str,
    init: bool,
) -> ContainerDetail {
    let state = c.and_then(|c| c.state.as_ref());
    let (word, reason, message, exit_code) = match state {
        Some(ContainerState {
            running: Some(_), ..
        }) => ("Running", None, None, None),
        Some(ContainerState {
            terminated: Some(t),
            ..
        }) => (
            "Terminated",
            t.reason.clone(),
            t.message.clone(),
            Some(t.exit_code),
        ),
        Some(ContainerState {
            waiting: Some(w), ..
        }) => ("Waiting", w.reason.clone(), w.message.clone(), None),
        _ => ("Unknown", None, None, None),
    };
    let last = c
        .and_then(|c| c.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| LastRun {
            reason: t.reason.clone().filter(|r| !r.is_empty()),
            exit_code: t.exit_code,
            signal: t.signal.filter(|s| *s != 0),
            finished: t.finished_at.as_ref().and_then(time),
        });
    let last_termination = c
        .and_then(|c| c.last_state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| {
            format!(
                "{} (exit {})",
                t.reason.as_deref().unwrap_or("Terminated"),
                t.exit_code
            )
        });
    ContainerDetail {
        name: name.to_string(),
        image: spec_image.to_string(),
        init,
        state: word.to_string(),
        reason,
        message: message.filter(|m| !m.is_empty()),
        exit_code,
        ready: c.is_some_and(|c| c.ready),
        restarts: c.map_or(0, |c| count(c.restart_count)),
        last_termination,
        last,
    }
}

fn event_time(e: &Event) -> Option<DateTime<Utc>> {
    e.last_timestamp
        .as_ref()
        .and_then(time)
        .or_else(|| {
            e.event_time
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
        })
        .or_else(|| e.first_timestamp.as_ref().and_then(time))
        .or_else(|| e.metadata.creation_timestamp.as_ref().and_then(time))
}

/// The pod's detail from the spec and status in `pod` and its `events` (any order, any object).
pub fn detail_of(pod: &Pod, events: &[Event]) -> PodDetail {
    let st = pod.status.as_ref();
    let mut containers = Vec::new();
    if let Some(spec) = pod.spec.as_ref() {
        let empty = Vec::new();
        let inits = st
            .and_then(|s| s.init_container_statuses.as_ref())
            .unwrap_or(&empty);
        let mains = st
            .and_then(|s| s.container_statuses.as_ref())
            .unwrap_or(&empty);
        for c in spec.init_containers.iter().flatten() {
            let s = inits.iter().find(|s| s.name == c.name);
            containers.push(container_detail(
                c.image.as_deref().unwrap_or_default(),
                s,
                &c.name,
                true,
            ));
        }
        for c in &spec.containers {
            let s = mains.iter().find(|s| s.name == c.name);
            containers.push(container_detail(
                c.image.as_deref().unwrap_or_default(),
                s,
                &c.name,
                false,
            ));
        }
    }
    let conditions = st
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| ConditionDetail {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let mut evs: Vec<(Option<DateTime<Utc>>, &Event)> = events
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.involved_object.kind.as_deref().is_none_or(|k| k == "Pod")
        })
        .map(|e| (event_time(e), e))
        .collect();
    evs.sort_by_key(|(t, _)| *t);
    let skip = evs.len().saturating_sub(DETAIL_EVENTS);
    let events = evs
        .into_iter()
        .skip(skip)
        .map(|(last, e)| EventDetail {
            type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: e.count.map_or(1, count),
            last,
        })
        .collect();
    PodDetail {
        row: PodRow::from_pod(pod),
        containers,
        conditions,
        events,
    }
}

/// Gets the pod and its events (the API server selects them by `involvedObject.name`).
pub async fn describe(
    client: kube::Client,
    ns: &str,
    name: &str,
) -> Result<PodDetail, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let events: Api<Event> = Api::namespaced(client, ns);
    let pod = pods.get(name).await?;
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let evs = events.list(&lp).await?.items;
    Ok(detail_of(&pod, &evs))
}

/// Pods a step acts on, to list first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Focus {
    /// The pods of a Deployment (through its ReplicaSets).
    Deployment {
        namespace: String,
        name: String,
    },
    /// Pods whose labels match an equality-based selector: `a=b,c!=d,e,!f`.
    Selector {
        namespace: String,
        selector: String,
    },
    /// The pods of a Job (owned by it or labelled `job-name`).
    Job {
        namespace: String,
        name: String,
    },
    Pod {
        namespace: String,
        name: String,
    },
    /// The pods of an Argo Rollout (through its ReplicaSets), every version's.
    Rollout {
        namespace: String,
        name: String,
    },
}

/// Whether `labels` match an equality-based selector (`=`, `==`, `!=`, `key`, `!key`).
/// An empty selector matches everything.
pub fn selector_matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .all(|r| {
            if let Some((k, v)) = r.split_once("!=") {
                labels.get(k.trim()).map(String::as_str) != Some(v.trim())
            } else if let Some((k, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
                labels.get(k.trim()).map(String::as_str) == Some(v.trim())
            } else if let Some(k) = r.strip_prefix('!') {
                !labels.contains_key(k.trim())
            } else {
                labels.contains_key(r)
            }
        })
}

impl Focus {
    pub fn matches(&self, row: &PodRow) -> bool {
        let owned = |kind: &str, name: &str| {
            row.owner
                .as_ref()
                .is_some_and(|o| o.kind == kind && o.name == name)
        };
        match self {
            Focus::Deployment { namespace, name } => {
                row.namespace == *namespace && owned("Deployment", name)
            }
            Focus::Job { namespace, name } => {
                row.namespace == *namespace
                    && (owned("Job", name)
                        || row.labels.get("job-name") == Some(name)
                        || row.labels.get("batch.kubernetes.io/job-name") == Some(name))
            }
            Focus::Selector {
                namespace,
                selector,
            } => row.namespace == *namespace && selector_matches(selector, &row.labels),
            Focus::Pod { namespace, name } => row.namespace == *namespace && row.name == *name,
            Focus::Rollout { namespace, name } => {
                row.namespace == *namespace && owned("Rollout", name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(v: Value) -> Pod {
        let mut base = json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1",
                "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "app", "image": "web:1"}], "nodeName": "node-1"},
            "status": {"phase": "Running"},
        });
        merge(&mut base, v);
        serde_json::from_value(base).expect("pod")
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn status(v: Value) -> PodRow {
        PodRow::from_pod(&pod(v))
    }

    fn ctr(state: Value, ready: bool, restarts: i32) -> Value {
        json!({"name": "app", "image": "web:1", "imageID": "", "ready": ready,
            "restartCount": restarts, "state": state})
    }

    #[test]
    fn running_and_ready() {
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"running": {"startedAt": "2025-01-01T00:00:01Z"}}), true, 0)]}}));
        assert_eq!(
            (r.status.as_str(), r.ready, r.health),
            ("Running", (1, 1), Health::Ok)
        );
        assert_eq!(r.node.as_deref(), Some("node-1"));
        assert_eq!(r.images, vec!["web:1".to_string()]);
        assert_eq!(
            r.created,
            Some(
                DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
    }

    #[test]
    fn running_not_ready_is_pending() {
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"running": {}}), false, 0)]}}));
        assert_eq!(
            (r.status.as_str(), r.ready, r.health),
            ("Running", (0, 1), Health::Pending)
        );
    }

    #[test]
    fn waiting_reason_is_the_status() {
        for (reason, health) in [
            ("ContainerCreating", Health::Pending),
            ("CrashLoopBackOff", Health::Failed),
            ("ImagePullBackOff", Health::Failed),
            ("ErrImagePull", Health::Failed),
        ] {
            let r = status(json!({"status": {"phase": "Pending", "containerStatuses": [
                ctr(json!({"waiting": {"reason": reason}}), false, 3)]}}));
            assert_eq!((r.status.as_str(), r.health), (reason, health));
            assert_eq!(r.restarts, 3);
        }
    }

    #[test]
    fn terminated_reason_or_exit_code() {
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), false, 1)]}}));
        assert_eq!((r.status.as_str(), r.health), ("OOMKilled", Health::Failed));
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"terminated": {"exitCode": 2}}), false, 0)]}}));
        assert_eq!(r.status, "ExitCode:2");
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"terminated": {"exitCode": 0, "signal": 9}}), false, 0)]}}));
        assert_eq!(r.status, "Signal:9");
    }

    #[test]
    fn completed_and_succeeded() {
        let r = status(
            json!({"status": {"phase": "Succeeded", "containerStatuses": [
            ctr(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}), false, 0)]}}),
        );
        assert_eq!((r.status.as_str(), r.health), ("Completed", Health::Ok));
        let r = status(json!({"status": {"phase": "Failed", "containerStatuses": [
            ctr(json!({"terminated": {"exitCode": 1, "reason": "Error"}}), false, 0)]}}));
        assert_eq!((r.status.as_str(), r.health), ("Error", Health::Failed));
    }

    #[test]
    fn completed_with_a_running_container_is_running_or_not_ready() {
        let two = |ready_cond: &str| {
            status(json!({
                "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
                "status": {"conditions": [{"type": "Ready", "status": ready_cond}],
                    "containerStatuses": [
                    {"name": "a", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
                        "state": {"running": {}}},
                    {"name": "b", "image": "y", "imageID": "", "ready": false, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}))
        };
        assert_eq!(two("True").status, "Running");
        assert_eq!(two("False").status, "NotReady");
        assert_eq!(two("False").ready, (1, 2));
    }

    #[test]
    fn init_containers() {
        let with_init = |init_state: Value, restarts: i32| {
            status(json!({
                "spec": {"initContainers": [{"name": "init", "image": "busybox"}]},
                "status": {"phase": "Pending",
                    "initContainerStatuses": [{"name": "init", "image": "busybox", "imageID": "",
                        "ready": false, "restartCount": restarts, "state": init_state}],
                    "containerStatuses": [ctr(json!({"waiting": {"reason": "PodInitializing"}}), false, 0)]}}))
        };
        let r = with_init(json!({"running": {}}), 0);
        assert_eq!((r.status.as_str(), r.health), ("Init:0/1", Health::Pending));
        let r = with_init(json!({"waiting": {"reason": "CrashLoopBackOff"}}), 4);
        assert_eq!(
            (r.status.as_str(), r.health, r.restarts),
            ("Init:CrashLoopBackOff", Health::Failed, 4)
        );
        let r = with_init(json!({"terminated": {"exitCode": 1, "reason": "Error"}}), 0);
        assert_eq!(r.status, "Init:Error");
        let r = with_init(json!({"terminated": {"exitCode": 3}}), 0);
        assert_eq!(r.status, "Init:ExitCode:3");
        let r = with_init(json!({"waiting": {"reason": "PodInitializing"}}), 0);
        assert_eq!(r.status, "Init:0/1");
        // Done: the main containers decide.
        let r = with_init(
            json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
            0,
        );
        assert_eq!(r.status, "PodInitializing");
    }

    #[test]
    fn why_a_pod_is_not_running() {
        let r = status(
            json!({"spec": {"nodeName": null}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/2 nodes are available: 2 Insufficient memory."}]}}),
        );
        assert_eq!(r.status, "Pending");
        assert_eq!(r.status_text(), "Pending (Unschedulable)");
        assert_eq!(
            r.message.as_deref(),
            Some("0/2 nodes are available: 2 Insufficient memory.")
        );
        let r = status(json!({"status": {"containerStatuses": [ctr(
            json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container=app pod=p_default(u1)"}}),
            false, 6)]}}));
        assert_eq!(r.status_text(), "CrashLoopBackOff");
        assert_eq!(r.reason.as_deref(), Some("CrashLoopBackOff"));
        assert!(r.message.unwrap().starts_with("back-off 40s"));
        let r = status(json!({"status": {"containerStatuses": [
            ctr(json!({"running": {}}), true, 0)]}}));
        assert_eq!((r.reason, r.message), (None, None));
    }

    #[test]
    fn deletion_is_terminating() {
        let r = status(json!({
            "metadata": {"deletionTimestamp": "2025-01-01T00:01:00Z"},
            "status": {"containerStatuses": [ctr(json!({"running": {}}), true, 0)]}}));
        assert_eq!(
            (r.status.as_str(), r.health),
            ("Terminating", Health::Pending)
        );
    }

    #[test]
    fn pending_without_status_and_status_reason() {
        let r = PodRow::from_pod(
            &serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "a", "image": "x"}]}}))
            .unwrap(),
        );
        assert_eq!(
            (r.status.as_str(), r.phase.as_str(), r.ready),
            ("Pending", "Pending", (0, 1))
        );
        let r = status(json!({"status": {"phase": "Failed", "reason": "Evicted"}}));
        assert_eq!((r.status.as_str(), r.health), ("Evicted", Health::Failed));
    }

    #[test]
    fn a_rollouts_pods_are_the_rollouts_and_know_their_role() {
        let r = status(json!({"metadata": {
            "labels": {"app": "shop", ROLLOUT_HASH_LABEL: "5f4d7c8b9"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "shop-5f4d7c8b9", "uid": "rs", "controller": true}]}}));
        assert_eq!(
            r.owner,
            Some(Owner {
                kind: "Rollout".into(),
                name: "shop".into()
            })
        );
        assert!(
            Focus::Rollout {
                namespace: "default".into(),
                name: "shop".into()
            }
            .matches(&r)
        );
        let canary = RolloutRoles::of(&json!({
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"strategy": {"canary": {"steps": []}}},
            "status": {"stableRS": "old", "currentPodHash": "new"}}));
        assert_eq!(canary.role("new"), Some((0, "canary")));
        assert_eq!(canary.role("old"), Some((1, "stable")));
        assert_eq!(canary.role("older"), None);
        let bg = RolloutRoles::of(&json!({
            "metadata": {"name": "cart", "namespace": "default"},
            "spec": {"strategy": {"blueGreen": {"activeService": "cart"}}},
            "status": {"stableRS": "old", "currentPodHash": "new",
                       "blueGreen": {"activeSelector": "old", "previewSelector": "new"}}}));
        assert_eq!(bg.role("new"), Some((0, "preview")));
        assert_eq!(bg.role("old"), Some((1, "active")));
        assert_eq!(bg.role(""), None);
    }

    #[test]
    fn owners() {
        let r = status(json!({"metadata": {
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-7d9f8c6b5", "uid": "rs", "controller": true}]}}));
        assert_eq!(
            r.owner,
            Some(Owner {
                kind: "Deployment".into(),
                name: "web".into()
            })
        );
        let r = status(
            json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "ReplicaSet", "name": "lonely", "uid": "rs", "controller": true}]}}),
        );
        assert_eq!(r.owner.unwrap().kind, "ReplicaSet");
        let r = status(json!({"metadata": {"labels": {"job-name": "migrate"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "migrate",
            "uid": "j", "controller": true}]}}));
        assert_eq!(r.owner.clone().unwrap().kind, "Job");
        let ns = "default".to_string();
        assert!(
            Focus::Job {
                namespace: ns.clone(),
                name: "migrate".into()
            }
            .matches(&r)
        );
        assert!(
            !Focus::Job {
                namespace: "other".into(),
                name: "migrate".into()
            }
            .matches(&r)
        );
    }

    #[test]
    fn focus_by_selector_deployment_and_pod() {
        let r = status(
            json!({"metadata": {"labels": {"app": "web", "tier": "front",
            "pod-template-hash": "abc"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-abc", "uid": "rs", "controller": true}]}}),
        );
        let sel = |s: &str| Focus::Selector {
            namespace: "default".into(),
            selector: s.into(),
        };
        assert!(sel("app=web").matches(&r));
        assert!(sel("app==web, tier=front").matches(&r));
        assert!(!sel("app=web,tier=back").matches(&r));
        assert!(sel("tier!=back,app,!missing").matches(&r));
        assert!(!sel("missing").matches(&r));
        let dep = |n: &str| Focus::Deployment {
            namespace: "default".into(),
            name: n.into(),
        };
        assert!(dep("web").matches(&r));
        assert!(!dep("we").matches(&r));
        assert!(
            Focus::Pod {
                namespace: "default".into(),
                name: "p".into()
            }
            .matches(&r)
        );
    }

    #[test]
    fn detail_keeps_the_newest_events_oldest_first() {
        let p = pod(json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "not yet"}],
            "containerStatuses": [ctr(json!({"waiting": {"reason": "CrashLoopBackOff"}}), false, 2)
                .as_object().cloned().map(|mut o| { o.insert("lastState".into(),
                    json!({"terminated": {"exitCode": 1, "reason": "Error"}})); Value::Object(o) }).unwrap()]}}));
        let events: Vec<Event> = (0..25)
            .rev()
            .map(|i| {
                serde_json::from_value(json!({
                    "metadata": {"name": format!("p.{i}"), "namespace": "default"},
                    "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                    "reason": format!("R{i}"), "message": "m", "type": "Normal",
                    "lastTimestamp": format!("2025-01-01T00:00:{i:02}Z"), "count": 1}))
                .unwrap()
            })
            .collect();
        let d = detail_of(&p, &events);
        assert_eq!(d.events.len(), DETAIL_EVENTS);
        assert_eq!(d.events.first().unwrap().reason, "R5");
        assert_eq!(d.events.last().unwrap().reason, "R24");
        let c = &d.containers[0];
        assert_eq!(
            (
                c.state.as_str(),
                c.reason.as_deref(),
                c.restarts,
                c.last_termination.as_deref()
            ),
            (
                "Waiting",
                Some("CrashLoopBackOff"),
                2,
                Some("Error (exit 1)")
            )
        );
        assert_eq!(
            c.last,
            Some(LastRun {
                reason: Some("Error".into()),
                exit_code: 1,
                signal: None,
                finished: None
            })
        );
        assert_eq!(
            d.conditions[0].reason.as_deref(),
            Some("ContainersNotReady")
        );
    }
}

//! Stern-like log tails: every container of every pod a [`Source`] names, followed as pods come
//! and go, through API server restarts and container restarts, with no line delivered twice.
//!
//! One task watches the source's pods (`runtime::watcher` with its default back-off) and starts a
//! follower per container once it has a log (running or terminated). A follower streams
//! `follow=true&timestamps=true`; when the stream ends or fails while the pod still exists, it
//! reconnects with back-off from the last line's timestamp and drops what it already delivered
//! (see [`Dedupe`]). A container restart ends the follow stream; the reconnect reads the new
//! instance. Lines go through one batching task to the caller, at most [`BATCH_LINES`] at a time
//! and at most [`BATCH_TIME`] late. Nothing is kept beyond the last timestamp's lines.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{Api, LogParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Lines sent in one [`LogsUpdate::Lines`], at most.
pub const BATCH_LINES: usize = 256;
/// How long a line waits for others to share its batch, at most.
pub const BATCH_TIME: Duration = Duration::from_millis(20);
/// Reconnect back-off: from this, doubling after each attempt that brings nothing, up to the max.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// How long a follower of a deleted pod may still read what its stream has before it stops.
const GONE_GRACE: Duration = Duration::from_secs(2);

/// What to tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Pod {
        namespace: String,
        name: String,
    },
    /// The pods the deployment's `spec.selector` selects (every ReplicaSet's, during a rollout).
    Deployment {
        namespace: String,
        name: String,
    },
    /// A label selector such as `app=web,tier!=cache`.
    Selector {
        namespace: String,
        selector: String,
    },
    /// The pods of a Job (label `job-name=`).
    Job {
        namespace: String,
        name: String,
    },
}

impl Source {
    pub fn namespace(&self) -> &str {
        match self {
            Source::Pod { namespace, .. }
            | Source::Deployment { namespace, .. }
            | Source::Selector { namespace, .. }
            | Source::Job { namespace, .. } => namespace,
        }
    }

    /// How the source is named to people: `deployment/payment-backend`, `pod/web-0`, `job/migrate`,
    /// `app=web`.
    pub fn label(&self) -> String {
        match self {
            Source::Pod { name, .. } => format!("pod/{name}"),
            Source::Deployment { name, .. } => format!("deployment/{name}"),
            Source::Selector { selector, .. } => selector.clone(),
            Source::Job { name, .. } => format!("job/{name}"),
        }
    }

    /// The start every pod name of the source shares (`payment-backend-`), which a log prefix
    /// can leave out.
    pub fn pod_prefix(&self) -> Option<String> {
        match self {
            Source::Deployment { name, .. } | Source::Job { name, .. } => Some(format!("{name}-")),
            Source::Pod { .. } | Source::Selector { .. } => None,
        }
    }
}

/// How to tail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TailOptions {
    /// Lines older than this are not shown. The app passes the current step's start time;
    /// `None` is each container's whole log.
    pub since: Option<DateTime<Utc>>,
    /// Only this container of each pod; `None` is every container (init containers included).
    pub container: Option<String>,
    /// The previous instance of each container (the run its status's `lastState.terminated`
    /// names), read once (no follow); a container without one is reported as an error.
    pub previous: bool,
}

/// One line of a container's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub pod: String,
    pub container: String,
    /// When the container wrote it (the API server's `timestamps=true` prefix).
    pub ts: Option<DateTime<Utc>>,
    /// The line without its timestamp.
    pub text: String,
    /// Stable per pod and container for the tail's life, given in the order they join: the
    /// colour of the line's prefix.
    pub source: usize,
}

/// What a tail reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogsUpdate {
    /// New lines, in order per container.
    Lines(Vec<LogLine>),
    /// A container is followed (first, or again after [`LogsUpdate::Reconnecting`]).
    Joined { pod: String, container: String },
    /// The pod is gone; its container is no longer followed.
    Left { pod: String, container: String },
    /// A container's log stream failed; it is being reopened.
    Reconnecting {
        pod: String,
        container: String,
        error: String,
    },
    /// Something about the whole tail: its pods cannot be watched, its deployment not found.
    Error(String),
}

/// A running tail; dropping it (or [`TailHandle::stop`]) stops every task of the tail.
pub struct TailHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl TailHandle {
    pub fn stop(self) {}

    /// Whether the tail has stopped (the receiver was dropped).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(JoinHandle::is_finished)
    }
}

impl Drop for TailHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts tailing `source`; updates go to `tx` until the handle is dropped or `tx` is closed.
pub fn spawn_tail(
    client: Client,
    source: Source,
    opts: TailOptions,
    tx: mpsc::Sender<LogsUpdate>,
) -> TailHandle {
    let (itx, irx) = mpsc::channel(4 * BATCH_LINES);
    let batcher = tokio::spawn(batch(irx, tx));
    let manager = tokio::spawn(manage(client, source, opts, itx));
    TailHandle {
        tasks: vec![manager, batcher],
    }
}

/// What followers and the pod watcher send to the batcher.
enum Msg {
    /// Lines of one container, at most [`BATCH_LINES`].
    Lines(Vec<LogLine>),
    Update(LogsUpdate),
}

async fn batch(mut rx: mpsc::Receiver<Msg>, tx: mpsc::Sender<LogsUpdate>) {
    let mut buf: Vec<LogLine> = Vec::new();
    let mut deadline = Instant::now();
    loop {
        let msg = if buf.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                biased;
                m = rx.recv() => m,
                () = tokio::time::sleep_until(deadline) => {
                    if tx.send(LogsUpdate::Lines(std::mem::take(&mut buf))).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        };
        match msg {
            None => {
                if !buf.is_empty() {
                    let _ = tx.send(LogsUpdate::Lines(buf)).await;
                }
                return;
            }
            Some(Msg::Lines(lines)) => {
                if buf.len() + lines.len() > BATCH_LINES
                    && tx
                        .send(LogsUpdate::Lines(std::mem::take(&mut buf)))
                        .await
                        .is_err()
                {
                    return;
                }
                if buf.is_empty() {
                    deadline = Instant::now() + BATCH_TIME;
                    if lines.len() >= BATCH_LINES {
                        if tx.send(LogsUpdate::Lines(lines)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    buf.reserve(BATCH_LINES);
                }
                buf.extend(lines);
                if buf.len() >= BATCH_LINES
                    && tx
                        .send(LogsUpdate::Lines(std::mem::take(&mut buf)))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            Some(Msg::Update(u)) => {
                // Lines before the event stay before it.
                if !buf.is_empty()
                    && tx
                        .send(LogsUpdate::Lines(std::mem::take(&mut buf)))
                        .await
                        .is_err()
                {
                    return;
                }
                if tx.send(u).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A container as its pod's status shows it, for its follower.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct CState {
    restarts: i32,
    running: bool,
    /// It has a log to read: running, terminated, or waiting to restart after a run (for
    /// `previous`: always, the API server says when there is none).
    loggable: bool,
    /// The pod is gone.
    gone: bool,
}

fn container_state(cs: &ContainerStatus, previous: bool) -> CState {
    let state = cs.state.as_ref();
    let running = state.is_some_and(|s| s.running.is_some());
    let terminated = state.is_some_and(|s| s.terminated.is_some());
    // A container in CrashLoopBackOff is waiting, and its log is the run that just ended.
    let has_run = cs.restart_count > 0
        || cs
            .last_state
            .as_ref()
            .is_some_and(|s| s.terminated.is_some());
    let loggable = previous || running || terminated || has_run;
    CState {
        restarts: cs.restart_count,
        running,
        loggable,
        gone: false,
    }
}

struct Followed {
    state: watch::Sender<CState>,
}

struct Manager {
    pods: Api<Pod>,
    opts: TailOptions,
    out: mpsc::Sender<Msg>,
    followed: HashMap<(String, String), Followed>,
    tasks: JoinSet<()>,
    next_source: usize,
}

impl Manager {
    fn apply(&mut self, pod: &Pod) {
        let name = pod.name_any();
        let Some(status) = pod.status.as_ref() else {
            return;
        };
        let all = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in all {
            if self.opts.container.as_ref().is_some_and(|c| *c != cs.name) {
                continue;
            }
            let st = container_state(cs, self.opts.previous);
            let key = (name.clone(), cs.name.clone());
            if let Some(f) = self.followed.get(&key) {
                f.state.send_if_modified(|s| {
                    let changed = *s != st;
                    *s = st;
                    changed
                });
                continue;
            }
            if !st.loggable {
                continue;
            }
            let (state, rx) = watch::channel(st);
            let source = self.next_source;
            self.next_source += 1;
            let f = Follower {
                pods: self.pods.clone(),
                pod: name.clone(),
                container: cs.name.clone(),
                source,
                state: rx,
                out: self.out.clone(),
                dedupe: Dedupe::new(self.opts.since),
            };
            if self.opts.previous {
                self.tasks.spawn(f.previous());
            } else {
                self.tasks.spawn(f.run());
            }
            self.followed.insert(key, Followed { state });
        }
    }

    /// The pod is gone: its followers finish what their streams still hold, then stop.
    fn gone(&mut self, pod: &str) {
        self.followed.retain(|(p, _), f| {
            if p == pod {
                f.state.send_modify(|s| s.gone = true);
                false
            } else {
                true
            }
        });
    }
}

async fn manage(client: Client, source: Source, opts: TailOptions, out: mpsc::Sender<Msg>) {
    let ns = source.namespace().to_string();
    let config = match &source {
        Source::Pod { name, .. } => {
            watcher::Config::default().fields(&format!("metadata.name={name}"))
        }
        Source::Selector { selector, .. } => watcher::Config::default().labels(selector),
        Source::Job { name, .. } => watcher::Config::default().labels(&format!("job-name={name}")),
        Source::Deployment { name, .. } => {
            let Some(sel) = deployment_selector(&client, &ns, name, &out).await else {
                return;
            };
            watcher::Config::default().labels(&sel)
        }
    };
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let mut m = Manager {
        pods: pods.clone(),
        opts,
        out: out.clone(),
        followed: HashMap::new(),
        tasks: JoinSet::new(),
        next_source: 0,
    };
    let mut stream = watcher::watcher(pods, config).default_backoff().boxed();
    // Pods listed since the watch last (re)started: the others were deleted meanwhile.
    let mut listed: Option<HashSet<String>> = None;
    let mut failing = false;
    loop {
        let ev = tokio::select! {
            ev = stream.next() => ev,
            () = out.closed() => return,
        };
        let Some(ev) = ev else { return };
        while m.tasks.try_join_next().is_some() {}
        let ev = match ev {
            Ok(ev) => {
                failing = false;
                ev
            }
            Err(e) => {
                if !failing {
                    failing = true;
                    let msg = format!("watching the pods of {}: {e}", source.label());
                    if out.send(Msg::Update(LogsUpdate::Error(msg))).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        match ev {
            watcher::Event::Init => listed = Some(HashSet::new()),
            watcher::Event::InitApply(p) => {
                if let Some(l) = listed.as_mut() {
                    l.insert(p.name_any());
                }
                m.apply(&p);
            }
            watcher::Event::InitDone => {
                if let Some(l) = listed.take() {
                    let stale: HashSet<String> = m
                        .followed
                        .keys()
                        .filter(|(p, _)| !l.contains(p))
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in stale {
                        m.gone(&p);
                    }
                }
            }
            watcher::Event::Apply(p) => m.apply(&p),
            watcher::Event::Delete(p) => m.gone(&p.name_any()),
        }
    }
}

/// The label selector of a deployment, retried with back-off until it can be read; `None` when
/// nobody listens any more.
async fn deployment_selector(
    client: &Client,
    ns: &str,
    name: &str,
    out: &mpsc::Sender<Msg>,
) -> Option<String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let mut backoff = BACKOFF_MIN;
    let mut reported = false;
    loop {
        let err = match api.get(name).await {
            Ok(d) => {
                let sel = d.spec.map(|s| s.selector).unwrap_or_default();
                match kube::core::labels::Selector::try_from(sel) {
                    Ok(s) if !s.selects_all() => return Some(s.to_string()),
                    Ok(_) => format!("deployment/{name} has an empty selector"),
                    Err(e) => format!("deployment/{name}: {e}"),
                }
            }
            Err(e) => format!("deployment/{name}: {e}"),
        };
        if !reported {
            reported = true;
            out.send(Msg::Update(LogsUpdate::Error(err))).await.ok()?;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = out.closed() => return None,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// What a follower keeps to deliver every line once across reconnects: the newest timestamp
/// delivered and how many times each text was delivered at exactly that timestamp.
///
/// A reconnect asks for lines from that timestamp's second (`sinceTime` has second precision);
/// lines older than the timestamp are dropped, and at the timestamp a text is dropped as many
/// times as it was delivered before (identical lines written at the same instant all count).
#[derive(Debug, Default)]
pub struct Dedupe {
    last: Option<DateTime<Utc>>,
    at_last: HashMap<String, usize>,
    /// After a reconnect, until a newer timestamp: how often each text at `last` came again.
    replay: Option<HashMap<String, usize>>,
}

impl Dedupe {
    /// Nothing delivered yet; lines before `since` are dropped.
    pub fn new(since: Option<DateTime<Utc>>) -> Dedupe {
        Dedupe {
            last: since,
            ..Dedupe::default()
        }
    }

    /// A new stream starts: what it repeats is dropped.
    pub fn reconnect(&mut self) {
        self.replay = Some(HashMap::new());
    }

    /// The `sinceTime` to ask for: the newest delivered line's second (rounded down).
    pub fn since(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        let t = self.last?;
        k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).ok()
    }

    /// Whether a line is new (and then it counts as delivered).
    pub fn admit(&mut self, ts: Option<DateTime<Utc>>, text: &str) -> bool {
        let Some(ts) = ts else { return true };
        match self.last {
            Some(last) if ts < last => false,
            Some(last) if ts == last => {
                let delivered = self.at_last.get(text).copied().unwrap_or(0);
                if let Some(replay) = self.replay.as_mut() {
                    let seen = replay.entry(text.to_string()).or_insert(0);
                    *seen += 1;
                    if *seen <= delivered {
                        return false;
                    }
                }
                self.at_last.insert(text.to_string(), delivered + 1);
                true
            }
            _ => {
                self.last = Some(ts);
                self.at_last.clear();
                self.at_last.insert(text.to_string(), 1);
                self.replay = None;
                true
            }
        }
    }
}

/// Splits `2026-01-02T03:04:05.123456789Z text` into its time and text.
pub fn parse_line(line: &str) -> (Option<DateTime<Utc>>, &str) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if let Some((ts, text)) = line.split_once(' ')
        && let Ok(t) = DateTime::parse_from_rfc3339(ts)
    {
        return (Some(t.with_timezone(&Utc)), text);
    }
    match DateTime::parse_from_rfc3339(line) {
        Ok(t) => (Some(t.with_timezone(&Utc)), ""),
        Err(_) => (None, line),
    }
}

/// How a log stream ended.
enum End {
    /// The container's log ended (it stopped, or the server closed the stream cleanly).
    Eof,
    Failed(String),
    /// The pod is gone, or nobody listens any more.
    Stop,
}

struct Follower {
    pods: Api<Pod>,
    pod: String,
    container: String,
    source: usize,
    state: watch::Receiver<CState>,
    out: mpsc::Sender<Msg>,
    dedupe: Dedupe,
}

impl Follower {
    async fn update(&self, u: LogsUpdate) -> bool {
        self.out.send(Msg::Update(u)).await.is_ok()
    }

    fn joined(&self) -> LogsUpdate {
        LogsUpdate::Joined {
            pod: self.pod.clone(),
            container: self.container.clone(),
        }
    }

    fn params(&self, previous: bool) -> LogParams {
        LogParams {
            container: Some(self.container.clone()),
            follow: !previous,
            previous,
            timestamps: true,
            since_time: self.dedupe.since(),
            ..LogParams::default()
        }
    }

    /// Adds the line to `chunk` unless it was delivered before.
    fn admit(&mut self, line: &str, chunk: &mut Vec<LogLine>) {
        let (ts, text) = parse_line(line);
        if !self.dedupe.admit(ts, text) {
            return;
        }
        chunk.push(LogLine {
            pod: self.pod.clone(),
            container: self.container.clone(),
            ts,
            text: text.to_string(),
            source: self.source,
        });
    }

    /// Sends a chunk of lines; false when nobody listens.
    async fn send(&self, chunk: Vec<LogLine>) -> bool {
        chunk.is_empty() || self.out.send(Msg::Lines(chunk)).await.is_ok()
    }

    /// Reads one log stream to its end.
    async fn stream(&mut self, previous: bool, failed_before: bool) -> End {
        self.dedupe.reconnect();
        let reader = match self
            .pods
            .log_stream(&self.pod, &self.params(previous))
            .await
        {
            Ok(r) => r,
            Err(e) => return End::Failed(error_text(&e)),
        };
        if failed_before && !previous && !self.update(self.joined()).await {
            return End::Stop;
        }
        let mut lines = reader.lines();
        let mut stop_at: Option<Instant> = None;
        loop {
            let next = tokio::select! {
                l = lines.next() => l,
                r = self.state.changed(), if stop_at.is_none() => {
                    if r.is_err() || self.state.borrow().gone {
                        stop_at = Some(Instant::now() + GONE_GRACE);
                    }
                    continue;
                }
                () = tokio::time::sleep_until(stop_at.unwrap_or_else(Instant::now)), if stop_at.is_some() => {
                    return End::Stop;
                }
            };
            match next {
                None => return End::Eof,
                Some(Err(e)) => return End::Failed(e.to_string()),
                Some(Ok(line)) => {
                    // With the lines already read, one message for the batcher.
                    let mut chunk = Vec::new();
                    self.admit(&line, &mut chunk);
                    let mut end = None;
                    for _ in 1..BATCH_LINES {
                        match lines.next().now_or_never() {
                            Some(Some(Ok(line))) => self.admit(&line, &mut chunk),
                            Some(Some(Err(e))) => {
                                end = Some(End::Failed(e.to_string()));
                                break;
                            }
                            Some(None) => {
                                end = Some(End::Eof);
                                break;
                            }
                            None => break,
                        }
                    }
                    if !self.send(chunk).await {
                        return End::Stop;
                    }
                    if let Some(end) = end {
                        return end;
                    }
                }
            }
        }
    }

    /// Follows the container until its pod is gone.
    async fn run(mut self) {
        if !self.update(self.joined()).await {
            return;
        }
        let mut backoff = BACKOFF_MIN;
        let mut failed = false;
        let mut restarts = self.state.borrow_and_update().restarts;
        loop {
            let now = self.state.borrow_and_update().clone();
            if now.gone {
                break;
            }
            // The container restarted while a failed stream was away: the rest of the old
            // instance's log is its "previous" log now.
            if failed && now.restarts > restarts {
                match self.stream(true, false).await {
                    End::Stop => return,
                    End::Eof | End::Failed(_) => {}
                }
            }
            restarts = now.restarts;
            let delivered_before = self.dedupe.last;
            let end = self.stream(false, failed).await;
            let progressed = self.dedupe.last != delivered_before;
            if progressed {
                backoff = BACKOFF_MIN;
            }
            let st = self.state.borrow().clone();
            if st.gone {
                break;
            }
            let wait_for_change = match end {
                End::Stop => return,
                End::Eof => {
                    failed = false;
                    // A stopped container's log has ended for good until it restarts.
                    !st.running
                }
                End::Failed(error) => {
                    failed = true;
                    let u = LogsUpdate::Reconnecting {
                        pod: self.pod.clone(),
                        container: self.container.clone(),
                        error,
                    };
                    if !self.update(u).await {
                        return;
                    }
                    false
                }
            };
            if wait_for_change {
                if self.state.changed().await.is_err() {
                    break;
                }
            } else {
                tokio::select! {
                    r = self.state.changed() => if r.is_err() { break },
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
        let _ = self
            .update(LogsUpdate::Left {
                pod: self.pod.clone(),
                container: self.container.clone(),
            })
            .await;
    }

    /// Reads the previous instance's log once; says so when there is none.
    async fn previous(mut self) {
        if !self.update(self.joined()).await {
            return;
        }
        if let End::Failed(e) = self.stream(true, false).await {
            let msg = format!("{} {}: {e}", self.pod, self.container);
            let _ = self.update(LogsUpdate::Error(msg)).await;
        }
    }
}

/// An error in one line: the API server's own message when it gave one (`previous terminated
/// container "app" in pod "web-0" not found`).
fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message.clone(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<DateTime<Utc>> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn parses_timestamped_lines() {
        let (ts, text) = parse_line("2026-01-02T03:04:05.123456789Z GET / 200\r");
        assert_eq!(ts, t("2026-01-02T03:04:05.123456789Z"));
        assert_eq!(text, "GET / 200");
        assert_eq!(parse_line("2026-01-02T03:04:05Z ").1, "");
        assert_eq!(parse_line("2026-01-02T03:04:05Z").1, "");
        assert_eq!(parse_line("plain line"), (None, "plain line"));
    }

    #[test]
    fn dedupe_drops_what_a_reconnect_repeats() {
        let mut d = Dedupe::new(t("2026-01-02T03:04:05Z"));
        assert!(!d.admit(t("2026-01-02T03:04:04.9Z"), "before since"));
        assert!(d.admit(t("2026-01-02T03:04:05.5Z"), "a"));
        assert!(d.admit(t("2026-01-02T03:04:06Z"), "b"));
        assert!(d.admit(t("2026-01-02T03:04:06Z"), "b"));
        assert!(d.admit(t("2026-01-02T03:04:06Z"), "c"));
        assert_eq!(d.since().unwrap().as_second(), 1_767_323_046);
        d.reconnect();
        assert!(!d.admit(t("2026-01-02T03:04:05.5Z"), "a"));
        assert!(!d.admit(t("2026-01-02T03:04:06Z"), "b"));
        assert!(!d.admit(t("2026-01-02T03:04:06Z"), "c"));
        assert!(!d.admit(t("2026-01-02T03:04:06Z"), "b"));
        // A third identical line at the same instant is new.
        assert!(d.admit(t("2026-01-02T03:04:06Z"), "b"));
        assert!(d.admit(t("2026-01-02T03:04:06Z"), "d"));
        assert!(d.admit(t("2026-01-02T03:04:07Z"), "e"));
        assert!(d.admit(t("2026-01-02T03:04:07Z"), "e"));
        assert!(d.admit(None, "no time"));
    }
}

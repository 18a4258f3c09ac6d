//! The kubelet of every node: runs the pods bound to it.
//!
//! A pod goes through what a kubelet and containerd do, each step a timer in simulated seconds
//! ([`Delays`]): the pod is admitted (`startTime`, `hostIP`, containers waiting `ContainerCreating`,
//! PodReadyToStartContainers False), its sandbox comes up (`podIP` from 10.244.0.0/16,
//! PodReadyToStartContainers True), init containers run one after another (restartable ones, sidecars,
//! keep running), then each container's image is ensured (`imagePullPolicy`: Always pulls, IfNotPresent
//! pulls once per node then "already present on machine"), the container is created and started
//! (`state.running.startedAt`, a new `containerID`), and it becomes ready when its readiness probe first
//! succeeds: at the first probe tick at or after `initialDelaySeconds` (ticks every `periodSeconds`), plus
//! `successThreshold - 1` periods; without a readiness probe it is ready once running (and started, with a
//! startup probe). Conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady and the
//! scheduler's PodScheduled carry transition times; the phase is computed as the kubelet's `getPhase`.
//!
//! Exits follow the restart policy: Always restarts, OnFailure restarts non-zero exits, Never does not;
//! a pod whose containers have all stopped for good is Succeeded or Failed. Restarts go through the
//! kubelet's crash back-off: the first restart is immediate, then `CrashLoopBackOff` for 10 s, 20 s,
//! 40 s … up to 300 s (reset after ten minutes without a crash), `restartCount` growing, the previous
//! run in `lastState.terminated` and its log kept as the "previous" log. Image pulls that fail back off
//! the same way (`ErrImagePull`, then `ImagePullBackOff`).
//!
//! A pod with `metadata.deletionTimestamp` is stopped: "Killing" events, the containers get SIGTERM
//! (a last log line) and not ready, and after min(grace period, 2 s) they are terminated and the pod
//! removed (its logs with it; followers end).
//!
//! # Image rules
//!
//! The image's tag (the text after the last `:` of its last path segment) decides how the fake
//! container behaves, so a runbook can rehearse failure:
//!
//! | tag contains                                | behaviour                                                                                       |
//! |---------------------------------------------|-------------------------------------------------------------------------------------------------|
//! | `bad`, `unknown`, `missing`, `doesnotexist` | the pull fails: `ErrImagePull` ("... not found"), then `ImagePullBackOff`; the pod stays Pending |
//! | `crashloop`                                 | runs ~2 s, logs an error, exits 1: restarts, then `CrashLoopBackOff` with growing back-off      |
//! | `oom`                                       | runs ~3 s, then is killed: exit 137, reason `OOMKilled`, restarts as above                      |
//! | `fail`                                      | runs ~3 s, logs an error, exits 1 (a Job's pod fails; a long-running one crash-loops)           |
//! | `unhealthy`                                 | healthy for 10 s, then its probes fail: not ready, and a liveness probe kills it (restart); its HTTP answers are 503 from then |
//! | `slow`                                      | starts serving after ~60 s: readiness (and liveness) probes fail until then; without a readiness probe the image pull takes ~60 s; its HTTP answers take [`SLOW_LATENCY`](crate::traffic::SLOW_LATENCY) |
//! | `errors-N` (N 0–100, e.g. `2.0-errors-10`)  | a normal, healthy pod whose HTTP answers ([`traffic`](crate::traffic)) are 500 for N of every 100 requests it serves, spread evenly |
//! | anything else                               | runs until stopped; a Job's pod (or any pod whose restartPolicy is not Always) exits 0 after ~3 s |
//!
//! Rules are checked in the order of the table; a digest reference (`@sha256:…`) has no rules.
//!
//! # Logs
//!
//! A running container writes startup lines, then a line every `1 / timing.log_rate` simulated seconds
//! (at most 20 a real second, and all containers together at most [`LOG_BUDGET`] a real second):
//! request and health-check lines in the style of its image (nginx access
//! log, redis, postgres, a generic JSON-less app log, a batch job's progress). A crashing container logs
//! its error before it exits; a stopped one logs its shutdown.
//!
//! # Files
//!
//! This file runs a pod: admission, the order of init containers, a changed image, deletion,
//! and the timers of the next step and of log lines. `containers.rs` is the container state
//! machine (pulls, starts, exits, restarts and back-offs, probe results); `status.rs` writes the
//! pod's status. What they work on is plain data in files that use no [`Manager`]: `runtime.rs`
//! (the kubelets' pods and containers), [`Delays`], `images.rs` (image rules and references),
//! `probes.rs`, `backoff.rs` and `app_output.rs` (what the fake applications write).

mod app_output;
mod backoff;
mod containers;
mod delays;
mod images;
mod probes;
mod runtime;
mod status;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::conditions::is_terminal;
use super::manager::{Manager, Work};
use super::owners::controller_ref;
use crate::object::{Key, PointerLookup, int_at, key_of, str_at, uid_of};
use crate::resources::by_kind;
use crate::store;
use app_output::{Flavour, periodic_line, sigterm_line};
use backoff::Backoff;
use containers::{drive, emit, exit_after, exit_plan, kick, stop};
use runtime::{Container, ContainerState, PodRuntime, RestartPolicy, Transition, parse_ip};
use status::write_status;

pub use delays::Delays;
pub use images::{ImageRule, image_rule, image_tag, normalize_image};
pub use runtime::Kubelet;

/// Most periodic log lines all containers write in a real second: with thousands of pods each
/// writes less often (a rehearsal's logs stay readable and the sandbox does not spend a core on them).
pub const LOG_BUDGET: f64 = 2000.0;

/// The kubelet's sync of one pod.
pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let key: Key = (ns.to_string(), name.to_string());
    let pods = by_kind("Pod");
    let Ok(pod) = m.shared.store.get(pods, ns, name) else {
        forget(m, &key, "");
        return;
    };
    let node = str_at(&pod, "/spec/nodeName").to_string();
    if node.is_empty() {
        return;
    }
    let deleting = pod.at("/metadata/deletionTimestamp").is_some();
    if !m.index.nodes.contains_key(&node) {
        // No kubelet runs there; a deleted pod is cleaned up as the pod GC would.
        if deleting {
            let _ = m.shared.store.remove_now(pods, ns, name);
        }
        return;
    }
    if m.shared.faults.node_lost(&node) {
        // Its kubelet stopped: the pod stays as it was last reported (deleted, Terminating).
        return;
    }
    let now = Instant::now();
    if m.kubelet
        .pods
        .get(&key)
        .is_some_and(|runtime| runtime.uid != uid_of(&pod))
    {
        forget(m, &key, "");
    }
    let mut runtime = match m.kubelet.pods.remove(&key) {
        Some(runtime) => runtime,
        None => {
            if is_terminal(&pod) && !deleting {
                return;
            }
            new_pod_runtime(m, &pod, now)
        }
    };
    if deleting {
        if terminate(m, &mut runtime, &pod, now) {
            return;
        }
    } else {
        restart_changed(m, &mut runtime, &pod, now);
        advance(m, &mut runtime, &pod, now);
    }
    write_status(m, &mut runtime, &pod);
    let next = next_wake_up(&runtime);
    let running = runtime.containers.iter().any(Container::is_running);
    let start_logs = running && !runtime.logging && m.shared.timing.log_rate > 0.0;
    if start_logs {
        runtime.logging = true;
    }
    m.kubelet.pods.insert(key.clone(), runtime);
    if let Some(at) = next {
        m.schedule(Work::Pod(key.clone()), at);
    }
    if start_logs {
        let at = now + log_interval(m);
        let at = m.kubelet.align(at);
        m.schedule(Work::Logs(key), at);
    }
}

/// The earliest timer of the pod: its sandbox, its termination, a container's next transition or
/// a probe's next tick.
fn next_wake_up(runtime: &PodRuntime) -> Option<Instant> {
    let sandbox = (!runtime.sandbox_ready).then_some(runtime.sandbox_at);
    let containers = runtime.containers.iter().flat_map(|c| {
        c.next
            .map(|(at, _)| at)
            .into_iter()
            .chain(c.probes.iter().filter_map(|p| p.next))
    });
    sandbox
        .into_iter()
        .chain(runtime.terminating)
        .chain(containers)
        .min()
}

/// The pod is gone: its runtime, address and logs go too.
pub fn forget(m: &mut Manager, key: &Key, uid: &str) {
    if let Some(runtime) = m.kubelet.pods.get(key)
        && (uid.is_empty() || runtime.uid == uid)
    {
        if let Some(runtime) = m.kubelet.pods.remove(key)
            && let Some(ip) = runtime.ip
        {
            m.kubelet.ips.remove(&ip);
        }
        m.cancel(&Work::Pod(key.clone()));
        m.cancel(&Work::Logs(key.clone()));
        m.shared.logs.remove_pod(&key.0, &key.1);
        m.shared.apps.forget(&key.0, &key.1);
    }
}

/// Periodic log lines of a pod's running containers.
pub fn log_tick(m: &mut Manager, ns: &str, name: &str) {
    let key: Key = (ns.to_string(), name.to_string());
    let Some(mut runtime) = m.kubelet.pods.remove(&key) else {
        return;
    };
    if m.shared.faults.node_lost(&runtime.node) {
        // Nothing reads a lost node's logs: they stop where they were.
        runtime.logging = false;
        m.kubelet.pods.insert(key, runtime);
        return;
    }
    let mut any = false;
    for c in runtime.containers.iter_mut() {
        if c.is_running() && runtime.terminating.is_none() {
            any = true;
            let line = periodic_line(c.flavour, c.lines);
            c.lines += 1;
            m.shared.logs.append(ns, name, &c.name, &line);
        }
    }
    runtime.logging = any && runtime.terminating.is_none();
    let keep = runtime.logging;
    m.kubelet.pods.insert(key.clone(), runtime);
    if keep {
        let at = Instant::now() + log_interval(m);
        let at = m.kubelet.align(at);
        m.schedule(Work::Logs(key), at);
    }
}

fn log_interval(m: &Manager) -> Duration {
    let rate = m.shared.timing.log_rate;
    if rate <= 0.0 {
        return Duration::from_secs(3600);
    }
    let share = Duration::from_secs_f64(m.kubelet.pods.len() as f64 / LOG_BUDGET);
    m.shared
        .timing
        .delay(1.0 / rate)
        .max(Duration::from_millis(50))
        .max(share)
}

/// The runtime of a pod newly bound to this node (or adopted with the status it has).
fn new_pod_runtime(m: &mut Manager, pod: &Value, now: Instant) -> PodRuntime {
    let node = str_at(pod, "/spec/nodeName").to_string();
    let batch = controller_ref(pod).is_some_and(|r| str_at(r, "/kind") == "Job");
    let policy = match str_at(pod, "/spec/restartPolicy") {
        "Never" => RestartPolicy::Never,
        "OnFailure" => RestartPolicy::OnFailure,
        _ => RestartPolicy::Always,
    };
    let run_to_completion = batch || policy != RestartPolicy::Always;
    let mut containers = Vec::new();
    for c in pod
        .at("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        containers.push(Container::new(c, true, false));
    }
    for c in pod
        .at("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut container = Container::new(c, false, run_to_completion);
        if !containers.is_empty() {
            // Behind init containers a container waits "PodInitializing".
            container.state = ContainerState::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
        containers.push(container);
    }
    if m.shared.faults.crashes(&m.shared.store, pod) {
        // A fault injected by the rehearsal: the new pods of a Deployment crash-loop.
        for c in containers.iter_mut().filter(|c| !c.init) {
            c.rule = ImageRule::CrashLoop;
        }
    }
    let host_ip = host_ip(m, &node);
    let mut runtime = PodRuntime {
        uid: uid_of(pod).to_string(),
        node,
        ip: None,
        host_ip,
        start_time: str_at(pod, "/status/startTime").to_string(),
        sandbox_at: now + m.shared.timing.delay(m.kubelet.delays.sandbox),
        sandbox_ready: false,
        containers,
        policy,
        terminating: None,
        condition_times: HashMap::new(),
        logging: false,
    };
    if runtime.start_time.is_empty() {
        runtime.start_time = store::now();
    }
    adopt_status(m, &mut runtime, pod, now);
    runtime
}

/// A pod that already has a running status (from a fixture) keeps it: its containers are adopted as
/// running.
fn adopt_status(m: &mut Manager, runtime: &mut PodRuntime, pod: &Value, now: Instant) {
    let phase = str_at(pod, "/status/phase");
    if !matches!(phase, "Running" | "Succeeded" | "Failed") {
        return;
    }
    let statuses: Vec<Value> = pod
        .at("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(ip) = parse_ip(str_at(pod, "/status/podIP")) {
        m.kubelet.ips.insert(ip);
        runtime.ip = Some(ip);
    } else {
        runtime.ip = Some(m.kubelet.allocate_ip());
    }
    runtime.sandbox_ready = true;
    let (ns, pod_name) = key_of(pod);
    for c in runtime.containers.iter_mut() {
        let st = statuses.iter().find(|s| str_at(s, "/name") == c.name);
        let Some(st) = st else {
            if c.init {
                c.state = ContainerState::Terminated {
                    code: 0,
                    reason: "Completed".into(),
                    started_at: runtime.start_time.clone(),
                    finished_at: runtime.start_time.clone(),
                };
                c.has_run = true;
            }
            continue;
        };
        c.restarts = int_at(st, "/restartCount", 0);
        c.container_id = str_at(st, "/containerID")
            .trim_start_matches("containerd://")
            .to_string();
        c.has_run = true;
        c.last = st
            .at("/lastState/terminated")
            .map(|t| json!({"terminated": t}));
        if let Some(r) = st.at("/state/running") {
            c.state = ContainerState::Running {
                started_at: str_at(r, "/startedAt").to_string(),
            };
            c.run_since = Some(now);
            c.started = true;
            if !c.init && c.rule == ImageRule::Unhealthy {
                let at = now + m.shared.timing.delay(m.kubelet.delays.unhealthy_after);
                m.shared.apps.fails_at(&ns, &pod_name, at);
            }
            c.ready = st.get("ready").and_then(Value::as_bool).unwrap_or(true);
            c.probes.clear();
            c.exit = exit_plan(c, runtime.policy);
            if c.exit.is_some() {
                let dur = exit_after(c, &m.kubelet.delays);
                c.next = Some((now + m.shared.timing.delay(dur), Transition::Exit));
            }
            m.shared.logs.start(&ns, &pod_name, &c.name);
        } else if let Some(t) = st.at("/state/terminated") {
            c.state = ContainerState::Terminated {
                code: int_at(t, "/exitCode", 0),
                reason: str_at(t, "/reason").to_string(),
                started_at: str_at(t, "/startedAt").to_string(),
                finished_at: str_at(t, "/finishedAt").to_string(),
            };
        }
    }
}

/// The node's InternalIP, or an address made up from its place in the node table.
fn host_ip(m: &Manager, node: &str) -> String {
    if let Some(n) = m.index.nodes.get(node) {
        let addrs = n
            .at("/status/addresses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(a) = addrs.iter().find(|a| str_at(a, "/type") == "InternalIP") {
            return str_at(a, "/address").to_string();
        }
    }
    let position = m.index.nodes.keys().position(|k| k == node).unwrap_or(0);
    format!("172.18.0.{}", 2 + position % 250)
}

/// A container whose image was changed in the pod's spec is killed and started again with the new one
/// ("Container app definition changed, will be restarted").
fn restart_changed(m: &mut Manager, runtime: &mut PodRuntime, pod: &Value, now: Instant) {
    for (list, init) in [("/spec/initContainers", true), ("/spec/containers", false)] {
        let specs: Vec<Value> = pod
            .at(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for spec in specs {
            let name = str_at(&spec, "/name");
            let image = str_at(&spec, "/image");
            let Some(i) = runtime
                .containers
                .iter()
                .position(|c| c.name == name && c.init == init)
            else {
                continue;
            };
            if runtime.containers[i].image == image {
                continue;
            }
            let running = runtime.containers[i].is_running();
            if running {
                let c = runtime.containers[i].clone();
                let msg = format!("Container {name} definition changed, will be restarted");
                let node = runtime.node.clone();
                emit(m, pod, &c, &node, "Normal", "Killing", &msg);
                let policy = runtime.policy;
                runtime.policy = RestartPolicy::Never;
                stop(m, runtime, i, pod, 0, "Completed", now);
                runtime.policy = policy;
            }
            let fresh =
                Container::new(&spec, init, runtime.containers[i].flavour == Flavour::Batch);
            let c = &mut runtime.containers[i];
            c.image = fresh.image;
            c.rule = fresh.rule;
            c.flavour = fresh.flavour;
            c.pull_policy = fresh.pull_policy;
            c.pull_backoff = Backoff::default();
            c.pull_error = None;
            c.pull_started = None;
            if running || c.has_run || c.next.is_some() {
                // The back-off key includes the container's spec: a new image starts afresh.
                c.crash_backoff = Backoff::default();
                c.next = Some((now, Transition::Pull));
            }
        }
    }
}

/// Run every due step of the pod.
fn advance(m: &mut Manager, runtime: &mut PodRuntime, pod: &Value, now: Instant) {
    if !runtime.sandbox_ready {
        if now < runtime.sandbox_at {
            return;
        }
        runtime.sandbox_ready = true;
        if runtime.ip.is_none() {
            runtime.ip = Some(m.kubelet.allocate_ip());
        }
    }
    let n = runtime.containers.len();
    // Init containers, one after another.
    let mut i = 0;
    while i < n && runtime.containers[i].init {
        kick(&mut runtime.containers[i], now);
        drive(m, runtime, i, pod, now);
        let c = &runtime.containers[i];
        let done = if c.sidecar {
            c.started
        } else {
            matches!(c.state, ContainerState::Terminated { code: 0, .. })
        };
        if !done {
            return;
        }
        i += 1;
    }
    for j in i..n {
        kick(&mut runtime.containers[j], now);
        drive(m, runtime, j, pod, now);
    }
}

/// Stop a pod being deleted; true when it is gone.
fn terminate(m: &mut Manager, runtime: &mut PodRuntime, pod: &Value, now: Instant) -> bool {
    let (ns, pod_name) = key_of(pod);
    let node = runtime.node.clone();
    if runtime.terminating.is_none() {
        let grace = int_at(pod, "/metadata/deletionGracePeriodSeconds", 30).max(0) as f64;
        let wait = grace.min(m.kubelet.delays.max_grace);
        runtime.terminating = Some(now + m.shared.timing.delay(wait));
        for i in 0..runtime.containers.len() {
            let c = runtime.containers[i].clone();
            if c.is_running() {
                emit(
                    m,
                    pod,
                    &c,
                    &node,
                    "Normal",
                    "Killing",
                    &format!("Stopping container {}", c.name),
                );
                let line = sigterm_line();
                m.shared.logs.append(&ns, &pod_name, &c.name, &line);
            }
            let cc = &mut runtime.containers[i];
            cc.ready = false;
            cc.next = None;
            for p in cc.probes.iter_mut() {
                p.next = None;
            }
        }
    }
    if runtime.terminating.is_some_and(|t| now < t) {
        return false;
    }
    let grace_zero = int_at(pod, "/metadata/deletionGracePeriodSeconds", 30) == 0;
    for i in 0..runtime.containers.len() {
        if runtime.containers[i].is_running() {
            let (code, reason) = if grace_zero {
                (137, "Error")
            } else {
                (0, "Completed")
            };
            let policy = runtime.policy;
            runtime.policy = RestartPolicy::Never;
            stop(m, runtime, i, pod, code, reason, now);
            runtime.policy = policy;
            runtime.containers[i].next = None;
        }
    }
    write_status(m, runtime, pod);
    let key: Key = (ns.clone(), pod_name.clone());
    let _ = m.shared.store.remove_now(by_kind("Pod"), &ns, &pod_name);
    if let Some(ip) = runtime.ip {
        m.kubelet.ips.remove(&ip);
    }
    m.cancel(&Work::Pod(key.clone()));
    m.cancel(&Work::Logs(key));
    m.shared.logs.remove_pod(&ns, &pod_name);
    m.shared.apps.forget(&ns, &pod_name);
    m.ready_since.remove(&runtime.uid);
    true
}

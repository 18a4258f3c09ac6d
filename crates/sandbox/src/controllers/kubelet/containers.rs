//! The container state machine. A container moves through timed [`Transition`]s: its image is
//! pulled (or found on the node, or refused), the container is created and started, it runs until
//! its process exits by itself, its probes kill it, or it is stopped, and it is restarted as the
//! pod's restart policy says, through the crash back-off. Image pulls that fail back off the same
//! way. Every step records the kubelet's events and the container's log lines.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::app_output::{Flavour, exit_lines, startup_lines, unhealthy_line};
use super::delays::Delays;
use super::images::{ImageRule, normalize_image};
use super::probes::{Outcome, ProbeKind, healthy, is_steady, schedule};
use super::runtime::{Container, ContainerState, PodRuntime, RestartPolicy, Transition, ip_string};
use crate::controllers::events::Source;
use crate::controllers::fnv::fnv32a;
use crate::controllers::manager::Manager;
use crate::go_format::go_duration;
use crate::object::{key_of, name_of, namespace_of, uid_of};
use crate::store;

/// Record an event about a pod's container, from the kubelet of `node`.
pub(super) fn emit(
    m: &mut Manager,
    pod: &Value,
    container: &Container,
    node: &str,
    event_type: &str,
    reason: &str,
    message: &str,
) {
    let store = m.shared.store.clone();
    let field_path = field_path(container);
    m.events.emit(
        &store,
        pod,
        Some(&field_path),
        event_type,
        reason,
        message,
        Source::Kubelet(node),
    );
}

/// `spec.containers{name}`, the event's `involvedObject.fieldPath`.
fn field_path(c: &Container) -> String {
    if c.init {
        format!("spec.initContainers{{{}}}", c.name)
    } else {
        format!("spec.containers{{{}}}", c.name)
    }
}

/// The pod's identity as the kubelet formats it (`format.Pod`).
fn pod_desc(pod: &Value) -> String {
    format!("{}_{}({})", name_of(pod), namespace_of(pod), uid_of(pod))
}

/// Simulated seconds in a real duration.
fn sim_secs(m: &Manager, d: Duration) -> f64 {
    let unit = m.shared.timing.delay(1.0).as_secs_f64();
    if unit > 0.0 {
        d.as_secs_f64() / unit
    } else {
        0.0
    }
}

/// What a container's run ends with, if it ends by itself: (exit code, reason).
pub(super) fn exit_plan(c: &Container, policy: RestartPolicy) -> Option<(i64, &'static str)> {
    match c.rule {
        ImageRule::CrashLoop | ImageRule::Fail => Some((1, "Error")),
        ImageRule::Oom => Some((137, "OOMKilled")),
        _ if c.init && !c.sidecar => Some((0, "Completed")),
        _ if c.flavour == Flavour::Batch || (policy != RestartPolicy::Always && !c.sidecar) => {
            Some((0, "Completed"))
        }
        _ => None,
    }
}

/// How long a run that ends by itself lasts, in simulated seconds.
pub(super) fn exit_after(c: &Container, d: &Delays) -> f64 {
    match c.rule {
        ImageRule::CrashLoop => d.crash_after,
        ImageRule::Oom => d.oom_after,
        _ if c.init && !c.sidecar => d.init_runtime,
        _ => d.job_runtime,
    }
}

/// A container that has never been started begins with its image.
pub(super) fn kick(c: &mut Container, now: Instant) {
    if !c.has_run
        && c.next.is_none()
        && matches!(c.state, ContainerState::Waiting { .. })
        && c.pull_started.is_none()
        && c.pull_error.is_none()
    {
        c.next = Some((now, Transition::Pull));
        if c.init {
            c.state = ContainerState::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
    }
}

/// Run container `i`'s due transitions, then its due probe ticks.
pub(super) fn drive(
    m: &mut Manager,
    runtime: &mut PodRuntime,
    i: usize,
    pod: &Value,
    now: Instant,
) {
    for _ in 0..64 {
        let Some((at, transition)) = runtime.containers[i].next else {
            break;
        };
        if at > now {
            break;
        }
        runtime.containers[i].next = None;
        let mut step = Step {
            m: &mut *m,
            runtime: &mut *runtime,
            pod,
            i,
            now,
        };
        step.run(transition, at);
    }
    for _ in 0..256 {
        let due = runtime.containers[i]
            .probes
            .iter()
            .enumerate()
            .filter_map(|(k, p)| p.next.filter(|t| *t <= now).map(|t| (t, k)))
            .min();
        let Some((at, k)) = due else { break };
        probe_tick(m, runtime, i, k, pod, at);
    }
}

/// One transition of container `i` of a pod, due at or before `now`.
struct Step<'a> {
    m: &'a mut Manager,
    runtime: &'a mut PodRuntime,
    pod: &'a Value,
    i: usize,
    now: Instant,
}

impl Step<'_> {
    /// Take `transition`, which was due at `at`.
    fn run(&mut self, transition: Transition, at: Instant) {
        match transition {
            Transition::Pull => self.pull(),
            Transition::PullDone => self.pull_done(),
            Transition::Start => self.start(),
            Transition::Exit => self.exit(at),
            Transition::Restart => self.restart(at),
        }
    }

    fn container(&self) -> &Container {
        &self.runtime.containers[self.i]
    }

    fn container_mut(&mut self) -> &mut Container {
        &mut self.runtime.containers[self.i]
    }

    fn event(&mut self, event_type: &str, reason: &str, message: &str) {
        let c = &self.runtime.containers[self.i];
        emit(
            self.m,
            self.pod,
            c,
            &self.runtime.node,
            event_type,
            reason,
            message,
        );
    }

    /// One simulated second, in real time.
    fn unit(&self) -> Duration {
        self.m.shared.timing.delay(1.0)
    }

    /// `secs` simulated seconds from now.
    fn after(&self, secs: f64) -> Instant {
        self.now + self.m.shared.timing.delay(secs)
    }

    fn delays(&self) -> &Delays {
        &self.m.kubelet.delays
    }

    fn wait(&mut self, reason: &str, message: String) {
        self.container_mut().state = ContainerState::Waiting {
            reason: reason.into(),
            message: Some(message),
        };
    }

    fn then(&mut self, at: Instant, transition: Transition) {
        self.container_mut().next = Some((at, transition));
    }

    /// Pull the image, find it on the node, or refuse to pull it (`imagePullPolicy: Never`).
    fn pull(&mut self) {
        let c = self.container();
        if c.rule == ImageRule::PullError {
            return self.pull_unknown_image();
        }
        let never = c.pull_policy == "Never";
        let always = c.pull_policy == "Always";
        let present = self
            .m
            .kubelet
            .images
            .get(&self.runtime.node)
            .is_some_and(|s| s.contains(&c.image));
        if never && !present {
            self.refuse_pull();
        } else if never || (present && !always) {
            self.image_present();
        } else {
            self.begin_pull(false);
        }
    }

    /// An image the registry does not have: pulling it fails, unless the last failure's back-off
    /// is still running.
    fn pull_unknown_image(&mut self) {
        if self
            .container()
            .pull_backoff
            .in_backoff_since_update(self.now, self.unit())
        {
            self.image_pull_back_off();
        } else {
            self.begin_pull(true);
        }
    }

    /// `ImagePullBackOff`: wait out the back-off of the last failed pull (a resync at most).
    fn image_pull_back_off(&mut self) {
        let c = self.container();
        let image = c.image.clone();
        let error = c.pull_error.clone().unwrap_or_default();
        let backoff = &c.pull_backoff;
        let until = backoff.until(backoff.last_update.unwrap_or(self.now), self.unit());
        self.event(
            "Normal",
            "BackOff",
            &format!("Back-off pulling image \"{image}\""),
        );
        self.event("Warning", "Failed", "Error: ImagePullBackOff");
        self.wait(
            "ImagePullBackOff",
            format!("Back-off pulling image \"{image}\": ErrImagePull: {error}"),
        );
        let resync = self.after(self.delays().resync);
        self.then(until.min(resync), Transition::Pull);
    }

    /// `ErrImageNeverPull`: the image is not on the node and the policy forbids pulling it.
    fn refuse_pull(&mut self) {
        let image = &self.container().image;
        let message =
            format!("Container image \"{image}\" is not present with pull policy of Never");
        self.event("Warning", "ErrImageNeverPull", &message);
        self.wait("ErrImageNeverPull", message);
        let resync = self.after(self.delays().resync);
        self.then(resync, Transition::Pull);
    }

    /// The image is on the node already: create the container.
    fn image_present(&mut self) {
        let image = &self.container().image;
        let message = format!("Container image \"{image}\" already present on machine");
        self.event("Normal", "Pulled", &message);
        let create = self.after(self.delays().create);
        self.then(create, Transition::Start);
    }

    /// Start pulling: an unknown image fails after `pull_fail`; another takes a time fixed per
    /// image, or, for a `slow` image without a readiness probe, until it would serve.
    fn begin_pull(&mut self, unknown: bool) {
        let c = self.container();
        let image = c.image.clone();
        let slow = c.rule == ImageRule::Slow && !c.has_readiness_probe();
        self.event("Normal", "Pulling", &format!("Pulling image \"{image}\""));
        let d = self.delays();
        let secs = if unknown {
            d.pull_fail
        } else if slow {
            d.slow_ready
        } else {
            let h = fnv32a(image.as_bytes());
            d.pull + d.pull_spread * f64::from(h % 1000) / 1000.0
        };
        let done = self.after(secs);
        self.container_mut().pull_started = Some(self.now);
        self.then(done, Transition::PullDone);
    }

    /// The pull is over: it failed (an unknown image) or the image is on the node now.
    fn pull_done(&mut self) {
        if self.container().rule == ImageRule::PullError {
            self.fail_pull();
        } else {
            self.finish_pull();
        }
    }

    /// `ErrImagePull`: the registry does not know the image; the pull back-off grows.
    fn fail_pull(&mut self) {
        let image = self.container().image.clone();
        let full = normalize_image(&image);
        let error = format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
        );
        self.event(
            "Warning",
            "Failed",
            &format!("Failed to pull image \"{image}\": {error}"),
        );
        self.event("Warning", "Failed", "Error: ErrImagePull");
        let (now, unit) = (self.now, self.unit());
        let retry = self.after(2.0);
        let c = self.container_mut();
        c.pull_backoff.next(now, unit);
        c.pull_error = Some(error.clone());
        c.pull_started = None;
        self.wait("ErrImagePull", error);
        self.then(retry, Transition::Pull);
    }

    /// The image is pulled: it is on the node from now on; create the container.
    fn finish_pull(&mut self) {
        let c = self.container();
        let image = c.image.clone();
        let took = c
            .pull_started
            .map(|s| sim_secs(self.m, self.now.saturating_duration_since(s)))
            .unwrap_or(self.delays().pull);
        let size = 20_000_000 + u64::from(fnv32a(image.as_bytes())) % 180_000_000;
        let d = go_duration(took);
        self.event(
            "Normal",
            "Pulled",
            &format!(
                "Successfully pulled image \"{image}\" in {d} ({d} including waiting). Image size: {size} bytes."
            ),
        );
        self.m
            .kubelet
            .images
            .entry(self.runtime.node.clone())
            .or_default()
            .insert(image);
        let create = self.after(self.delays().create);
        self.container_mut().pull_started = None;
        self.then(create, Transition::Start);
    }

    /// Create and start the container: a new run with a new id, its probes scheduled, its end
    /// planned if its image or the pod's policy ends it, and its startup lines logged.
    fn start(&mut self) {
        let name = self.container().name.clone();
        self.event("Normal", "Created", &format!("Created container: {name}"));
        self.event("Normal", "Started", &format!("Started container {name}"));
        let (ns, pod_name) = key_of(self.pod);
        self.m.shared.logs.start(&ns, &pod_name, &name);
        let (now, unit, policy) = (self.now, self.unit(), self.runtime.policy);
        let c = &mut self.runtime.containers[self.i];
        begin_run(c, now, unit);
        if !c.init && c.rule == ImageRule::Unhealthy {
            // The application stops answering then; its HTTP answers follow this clock too.
            let at = now
                + self
                    .m
                    .shared
                    .timing
                    .delay(self.m.kubelet.delays.unhealthy_after);
            self.m.shared.apps.fails_at(&ns, &pod_name, at);
        }
        c.exit = exit_plan(c, policy);
        if c.exit.is_some() {
            let secs = exit_after(c, &self.m.kubelet.delays);
            c.next = Some((now + self.m.shared.timing.delay(secs), Transition::Exit));
        }
        for line in startup_lines(c.flavour, &c.image, c.port) {
            self.m.shared.logs.append(&ns, &pod_name, &name, &line);
        }
    }

    /// The process ends by itself: its last lines, then stopped.
    fn exit(&mut self, at: Instant) {
        let c = self.container();
        let (code, reason) = c.exit.unwrap_or((0, "Completed"));
        let (ns, pod_name) = key_of(self.pod);
        for line in exit_lines(c.flavour, c.rule, code, reason) {
            self.m.shared.logs.append(&ns, &pod_name, &c.name, &line);
        }
        stop(self.m, self.runtime, self.i, self.pod, code, reason, at);
    }

    /// Start again after an exit: at once the first time, then after the crash back-off.
    fn restart(&mut self, at: Instant) {
        let (now, unit) = (self.now, self.unit());
        let finished = self.container().last_finish.unwrap_or(at);
        if self
            .container()
            .crash_backoff
            .in_backoff_since(finished, now, unit)
        {
            return self.crash_loop_back_off(finished);
        }
        self.container_mut().crash_backoff.next(finished, unit);
        self.then(now, Transition::Pull);
    }

    /// `CrashLoopBackOff`: wait out the back-off since the last exit (a resync at most).
    fn crash_loop_back_off(&mut self, finished: Instant) {
        let c = self.container();
        let (name, secs) = (c.name.clone(), c.crash_backoff.secs);
        let until = c.crash_backoff.until(finished, self.unit());
        let desc = pod_desc(self.pod);
        self.event(
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container {name} in pod {desc}"),
        );
        self.wait(
            "CrashLoopBackOff",
            format!(
                "back-off {} restarting failed container={name} pod={desc}",
                go_duration(secs)
            ),
        );
        let resync = self.after(self.delays().resync);
        self.then(until.min(resync), Transition::Restart);
    }
}

/// A new run of a container: running from `now` with a new id, not ready, its probes reset and
/// the first ones scheduled; started at once unless it has a startup probe.
fn begin_run(c: &mut Container, now: Instant, unit: Duration) {
    if c.has_run {
        c.restarts += 1;
    }
    c.has_run = true;
    c.container_id = new_container_id();
    c.state = ContainerState::Running {
        started_at: store::now(),
    };
    c.run_since = Some(now);
    c.lines = 0;
    c.unhealthy_logged = false;
    let has_startup = c.probes.iter().any(|p| p.kind == ProbeKind::Startup);
    c.started = !has_startup;
    c.ready = false;
    for p in c.probes.iter_mut() {
        p.ok = 0;
        p.bad = 0;
        p.next = None;
    }
    schedule(&mut c.probes, c.rule, now, unit, !has_startup);
    c.ready = c.started && !c.init && !c.has_readiness_probe();
    if c.sidecar && c.started && !c.has_readiness_probe() {
        c.ready = true;
    }
}

fn new_container_id() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}

/// One tick of container `i`'s probe `k`, due at `at`: a reached threshold makes the container
/// ready or not ready, started, or killed.
fn probe_tick(
    m: &mut Manager,
    runtime: &mut PodRuntime,
    i: usize,
    k: usize,
    pod: &Value,
    at: Instant,
) {
    let unit = m.shared.timing.delay(1.0);
    let c = &runtime.containers[i];
    let ran_for = c
        .run_since
        .map(|since| sim_secs(m, at.saturating_duration_since(since)));
    let ok = healthy(c.rule, ran_for, &m.kubelet.delays);
    let kind = c.probes[k].kind;
    let outcome = runtime.containers[i].probes[k].record(ok, at, unit);
    if !ok {
        report_probe_failure(m, runtime, i, k, pod);
    }
    let c = &mut runtime.containers[i];
    match (kind, outcome) {
        (ProbeKind::Readiness, Outcome::Passed) => {
            c.ready = true;
            if is_steady(c.rule) {
                c.probes[k].next = None;
            }
        }
        (ProbeKind::Readiness, Outcome::Failed) => c.ready = false,
        (ProbeKind::Startup, Outcome::Passed) => {
            c.started = true;
            c.probes[k].next = None;
            schedule(&mut c.probes, c.rule, at, unit, true);
            c.ready = !c.init && !c.has_readiness_probe();
        }
        (ProbeKind::Startup, Outcome::Failed) => kill(m, runtime, i, pod, "startup", at),
        (ProbeKind::Liveness, Outcome::Failed) => kill(m, runtime, i, pod, "liveness", at),
        _ => {}
    }
}

/// A failed probe: an `unhealthy` app says why in its log (once a run), and the kubelet records
/// an `Unhealthy` event with the probe's error.
fn report_probe_failure(
    m: &mut Manager,
    runtime: &mut PodRuntime,
    i: usize,
    k: usize,
    pod: &Value,
) {
    let c = &mut runtime.containers[i];
    let listening = c.rule == ImageRule::Unhealthy;
    if listening && !c.unhealthy_logged {
        c.unhealthy_logged = true;
        let (ns, pod_name) = key_of(pod);
        m.shared
            .logs
            .append(&ns, &pod_name, &c.name, &unhealthy_line());
    }
    let ip = runtime.ip.map(ip_string).unwrap_or_default();
    let c = &runtime.containers[i];
    let probe = &c.probes[k];
    let message = format!(
        "{} probe failed: {}",
        probe.kind.name(),
        probe.failure_message(c.port, &ip, listening)
    );
    emit(m, pod, c, &runtime.node, "Warning", "Unhealthy", &message);
}

/// A startup or liveness probe gave up: the container is killed (and restarted as the policy says).
fn kill(
    m: &mut Manager,
    runtime: &mut PodRuntime,
    i: usize,
    pod: &Value,
    probe: &str,
    at: Instant,
) {
    let c = &runtime.containers[i];
    let message = format!(
        "Container {} failed {probe} probe, will be restarted",
        c.name
    );
    emit(m, pod, c, &runtime.node, "Normal", "Killing", &message);
    stop(m, runtime, i, pod, 137, "Error", at);
}

/// A container's process ended: terminated state, log closed, restart as the policy says.
pub(super) fn stop(
    m: &mut Manager,
    runtime: &mut PodRuntime,
    i: usize,
    pod: &Value,
    code: i64,
    reason: &str,
    at: Instant,
) {
    let (ns, pod_name) = key_of(pod);
    let policy = runtime.policy;
    let c = &mut runtime.containers[i];
    let started_at = match &c.state {
        ContainerState::Running { started_at } => started_at.clone(),
        _ => store::now(),
    };
    let finished_at = store::now();
    let terminated = json!({
        "exitCode": code,
        "reason": reason,
        "startedAt": started_at,
        "finishedAt": finished_at,
        "containerID": format!("containerd://{}", c.container_id),
    });
    c.state = ContainerState::Terminated {
        code,
        reason: reason.to_string(),
        started_at,
        finished_at,
    };
    c.last_finish = Some(at);
    c.ready = false;
    c.started = false;
    c.run_since = None;
    c.next = None;
    for p in c.probes.iter_mut() {
        p.next = None;
    }
    m.shared.logs.stop(&ns, &pod_name, &c.name);
    let restart = c.sidecar
        || match policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        };
    // The run that ended becomes the last state of a container that will run again (what
    // `logs --previous` serves); one that will not keeps it as its state, and no last state.
    if restart {
        c.last = Some(json!({ "terminated": terminated }));
        c.next = Some((at, Transition::Restart));
    }
}

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
//! | `unhealthy`                                 | healthy for 10 s, then its probes fail: not ready, and a liveness probe kills it (restart)      |
//! | `slow`                                      | starts serving after ~60 s: readiness (and liveness) probes fail until then; without a readiness probe the image pull takes ~60 s |
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

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::conditions::{condition, is_terminal};
use super::events::Source;
use super::fnv::fnv32a;
use super::manager::{Manager, Work};
use super::owners::controller_ref;
use crate::error::ApiError;
use crate::go_format::go_duration;
use crate::object::{Key, PointerLookup, int_at, key_of, name_of, str_at, uid_of};
use crate::resources::by_kind;
use crate::store::{self, Part};

/// Delays of a pod's life, in simulated seconds.
#[derive(Clone, Debug)]
pub struct Delays {
    /// Admission to a ready sandbox (network, IP).
    pub sandbox: f64,
    /// Shortest image pull; pulls take this plus up to `pull_spread`, fixed per image.
    pub pull: f64,
    pub pull_spread: f64,
    /// A pull that fails takes this long to fail.
    pub pull_fail: f64,
    /// From a pulled image to a started container.
    pub create: f64,
    /// How long a `crashloop` container runs.
    pub crash_after: f64,
    /// How long an `oom` container runs.
    pub oom_after: f64,
    /// How long a run-to-completion container (a Job's) runs.
    pub job_runtime: f64,
    /// How long a (non-sidecar) init container runs.
    pub init_runtime: f64,
    /// When a `slow` container starts serving.
    pub slow_ready: f64,
    /// When an `unhealthy` container stops being healthy.
    pub unhealthy_after: f64,
    /// Longest graceful stop.
    pub max_grace: f64,
    /// The kubelet's resync of a pod that waits in a back-off.
    pub resync: f64,
}

impl Default for Delays {
    fn default() -> Delays {
        Delays {
            sandbox: 1.0,
            pull: 1.0,
            pull_spread: 2.0,
            pull_fail: 1.0,
            create: 0.3,
            crash_after: 2.0,
            oom_after: 3.0,
            job_runtime: 3.0,
            init_runtime: 1.0,
            slow_ready: 60.0,
            unhealthy_after: 10.0,
            max_grace: 2.0,
            resync: 10.0,
        }
    }
}

/// How a container's image makes it behave (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageRule {
    Normal,
    PullError,
    CrashLoop,
    Oom,
    Fail,
    Unhealthy,
    Slow,
}

/// The tag of an image reference ("" for a digest or none).
pub fn image_tag(image: &str) -> &str {
    if image.contains('@') {
        return "";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t).unwrap_or("")
}

/// The rule an image follows.
pub fn image_rule(image: &str) -> ImageRule {
    let tag = image_tag(image).to_ascii_lowercase();
    let has = |w: &str| tag.contains(w);
    if ["bad", "unknown", "missing", "doesnotexist"]
        .iter()
        .any(|w| has(w))
    {
        ImageRule::PullError
    } else if has("crashloop") {
        ImageRule::CrashLoop
    } else if has("oom") {
        ImageRule::Oom
    } else if has("fail") {
        ImageRule::Fail
    } else if has("unhealthy") {
        ImageRule::Unhealthy
    } else if has("slow") {
        ImageRule::Slow
    } else {
        ImageRule::Normal
    }
}

/// The fully qualified reference containerd reports ("nginx" → "docker.io/library/nginx:latest").
pub fn normalize_image(image: &str) -> String {
    let (name, rest) = match image.find('@') {
        Some(i) => (&image[..i], &image[i..]),
        None => {
            let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
            match image[last_slash..].find(':') {
                Some(i) => (&image[..last_slash + i], &image[last_slash + i..]),
                None => (image, ":latest"),
            }
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{rest}")
}

fn hex64(seed: &str) -> String {
    let mut out = String::new();
    let mut h = fnv32a(seed.as_bytes());
    while out.len() < 64 {
        h = h.wrapping_mul(0x0100_0193) ^ 0x9e37_79b9;
        out.push_str(&format!("{h:08x}"));
    }
    out
}

fn random_hex64() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}

/// The kubelet's `flowcontrol.Backoff` for one key: 10 s doubling to 300 s.
#[derive(Clone, Debug, Default)]
struct Backoff {
    /// Current back-off in simulated seconds.
    secs: f64,
    last_update: Option<Instant>,
}

const BACKOFF_INITIAL: f64 = 10.0;
const BACKOFF_MAX: f64 = 300.0;

impl Backoff {
    fn expired(&self, event: Instant, per_sec: Duration) -> bool {
        match self.last_update {
            None => true,
            Some(l) => event.saturating_duration_since(l) > per_sec.mul_f64(BACKOFF_MAX * 2.0),
        }
    }

    /// `IsInBackOffSince(key, eventTime)`.
    fn in_backoff_since(&self, event: Instant, now: Instant, per_sec: Duration) -> bool {
        if self.last_update.is_none() || self.expired(event, per_sec) {
            return false;
        }
        now.saturating_duration_since(event) < per_sec.mul_f64(self.secs)
    }

    /// `Next(key, eventTime)`.
    fn next(&mut self, event: Instant, per_sec: Duration) {
        if self.expired(event, per_sec) {
            self.secs = BACKOFF_INITIAL;
        } else {
            self.secs = (self.secs * 2.0).min(BACKOFF_MAX);
        }
        self.last_update = Some(event);
    }

    /// The instant the current back-off started from `event` ends.
    fn until(&self, event: Instant, per_sec: Duration) -> Instant {
        event + per_sec.mul_f64(self.secs)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Pull,
    PullDone,
    Start,
    Exit,
    Restart,
}

#[derive(Clone, Debug)]
enum CState {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated {
        code: i64,
        reason: String,
        started_at: String,
        finished_at: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl ProbeKind {
    fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        }
    }
}

#[derive(Clone, Debug)]
struct Probe {
    kind: ProbeKind,
    spec: Value,
    initial: f64,
    period: f64,
    success: i64,
    failure: i64,
    next: Option<Instant>,
    ok: i64,
    bad: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Nginx,
    Redis,
    Postgres,
    Shell,
    App,
    Batch,
}

#[derive(Clone, Debug)]
struct Ctr {
    name: String,
    image: String,
    pull_policy: String,
    init: bool,
    sidecar: bool,
    rule: ImageRule,
    flavour: Flavour,
    port: i64,
    state: CState,
    last: Option<Value>,
    last_finish: Option<Instant>,
    has_run: bool,
    restarts: i64,
    cid: String,
    ready: bool,
    started: bool,
    next: Option<(Instant, Act)>,
    exit: Option<(i64, &'static str)>,
    crash_bo: Backoff,
    pull_bo: Backoff,
    pull_err: Option<String>,
    pull_started: Option<Instant>,
    run_since: Option<Instant>,
    probes: Vec<Probe>,
    lines: u64,
    unhealthy_logged: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Debug)]
struct PodRt {
    uid: String,
    node: String,
    ip: Option<u32>,
    host_ip: String,
    start_time: String,
    sandbox_at: Instant,
    sandbox_ready: bool,
    ctrs: Vec<Ctr>,
    policy: Policy,
    terminating: Option<Instant>,
    cond_times: HashMap<&'static str, (String, String)>,
    logging: bool,
}

/// The kubelets' state: one runtime per bound pod, images per node, the pod network's addresses.
#[derive(Default)]
pub struct Kubelet {
    pods: HashMap<Key, PodRt>,
    images: HashMap<String, HashSet<String>>,
    ips: HashSet<u32>,
    next_ip: u32,
    origin: Option<Instant>,
    pub delays: Delays,
}

const POD_NET: u32 = (10 << 24) | (244 << 16);

fn ip_string(ip: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        ip >> 24,
        (ip >> 16) & 0xff,
        (ip >> 8) & 0xff,
        ip & 0xff
    )
}

fn parse_ip(s: &str) -> Option<u32> {
    let p: Vec<u32> = s.split('.').filter_map(|x| x.parse().ok()).collect();
    (p.len() == 4).then(|| (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3])
}

impl Kubelet {
    fn allocate_ip(&mut self) -> u32 {
        for _ in 0..65_536 {
            self.next_ip = (self.next_ip + 1) % 65_536;
            let host = self.next_ip & 0xff;
            if host == 0 || host == 1 || host == 255 {
                continue;
            }
            let ip = POD_NET | self.next_ip;
            if self.ips.insert(ip) {
                return ip;
            }
        }
        POD_NET | 2
    }

    /// The grid log timers are aligned to, so many pods' lines cost one wake-up.
    fn align(&mut self, at: Instant) -> Instant {
        let origin = *self.origin.get_or_insert(at);
        let grid = Duration::from_millis(25);
        let since = at.saturating_duration_since(origin).as_nanos();
        let g = grid.as_nanos();
        let n = since.div_ceil(g);
        origin + Duration::from_nanos((n * g) as u64)
    }
}

/// The pod is gone: its runtime, address and logs go too.
pub fn forget(m: &mut Manager, key: &Key, uid: &str) {
    if let Some(rt) = m.kubelet.pods.get(key)
        && (uid.is_empty() || rt.uid == uid)
    {
        if let Some(rt) = m.kubelet.pods.remove(key)
            && let Some(ip) = rt.ip
        {
            m.kubelet.ips.remove(&ip);
        }
        m.cancel(&Work::Pod(key.clone()));
        m.cancel(&Work::Logs(key.clone()));
        m.shared.logs.remove_pod(&key.0, &key.1);
    }
}

fn probe_of(kind: ProbeKind, spec: &Value) -> Probe {
    Probe {
        kind,
        spec: spec.clone(),
        initial: int_at(spec, "/initialDelaySeconds", 0).max(0) as f64,
        period: int_at(spec, "/periodSeconds", 10).max(1) as f64,
        success: int_at(spec, "/successThreshold", 1).max(1),
        failure: int_at(spec, "/failureThreshold", 3).max(1),
        next: None,
        ok: 0,
        bad: 0,
    }
}

fn flavour_of(image: &str, batch: bool) -> Flavour {
    if batch {
        return Flavour::Batch;
    }
    let repo = image
        .split('@')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    if repo.contains("nginx") {
        Flavour::Nginx
    } else if repo.contains("redis") {
        Flavour::Redis
    } else if repo.contains("postgres") {
        Flavour::Postgres
    } else if ["busybox", "alpine", "curl", "ubuntu", "debian"]
        .iter()
        .any(|r| repo.contains(r))
    {
        Flavour::Shell
    } else {
        Flavour::App
    }
}

fn new_ctr(spec: &Value, init: bool, batch: bool) -> Ctr {
    let image = str_at(spec, "/image").to_string();
    let sidecar = init && str_at(spec, "/restartPolicy") == "Always";
    let mut probes = Vec::new();
    if !init || sidecar {
        for (kind, field) in [
            (ProbeKind::Startup, "startupProbe"),
            (ProbeKind::Readiness, "readinessProbe"),
            (ProbeKind::Liveness, "livenessProbe"),
        ] {
            if let Some(p) = spec.get(field).filter(|p| p.is_object()) {
                probes.push(probe_of(kind, p));
            }
        }
    }
    let port = spec
        .at("/ports/0/containerPort")
        .and_then(Value::as_i64)
        .unwrap_or(8080);
    Ctr {
        name: str_at(spec, "/name").to_string(),
        rule: image_rule(&image),
        flavour: flavour_of(&image, batch || (init && !sidecar)),
        pull_policy: match str_at(spec, "/imagePullPolicy") {
            "" => "IfNotPresent".to_string(),
            p => p.to_string(),
        },
        image,
        init,
        sidecar,
        port,
        state: CState::Waiting {
            reason: if init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            }
            .into(),
            message: None,
        },
        last: None,
        last_finish: None,
        has_run: false,
        restarts: 0,
        cid: String::new(),
        ready: false,
        started: false,
        next: None,
        exit: None,
        crash_bo: Backoff::default(),
        pull_bo: Backoff::default(),
        pull_err: None,
        pull_started: None,
        run_since: None,
        probes,
        lines: 0,
        unhealthy_logged: false,
    }
}

fn new_pod_rt(m: &mut Manager, pod: &Value, now: Instant) -> PodRt {
    let node = str_at(pod, "/spec/nodeName").to_string();
    let batch = controller_ref(pod).is_some_and(|r| str_at(r, "/kind") == "Job");
    let policy = match str_at(pod, "/spec/restartPolicy") {
        "Never" => Policy::Never,
        "OnFailure" => Policy::OnFailure,
        _ => Policy::Always,
    };
    let run_to_completion = batch || policy != Policy::Always;
    let mut ctrs = Vec::new();
    for c in pod
        .at("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        ctrs.push(new_ctr(c, true, false));
    }
    for c in pod
        .at("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut ctr = new_ctr(c, false, run_to_completion);
        if !ctrs.is_empty() {
            // Behind init containers a container waits "PodInitializing".
            ctr.state = CState::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
        ctrs.push(ctr);
    }
    let host_ip = host_ip(m, &node);
    let mut rt = PodRt {
        uid: uid_of(pod).to_string(),
        node,
        ip: None,
        host_ip,
        start_time: str_at(pod, "/status/startTime").to_string(),
        sandbox_at: now + m.shared.timing.delay(m.kubelet.delays.sandbox),
        sandbox_ready: false,
        ctrs,
        policy,
        terminating: None,
        cond_times: HashMap::new(),
        logging: false,
    };
    if rt.start_time.is_empty() {
        rt.start_time = store::now();
    }
    adopt_status(m, &mut rt, pod, now);
    rt
}

/// A pod that already has a running status (from a fixture) keeps it: its containers are adopted as
/// running.
fn adopt_status(m: &mut Manager, rt: &mut PodRt, pod: &Value, now: Instant) {
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
        rt.ip = Some(ip);
    } else {
        rt.ip = Some(m.kubelet.allocate_ip());
    }
    rt.sandbox_ready = true;
    let (ns, pname) = key_of(pod);
    for c in rt.ctrs.iter_mut() {
        let st = statuses.iter().find(|s| str_at(s, "/name") == c.name);
        let Some(st) = st else {
            if c.init {
                c.state = CState::Terminated {
                    code: 0,
                    reason: "Completed".into(),
                    started_at: rt.start_time.clone(),
                    finished_at: rt.start_time.clone(),
                };
                c.has_run = true;
            }
            continue;
        };
        c.restarts = int_at(st, "/restartCount", 0);
        c.cid = str_at(st, "/containerID")
            .trim_start_matches("containerd://")
            .to_string();
        c.has_run = true;
        c.last = st
            .at("/lastState/terminated")
            .map(|t| json!({"terminated": t}));
        if let Some(r) = st.at("/state/running") {
            c.state = CState::Running {
                started_at: str_at(r, "/startedAt").to_string(),
            };
            c.run_since = Some(now);
            c.started = true;
            c.ready = st.get("ready").and_then(Value::as_bool).unwrap_or(true);
            c.probes.clear();
            c.exit = exit_plan(c, rt.policy);
            if c.exit.is_some() {
                let dur = exit_after(c, &m.kubelet.delays);
                c.next = Some((now + m.shared.timing.delay(dur), Act::Exit));
            }
            m.shared.logs.start(&ns, &pname, &c.name);
        } else if let Some(t) = st.at("/state/terminated") {
            c.state = CState::Terminated {
                code: int_at(t, "/exitCode", 0),
                reason: str_at(t, "/reason").to_string(),
                started_at: str_at(t, "/startedAt").to_string(),
                finished_at: str_at(t, "/finishedAt").to_string(),
            };
        }
    }
}

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
    let idx = m.index.nodes.keys().position(|k| k == node).unwrap_or(0);
    format!("172.18.0.{}", 2 + idx % 250)
}

/// What a container's run ends with, if it ends by itself: (exit code, reason).
fn exit_plan(c: &Ctr, policy: Policy) -> Option<(i64, &'static str)> {
    match c.rule {
        ImageRule::CrashLoop | ImageRule::Fail => Some((1, "Error")),
        ImageRule::Oom => Some((137, "OOMKilled")),
        _ if c.init && !c.sidecar => Some((0, "Completed")),
        _ if c.flavour == Flavour::Batch || (policy != Policy::Always && !c.sidecar) => {
            Some((0, "Completed"))
        }
        _ => None,
    }
}

fn exit_after(c: &Ctr, d: &Delays) -> f64 {
    match c.rule {
        ImageRule::CrashLoop => d.crash_after,
        ImageRule::Oom => d.oom_after,
        _ if c.init && !c.sidecar => d.init_runtime,
        _ => d.job_runtime,
    }
}

/// The pod's identity as the kubelet formats it (`format.Pod`).
fn pod_desc(pod: &Value) -> String {
    format!(
        "{}_{}({})",
        name_of(pod),
        str_at(pod, "/metadata/namespace"),
        uid_of(pod)
    )
}

fn field_path(c: &Ctr) -> String {
    if c.init {
        format!("spec.initContainers{{{}}}", c.name)
    } else {
        format!("spec.containers{{{}}}", c.name)
    }
}

fn ts() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn app_name(image: &str) -> String {
    image
        .split('@')
        .next()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("app")
        .split(':')
        .next()
        .unwrap_or("app")
        .to_string()
}

fn startup_lines(c: &Ctr) -> Vec<String> {
    let t = ts();
    let tag = match image_tag(&c.image) {
        "" => "latest",
        t => t,
    };
    let app = app_name(&c.image);
    let port = c.port;
    match c.flavour {
        Flavour::Nginx => {
            let d = chrono::Utc::now().format("%Y/%m/%d %H:%M:%S").to_string();
            vec![
                "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration".into(),
                "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/".into(),
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh".into(),
                "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf".into(),
                "/docker-entrypoint.sh: Configuration complete; ready for start up".into(),
                format!("{d} [notice] 1#1: using the \"epoll\" event method"),
                format!("{d} [notice] 1#1: nginx/{tag}"),
                format!("{d} [notice] 1#1: start worker processes"),
            ]
        }
        Flavour::Redis => {
            let d = chrono::Utc::now()
                .format("%d %b %Y %H:%M:%S%.3f")
                .to_string();
            vec![
                format!("1:C {d} # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo"),
                format!(
                    "1:C {d} # Redis version={tag}, bits=64, commit=00000000, modified=0, pid=1, just started"
                ),
                format!("1:M {d} * Running mode=standalone, port={port}."),
                format!("1:M {d} * Server initialized"),
                format!("1:M {d} * Ready to accept connections tcp"),
            ]
        }
        Flavour::Postgres => vec![
            format!("{t} UTC [1] LOG:  starting PostgreSQL {tag} on x86_64-pc-linux-gnu"),
            format!("{t} UTC [1] LOG:  listening on IPv4 address \"0.0.0.0\", port {port}"),
            format!("{t} UTC [1] LOG:  database system is ready to accept connections"),
        ],
        Flavour::Shell => vec![format!("starting {app}")],
        Flavour::Batch => vec![
            format!("{t} INFO  {app} {tag} starting"),
            format!("{t} INFO  loaded work items count=3"),
        ],
        Flavour::App => vec![
            format!("{t} INFO  starting {app} version={tag}"),
            format!("{t} INFO  loaded configuration from /etc/{app}/config.yaml"),
            format!("{t} INFO  connected to database pool_size=10"),
            format!("{t} INFO  listening on :{port}"),
        ],
    }
}

fn periodic_line(c: &Ctr, n: u64) -> String {
    let t = ts();
    match c.flavour {
        Flavour::Nginx => {
            let d = chrono::Utc::now()
                .format("%d/%b/%Y:%H:%M:%S +0000")
                .to_string();
            let (path, code, size, ua) = match n % 4 {
                0 => ("/healthz", 200, 2, "kube-probe/1.35"),
                1 => ("/", 200, 615, "Mozilla/5.0"),
                2 => ("/api/status", 200, 87, "curl/8.5.0"),
                _ => ("/favicon.ico", 404, 153, "Mozilla/5.0"),
            };
            format!(
                "10.244.0.1 - - [{d}] \"GET {path} HTTP/1.1\" {code} {size} \"-\" \"{ua}\" \"-\""
            )
        }
        Flavour::Redis => {
            let d = chrono::Utc::now()
                .format("%d %b %Y %H:%M:%S%.3f")
                .to_string();
            format!(
                "1:M {d} * {} changes in 60 seconds. Saving...",
                100 + n % 900
            )
        }
        Flavour::Postgres => format!(
            "{t} UTC [{}] LOG:  checkpoint complete: wrote {} buffers",
            60 + n % 40,
            n % 97
        ),
        Flavour::Shell => format!("{t} tick {n}"),
        Flavour::Batch => format!(
            "{t} INFO  processed batch {} records={}",
            n + 1,
            500 + (n * 37) % 500
        ),
        Flavour::App => match n % 5 {
            0 => format!("{t} INFO  GET /healthz 200 0.4ms"),
            1 => format!(
                "{t} INFO  GET /api/v1/orders 200 {}.{}ms",
                8 + n % 9,
                n % 10
            ),
            2 => format!(
                "{t} INFO  POST /api/v1/orders 201 {}.{}ms",
                20 + n % 15,
                n % 10
            ),
            3 => format!("{t} INFO  GET /readyz 200 0.3ms"),
            _ => {
                if n % 15 == 4 {
                    format!(
                        "{t} WARN  slow request GET /api/v1/search took {}ms",
                        700 + n % 300
                    )
                } else {
                    format!(
                        "{t} INFO  GET /api/v1/items/{} 200 {}.{}ms",
                        n % 500,
                        3 + n % 5,
                        n % 10
                    )
                }
            }
        },
    }
}

fn exit_lines(c: &Ctr, code: i64, reason: &str) -> Vec<String> {
    let t = ts();
    match (reason, code) {
        ("OOMKilled", _) => vec![format!("{t} INFO  warming cache entries={}", 1 << 20)],
        (_, 0) => match c.flavour {
            Flavour::Batch => vec![format!("{t} INFO  done: all work items processed")],
            _ => vec![format!("{t} INFO  exiting")],
        },
        _ => match c.rule {
            ImageRule::CrashLoop => vec![
                format!(
                    "{t} ERROR failed to connect to database at db:5432: dial tcp 10.96.0.42:5432: connect: connection refused"
                ),
                format!("{t} FATAL startup check failed, exiting with status 1"),
            ],
            _ => vec![format!("{t} ERROR step 2/3 failed: exit status {code}")],
        },
    }
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

fn healthy(m: &Manager, c: &Ctr, at: Instant, kind: ProbeKind) -> bool {
    let Some(since) = c.run_since else {
        return false;
    };
    let s = sim_secs(m, at.saturating_duration_since(since));
    let d = &m.kubelet.delays;
    match c.rule {
        ImageRule::Slow => s >= d.slow_ready,
        ImageRule::Unhealthy => s < d.unhealthy_after,
        _ => {
            let _ = kind;
            true
        }
    }
}

fn probe_failure(c: &Ctr, p: &Probe, ip: &str, listening: bool) -> String {
    let port_of = |v: Option<&Value>| -> String {
        match v {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => c.port.to_string(),
        }
    };
    if let Some(h) = p.spec.get("httpGet") {
        let port = port_of(h.get("port"));
        let path = match str_at(h, "/path") {
            "" => "/",
            x => x,
        };
        let scheme = str_at(h, "/scheme").to_ascii_lowercase();
        let scheme = if scheme.is_empty() {
            "http".into()
        } else {
            scheme
        };
        if listening {
            let code = if p.kind == ProbeKind::Readiness {
                503
            } else {
                500
            };
            format!("HTTP probe failed with statuscode: {code}")
        } else {
            format!(
                "Get \"{scheme}://{ip}:{port}{path}\": dial tcp {ip}:{port}: connect: connection refused"
            )
        }
    } else if let Some(t) = p.spec.get("tcpSocket") {
        let port = port_of(t.get("port"));
        format!("dial tcp {ip}:{port}: connect: connection refused")
    } else if let Some(g) = p.spec.get("grpc") {
        let port = port_of(g.get("port"));
        format!("timeout: failed to connect service \":{port}\" within 1s")
    } else {
        String::new()
    }
}

/// The kubelet's sync of one pod.
pub fn sync(m: &mut Manager, ns: &str, name: &str) {
    let key: Key = (ns.to_string(), name.to_string());
    let prt = by_kind("Pod");
    let Ok(pod) = m.shared.store.get(prt, ns, name) else {
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
            let _ = m.shared.store.remove_now(prt, ns, name);
        }
        return;
    }
    let now = Instant::now();
    if m.kubelet
        .pods
        .get(&key)
        .is_some_and(|rt| rt.uid != uid_of(&pod))
    {
        forget(m, &key, "");
    }
    let mut rt = match m.kubelet.pods.remove(&key) {
        Some(rt) => rt,
        None => {
            if is_terminal(&pod) && !deleting {
                return;
            }
            new_pod_rt(m, &pod, now)
        }
    };
    if deleting {
        if terminate(m, &mut rt, &pod, now) {
            return;
        }
    } else {
        restart_changed(m, &mut rt, &pod, now);
        advance(m, &mut rt, &pod, now);
    }
    write_status(m, &mut rt, &pod);
    // The next wake-up.
    let mut next: Option<Instant> = None;
    let mut consider = |i: Instant| next = Some(next.map_or(i, |n: Instant| n.min(i)));
    if !rt.sandbox_ready {
        consider(rt.sandbox_at);
    }
    if let Some(t) = rt.terminating {
        consider(t);
    }
    for c in &rt.ctrs {
        if let Some((at, _)) = c.next {
            consider(at);
        }
        for p in &c.probes {
            if let Some(at) = p.next {
                consider(at);
            }
        }
    }
    let running = rt
        .ctrs
        .iter()
        .any(|c| matches!(c.state, CState::Running { .. }));
    let start_logs = running && !rt.logging && m.shared.timing.log_rate > 0.0;
    if start_logs {
        rt.logging = true;
    }
    m.kubelet.pods.insert(key.clone(), rt);
    if let Some(at) = next {
        m.schedule(Work::Pod(key.clone()), at);
    }
    if start_logs {
        let at = now + log_interval(m);
        let at = m.kubelet.align(at);
        m.schedule(Work::Logs(key), at);
    }
}

/// Most periodic log lines all containers write in a real second: with thousands of pods each
/// writes less often (a rehearsal's logs stay readable and the sandbox does not spend a core on them).
pub const LOG_BUDGET: f64 = 2000.0;

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

/// A container whose image was changed in the pod's spec is killed and started again with the new one
/// ("Container app definition changed, will be restarted").
fn restart_changed(m: &mut Manager, rt: &mut PodRt, pod: &Value, now: Instant) {
    for (list, init) in [("/spec/initContainers", true), ("/spec/containers", false)] {
        let specs: Vec<Value> = pod
            .at(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for spec in specs {
            let name = str_at(&spec, "/name");
            let image = str_at(&spec, "/image");
            let Some(i) = rt
                .ctrs
                .iter()
                .position(|c| c.name == name && c.init == init)
            else {
                continue;
            };
            if rt.ctrs[i].image == image {
                continue;
            }
            let running = matches!(rt.ctrs[i].state, CState::Running { .. });
            if running {
                let c = rt.ctrs[i].clone();
                let msg = format!("Container {name} definition changed, will be restarted");
                let node = rt.node.clone();
                emit(m, pod, Some(&c), &node, "Normal", "Killing", &msg);
                let policy = rt.policy;
                rt.policy = Policy::Never;
                stop(m, rt, i, pod, 0, "Completed", now);
                rt.policy = policy;
            }
            let fresh = new_ctr(&spec, init, rt.ctrs[i].flavour == Flavour::Batch);
            let c = &mut rt.ctrs[i];
            c.image = fresh.image;
            c.rule = fresh.rule;
            c.flavour = fresh.flavour;
            c.pull_policy = fresh.pull_policy;
            c.pull_bo = Backoff::default();
            c.pull_err = None;
            c.pull_started = None;
            if running || c.has_run || c.next.is_some() {
                // The back-off key includes the container's spec: a new image starts afresh.
                c.crash_bo = Backoff::default();
                c.next = Some((now, Act::Pull));
            }
        }
    }
}

/// Periodic log lines of a pod's running containers.
pub fn log_tick(m: &mut Manager, ns: &str, name: &str) {
    let key: Key = (ns.to_string(), name.to_string());
    let Some(mut rt) = m.kubelet.pods.remove(&key) else {
        return;
    };
    let mut any = false;
    for c in rt.ctrs.iter_mut() {
        if matches!(c.state, CState::Running { .. }) && rt.terminating.is_none() {
            any = true;
            let line = periodic_line(c, c.lines);
            c.lines += 1;
            m.shared.logs.append(ns, name, &c.name, &line);
        }
    }
    rt.logging = any && rt.terminating.is_none();
    let keep = rt.logging;
    m.kubelet.pods.insert(key.clone(), rt);
    if keep {
        let at = Instant::now() + log_interval(m);
        let at = m.kubelet.align(at);
        m.schedule(Work::Logs(key), at);
    }
}

fn emit(
    m: &mut Manager,
    pod: &Value,
    c: Option<&Ctr>,
    node: &str,
    t: &str,
    reason: &str,
    msg: &str,
) {
    let store = m.shared.store.clone();
    let fp = c.map(field_path);
    m.events.emit(
        &store,
        pod,
        fp.as_deref(),
        t,
        reason,
        msg,
        Source::Kubelet(node),
    );
}

/// Run every due step of the pod.
fn advance(m: &mut Manager, rt: &mut PodRt, pod: &Value, now: Instant) {
    if !rt.sandbox_ready {
        if now < rt.sandbox_at {
            return;
        }
        rt.sandbox_ready = true;
        if rt.ip.is_none() {
            rt.ip = Some(m.kubelet.allocate_ip());
        }
    }
    let n = rt.ctrs.len();
    // Init containers, one after another.
    let mut i = 0;
    while i < n && rt.ctrs[i].init {
        kick(&mut rt.ctrs[i], now);
        drive(m, rt, i, pod, now);
        let c = &rt.ctrs[i];
        let done = if c.sidecar {
            c.started
        } else {
            matches!(c.state, CState::Terminated { code: 0, .. })
        };
        if !done {
            return;
        }
        i += 1;
    }
    for j in i..n {
        kick(&mut rt.ctrs[j], now);
        drive(m, rt, j, pod, now);
    }
}

/// A container that has never been started begins with its image.
fn kick(c: &mut Ctr, now: Instant) {
    if !c.has_run
        && c.next.is_none()
        && matches!(c.state, CState::Waiting { .. })
        && c.pull_started.is_none()
        && c.pull_err.is_none()
    {
        c.next = Some((now, Act::Pull));
        if c.init {
            c.state = CState::Waiting {
                reason: "PodInitializing".into(),
                message: None,
            };
        }
    }
}

fn drive(m: &mut Manager, rt: &mut PodRt, i: usize, pod: &Value, now: Instant) {
    for _ in 0..64 {
        let Some((at, act)) = rt.ctrs[i].next else {
            break;
        };
        if at > now {
            break;
        }
        rt.ctrs[i].next = None;
        step(m, rt, i, pod, act, at, now);
    }
    // Probes.
    for _ in 0..256 {
        let due = rt.ctrs[i]
            .probes
            .iter()
            .enumerate()
            .filter_map(|(k, p)| p.next.filter(|t| *t <= now).map(|t| (t, k)))
            .min();
        let Some((at, k)) = due else { break };
        probe_tick(m, rt, i, k, pod, at);
    }
}

fn step(
    m: &mut Manager,
    rt: &mut PodRt,
    i: usize,
    pod: &Value,
    act: Act,
    at: Instant,
    now: Instant,
) {
    let node = rt.node.clone();
    let (ns, pname) = key_of(pod);
    let timing = m.shared.timing.clone();
    let unit = timing.delay(1.0);
    let delays = m.kubelet.delays.clone();
    match act {
        Act::Pull => {
            let c = rt.ctrs[i].clone();
            let image = c.image.clone();
            if c.rule == ImageRule::PullError {
                let bo = &rt.ctrs[i].pull_bo;
                let in_bo = bo.last_update.is_some_and(|l| {
                    !bo.expired(now, unit)
                        && now.saturating_duration_since(l) < unit.mul_f64(bo.secs)
                });
                if in_bo {
                    let err = c.pull_err.clone().unwrap_or_default();
                    let until = bo.until(bo.last_update.unwrap_or(now), unit);
                    emit(
                        m,
                        pod,
                        Some(&c),
                        &node,
                        "Normal",
                        "BackOff",
                        &format!("Back-off pulling image \"{image}\""),
                    );
                    emit(
                        m,
                        pod,
                        Some(&c),
                        &node,
                        "Warning",
                        "Failed",
                        "Error: ImagePullBackOff",
                    );
                    let cc = &mut rt.ctrs[i];
                    cc.state = CState::Waiting {
                        reason: "ImagePullBackOff".into(),
                        message: Some(format!(
                            "Back-off pulling image \"{image}\": ErrImagePull: {err}"
                        )),
                    };
                    cc.next = Some((until.min(now + timing.delay(delays.resync)), Act::Pull));
                    return;
                }
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                );
                let cc = &mut rt.ctrs[i];
                cc.pull_started = Some(now);
                cc.next = Some((now + timing.delay(delays.pull_fail), Act::PullDone));
                return;
            }
            let present = m
                .kubelet
                .images
                .get(&node)
                .is_some_and(|s| s.contains(&image));
            if c.pull_policy != "Always" && present || c.pull_policy == "Never" {
                if !present {
                    let msg = format!(
                        "Container image \"{image}\" is not present with pull policy of Never"
                    );
                    emit(
                        m,
                        pod,
                        Some(&c),
                        &node,
                        "Warning",
                        "ErrImageNeverPull",
                        &msg,
                    );
                    let cc = &mut rt.ctrs[i];
                    cc.state = CState::Waiting {
                        reason: "ErrImageNeverPull".into(),
                        message: Some(msg),
                    };
                    cc.next = Some((now + timing.delay(delays.resync), Act::Pull));
                    return;
                }
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                );
                rt.ctrs[i].next = Some((now + timing.delay(delays.create), Act::Start));
                return;
            }
            emit(
                m,
                pod,
                Some(&c),
                &node,
                "Normal",
                "Pulling",
                &format!("Pulling image \"{image}\""),
            );
            let h = fnv32a(image.as_bytes());
            let mut secs = delays.pull + delays.pull_spread * f64::from(h % 1000) / 1000.0;
            if c.rule == ImageRule::Slow && !c.probes.iter().any(|p| p.kind == ProbeKind::Readiness)
            {
                secs = delays.slow_ready;
            }
            let cc = &mut rt.ctrs[i];
            cc.pull_started = Some(now);
            cc.next = Some((now + timing.delay(secs), Act::PullDone));
        }
        Act::PullDone => {
            let c = rt.ctrs[i].clone();
            let image = c.image.clone();
            if c.rule == ImageRule::PullError {
                let full = normalize_image(&image);
                let err = format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
                );
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Warning",
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {err}"),
                );
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                );
                let cc = &mut rt.ctrs[i];
                cc.pull_bo.next(now, unit);
                cc.pull_err = Some(err.clone());
                cc.pull_started = None;
                cc.state = CState::Waiting {
                    reason: "ErrImagePull".into(),
                    message: Some(err),
                };
                cc.next = Some((now + timing.delay(2.0), Act::Pull));
                return;
            }
            let took = c
                .pull_started
                .map(|s| sim_secs(m, now.saturating_duration_since(s)))
                .unwrap_or(delays.pull);
            let size = 20_000_000 + u64::from(fnv32a(image.as_bytes())) % 180_000_000;
            let d = go_duration(took);
            emit(
                m,
                pod,
                Some(&c),
                &node,
                "Normal",
                "Pulled",
                &format!(
                    "Successfully pulled image \"{image}\" in {d} ({d} including waiting). Image size: {size} bytes."
                ),
            );
            m.kubelet
                .images
                .entry(node.clone())
                .or_default()
                .insert(image);
            let cc = &mut rt.ctrs[i];
            cc.pull_started = None;
            cc.next = Some((now + timing.delay(delays.create), Act::Start));
        }
        Act::Start => {
            let name = rt.ctrs[i].name.clone();
            let c0 = rt.ctrs[i].clone();
            emit(
                m,
                pod,
                Some(&c0),
                &node,
                "Normal",
                "Created",
                &format!("Created container: {name}"),
            );
            emit(
                m,
                pod,
                Some(&c0),
                &node,
                "Normal",
                "Started",
                &format!("Started container {name}"),
            );
            m.shared.logs.start(&ns, &pname, &name);
            let policy = rt.policy;
            let c = &mut rt.ctrs[i];
            if c.has_run {
                c.restarts += 1;
            }
            c.has_run = true;
            c.cid = random_hex64();
            c.state = CState::Running {
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
            schedule_probes(c, now, unit, !has_startup);
            c.ready =
                c.started && !c.init && !c.probes.iter().any(|p| p.kind == ProbeKind::Readiness);
            if c.sidecar && c.started && !c.probes.iter().any(|p| p.kind == ProbeKind::Readiness) {
                c.ready = true;
            }
            c.exit = exit_plan(c, policy);
            if c.exit.is_some() {
                c.next = Some((now + timing.delay(exit_after(c, &delays)), Act::Exit));
            }
            for l in startup_lines(c) {
                m.shared.logs.append(&ns, &pname, &name, &l);
            }
        }
        Act::Exit => {
            let (code, reason) = rt.ctrs[i].exit.unwrap_or((0, "Completed"));
            let c = rt.ctrs[i].clone();
            for l in exit_lines(&c, code, reason) {
                m.shared.logs.append(&ns, &pname, &c.name, &l);
            }
            stop(m, rt, i, pod, code, reason, at);
        }
        Act::Restart => {
            let c = rt.ctrs[i].clone();
            let finished = c.last_finish.unwrap_or(at);
            if c.crash_bo.in_backoff_since(finished, now, unit) {
                let secs = c.crash_bo.secs;
                let desc = pod_desc(pod);
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {} in pod {desc}",
                        c.name
                    ),
                );
                let until = c.crash_bo.until(finished, unit);
                let cc = &mut rt.ctrs[i];
                cc.state = CState::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={desc}",
                        go_duration(secs),
                        c.name
                    )),
                };
                cc.next = Some((until.min(now + timing.delay(delays.resync)), Act::Restart));
                return;
            }
            let cc = &mut rt.ctrs[i];
            cc.crash_bo.next(finished, unit);
            cc.next = Some((now, Act::Pull));
        }
    }
}

fn schedule_probes(c: &mut Ctr, now: Instant, unit: Duration, started: bool) {
    let steady = !matches!(c.rule, ImageRule::Slow | ImageRule::Unhealthy);
    for p in c.probes.iter_mut() {
        let active = match p.kind {
            ProbeKind::Startup => !started,
            // Probes of an app that is always healthy cannot fail: only readiness needs a tick.
            ProbeKind::Liveness => started && !steady,
            ProbeKind::Readiness => started,
        };
        if !active || p.next.is_some() {
            continue;
        }
        // The first tick at or after initialDelaySeconds.
        let k = (p.initial / p.period).ceil();
        p.next = Some(now + unit.mul_f64(k * p.period));
    }
}

fn probe_tick(m: &mut Manager, rt: &mut PodRt, i: usize, k: usize, pod: &Value, at: Instant) {
    let node = rt.node.clone();
    let (ns, pname) = key_of(pod);
    let unit = m.shared.timing.delay(1.0);
    let ip = rt.ip.map(ip_string).unwrap_or_default();
    let c = rt.ctrs[i].clone();
    let p = c.probes[k].clone();
    let ok = healthy(m, &c, at, p.kind);
    let steady = !matches!(c.rule, ImageRule::Slow | ImageRule::Unhealthy);
    {
        let pp = &mut rt.ctrs[i].probes[k];
        pp.next = Some(at + unit.mul_f64(p.period));
        if ok {
            pp.ok += 1;
            pp.bad = 0;
        } else {
            pp.bad += 1;
            pp.ok = 0;
        }
    }
    if !ok {
        let listening = c.rule == ImageRule::Unhealthy;
        if c.rule == ImageRule::Unhealthy && !c.unhealthy_logged {
            rt.ctrs[i].unhealthy_logged = true;
            let line = format!(
                "{} WARN  health check failing: worker pool exhausted, 0/16 workers responsive",
                ts()
            );
            m.shared.logs.append(&ns, &pname, &c.name, &line);
        }
        let msg = format!(
            "{} probe failed: {}",
            p.kind.name(),
            probe_failure(&c, &p, &ip, listening)
        );
        emit(m, pod, Some(&c), &node, "Warning", "Unhealthy", &msg);
    }
    let pp = rt.ctrs[i].probes[k].clone();
    match p.kind {
        ProbeKind::Readiness => {
            if ok && pp.ok >= p.success {
                rt.ctrs[i].ready = true;
                if steady {
                    rt.ctrs[i].probes[k].next = None;
                }
            } else if !ok && pp.bad >= p.failure {
                rt.ctrs[i].ready = false;
            }
        }
        ProbeKind::Startup => {
            if ok && pp.ok >= p.success {
                let cc = &mut rt.ctrs[i];
                cc.started = true;
                cc.probes[k].next = None;
                schedule_probes(cc, at, unit, true);
                cc.ready = !cc.init && !cc.probes.iter().any(|q| q.kind == ProbeKind::Readiness);
            } else if !ok && pp.bad >= p.failure {
                let msg = format!(
                    "Container {} failed startup probe, will be restarted",
                    c.name
                );
                emit(m, pod, Some(&c), &node, "Normal", "Killing", &msg);
                stop(m, rt, i, pod, 137, "Error", at);
            }
        }
        ProbeKind::Liveness => {
            if !ok && pp.bad >= p.failure {
                let msg = format!(
                    "Container {} failed liveness probe, will be restarted",
                    c.name
                );
                emit(m, pod, Some(&c), &node, "Normal", "Killing", &msg);
                stop(m, rt, i, pod, 137, "Error", at);
            }
        }
    }
}

/// A container's process ended: terminated state, log closed, restart as the policy says.
fn stop(
    m: &mut Manager,
    rt: &mut PodRt,
    i: usize,
    pod: &Value,
    code: i64,
    reason: &str,
    at: Instant,
) {
    let (ns, pname) = key_of(pod);
    let policy = rt.policy;
    let c = &mut rt.ctrs[i];
    let started_at = match &c.state {
        CState::Running { started_at } => started_at.clone(),
        _ => store::now(),
    };
    let finished_at = store::now();
    let term = json!({
        "exitCode": code,
        "reason": reason,
        "startedAt": started_at,
        "finishedAt": finished_at,
        "containerID": format!("containerd://{}", c.cid),
    });
    c.state = CState::Terminated {
        code,
        reason: reason.to_string(),
        started_at,
        finished_at,
    };
    c.last = Some(json!({"terminated": term}));
    c.last_finish = Some(at);
    c.ready = false;
    c.started = false;
    c.run_since = None;
    c.next = None;
    for p in c.probes.iter_mut() {
        p.next = None;
    }
    m.shared.logs.stop(&ns, &pname, &c.name);
    let restart = c.sidecar
        || match policy {
            Policy::Always => true,
            Policy::OnFailure => code != 0,
            Policy::Never => false,
        };
    if restart {
        c.next = Some((at, Act::Restart));
    }
}

/// Stop a pod being deleted; true when it is gone.
fn terminate(m: &mut Manager, rt: &mut PodRt, pod: &Value, now: Instant) -> bool {
    let (ns, pname) = key_of(pod);
    let node = rt.node.clone();
    if rt.terminating.is_none() {
        let grace = int_at(pod, "/metadata/deletionGracePeriodSeconds", 30).max(0) as f64;
        let wait = grace.min(m.kubelet.delays.max_grace);
        rt.terminating = Some(now + m.shared.timing.delay(wait));
        for i in 0..rt.ctrs.len() {
            let c = rt.ctrs[i].clone();
            if matches!(c.state, CState::Running { .. }) {
                emit(
                    m,
                    pod,
                    Some(&c),
                    &node,
                    "Normal",
                    "Killing",
                    &format!("Stopping container {}", c.name),
                );
                let line = format!("{} INFO  received SIGTERM, shutting down gracefully", ts());
                m.shared.logs.append(&ns, &pname, &c.name, &line);
            }
            let cc = &mut rt.ctrs[i];
            cc.ready = false;
            cc.next = None;
            for p in cc.probes.iter_mut() {
                p.next = None;
            }
        }
    }
    if rt.terminating.is_some_and(|t| now < t) {
        return false;
    }
    let grace_zero = int_at(pod, "/metadata/deletionGracePeriodSeconds", 30) == 0;
    for i in 0..rt.ctrs.len() {
        if matches!(rt.ctrs[i].state, CState::Running { .. }) {
            let (code, reason) = if grace_zero {
                (137, "Error")
            } else {
                (0, "Completed")
            };
            let policy = rt.policy;
            rt.policy = Policy::Never;
            stop(m, rt, i, pod, code, reason, now);
            rt.policy = policy;
            rt.ctrs[i].next = None;
        }
    }
    write_status(m, rt, pod);
    let key: Key = (ns.clone(), pname.clone());
    let _ = m.shared.store.remove_now(by_kind("Pod"), &ns, &pname);
    if let Some(ip) = rt.ip {
        m.kubelet.ips.remove(&ip);
    }
    m.cancel(&Work::Pod(key.clone()));
    m.cancel(&Work::Logs(key));
    m.shared.logs.remove_pod(&ns, &pname);
    m.ready_since.remove(&rt.uid);
    true
}

fn state_json(s: &CState) -> Value {
    match s {
        CState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(msg) = message {
                w["message"] = json!(msg);
            }
            json!({"waiting": w})
        }
        CState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        CState::Terminated {
            code,
            reason,
            started_at,
            finished_at,
        } => json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at,
            "finishedAt": finished_at}}),
    }
}

fn ctr_status(c: &Ctr, terminated_cid: bool) -> Value {
    let mut s = json!({
        "name": c.name,
        "image": normalize_image(&c.image),
        "imageID": "",
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restarts,
        "state": state_json(&c.state),
        "lastState": c.last.clone().unwrap_or(json!({})),
    });
    if c.has_run {
        let full = normalize_image(&c.image);
        let repo = full.split([':', '@']).next().unwrap_or(&full).to_string();
        let repo = match full.rfind(':') {
            Some(i) if !full[i..].contains('/') && !full.contains('@') => full[..i].to_string(),
            _ => repo,
        };
        s["imageID"] = json!(format!("{repo}@sha256:{}", hex64(&full)));
        if !c.cid.is_empty() {
            s["containerID"] = json!(format!("containerd://{}", c.cid));
        }
        if let CState::Terminated { .. } = c.state
            && terminated_cid
            && let Some(t) = s.pointer_mut("/state/terminated")
        {
            t["containerID"] = json!(format!("containerd://{}", c.cid));
        }
    }
    s
}

/// `getPhase`.
fn phase(rt: &PodRt, deleting: bool) -> &'static str {
    let inits = rt.ctrs.iter().filter(|c| c.init);
    let mut pending_init = false;
    for c in inits {
        match &c.state {
            CState::Terminated { code, .. } if *code == 0 && !c.sidecar => {}
            CState::Terminated { code, .. } if *code != 0 && c.next.is_none() && !c.sidecar => {
                return "Failed";
            }
            _ if c.sidecar && c.started => {}
            _ => pending_init = true,
        }
    }
    let main: Vec<&Ctr> = rt.ctrs.iter().filter(|c| !c.init).collect();
    let any_started = main.iter().any(|c| c.has_run);
    if pending_init && !any_started {
        return "Pending";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in &main {
        match &c.state {
            CState::Running { .. } => running += 1,
            CState::Terminated { code, .. } => {
                stopped += 1;
                if *code == 0 {
                    succeeded += 1;
                }
            }
            CState::Waiting { .. } => {
                if c.last.is_some() {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if deleting {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if rt.policy == Policy::Always {
            return "Running";
        }
        let restarting = main.iter().any(|c| c.next.is_some());
        if stopped == succeeded && !restarting {
            return "Succeeded";
        }
        if rt.policy == Policy::Never {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn write_status(m: &mut Manager, rt: &mut PodRt, pod: &Value) {
    let deleting = rt.terminating.is_some();
    let ph = phase(
        rt,
        deleting
            && rt
                .ctrs
                .iter()
                .all(|c| !matches!(c.state, CState::Running { .. })),
    );
    let now_s = store::now();
    let unready: Vec<String> = rt
        .ctrs
        .iter()
        .filter(|c| !c.init && !c.ready)
        .map(|c| c.name.clone())
        .collect();
    let incomplete: Vec<String> = rt
        .ctrs
        .iter()
        .filter(|c| c.init)
        .filter(|c| {
            if c.sidecar {
                !c.started
            } else {
                !matches!(c.state, CState::Terminated { code: 0, .. })
            }
        })
        .map(|c| c.name.clone())
        .collect();
    let terminal = matches!(ph, "Succeeded" | "Failed");
    let generation = int_at(pod, "/metadata/generation", 1);
    let mut conds: Vec<Value> = Vec::new();
    let mut cond =
        |rt: &mut PodRt, t: &'static str, ok: bool, reason: Option<&str>, msg: Option<String>| {
            let status = if ok { "True" } else { "False" };
            let e = rt
                .cond_times
                .entry(t)
                .or_insert_with(|| (status.to_string(), now_s.clone()));
            if e.0 != status {
                *e = (status.to_string(), now_s.clone());
            }
            let mut c = json!({"type": t, "status": status, "lastProbeTime": null,
            "lastTransitionTime": e.1, "observedGeneration": generation});
            if !ok {
                if let Some(r) = reason {
                    c["reason"] = json!(r);
                }
                if let Some(mm) = msg {
                    c["message"] = json!(mm);
                }
            }
            conds.push(c);
        };
    let sandbox_ok = rt.sandbox_ready && !(terminal && deleting);
    cond(rt, "PodReadyToStartContainers", sandbox_ok, None, None);
    let init_ok = incomplete.is_empty();
    cond(
        rt,
        "Initialized",
        init_ok,
        Some("ContainersNotInitialized"),
        Some(format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        )),
    );
    let ready_ok = unready.is_empty() && init_ok && !terminal && !deleting;
    let (reason, msg) = if terminal {
        ("PodCompleted", None)
    } else {
        (
            "ContainersNotReady",
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    cond(rt, "Ready", ready_ok, Some(reason), msg.clone());
    cond(rt, "ContainersReady", ready_ok, Some(reason), msg);
    if ready_ok {
        m.ready_since
            .entry(rt.uid.clone())
            .or_insert_with(Instant::now);
    } else {
        m.ready_since.remove(&rt.uid);
    }
    let inits: Vec<Value> = rt
        .ctrs
        .iter()
        .filter(|c| c.init)
        .map(|c| {
            let mut s = ctr_status(c, true);
            if matches!(c.state, CState::Terminated { code: 0, .. }) && !c.sidecar {
                s["ready"] = json!(true);
            }
            s
        })
        .collect();
    let mains: Vec<Value> = rt
        .ctrs
        .iter()
        .filter(|c| !c.init)
        .map(|c| ctr_status(c, true))
        .collect();
    let host_ip = rt.host_ip.clone();
    let pod_ip = rt.ip.map(ip_string);
    let start_time = rt.start_time.clone();
    let (ns, name) = key_of(pod);
    let _ = m
        .shared
        .store
        .modify(by_kind("Pod"), &ns, &name, Part::All, |o| {
            if uid_of(o) != rt.uid {
                return Err(ApiError::conflict(by_kind("Pod"), &name));
            }
            let old = o.get("status").cloned().unwrap_or(json!({}));
            let mut st = json!({
                "phase": ph,
                "conditions": conds,
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "startTime": start_time,
                "containerStatuses": mains,
                "observedGeneration": generation,
            });
            if let Some(ip) = &pod_ip {
                st["podIP"] = json!(ip);
                st["podIPs"] = json!([{"ip": ip}]);
            }
            if !inits.is_empty() {
                st["initContainerStatuses"] = json!(inits);
            }
            if let Some(q) = old.get("qosClass") {
                st["qosClass"] = q.clone();
            }
            if let Some(ps) = condition(o, "PodScheduled")
                && let Some(a) = st["conditions"].as_array_mut()
            {
                a.push(ps.clone());
            }
            o["status"] = st;
            Ok(())
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_from_tags() {
        assert_eq!(image_rule("nginx:1.25"), ImageRule::Normal);
        assert_eq!(
            image_rule("registry:5000/web:2.0-crashloop"),
            ImageRule::CrashLoop
        );
        assert_eq!(image_rule("web:bad"), ImageRule::PullError);
        assert_eq!(image_rule("web:doesnotexist"), ImageRule::PullError);
        assert_eq!(image_rule("web:v2-slow"), ImageRule::Slow);
        assert_eq!(image_rule("web:oom"), ImageRule::Oom);
        assert_eq!(image_rule("migrate:fail"), ImageRule::Fail);
        assert_eq!(image_rule("web:unhealthy"), ImageRule::Unhealthy);
        // The repository name and a digest do not count.
        assert_eq!(image_rule("badger:1.0"), ImageRule::Normal);
        assert_eq!(image_rule("web@sha256:bad0"), ImageRule::Normal);
    }

    #[test]
    fn image_names_are_normalized() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("nginx:1.25"),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(normalize_image("acme/web:2"), "docker.io/acme/web:2");
        assert_eq!(normalize_image("ghcr.io/acme/web:2"), "ghcr.io/acme/web:2");
        assert_eq!(
            normalize_image("localhost:5000/web"),
            "localhost:5000/web:latest"
        );
    }

    #[test]
    fn crash_backoff_doubles_to_five_minutes() {
        let unit = Duration::from_millis(1);
        let t0 = Instant::now();
        let mut b = Backoff::default();
        // First crash: not in back-off, restart at once.
        assert!(!b.in_backoff_since(t0, t0, unit));
        b.next(t0, unit);
        assert_eq!(b.secs, 10.0);
        let t1 = t0 + unit.mul_f64(1.0);
        assert!(b.in_backoff_since(t1, t1, unit));
        assert!(!b.in_backoff_since(t1, t1 + unit.mul_f64(10.0), unit));
        let mut t = t1;
        for want in [20.0, 40.0, 80.0, 160.0, 300.0, 300.0] {
            b.next(t, unit);
            assert_eq!(b.secs, want);
            t += unit.mul_f64(want + 1.0);
        }
        // Ten minutes without a crash resets it.
        let later = t + unit.mul_f64(601.0);
        b.next(later, unit);
        assert_eq!(b.secs, 10.0);
    }
}

//! What the kubelets keep in memory: a runtime per bound pod, with its containers' states and
//! timers, the images on each node and the pod network's addresses. Only data and its
//! bookkeeping; what moves it is in `containers.rs` and `mod.rs`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::app_output::{Flavour, flavour_of};
use super::backoff::Backoff;
use super::delays::Delays;
use super::images::{ImageRule, image_rule};
use super::probes::{Probe, ProbeKind};
use crate::object::{Key, PointerLookup, str_at};

/// The transitions of a container, each a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transition {
    /// Pull the image (or find it on the node).
    Pull,
    /// The pull is over, successfully or not.
    PullDone,
    /// Create and start the container.
    Start,
    /// The process ends by itself.
    Exit,
    /// Start again after an exit, perhaps after a back-off.
    Restart,
}

/// A container's state, as `containerStatuses[].state` reports it.
#[derive(Clone, Debug)]
pub(super) enum ContainerState {
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

/// One container of a pod: what its spec says and where its life is.
#[derive(Clone, Debug)]
pub(super) struct Container {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) pull_policy: String,
    pub(super) init: bool,
    /// A restartable init container.
    pub(super) sidecar: bool,
    pub(super) rule: ImageRule,
    pub(super) flavour: Flavour,
    pub(super) port: i64,
    pub(super) state: ContainerState,
    /// `lastState`.
    pub(super) last: Option<Value>,
    pub(super) last_finish: Option<Instant>,
    pub(super) has_run: bool,
    pub(super) restarts: i64,
    pub(super) container_id: String,
    pub(super) ready: bool,
    pub(super) started: bool,
    /// The next transition and when it is due.
    pub(super) next: Option<(Instant, Transition)>,
    /// How the current run ends by itself, if it does: (exit code, reason).
    pub(super) exit: Option<(i64, &'static str)>,
    pub(super) crash_backoff: Backoff,
    pub(super) pull_backoff: Backoff,
    pub(super) pull_error: Option<String>,
    pub(super) pull_started: Option<Instant>,
    pub(super) run_since: Option<Instant>,
    pub(super) probes: Vec<Probe>,
    /// Periodic log lines written in this run.
    pub(super) lines: u64,
    pub(super) unhealthy_logged: bool,
}

impl Container {
    /// A container of `spec`, not started yet (`batch`: it runs to completion).
    pub(super) fn new(spec: &Value, init: bool, batch: bool) -> Container {
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
                    probes.push(Probe::new(kind, p));
                }
            }
        }
        let port = spec
            .at("/ports/0/containerPort")
            .and_then(Value::as_i64)
            .unwrap_or(8080);
        Container {
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
            state: ContainerState::Waiting {
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
            container_id: String::new(),
            ready: false,
            started: false,
            next: None,
            exit: None,
            crash_backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            pull_error: None,
            pull_started: None,
            run_since: None,
            probes,
            lines: 0,
            unhealthy_logged: false,
        }
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.state, ContainerState::Running { .. })
    }

    pub(super) fn has_readiness_probe(&self) -> bool {
        self.probes.iter().any(|p| p.kind == ProbeKind::Readiness)
    }
}

/// The pod's `restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// A pod bound to a node, as its kubelet runs it.
#[derive(Clone, Debug)]
pub(super) struct PodRuntime {
    pub(super) uid: String,
    pub(super) node: String,
    pub(super) ip: Option<u32>,
    pub(super) host_ip: String,
    pub(super) start_time: String,
    /// When the pod's sandbox (network, IP) is ready.
    pub(super) sandbox_at: Instant,
    pub(super) sandbox_ready: bool,
    /// Init containers first, in order, then the others.
    pub(super) containers: Vec<Container>,
    pub(super) policy: RestartPolicy,
    /// When a pod being deleted is stopped for good.
    pub(super) terminating: Option<Instant>,
    /// Condition type → (status, lastTransitionTime).
    pub(super) condition_times: HashMap<&'static str, (String, String)>,
    /// Whether a periodic log timer runs for the pod.
    pub(super) logging: bool,
}

impl PodRuntime {
    /// The lastTransitionTime of condition `t`, whose status is now `status`: kept while the
    /// status stays, `now` when it changes.
    pub(super) fn transition_time(&mut self, t: &'static str, status: &str, now: &str) -> String {
        let entry = self
            .condition_times
            .entry(t)
            .or_insert_with(|| (status.to_string(), now.to_string()));
        if entry.0 != status {
            *entry = (status.to_string(), now.to_string());
        }
        entry.1.clone()
    }
}

/// The kubelets' state: one runtime per bound pod, images per node, the pod network's addresses.
#[derive(Default)]
pub struct Kubelet {
    pub(super) pods: HashMap<Key, PodRuntime>,
    /// Node → images pulled there.
    pub(super) images: HashMap<String, HashSet<String>>,
    pub(super) ips: HashSet<u32>,
    next_ip: u32,
    origin: Option<Instant>,
    pub delays: Delays,
}

const POD_NET: u32 = (10 << 24) | (244 << 16);

/// An address of the pod network as text.
pub(super) fn ip_string(ip: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        ip >> 24,
        (ip >> 16) & 0xff,
        (ip >> 8) & 0xff,
        ip & 0xff
    )
}

pub(super) fn parse_ip(s: &str) -> Option<u32> {
    let p: Vec<u32> = s.split('.').filter_map(|x| x.parse().ok()).collect();
    (p.len() == 4).then(|| (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3])
}

impl Kubelet {
    /// A free address of 10.244.0.0/16.
    pub(super) fn allocate_ip(&mut self) -> u32 {
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
    pub(super) fn align(&mut self, at: Instant) -> Instant {
        let origin = *self.origin.get_or_insert(at);
        let grid = Duration::from_millis(25);
        let since = at.saturating_duration_since(origin).as_nanos();
        let g = grid.as_nanos();
        let n = since.div_ceil(g);
        origin + Duration::from_nanos((n * g) as u64)
    }
}

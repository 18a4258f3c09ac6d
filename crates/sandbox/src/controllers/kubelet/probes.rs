//! Startup, readiness and liveness probes: when they tick, whether the fake app answers them, how
//! their results count towards the thresholds, and the kubelet's words for a failure.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::delays::Delays;
use super::images::ImageRule;
use crate::object::{int_at, str_at};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

impl ProbeKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        }
    }
}

/// One probe of a container: its spec, its next tick and its consecutive results.
#[derive(Clone, Debug)]
pub(super) struct Probe {
    pub(super) kind: ProbeKind,
    spec: Value,
    initial: f64,
    period: f64,
    success: i64,
    failure: i64,
    pub(super) next: Option<Instant>,
    pub(super) ok: i64,
    pub(super) bad: i64,
}

/// What a probe's results add up to after a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `successThreshold` consecutive successes.
    Passed,
    /// `failureThreshold` consecutive failures.
    Failed,
    /// Neither yet.
    Undecided,
}

impl Probe {
    pub(super) fn new(kind: ProbeKind, spec: &Value) -> Probe {
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

    /// Count one result at `at`, schedule the next tick, and say whether a threshold is reached.
    pub(super) fn record(&mut self, ok: bool, at: Instant, unit: Duration) -> Outcome {
        self.next = Some(at + unit.mul_f64(self.period));
        if ok {
            self.ok += 1;
            self.bad = 0;
        } else {
            self.bad += 1;
            self.ok = 0;
        }
        if ok && self.ok >= self.success {
            Outcome::Passed
        } else if !ok && self.bad >= self.failure {
            Outcome::Failed
        } else {
            Outcome::Undecided
        }
    }

    /// The kubelet's message for a failed probe of a container listening on `port` at `ip`
    /// (`listening`: the port is open, the app answers badly).
    pub(super) fn failure_message(&self, port: i64, ip: &str, listening: bool) -> String {
        let port_of = |v: Option<&Value>| -> String {
            match v {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.clone(),
                _ => port.to_string(),
            }
        };
        if let Some(h) = self.spec.get("httpGet") {
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
                let code = if self.kind == ProbeKind::Readiness {
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
        } else if let Some(t) = self.spec.get("tcpSocket") {
            let port = port_of(t.get("port"));
            format!("dial tcp {ip}:{port}: connect: connection refused")
        } else if let Some(g) = self.spec.get("grpc") {
            let port = port_of(g.get("port"));
            format!("timeout: failed to connect service \":{port}\" within 1s")
        } else {
            String::new()
        }
    }
}

/// Whether the app of an image that follows `rule` is healthy for good: then its probes cannot
/// fail, and only readiness needs a tick.
pub(super) fn is_steady(rule: ImageRule) -> bool {
    !matches!(rule, ImageRule::Slow | ImageRule::Unhealthy)
}

/// Give the probes that should run their first tick: the startup probe until the container has
/// started, then readiness (and liveness, for an app that can fail it). The first tick is the
/// first one at or after `initialDelaySeconds`.
pub(super) fn schedule(
    probes: &mut [Probe],
    rule: ImageRule,
    now: Instant,
    unit: Duration,
    started: bool,
) {
    let steady = is_steady(rule);
    for p in probes.iter_mut() {
        let active = match p.kind {
            ProbeKind::Startup => !started,
            ProbeKind::Liveness => started && !steady,
            ProbeKind::Readiness => started,
        };
        if !active || p.next.is_some() {
            continue;
        }
        let k = (p.initial / p.period).ceil();
        p.next = Some(now + unit.mul_f64(k * p.period));
    }
}

/// Whether an app of an image that follows `rule` answers its probes after running for
/// `ran_for` simulated seconds (`None`: it is not running).
pub(super) fn healthy(rule: ImageRule, ran_for: Option<f64>, delays: &Delays) -> bool {
    let Some(s) = ran_for else {
        return false;
    };
    match rule {
        ImageRule::Slow => s >= delays.slow_ready,
        ImageRule::Unhealthy => s < delays.unhealthy_after,
        _ => true,
    }
}

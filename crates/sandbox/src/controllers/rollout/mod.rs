//! The Argo Rollouts controller (`argoproj.io/v1alpha1` Rollout), modelled on Argo Rollouts'
//! `rollout/` package and its `utils/`: canary steps (setWeight, pause with and without a
//! duration, setCanaryScale) and blue-green (active and preview Services, auto-promotion,
//! scale-down delay, preview replica count), abort, retry, promote and promote --full as
//! `kubectl argo rollouts` patches them, spec.paused, spec.restartAt, the progress deadline (and
//! progressDeadlineAbort), and the status Argo writes.
//!
//! - [`spec`]: reading the spec, its defaults, the template and steps hashes;
//! - [`counts`]: how many pods the canary and the stable run (`CalculateReplicaCountsForBasicCanary`
//!   and the traffic-routed variant), the current step and weight;
//! - [`status`]: conditions, their reasons and messages, and the phase;
//! - [`reconcile`](mod@reconcile): one reconcile, from the Rollout, its ReplicaSets, their pods and its Services
//!   to the writes ([`Plan`]), in Argo's order and with its early returns. Plain functions: the
//!   Manager reads the objects and applies the plan;
//! - [`controller`]: the Manager's side: what a Rollout owns read from the store and the
//!   indexes, the plan applied, the instants recorded, the timers set.
//!
//! The pods come from the sandbox's ReplicaSet controller, so the kubelet's image rules apply (a
//! `crashloop` canary never becomes available). Not modelled: analysis, experiments, traffic
//! routers (their weights are written to status as a router would be told them), ephemeral
//! metadata, anti-affinity injection, workloadRef, ping-pong, rollback windows, step plugins,
//! the duration status.

pub mod controller;
pub mod counts;
pub mod reconcile;
pub mod spec;
pub mod status;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod adversarial_tests;

pub use reconcile::{Clock, Event, Mark, Observed, Plan, Write, reconcile};

//! Native Kubernetes steps (`kube.*`), run through kube-rs against the pinned cluster.
//!
//! Every step first re-checks the pin ([`crate::target::PinnedCluster::checked_client`]): a
//! changed context or another cluster blocks it before anything is sent. An action writes its
//! progress as lines (masked like any output), may leave text in stdout for `expect` and `capture`,
//! and returns what it changed ([`Change`]), which the engine journals so `undo` and `kube.revert`
//! ([`revert`]) can put it back.

pub mod apply;
pub mod argo;
pub mod argocd;
pub mod batch_job;
pub mod call;
pub mod change;
pub mod executor;
pub mod get;
pub mod kubectl;
pub mod patch;
pub mod revert;
pub mod rollout;
pub mod scale;
pub mod step;
pub mod wait;

pub use call::{KubeCall, work};
pub use change::Change;
pub use executor::KubeExec;
pub use step::{ActionResult, Failure, KubeStep, describe_error};

/// The label a `kube.job`'s pods carry: the id of the step that ran it (the pods pane and the
/// logs pane find them by it).
pub use crate::protocol::STEP_LABEL;

//! How a run, a phase, a step or a prompt ended, inside the engine and out of it.

use super::audit::AuditError;
use super::journal::JournalError;
use crate::protocol::RunStatus;

/// How a run ended: finished with a status, or paused at a gate (resumable).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished(RunStatus),
    Paused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Whether the run goes on after a phase or step.
pub(super) enum Flow {
    Next,
    Stop(Outcome),
}

/// Why a prompt got no value.
pub(super) enum Unanswered {
    Aborted,
    /// The view could not ask, or the person declined: the reason.
    No(String),
}

/// How a step's attempts ended.
pub(super) enum Attempt {
    Ok,
    Failed(String),
    Aborted,
}

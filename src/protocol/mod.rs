//! What the engine and its views say to each other: events and commands, statuses, output
//! streams, and the mask that keeps secrets out of all of them. Below the engine, the executors
//! and every view; imports nothing of tollgate.

pub mod approvals;
pub mod event;
pub mod secret;
pub mod status;

pub use event::{
    ChecklistItem, Choice, Command, Deadline, Decision, Event, GateKind, GateRequest, History,
    OutputLine, Past, Stream, ValueRequest, not_kept_count, not_kept_line, short_duration,
};
pub use secret::{MASK, MIN_MASKED, Masker, Secret, secret_forms};
pub use status::{RunStatus, StepStatus};

/// The label the kube executor puts on a `kube.job`'s Job and pods, naming the step: how the
/// panes find the pods of a step whose Job name has a random suffix.
pub const STEP_LABEL: &str = "tollgate.dev/step";

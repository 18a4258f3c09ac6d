//! The run as a state machine: phases → gates → steps, emitting events for any view.
//!
//! Nothing advances past a gate without a [`Decision`] for that exact gate arriving on the command
//! channel; every decision is journaled (fsync'ed) before the engine acts on it. Views consume
//! [`Event`]s and send [`Command`]s; they never touch run state. Every transition is journaled,
//! audited and announced by one function ([`transition`]).

mod attempts;
pub mod audit;
pub mod capture;
mod gates;
mod history;
pub mod journal;
pub mod outcome;
mod phases;
pub mod rehearsal;
mod rollback;
pub mod state;
pub mod survivors;
pub mod transition;
mod values;
pub mod variables;

pub use journal::now_rfc3339;
pub use outcome::{EngineError, Outcome};
pub use state::{AtStep, Engine, Rehearsing, RunSpec, new_run_id};

pub use crate::protocol::{
    ChecklistItem, Choice, Command, Decision, Event, GateKind, GateRequest, History, OutputLine,
    Past, RunStatus, Secret, StepStatus, Stream, ValueRequest,
};

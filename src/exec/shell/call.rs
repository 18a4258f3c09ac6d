//! A shell step's work: its script, filled, and what runs it.

use crate::exec::values::RunValues;
use crate::runbook::Run;

/// A script and what runs it.
#[derive(Clone, Debug, Default)]
pub struct ShellCall {
    /// Variables filled in (secret ones too: the script reaches only the process).
    pub script: String,
    /// The program and flags that run it; empty for [`super::DEFAULT_INTERPRETER`].
    pub interpreter: Vec<String>,
}

/// The work of a shell step: its script filled from the run's values.
pub fn work(script: &str, run: &Run, values: &dyn RunValues) -> ShellCall {
    ShellCall {
        script: values.fill(script),
        interpreter: run.interpreter.clone(),
    }
}

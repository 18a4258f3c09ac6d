//! What a family needs from the run to turn its action into work ([`RunValues`]): the engine
//! answers, and no family needs to know the engine.

use std::path::Path;

use crate::runbook::Revert;

/// What a family needs from the run to turn its action into work. The engine answers.
pub trait RunValues {
    /// Fills `{{ var }}` templates with the variables' real values (secret ones too: what is
    /// filled this way only reaches the work, never a screen).
    fn fill(&self, text: &str) -> String;
    /// The value of a variable (secret or not), if it has one.
    fn value(&self, name: &str) -> Option<String>;
    /// The runbook's folder.
    fn dir(&self) -> &Path;
    /// The runbook's `targets.kube.namespace`.
    fn target_namespace(&self) -> Option<String>;
    /// What the step a revert names changed, oldest first (from this run or the run it names),
    /// or that it did not run there; the one line why not when there is no such run or step, or
    /// that run's changes may not be reverted by this one (a rehearsal's on a real target, or the
    /// other way round).
    fn changes_to_revert(&self, revert: &Revert) -> Result<Journaled, String>;
}

/// What the journal says of the step a revert names.
#[derive(Clone, Debug, PartialEq)]
pub enum Journaled {
    /// The step ran: what it changed, oldest first (nothing, when it changed nothing).
    Ran(Vec<serde_json::Value>),
    /// The step is in that run's runbook but did not run in it (skipped, or never reached): the
    /// one line that says so. A revert of it puts nothing back, and succeeds.
    DidNotRun(String),
}

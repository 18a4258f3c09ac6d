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
    /// What the step a revert names changed, oldest first (from this run or the run it names);
    /// the one line why not when that run's changes may not be reverted by this one (a
    /// rehearsal's on a real target, or the other way round).
    fn changes_to_revert(&self, revert: &Revert) -> Result<Vec<serde_json::Value>, String>;
}

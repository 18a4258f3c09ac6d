//! What a step's family needs from the run to make its work ([`RunValues`]), answered from the
//! engine's variables, folder, targets and journal.

use std::path::Path;

use super::state::Engine;
use crate::exec::{Journaled, RunValues};
use crate::runbook::{Revert, vars};

/// The run's values, as one step's work is made.
pub(super) struct StepValues<'a> {
    pub engine: &'a Engine,
}

impl RunValues for StepValues<'_> {
    fn fill(&self, text: &str) -> String {
        vars::render(text, |n| self.engine.vars.get(n).map(|x| x.value.clone()))
    }

    fn value(&self, name: &str) -> Option<String> {
        self.engine.vars.get(name).map(|v| v.value.clone())
    }

    fn dir(&self) -> &Path {
        &self.engine.dir
    }

    fn target_namespace(&self) -> Option<String> {
        self.engine
            .runbook
            .targets
            .kube
            .as_ref()
            .and_then(|k| k.namespace.clone())
    }

    fn changes_to_revert(&self, revert: &Revert) -> Result<Journaled, String> {
        self.engine.reverting(revert)
    }
}

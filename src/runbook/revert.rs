//! Putting back what a step changed: which step (of this run or another), and which action of
//! which family does it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Puts back what a step changed, newest change first, from the journal: an earlier step of this
/// run, or of another run.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revert {
    /// The id of the step whose changes are reverted.
    #[serde(default)]
    pub step: String,
    /// Another run's id (e.g. the deploy a rollback runbook undoes, given as a variable): its
    /// journal holds the changes. This run's, when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Revert {
    /// `step=ID`, with ` run=RUN` when it names another run.
    pub fn describe(&self) -> String {
        match self.run.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => format!("step={} run={r}", self.step),
            None => format!("step={}", self.step),
        }
    }
}

/// The actions that put back what a step journaled, one per family of steps that journal
/// changes they can undo: each family says which one undoes its actions
/// ([`super::kube::KubeAction::reverted_by`], [`super::aws::AwsAction::reverted_by`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevertAction {
    /// `kube.revert`: what a kube step changed in the cluster.
    Kube,
    /// `secrets.revert`: what an AWS step changed in the account.
    Aws,
}

impl RevertAction {
    /// The key it is written under.
    pub fn key(self) -> &'static str {
        match self {
            RevertAction::Kube => "kube.revert",
            RevertAction::Aws => "secrets.revert",
        }
    }
}

//! An AWS step's work: its action with names filled, the values it reads, what it reverts.

use crate::exec::values::{Journaled, RunValues};
use crate::protocol::Secret;
use crate::runbook::aws::AwsAction;

/// An AWS step (`secrets.*`, `ecr.*`, `aws.identity`), its strings already filled from
/// (non-secret) variables.
#[derive(Clone, Debug)]
pub struct AwsCall {
    pub action: AwsAction,
    /// The values of the variables the action reads (`from_var`), by name, filled by the engine;
    /// a value typed at the step's masked prompt under [`TYPED`].
    pub secret_values: Vec<(String, Secret)>,
    /// For `secrets.revert`: what the named step changed, as journaled, oldest first; or why its
    /// changes may not be reverted by this run.
    pub reverting: Result<Journaled, String>,
}

/// The name a value typed at a masked prompt has in [`AwsCall::secret_values`]: no variable can
/// be named like this.
pub const TYPED: &str = "(typed at the prompt)";

/// The work of an AWS action. Names and files are filled from variables (never secret ones:
/// `check` refuses them); the value a step stores comes from the variable `from_var` names (secret
/// or not), passed as a [`Secret`]: the step never prints it.
pub fn work(action: &AwsAction, values: &dyn RunValues) -> AwsCall {
    let action = action.filled(&|s| values.fill(s));
    let secret_values = action
        .reads_var()
        .and_then(|n| values.value(n).map(|v| (n.to_string(), Secret(v))))
        .into_iter()
        .collect();
    let reverting = match &action {
        AwsAction::SecretsRevert(r) => values.changes_to_revert(r),
        _ => Ok(Journaled::Ran(Vec::new())),
    };
    AwsCall {
        action,
        secret_values,
        reverting,
    }
}

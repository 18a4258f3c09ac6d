//! A `kube.*` step's work: its action with strings filled, and what else it needs.

use crate::exec::values::{Journaled, RunValues};
use crate::runbook::kube::KubeAction;

/// A `kube.*` step, its strings already filled from variables.
#[derive(Clone, Debug)]
pub struct KubeCall {
    pub action: KubeAction,
    /// The runbook's `targets.kube.namespace`, the default before the context's.
    pub target_namespace: Option<String>,
    /// For `kube.revert`: what the named step changed, as journaled, oldest first; or why its
    /// changes may not be reverted by this run.
    pub reverting: Result<Journaled, String>,
    /// When the step started: logs it streams start here.
    pub started: chrono::DateTime<chrono::Utc>,
}

/// The work of a `kube.*` action.
pub fn work(action: &KubeAction, values: &dyn RunValues) -> KubeCall {
    let action = action.filled(&|s| values.fill(s));
    let reverting = match &action {
        KubeAction::Revert(r) => values.changes_to_revert(r),
        _ => Ok(Journaled::Ran(Vec::new())),
    };
    KubeCall {
        action,
        target_namespace: values.target_namespace(),
        reverting,
        started: chrono::Utc::now(),
    }
}

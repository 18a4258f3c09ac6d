//! A `docker.*` step's work: its action with strings filled, the secrets it names, its folder.

use std::path::PathBuf;

use crate::exec::values::RunValues;
use crate::runbook::Run;
use crate::runbook::docker::DockerAction;

/// A `docker.*` step, its strings already filled from variables.
#[derive(Clone, Debug)]
pub struct DockerCall {
    pub action: DockerAction,
    /// `(name, value)` of the secret variables the action names (see
    /// [`DockerAction::secret_vars`]): a push's or a login's registry password. Never shown.
    pub secrets: Vec<(String, String)>,
    /// The runbook's folder: a build's context is relative to it.
    pub workdir: PathBuf,
}

impl DockerCall {
    /// The value of the secret variable `name`, if it was handed over.
    pub fn secret(&self, name: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The work of a `docker.*` action. Contexts, tags and args are filled from (non-secret)
/// variables; a registry password comes from the secret variable the push names, passed as such.
pub fn work(action: &DockerAction, run: &Run, values: &dyn RunValues) -> DockerCall {
    let action = action.filled(&|s| values.fill(s));
    let secrets = action
        .secret_vars()
        .into_iter()
        .filter_map(|n| values.value(n).map(|v| (n.to_string(), v)))
        .collect();
    DockerCall {
        action,
        secrets,
        workdir: match &run.workdir {
            Some(w) => values.dir().join(values.fill(w)),
            None => values.dir().to_path_buf(),
        },
    }
}

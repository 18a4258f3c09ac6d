//! An `http.check` step's work: its action with every string filled, header values included
//! (secret ones with their values: they are sent, never shown).

use crate::exec::values::RunValues;
use crate::runbook::http::{HttpAction, HttpCheck};

/// An `http.check` step, its strings already filled from variables.
#[derive(Clone)]
pub struct HttpCall {
    pub action: HttpAction,
}

impl HttpCall {
    pub fn check(&self) -> &HttpCheck {
        let HttpAction::Check(c) = &self.action;
        c
    }
}

/// Header values may hold secrets: never printed, not even in a debug dump.
impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCall")
            .field("action", &self.action.describe())
            .finish()
    }
}

/// The work of an `http.*` action.
pub fn work(action: &HttpAction, values: &dyn RunValues) -> HttpCall {
    HttpCall {
        action: action.filled(&|s| values.fill(s)),
    }
}

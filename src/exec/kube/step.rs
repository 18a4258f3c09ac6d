//! What a `kube.*` action gets: the client, the namespace it acts in, the call, and the step's
//! context core (lines, changes, deadline); and how it fails.

use std::ops::{Deref, DerefMut};

use kube::Client;

use super::call::KubeCall;
use crate::exec::job::JobCommon;
use crate::exec::step::StepIo;

/// A running `kube.*` action's context. Derefs to the [`StepIo`] every family shares (`say`,
/// `out`, `changed`, `remaining`).
pub struct KubeStep<'a> {
    pub client: Client,
    /// The step's namespace, else the runbook's, else the context's.
    pub ns: String,
    pub call: &'a KubeCall,
    pub job: &'a JobCommon,
    pub io: StepIo<'a>,
}

impl<'a> Deref for KubeStep<'a> {
    type Target = StepIo<'a>;
    fn deref(&self) -> &StepIo<'a> {
        &self.io
    }
}

impl<'a> DerefMut for KubeStep<'a> {
    fn deref_mut(&mut self) -> &mut StepIo<'a> {
        &mut self.io
    }
}

/// Why an action failed.
#[derive(Debug)]
pub enum Failure {
    /// The step's timeout ran out; the text says what was still missing.
    Timeout(String),
    Error(String),
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Failure {
        Failure::Error(describe_error(&e))
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Error(e)
    }
}

/// A kube error in one line: the API server's message when there is one.
pub fn describe_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

pub type ActionResult = Result<(), Failure>;

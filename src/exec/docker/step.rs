//! What a `docker.*` action gets: the daemon, the call, and the step's context core.

use std::ops::{Deref, DerefMut};

use bollard::Docker;

use super::call::DockerCall;
use crate::exec::step::StepIo;

/// A running `docker.*` action's context. Derefs to the [`StepIo`] every family shares (`say`,
/// `out`, `changed`).
pub struct DockerStep<'a> {
    pub docker: &'a Docker,
    pub call: &'a DockerCall,
    pub io: StepIo<'a>,
}

impl<'a> Deref for DockerStep<'a> {
    type Target = StepIo<'a>;
    fn deref(&self) -> &StepIo<'a> {
        &self.io
    }
}

impl<'a> DerefMut for DockerStep<'a> {
    fn deref_mut(&mut self) -> &mut StepIo<'a> {
        &mut self.io
    }
}

/// Why an action failed, in one line.
pub type ActionResult = Result<(), String>;

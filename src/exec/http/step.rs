//! What an `http.*` action gets: the call and the step's context core.

use std::ops::{Deref, DerefMut};

use super::call::HttpCall;
use crate::exec::step::StepIo;

/// A running `http.*` action's context. Derefs to the [`StepIo`] every family shares.
pub struct HttpStep<'a> {
    pub call: &'a HttpCall,
    pub io: StepIo<'a>,
}

impl<'a> Deref for HttpStep<'a> {
    type Target = StepIo<'a>;
    fn deref(&self) -> &StepIo<'a> {
        &self.io
    }
}

impl<'a> DerefMut for HttpStep<'a> {
    fn deref_mut(&mut self) -> &mut StepIo<'a> {
        &mut self.io
    }
}

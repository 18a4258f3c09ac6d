//! What an AWS action gets: the SDK configuration, the pin it was checked against, the call, and
//! the step's context core (lines, changes, deadline).

use std::ops::{Deref, DerefMut};

use tokio::sync::watch;

use super::call::AwsCall;
use crate::exec::job::JobCommon;
use crate::exec::step::StepIo;
use crate::protocol::Secret;
use crate::target::AccountPin;

/// A running AWS action's context. Derefs to the [`StepIo`] every family shares (`say`, `out`,
/// `changed`, `remaining`).
pub struct AwsStep<'a> {
    pub conf: aws_config::SdkConfig,
    /// The account and region the step was checked against.
    pub pin: AccountPin,
    pub call: &'a AwsCall,
    pub job: &'a JobCommon,
    pub cancel: watch::Receiver<bool>,
    /// Secret variables to set.
    pub secrets: Vec<(String, Secret)>,
    pub io: StepIo<'a>,
}

impl<'a> Deref for AwsStep<'a> {
    type Target = StepIo<'a>;
    fn deref(&self) -> &StepIo<'a> {
        &self.io
    }
}

impl<'a> DerefMut for AwsStep<'a> {
    fn deref_mut(&mut self) -> &mut StepIo<'a> {
        &mut self.io
    }
}

impl AwsStep<'_> {
    /// The value of a variable the action reads (`from_var`).
    pub fn var(&self, name: &str) -> Result<&str, String> {
        self.call
            .secret_values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.0.as_str())
            .ok_or_else(|| format!("variable `{name}` has no value"))
    }
}

//! One attempt of a step, fully resolved: what every step has ([`JobCommon`]) and the family's
//! own work ([`Work`]), which each family makes from its action ([`Work::of`]); and the
//! [`Executor`] trait that runs it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::aws::AwsCall;
use super::docker::DockerCall;
use super::http::HttpCall;
use super::kube::KubeCall;
use super::shell::ShellCall;
use super::step::{BoxFuture, Outcome, OutputSink};
use super::values::RunValues;
use crate::runbook::{Action, Run};

/// One attempt of a step.
#[derive(Clone, Debug)]
pub struct Job {
    pub common: JobCommon,
    pub work: Work,
}

/// What every step has, whatever its family.
#[derive(Clone, Debug, Default)]
pub struct JobCommon {
    pub step: String,
    /// Where it runs: the runbook's folder, or its `workdir` under it.
    pub workdir: PathBuf,
    /// The environment of anything it starts (a script, a `verify` command): the run's variables
    /// (secret ones included: the environment is where secrets belong), the step's `env`,
    /// `TOLLGATE_RUN_ID` and `TOLLGATE_STEP`.
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Keep stdout (up to this many bytes) for expectations and captures.
    pub keep_stdout: usize,
    /// Where the processes the step starts are reported, each held until it is recorded.
    pub started: Option<super::procs::StartedTx>,
    /// What the processes it starts inherit, when not tollgate's own environment (a
    /// rehearsal's); set by the [`Router`](super::Router) of the run.
    pub environment: Option<super::environment::SharedEnvironment>,
}

/// The family's own part of a job.
#[derive(Clone, Debug)]
pub enum Work {
    Shell(ShellCall),
    Kube(KubeCall),
    Aws(AwsCall),
    Docker(DockerCall),
    Http(HttpCall),
}

impl Work {
    /// The work of `run`'s action, filled from the run's values.
    pub fn of(run: &Run, values: &dyn RunValues) -> Work {
        match &run.action {
            Action::Shell(script) => Work::Shell(super::shell::work(script, run, values)),
            Action::Kube(a) => Work::Kube(super::kube::work(a, values)),
            Action::Aws(a) => Work::Aws(super::aws::work(a, values)),
            Action::Docker(a) => Work::Docker(super::docker::work(a, run, values)),
            Action::Http(a) => Work::Http(super::http::work(a, values)),
        }
    }

    /// The key of the action (`shell`, `kube.scale`, …).
    pub fn key(&self) -> &'static str {
        match self {
            Work::Shell(_) => "shell",
            Work::Kube(c) => c.action.key(),
            Work::Aws(c) => c.action.key(),
            Work::Docker(c) => c.action.key(),
            Work::Http(c) => c.action.key(),
        }
    }
}

/// Runs one attempt of a step. `cancel` turns true when the operator aborts.
pub trait Executor: Send + Sync {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome>;
}

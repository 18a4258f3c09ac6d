//! Runs `docker.*` steps against one daemon, racing each action against the step's deadline and
//! the abort (dropping the daemon's stream ends a build or push).

use std::time::Duration;

use bollard::Docker;
use tokio::sync::watch;

use super::call::DockerCall;
use super::daemon::connect;
use super::step::{ActionResult, DockerStep};
use super::{image, login};
use crate::exec::job::{Executor, Job, Work};
use crate::exec::step::{BoxFuture, Outcome, OutputSink, StepIo, until_stop};
use crate::runbook::docker::DockerAction;

/// Runs `docker.*` steps against one daemon: `DOCKER_HOST` or the default socket, connected (and
/// the API version negotiated) at the first docker step, so a run without one never needs a
/// daemon.
#[derive(Default)]
pub struct DockerExec {
    docker: tokio::sync::OnceCell<Result<Docker, String>>,
    /// The daemon to reach instead of `DOCKER_HOST`'s (a rehearsal's stand-in).
    host: Option<String>,
}

impl DockerExec {
    /// An executor for a daemon already connected.
    pub fn with(docker: Docker) -> DockerExec {
        DockerExec {
            docker: tokio::sync::OnceCell::new_with(Some(Ok(docker))),
            host: None,
        }
    }

    /// An executor for the daemon at `host` (`unix:///…`), reached at the first docker step.
    pub fn at(host: impl Into<String>) -> DockerExec {
        DockerExec {
            docker: tokio::sync::OnceCell::new(),
            host: Some(host.into()),
        }
    }

    async fn daemon(&self) -> Result<&Docker, String> {
        self.docker
            .get_or_init(|| async {
                match &self.host {
                    Some(h) => super::daemon::connect_to(h).await,
                    None => connect().await,
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl Executor for DockerExec {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Work::Docker(call) = &job.work else {
                return Outcome::failed("not a docker step");
            };
            match self.daemon().await {
                Ok(docker) => {
                    run_docker(
                        docker,
                        call,
                        sink,
                        cancel,
                        job.common.timeout,
                        job.common.keep_stdout,
                    )
                    .await
                }
                Err(e) => Outcome {
                    error: Some(e),
                    ..Outcome::default()
                },
            }
        })
    }
}

/// Runs one `docker.*` action: stops at `timeout` (timed out) or when `cancel` turns true
/// (cancelled); dropping the daemon's stream there ends the build or push.
pub async fn run_docker(
    docker: &Docker,
    call: &DockerCall,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
    timeout: Option<Duration>,
    keep_stdout: usize,
) -> Outcome {
    let mut cx = DockerStep {
        docker,
        call,
        io: StepIo::new(sink, keep_stdout, timeout),
    };
    let deadline = cx.deadline;
    let mut outcome = Outcome::default();
    let result = {
        let action = dispatch(&mut cx);
        tokio::pin!(action);
        match until_stop(&mut action, deadline, &mut cancel, true).await {
            Ok(r) => Some(r),
            Err(stop) => {
                stop.mark(&mut outcome);
                None
            }
        }
    };
    match result {
        Some(Ok(())) => outcome.exit_code = Some(0),
        Some(Err(e)) => outcome.error = Some(e),
        None => {}
    }
    cx.io.finish(&mut outcome);
    outcome
}

async fn dispatch(cx: &mut DockerStep<'_>) -> ActionResult {
    let action = cx.call.action.clone();
    match &action {
        DockerAction::Build(a) => image::build(cx, a).await,
        DockerAction::Tag(a) => image::tag(cx, a).await,
        DockerAction::Push(a) => image::push(cx, a).await,
        DockerAction::Login(a) => login::login(cx, a).await,
    }
}

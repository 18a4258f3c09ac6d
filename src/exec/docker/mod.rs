//! Native Docker steps (`docker.*`), run through bollard against the daemon `DOCKER_HOST` names
//! (the default socket when unset), at the API version both sides speak.
//!
//! As with `kube.*` steps, an action writes its progress as lines (masked like any output), leaves
//! text in stdout for `expect` and `capture` (`image=sha256:…` after a build or a tag,
//! `digest=sha256:…` after a push), and returns what it changed, as JSON values for the journal
//! (`{"change":"built"|"tagged"|"pushed", …}`).

pub mod context;
mod image;
pub mod login;

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use tokio::sync::watch;

use super::{BoxFuture, Executor, Job, Lines, Outcome, OutputSink};
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

/// Connects to the daemon `DOCKER_HOST` names (the default socket when unset) and settles on the
/// API version both sides speak. Only `unix://` sockets are built in (bollard's `pipe` feature):
/// a `tcp://` host is refused with bollard's "unsupported URI scheme".
pub async fn connect() -> Result<Docker, String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
    let docker = Docker::connect_with_defaults()
        .map_err(|e| format!("cannot reach the Docker daemon ({host}): {e}"))?;
    negotiate(docker, &host).await
}

/// Connects to the daemon at `host` (`unix:///path`, `tcp://host:port`), as [`connect`].
pub async fn connect_to(host: &str) -> Result<Docker, String> {
    let docker = Docker::connect_with_host(host)
        .map_err(|e| format!("cannot reach the Docker daemon ({host}): {e}"))?;
    negotiate(docker, host).await
}

async fn negotiate(docker: Docker, host: &str) -> Result<Docker, String> {
    docker.negotiate_version().await.map_err(|e| {
        format!(
            "cannot reach the Docker daemon ({host}): {}",
            describe_error(&e)
        )
    })
}

/// A bollard error in one line: the daemon's message when there is one.
pub fn describe_error(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{} ({status_code})", message.trim()),
        bollard::errors::Error::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

/// Runs `docker.*` steps against one daemon: `DOCKER_HOST` or the default socket, connected (and
/// the API version negotiated) at the first docker step, so a run without one never needs a
/// daemon.
#[derive(Default)]
pub struct DockerExec {
    docker: tokio::sync::OnceCell<Result<Docker, String>>,
}

impl DockerExec {
    /// An executor for a daemon already connected.
    pub fn with(docker: Docker) -> DockerExec {
        DockerExec {
            docker: tokio::sync::OnceCell::new_with(Some(Ok(docker))),
        }
    }

    async fn daemon(&self) -> Result<&Docker, String> {
        self.docker
            .get_or_init(connect)
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
            let Some(call) = &job.docker else {
                return Outcome {
                    error: Some("not a docker step".into()),
                    ..Outcome::default()
                };
            };
            match self.daemon().await {
                Ok(docker) => {
                    run_docker(docker, call, sink, cancel, job.timeout, job.keep_stdout).await
                }
                Err(e) => Outcome {
                    error: Some(e),
                    ..Outcome::default()
                },
            }
        })
    }
}

/// What an action gets: the daemon, the call, and where its output goes.
pub struct Ctx<'a> {
    pub docker: &'a Docker,
    pub call: &'a DockerCall,
    lines: Lines<'a>,
    /// What the action changed, in order.
    pub changes: Vec<serde_json::Value>,
}

impl Ctx<'_> {
    /// Shows a line of progress (not part of stdout).
    pub async fn say(&self, line: impl Into<String>) {
        self.lines.say(line).await;
    }

    /// Writes a line of output: shown, and kept for `expect` and `capture`.
    pub async fn out(&mut self, line: impl Into<String>) {
        self.lines.out(line).await;
    }

    /// Records a change (journaled by the engine when the step ends, whatever its outcome).
    pub fn changed(&mut self, c: serde_json::Value) {
        self.changes.push(c);
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
    let mut cx = Ctx {
        docker,
        call,
        lines: Lines::new(sink, keep_stdout),
        changes: Vec::new(),
    };
    let mut outcome = Outcome::default();
    let result = {
        let action = dispatch(&mut cx);
        tokio::pin!(action);
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = &mut action => break Some(r),
                _ = &mut deadline => {
                    outcome.timed_out = true;
                    break None;
                }
                changed = cancel.changed() => {
                    if changed.is_err() || *cancel.borrow() {
                        outcome.cancelled = true;
                        break None;
                    }
                }
            }
        }
    };
    match result {
        Some(Ok(())) => outcome.exit_code = Some(0),
        Some(Err(e)) => outcome.error = Some(e),
        None => {}
    }
    cx.lines.finish(&mut outcome);
    outcome.changes = std::mem::take(&mut cx.changes);
    outcome
}

/// Why an action failed, in one line.
pub type ActionResult = Result<(), String>;

async fn dispatch(cx: &mut Ctx<'_>) -> ActionResult {
    let action = cx.call.action.clone();
    match &action {
        DockerAction::Build(a) => image::build(cx, a).await,
        DockerAction::Tag(a) => image::tag(cx, a).await,
        DockerAction::Push(a) => image::push(cx, a).await,
        DockerAction::Login(a) => login::login(cx, a).await,
    }
}

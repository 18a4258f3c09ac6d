//! What a step does, behind a small trait. `shell` runs commands; other kinds plug in beside it.

pub mod aws;
pub mod docker;
pub mod kube;
pub mod shell;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::protocol::{Event, Masker};
pub use crate::protocol::{Secret, Stream};

/// One attempt of a step, fully resolved.
#[derive(Clone, Debug)]
pub struct Job {
    pub step: String,
    pub script: String,
    pub interpreter: Vec<String>,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// Keep stdout (up to this many bytes) for expectations and captures.
    pub keep_stdout: usize,
    /// A native Kubernetes step instead of a script.
    pub kube: Option<KubeCall>,
    /// A native AWS step instead of a script.
    pub aws: Option<AwsCall>,
    /// A Docker step instead of a script.
    pub docker: Option<docker::DockerCall>,
}

/// An AWS step (`secrets.*`, `ecr.*`, `aws.identity`), its strings already filled from
/// (non-secret) variables.
#[derive(Clone, Debug)]
pub struct AwsCall {
    pub action: crate::runbook::aws::AwsAction,
    /// The values of the variables the action reads (`from_var`), by name, filled by the engine;
    /// a value typed at the step's masked prompt under [`TYPED`].
    pub secret_values: Vec<(String, Secret)>,
    /// For `secrets.revert`: what the named step changed, as journaled, oldest first.
    pub reverting: Vec<serde_json::Value>,
}

/// The name a value typed at a masked prompt has in [`AwsCall::secret_values`]: no variable can
/// be named like this.
pub const TYPED: &str = "(typed at the prompt)";

/// A `kube.*` step, its strings already filled from variables.
#[derive(Clone, Debug)]
pub struct KubeCall {
    pub action: crate::runbook::kube::KubeAction,
    /// The runbook's `targets.kube.namespace`, the default before the context's.
    pub target_namespace: Option<String>,
    /// For `kube.revert`: what the named step changed, as journaled, oldest first.
    pub reverting: Vec<serde_json::Value>,
    /// When the step started: logs it streams start here.
    pub started: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Could not start, or broke while running.
    pub error: Option<String>,
    pub stdout: String,
    pub stdout_truncated: bool,
    /// What the step changed, journaled for undo (see [`kube::Change`], [`aws::change::Change`]).
    pub changes: Vec<serde_json::Value>,
    /// Secret variables the step sets (`secrets.get`, `ecr.login`): the engine adds each value to the mask
    /// before anything else is shown, and journals only that it was set.
    pub secrets: Vec<(String, Secret)>,
}

/// Where a running step's output goes: masked, in chunks of whole lines, as engine events.
#[derive(Clone)]
pub struct OutputSink {
    pub step: String,
    pub events: mpsc::Sender<Event>,
    pub masker: Masker,
    /// Hold stdout back (the step captures a secret from it): the engine shows it, masked,
    /// once the value is known.
    pub hold_stdout: bool,
}

impl OutputSink {
    pub async fn send(&self, stream: Stream, text: String) {
        if self.hold_stdout && stream == Stream::Stdout {
            return;
        }
        let text = match self.masker.mask(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(masked) => masked,
        };
        // A view that has gone away does not stop the step.
        let _ = self
            .events
            .send(Event::Output {
                step: self.step.clone(),
                stream,
                text,
            })
            .await;
    }
}

/// What a native step (kube, AWS, docker) writes: progress lines, shown only, and output lines,
/// shown and kept (up to `keep` bytes) for `expect` and `capture`.
pub struct Lines<'a> {
    pub sink: &'a OutputSink,
    keep: usize,
    stdout: String,
    truncated: bool,
}

impl<'a> Lines<'a> {
    pub fn new(sink: &'a OutputSink, keep: usize) -> Lines<'a> {
        Lines {
            sink,
            keep,
            stdout: String::new(),
            truncated: false,
        }
    }

    /// Shows a line of progress (not part of stdout).
    pub async fn say(&self, line: impl Into<String>) {
        let mut l = line.into();
        l.push('\n');
        self.sink.send(Stream::Stderr, l).await;
    }

    /// Writes a line of output: shown, and kept for `expect` and `capture`.
    pub async fn out(&mut self, line: impl Into<String>) {
        let mut l = line.into();
        l.push('\n');
        if self.keep > 0 {
            if self.stdout.len() + l.len() <= self.keep {
                self.stdout.push_str(&l);
            } else {
                self.truncated = true;
            }
        }
        self.sink.send(Stream::Stdout, l).await;
    }

    /// Moves what was kept into `o`.
    pub fn finish(&mut self, o: &mut Outcome) {
        o.stdout = std::mem::take(&mut self.stdout);
        o.stdout_truncated = self.truncated;
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs one attempt of a step. `cancel` turns true when the operator aborts.
pub trait Executor: Send + Sync {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome>;
}

/// Sends each step to the executor of its kind: scripts to the shell, `kube.*` actions to the
/// cluster and AWS actions (`secrets.*`, `ecr.*`, `aws.identity`) to AWS (when there is one).
pub struct Router {
    pub shell: Arc<dyn Executor>,
    pub kube: Option<Arc<dyn Executor>>,
    /// Why there is no cluster, when one was wanted and could not be pinned.
    pub kube_error: Option<String>,
    /// AWS steps, against the pinned AWS account.
    pub aws: Option<Arc<dyn Executor>>,
    pub docker: Option<Arc<dyn Executor>>,
}

impl Router {
    pub fn shell_only() -> Router {
        Router {
            shell: Arc::new(shell::Shell),
            kube: None,
            kube_error: None,
            aws: None,
            docker: None,
        }
    }
}

impl Executor for Router {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        if job.docker.is_some() {
            return match &self.docker {
                Some(d) => d.execute(job, sink, cancel),
                None => Box::pin(async move {
                    Outcome {
                        error: Some("a docker step, and no Docker executor is configured".into()),
                        ..Outcome::default()
                    }
                }),
            };
        }
        if let Some(call) = &job.aws {
            return match &self.aws {
                Some(a) => a.execute(job, sink, cancel),
                None => {
                    let error = format!(
                        "`{}` needs an AWS account (`targets.aws`), and none is configured",
                        call.action.key()
                    );
                    Box::pin(async move {
                        Outcome {
                            error: Some(error),
                            ..Outcome::default()
                        }
                    })
                }
            };
        }
        match (&job.kube, &self.kube) {
            (None, _) => self.shell.execute(job, sink, cancel),
            (Some(_), Some(k)) => k.execute(job, sink, cancel),
            (Some(call), None) => {
                let error = match &self.kube_error {
                    Some(e) => format!("`{}` cannot run: {e}", call.action.key()),
                    None => format!(
                        "`{}` needs a Kubernetes cluster, and none is configured",
                        call.action.key()
                    ),
                };
                Box::pin(async move {
                    Outcome {
                        error: Some(error),
                        ..Outcome::default()
                    }
                })
            }
        }
    }
}

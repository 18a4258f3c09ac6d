//! Native Kubernetes steps (`kube.*`), run through kube-rs against the pinned cluster.
//!
//! Every step first re-checks the pin ([`crate::target::PinnedCluster::checked_client`]): a
//! changed context or another cluster blocks it before anything is sent. An action writes its
//! progress as lines (masked like any output), may leave text in stdout for `expect` and `capture`,
//! and returns what it changed ([`Change`]), which the engine journals so `undo` and `kube.revert`
//! can put it back.

pub mod apply;
pub mod change;
pub mod get;
pub mod job;
pub mod jsonpath;
pub mod kubectl;
pub mod rollout;
pub mod scale;
pub mod wait;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;

pub use change::Change;

use super::{BoxFuture, Executor, Job, KubeCall, Lines, Outcome, OutputSink};
use crate::runbook::kube::KubeAction;
use crate::target::PinnedCluster;

/// The label a `kube.job`'s pods carry: the id of the step that ran it (the pods pane and the
/// logs pane find them by it).
pub use crate::protocol::STEP_LABEL;

/// What an action gets: the client, the namespace it acts in, and where its output goes.
pub struct Ctx<'a> {
    pub client: Client,
    /// The step's namespace, else the runbook's, else the context's.
    pub ns: String,
    pub call: &'a KubeCall,
    pub job: &'a Job,
    lines: Lines<'a>,
    /// What the action changed, in order.
    pub changes: Vec<Change>,
    /// When the step's timeout (if any) runs out: long waits stop here and say why.
    pub deadline: Option<tokio::time::Instant>,
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
    pub fn changed(&mut self, c: Change) {
        self.changes.push(c);
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
    }
}

/// Runs `kube.*` steps against the pinned cluster.
pub struct KubeExec {
    pub target: Arc<PinnedCluster>,
}

impl Executor for KubeExec {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(run(self, job, sink, cancel))
    }
}

/// A rough time the actions get past their deadline to say why they stopped.
const GRACE: Duration = Duration::from_secs(3);

async fn run(
    exec: &KubeExec,
    job: &Job,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let Some(call) = &job.kube else {
        return Outcome {
            error: Some("not a kube step".into()),
            ..Outcome::default()
        };
    };
    let (client, pin) = match exec.target.checked_client().await {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                error: Some(e.to_string()),
                ..Outcome::default()
            };
        }
    };
    let ns = call
        .action
        .namespace()
        .map(str::to_string)
        .or_else(|| call.target_namespace.clone())
        .unwrap_or(pin.namespace);
    let deadline = job.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut cx = Ctx {
        client,
        ns,
        call,
        job,
        lines: Lines::new(sink, job.keep_stdout),
        changes: Vec::new(),
        deadline,
    };
    let mut outcome = Outcome::default();
    let result = {
        let action = dispatch(&mut cx, &call.action);
        tokio::pin!(action);
        let hard_stop = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d + GRACE).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(hard_stop);
        loop {
            tokio::select! {
                r = &mut action => break Some(r),
                _ = &mut hard_stop => {
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
        Some(Err(Failure::Timeout(why))) => {
            outcome.timed_out = true;
            if !why.is_empty() {
                cx.say(why).await;
            }
        }
        Some(Err(Failure::Error(e))) => outcome.error = Some(e),
        None => {}
    }
    cx.lines.finish(&mut outcome);
    outcome.changes = cx
        .changes
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .collect();
    outcome
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

async fn dispatch(cx: &mut Ctx<'_>, action: &KubeAction) -> ActionResult {
    match action {
        KubeAction::Apply(a) => apply::apply(cx, a).await,
        KubeAction::RolloutStatus(a) => rollout::status(cx, a).await,
        KubeAction::RolloutUndo(a) => rollout::undo(cx, a).await,
        KubeAction::SetImage(a) => rollout::set_image(cx, a).await,
        KubeAction::Scale(a) => scale::scale(cx, a).await,
        KubeAction::Restart(a) => rollout::restart(cx, a).await,
        KubeAction::Wait(a) => wait::wait(cx, a).await,
        KubeAction::Get(a) => get::get(cx, a).await,
        KubeAction::Job(a) => job::job(cx, a).await,
        KubeAction::Revert(_) => change::revert(cx).await,
    }
}

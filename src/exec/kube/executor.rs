//! Runs `kube.*` steps: re-checks the pin, then races the action against the step's deadline
//! and the abort.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::step::{ActionResult, Failure, KubeStep};
use super::{apply, argo, argocd, batch_job, get, patch, revert, rollout, scale, wait};
use crate::exec::job::{Executor, Job, JobCommon, Work};
use crate::exec::kube::call::KubeCall;
use crate::exec::step::{BoxFuture, Outcome, OutputSink, StepIo, until_stop};
use crate::runbook::kube::KubeAction;
use crate::target::PinnedCluster;

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
        Box::pin(async move {
            match &job.work {
                Work::Kube(call) => run(self, &job.common, call, sink, cancel).await,
                _ => Outcome::failed("not a kube step"),
            }
        })
    }
}

/// A rough time the actions get past their deadline to say why they stopped.
const GRACE: Duration = Duration::from_secs(3);

async fn run(
    exec: &KubeExec,
    job: &JobCommon,
    call: &KubeCall,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let (client, pin) = match exec.target.checked_client().await {
        Ok(c) => c,
        Err(e) => return Outcome::failed(e.to_string()),
    };
    let ns = call
        .action
        .namespace()
        .map(str::to_string)
        .or_else(|| call.target_namespace.clone())
        .unwrap_or(pin.namespace);
    let mut cx = KubeStep {
        client,
        ns,
        call,
        job,
        io: StepIo::new(sink, job.keep_stdout, job.timeout),
    };
    let mut outcome = Outcome::default();
    // Waits stop themselves at the deadline and say what was missing; past it by GRACE, the
    // action is dropped.
    let hard_stop = cx.deadline.map(|d| d + GRACE);
    let result = {
        let action = dispatch(&mut cx, &call.action);
        tokio::pin!(action);
        match until_stop(&mut action, hard_stop, &mut cancel, true).await {
            Ok(r) => Some(r),
            Err(stop) => {
                stop.mark(&mut outcome);
                None
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
    cx.io.finish(&mut outcome);
    outcome
}

async fn dispatch(cx: &mut KubeStep<'_>, action: &KubeAction) -> ActionResult {
    match action {
        KubeAction::Apply(a) => apply::apply(cx, a).await,
        KubeAction::RolloutStatus(a) => rollout::status(cx, a).await,
        KubeAction::RolloutUndo(a) => rollout::undo(cx, a).await,
        KubeAction::SetImage(a) => rollout::set_image(cx, a).await,
        KubeAction::Scale(a) => scale::scale(cx, a).await,
        KubeAction::Restart(a) => rollout::restart(cx, a).await,
        KubeAction::Wait(a) => wait::wait(cx, a).await,
        KubeAction::Get(a) => get::get(cx, a).await,
        KubeAction::Job(a) => batch_job::job(cx, a).await,
        KubeAction::Revert(_) => revert::revert(cx).await,
        KubeAction::Patch(a) => patch::patch(cx, a).await,
        KubeAction::ArgoStatus(a) => argo::status(cx, a).await,
        KubeAction::ArgoPromote(a) => argo::promote(cx, a).await,
        KubeAction::ArgoAbort(a) => argo::set_abort(cx, &a.rollout, true).await,
        KubeAction::ArgoRetry(a) => argo::set_abort(cx, &a.rollout, false).await,
        KubeAction::ArgoUndo(a) => argo::undo(cx, a).await,
        KubeAction::ArgoSetImage(a) => argo::set_image(cx, a).await,
        KubeAction::ArgocdSync(a) => argocd::sync(cx, a).await,
        KubeAction::ArgocdWait(a) => argocd::wait(cx, a).await,
        KubeAction::ArgocdAutoSync(a) => argocd::auto_sync(cx, a).await,
    }
}

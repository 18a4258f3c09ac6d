//! Runs AWS steps: re-checks the pin, then races the action against the step's deadline and the
//! abort (`secrets.rotate` sees an abort itself, to move AWSCURRENT back before it ends).

use std::sync::Arc;

use tokio::sync::watch;

use super::call::AwsCall;
use super::step::AwsStep;
use super::{ecr, revert, secrets};
use crate::exec::job::{Executor, Job, JobCommon, Work};
use crate::exec::step::{BoxFuture, Outcome, OutputSink, StepIo, until_stop};
use crate::runbook::aws::AwsAction;
use crate::target::account::PinnedAccount;
use crate::text::one_line;

/// Runs `secrets.*`, `ecr.*` and `aws.identity` steps against the pinned AWS account.
pub struct AwsExec {
    pub target: Arc<PinnedAccount>,
}

impl Executor for AwsExec {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match &job.work {
                Work::Aws(call) => run(self, &job.common, call, sink, cancel).await,
                _ => Outcome::failed("not an AWS step"),
            }
        })
    }
}

async fn run(
    exec: &AwsExec,
    job: &JobCommon,
    call: &AwsCall,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let io = StepIo::new(sink, job.keep_stdout, job.timeout);
    let deadline = io.deadline;
    let checked = exec.target.checked();
    tokio::pin!(checked);
    let (conf, pin) = match until_stop(&mut checked, deadline, &mut cancel, true).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(e)) => return Outcome::failed(e.to_string()),
        Err(stop) => {
            stop.mark(&mut outcome);
            return outcome;
        }
    };
    let mut cx = AwsStep {
        conf,
        pin,
        call,
        job,
        cancel: cancel.clone(),
        secrets: Vec::new(),
        io,
    };
    // `secrets.rotate` sees aborts and timeouts itself: it stops its `verify` and moves
    // AWSCURRENT back before it ends, so it is given a little longer and not dropped midway.
    let own_stop = matches!(call.action, AwsAction::SecretsRotate(_));
    let hard_stop = match deadline {
        Some(d) if own_stop => Some(d + ROLLBACK_GRACE),
        other => other,
    };
    let result = {
        let action = dispatch(&mut cx, &call.action);
        tokio::pin!(action);
        match until_stop(&mut action, hard_stop, &mut cancel, !own_stop).await {
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
    if own_stop && *cancel.borrow() {
        outcome.cancelled = true;
    }
    cx.io.finish(&mut outcome);
    // A value read by a step that did not finish is not kept.
    if outcome.exit_code == Some(0) {
        outcome.secrets = std::mem::take(&mut cx.secrets);
    }
    outcome
}

/// How long `secrets.rotate` gets past the step's timeout to move AWSCURRENT back.
const ROLLBACK_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn dispatch(cx: &mut AwsStep<'_>, action: &AwsAction) -> Result<(), String> {
    match action {
        AwsAction::SecretsRequire(a) => secrets::require(cx, a).await,
        AwsAction::SecretsPut(a) => secrets::put(cx, a).await,
        AwsAction::SecretsGet(a) => secrets::get(cx, a).await,
        AwsAction::SecretsRotate(a) => secrets::rotate(cx, a).await,
        AwsAction::SecretsRevert(a) => revert::revert(cx, a).await,
        AwsAction::EcrLogin(a) => ecr::login(cx, a).await,
        AwsAction::EcrEnsureRepository(a) => ecr::ensure_repository(cx, a).await,
        AwsAction::EcrDescribeImages(a) => ecr::describe_images(cx, a).await,
        AwsAction::Identity(_) => identity(cx).await,
    }
}

/// `aws.identity`: who the credentials are, in the account and region the pin check accepted.
async fn identity(cx: &mut AwsStep<'_>) -> Result<(), String> {
    let who = aws_sdk_sts::Client::new(&cx.conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "asking STS who the credentials are: {}",
                one_line(&aws_sdk_sts::error::DisplayErrorContext(&e).to_string())
            )
        })?;
    let account = who.account().unwrap_or(cx.pin.account.as_str()).to_string();
    let arn = who.arn().unwrap_or("unknown").to_string();
    let region = cx.pin.region.clone();
    cx.out(format!("account={account} arn={arn} region={region}"))
        .await;
    Ok(())
}

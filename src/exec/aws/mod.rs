//! Native AWS steps (`secrets.*`, `ecr.*`, `aws.identity`), run through the AWS SDK against the
//! pinned account.
//!
//! Every step first re-checks the pin ([`crate::target::PinnedAccount::checked`]): other
//! credentials or another region block it before anything is sent. An action writes its progress
//! as lines (masked like any output) that say what happened, never a value; secret values it reads
//! go back to the engine as secret variables ([`Outcome::secrets`]).

pub mod change;
pub mod ecr;
pub mod secrets;

use std::sync::Arc;

use tokio::sync::watch;

use super::{AwsCall, BoxFuture, Executor, Job, Lines, Outcome, OutputSink, Secret};
use crate::runbook::aws::AwsAction;
use crate::target::aws::{AccountPin, PinnedAccount, one_line};

/// What an action gets: the SDK configuration, the call, and where its output goes.
pub struct Ctx<'a> {
    pub conf: aws_config::SdkConfig,
    /// The account and region the step was checked against.
    pub pin: AccountPin,
    pub call: &'a AwsCall,
    pub job: &'a Job,
    pub lines: Lines<'a>,
    pub cancel: watch::Receiver<bool>,
    /// What the action changed (journaled, with version ids, never values).
    pub changes: Vec<serde_json::Value>,
    /// Secret variables to set.
    pub secrets: Vec<(String, Secret)>,
    /// When the step's timeout (if any) runs out.
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

    /// Records a change, to be journaled.
    pub fn changed(&mut self, c: change::Change) {
        self.changes.push(c.to_value());
    }

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
        Box::pin(run(self, job, sink, cancel))
    }
}

async fn run(
    exec: &AwsExec,
    job: &Job,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let Some(call) = &job.aws else {
        return Outcome {
            error: Some("not an AWS step".into()),
            ..Outcome::default()
        };
    };
    let mut outcome = Outcome::default();
    let deadline = job.timeout.map(|t| tokio::time::Instant::now() + t);
    let hard_stop = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(hard_stop);
    let conf = {
        let checked = exec.target.checked();
        tokio::pin!(checked);
        loop {
            tokio::select! {
                r = &mut checked => break r,
                _ = &mut hard_stop => {
                    outcome.timed_out = true;
                    return outcome;
                }
                changed = cancel.changed() => {
                    if changed.is_err() || *cancel.borrow() {
                        outcome.cancelled = true;
                        return outcome;
                    }
                }
            }
        }
    };
    let (conf, pin) = match conf {
        Ok(checked) => checked,
        Err(e) => {
            outcome.error = Some(e.to_string());
            return outcome;
        }
    };
    let mut cx = Ctx {
        conf,
        pin,
        call,
        job,
        lines: Lines::new(sink, job.keep_stdout),
        cancel: cancel.clone(),
        changes: Vec::new(),
        secrets: Vec::new(),
        deadline,
    };
    // `secrets.rotate` sees aborts and timeouts itself: it stops its `verify` and moves
    // AWSCURRENT back before it ends, so it is given a little longer and not dropped midway.
    let own_stop = matches!(call.action, AwsAction::SecretsRotate(_));
    let hard_stop = async {
        match deadline {
            Some(d) if own_stop => tokio::time::sleep_until(d + ROLLBACK_GRACE).await,
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(hard_stop);
    let result = {
        let action = dispatch(&mut cx, &call.action);
        tokio::pin!(action);
        loop {
            tokio::select! {
                r = &mut action => break Some(r),
                _ = &mut hard_stop => {
                    outcome.timed_out = true;
                    break None;
                }
                changed = cancel.changed(), if !own_stop => {
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
    if own_stop && *cancel.borrow() {
        outcome.cancelled = true;
    }
    cx.lines.finish(&mut outcome);
    outcome.changes = std::mem::take(&mut cx.changes);
    // A value read by a step that did not finish is not kept.
    if outcome.exit_code == Some(0) {
        outcome.secrets = std::mem::take(&mut cx.secrets);
    }
    outcome
}

/// How long `secrets.rotate` gets past the step's timeout to move AWSCURRENT back.
const ROLLBACK_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn dispatch(cx: &mut Ctx<'_>, action: &AwsAction) -> Result<(), String> {
    match action {
        AwsAction::SecretsRequire(a) => secrets::require(cx, a).await,
        AwsAction::SecretsPut(a) => secrets::put(cx, a).await,
        AwsAction::SecretsGet(a) => secrets::get(cx, a).await,
        AwsAction::SecretsRotate(a) => secrets::rotate(cx, a).await,
        AwsAction::SecretsRevert(a) => change::revert(cx, a).await,
        AwsAction::EcrLogin(a) => ecr::login(cx, a).await,
        AwsAction::EcrEnsureRepository(a) => ecr::ensure_repository(cx, a).await,
        AwsAction::EcrDescribeImages(a) => ecr::describe_images(cx, a).await,
        AwsAction::Identity(_) => identity(cx).await,
    }
}

/// `aws.identity`: who the credentials are, in the account and region the pin check accepted.
async fn identity(cx: &mut Ctx<'_>) -> Result<(), String> {
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

//! `runbooks/labelmint/rollback-application.yaml` rehearsed from LabelMint's steady state: one
//! deployment redeployed at an earlier tag, the rollback refused at its gate, a crash-looping
//! previous release undone by the failure path, and the revert-run method (its revert of another
//! run's journal stood in for: a rehearsal has no other run, unless it follows the failed deploy
//! in the same sandbox and state folder).

use super::{DEADLINE, assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/labelmint/rollback-application.yaml";

#[test]
fn labelmint_web_is_redeployed_at_its_previous_tag() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-happy.yaml",
        &[],
    );
    assert_says(&r, "labelmint-web:4f1c2ab");
    // The health checks ran for real through the sandbox's Service traffic.
    for step in ["web-health", "api-health"] {
        assert!(
            r.stdout
                .contains(&format!("{step} ! 100 requests, errors 0.0 %")),
            "{step}:\n{}",
            r.printed()
        );
    }
}

#[test]
fn a_rejected_rollback_changes_nothing() {
    rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-rejected.yaml",
        &[],
    );
}

#[test]
fn a_previous_release_that_crash_loops_is_undone_by_the_failure_path() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-crashloop.yaml",
        &["--inject", "crashloop=labelmint-web@set-previous-image-web"],
    );
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-rollout failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(failure.contains("CrashLoopBackOff"), "{failure}");
    // The set-image is put back from the journal: labelmint-web runs what it ran before.
    assert_says(
        &r,
        "labelmint-web:4f1c2ab → 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:9382583",
    );
}

#[test]
fn revert_run_puts_every_deployment_back_and_checks_the_health() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-revert-run.yaml",
        &[],
    );
    assert_says(
        &r,
        "will put back what run 20261206-070530-edc5 changed: step apply-manifests",
    );
    for step in ["web-health", "api-health"] {
        assert!(
            r.stdout
                .contains(&format!("{step} ! 100 requests, errors 0.0 %")),
            "{step}:\n{}",
            r.printed()
        );
    }
}

/// The first deploy's last health check fails, and `--follow-failure-runbook` follows its
/// `on_failure: {runbook: rollback-application}` in the same sandbox: `deploy_run` (default
/// `{{ from_run }}`) is the failed deploy, so revert-run puts back what that very run applied.
#[test]
fn a_failed_first_deploy_followed_into_revert_run_reverts_that_run() {
    let happy = std::fs::read_to_string(
        crate::common::rehearse::root()
            .join("runbooks/labelmint/rehearsals/first-deploy-happy.yaml"),
    )
    .unwrap();
    let gates = &happy[..happy.find("\nexpect:").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    let decisions = tmp.path().join("follow.yaml");
    std::fs::write(
        &decisions,
        format!(
            "{gates}
expect:
  outcome: failed
  ran: [apply-manifests, wait-for-rollouts]
  failed: [final-web-health]
follow:
  vars: {{ deployment: all, method: revert-run }}
  gates:
    assess: approve
    roll-back: approve
  expect:
    ran: [check-deploy-run, revert-followed-manifests]
    skipped: [revert-deploy-manifests]
"
        )
        .replace("runbook: ../first-deploy.yaml", ""),
    )
    .unwrap();
    let r = crate::common::rehearse::rehearse(
        "runbooks/labelmint/first-deploy.yaml",
        decisions.to_str().unwrap(),
        &[
            "--follow-failure-runbook",
            "--inject",
            "step=final-web-health:fail:the error rate is 40 %",
        ],
        DEADLINE,
    );
    let runs = tollgate::engine::journal::list_runs(&r.state());
    assert_eq!(runs.len(), 2, "{}", r.printed());
    let failed = runs
        .iter()
        .find(|(_, x)| x.as_ref().is_ok_and(|x| x.from_run.is_none()))
        .map(|(id, _)| id.clone())
        .unwrap();
    assert_says(
        &r,
        &format!("will put back what run {failed} changed: step apply-manifests"),
    );
    // In the same sandbox, for real (no rehearsal stand-in): what the first deploy created is
    // deleted again.
    assert_says(
        &r,
        "revert-followed-manifests | deployment/labelmint-web deleted (the step had created it)",
    );
    assert_eq!(
        r.stdout.matches(": as expected").count(),
        2,
        "{}",
        r.printed()
    );
}

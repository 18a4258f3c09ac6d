//! `runbooks/labelmint/rollback-application.yaml` rehearsed from LabelMint's steady state: one
//! deployment redeployed at an earlier tag, the rollback refused at its gate, a crash-looping
//! previous release undone by the failure path, and the revert-run method (its revert of another
//! run's journal stood in for: a rehearsal has no other run).

use super::{assert_says, rehearsed};

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

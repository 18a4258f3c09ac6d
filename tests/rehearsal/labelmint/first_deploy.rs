//! `runbooks/labelmint/first-deploy.yaml` rehearsed end to end: the happy path on the runbook's
//! node group, the web pods crash-looping into the application rollback, and the design's sizing
//! (two t3.small) stopping at the rollout with the scheduler's reason.

use super::{
    DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held,
    assert_journal_says_rehearsal,
};
use crate::common::rehearse::rehearse;

const RUNBOOK: &str = "runbooks/labelmint/first-deploy.yaml";

#[test]
fn the_first_deploy_rehearses_to_the_end_on_the_runbooks_node_group() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/first-deploy-happy.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert_journal_says_rehearsal(&r);
    // Every deployment of the overlay rolled out, on the node group the terraform stand-in added.
    for d in [
        "labelmint-web",
        "api-gateway",
        "labeling-backend",
        "payment-backend",
        "client-bot",
        "worker-bot",
    ] {
        assert!(
            r.stdout
                .contains(&format!("deployment \"{d}\" successfully rolled out")),
            "{d}:\n{}",
            r.printed()
        );
    }
    assert!(!r.stdout.contains("Insufficient memory"), "{}", r.printed());
}

#[test]
fn a_crash_looping_web_takes_the_first_deploy_into_its_application_rollback() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/first-deploy-rollback.yaml",
        &["--inject", "crashloop=labelmint-web@apply-manifests"],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout.contains(
            "rehearsal: apply-manifests: injected: the new pods of deployment labelmint-web crash-loop"
        ),
        "{}",
        r.printed()
    );
    assert!(r.stdout.contains("CrashLoopBackOff"), "{}", r.printed());
    // kubectl (the real one, against the sandbox) finds nothing to undo on a first deploy, and
    // the rollback scales every deployment to 0.
    assert!(
        r.stdout
            .contains("no rollout history found for deployment \"labelmint-web\""),
        "{}",
        r.printed()
    );
    assert!(
        r.stdout.contains("step scale-to-zero succeeded"),
        "{}",
        r.printed()
    );
}

#[test]
fn the_designs_two_t3_small_stop_the_rollout_for_memory() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/design-sizing.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-for-rollouts failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(
        failure.contains("payment-backend") && failure.contains("2 Insufficient memory"),
        "the rollout failure names the scheduler's reason: {failure}"
    );
}

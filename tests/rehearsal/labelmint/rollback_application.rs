//! `runbooks/labelmint/rollback-application.yaml` rehearsed from LabelMint's steady state: one
//! deployment redeployed at an earlier tag, and the rollback refused at its gate.

use super::{DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held};
use crate::common::rehearse::rehearse;

const RUNBOOK: &str = "runbooks/labelmint/rollback-application.yaml";

#[test]
fn labelmint_web_is_redeployed_at_its_previous_tag() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-happy.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout.contains("labelmint-web:4f1c2ab"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_rejected_rollback_changes_nothing() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-rejected.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
}

#[test]
fn a_previous_release_that_crash_loops_stops_the_rollback_at_its_verify() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-application-crashloop.yaml",
        &["--inject", "crashloop=labelmint-web@set-previous-image-web"],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-rollout failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(failure.contains("CrashLoopBackOff"), "{failure}");
}

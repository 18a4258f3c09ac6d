//! `runbooks/labelmint/rollback-application.yaml` rehearsed from LabelMint's steady state: one
//! deployment redeployed at an earlier tag, and the rollback refused at its gate.

use crate::common::rehearse::rehearse;
use super::{DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held};

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

//! `runbooks/zerostate/rollback.yaml` rehearsed on ZeroState's cluster with the previous
//! release's ReplicaSet: the rollout undone, the undo followed by a restore of a chosen backup
//! (its download and pg_restore stand-ins, the API really stopped and started), a restore that
//! fails and brings the API back, and the rollback refused at its gate.

use super::{DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held};
use crate::common::rehearse::rehearse;

const RUNBOOK: &str = "runbooks/zerostate/rollback.yaml";

#[test]
fn the_previous_release_comes_back_with_rollout_undo() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-happy.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout
            .contains("deployment/zerostate-api rolled back: revision 2 → revision 1"),
        "{}",
        r.printed()
    );
    assert!(
        r.stdout
            .contains("zerostate-api:v0.9.0 — zerostate-api v0.9.0"),
        "{}",
        r.printed()
    );
    assert!(!r.stdout.contains("step pg-restore"), "{}", r.printed());
}

#[test]
fn a_chosen_backup_is_restored_with_the_api_stopped() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-restore.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout.contains("deployment/zerostate-api scaled 3 → 0"),
        "{}",
        r.printed()
    );
    assert!(
        r.stdout
            .contains("pg_restore: restored zerostate_20250108_030000.backup into zerostate"),
        "{}",
        r.printed()
    );
    assert!(
        r.stdout.contains("deployment/zerostate-api scaled 0 → 3"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_failed_restore_starts_the_api_again() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-restore-fails.yaml",
        &["--inject", "step=pg-restore:fail"],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout.contains("step stop-api.undo succeeded"),
        "{}",
        r.printed()
    );
    assert!(
        r.stdout.contains("deployment/zerostate-api scaled 0 → 3"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_rejected_rollback_changes_nothing() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-rejected.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        !r.stdout.contains("rolled back: revision"),
        "{}",
        r.printed()
    );
}

#[test]
fn plan_rehearse_lists_the_rollbacks_stand_ins() {
    // The revert of a deploy run is replaced by an undo; the S3 download, pg_restore --list and
    // pg_restore by stand-ins under $TMPDIR; pg_isready is skipped.
    assert_eq!(
        crate::labelmint::plan::plan("runbooks/zerostate/rollback.yaml"),
        (14, 4, 1)
    );
}

//! `runbooks/zerostate/rollback.yaml` rehearsed on ZeroState's cluster with the previous
//! release's ReplicaSet: the rollout undone, the undo followed by a restore of a chosen backup
//! (its download and pg_restore stand-ins, the API really stopped and started), a restore that
//! fails and brings the API back, and the rollback refused at its gate.

use super::{assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/zerostate/rollback.yaml";

#[test]
fn the_previous_release_comes_back_with_rollout_undo() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-happy.yaml",
        &[],
    );
    assert_says(
        &r,
        "deployment/zerostate-api rolled back: revision 2 → revision 1",
    );
    assert_says(&r, "zerostate-api:v0.9.0 — zerostate-api v0.9.0");
    assert!(!r.stdout.contains("step pg-restore"), "{}", r.printed());
}

#[test]
fn a_chosen_backup_is_restored_with_the_api_stopped() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-restore.yaml",
        &[],
    );
    assert_says(&r, "deployment/zerostate-api scaled 3 → 0");
    assert_says(
        &r,
        "pg_restore: restored zerostate_20250108_030000.backup into zerostate",
    );
    assert_says(&r, "deployment/zerostate-api scaled 0 → 3");
}

#[test]
fn a_failed_restore_starts_the_api_again() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-restore-fails.yaml",
        &["--inject", "step=pg-restore:fail"],
    );
    assert_says(&r, "step stop-api.undo succeeded");
    assert_says(&r, "deployment/zerostate-api scaled 0 → 3");
}

#[test]
fn a_rejected_rollback_changes_nothing() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/rollback-rejected.yaml",
        &[],
    );
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

//! `runbooks/zerostate/backup-restore-drill.yaml` rehearsed: the whole drill (dump, upload, the S3
//! copy restored into a scratch database, balance sums, RPO and RTO), and three ways into its
//! failure path (drop what the run created, report): the restore failing, the balance sums not
//! matching, and the production database given as the restore target.

use super::{assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/zerostate/backup-restore-drill.yaml";

#[test]
fn the_drill_restores_the_s3_copy_checks_the_balances_and_holds_the_rto_and_rpo() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/backup-restore-drill-happy.yaml",
        &[],
    );
    for line in [
        "rpo-continuous-backups | RPO held by continuous backups",
        "backup-age | RPO held by the dump",
        "sums-match | sums match",
        "rto-check | RTO held",
        "drop-scratch-db | dropped zerostate_restore_drill",
    ] {
        assert!(r.stdout.contains(line), "{line}:\n{}", r.printed());
    }
    // The pg_isready Job ran in the sandbox's zerostate namespace.
    assert_says(&r, "job/drill-pg-isready-");
}

#[test]
fn a_failed_restore_drops_the_scratch_database_the_drill_created() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/backup-restore-drill-restore-fails.yaml",
        &["--inject", "step=pg-restore:fail"],
    );
    assert!(
        r.stdout.contains(
            "failed-report | scratch:   zerostate_restore_drill created by this run, dropped"
        ),
        "{}",
        r.printed()
    );
}

#[test]
fn balance_sums_that_do_not_match_fail_the_drill_before_its_rto_check() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/backup-restore-drill-sums-differ.yaml",
        &["--inject", "step=sums-match:fail"],
    );
    assert!(!r.stdout.contains(">> step rto-check"), "{}", r.printed());
    assert_says(&r, "failed-report | balances:  1250000.00|1250000.00");
}

#[test]
fn the_production_database_is_refused_as_the_restore_target() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/backup-restore-drill-production-target.yaml",
        &[],
    );
    assert_says(
        &r,
        "refused: your-db.rds.amazonaws.com/zerostate is the production database",
    );
    // Nothing was dumped, restored or dropped.
    for step in ["pg-dump", "pg-restore", "failed-drop-scratch-db"] {
        assert!(
            !r.stdout.contains(&format!(">> step {step}:")),
            "{step}:\n{}",
            r.printed()
        );
    }
}

#[test]
fn plan_rehearse_lists_every_step_of_the_drill_and_its_coverage() {
    // S3, RDS and the database have no stand-in: the dump, upload, createdb, pg_restore, dropdb
    // and the read-only queries later steps read are replaced; nothing is skipped.
    assert_eq!(
        crate::labelmint::plan::plan("runbooks/zerostate/backup-restore-drill.yaml"),
        (13, 11, 0)
    );
}

//! `runbooks/labelmint/rollback-database.yaml` rehearsed from LabelMint's steady state: the
//! migrations rolled back by a Job, the pre-migration snapshot restored and database-url
//! repointed, each failing into the way back, and the `plan --rehearse` coverage.

use super::{assert_journal_says_rehearsal, assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/labelmint/rollback-database.yaml";

#[test]
fn the_migrations_are_rolled_back_by_a_job_with_the_writers_stopped() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-database-migration.yaml",
        &[],
    );
    assert_journal_says_rehearsal(&r);
    assert!(
        r.stdout.contains("job/migration-rollback-")
            && r.stdout.contains("labelmint-backend:4f1c2ab"),
        "{}",
        r.printed()
    );
    for d in ["api-gateway", "labeling-backend", "payment-backend"] {
        assert!(
            r.stdout.contains(&format!("deployment/{d} scaled 2 → 0")),
            "{d}:\n{}",
            r.printed()
        );
        assert!(
            r.stdout.contains(&format!("deployment/{d} scaled 0 → 2")),
            "{d}:\n{}",
            r.printed()
        );
    }
}

#[test]
fn a_failed_migration_rollback_starts_the_writers_again() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-database-migration-fails.yaml",
        &["--inject", "step=migrate-rollback:fail"],
    );
    assert_says(&r, "deployment/payment-backend scaled 0 → 2");
}

#[test]
fn the_snapshot_is_restored_and_database_url_points_at_it() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-database-snapshot.yaml",
        &[],
    );
    // The endpoint the RDS stand-in printed, captured; the new URL put in the AWS stand-in; the
    // ExternalSecret's force-sync annotation patched in the sandbox.
    assert!(
        r.stdout.contains(
            "captured restored_endpoint = labelmint-production-restored.rehearsal.invalid"
        ),
        "{}",
        r.printed()
    );
    assert_says(&r, "put labelmint/production/database-url (version");
    assert_says(
        &r,
        "externalsecret.external-secrets.io/app-secrets patched (metadata.annotations.force-sync",
    );
    assert!(
        r.stdout.contains(
            "database-url points at labelmint-production-restored.rehearsal.invalid:5432"
        ),
        "{}",
        r.printed()
    );
    // The URL holds a password: never printed.
    assert!(
        !r.stdout.contains("rehearsal-made-up-password"),
        "{}",
        r.printed()
    );
}

#[test]
fn writers_that_fail_on_the_restored_instance_get_the_previous_database_url_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rollback-database-snapshot-fails.yaml",
        &["--inject", "step=writers-ready:fail"],
    );
    assert_says(
        &r,
        "labelmint/production/database-url: AWSCURRENT is back on",
    );
    for d in ["api-gateway", "labeling-backend", "payment-backend"] {
        assert!(
            r.stdout.contains(&format!("deployment/{d} restarted")),
            "{d}:\n{}",
            r.printed()
        );
    }
}

#[test]
fn plan_rehearse_covers_the_database_rollback() {
    // Replaced: the snapshot before the migration down, the RDS restore and the wait for its
    // endpoint. Skipped, reading only: the RDS instance and snapshot reads. The two waits for
    // External Secrets' refresh run (the rehearsal's External Secrets).
    assert_eq!(super::plan::plan(RUNBOOK), (36, 3, 2));
}

//! `runbooks/mint-replica-lite/rollback.yaml` rehearsed on the production cluster fixture: a
//! finished release answering 10 % errors undone and promoted past the canary steps, with the
//! seed's db-rollback Job; a running canary aborted and its template put back; the rollback
//! refused at its gate; a db-rollback Job that fails after the application was rolled back.

use super::{assert_says, rehearsed};
use crate::labelmint::lines_of;

const RUNBOOK: &str = "runbooks/mint-replica-lite/rollback.yaml";

#[test]
fn a_finished_release_is_undone_past_the_canary_steps_and_the_database_rolled_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/rollback-happy.yaml",
        &[],
    );
    // Before: every pod on the release, the users see its 10 % errors.
    assert!(
        lines_of(&r.stdout, "users-now")
            .iter()
            .any(|l| l.contains("400 requests, errors 9.8 %") && l.contains(" × 500")),
        "{}",
        r.printed()
    );
    assert_says(&r, "rollout 'backend-api' undo (to revision 1)");
    assert_says(&r, "rollout 'backend-api' fully promoted");
    assert!(
        lines_of(&r.stdout, "rollout-healthy")
            .iter()
            .any(|l| l.contains("step 5/5 · weight 100 % · stable 3/3 ready · Healthy")),
        "{}",
        r.printed()
    );
    assert_says(&r, "job db-rollback-1.5.0-errors-10 complete");
    let pods = lines_of(&r.stdout, "none-on-release");
    assert_eq!(pods.len(), 3, "{}", r.printed());
    assert!(
        pods.iter()
            .all(|l| l.ends_with("/mint-replica-backend:1.4.2")),
        "{}",
        r.printed()
    );
    assert!(
        lines_of(&r.stdout, "users-after")
            .iter()
            .any(|l| l.contains("400 requests, errors 0.0 %")),
        "{}",
        r.printed()
    );
}

#[test]
fn a_running_canary_is_aborted_and_the_stable_template_put_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/rollback-abort.yaml",
        &[],
    );
    assert_says(&r, "phase=Paused step=1 canary-weight=20");
    // One canary pod of four answers 10 % errors: the users see 2.5 %.
    assert!(
        lines_of(&r.stdout, "users-now")
            .iter()
            .any(|l| l.contains("400 requests, errors 2.5 %") && l.contains("390 × 200, 10 × 500")),
        "{}",
        r.printed()
    );
    assert_says(&r, "rollout 'backend-api' aborted");
    assert!(
        lines_of(&r.stdout, "rollout-healthy")
            .iter()
            .any(|l| l.contains("stable 3/3 ready · Healthy")),
        "{}",
        r.printed()
    );
    assert!(
        !r.stdout.contains("step create-db-rollback-job"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_rejected_rollback_changes_nothing() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/rollback-rejected.yaml",
        &[],
    );
    assert_says(&r, "gate roll-back: reject");
    assert!(!r.stdout.contains("step undo-release"), "{}", r.printed());
    assert!(
        !r.stdout.contains("job.batch/db-rollback"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_failed_db_rollback_stops_the_run_with_the_application_already_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/rollback-db-rollback-fails.yaml",
        &["--inject", "step=wait-db-rollback:fail"],
    );
    assert!(
        lines_of(&r.stdout, "rollout-healthy")
            .iter()
            .any(|l| l.contains("stable 3/3 ready · Healthy")),
        "{}",
        r.printed()
    );
    assert_says(&r, "job.batch/db-rollback-1.5.0-errors-10 created");
    assert_says(&r, "!! step wait-db-rollback failed");
    assert!(!r.stdout.contains("step still-healthy"), "{}", r.printed());
}

#[test]
fn plan_rehearse_lists_the_rollbacks_stand_ins() {
    // The set-up of show-state stands in; the db-rollback Job is made from its CronJob for real.
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (15, 1, 0));
}

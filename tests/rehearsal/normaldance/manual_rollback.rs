//! `runbooks/normaldance/manual-rollback.yaml` rehearsed from a bad API release: the deploy
//! repository's v1.9.0 (every api-server pod answering 500 to 10 % of its requests) on top of the
//! stable v1.8.2, deployed by Argo CD. The revert pushed and synced, api-server's previous version
//! (met as a canary at 5 %) promoted past its steps, the rollback validated; a sync that fails
//! (git put back to what the cluster runs), and a validation that fails (the rollback stays).

use super::{assert_says, line_with, printed_value, rehearsed};

const RUNBOOK: &str = "runbooks/normaldance/manual-rollback.yaml";

#[test]
fn the_bad_release_is_reverted_in_git_synced_and_validated() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/manual-rollback-happy.yaml",
        &[],
    );
    // Before: the bad release's 500s reach the users.
    line_with(&r, &[" REHEARSAL users-now | ", "\"500\":"]);
    assert_says(&r, "api-server then: v1.8.2");
    line_with(&r, &[" REHEARSAL git-revert | ", "Revert \"v1.9.0\""]);
    let revision = printed_value(&r, "git-revert", "revision");
    assert_eq!(revision.len(), 40, "{revision}");
    assert_says(
        &r,
        &format!("application/normaldance-production synced to {revision}"),
    );
    // The previous version comes back as a new canary update, paused at 5 %: promoted past it.
    assert_says(&r, "rollouts-after-sync | api-server=Paused");
    assert_says(&r, "rollouts-after-sync | web-app=Healthy");
    assert_says(&r, "rollout 'api-server' fully promoted");
    assert_says(&r, "step web-app-switch skipped");
    line_with(
        &r,
        &[
            " REHEARSAL api-server-back | ",
            "rollout/api-server: step 6/6 · weight 100 % · stable 3/3 ready · Healthy",
        ],
    );
    assert_says(
        &r,
        &format!(
            "application/normaldance-production: sync Synced · health Healthy · revision {}",
            &revision[..7]
        ),
    );
    line_with(
        &r,
        &[" REHEARSAL validate-api ! ", "400 requests, errors 0.0 %"],
    );
    assert_says(&r, &format!("deployed-revision | Synced {revision}"));
}

#[test]
fn a_failed_sync_puts_git_back_to_what_the_cluster_runs() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/manual-rollback-sync-fails.yaml",
        &["--inject", "step=sync-previous:fail"],
    );
    assert_says(&r, "step sync-previous failed");
    let back = printed_value(&r, "git-undo-revert", "revision");
    assert_eq!(back.len(), 40, "{back}\n{}", r.printed());
    assert_says(
        &r,
        &format!("application/normaldance-production synced to {back}"),
    );
    line_with(
        &r,
        &[
            " REHEARSAL api-server-as-before | ",
            "rollout/api-server: step 6/6 · weight 100 % · stable 3/3 ready · Healthy",
        ],
    );
    assert!(!r.stdout.contains("fully promoted"), "{}", r.printed());
}

#[test]
fn a_failed_validation_keeps_the_rollback_and_collects_the_state() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/manual-rollback-validation-fails.yaml",
        &["--inject", "step=validate-api:fail"],
    );
    assert_says(&r, "rollout 'api-server' fully promoted");
    assert_says(&r, "step validate-api failed");
    line_with(
        &r,
        &[" REHEARSAL users-still ! ", "400 requests, errors 0.0 %"],
    );
    assert!(!r.stdout.contains("git-undo-revert"), "{}", r.printed());
}

#[test]
fn plan_rehearse_runs_every_step_of_the_rollback_against_the_stand_ins() {
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (24, 0, 0));
}

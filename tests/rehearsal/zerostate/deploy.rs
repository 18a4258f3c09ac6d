//! `runbooks/zerostate/deploy.yaml` rehearsed on ZeroState's running cluster: a release built,
//! pushed, migrated and rolled out to its digest, healthy through api.zerostate.io; and a release
//! that crash-loops, undone by the deploy's failure path; a migration that fails, before anything
//! is rolled out.

use super::{assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/zerostate/deploy.yaml";

#[test]
fn a_release_is_built_pushed_migrated_and_rolled_out_to_its_digest() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-happy.yaml",
        &[],
    );
    // The Deployment runs the image the push captured, by its digest.
    let digest = r
        .stdout
        .lines()
        .find_map(|l| l.split("docker-push | digest=").nth(1))
        .map(|d| d.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no digest pushed:\n{}", r.printed()));
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(
        r.stdout.contains(&format!("zerostate-api:v1.1.0@{digest}")),
        "{}",
        r.printed()
    );
    assert_says(&r, "deployment \"zerostate-api\" successfully rolled out");
    // /health and /ready through the API's public host, every answer 200.
    assert_eq!(r.stdout.matches("20 × 200").count(), 2, "{}", r.printed());
}

#[test]
fn a_crash_looping_release_is_undone_by_the_deploys_failure_path() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-crashloop.yaml",
        &["--inject", "crashloop=zerostate-api@set-image"],
    );
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-rollout failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(failure.contains("ProgressDeadlineExceeded"), "{failure}");
    assert_says(&r, "CrashLoopBackOff");
    assert_says(
        &r,
        "deployment/zerostate-api rolled back: revision 2 → revision 1",
    );
}

#[test]
fn a_failed_migration_leaves_the_running_release_alone() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-migration-fails.yaml",
        &["--inject", "step=migrate-up:fail"],
    );
    assert_says(&r, "!! step migrate-up failed");
    assert!(!r.stdout.contains("step set-image"), "{}", r.printed());
}

#[test]
fn plan_rehearse_runs_every_step_of_the_deploy_against_the_stand_ins() {
    // Build, push, migration Jobs, manifests, rollout and HTTP checks all reach a stand-in.
    assert_eq!(
        crate::labelmint::plan::plan("runbooks/zerostate/deploy.yaml"),
        (26, 0, 0)
    );
}

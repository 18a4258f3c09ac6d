//! `runbooks/zerostate/deploy.yaml` rehearsed on ZeroState's running cluster: a release built,
//! pushed, migrated and rolled out to its digest, healthy through api.zerostate.io; and a release
//! that crash-loops, undone by the deploy's failure path; a migration that fails, before anything
//! is rolled out.

use super::{DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held};
use crate::common::rehearse::rehearse;

const RUNBOOK: &str = "runbooks/zerostate/deploy.yaml";

#[test]
fn a_release_is_built_pushed_migrated_and_rolled_out_to_its_digest() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-happy.yaml",
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
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
    assert!(
        r.stdout
            .contains("deployment \"zerostate-api\" successfully rolled out"),
        "{}",
        r.printed()
    );
    // /health and /ready through the API's public host, every answer 200.
    assert_eq!(r.stdout.matches("20 × 200").count(), 2, "{}", r.printed());
}

#[test]
fn a_crash_looping_release_is_undone_by_the_deploys_failure_path() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-crashloop.yaml",
        &["--inject", "crashloop=zerostate-api@set-image"],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-rollout failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(failure.contains("ProgressDeadlineExceeded"), "{failure}");
    assert!(r.stdout.contains("CrashLoopBackOff"), "{}", r.printed());
    assert!(
        r.stdout
            .contains("deployment/zerostate-api rolled back: revision 2 → revision 1"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_failed_migration_leaves_the_running_release_and_no_secret_behind() {
    let r = rehearse(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/deploy-migration-fails.yaml",
        &["--inject", "step=migrate-up:fail"],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        r.stdout
            .contains("secret \"zerostate-migrate-env\" deleted from zerostate namespace"),
        "{}",
        r.printed()
    );
    assert!(!r.stdout.contains("step set-image"), "{}", r.printed());
}

#[test]
fn plan_rehearse_runs_every_step_of_the_deploy_against_the_stand_ins() {
    // Build, push, migration Jobs, manifests, rollout and HTTP checks all reach a stand-in.
    assert_eq!(
        crate::labelmint::plan::plan("runbooks/zerostate/deploy.yaml"),
        (28, 0, 0)
    );
}

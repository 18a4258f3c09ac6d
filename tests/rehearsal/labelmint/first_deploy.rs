//! `runbooks/labelmint/first-deploy.yaml` rehearsed end to end: the happy path on the runbook's
//! node group, the web pods crash-looping into the application rollback, the migration failing
//! into the database rollback, and the design's sizing (two t3.small) stopped by the capacity
//! check before anything is rolled out.

use super::{assert_journal_says_rehearsal, assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/labelmint/first-deploy.yaml";

#[test]
fn the_first_deploy_rehearses_to_the_end_on_the_runbooks_node_group() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/first-deploy-happy.yaml",
        &[],
    );
    assert_journal_says_rehearsal(&r);
    // Every deployment of the overlay rolled out, on the node group the terraform stand-in added.
    for d in [
        "labelmint-web",
        "api-gateway",
        "labeling-backend",
        "payment-backend",
        "client-bot",
        "worker-bot",
    ] {
        assert!(
            r.stdout
                .contains(&format!("deployment \"{d}\" successfully rolled out")),
            "{d}:\n{}",
            r.printed()
        );
    }
    assert!(!r.stdout.contains("Insufficient memory"), "{}", r.printed());
    // Phase 3: the nodes hold the requests; the ClusterIssuer the Ingresses name exists.
    assert_says(&r, "capacity-for-application | capacity ok");
    assert_says(&r, "clusterissuer.cert-manager.io/letsencrypt-prod created");
    // app-config exists before the migration reads it.
    let config = r
        .stdout
        .find(">> step apply-app-config")
        .expect("apply-app-config ran");
    let migration = r
        .stdout
        .find(">> step run-migrations")
        .expect("run-migrations ran");
    assert!(config < migration, "app-config before the migration");
    // The certificates' wait and the health checks ran for real.
    assert_says(&r, "2/2 certificates Ready");
    assert_says(&r, "every deployment runs 9382583");
    assert_says(&r, "100 requests, errors 0.0 %");
}

#[test]
fn a_crash_looping_web_takes_the_first_deploy_into_its_application_rollback() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/first-deploy-rollback.yaml",
        &["--inject", "crashloop=labelmint-web@apply-manifests"],
    );
    assert!(
        r.stdout.contains(
            "rehearsal: apply-manifests: injected: the new pods of deployment labelmint-web crash-loop"
        ),
        "{}",
        r.printed()
    );
    assert_says(&r, "CrashLoopBackOff");
    // kubectl (the real one, against the sandbox) finds nothing to undo on a first deploy, and
    // the rollback scales every deployment to 0.
    assert_says(
        &r,
        "no rollout history found for deployment \"labelmint-web\"",
    );
    assert_says(&r, "step scale-to-zero succeeded");
}

#[test]
fn the_designs_two_t3_small_stop_the_rollout_for_memory() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/design-sizing.yaml",
        &[],
    );
    // The capacity check adds up the requests against the two t3.small's allocatable and stops
    // the run with the numbers, before any image, contract, migration or rollout.
    assert_says(
        &r,
        "does not fit: memory 3674Mi requested > 2876Mi allocatable",
    );
    assert_says(&r, "!! step capacity-for-application failed");
    for later in [
        ">> step push-web",
        ">> step run-migrations",
        ">> step apply-manifests",
    ] {
        assert!(!r.stdout.contains(later), "{later}:\n{}", r.printed());
    }
}

#[test]
fn a_failed_migration_restores_the_snapshot_and_repoints_database_url() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/first-deploy-database-rollback.yaml",
        &["--inject", "step=run-migrations:fail"],
    );
    // database-url gets a new version in the AWS stand-in; nothing was deployed to restart.
    assert_says(&r, "put labelmint/production/database-url (version");
    assert_says(&r, "restart-database-readers | restarted: none");
}

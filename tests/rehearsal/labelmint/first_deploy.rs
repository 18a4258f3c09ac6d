//! `runbooks/labelmint/first-deploy.yaml` rehearsed end to end: the happy path on the runbook's
//! node group, the web pods crash-looping into the application rollback, the migration failing
//! into the database rollback, and the design's sizing (two t3.small) stopped by the capacity
//! check before anything is rolled out.

use super::{
    DEADLINE, assert_every_deployment_rolled_out, assert_journal_says_rehearsal, assert_says,
    rehearsed,
};
use crate::common::rehearse::rehearse;

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
    assert_every_deployment_rolled_out(&r);
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

/// Copies the folder `from` into `to`, files and folders (LabelMint's has no links).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn without_a_security_context_the_migration_stops_at_the_namespaces_pod_security() {
    // The runbook as it was before its Jobs set a security context: a copy of its folder with
    // the two keys taken out of its three kube.job steps, rehearsed with the happy decisions.
    let dir = tempfile::tempdir().unwrap();
    let root = crate::common::rehearse::root();
    copy_tree(&root.join("runbooks/labelmint"), dir.path());
    let text = std::fs::read_to_string(root.join(RUNBOOK)).unwrap();
    let keys = [
        "            security_context: restricted\n",
        "            run_as_user: 1000\n",
    ];
    let mut bare = text.clone();
    for k in keys {
        assert_eq!(
            text.matches(k).count(),
            3,
            "{k:?} in the three kube.job steps"
        );
        bare = bare.replace(k, "");
    }
    std::fs::write(dir.path().join("first-deploy.yaml"), &bare).unwrap();
    let r = rehearse(
        dir.path().join("first-deploy.yaml").to_str().unwrap(),
        dir.path()
            .join("rehearsals/first-deploy-happy.yaml")
            .to_str()
            .unwrap(),
        &[],
        DEADLINE,
    );
    assert_eq!(
        r.code,
        Some(7),
        "the expectation is not met:\n{}",
        r.printed()
    );
    let failed = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step run-migrations failed"))
        .unwrap_or_else(|| panic!("run-migrations failed:\n{}", r.printed()));
    assert!(
        failed.contains(": job/migration-")
            && failed.contains(" could not create its pod: Error creating: pods \"migration-")
            && failed.contains(
                "is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"migration\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"migration\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"migration\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"migration\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
            ),
        "{failed}"
    );
    // Nothing after the migration was deployed.
    assert!(
        !r.stdout.contains(">> step apply-manifests"),
        "{}",
        r.printed()
    );
    assert!(
        r.stderr
            .contains("expected run-migrations to have run; it failed"),
        "{}",
        r.printed()
    );
}

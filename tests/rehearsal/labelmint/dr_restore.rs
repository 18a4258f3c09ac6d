//! `runbooks/labelmint/dr-restore.yaml` rehearsed from an empty DR cluster in us-west-2: the
//! monthly drill (DNS not switched), the real restore with the DNS switch, the restored web pods
//! crash-looping into the failure path, and a snapshot copy older than the RPO stopping the
//! restore before RDS is touched.

use super::{
    assert_every_deployment_rolled_out, assert_journal_says_rehearsal, assert_says, rehearsed,
};

const RUNBOOK: &str = "runbooks/labelmint/dr-restore.yaml";

#[test]
fn the_dr_drill_rebuilds_everything_in_us_west_2_without_switching_dns() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/dr-restore-drill.yaml",
        &[],
    );
    assert_journal_says_rehearsal(&r);
    // Every deployment rolled out from the DR region's registry, on the DR node group.
    assert_every_deployment_rolled_out(&r);
    assert!(
        r.stdout.contains(
            "app-images-from-dr-registry | every deployment runs 9382583 from 288761728065.dkr.ecr.us-west-2.amazonaws.com"
        ),
        "{}",
        r.printed()
    );
    // No DNS in a drill; the report gives the drill's times.
    assert_says(&r, "phase dns skipped");
    assert!(!r.stdout.contains("step update-dns"), "{}", r.printed());
    assert_says(&r, "check-rpo | within the RPO");
    assert_says(&r, "rto | within the RTO");
    assert_says(&r, "report | DR DRILL into us-west-2 (DNS not switched)");
}

#[test]
fn a_real_restore_switches_dns_and_passes_the_designs_health_thresholds() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/dr-restore-real.yaml",
        &[],
    );
    assert_says(&r, "step update-dns succeeded");
    assert_says(&r, "report | DISASTER RECOVERY into us-west-2");
}

#[test]
fn a_crash_looping_dr_deploy_stops_the_dr_application() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/dr-restore-crashloop.yaml",
        &["--inject", "crashloop=labelmint-web@apply-manifests"],
    );
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step wait-for-rollouts failed"))
        .unwrap_or_else(|| panic!("the rollout failed:\n{}", r.printed()));
    assert!(failure.contains("CrashLoopBackOff"), "{failure}");
    assert_says(&r, "step scale-dr-to-zero succeeded");
    assert!(!r.stdout.contains("step update-dns"), "{}", r.printed());
}

#[test]
fn a_snapshot_older_than_the_rpo_stops_the_restore_before_rds() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/dr-restore-rpo.yaml",
        &[],
    );
    assert_says(&r, "check-rpo ! the newest snapshot is older than the RPO");
    assert!(!r.stdout.contains("step restore-rds"), "{}", r.printed());
}

#[test]
fn plan_rehearse_replaces_every_step_that_changes_terraform_rds_elasticache_or_dns() {
    // Terraform's node group, helm's add-ons, the replicated images and what RDS, ElastiCache,
    // the load balancer and Route53 would answer stand in (the ExternalSecrets are applied and
    // synced for real, by the rehearsal's External Secrets); only
    // read-only steps are skipped (terraform init/plan, the kubeconfig, psql, redis-cli, the
    // Route53 wait, the certificates, the drill's public load balancer check).
    assert_eq!(super::plan::plan(RUNBOOK), (33, 17, 8));
}

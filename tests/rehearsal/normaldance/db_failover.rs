//! `runbooks/normaldance/db-failover.yaml` rehearsed on NORMALDANCE's cluster with the replicas'
//! WAL positions (`rehearsals/db-failover-wal-positions.yaml`): the node of the primary postgres-0
//! lost (injected) → postgres-0 fenced, postgres-1 (the most WAL replayed) promoted and labelled
//! role=primary, the database's clients restarted, the API under 5 % errors; a primary that is up
//! stops the run before the fence; a failed promotion puts the role labels back; the fence
//! rejected at its destructive gate changes nothing.

use super::{assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/normaldance/db-failover.yaml";

/// The node postgres-0 (role=primary) runs on in cluster.yaml, lost at the run's first step.
const PRIMARY_NODE_LOST: &str = "node-loss=ip-10-0-16-24.ec2.internal@old-primary";

#[test]
fn a_lost_primary_is_fenced_and_the_most_advanced_replica_promoted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/db-failover-happy.yaml",
        &["--inject", PRIMARY_NODE_LOST],
    );
    assert_says(&r, "the primary postgres-0 is down: failover confirmed");
    assert_says(&r, "promote_target=postgres-1");
    assert_says(
        &r,
        "pod/postgres-0 patched (metadata.labels.role: primary → fenced)",
    );
    assert_says(
        &r,
        "pod/postgres-1 patched (metadata.labels.role: replica → primary)",
    );
    assert_says(&r, "role=primary: postgres-1");
    // Everything that reads DATABASE_URL restarted: the Deployments and Argo CD's Rollouts
    // (their names are the deploy repository's chart's).
    assert_says(&r, "deployment \"worker\" successfully rolled out");
    assert_says(&r, "rollout \"api-server\" restarted and Healthy");
    assert_says(&r, "rollout \"web-app\" restarted and Healthy");
}

#[test]
fn a_primary_that_is_up_stops_the_run_before_the_fence() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/db-failover-primary-up.yaml",
        &[],
    );
    assert_says(
        &r,
        "postgres-0: Ready=True; node ip-10-0-16-24.ec2.internal: Ready=True",
    );
    assert!(
        !r.stdout.contains("step fence-old-primary"),
        "{}",
        r.printed()
    );
}

#[test]
fn a_failed_promotion_puts_the_fence_and_labels_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/db-failover-promotion-fails.yaml",
        &[
            "--inject",
            PRIMARY_NODE_LOST,
            "--inject",
            "step=promote-replica:fail",
        ],
    );
    assert_says(&r, "pod/postgres-0 put back as it was before the patch");
    assert_says(&r, "role=primary: postgres-0");
    assert!(
        !r.stdout.contains("step label-new-primary"),
        "{}",
        r.printed()
    );
}

#[test]
fn the_fence_rejected_changes_nothing() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/db-failover-fence-rejected.yaml",
        &["--inject", PRIMARY_NODE_LOST],
    );
    assert_says(&r, "promote_target=postgres-1");
    for step in ["fence-old-primary", "stop-old-primary", "promote-replica"] {
        assert!(
            !r.stdout.contains(&format!("step {step}")),
            "{step} ran:\n{}",
            r.printed()
        );
    }
}

#[test]
fn plan_rehearse_of_the_failover() {
    // Only the read of the replicas' WAL positions (kubectl exec) stands in; the read of their
    // primary_conninfo (exec too) is skipped. The promotion and the checks are Jobs, run for real.
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (25, 1, 1));
}

//! `runbooks/zerostate/troubleshoot.yaml` rehearsed case by case: database connections (the RDS
//! parameter group and a reboot), latency (read-only), the balance invariant (the guide's manual
//! verification); and the reboot refused at its gate, rolled back.

use super::{assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/zerostate/troubleshoot.yaml";

#[test]
fn max_connections_is_raised_through_the_parameter_group_and_a_reboot() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/troubleshoot-db-connections.yaml",
        &[],
    );
    // The guide's 200 is below what its own pools can open: 3 × DB_MAX_OPEN_CONNS 100.
    assert_says(
        &r,
        "WARNING: max_connections 200 is below what the pools can open now (300)",
    );
    assert_says(
        &r,
        "max-connections-applied | max_connections: 200 (wanted 200)",
    );
}

#[test]
fn a_refused_reboot_puts_max_connections_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/troubleshoot-db-connections-rolled-back.yaml",
        &[],
    );
    assert!(!r.stdout.contains(">> step reboot-db:"), "{}", r.printed());
}

#[test]
fn latency_is_diagnosed_read_only_with_the_p95_of_the_api() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/troubleshoot-latency.yaml",
        &[],
    );
    // Each of the three API pods' CPU against its request.
    let cpu = r
        .stdout
        .lines()
        .filter(|l| l.contains("pod-cpu | zerostate-api-") && l.contains("of 1000m requested"))
        .count();
    assert_eq!(cpu, 3, "{}", r.printed());
    assert_says(&r, "health-p95 | {\"error_rate\":0.0");
}

#[test]
fn a_balance_invariant_alert_leads_to_the_guides_manual_verification() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/zerostate/rehearsals/troubleshoot-balance-invariant.yaml",
        &[],
    );
    assert_says(&r, "BalanceInvariantViolation: 1 failed balance check(s)");
    // The admin token went in a header, masked: never printed.
    assert!(!r.printed().contains("Bearer"), "{}", r.printed());
}

#[test]
fn plan_rehearse_lists_every_step_of_troubleshooting_and_its_coverage() {
    // The RDS parameter change and reboot are replaced; the read-only psql queries, the
    // port-forward to the metrics and the wait on RDS are skipped.
    assert_eq!(
        crate::labelmint::plan::plan("runbooks/zerostate/troubleshoot.yaml"),
        (13, 8, 5)
    );
}

//! LabelMint's incident runbooks rehearsed (`runbooks/labelmint/incident-*.yaml`): payout failures,
//! a TON RPC outage and analytics lag, each through its happy path and into its way back; and
//! `tollgate plan --rehearse` of the three.

use super::{assert_says, rehearsed};

const PAYOUTS: &str = "runbooks/labelmint/incident-payout-failures.yaml";
const TON_RPC: &str = "runbooks/labelmint/incident-ton-rpc-outage.yaml";
const ANALYTICS: &str = "runbooks/labelmint/incident-analytics-lag.yaml";

const HISTORY: &str = "runbooks/labelmint/rehearsals/payment-backend-history.yaml";
const PRIMARY_DOWN: &str = "runbooks/labelmint/rehearsals/ton-rpc-primary-down.yaml";
const PRIMARY_UP: &str = "runbooks/labelmint/rehearsals/ton-rpc-primary-up.yaml";

// --- payout failures ------------------------------------------------------------------------

#[test]
fn payouts_pause_payment_backend_rolls_back_to_its_previous_release_and_payouts_resume() {
    let r = rehearsed(
        PAYOUTS,
        "runbooks/labelmint/rehearsals/incident-payout-failures-happy.yaml",
        &["--fixture", HISTORY],
    );
    assert_says(
        &r,
        "labelmint-backend:9382583 → 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:4f1c2ab",
    );
}

#[test]
fn a_roll_back_that_makes_payouts_worse_is_undone_and_payouts_stay_paused() {
    let r = rehearsed(
        PAYOUTS,
        "runbooks/labelmint/rehearsals/incident-payout-failures-rollback.yaml",
        &[
            "--fixture",
            HISTORY,
            "--inject",
            "step=payment-backend-pods-ready:fail",
        ],
    );
    assert_says(&r, "payments-still-paused | false");
}

#[test]
fn a_refused_payout_pause_changes_nothing() {
    rehearsed(
        PAYOUTS,
        "runbooks/labelmint/rehearsals/incident-payout-failures-rejected.yaml",
        &[],
    );
}

#[test]
fn payouts_resume_on_the_fallback_ton_rpc() {
    rehearsed(
        PAYOUTS,
        "runbooks/labelmint/rehearsals/incident-payout-failures-switch-rpc.yaml",
        &[],
    );
}

// --- TON RPC outage -------------------------------------------------------------------------

#[test]
fn a_failing_toncenter_is_confirmed_and_the_ton_callers_move_to_the_fallback() {
    let r = rehearsed(
        TON_RPC,
        "runbooks/labelmint/rehearsals/incident-ton-rpc-outage-happy.yaml",
        &["--fixture", PRIMARY_DOWN],
    );
    assert!(
        r.stdout.contains(
            "primary-is-failing | https://toncenter.com/api/v2 fails 100.0 % of requests"
        ),
        "{}",
        r.printed()
    );
}

#[test]
fn a_failing_fallback_puts_the_previous_endpoint_back() {
    let r = rehearsed(
        TON_RPC,
        "runbooks/labelmint/rehearsals/incident-ton-rpc-outage-rollback.yaml",
        &[
            "--fixture",
            PRIMARY_DOWN,
            "--inject",
            "step=fallback-rpc-healthy:fail",
        ],
    );
    assert_says(&r, "→ https://toncenter.com/api/v2/jsonRPC");
}

#[test]
fn a_recovered_toncenter_is_switched_back_to() {
    rehearsed(
        TON_RPC,
        "runbooks/labelmint/rehearsals/incident-ton-rpc-outage-switch-back.yaml",
        &["--fixture", PRIMARY_UP],
    );
}

#[test]
fn a_healthy_toncenter_stops_the_failover_before_anything_changes() {
    let r = rehearsed(
        TON_RPC,
        "runbooks/labelmint/rehearsals/incident-ton-rpc-outage-not-the-rpc.yaml",
        &["--fixture", PRIMARY_UP],
    );
    assert_says(
        &r,
        "primary-is-failing ! https://toncenter.com/api/v2 fails only 0.0 %",
    );
}

// --- analytics lag --------------------------------------------------------------------------

#[test]
fn the_analytics_service_scales_up_and_answers_under_the_thresholds() {
    rehearsed(
        ANALYTICS,
        "runbooks/labelmint/rehearsals/incident-analytics-lag-happy.yaml",
        &[],
    );
}

#[test]
fn a_scale_up_that_does_not_help_is_scaled_back() {
    rehearsed(
        ANALYTICS,
        "runbooks/labelmint/rehearsals/incident-analytics-lag-rollback.yaml",
        &["--inject", "step=analytics-latency-ok:fail"],
    );
}

// --- plan --rehearse ------------------------------------------------------------------------

#[test]
fn plan_rehearse_lists_every_step_of_the_incident_runbooks() {
    // toncenter's balance and transaction reads have no stand-in and only read: skipped.
    assert_eq!(super::plan::plan(PAYOUTS), (37, 0, 6));
    // The fallback's block-sync check reads TON blocks the stand-in does not serve: skipped.
    assert_eq!(super::plan::plan(TON_RPC), (33, 0, 1));
    assert_eq!(super::plan::plan(ANALYTICS), (13, 0, 0));
}

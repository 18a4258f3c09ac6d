//! `runbooks/normaldance/blue-green-switch.yaml` rehearsed on NORMALDANCE's cluster, whose web-app
//! Argo Rollout (blue/green) Argo CD deploys from the deploy repository's v1.8.2: green committed
//! and brought up as the preview, checked on its own host, switched to behind the destructive
//! gate, blue scaled down no sooner than scaleDownDelaySeconds (600 simulated seconds) after; a
//! preview answering 10 % errors never switched to; the switch refused at its gate; green failing
//! after the switch and blue, still running, switched back to.

use crate::common::rehearse::SPEED;

use super::{assert_says, line_with, printed_value, rehearsed};
use crate::labelmint::at;

const RUNBOOK: &str = "runbooks/normaldance/blue-green-switch.yaml";

#[test]
fn green_is_previewed_switched_to_and_blue_scaled_down_after_the_stability_period() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/blue-green-switch-happy.yaml",
        &[],
    );
    assert_says(&r, "web-app v1.8.2 → v1.9.0 committed to main");
    let revision = printed_value(&r, "commit-green", "revision");
    assert_says(
        &r,
        &format!("application/normaldance-production synced to {revision}"),
    );
    assert_says(
        &r,
        "rollout/web-app: preview 3/3 ready · active 3/3 ready · Paused (BlueGreenPause)",
    );
    line_with(
        &r,
        &[" REHEARSAL preview-health ! ", "400 requests, errors 0.0 %"],
    );
    line_with(
        &r,
        &[
            " REHEARSAL users-still-blue ! ",
            "200 requests, errors 0.0 %",
        ],
    );
    assert_says(&r, "promote | rollout 'web-app' promoted");
    line_with(
        &r,
        &[" REHEARSAL users-on-green ! ", "200 requests, errors 0.0 %"],
    );
    let blue = printed_value(&r, "blue-now", "blue_rs");
    assert_says(&r, &format!("blue-kept | web-app-{blue}: 3/3 ready"));
    assert_says(
        &r,
        &format!(
            "application/normaldance-production: sync Synced · health Healthy · revision {}",
            &revision[..7]
        ),
    );
    // Blue is scaled down no sooner than 600 simulated seconds after the switch.
    let switched = at(line_with(
        &r,
        &["REHEARSAL promote | rollout 'web-app' promoted"],
    ));
    let scaled = at(line_with(
        &r,
        &["REHEARSAL << step blue-scaled-down succeeded"],
    ));
    let delay = 600.0 / SPEED.parse::<f64>().unwrap();
    assert!(
        scaled - switched >= delay * 0.9,
        "blue scaled down {:.2}s after the switch, before the {delay:.2}s delay\n{}",
        scaled - switched,
        r.printed()
    );
}

#[test]
fn a_preview_answering_errors_is_never_switched_to_and_the_commit_is_reverted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/blue-green-switch-preview-fails.yaml",
        &[],
    );
    line_with(
        &r,
        &[
            "!! step preview-health failed",
            "over 400 requests > max 1 %",
            "× 500",
        ],
    );
    line_with(
        &r,
        &[
            " REHEARSAL git-revert-green | ",
            "main at ",
            "web-app v1.8.2",
        ],
    );
    assert_says(&r, "web-app-after-revert | web-app=Healthy");
    assert_says(&r, "step switch-back skipped");
    line_with(
        &r,
        &[" REHEARSAL users-on-blue ! ", "200 requests, errors 0.0 %"],
    );
    assert!(!r.stdout.contains("promoted"), "{}", r.printed());
}

#[test]
fn a_switch_refused_at_its_gate_leaves_the_users_on_blue() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/blue-green-switch-rejected.yaml",
        &[],
    );
    assert_says(&r, "gate switch: reject by");
    line_with(
        &r,
        &[
            " REHEARSAL users-still-blue ! ",
            "200 requests, errors 0.0 %",
        ],
    );
    assert!(!r.stdout.contains("promoted"), "{}", r.printed());
    assert!(
        !r.stdout.contains("step git-revert-green"),
        "{}",
        r.printed()
    );
}

#[test]
fn green_failing_after_the_switch_sends_the_users_back_to_blue_at_once() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/blue-green-switch-switch-back.yaml",
        &["--inject", "step=green-error-rate:fail"],
    );
    assert_says(&r, "promote | rollout 'web-app' promoted");
    assert_says(&r, "step green-error-rate failed");
    // Blue's pods still run (within its scaleDownDelaySeconds): Argo fast-tracks the rollback,
    // with no preview pause, so blue is active again without a second promotion.
    assert_says(&r, "web-app-after-revert | web-app=Healthy");
    assert!(
        !r.stdout
            .contains("switch-back | rollout 'web-app' promoted"),
        "{}",
        r.printed()
    );
    line_with(
        &r,
        &[
            " REHEARSAL blue-healthy | ",
            "rollout/web-app: active 3/3 ready · Healthy",
        ],
    );
    line_with(
        &r,
        &[" REHEARSAL users-on-blue ! ", "200 requests, errors 0.0 %"],
    );
}

#[test]
fn plan_rehearse_runs_every_step_of_the_switch_against_the_stand_ins() {
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (24, 0, 0));
}

//! Progressive delivery rehearsed end to end (`tests/fixtures/rehearsal/progressive/`): an Argo
//! Rollouts canary of 20 pods taken 5 → 25 → 50 → 100 % with `argo.*` steps and an `http.check` of
//! the users' host at every weight; the same canary answering 500 to 10 % of its requests
//! (`errors-10`), failing the check at 25 % and aborted back to stable; a blue/green release
//! checked on its preview host, switched behind a destructive gate, its old version scaled down
//! after `scaleDownDelaySeconds`. The Rollout CRD comes from `rehearsal: {crds: [argo-rollouts]}`;
//! the sandbox's Rollouts controller and its Service traffic answer.

use crate::common::rehearse::{SPEED, rehearse};
use crate::labelmint::{DEADLINE, assert_every_line_says_rehearsal, assert_expectation_held};
use crate::labelmint::{at, lines_of};

const DIR: &str = "tests/fixtures/rehearsal/progressive";

#[test]
fn a_canary_is_promoted_through_every_weight_with_the_users_error_rate_checked_at_each() {
    let r = rehearse(
        &format!("{DIR}/canary.yaml"),
        &format!("{DIR}/canary-good.yaml"),
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    // Each pause reached at its weight, with the pods split as Argo splits 20 replicas.
    for (step, want) in [
        ("at-5", "step 1/6 · weight 5 % · canary 1/1 ready"),
        (
            "at-25",
            "step 3/6 · weight 25 % · canary 5/5 ready · stable 15/15 ready",
        ),
        (
            "at-50",
            "step 5/6 · weight 50 % · canary 10/10 ready · stable 10/10 ready",
        ),
    ] {
        let last = lines_of(&r.stdout, step)
            .last()
            .copied()
            .unwrap_or_default();
        assert!(
            last.contains(want) && last.contains("Paused (CanaryPauseStep)"),
            "{step}: {last}\n{}",
            r.printed()
        );
    }
    for step in ["check-5", "check-25", "check-50"] {
        assert!(
            lines_of(&r.stdout, step)
                .iter()
                .any(|l| l.contains("400 requests, errors 0.0 %")),
            "{step}\n{}",
            r.printed()
        );
    }
    // After the last promotion every answer comes from the new version.
    assert!(
        lines_of(&r.stdout, "healthy")
            .iter()
            .any(|l| l.contains("stable 20/20 ready · Healthy")),
        "{}",
        r.printed()
    );
    assert!(
        lines_of(&r.stdout, "users-after")
            .iter()
            .any(|l| l.contains("200 requests, errors 0.0 %")),
        "{}",
        r.printed()
    );
    // Every promotion is journaled as a change a revert can undo.
    let promotes = r
        .journal()
        .into_iter()
        .filter(|j| j["event"] == "changed" && j["change"]["op"] == "promote")
        .count();
    assert_eq!(promotes, 3, "promotions journaled");
}

#[test]
fn a_canary_answering_errors_fails_its_check_at_25_percent_and_is_aborted_back_to_stable() {
    let r = rehearse(
        &format!("{DIR}/canary.yaml"),
        &format!("{DIR}/canary-errors.yaml"),
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    // One canary pod of 20 answers 10 % errors: 0.5 % of what the users see, within 1 %.
    assert!(
        lines_of(&r.stdout, "check-5")
            .iter()
            .any(|l| l.contains("400 requests, errors 0.5 %") && l.contains("398 × 200, 2 × 500")),
        "{}",
        r.printed()
    );
    // Five of 20: 2.5 %, and the step fails with the numbers.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("!! step check-25 failed")
                && l.ends_with("error rate 2.5 % over 400 requests > max 1 %: 10 × 500")),
        "{}",
        r.printed()
    );
    // The abort sends every request back to stable: the last check sees no error at all.
    assert!(
        lines_of(&r.stdout, "abort-canary")
            .iter()
            .any(|l| l.contains("rollout 'api' aborted")),
        "{}",
        r.printed()
    );
    let last = lines_of(&r.stdout, "stable-only")
        .into_iter()
        .rfind(|l| l.contains("requests, errors"))
        .unwrap_or_default();
    assert!(
        last.contains("400 requests, errors 0.0 %"),
        "{last}\n{}",
        r.printed()
    );
    // The release never reached 50 %.
    assert!(!r.stdout.contains("weight 50 %"), "{}", r.printed());
}

#[test]
fn a_blue_green_release_is_checked_on_its_preview_switched_and_scaled_down_after_the_delay() {
    let r = rehearse(
        &format!("{DIR}/bluegreen.yaml"),
        &format!("{DIR}/bluegreen.decisions.yaml"),
        &[],
        DEADLINE,
    );
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    assert!(
        lines_of(&r.stdout, "preview-ready")
            .iter()
            .any(|l| l.contains("preview 3/3 ready · active 3/3 ready · Paused (BlueGreenPause)")),
        "{}",
        r.printed()
    );
    // The old version is scaled down no sooner than scaleDownDelaySeconds (30 simulated
    // seconds) after the switch.
    let switched = r
        .stdout
        .lines()
        .find(|l| l.contains("REHEARSAL promote | rollout 'web' promoted"))
        .map(at)
        .expect("the promotion's line");
    let scaled = r
        .stdout
        .lines()
        .find(|l| l.contains("REHEARSAL << step old-scaled-down succeeded"))
        .map(at)
        .expect("the scale-down's line");
    let delay = 30.0 / SPEED.parse::<f64>().unwrap();
    assert!(
        scaled - switched >= delay * 0.9,
        "scaled down {:.2}s after the switch, before the {delay:.2}s delay\n{}",
        scaled - switched,
        r.printed()
    );
}

#[test]
fn a_fixture_with_rollouts_and_no_crd_is_one_line_naming_the_key_that_serves_it() {
    let b = crate::common::binary::Bin::new();
    let dir = crate::common::rehearse::root().join(DIR);
    std::fs::copy(dir.join("cluster.yaml"), b.dir().join("cluster.yaml")).unwrap();
    let text = std::fs::read_to_string(dir.join("canary.yaml"))
        .unwrap()
        .replace("  crds: [argo-rollouts]\n", "");
    let rb = b.runbook("canary.yaml", &text);
    let stderr = b.rehearsal_refused(&rb);
    assert!(
        stderr.contains("Rollout argoproj.io/v1alpha1 is not served: apply the CustomResourceDefinition for rollouts.argoproj.io first (a rehearsal serves it with `rehearsal: {crds: [argo-rollouts]}`)"),
        "{stderr}"
    );
}

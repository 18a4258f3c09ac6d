//! `runbooks/mint-replica-lite/promote-staging-bluegreen.yaml` rehearsed on Mint Replica Lite's
//! staging cluster (`staging-cluster.yaml`: backend-api as an Argo Rollout, blue/green, activeService
//! `blue`, previewService `green`, autoPromotionEnabled false, live on 1.4.2): 1.5.0 checked
//! through `green`, promoted behind a typed gate (blue's selector moves to the new pods), the old
//! ReplicaSet scaled down after scaleDownDelaySeconds; a preview answering 10 % errors and one that
//! crash-loops aborted before the switch; the promotion refused; and a failure after the switch
//! taken back to 1.4.2 with argo.undo and a second promotion.

use super::{assert_says, rehearsed};
use crate::common::rehearse::SPEED;
use crate::labelmint::{at, lines_of};

const RUNBOOK: &str = "runbooks/mint-replica-lite/promote-staging-bluegreen.yaml";

/// (activeSelector, previewSelector) as the step's `activeSelector=… previewSelector=…` line says.
fn selectors(stdout: &str, step: &str) -> (String, String) {
    let line = lines_of(stdout, step)
        .into_iter()
        .find(|l| l.contains("activeSelector="))
        .unwrap_or_else(|| panic!("no activeSelector line from {step}:\n{stdout}"));
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line}"))
            .to_string()
    };
    (value("activeSelector="), value("previewSelector="))
}

/// The pods a step listed behind `service` (`service blue (HASH) → POD IMAGE ready=…`).
fn pods_behind<'a>(stdout: &'a str, step: &str, service: &str) -> Vec<&'a str> {
    let prefix = format!("service {service} (");
    lines_of(stdout, step)
        .into_iter()
        .filter(|l| l.contains(&prefix))
        .collect()
}

/// Each of the three pods behind `service` runs `tag` and is ready.
#[track_caller]
fn three_ready_pods_on(stdout: &str, step: &str, service: &str, tag: &str) {
    let pods = pods_behind(stdout, step, service);
    assert_eq!(pods.len(), 3, "{step}: pods behind {service}:\n{stdout}");
    for p in pods {
        assert!(
            p.ends_with(&format!("mint-replica-backend:{tag} ready=true")),
            "{step}: {p}"
        );
    }
}

/// The http.check of `step` saw 200 requests and no error, every one answered 200.
#[track_caller]
fn no_errors_over_200_requests(stdout: &str, step: &str) {
    assert!(
        lines_of(stdout, step)
            .iter()
            .any(|l| l.contains("200 requests, errors 0.0 %") && l.ends_with(": 200 × 200")),
        "{step}:\n{stdout}"
    );
}

#[test]
fn the_preview_is_checked_on_green_promoted_to_blue_and_the_old_replicaset_retired() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/promote-staging-bluegreen-happy.yaml",
        &[],
    );
    let out = &r.stdout;
    // Before: one version, both Services on it.
    let (live, preview_before) = selectors(out, "selectors-before");
    assert_eq!(live, preview_before, "{out}");
    three_ready_pods_on(out, "selectors-before", "blue", "1.4.2");
    no_errors_over_200_requests(out, "users-before");
    // The preview: green on 1.5.0's pods, blue still on 1.4.2's.
    assert_says(
        &r,
        "preview-up | rollout/backend-api: preview 3/3 ready · active 3/3 ready · Paused (BlueGreenPause)",
    );
    let (active, preview) = selectors(out, "selectors-preview");
    assert_eq!(active, live, "{out}");
    assert_ne!(preview, live, "{out}");
    three_ready_pods_on(out, "selectors-preview", "blue", "1.4.2");
    three_ready_pods_on(out, "selectors-preview", "green", "1.5.0");
    no_errors_over_200_requests(out, "preview-check");
    no_errors_over_200_requests(out, "users-unchanged");
    // The switch: blue's selector moves to the preview's pods.
    assert_says(&r, "promote-green | rollout 'backend-api' promoted");
    assert_says(
        &r,
        "promoted-healthy | rollout/backend-api: active 3/3 ready · Healthy",
    );
    assert_eq!(
        selectors(out, "selectors-after"),
        (preview.clone(), preview.clone())
    );
    three_ready_pods_on(out, "selectors-after", "blue", "1.5.0");
    no_errors_over_200_requests(out, "active-service-check");
    no_errors_over_200_requests(out, "users-after");
    // Retired: the 1.4.2 ReplicaSet at 0 no sooner than scaleDownDelaySeconds (Argo's default,
    // 30 simulated seconds) after the switch; both Services reach 1.5.0 only.
    let switched = out
        .lines()
        .find(|l| l.contains("REHEARSAL promote-green | rollout 'backend-api' promoted"))
        .map(at)
        .expect("the promotion's line");
    let retired = out
        .lines()
        .find(|l| l.contains("REHEARSAL << step old-replicaset-scaled-down succeeded"))
        .map(at)
        .expect("the scale-down's line");
    let delay = 30.0 / SPEED.parse::<f64>().unwrap();
    assert!(
        retired - switched >= delay * 0.9,
        "retired {:.2}s after the switch, before the {delay:.2}s delay\n{out}",
        retired - switched
    );
    three_ready_pods_on(out, "selectors-retired", "blue", "1.5.0");
    three_ready_pods_on(out, "selectors-retired", "green", "1.5.0");
}

#[test]
fn a_preview_answering_errors_fails_its_check_on_green_and_is_aborted_never_promoted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/promote-staging-bluegreen-preview-errors.yaml",
        &[],
    );
    let out = &r.stdout;
    let (live, _) = selectors(out, "selectors-before");
    three_ready_pods_on(out, "selectors-preview", "green", "1.5.0-errors-10");
    // Three pods each answering 500 to 10 % of their requests: 18 of 200.
    assert!(
        out.lines()
            .any(|l| l.contains("!! step preview-check failed")
                && l.ends_with("error rate 9.0 % over 200 requests > max 0 %: 18 × 500")),
        "{out}"
    );
    assert!(!out.contains("rollout 'backend-api' promoted"), "{out}");
    assert_says(&r, "abort | rollout 'backend-api' aborted");
    assert_eq!(selectors(out, "selectors-aborted").0, live, "{out}");
    three_ready_pods_on(out, "selectors-aborted", "blue", "1.4.2");
    assert_says(
        &r,
        "preview-scaled-down ! 1/1 replicasets {.status.replicas}=0",
    );
    no_errors_over_200_requests(out, "users-on-live");
}

#[test]
fn a_crash_looping_preview_is_degraded_at_its_progress_deadline_and_aborted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/promote-staging-bluegreen-preview-crashloop.yaml",
        &[],
    );
    let out = &r.stdout;
    let (live, _) = selectors(out, "selectors-before");
    assert!(
        out.lines().any(|l| l.contains("!! step preview-up failed")
            && l.contains("rollout/backend-api is Degraded: ProgressDeadlineExceeded")
            && l.contains("CrashLoopBackOff")),
        "{out}"
    );
    assert!(!out.contains("rollout 'backend-api' promoted"), "{out}");
    assert_says(&r, "abort | rollout 'backend-api' aborted");
    assert_eq!(selectors(out, "selectors-aborted").0, live, "{out}");
    three_ready_pods_on(out, "selectors-aborted", "blue", "1.4.2");
    no_errors_over_200_requests(out, "users-on-live");
}

#[test]
fn a_refused_promotion_leaves_the_users_on_the_live_version() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/promote-staging-bluegreen-rejected.yaml",
        &[],
    );
    let out = &r.stdout;
    assert_says(&r, "gate promote: reject by ");
    assert!(!out.contains("rollout 'backend-api' promoted"), "{out}");
    let (live, _) = selectors(out, "selectors-before");
    let (active, preview) = selectors(out, "selectors-preview");
    assert_eq!(active, live, "{out}");
    assert_ne!(preview, live, "{out}");
    no_errors_over_200_requests(out, "preview-check");
    no_errors_over_200_requests(out, "users-unchanged");
}

#[test]
fn a_failure_after_the_switch_goes_back_with_undo_and_a_second_promotion() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/promote-staging-bluegreen-undo.yaml",
        &["--inject", "step=users-after:fail"],
    );
    let out = &r.stdout;
    let (live, _) = selectors(out, "selectors-before");
    let (_, preview) = selectors(out, "selectors-preview");
    // Switched to 1.5.0, then the check of the users' host fails.
    assert_eq!(selectors(out, "selectors-after").0, preview, "{out}");
    three_ready_pods_on(out, "selectors-after", "blue", "1.5.0");
    assert!(out.contains("!! step users-after failed"), "{out}");
    // An abort would leave blue on 1.5.0 (1.5.0 is stable once promoted): the way back is undo.
    assert!(!out.contains("rollout 'backend-api' aborted"), "{out}");
    assert_says(
        &r,
        "gate back-to-previous: the rehearsal script decides after 3.6s",
    );
    assert_says(&r, "undo | rollout 'backend-api' undo (to revision 1)");
    // Within the old ReplicaSet's scaleDownDelay Argo fast-tracks an undo (no pause); here the
    // responder decides three simulated minutes after the failure (`after: 3m`), past the 30 s
    // delay, so the undo pauses for its promotion (autoPromote false) like any update.
    assert_says(&r, "previous-up | phase=Paused");
    no_errors_over_200_requests(out, "previous-preview-check");
    assert_says(&r, "promote-previous | rollout 'backend-api' promoted");
    // blue's selector back on the 1.4.2 ReplicaSet (the same pod-template hash as before).
    assert_eq!(
        selectors(out, "selectors-back"),
        (live.clone(), live.clone())
    );
    three_ready_pods_on(out, "selectors-back", "blue", "1.4.2");
    no_errors_over_200_requests(out, "users-back");
}

#[test]
fn plan_rehearse_runs_every_step_of_the_staging_promotion_against_the_stand_ins() {
    // Every step is an argo.*, kube.*, http.check or kubectl step the sandbox answers: nothing
    // replaced, nothing skipped.
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (30, 0, 0));
}

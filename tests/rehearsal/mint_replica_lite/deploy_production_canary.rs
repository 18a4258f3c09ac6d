//! `runbooks/mint-replica-lite/deploy-production-canary.yaml` rehearsed on the production
//! cluster fixture, where backend-api is an Argo Rollout of 3 pods with seed 003's canary
//! (setWeight 20, pause 10m, setWeight 50, pause 10m, setWeight 100): a release taken to 100 %
//! with the users' error rate checked at each weight; a release answering 3 % errors, within the
//! 1 % threshold at 20 % (one canary pod of four) and over it at 50 % (two of four), aborted; a
//! crash-looping canary, Degraded at its progress deadline and aborted.

use super::{assert_says, rehearsed};
use crate::labelmint::lines_of;

const RUNBOOK: &str = "runbooks/mint-replica-lite/deploy-production-canary.yaml";

#[test]
fn a_release_goes_through_the_seeds_canary_with_the_users_error_rate_checked_at_each_weight() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/deploy-production-canary-happy.yaml",
        &[],
    );
    // The seed's `kubectl create job --from=cronjob/db-migrate`, for real: the CronJob pointed at
    // the release first, and the Job made from its template.
    assert_says(
        &r,
        "cronjob/db-migrate runs 123456789012.dkr.ecr.us-east-1.amazonaws.com/mint-replica-backend:1.5.0",
    );
    assert_says(&r, "job.batch/db-migrate-1.5.0 created");
    assert_says(&r, "job db-migrate-1.5.0 complete");
    // Each weight as Argo splits 3 replicas without a traffic router, paused for its 10 minutes.
    for (step, want) in [
        (
            "at-20",
            "step 1/5 · weight 20 % · canary 1/1 ready · stable 3/3 ready · Paused (CanaryPauseStep)",
        ),
        (
            "at-50",
            "step 3/5 · weight 50 % · canary 2/2 ready · stable 2/2 ready · Paused (CanaryPauseStep)",
        ),
        (
            "at-100",
            "step 5/5 · weight 100 % · stable 3/3 ready · Healthy",
        ),
    ] {
        let last = lines_of(&r.stdout, step)
            .last()
            .copied()
            .unwrap_or_default();
        assert!(last.contains(want), "{step}: {last}\n{}", r.printed());
    }
    for w in ["20", "50", "100"] {
        assert!(
            lines_of(&r.stdout, &format!("check-{w}"))
                .iter()
                .any(|l| l.contains("400 requests, errors 0.0 %") && l.contains("400 × 200")),
            "check-{w}\n{}",
            r.printed()
        );
    }
    // The cache flushed behind its destructive gate, and every pod on the release.
    assert!(
        lines_of(&r.stdout, "redis-flushall")
            .iter()
            .any(|l| l.ends_with("| OK")),
        "{}",
        r.printed()
    );
    let pods = lines_of(&r.stdout, "runs-release");
    assert_eq!(pods.len(), 3, "{}", r.printed());
    assert!(
        pods.iter()
            .all(|l| l.ends_with("/mint-replica-backend:1.5.0")),
        "{}",
        r.printed()
    );
}

#[test]
fn a_release_answering_errors_passes_at_20_percent_fails_at_50_and_is_aborted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/deploy-production-canary-errors.yaml",
        &[],
    );
    // One canary pod of four answers 3 % errors: the users see 0.75 %, within 1 %.
    assert!(
        lines_of(&r.stdout, "check-20")
            .iter()
            .any(|l| l.contains("400 requests, errors 0.8 %") && l.contains("397 × 200, 3 × 500")),
        "{}",
        r.printed()
    );
    assert_says(&r, "<< step check-20 succeeded");
    // Two of four after the pause: 1.5 %, over 1 %, and the canary's failure path aborts it.
    assert!(
        lines_of(&r.stdout, "at-50")
            .iter()
            .any(|l| l.contains("weight 50 % · canary 2/2 ready · stable 2/2 ready")),
        "{}",
        r.printed()
    );
    assert!(
        lines_of(&r.stdout, "check-50")
            .iter()
            .any(|l| l.contains("400 requests, errors 1.5 %") && l.contains("394 × 200, 6 × 500")),
        "{}",
        r.printed()
    );
    // The threshold is the runbook's variable max_error_rate (1 %), filled into http.check.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("!! step check-50 failed")
                && l.ends_with("error rate 1.5 % over 400 requests > max 1 %: 6 × 500")),
        "{}",
        r.printed()
    );
    assert_says(&r, "rollout 'backend-api' aborted");
    let last = lines_of(&r.stdout, "stable-only")
        .into_iter()
        .rfind(|l| l.contains("requests, errors"))
        .unwrap_or_default();
    assert!(
        last.contains("400 requests, errors 0.0 %"),
        "{last}\n{}",
        r.printed()
    );
    // The release never reached 100 %.
    assert!(!r.stdout.contains("step at-100"), "{}", r.printed());
}

#[test]
fn a_crash_looping_canary_is_degraded_at_its_deadline_and_aborted() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/mint-replica-lite/rehearsals/deploy-production-canary-crashloop.yaml",
        &[],
    );
    assert!(
        lines_of(&r.stdout, "at-20")
            .iter()
            .any(|l| l.contains("weight 20 % · canary 0/1 ready · stable 3/3 ready · Degraded")),
        "{}",
        r.printed()
    );
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step at-20 failed"))
        .unwrap_or_else(|| panic!("at-20 failed:\n{}", r.printed()));
    assert!(
        failure.contains("rollout/backend-api is Degraded: ProgressDeadlineExceeded")
            && failure.contains("CrashLoopBackOff"),
        "{failure}"
    );
    assert_says(&r, "rollout 'backend-api' aborted");
    let last = lines_of(&r.stdout, "stable-only")
        .into_iter()
        .rfind(|l| l.contains("requests, errors"))
        .unwrap_or_default();
    assert!(
        last.contains("400 requests, errors 0.0 %"),
        "{last}\n{}",
        r.printed()
    );
    // The migration was skipped at its gate; no check ran on the crashing canary.
    assert!(
        !r.stdout.contains("step create-migration-job"),
        "{}",
        r.printed()
    );
    assert!(!r.stdout.contains("step check-20"), "{}", r.printed());
}

#[test]
fn plan_rehearse_lists_the_deploys_stand_ins() {
    // npm's tests and redis-cli FLUSHALL / INFO (no exec) stand in; everything else runs against
    // the stand-ins, the db-migrate Job made from its CronJob included.
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (28, 3, 0));
}

//! `runbooks/normaldance/canary-rollout.yaml` rehearsed on NORMALDANCE's cluster, whose
//! production workloads Argo CD deploys from the deploy repository's v1.8.2: Argo CD's automated
//! sync suspended, api-server's canary taken through 5 → 25 → 50 → 100 % with the users' error
//! rate checked at each weight, the tag committed and auto-sync restored exactly, with no pod
//! restarted; a canary answering 10 % errors over the warning threshold at 5 %, and one answering
//! 40 % over the critical one, each aborted with auto-sync restored and git unchanged.

use super::{assert_says, line_with, printed_value, rehearsed};

const RUNBOOK: &str = "runbooks/normaldance/canary-rollout.yaml";

const SUSPENDED: &str = "application/normaldance-production: automated sync on {\"prune\":true,\"selfHeal\":true} → off";
const RESTORED: &str = "application/normaldance-production: automated sync off → on {\"prune\":true,\"selfHeal\":true}";

#[test]
fn the_canary_goes_through_every_weight_and_git_takes_it_back_without_a_restart() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/canary-rollout-happy.yaml",
        &[],
    );
    assert_says(&r, SUSPENDED);
    // Three replicas and no traffic router: the weight is approximated by pods.
    for (step, want) in [
        (
            "at-5",
            "rollout/api-server: step 1/6 · weight 5 % · canary 1/1 ready · stable 3/3 ready · Paused (CanaryPauseStep)",
        ),
        (
            "at-25",
            "rollout/api-server: step 3/6 · weight 25 % · canary 1/1 ready · stable 3/3 ready · Paused (CanaryPauseStep)",
        ),
        (
            "at-50",
            "rollout/api-server: step 5/6 · weight 50 % · canary 2/2 ready · stable 2/2 ready · Paused (CanaryPauseStep)",
        ),
        (
            "at-100",
            "rollout/api-server: step 6/6 · weight 100 % · stable 3/3 ready · Healthy",
        ),
    ] {
        let prefix = format!(" REHEARSAL {step} | ");
        line_with(&r, &[prefix.as_str(), want]);
    }
    for step in [
        "critical-5",
        "check-5",
        "critical-25",
        "check-25",
        "critical-50",
        "check-50",
    ] {
        let prefix = format!(" REHEARSAL {step} ! ");
        line_with(&r, &[prefix.as_str(), "400 requests, errors 0.0 %"]);
    }
    line_with(
        &r,
        &[" REHEARSAL users-after ! ", "200 requests, errors 0.0 %"],
    );
    // The promoted tag in git, auto-sync back exactly as it was, Argo CD Synced at that commit.
    assert_says(&r, "api-server v1.8.2 → v1.9.0 committed to main");
    let revision = printed_value(&r, "commit-version", "revision");
    assert_eq!(revision.len(), 40, "{revision}");
    // Argo CD compares the commit before auto-sync comes back, so it has nothing to sync.
    let git_synced = format!(
        "git-synced | application/normaldance-production: sync Synced · health Healthy · revision {}",
        &revision[..7]
    );
    assert_says(&r, &git_synced);
    assert_says(&r, RESTORED);
    assert!(
        r.stdout.find(&git_synced) < r.stdout.find(RESTORED),
        "{}",
        r.printed()
    );
    assert_says(
        &r,
        &format!(
            "application/normaldance-production: sync Synced · health Healthy · revision {}",
            &revision[..7]
        ),
    );
    assert_says(&r, &format!("git-is-live | Synced {revision}"));
    assert_says(&r, "the same 3 pods, no restart");
}

#[test]
fn a_canary_over_the_warning_threshold_is_aborted_with_auto_sync_restored_and_git_unchanged() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/canary-rollout-errors.yaml",
        &[],
    );
    // One canary pod of four answering 10 % errors: 2.5 % of the users' requests.
    line_with(
        &r,
        &[" REHEARSAL critical-5 ! ", "400 requests, errors 2.5 %"],
    );
    line_with(
        &r,
        &[
            "!! step check-5 failed",
            "error rate 2.5 % over 400 requests > max 1 %: 10 × 500",
        ],
    );
    assert_says(&r, "rollout 'api-server' aborted");
    assert_says(&r, RESTORED);
    line_with(
        &r,
        &[
            " REHEARSAL app-synced-to-git | ",
            "sync Synced · health Healthy",
        ],
    );
    let head = printed_value(&r, "git-now", "head");
    assert_says(&r, &format!("git unchanged: main is still {head}"));
    let last = r
        .stdout
        .lines()
        .rfind(|l| l.contains(" REHEARSAL stable-only ! "))
        .unwrap_or_default();
    assert!(
        last.contains("400 requests, errors 0.0 %"),
        "{last}\n{}",
        r.printed()
    );
    assert!(!r.stdout.contains("weight 25 %"), "{}", r.printed());
    assert!(!r.stdout.contains("committed to main"), "{}", r.printed());
}

#[test]
fn a_canary_over_the_critical_threshold_is_aborted_without_a_question() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/normaldance/rehearsals/canary-rollout-critical.yaml",
        &[],
    );
    line_with(
        &r,
        &[
            "!! step critical-5 failed",
            "error rate 10.0 % over 400 requests > max 5 %: 40 × 500",
        ],
    );
    assert_says(&r, "gate critical-5: rollback by");
    assert!(!r.stdout.contains("step check-5"), "{}", r.printed());
    assert_says(&r, "rollout 'api-server' aborted");
    assert_says(&r, RESTORED);
    let head = printed_value(&r, "git-now", "head");
    assert_says(&r, &format!("git unchanged: main is still {head}"));
}

#[test]
fn plan_rehearse_runs_every_step_of_the_canary_against_the_stand_ins() {
    assert_eq!(crate::labelmint::plan::plan(RUNBOOK), (34, 0, 0));
}

//! `runbooks/labelmint/emergency-stop.yaml` rehearsed from LabelMint's steady state: every
//! deployment scaled to 0 and back up stage by stage, a stage that crash-loops taking the run to
//! its failure path (every replica count put back), the stop refused at its gate, and the
//! `plan --rehearse` coverage.

use super::{assert_journal_says_rehearsal, assert_says, rehearsed};

const RUNBOOK: &str = "runbooks/labelmint/emergency-stop.yaml";

#[test]
fn labelmint_is_stopped_and_scaled_back_up_stage_by_stage() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/emergency-stop-happy.yaml",
        &[],
    );
    assert_journal_says_rehearsal(&r);
    // The stop replaced every count (journaled), and the ingress answered 503 once it had.
    for (d, n) in [
        ("labelmint-web", 2),
        ("api-gateway", 2),
        ("labeling-backend", 2),
        ("payment-backend", 2),
        ("client-bot", 1),
        ("worker-bot", 1),
    ] {
        assert!(
            r.stdout.contains(&format!("deployment/{d} scaled {n} → 0")),
            "{d}:\n{}",
            r.printed()
        );
        assert!(
            r.stdout.contains(&format!("deployment/{d} scaled 0 → {n}")),
            "{d}:\n{}",
            r.printed()
        );
    }
    assert_says(&r, "1 × 503");
    assert_says(&r, "20 × 200");
}

#[test]
fn a_stage_that_crash_loops_puts_every_replica_count_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/emergency-stop-crashloop.yaml",
        &[
            "--inject",
            "crashloop=payment-backend@scale-payment-backend",
        ],
    );
    let failure = r
        .stdout
        .lines()
        .find(|l| l.contains("!! step payment-backend-ready failed"))
        .unwrap_or_else(|| panic!("the stage failed:\n{}", r.printed()));
    assert!(failure.contains("exit 1"), "{failure}");
    assert_says(&r, "payment-backend does not start");
    assert_says(&r, "CrashLoopBackOff");
    // The bots, still at 0 when the stage failed, get their counts back from the stop's journal.
    for d in ["client-bot", "worker-bot"] {
        assert!(
            r.stdout.contains(&format!("deployment/{d} scaled 0 → 1")),
            "{d}:\n{}",
            r.printed()
        );
    }
}

#[test]
fn a_refused_stop_changes_nothing() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/emergency-stop-rejected.yaml",
        &[],
    );
    assert!(!r.stdout.contains("→ 0"), "{}", r.printed());
}

#[test]
fn plan_rehearse_covers_the_emergency_stop() {
    // Only the RDS status read has no stand-in.
    assert_eq!(super::plan::plan(RUNBOOK), (30, 0, 1));
}

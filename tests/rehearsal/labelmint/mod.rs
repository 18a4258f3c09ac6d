//! LabelMint's runbooks (`runbooks/labelmint/`) rehearsed with the decisions files kept next to
//! them (`runbooks/labelmint/rehearsals/`), each by the binary, headless, against its own
//! stand-ins; and `tollgate plan --rehearse`. A module per runbook.

mod dr_restore;
mod emergency_stop;
mod first_deploy;
mod incidents;
pub(crate) mod plan;
mod rollback_application;
mod rollback_database;
mod rotate_secrets;

use std::time::Duration;

use crate::common::rehearse::{Rehearsed, rehearse};

/// The most one rehearsal may take (they take seconds at `--speed 50`).
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Exit 0, or the whole output (exit 7 lists each point of the expectation unmet).
#[track_caller]
pub fn assert_expectation_held(r: &Rehearsed) {
    assert_eq!(r.code, Some(0), "{}", r.printed());
}

/// Every line the rehearsal printed is marked as a rehearsal's: `REHEARSAL` on each line of the
/// run, and the verdict lines at the end name the rehearsal (`rehearsal ID: as expected`).
#[track_caller]
pub fn assert_every_line_says_rehearsal(r: &Rehearsed) {
    for (stream, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let verdict =
                line.starts_with("rehearsal ") || line.starts_with("tollgate: rehearsal ");
            assert!(
                line.contains(" REHEARSAL ") || verdict,
                "a line of {stream} without REHEARSAL: {line:?}\n{}",
                r.printed()
            );
        }
    }
}

/// The run's journal says it was a rehearsal.
#[track_caller]
pub fn assert_journal_says_rehearsal(r: &Rehearsed) {
    let journal = r.journal();
    let first = journal.first().expect("a journal with lines");
    assert_eq!(
        first.get("rehearsal"),
        Some(&serde_json::json!(true)),
        "the journal's first line: {first}"
    );
}

/// Rehearses `runbook` with `decisions` (and `extra` flags) and checks what every seed rehearsal
/// must hold: the decisions file's expectation, and every printed line marked as a rehearsal's.
#[track_caller]
pub fn rehearsed(runbook: &str, decisions: &str, extra: &[&str]) -> Rehearsed {
    let r = rehearse(runbook, decisions, extra, DEADLINE);
    assert_expectation_held(&r);
    assert_every_line_says_rehearsal(&r);
    r
}

/// The rehearsal printed `text` on stdout.
#[track_caller]
pub fn assert_says(r: &Rehearsed, text: &str) {
    assert!(r.stdout.contains(text), "no {text:?} in:\n{}", r.printed());
}

/// LabelMint's six deployments, as seed 000 names them.
pub const DEPLOYMENTS: [&str; 6] = [
    "labelmint-web",
    "api-gateway",
    "labeling-backend",
    "payment-backend",
    "client-bot",
    "worker-bot",
];

/// Every one of LabelMint's deployments rolled out (`kube.rollout_status` said so).
#[track_caller]
pub fn assert_every_deployment_rolled_out(r: &Rehearsed) {
    for d in DEPLOYMENTS {
        assert_says(r, &format!("deployment \"{d}\" successfully rolled out"));
    }
}

/// The lines of `step`'s output (`HH:MM:SS.mmm REHEARSAL STEP | …` and its live lines
/// `… STEP ! …`).
pub fn lines_of<'a>(stdout: &'a str, step: &str) -> Vec<&'a str> {
    let out = format!(" REHEARSAL {step} | ");
    let live = format!(" REHEARSAL {step} ! ");
    stdout
        .lines()
        .filter(|l| l.contains(&out) || l.contains(&live))
        .collect()
}

/// The instant (seconds since midnight) a headless line was printed.
pub fn at(line: &str) -> f64 {
    let t = line.split_whitespace().next().unwrap_or_default();
    let mut parts = t.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

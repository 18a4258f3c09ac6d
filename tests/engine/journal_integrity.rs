//! `resume` acts on a journal only if tollgate could have written it: a hand-written record, a
//! decision for a gate that was not open, or a runbook changed without the change accepted, is
//! refused with the journal's path, the line and what is wrong (exit 5), and `runs` says why.

use std::path::Path;

use crate::common::binary::{Bin, text};
use tollgate::engine::journal::{self, Record};
use tollgate::engine::{Choice, GateKind};

const DEMO: &str = "tests/fixtures/runbooks/valid/shell-deploy.yaml";

/// The shell-only deploy paused at its destructive `deploy` gate (exit 3).
fn paused_at_deploy(bin: &Bin) -> std::path::PathBuf {
    let out = bin.run(&[
        "run",
        DEMO,
        "--headless",
        "--approve",
        "preflight",
        "--approve",
        "build",
    ]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    bin.only_run().1
}

/// Appended chained to the last line, as a forger who knows the chain would: refused by the
/// rule it breaks.
fn append(path: &Path, line: &str) {
    crate::common::append_chained(path, line);
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

/// What is wrong, from the one line `resume` prints when it refuses a journal: `… PATH:LINE: …`.
fn refusal(stderr: &str, path: &Path, line: usize) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    let at = format!("{}:{line}: ", path.display());
    let start = lines[0]
        .find(&at)
        .unwrap_or_else(|| panic!("no `{at}` in {stderr}"));
    lines[0][start + at.len()..].to_string()
}

#[test]
fn a_hand_written_approval_appended_to_a_paused_run_is_refused() {
    let bin = Bin::new();
    let path = paused_at_deploy(&bin);
    append(
        &path,
        r#"{"seq":1,"at":"2000-01-01T00:00:00Z","event":"gate_decided","gate":"deploy","kind":"phase","choice":"approve","who":"x","via":"y"}"#,
    );
    let n = line_count(&path);
    let out = bin.run(&["resume", "--headless"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let why = refusal(&stderr, &path, n);
    assert!(
        why.contains(&format!("sequence number 1 where {n} was due")),
        "{why}"
    );
    assert!(
        !stdout.contains("reserve-capacity"),
        "ran past the gate:\n{stdout}"
    );
    // Nothing was done: no line added, no resume audited.
    assert_eq!(line_count(&path), n);
    assert!(!bin.audit().contains("\"run_resumed\""), "{}", bin.audit());

    let listed = text(&bin.run(&["runs"])).0;
    assert!(listed.contains("not resumable"), "{listed}");
    assert!(
        listed.contains(&format!("{}:{n}: sequence number 1", path.display())),
        "{listed}"
    );
}

#[test]
fn an_approval_with_the_next_number_for_a_gate_no_longer_open_is_refused() {
    let bin = Bin::new();
    let path = paused_at_deploy(&bin);
    let n = line_count(&path) + 1;
    // Numbered and timed as tollgate would; but the run paused, which closed the gate.
    append(
        &path,
        &format!(
            r#"{{"seq":{n},"at":"{}","event":"gate_decided","gate":"deploy","kind":"phase","choice":"approve","who":"x","via":"y"}}"#,
            tollgate::engine::now_rfc3339()
        ),
    );
    let out = bin.run(&["resume", "--headless"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let why = refusal(&stderr, &path, n);
    assert!(why.contains("gate `deploy`, which was not open"), "{why}");
    assert!(
        !stdout.contains("reserve-capacity"),
        "ran past the gate:\n{stdout}"
    );
}

#[test]
fn a_record_dated_before_the_previous_one_is_refused() {
    let bin = Bin::new();
    let path = paused_at_deploy(&bin);
    let n = line_count(&path) + 1;
    append(
        &path,
        &format!(r#"{{"seq":{n},"at":"2000-01-01T00:00:00Z","event":"run_paused","reason":"x"}}"#),
    );
    let out = bin.run(&["resume", "--headless"]);
    assert_eq!(out.status.code(), Some(5), "{:?}", text(&out));
    let why = refusal(&text(&out).1, &path, n);
    assert!(why.contains("time 2000-01-01T00:00:00Z is before"), "{why}");
}

const GATED: &str = "name: gated\nphases:\n  - id: ship\n    gate: true\n    steps:\n      - id: go\n        run: echo shipped\n";

#[test]
fn a_changed_runbook_is_refused_unless_accepted_and_the_acceptance_is_a_journaled_decision() {
    let bin = Bin::new();
    let rb = bin.runbook("gated.yaml", GATED);
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let (_, path) = bin.only_run();
    std::fs::write(&rb, GATED.replace("echo shipped", "echo shipped twice")).unwrap();

    let out = bin.run(&["resume", "--headless", "--approve", "ship"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    let why = refusal(&stderr, &path, 1);
    assert!(why.contains("changed since this run last ran it"), "{why}");
    assert!(why.contains("--accept-changed-runbook"), "{why}");
    assert!(!stdout.contains("shipped"), "{stdout}");

    let out = bin.run(&[
        "resume",
        "--headless",
        "--approve",
        "ship",
        "--accept-changed-runbook",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("shipped twice"), "{stdout}");
    let lines = journal::read_lines(&path).unwrap().0;
    let accepted = lines.iter().find_map(|l| match &l.record {
        Record::GateDecided {
            kind: GateKind::RunbookChanged,
            choice,
            via,
            who,
            ..
        } => Some((*choice, via.clone(), who.clone())),
        _ => None,
    });
    let (choice, via, who) = accepted.expect("the accepted change is journaled");
    assert_eq!(choice, Choice::Approve);
    assert_eq!(via, "--accept-changed-runbook");
    assert!(who.starts_with("ops-tester@"), "{who}");
    let audited = crate::common::audit_lines(&bin.state());
    assert!(
        audited.iter().any(|l| l["event"] == "gate_decided"
            && l["kind"] == "runbook_changed"
            && l["via"] == "--accept-changed-runbook"),
        "{audited:?}"
    );
    // The journal, with the change accepted, is still one tollgate wrote.
    assert!(journal::read_replay(&path).is_ok());
}

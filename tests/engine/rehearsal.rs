//! A rehearsal driven headless by its decisions file: gates approved, rejected, skipped, rolled
//! back and retried as the script says (journaled via `rehearsal-script`, with its notes), a gate
//! it does not name pausing the run, the expectation checked against the journal, the file's
//! problems one line each with where, and every printed line marked `REHEARSAL`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate::engine::journal::{self, ConfirmedItem, Record};
use tollgate::engine::{Choice, Engine, Outcome, RunStatus};
use tollgate::exec::Router;
use tollgate::headless::{Approvals, Printer};
use tollgate::protocol::{Command, Event, Secret, ValueRequest};
use tollgate::rehearsal::decisions::{self, Decisions};

use crate::common;

const DEADLINE: Duration = Duration::from_secs(30);

const RUNBOOK: &str = r#"
name: rehearsed
targets: { environment: staging }
phases:
  - id: prepare
    gate: { message: "prepare?" }
    steps:
      - { id: step-a, run: "echo a" }
  - id: deploy
    gate: { destructive: true }
    checklist: ["backups taken"]
    steps:
      - { id: step-b, run: "echo b" }
      - id: flaky
        run: 'test -e "$runbook_dir/marker" || { touch "$runbook_dir/marker"; echo first try fails; exit 1; }'
  - id: optional
    allow_skip: true
    gate: { message: "the optional part?" }
    steps:
      - { id: step-c, run: "echo c" }
"#;

struct Rehearsed {
    outcome: Outcome,
    records: Vec<Record>,
    printed: String,
    journal: std::path::PathBuf,
    decisions: Decisions,
    runbook: Arc<tollgate::runbook::Runbook>,
}

impl Rehearsed {
    /// Every decision journaled: gate, choice, via, note.
    fn decided(&self) -> Vec<(String, Choice, String, Option<String>)> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::GateDecided {
                    gate,
                    choice,
                    via,
                    note,
                    ..
                } => Some((gate.clone(), *choice, via.clone(), note.clone())),
                _ => None,
            })
            .collect()
    }

    fn expectation(&self) -> Result<(), Vec<String>> {
        self.decisions
            .expect
            .check_journal(&self.outcome, &self.journal, &self.runbook)
    }
}

/// Rehearses `runbook` in `dir` headless, its gates decided by the decisions file `script`.
async fn rehearse(dir: &Path, runbook: &str, script: &str) -> Rehearsed {
    let file = dir.join("decisions.yaml");
    std::fs::write(&file, script).unwrap();
    let decisions = decisions::load(&file).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let mut spec = common::spec(dir, runbook, &[], false);
    assert!(
        decisions.check_ids(&spec.runbook).is_empty(),
        "{:?}",
        decisions.check_ids(&spec.runbook)
    );
    spec.rehearsal = true;
    let runbook = spec.runbook.clone();
    let jpath = spec.journal.path().to_path_buf();
    let mut approvals = Approvals {
        who: "tester@host".into(),
        ..Approvals::default()
    };
    decisions.apply(&mut approvals);
    let (ev_tx, events) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let engine = Engine::new(spec, Arc::new(Router::shell_only()), ev_tx, cmd_rx);
    let handle = tokio::spawn(engine.run());
    let mut out = Vec::new();
    {
        let mut printer = Printer::new(&mut out).rehearsal(true);
        tokio::time::timeout(
            DEADLINE,
            tollgate::headless::drive(events, cmd_tx, approvals, &mut printer),
        )
        .await
        .expect("the rehearsal ends within the deadline")
        .unwrap();
    }
    let outcome = handle.await.unwrap().unwrap();
    let (lines, _) = journal::read_lines(&jpath).unwrap();
    Rehearsed {
        outcome,
        records: lines.into_iter().map(|l| l.record).collect(),
        printed: String::from_utf8(out).unwrap(),
        journal: jpath,
        decisions,
        runbook,
    }
}

const VIA: &str = "rehearsal-script";

#[tokio::test]
async fn a_script_approves_skips_and_retries_and_every_decision_is_journaled_as_its() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        r#"
runbook: runbook.yaml
gates:
  prepare: approve
  deploy: { choice: approve, note: "plan reviewed" }   # the gate's own word: staging
  flaky: { choice: retry, note: "it fails once" }
  optional: { choice: skip, note: "not today" }
expect:
  outcome: succeeded
  ran: [step-a, step-b, flaky]
  skipped: [step-c]
"#,
    )
    .await;
    assert_eq!(
        r.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        r.printed
    );
    assert_eq!(
        r.decided(),
        vec![
            ("prepare".into(), Choice::Approve, VIA.into(), None),
            (
                "deploy".into(),
                Choice::Approve,
                VIA.into(),
                Some("plan reviewed".into())
            ),
            (
                "flaky".into(),
                Choice::Retry,
                VIA.into(),
                Some("it fails once".into())
            ),
            (
                "optional".into(),
                Choice::Skip,
                VIA.into(),
                Some("not today".into())
            ),
        ]
    );
    // The destructive gate passed with its own word, its checklist confirmed by the script.
    let deploy = r
        .records
        .iter()
        .find_map(|rec| match rec {
            Record::GateDecided {
                gate,
                destructive,
                checklist,
                ..
            } if gate == "deploy" => Some((*destructive, checklist.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        deploy,
        (
            true,
            vec![ConfirmedItem {
                item: "backups taken".into(),
                confirmed: true
            }]
        )
    );
    assert!(matches!(
        r.records.first(),
        Some(Record::RunStarted {
            rehearsal: true,
            ..
        })
    ));
    assert_eq!(r.expectation(), Ok(()));
    // Every line says it is a rehearsal: events and the steps' output alike.
    assert!(
        r.printed.contains(" REHEARSAL step-a | a\n"),
        "{}",
        r.printed
    );
    assert!(
        r.printed
            .contains(" REHEARSAL ?? gate deploy: approve by tester@host via rehearsal-script"),
        "{}",
        r.printed
    );
    for line in r.printed.lines() {
        assert_eq!(line.split(' ').nth(1), Some("REHEARSAL"), "{line}");
    }
}

#[tokio::test]
async fn a_rejection_ends_the_run_and_an_unmet_expectation_says_each_point() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        r#"
gates:
  prepare: { choice: reject, note: "rehearsing the rejection" }
expect:
  outcome: succeeded
  ran: [step-a]
  failed: [step-b]
"#,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Finished(RunStatus::Rejected));
    assert_eq!(
        r.decided(),
        vec![(
            "prepare".into(),
            Choice::Reject,
            VIA.into(),
            Some("rehearsing the rejection".into())
        )]
    );
    assert_eq!(
        r.expectation(),
        Err(vec![
            "expected outcome succeeded, the run was rejected at a gate".to_string(),
            "expected step-a to have run; it never ran".to_string(),
            "expected step-b to have failed; it never ran".to_string(),
        ])
    );
}

#[tokio::test]
async fn a_script_rolls_back_a_failed_step_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: fails
phases:
  - id: p
    steps:
      - id: broken
        run: exit 3
        on_failure: { goto: undo }
      - { id: never, run: "true" }
  - id: undo
    rollback: true
    steps:
      - { id: restore, run: echo restored }
"#;
    let r = rehearse(
        dir.path(),
        yaml,
        r#"
gates:
  broken: { choice: rollback, note: "rehearsing the way back" }
expect:
  outcome: rolled-back
  failed: [broken]
  ran: [restore, never]
"#,
    )
    .await;
    assert_eq!(r.outcome, Outcome::Finished(RunStatus::RolledBack));
    assert_eq!(
        r.decided(),
        vec![(
            "broken".into(),
            Choice::Rollback,
            VIA.into(),
            Some("rehearsing the way back".into())
        )]
    );
    assert_eq!(
        r.expectation(),
        Err(vec!["expected never to have run; it never ran".to_string()])
    );
}

#[tokio::test]
async fn a_gate_the_script_does_not_name_pauses_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        "gates: { prepare: approve }\nexpect: { outcome: paused, ran: [step-a] }\n",
    )
    .await;
    let Outcome::Paused(reason) = &r.outcome else {
        panic!("{:?}\n{}", r.outcome, r.printed);
    };
    assert!(
        reason.starts_with("gate `deploy` needs a decision"),
        "{reason}"
    );
    assert_eq!(r.decided().len(), 1);
    assert_eq!(r.expectation(), Ok(()));
}

#[tokio::test]
async fn a_wrong_confirmation_word_in_the_script_is_refused_and_the_run_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        "gates:\n  prepare: approve\n  deploy: { choice: approve, word: production }\n",
    )
    .await;
    let Outcome::Paused(reason) = &r.outcome else {
        panic!("{:?}\n{}", r.outcome, r.printed);
    };
    assert!(reason.starts_with("gate `deploy`: "), "{reason}");
    assert!(
        !r.records
            .iter()
            .any(|rec| matches!(rec, Record::StepStarted { step, .. } if step == "step-b"))
    );
    // With the gate's own word, written out, it passes.
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        "gates:\n  prepare: approve\n  deploy: { choice: approve, word: staging }\n  flaky: retry\n  optional: approve\n",
    )
    .await;
    assert_eq!(
        r.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        r.printed
    );
}

#[tokio::test]
async fn a_scripted_retry_is_made_once_then_the_failure_path_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
name: always fails
phases:
  - id: p
    steps:
      - { id: broken, run: exit 3 }
"#;
    let r = rehearse(
        dir.path(),
        yaml,
        "gates: { broken: retry }\nexpect: { outcome: aborted, failed: [broken] }\n",
    )
    .await;
    assert_eq!(
        r.outcome,
        Outcome::Finished(RunStatus::Failed),
        "{}",
        r.printed
    );
    let decided: Vec<(Choice, String)> = r
        .decided()
        .into_iter()
        .map(|(_, c, via, _)| (c, via))
        .collect();
    assert_eq!(
        decided,
        vec![
            (Choice::Retry, VIA.to_string()),
            (Choice::Abort, "automatic (non-interactive)".to_string())
        ]
    );
    assert_eq!(
        r.expectation(),
        Err(vec!["expected outcome aborted, the run failed".to_string()])
    );
}

#[tokio::test]
async fn a_masked_prompt_is_answered_from_the_scripts_prompts() {
    let (ev_tx, events) = mpsc::channel(16);
    let (cmd_tx, mut commands) = mpsc::channel(16);
    let d = decisions::parse(
        Path::new("d.yaml"),
        "prompts:\n  put-token: made-up-token-1234\n  db_password: made-up-password\n",
    )
    .unwrap();
    assert_eq!(d.prompt("db_password").as_deref(), Some("made-up-password"));
    let mut approvals = Approvals::default();
    d.apply(&mut approvals);
    ev_tx
        .send(Event::ValueRequested(ValueRequest {
            step: "put-token".into(),
            prompt: "The new token".into(),
            purpose: "secrets.put app/token".into(),
        }))
        .await
        .unwrap();
    drop(ev_tx);
    let mut out = Vec::new();
    let mut printer = Printer::new(&mut out).rehearsal(true);
    tollgate::headless::drive(events, cmd_tx, approvals, &mut printer)
        .await
        .unwrap();
    drop(printer);
    assert_eq!(
        commands.recv().await,
        Some(Command::Value {
            step: "put-token".into(),
            value: Ok(Secret("made-up-token-1234".into())),
        })
    );
    let printed = String::from_utf8(out).unwrap();
    assert!(!printed.contains("made-up-token"), "{printed}");
    assert!(
        printed.contains("put-token: value given by the rehearsal script"),
        "{printed}"
    );
}

#[test]
fn the_opening_lines_say_where_the_sandbox_and_the_stand_ins_are() {
    let mut out = Vec::new();
    let mut p = Printer::new(&mut out).rehearsal(true);
    p.rehearsal_opening(
        "http://127.0.0.1:40123",
        Path::new("/tmp/r/kubeconfig"),
        &[
            ("AWS", "http://127.0.0.1:40124"),
            ("Docker", "unix:///tmp/r/docker.sock"),
        ],
    )
    .unwrap();
    drop(p);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with(" REHEARSAL == rehearsal: Kubernetes sandbox at http://127.0.0.1:40123; export KUBECONFIG=/tmp/r/kubeconfig"), "{text}");
    assert!(
        lines[1].ends_with(" REHEARSAL == rehearsal: AWS stand-in at http://127.0.0.1:40124"),
        "{text}"
    );
    assert!(
        lines[2].ends_with(" REHEARSAL == rehearsal: Docker stand-in at unix:///tmp/r/docker.sock"),
        "{text}"
    );
    // Not a rehearsal: no mark.
    let mut out = Vec::new();
    let mut p = Printer::new(&mut out);
    p.event(&Event::Note("hello".into())).unwrap();
    p.flush().unwrap();
    drop(p);
    assert!(!String::from_utf8(out).unwrap().contains("REHEARSAL"));
}

#[test]
fn a_decisions_files_follow_section_takes_the_same_keys_for_the_runbook_followed() {
    let text = "\
gates: { deploy: approve }
follow:
  gates:
    revert: approve
    undo: aprove
  promts: {}
  expect: { outcome: succeeded }
";
    let errs = decisions::parse(Path::new("r/f.yaml"), text).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "r/f.yaml:5:11: unknown choice `aprove`; a gate is decided by one of: approve, reject, skip, rollback, retry, mark-done, abort",
            "r/f.yaml:6:3: unknown key `promts` in `follow` (did you mean `prompts`?); it takes `runbook`, `vars`, `prompts`, `gates`, `expect`, `follow`",
        ]
    );
    let d = decisions::parse(
        Path::new("r/f.yaml"),
        "follow:\n  gates: { revert: approve }\n  expect: { outcome: succeeded }\n",
    )
    .unwrap();
    assert!(d.gates.is_empty(), "the first run's gates are its own");
    let f = d.follow.expect("follow");
    assert!(f.gates.contains_key("revert"));
    assert!(!f.expect.is_empty());
}

#[test]
fn every_problem_of_a_decisions_file_is_one_line_with_where() {
    let text = "\
gates:
  prepare: aprove
  deploy: { choice: approve, nots: x }
  optional: { note: y }
expect:
  outcome: done
  ran: step-a
promts: {}
";
    let errs = decisions::parse(Path::new("r/happy.yaml"), text).unwrap_err();
    assert_eq!(
        errs,
        vec![
            "r/happy.yaml:2:12: unknown choice `aprove`; a gate is decided by one of: approve, reject, skip, rollback, retry, mark-done, abort",
            "r/happy.yaml:3:30: unknown key `nots` in gate `deploy` (did you mean `note`?); it takes `choice`, `note`, `word`, `approvers`, `after`",
            "r/happy.yaml:4:13: gate `optional` names no `choice`",
            "r/happy.yaml:6:12: unknown outcome `done`; a run ends as one of: succeeded, failed, rolled-back, paused, aborted, rejected",
            "r/happy.yaml:7:8: `expect.ran` must be a list of step ids, not a string",
            "r/happy.yaml:8:1: unknown key `promts` in the decisions file (did you mean `prompts`?); it takes `runbook`, `vars`, `prompts`, `gates`, `expect`, `follow`",
        ]
    );
    // Not YAML at all: one line, with where.
    let errs = decisions::parse(Path::new("d.yaml"), "gates: [\n").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("d.yaml:"), "{errs:?}");
    // Names the runbook lacks.
    let dir = tempfile::tempdir().unwrap();
    let spec = common::spec(dir.path(), RUNBOOK, &[], false);
    let d = decisions::parse(
        Path::new("d.yaml"),
        "vars: { a: b }\ngates: { deplyo: approve }\nexpect: { skipped: [step-z, step-c] }\n",
    )
    .unwrap();
    assert_eq!(d.vars, vec![("a".to_string(), "b".to_string())]);
    assert_eq!(
        d.check_ids(&spec.runbook),
        vec![
            "d.yaml:2:18: the runbook has no phase or step `deplyo` (did you mean `deploy`?)",
            "d.yaml:3:21: the runbook has no step `step-z` (did you mean `step-a`?)",
        ]
    );
}

#[test]
fn every_line_of_a_text_of_several_lines_carries_the_rehearsal_mark() {
    let mut out = Vec::new();
    let mut p = Printer::new(&mut out).rehearsal(true);
    p.event(&tollgate::engine::Event::Note(
        "first line\nsecond line\nthird".into(),
    ))
    .unwrap();
    p.flush().unwrap();
    drop(p);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (l, want) in lines.iter().zip(["first line", "second line", "third"]) {
        assert!(l.contains(" REHEARSAL ") && l.ends_with(want), "{text}");
    }
}

const TWO_PEOPLE: &str = r#"
name: two people
four_eyes: destructive
phases:
  - id: promote
    gate: { destructive: true, confirm: promote }
    steps:
      - { id: promote-it, run: "echo promoted" }
"#;

/// A gate that needs two people is rehearsed with the two the script lists (`approvers:`),
/// each journaled by name; a script that gives one person's approval stops there, saying how to
/// give the second; a name listed twice is refused with where.
#[tokio::test]
async fn a_two_person_gate_is_rehearsed_with_the_scripts_approvers() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        TWO_PEOPLE,
        "gates: { promote: { choice: approve, approvers: [ana, li] } }\nexpect: { outcome: succeeded }\n",
    )
    .await;
    assert_eq!(
        r.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        r.printed
    );
    let approved: Vec<&str> = r
        .records
        .iter()
        .filter_map(|rec| match rec {
            Record::GateApproved { who, .. } => Some(who.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(approved, ["ana"]);
    let decided: Vec<&str> = r
        .records
        .iter()
        .filter_map(|rec| match rec {
            Record::GateDecided { who, .. } => Some(who.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(decided, ["li"]);

    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        TWO_PEOPLE,
        "gates: { promote: approve }\nexpect: { outcome: paused }\n",
    )
    .await;
    let Outcome::Paused(reason) = &r.outcome else {
        panic!("{:?}\n{}", r.outcome, r.printed);
    };
    assert!(
        reason.contains("needs 2 people's approval") && reason.contains("approvers:"),
        "{reason}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("decisions.yaml");
    std::fs::write(
        &file,
        "gates:\n  promote: { choice: approve, approvers: [ana, ana] }\n",
    )
    .unwrap();
    let problems = decisions::load(&file).expect_err("a name twice");
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":2:48:") && p.contains("names `ana` twice")),
        "{problems:?}"
    );
}

/// A script's `after` is a person's time to think: the run waits at the gate that long before
/// the script's decision is made, saying so; in simulated time, divided by the rehearsal's
/// `--speed`; a duration that is not one is refused with where.
#[tokio::test]
async fn a_scripts_after_waits_at_the_gate_before_deciding() {
    let dir = tempfile::tempdir().unwrap();
    let r = rehearse(
        dir.path(),
        RUNBOOK,
        "gates:\n  prepare: { choice: approve, after: 400ms }\n  deploy: approve\n  flaky: retry\n  optional: skip\nexpect: { outcome: succeeded }\n",
    )
    .await;
    assert_eq!(r.expectation(), Ok(()), "{}", r.printed);
    assert!(
        r.printed
            .contains("gate prepare: the rehearsal script decides after 0.4s"),
        "{}",
        r.printed
    );
    let (lines, _) = journal::read_lines(&r.journal).unwrap();
    let at = |want: &dyn Fn(&Record) -> bool| {
        let l = lines.iter().find(|l| want(&l.record)).expect("the line");
        chrono::DateTime::parse_from_rfc3339(&l.at).unwrap()
    };
    let reached = at(&|rec| matches!(rec, Record::GateReached { gate, .. } if gate == "prepare"));
    let decided = at(&|rec| matches!(rec, Record::GateDecided { gate, .. } if gate == "prepare"));
    assert!(
        decided - reached >= chrono::Duration::milliseconds(400),
        "decided {decided}, reached {reached}"
    );

    // Simulated time: a minute at --speed 50 is 1.2 s; the follow section's too.
    let d = decisions::parse(
        Path::new("d.yaml"),
        "gates: { prepare: { choice: approve, after: 1m } }\nfollow: { gates: { revert: { choice: approve, after: 10s } } }\n",
    )
    .unwrap()
    .at_speed(50.0);
    assert_eq!(d.gates["prepare"].after, Some(Duration::from_millis(1200)));
    let f = d.follow.expect("follow");
    assert_eq!(f.gates["revert"].after, Some(Duration::from_millis(200)));

    let errs = decisions::parse(
        Path::new("d.yaml"),
        "gates:\n  prepare: { choice: approve, after: soon }\n",
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("d.yaml:2:38: `after`: "), "{errs:?}");
}

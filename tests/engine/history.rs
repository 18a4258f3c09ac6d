//! A resumed run tells its views what it had done before, from its journal, before anything of
//! the new session: decisions with who and how, checklists confirmed, durations, errors and the
//! last lines of a failed step, values captured (a secret's masked), the commands as they ran.
//! Journals written before these were kept still resume.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate::engine::journal::{self, Replay};
use tollgate::engine::variables::MASK as MASK_TEXT;
use tollgate::engine::{
    Choice, Command, Decision, Engine, Event, GateKind, GateRequest, History, Outcome, OutputLine,
    Past, RunStatus, StepStatus, Stream,
};

use crate::common::spec;

const DEADLINE: Duration = Duration::from_secs(20);

const YAML: &str = r#"
name: history
variables:
  pw: { secret: true }
phases:
  - id: prep
    checklist: [Backups taken, Channel told]
    steps:
      - id: workspace
        run: 'echo "workspace=$runbook_dir/ws"'
        capture: [{ var: workspace, regex: 'workspace=(\S+)' }]
      - id: token
        run: 'echo "token=$pw"'
        capture: [{ var: token, regex: 'token=(\S+)', secret: true }]
  - id: verify
    steps:
      - id: smoke
        run: |
          echo "checking {{ workspace }} with $pw"
          echo "smoke test: HTTP 503 ($pw)" >&2
          exit 1
"#;

const SECRET: &str = "s3cret-value";

struct Session {
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    handle: tokio::task::JoinHandle<Result<Outcome, tollgate::engine::EngineError>>,
    seen: Vec<Event>,
}

fn session(dir: &std::path::Path, replay: bool) -> Session {
    let spec = spec(dir, YAML, &[("pw", SECRET)], replay);
    let (ev_tx, events) = mpsc::channel(256);
    let (commands, cmd_rx) = mpsc::channel(16);
    let handle = tokio::spawn(
        Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx).run(),
    );
    Session {
        events,
        commands,
        handle,
        seen: Vec::new(),
    }
}

impl Session {
    async fn gate(&mut self) -> GateRequest {
        let found = tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = self.events.recv().await {
                self.seen.push(ev.clone());
                if let Event::GateReached(g) = ev {
                    return Some(g);
                }
            }
            None
        })
        .await
        .expect("a gate within the deadline");
        found.unwrap_or_else(|| panic!("the run ended first; saw {:#?}", self.seen))
    }

    async fn decide(&self, gate: &GateRequest, choice: Choice) {
        self.commands
            .send(Command::Decide(Decision {
                gate: gate.id.clone(),
                choice,
                who: "tester@host".into(),
                via: "test".into(),
                note: None,
                typed: None,
                checklist: if choice == Choice::Approve {
                    vec![true; gate.checklist.len()]
                } else {
                    Vec::new()
                },
            }))
            .await
            .unwrap();
    }

    async fn finish(mut self) -> (Outcome, Vec<Event>) {
        drop(self.commands);
        tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = self.events.recv().await {
                self.seen.push(ev);
            }
        })
        .await
        .expect("the run ends within the deadline");
        (self.handle.await.unwrap().unwrap(), self.seen)
    }
}

/// The first session: the checklist confirmed at the gate, two captures, a failure aborted.
async fn failed_run(dir: &std::path::Path) {
    let mut first = session(dir, false);
    let gate = first.gate().await;
    assert_eq!(gate.id, "prep");
    first.decide(&gate, Choice::Approve).await;
    let failed = first.gate().await;
    assert_eq!(
        (failed.id.as_str(), failed.kind),
        ("smoke", GateKind::Failed)
    );
    first.decide(&failed, Choice::Abort).await;
    let (outcome, _) = first.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
}

fn history_of(seen: &[Event]) -> &History {
    match seen.first() {
        Some(Event::History(h)) => h,
        other => panic!("the first event of a resumed run is not its history: {other:?}"),
    }
}

#[tokio::test]
async fn a_resumed_run_first_tells_its_views_what_it_had_done() {
    let dir = tempfile::tempdir().unwrap();
    failed_run(dir.path()).await;

    let mut resumed = session(dir.path(), true);
    let gate = resumed.gate().await;
    let h = history_of(&resumed.seen).clone();
    let events: Vec<&Event> = h.entries.iter().map(|p| &p.event).collect();

    // The run's start, and every entry at the time its record was written, in order.
    assert!(matches!(
        events.first(),
        Some(Event::RunStarted { resumed: false, .. })
    ));
    let lines = journal::read_lines(&dir.path().join("state/runs/run-1/journal.jsonl"))
        .unwrap()
        .0;
    assert_eq!(h.started_at, lines[0].at);
    assert!(h.entries.windows(2).all(|w| w[0].at <= w[1].at));

    // The decision, who made it and how, with the checklist it confirmed.
    assert!(
        events.contains(&&Event::GateDecided {
            gate: "prep".into(),
            choice: Choice::Approve,
            who: "tester@host".into(),
            via: "test".into(),
            checklist: vec![true, true],
        }),
        "{events:#?}"
    );
    // Values as they were shown: the public one, and the secret masked.
    let ws = dir.path().join("ws").display().to_string();
    assert!(events.contains(&&Event::VarCaptured {
        name: "workspace".into(),
        shown: ws.clone(),
    }));
    assert!(events.contains(&&Event::VarCaptured {
        name: "token".into(),
        shown: MASK_TEXT.into(),
    }));
    // The failed step: its command as it ran (variables filled), how long it took, why it
    // failed, and the last lines it showed; its output is not kept.
    let started = events
        .iter()
        .find_map(|e| match e {
            Event::StepStarted { step, command, .. } if step == "smoke" => Some(command.clone()),
            _ => None,
        })
        .expect("smoke started");
    assert!(
        started.contains(&format!("checking {ws} with $pw")),
        "{started}"
    );
    let finished = events
        .iter()
        .find_map(|e| match e {
            Event::StepFinished {
                step,
                status,
                exit_code,
                error,
                ..
            } if step == "smoke" => Some((*status, *exit_code, error.clone())),
            _ => None,
        })
        .expect("smoke finished");
    assert_eq!(
        finished,
        (
            StepStatus::Failed,
            Some(1),
            Some("exit code 1, expected 0".to_string())
        )
    );
    let last = events
        .iter()
        .find_map(|e| match e {
            Event::OutputNotKept { step, last } if step == "smoke" => Some(last.clone()),
            _ => None,
        })
        .expect("smoke's output is said not to be kept");
    // Both streams, masked (their order between the two is the pipes').
    assert_eq!(last.len(), 2, "{last:?}");
    assert!(last.contains(&OutputLine {
        stream: Stream::Stderr,
        text: format!("smoke test: HTTP 503 ({MASK_TEXT})"),
    }));
    assert!(last.contains(&OutputLine {
        stream: Stream::Stdout,
        text: format!("checking {ws} with {MASK_TEXT}"),
    }));
    assert!(events.contains(&&Event::OutputNotKept {
        step: "workspace".into(),
        last: Vec::new(),
    }));
    assert!(events.contains(&&Event::RunFinished {
        status: RunStatus::Failed
    }));
    // The durations are the journal's.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::StepFinished { step, duration, .. } if step == "workspace" && *duration > Duration::ZERO
    )));

    // Then this session: the failure gate says why the step failed then.
    assert_eq!((gate.id.as_str(), gate.kind), ("smoke", GateKind::Failed));
    assert_eq!(
        gate.error.as_deref(),
        Some("exit code 1, expected 0 (in an earlier session)")
    );
    assert!(
        matches!(resumed.seen.get(1), Some(e) if !matches!(e, Event::History(_))),
        "one history, first"
    );
    // A secret never reaches a view, nor the journal.
    assert!(!format!("{:?}", resumed.seen).contains(SECRET));
    let journal =
        std::fs::read_to_string(dir.path().join("state/runs/run-1/journal.jsonl")).unwrap();
    assert!(!journal.contains(SECRET));
    resumed.decide(&gate, Choice::Abort).await;
    let (outcome, _) = resumed.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
}

#[tokio::test]
async fn a_new_run_sends_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = session(dir.path(), false);
    let gate = first.gate().await;
    assert!(matches!(first.seen.first(), Some(Event::RunStarted { .. })));
    assert!(!first.seen.iter().any(|e| matches!(e, Event::History(_))));
    first.decide(&gate, Choice::Reject).await;
    let _ = first.finish().await;
}

/// A journal of the records tollgate wrote before commands, attempts, last lines and confirmed
/// items were kept (chained, as every journal must now be): it passes its checks, replays, and its
/// history says what it can.
#[tokio::test]
async fn a_journal_of_the_older_format_still_resumes_with_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let rb_path = dir.path().join("runbook.yaml");
    std::fs::write(&rb_path, YAML).unwrap();
    let digest = tollgate::runbook::load(&rb_path).unwrap().digest;
    let path = journal::journal_path(&dir.path().join("state"), "run-1");
    journal::create_private_dir(path.parent().unwrap()).unwrap();
    let rb = dir.path().join("runbook.yaml").display().to_string();
    let old = [
        format!(
            r#"{{"seq":1,"at":"2026-01-01T10:00:00.000Z","event":"run_started","run_id":"run-1","runbook":"{rb}","runbook_name":"history","digest":"{digest}","vars":{{}},"who":"old@host"}}"#
        ),
        r#"{"seq":2,"at":"2026-01-01T10:00:01.000Z","event":"gate_reached","gate":"prep","kind":"phase"}"#.into(),
        r#"{"seq":3,"at":"2026-01-01T10:00:02.000Z","event":"gate_decided","gate":"prep","kind":"phase","choice":"approve","who":"old@host","via":"--approve"}"#.into(),
        r#"{"seq":4,"at":"2026-01-01T10:00:02.000Z","event":"phase_started","phase":"prep"}"#.into(),
        r#"{"seq":5,"at":"2026-01-01T10:00:02.100Z","event":"step_started","step":"workspace","attempt":1}"#.into(),
        r#"{"seq":6,"at":"2026-01-01T10:00:03.100Z","event":"step_finished","step":"workspace","status":"succeeded","exit_code":0,"duration_ms":1000}"#.into(),
        r#"{"seq":7,"at":"2026-01-01T10:00:03.100Z","event":"var_captured","name":"workspace","value":"/old/ws","secret":false}"#.into(),
        r#"{"seq":8,"at":"2026-01-01T10:00:03.200Z","event":"step_started","step":"token","attempt":1}"#.into(),
        r#"{"seq":9,"at":"2026-01-01T10:00:03.300Z","event":"step_finished","step":"token","status":"failed","exit_code":1,"duration_ms":100,"error":"exit code 1, expected 0"}"#.into(),
        r#"{"seq":10,"at":"2026-01-01T10:00:03.400Z","event":"run_finished","status":"failed"}"#.into(),
    ];
    std::fs::write(&path, crate::common::chained(&old)).unwrap();
    let lines = journal::read_lines(&path).unwrap().0;
    assert_eq!(journal::check(&lines), Ok(()));
    let replay = Replay::from_lines(&lines);
    assert_eq!(replay.steps.get("token"), Some(&StepStatus::Failed));
    assert_eq!(
        replay.errors.get("token").map(String::as_str),
        Some("exit code 1, expected 0")
    );
    // The integrity checks still hold for it: a record taken out is refused.
    let mut gap = lines.clone();
    gap.remove(4);
    assert!(journal::check(&gap).is_err());

    let spec = spec(dir.path(), YAML, &[("pw", SECRET)], true);
    let (ev_tx, mut events) = mpsc::channel(256);
    let (commands, cmd_rx) = mpsc::channel(16);
    let handle = tokio::spawn(
        Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx).run(),
    );
    let first = tokio::time::timeout(DEADLINE, events.recv())
        .await
        .unwrap()
        .unwrap();
    let Event::History(h) = first else {
        panic!("no history first: {first:?}")
    };
    assert_eq!(h.started_at, "2026-01-01T10:00:00.000Z");
    let past: Vec<&Event> = h.entries.iter().map(|p| &p.event).collect();
    assert!(past.contains(&&Event::GateDecided {
        gate: "prep".into(),
        choice: Choice::Approve,
        who: "old@host".into(),
        via: "--approve".into(),
        checklist: Vec::new(),
    }));
    // The command, not journaled then, is the runbook's filled with what was captured.
    assert!(past.iter().any(|e| matches!(
        e,
        Event::StepStarted { step, attempt: 1, attempts: 1, command, .. }
            if step == "workspace" && command.contains("workspace=$runbook_dir/ws")
    )));
    assert!(past.iter().any(|e| matches!(
        e,
        Event::StepFinished { step, duration, .. }
            if step == "workspace" && *duration == Duration::from_millis(1000)
    )));
    // The failure gate has the error the old journal kept.
    let gate = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Some(Event::GateReached(g)) => return g,
                Some(_) => {}
                None => panic!("the run ended first"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(gate.id, "token");
    assert_eq!(
        gate.error.as_deref(),
        Some("exit code 1, expected 0 (in an earlier session)")
    );
    commands
        .send(Command::Decide(Decision {
            gate: "token".into(),
            choice: Choice::Abort,
            who: "tester@host".into(),
            via: "test".into(),
            note: None,
            typed: None,
            checklist: Vec::new(),
        }))
        .await
        .unwrap();
    drop(commands);
    while events.recv().await.is_some() {}
    assert_eq!(
        handle.await.unwrap().unwrap(),
        Outcome::Finished(RunStatus::Failed)
    );
}

/// Headless says in short what the earlier sessions did: one line per step that finished.
#[test]
fn headless_prints_a_line_per_step_finished_before_the_resume() {
    let past = |at: &str, event: Event| Past {
        at: at.into(),
        event,
    };
    let finished = |step: &str, status, error: Option<&str>| Event::StepFinished {
        step: step.into(),
        status,
        exit_code: Some(if error.is_some() { 1 } else { 0 }),
        duration: Duration::from_millis(1600),
        error: error.map(String::from),
    };
    let h = History {
        started_at: "2026-01-01T10:00:00.000Z".into(),
        entries: vec![
            past(
                "2026-01-01T10:00:00.000Z",
                Event::RunStarted {
                    run_id: "run-1".into(),
                    runbook: "history".into(),
                    resumed: false,
                    deadline: None,
                },
            ),
            past(
                "2026-01-01T10:00:02.000Z",
                finished("compile", StepStatus::Succeeded, None),
            ),
            past(
                "2026-01-01T10:00:03.000Z",
                Event::OutputNotKept {
                    step: "compile".into(),
                    last: Vec::new(),
                },
            ),
            past(
                "2026-01-01T10:00:04.000Z",
                finished(
                    "smoke-test",
                    StepStatus::Failed,
                    Some("exit code 1, expected 0"),
                ),
            ),
        ],
    };
    let mut out = Vec::new();
    {
        let mut p = tollgate::headless::Printer::new(&mut out);
        p.event(&Event::History(h)).unwrap();
        p.flush().unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("== before this session: run started ")
            && lines[0].ends_with(", 2 steps finished"),
        "{text}"
    );
    assert!(
        lines[1].contains(": step compile succeeded in 1.6s (exit 0)"),
        "{text}"
    );
    assert!(
        lines[2].ends_with(": step smoke-test failed in 1.6s (exit 1): exit code 1, expected 0"),
        "{text}"
    );
}

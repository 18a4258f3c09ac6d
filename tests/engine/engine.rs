//! The engine with real shell steps: gates, retries, capture, conditions, failure paths,
//! timeouts and process groups, secrets, resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tollgate::engine::journal::{self, Journal, Record};
use tollgate::engine::variables::MASK;
use tollgate::engine::{
    Choice, Command, Decision, Engine, EngineError, Event, GateKind, GateRequest, Outcome,
    RunStatus, StepStatus,
};

use crate::common::spec;

const DEADLINE: Duration = Duration::from_secs(20);

struct Run {
    dir: tempfile::TempDir,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    handle: JoinHandle<Result<Outcome, EngineError>>,
    seen: Vec<Event>,
    journal: PathBuf,
}

fn start_in(dir: tempfile::TempDir, yaml: &str, vars: &[(&str, &str)], replay: bool) -> Run {
    start_skipping(dir, yaml, vars, replay, &[])
}

/// [`start_in`] with phases and steps the operator chose not to run (`--skip`).
fn start_skipping(
    dir: tempfile::TempDir,
    yaml: &str,
    vars: &[(&str, &str)],
    replay: bool,
    skip: &[&str],
) -> Run {
    let spec = spec(dir.path(), yaml, vars, replay);
    let journal = spec.journal.path().to_path_buf();
    let (ev_tx, events) = mpsc::channel(256);
    let (commands, cmd_rx) = mpsc::channel(16);
    let engine = Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx)
        .skipping(skip.iter().map(|s| s.to_string()), "--skip");
    let handle = tokio::spawn(engine.run());
    Run {
        dir,
        events,
        commands,
        handle,
        seen: Vec::new(),
        journal,
    }
}

fn start(yaml: &str, vars: &[(&str, &str)]) -> Run {
    start_in(tempfile::tempdir().unwrap(), yaml, vars, false)
}

impl Run {
    /// Waits for the first event that matches, keeping everything seen.
    async fn until(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.recv().await {
                    Some(ev) => {
                        self.seen.push(ev.clone());
                        if pred(&ev) {
                            return Some(ev);
                        }
                    }
                    None => return None,
                }
            }
        })
        .await
        .expect("event within the deadline");
        found.unwrap_or_else(|| panic!("engine ended first; saw {:#?}", self.seen))
    }

    async fn gate(&mut self) -> GateRequest {
        match self.until(|e| matches!(e, Event::GateReached(_))).await {
            Event::GateReached(g) => g,
            _ => unreachable!(),
        }
    }

    /// How many checklist items gate `gate` showed when it was last reached.
    fn checklist_len(&self, gate: &str) -> usize {
        self.seen
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::GateReached(g) if g.id == gate => Some(g.checklist.len()),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Decides gate `gate` as a person would: an approval confirms every item of the checklist
    /// the gate showed.
    async fn decide(&self, gate: &str, choice: Choice, typed: Option<&str>) {
        let items = self.checklist_len(gate);
        self.commands
            .send(Command::Decide(Decision {
                gate: gate.into(),
                choice,
                who: "tester@host".into(),
                via: "test".into(),
                note: Some("checked by test".into()),
                typed: typed.map(String::from),
                checklist: if choice == Choice::Approve {
                    vec![true; items]
                } else {
                    Vec::new()
                },
            }))
            .await
            .unwrap();
    }

    /// An approval of `gate` by `who`, every checklist item confirmed.
    async fn approve_as(&self, gate: &str, who: &str, typed: Option<&str>) {
        let items = self.checklist_len(gate);
        self.commands
            .send(Command::Decide(Decision {
                gate: gate.into(),
                choice: Choice::Approve,
                who: who.into(),
                via: "test".into(),
                note: None,
                typed: typed.map(String::from),
                checklist: vec![true; items],
            }))
            .await
            .unwrap();
    }

    /// Drains the remaining events and returns the outcome.
    async fn finish(mut self) -> (Outcome, Vec<Event>, tempfile::TempDir, PathBuf) {
        let seen = tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = self.events.recv().await {
                self.seen.push(ev);
            }
            self.seen
        })
        .await
        .expect("engine finishes within the deadline");
        let outcome = self.handle.await.unwrap().unwrap();
        (outcome, seen, self.dir, self.journal)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn records(journal: &Path) -> Vec<Record> {
    journal::read_lines(journal)
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record)
        .collect()
}

fn output(seen: &[Event]) -> String {
    seen.iter()
        .filter_map(|e| match e {
            Event::Output { text, .. } => Some(&**text),
            _ => None,
        })
        .collect()
}

fn finished(seen: &[Event], step: &str) -> Vec<StepStatus> {
    seen.iter()
        .filter_map(|e| match e {
            Event::StepFinished {
                step: s, status, ..
            } if s == step => Some(*status),
            _ => None,
        })
        .collect()
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purposes: it runs nothing.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

const GATED: &str = r#"
name: gated
targets: { environment: staging }
phases:
  - id: deploy
    title: Deploy
    gate: { message: "ship it?", destructive: true }
    steps:
      - id: touch
        run: touch "$runbook_dir/touched"
"#;

#[tokio::test]
async fn a_gate_opens_only_for_a_decision_that_fits_it() {
    let mut run = start(GATED, &[]);
    // Sent before the gate opened: must not count.
    run.decide("deploy", Choice::Approve, Some("staging")).await;
    let gate = run.gate().await;
    assert_eq!(gate.id, "deploy");
    assert_eq!(gate.kind, GateKind::Phase);
    assert!(gate.destructive);
    assert_eq!(gate.confirm.as_deref(), Some("staging"));
    assert_eq!(gate.commands, vec![r#"touch "$runbook_dir/touched""#]);

    let attempts: [(&str, Choice, Option<&str>, &str); 4] = [
        (
            "other",
            Choice::Approve,
            Some("staging"),
            "the open gate is `deploy`",
        ),
        ("deploy", Choice::Skip, None, "`skip` is not a choice"),
        (
            "deploy",
            Choice::Approve,
            None,
            "confirmation word `staging`",
        ),
        (
            "deploy",
            Choice::Approve,
            Some("production"),
            "confirmation word `staging`",
        ),
    ];
    for (gate, choice, typed, reason) in attempts {
        run.decide(gate, choice, typed).await;
        match run
            .until(|e| matches!(e, Event::DecisionRefused { .. }))
            .await
        {
            Event::DecisionRefused { reason: r, .. } => assert!(r.contains(reason), "{r}"),
            _ => unreachable!(),
        }
        assert!(
            !run.path("touched").exists(),
            "gate passed on {gate}/{choice:?}"
        );
    }
    run.decide("deploy", Choice::Approve, Some("staging")).await;
    let (outcome, seen, dir, journal) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert!(dir.path().join("touched").exists());
    assert_eq!(finished(&seen, "touch"), vec![StepStatus::Succeeded]);
    let decided: Vec<Record> = records(&journal)
        .into_iter()
        .filter(|r| matches!(r, Record::GateDecided { .. }))
        .collect();
    assert_eq!(
        decided,
        vec![Record::GateDecided {
            gate: "deploy".into(),
            kind: GateKind::Phase,
            choice: Choice::Approve,
            who: "tester@host".into(),
            via: "test".into(),
            note: Some("checked by test".into()),
            destructive: true,
            checklist: Vec::new(),
        }]
    );
}

#[tokio::test]
async fn no_one_to_decide_pauses_the_run_before_the_gate() {
    let mut run = start(GATED, &[]);
    run.gate().await;
    let Run {
        commands,
        events,
        handle,
        dir,
        journal,
        ..
    } = run;
    drop(commands);
    drop(events);
    let outcome = handle.await.unwrap().unwrap();
    assert!(
        matches!(outcome, Outcome::Paused(ref r) if r.contains("deploy")),
        "{outcome:?}"
    );
    assert!(!dir.path().join("touched").exists());
    assert!(matches!(
        records(&journal).last(),
        Some(Record::RunPaused { .. })
    ));
}

#[tokio::test]
async fn rejecting_a_gate_stops_the_run() {
    let mut run = start(GATED, &[]);
    run.gate().await;
    run.decide("deploy", Choice::Reject, None).await;
    let (outcome, _, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Rejected));
    assert!(!dir.path().join("touched").exists());
}

#[tokio::test]
async fn a_destructive_step_has_a_gate_even_without_one_written() {
    let yaml = r#"
name: implied
phases:
  - id: p
    steps:
      - id: drop-table
        destructive: true
        run: touch "$runbook_dir/dropped"
"#;
    let mut run = start(yaml, &[]);
    let gate = run.gate().await;
    assert_eq!(
        (gate.id.as_str(), gate.kind),
        ("drop-table", GateKind::Step)
    );
    assert_eq!(gate.confirm.as_deref(), Some("drop-table"));
    run.decide("drop-table", Choice::Approve, Some("drop-table"))
        .await;
    let (outcome, _, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert!(dir.path().join("dropped").exists());
}

#[tokio::test]
async fn retries_with_backoff_until_success() {
    let yaml = r#"
name: flaky
phases:
  - id: p
    steps:
      - id: flaky
        run: |
          n=$(cat "$runbook_dir/count" 2>/dev/null || echo 0)
          n=$((n + 1)); echo $n > "$runbook_dir/count"
          [ $n -ge 3 ] || { echo "try $n failed" >&2; exit 7; }
          echo "ok on try $n"
        retries: { attempts: 3, delay: 10ms, backoff: 2 }
"#;
    let (outcome, seen, _, _) = start(yaml, &[]).finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(
        finished(&seen, "flaky"),
        vec![
            StepStatus::Failed,
            StepStatus::Failed,
            StepStatus::Succeeded
        ]
    );
    let delays: Vec<Duration> = seen
        .iter()
        .filter_map(|e| match e {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        vec![Duration::from_millis(10), Duration::from_millis(20)]
    );
    assert!(output(&seen).contains("ok on try 3"));
}

#[tokio::test]
async fn a_failure_offers_retry_skip_rollback_and_abort() {
    let yaml = r#"
name: fails
phases:
  - id: p
    steps:
      - id: broken
        allow_skip: true
        run: exit 3
        on_failure:
          steps:
            - id: diagnose
              run: echo "collecting diagnostics"
          goto: undo
  - id: after
    steps:
      - id: never
        run: touch "$runbook_dir/never"
  - id: undo
    rollback: true
    steps:
      - id: restore
        run: echo restored
"#;
    let mut run = start(yaml, &[]);
    let gate = run.gate().await;
    assert_eq!(gate.kind, GateKind::Failed);
    assert_eq!(
        gate.choices,
        vec![Choice::Retry, Choice::Skip, Choice::Rollback, Choice::Abort]
    );
    assert_eq!(gate.error.as_deref(), Some("exit code 3, expected 0"));
    run.decide("broken", Choice::Retry, None).await;
    run.gate().await;
    run.decide("broken", Choice::Rollback, None).await;
    let (outcome, seen, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::RolledBack));
    assert_eq!(
        finished(&seen, "broken"),
        vec![StepStatus::Failed, StepStatus::Failed]
    );
    assert_eq!(finished(&seen, "diagnose"), vec![StepStatus::Succeeded]);
    assert_eq!(finished(&seen, "restore"), vec![StepStatus::Succeeded]);
    assert!(finished(&seen, "never").is_empty());
    assert!(!dir.path().join("never").exists());
}

#[tokio::test]
async fn skipping_a_failed_step_goes_on() {
    let yaml = r#"
name: skip
phases:
  - id: p
    steps:
      - id: optional
        allow_skip: true
        run: exit 1
      - id: next
        run: echo next
"#;
    let mut run = start(yaml, &[]);
    run.gate().await;
    run.decide("optional", Choice::Skip, None).await;
    let (outcome, seen, _, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(
        finished(&seen, "optional"),
        vec![StepStatus::Failed, StepStatus::Skipped]
    );
    assert_eq!(finished(&seen, "next"), vec![StepStatus::Succeeded]);
}

#[tokio::test]
async fn captured_values_feed_later_steps_and_conditions() {
    let yaml = r#"
name: capture
variables:
  mode: { default: fast, choices: [fast, careful] }
phases:
  - id: p
    steps:
      - id: version
        run: echo "built tag=v9.1 ok"
        capture:
          - { var: tag, regex: 'tag=(\S+)' }
      - id: describe
        run: echo '{"items":[{"metadata":{"name":"web-7"}}]}'
        capture:
          - { var: pod, json: '.items[0].metadata.name' }
      - id: use
        run: echo "deploying {{ tag }} to {{ pod }} via env $tag"
        expect: { output_contains: "deploying v9.1 to web-7 via env v9.1" }
      - id: careful-only
        when: mode == 'careful'
        run: exit 1
      - id: fast-only
        when: mode == 'fast' && tag != ''
        run: echo fast
"#;
    let (outcome, seen, _dir, journal) = start(yaml, &[]).finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(finished(&seen, "careful-only"), vec![StepStatus::Skipped]);
    assert_eq!(finished(&seen, "fast-only"), vec![StepStatus::Succeeded]);
    assert!(records(&journal).contains(&Record::VarCaptured {
        name: "tag".into(),
        value: Some("v9.1".into()),
        secret: false
    }));
}

#[tokio::test]
async fn expectations_on_output_fail_the_step() {
    let yaml = r#"
name: expect
phases:
  - id: p
    steps:
      - id: wrong-output
        run: 'echo "status: degraded"' 
        expect: { output_matches: 'status: (ok|healthy)' }
"#;
    let mut run = start(yaml, &[]);
    let gate = run.gate().await;
    assert_eq!(
        gate.error.as_deref(),
        Some("output does not match `status: (ok|healthy)`")
    );
    run.decide("wrong-output", Choice::Abort, None).await;
    let (outcome, _, _, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let yaml = r#"
name: timeout
phases:
  - id: p
    steps:
      - id: hang
        run: |
          sleep 300 &
          echo $! > "$runbook_dir/child.pid"
          echo started
          wait
        expect: { timeout: 300ms }
"#;
    let mut run = start(yaml, &[]);
    let gate = run.gate().await;
    assert_eq!(gate.error.as_deref(), Some("timed out after 300ms"));
    let pid: i32 = std::fs::read_to_string(run.path("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the grandchild to die", || !alive(pid)).await;
    run.decide("hang", Choice::Abort, None).await;
    run.finish().await;
}

#[tokio::test]
async fn abort_stops_a_running_step_and_its_children() {
    let yaml = r#"
name: abort
phases:
  - id: p
    steps:
      - id: long
        run: |
          sleep 300 &
          echo $! > "$runbook_dir/child.pid"
          echo started
          wait
      - id: after
        run: touch "$runbook_dir/after"
"#;
    let mut run = start(yaml, &[]);
    run.until(|e| matches!(e, Event::Output { text, .. } if text.contains("started")))
        .await;
    let pid: i32 = std::fs::read_to_string(run.path("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    run.commands.send(Command::Abort).await.unwrap();
    let (outcome, seen, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Aborted));
    assert_eq!(finished(&seen, "long"), vec![StepStatus::Failed]);
    assert!(!dir.path().join("after").exists());
    wait_for("the grandchild to die", || !alive(pid)).await;
}

#[tokio::test]
async fn a_finished_step_leaves_nothing_running() {
    let yaml = r#"
name: orphans
phases:
  - id: p
    steps:
      - id: leaves-a-child
        run: |
          sleep 300 >/dev/null 2>&1 &
          echo $! > "$runbook_dir/child.pid"
"#;
    let (outcome, _, dir, _) = start(yaml, &[]).finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    let pid: i32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the orphan to die", || !alive(pid)).await;
}

#[tokio::test]
async fn secrets_reach_steps_only_through_the_environment_and_are_masked() {
    let yaml = r#"
name: secrets
variables:
  api_token: { secret: true, env: TEST_API_TOKEN_UNUSED }
phases:
  - id: p
    steps:
      - id: use-it
        run: |
          echo "token is $api_token"
          echo "again: $api_token" >&2
        expect: { output_contains: "token is" }
      - id: fetch
        run: echo "fetched=n3w-$(echo s3cr3t)-value"
        capture:
          - { var: fetched, regex: 'fetched=(\S+)', secret: true }
      - id: echo-fetched
        run: echo "got $fetched"
"#;
    let (outcome, seen, _dir, journal) = start(yaml, &[("api_token", "pl4nted-t0ken-123")])
        .finish()
        .await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    let all = format!("{seen:?}");
    let text = std::fs::read_to_string(&journal).unwrap();
    for secret in ["pl4nted-t0ken-123", "n3w-s3cr3t-value"] {
        assert!(!all.contains(secret), "{secret} reached an event");
        assert!(!text.contains(secret), "{secret} reached the journal");
    }
    let out = output(&seen);
    assert!(out.contains(&format!("token is {MASK}")), "{out}");
    assert!(out.contains(&format!("got {MASK}")), "{out}");
}

#[tokio::test]
async fn resume_asks_about_an_interrupted_step_and_keeps_finished_ones() {
    let yaml = r#"
name: resume
phases:
  - id: p
    gate: true
    steps:
      - id: one
        run: echo one >> "$runbook_dir/ran"
      - id: two
        run: echo two >> "$runbook_dir/ran"
      - id: three
        run: echo three >> "$runbook_dir/ran"
"#;
    let dir = tempfile::tempdir().unwrap();
    // The same runbook the resume loads: a resume with another one must be accepted first.
    let rb = dir.path().join("runbook.yaml");
    std::fs::write(&rb, yaml).unwrap();
    let digest = tollgate::runbook::load(&rb).unwrap().digest;
    // A journal as a crash leaves it: gate approved, `one` done, `two` started, a torn line.
    let jpath = journal::journal_path(&dir.path().join("state"), "run-1");
    {
        let (mut j, _) = Journal::open(&jpath, "run-1").unwrap();
        j.append(Record::RunStarted {
            run_id: "run-1".into(),
            runbook: "runbook.yaml".into(),
            runbook_name: "resume".into(),
            digest,
            vars: Default::default(),
            who: "tester@host".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: None,
            carried: None,
        })
        .unwrap();
        j.append(Record::GateReached {
            gate: "p".into(),
            kind: GateKind::Phase,
        })
        .unwrap();
        j.append(Record::GateDecided {
            gate: "p".into(),
            kind: GateKind::Phase,
            choice: Choice::Approve,
            who: "tester@host".into(),
            via: "test".into(),
            note: None,
            destructive: false,
            checklist: Vec::new(),
        })
        .unwrap();
        j.append(Record::PhaseStarted { phase: "p".into() })
            .unwrap();
        j.append(Record::StepStarted {
            step: "one".into(),
            attempt: 1,
            attempts: None,
            command: None,
        })
        .unwrap();
        j.append(Record::StepFinished {
            step: "one".into(),
            status: StepStatus::Succeeded,
            exit_code: Some(0),
            duration_ms: 1,
            error: None,
            last: Vec::new(),
        })
        .unwrap();
        j.append(Record::StepStarted {
            step: "two".into(),
            attempt: 1,
            attempts: None,
            command: None,
        })
        .unwrap();
    }
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&jpath)
            .unwrap();
        f.write_all(br#"{"seq":7,"at":"2026-01-01T00:00:00Z","event":"step_fin"#)
            .unwrap();
    }
    std::fs::write(dir.path().join("ran"), "one\n").unwrap();
    let mut run = start_in(dir, yaml, &[], true);
    let gate = run.gate().await;
    assert_eq!(
        (gate.id.as_str(), gate.kind),
        ("two", GateKind::Interrupted)
    );
    assert_eq!(
        gate.choices,
        vec![Choice::Retry, Choice::MarkDone, Choice::Abort]
    );
    run.decide("two", Choice::MarkDone, None).await;
    let (outcome, seen, dir, journal) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    // The phase gate was approved before the crash and is not asked again; `one` and `two`
    // do not run again.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran")).unwrap(),
        "one\nthree\n"
    );
    assert!(finished(&seen, "one").is_empty());
    let lines = journal::read_lines(&journal).unwrap().0;
    assert!(lines.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[tokio::test]
async fn a_decision_sent_while_a_step_runs_does_not_open_the_next_gate() {
    let yaml = r#"
name: early
phases:
  - id: p
    steps:
      - id: first
        run: |
          echo started
          while [ ! -f "$runbook_dir/go" ]; do sleep 0.01; done
      - id: second
        gate: true
        run: touch "$runbook_dir/second-ran"
"#;
    let mut run = start(yaml, &[]);
    run.until(|e| matches!(e, Event::Output { text, .. } if text.contains("started")))
        .await;
    run.decide("second", Choice::Approve, None).await;
    match run
        .until(|e| matches!(e, Event::DecisionRefused { .. }))
        .await
    {
        Event::DecisionRefused { gate, reason } => {
            assert_eq!(
                (gate.as_str(), reason.as_str()),
                ("second", "no gate is open")
            );
        }
        _ => unreachable!(),
    }
    std::fs::write(run.path("go"), "").unwrap();
    let gate = run.gate().await;
    assert_eq!(gate.id, "second");
    run.commands
        .send(Command::Pause("test stops here".into()))
        .await
        .unwrap();
    let (outcome, seen, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Paused("test stops here".into()));
    assert!(finished(&seen, "second").is_empty());
    assert!(!dir.path().join("second-ran").exists());
}

#[tokio::test]
async fn abort_at_a_gate_is_recorded_and_passes_nothing() {
    let mut run = start(GATED, &[]);
    run.gate().await;
    run.commands.send(Command::Abort).await.unwrap();
    let (outcome, _, dir, journal) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Aborted));
    assert!(!dir.path().join("touched").exists());
    assert!(records(&journal).iter().any(|r| matches!(
        r,
        Record::GateDecided {
            choice: Choice::Abort,
            ..
        }
    )));
}

#[tokio::test]
async fn undo_reverses_the_finished_steps_of_the_phase_newest_first() {
    let yaml = r#"
name: undo
phases:
  - id: p
    on_failure: { undo: true }
    steps:
      - id: one
        run: echo do-one >> "$runbook_dir/log"
        undo: echo undo-one >> "$runbook_dir/log"
      - id: two
        run: echo do-two >> "$runbook_dir/log"
        undo: echo undo-two >> "$runbook_dir/log"
      - id: no-undo
        run: echo do-three >> "$runbook_dir/log"
      - id: breaks
        run: exit 1
"#;
    let mut run = start(yaml, &[]);
    let gate = run.gate().await;
    assert!(gate.choices.contains(&Choice::Rollback));
    run.decide("breaks", Choice::Rollback, None).await;
    let (outcome, seen, dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log")).unwrap(),
        "do-one\ndo-two\ndo-three\nundo-two\nundo-one\n"
    );
    assert_eq!(finished(&seen, "two.undo"), vec![StepStatus::Succeeded]);
}

#[tokio::test]
async fn titles_are_filled_from_variables() {
    let yaml = r#"
name: titles
variables:
  service: { default: payment }
phases:
  - id: p
    title: Release {{ service }}
    steps:
      - id: s
        title: Restart {{ service }}
        run: "true"
"#;
    let mut run = start(yaml, &[]);
    let phase = run.until(|e| matches!(e, Event::PhaseStarted { .. })).await;
    assert!(matches!(phase, Event::PhaseStarted { ref title, .. } if title == "Release payment"));
    let step = run.until(|e| matches!(e, Event::StepStarted { .. })).await;
    assert!(matches!(step, Event::StepStarted { ref title, .. } if title == "Restart payment"));
}

/// `--skip`: a phase and a step not run, each journaled as the operator's decision; on resume, a
/// step that failed before is skipped instead of asked about, and the run goes on after it.
#[tokio::test]
async fn skipped_phases_and_steps_are_decisions_in_the_journal() {
    let yaml = r#"
name: skip
phases:
  - id: p
    steps:
      - id: one
        run: echo one >> "$runbook_dir/ran"
      - id: two
        run: echo two >> "$runbook_dir/ran"
      - id: three
        run: echo three >> "$runbook_dir/ran"
  - id: q
    steps:
      - id: four
        run: echo four >> "$runbook_dir/ran"
"#;
    let run = start_skipping(
        tempfile::tempdir().unwrap(),
        yaml,
        &[],
        false,
        &["two", "q"],
    );
    let (outcome, _, dir, journal) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran")).unwrap(),
        "one\nthree\n"
    );
    let skipped: Vec<(String, GateKind, String)> = records(&journal)
        .into_iter()
        .filter_map(|r| match r {
            Record::GateDecided {
                gate,
                kind,
                choice: Choice::Skip,
                via,
                ..
            } => Some((gate, kind, via)),
            _ => None,
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("two".into(), GateKind::Step, "--skip".into()),
            ("q".into(), GateKind::Phase, "--skip".into())
        ]
    );

    // Resumed with `two` failed in the first session: skipped, not retried.
    let yaml2 = yaml.replace("echo two >>", "exit 1; echo two >>");
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_in(dir, &yaml2, &[], false);
    let gate = first.gate().await;
    assert_eq!(gate.id, "two");
    first.decide("two", Choice::Abort, None).await;
    let (outcome, _, dir, _) = first.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
    let again = start_skipping(dir, &yaml2, &[], true, &["two"]);
    let (outcome, _, dir, _) = again.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ran")).unwrap(),
        "one\nthree\nfour\n"
    );
}

/// A two-person gate: the first approval is journaled and counted, the gate stays open; the
/// same person approving again is refused; a second, distinct person passes it. Both are in the
/// journal and the audit log, and the journal reads back as one tollgate wrote.
#[tokio::test]
async fn a_two_person_gate_needs_two_distinct_people() {
    let mut run = start(
        r#"
name: four eyes
targets: { environment: production }
phases:
  - id: ship
    title: Ship
    steps:
      - id: go
        title: Go
        gate: { approvals: 2, destructive: true, message: two people }
        run: echo shipped
"#,
        &[],
    );
    let g = run.gate().await;
    assert_eq!((g.id.as_str(), g.approvals), ("go", 2));
    run.approve_as("go", "ana@host", Some("production")).await;
    let counted = run
        .until(|e| matches!(e, Event::ApprovalCounted { .. }))
        .await;
    assert_eq!(
        counted,
        Event::ApprovalCounted {
            gate: "go".into(),
            who: "ana@host".into(),
            via: "test".into(),
            have: 1,
            need: 2
        }
    );
    run.approve_as("go", "ana@host", Some("production")).await;
    let refused = run
        .until(|e| matches!(e, Event::DecisionRefused { .. }))
        .await;
    let Event::DecisionRefused { reason, .. } = refused else {
        unreachable!()
    };
    assert!(reason.contains("ana@host has approved already"), "{reason}");
    // The second person must type the word too.
    run.approve_as("go", "li@host", None).await;
    run.until(|e| matches!(e, Event::DecisionRefused { .. }))
        .await;
    run.approve_as("go", "li@host", Some("production")).await;
    let journal = run.journal.clone();
    let audit_dir = run.dir.path().join("state/logs");
    let (outcome, seen, _dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
    assert!(output(&seen).contains("shipped"));
    let recs = records(&journal);
    let approved: Vec<(&str, u32)> = recs
        .iter()
        .filter_map(|r| match r {
            Record::GateApproved { who, have, .. } => Some((who.as_str(), *have)),
            _ => None,
        })
        .collect();
    assert_eq!(approved, [("ana@host", 1)]);
    let decided: Vec<&str> = recs
        .iter()
        .filter_map(|r| match r {
            Record::GateDecided { who, .. } => Some(who.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(decided, ["li@host"]);
    let (lines, _) = journal::read_lines(&journal).unwrap();
    journal::check(&lines).expect("the journal is one tollgate wrote");
    let audit: String = std::fs::read_dir(&audit_dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("audit-"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        audit.contains("ana@host") && audit.contains("li@host"),
        "both approvers audited: {audit}"
    );
}

/// `four_eyes: destructive`: every destructive gate needs two people, and a rejection by the
/// second stops the run at once.
#[tokio::test]
async fn four_eyes_makes_destructive_gates_two_person_and_either_rejects() {
    let mut run = start(
        r#"
name: four eyes everywhere
four_eyes: destructive
phases:
  - id: ship
    title: Ship
    gate: { message: plain gate }
    steps:
      - id: drop
        title: Drop
        destructive: true
        run: echo dropped
"#,
        &[],
    );
    let g = run.gate().await;
    assert_eq!((g.id.as_str(), g.approvals), ("ship", 1), "not destructive");
    run.approve_as("ship", "ana@host", None).await;
    let g = run.gate().await;
    assert_eq!((g.id.as_str(), g.approvals), ("drop", 2));
    run.approve_as("drop", "ana@host", Some("drop")).await;
    run.until(|e| matches!(e, Event::ApprovalCounted { .. }))
        .await;
    run.decide("drop", Choice::Reject, None).await;
    let (outcome, seen, _dir, _) = run.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Rejected));
    assert!(!output(&seen).contains("dropped"));
}

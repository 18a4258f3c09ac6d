//! The real binary, headless: a shell-only deploy runbook (the demo before it became a
//! rehearsal, kept as a fixture) with scripted approvals, pauses, resume,
//! the rollback path, and the record of who approved what.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tollgate::engine::journal::{self, Record};
use tollgate::engine::{Choice, RunStatus};

const DEMO: &str = "tests/fixtures/runbooks/valid/shell-deploy.yaml";

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn tollgate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .env("USER", "ops-tester")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn only_run(&self) -> (String, Vec<Record>) {
        let runs = journal::list_runs(&self.state());
        assert_eq!(runs.len(), 1, "{runs:?}");
        let id = runs[0].0.clone();
        let lines = journal::read_lines(&journal::journal_path(&self.state(), &id))
            .unwrap()
            .0;
        (id, lines.into_iter().map(|l| l.record).collect())
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn decisions(records: &[Record]) -> Vec<(String, Choice, String, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::GateDecided {
                gate,
                choice,
                who,
                via,
                ..
            } => Some((gate.clone(), *choice, who.clone(), via.clone())),
            _ => None,
        })
        .collect()
}

fn audit_log(state: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(state.join("logs")).unwrap().flatten() {
        all.push_str(&std::fs::read_to_string(e.path()).unwrap());
    }
    all
}

#[test]
fn the_shell_deploy_runs_end_to_end_with_scripted_approvals() {
    let env = Env::new();
    let out = env.tollgate(&[
        "run",
        DEMO,
        "--headless",
        "--approve",
        "preflight",
        "--approve",
        "build",
        "--approve",
        "deploy=demo",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for expected in [
        "phase preflight: Preflight checks",
        "compile | compiling module 8/8",
        "compile ! warning: 2 deprecated calls",
        "captured artifact = demo-svc-1.4.2-",
        "step reserve-capacity (attempt 2/3)",
        "step reserve-capacity succeeded",
        "smoke-test | demo-svc-1.4.2-",
        "== run succeeded",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in\n{stdout}"
        );
    }
    // Every output line carries a timestamp and its step.
    let line = stdout
        .lines()
        .find(|l| l.contains("compiling module 1/8"))
        .unwrap();
    assert!(
        regex::Regex::new(r"^\d\d:\d\d:\d\d\.\d{3} compile \| compiling module 1/8$")
            .unwrap()
            .is_match(line),
        "{line}"
    );
    let (_, records) = env.only_run();
    let host = tollgate::engine::variables::hostname();
    let who = format!("ops-tester@{host}");
    assert_eq!(
        decisions(&records),
        vec![
            (
                "preflight".into(),
                Choice::Approve,
                who.clone(),
                "--approve".into()
            ),
            (
                "build".into(),
                Choice::Approve,
                who.clone(),
                "--approve".into()
            ),
            (
                "deploy".into(),
                Choice::Approve,
                who.clone(),
                "--approve".into()
            ),
        ]
    );
    assert_eq!(
        records.last(),
        Some(&Record::RunFinished {
            status: RunStatus::Succeeded
        })
    );
    let audited = crate::common::audit_lines(&env.state());
    assert!(
        audited
            .iter()
            .any(|l| l["event"] == "gate_decided" && l["who"] == who.as_str()),
        "{audited:?}"
    );
    assert!(
        audited.iter().any(|l| l["event"] == "run_finished"),
        "{audited:?}"
    );
    assert!(
        !stdout.contains("gate_decided") && !stdout.contains("journal_sha256"),
        "audit lines leaked to stdout"
    );
}

#[test]
fn without_approval_a_gate_stops_the_run_and_resume_finishes_it() {
    let env = Env::new();
    // The preflight checklist is confirmed at a gate too; then the build gate stops the run.
    let out = env.tollgate(&["run", DEMO, "--headless", "--approve", "preflight"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("gate `build` needs a decision"), "{stderr}");
    assert!(stderr.contains("--approve build"), "{stderr}");
    assert!(
        !stdout.contains(">> step compile"),
        "ran past the gate:\n{stdout}"
    );

    let listed = text(&env.tollgate(&["runs"])).0;
    assert!(listed.contains("paused"), "{listed}");

    let out = env.tollgate(&["resume", "--headless", "--approve", "build"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("compile | compiling module 8/8"));
    assert!(
        !stdout.contains(">> step check-tools"),
        "a finished step ran again"
    );
    // What the first session did, in short, before this one goes on.
    assert!(
        stdout.contains("== before this session: run started ")
            && stdout.contains(": step check-tools succeeded in "),
        "{stdout}"
    );
    assert!(
        stderr.contains("gate `deploy` needs a decision"),
        "{stderr}"
    );

    assert!(stderr.contains("--approve deploy=demo"), "{stderr}");

    // The destructive gate: an approval without its word, or with the wrong one, does not pass.
    let out = env.tollgate(&["resume", "--headless", "--approve", "deploy"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("--approve deploy=demo"), "{stderr}");
    let out = env.tollgate(&["resume", "--headless", "--approve", "deploy=prod"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("approving needs the confirmation word `demo` typed"),
        "{stderr}"
    );
    assert!(!stdout.contains(">> step compile"), "{stdout}");

    let out = env.tollgate(&["resume", "--headless", "--approve", "deploy=demo"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(">> step compile"),
        "a finished step ran again"
    );
    assert!(stdout.contains("== run succeeded"));
    let listed = text(&env.tollgate(&["runs"])).0;
    assert!(listed.contains("succeeded"), "{listed}");
}

#[test]
fn a_failed_verification_follows_the_rollback_path() {
    let env = Env::new();
    let out = env.tollgate(&[
        "run",
        DEMO,
        "--headless",
        "--var",
        "break_verification=true",
        "--approve",
        "preflight",
        "--approve",
        "build",
        "--approve",
        "deploy=demo",
        "--approve",
        "rollback",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("smoke-test ! smoke test: HTTP 503"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rolling back: phase `rollback`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("step restore-previous succeeded"),
        "{stdout}"
    );
    assert!(stdout.contains("== run rolled back"), "{stdout}");
    assert!(
        !stdout.contains("step summary"),
        "ran past the failure:\n{stdout}"
    );
    let (_, records) = env.only_run();
    let d = decisions(&records);
    assert!(
        d.iter().any(|(g, c, _, via)| g == "smoke-test"
            && *c == Choice::Rollback
            && via.starts_with("automatic")),
        "{d:?}"
    );
}

#[test]
fn approve_all_is_recorded_as_such_and_never_passes_a_destructive_gate() {
    let env = Env::new();
    let out = env.tollgate(&["run", DEMO, "--headless", "--approve-all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("gate `deploy` needs a decision")
            && stderr.contains("--approve deploy=demo")
            && stderr.contains("--approve-all never passes one"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("step push"),
        "ran past the gate:\n{stdout}"
    );
    let (_, records) = env.only_run();
    let d = decisions(&records);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d.iter().all(|(_, _, _, via)| via == "--approve-all"),
        "{d:?}"
    );
    let out = env.tollgate(&[
        "resume",
        "--headless",
        "--approve-all",
        "--approve",
        "deploy=demo",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

#[test]
fn a_decision_records_whether_the_gate_was_destructive_and_its_checklist() {
    let env = Env::new();
    let out = env.tollgate(&[
        "run",
        DEMO,
        "--headless",
        "--approve",
        "preflight",
        "--approve",
        "build",
        "--approve",
        "deploy=demo",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (_, records) = env.only_run();
    type Decided = (String, bool, Vec<(String, bool)>);
    let gates: Vec<Decided> = records
        .iter()
        .filter_map(|r| match r {
            Record::GateDecided {
                gate,
                destructive,
                checklist,
                ..
            } => Some((
                gate.clone(),
                *destructive,
                checklist
                    .iter()
                    .map(|c| (c.item.clone(), c.confirmed))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    let deploy = gates
        .iter()
        .find(|(g, ..)| g == "deploy")
        .expect("deploy decided");
    assert!(deploy.1, "{gates:?}");
    let preflight = gates
        .iter()
        .find(|(g, ..)| g == "preflight")
        .expect("preflight decided");
    assert!(!preflight.1, "{gates:?}");
    assert!(
        !preflight.2.is_empty() && preflight.2.iter().all(|(_, confirmed)| *confirmed),
        "{gates:?}"
    );
    let audited = crate::common::audit_lines(&env.state());
    let deploy = audited
        .iter()
        .find(|l| l["event"] == "gate_decided" && l["gate"] == "deploy")
        .unwrap_or_else(|| panic!("{audited:?}"));
    assert_eq!(deploy["destructive"], true, "{deploy:?}");
    let items = deploy["checklist"].as_array().expect("the checklist");
    assert!(
        !items.is_empty() && items.iter().all(|i| i["confirmed"] == true),
        "{deploy:?}"
    );
}

#[test]
fn bad_invocations_exit_2_and_run_nothing() {
    let env = Env::new();
    let out = env.tollgate(&["run", DEMO, "--headless", "--var", "nope=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("declares no variable `nope`"));
    let out = env.tollgate(&["run", DEMO, "--headless", "--var", "version=latest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("does not match the pattern"),
        "{:?}",
        text(&out)
    );
    let out = env.tollgate(&["run", "no/such/runbook.yaml", "--headless"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!env.state().join("runs").exists());
}

#[test]
fn plan_resolves_variables_and_runs_nothing() {
    let env = Env::new();
    let out = env.tollgate(&["plan", DEMO, "--var", "version=2.0.0"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for expected in [
        "version = 2.0.0  (--var)",
        "phase 3. deploy — Deploy to demo",
        "GATE `deploy`",
        "[destructive: type `demo`]",
        "rollback phase 5. rollback",
        "retries: 2 (first after 200ms, backoff ×2)",
        "$ echo \"2.0.0\" > \"{{ workspace }}/releases/{{ artifact }}\"",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in\n{stdout}"
        );
    }
    assert!(!env.state().exists());
}

#[test]
fn plan_shows_the_owner_contacts_and_triggers_a_responder_finds_the_runbook_by() {
    let env = Env::new();
    let book = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/runbooks/valid/triggers.yaml"
    );
    let out = env.tollgate(&["plan", book]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let head: Vec<&str> = stdout.lines().take(9).collect();
    assert_eq!(
        head[2..],
        [
            "owner: payments team",
            "contacts: on-call: to be defined",
            "triggers:",
            "  alert PaymentFailureRate > 10%",
            "  alert HotWalletBalanceLow",
            "  symptom CrashLoopBackOff in payment-backend",
            "  symptom payouts stuck in pending",
        ],
        "{stdout}"
    );
}

#[test]
fn sigterm_aborts_the_running_step_and_keeps_the_run_resumable() {
    let env = Env::new();
    let rb = env.tmp.path().join("long.yaml");
    std::fs::write(
        &rb,
        r#"
name: long
phases:
  - id: p
    steps:
      - id: wait
        run: |
          sleep 300 &
          echo $! > "$runbook_dir/child.pid"
          wait
"#,
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(env.state())
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pidfile = env.tmp.path().join("child.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let grandchild: i32 = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile)
            && let Ok(p) = s.trim().parse()
        {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // A second tollgate cannot take over a run that is running.
    let (id, _) = env.only_run();
    let out = env.tollgate(&["resume", &id, "--headless"]);
    assert_eq!(out.status.code(), Some(5), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("is being run by another tollgate process")
    );
    // SAFETY: signalling a child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("terminated: aborting the running step"),
        "{stdout}"
    );
    assert!(stderr.contains("resume with: tollgate resume"), "{stderr}");
    let gone = || {
        std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    };
    while !gone() {
        assert!(
            std::time::Instant::now() < deadline,
            "the step's child outlived the abort"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (_, records) = env.only_run();
    assert_eq!(
        records.last(),
        Some(&Record::RunFinished {
            status: RunStatus::Aborted
        })
    );
}

/// A `secrets.put` that asks for a value typed at a masked prompt fails, saying so, when there is
/// no terminal to type it at: no value is guessed, and AWS is never called for it.
#[test]
fn a_masked_prompt_without_a_terminal_fails_the_step() {
    let env = Env::new();
    let runbook = env.tmp.path().join("prompt.yaml");
    std::fs::write(
        &runbook,
        r#"
name: typed token
targets:
  aws: { account: "123456789012", region: us-east-1 }
phases:
  - id: p
    gate: true
    steps:
      - id: put
        run:
          secrets.put: { id: app/token, prompt: "The API token" }
      - id: after
        run: echo after
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(env.state())
        .args(["run", "--headless", "--approve-all"])
        .arg(&runbook)
        // Nothing answers here: the pin at the start fails at once, and says so.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "?? step put asks for a value, typed at a prompt and not shown: The API token (secrets.put app/token)"
        ),
        "{stdout}"
    );
    let failed = stdout
        .lines()
        .find(|l| l.contains("!! step put failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{stdout}"));
    assert!(
        failed.ends_with(": secrets.put app/token: needs a value typed at a prompt; no terminal"),
        "{failed}"
    );
    assert!(!stdout.contains("step after"), "{stdout}");
    let (_, records) = env.only_run();
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::RunFinished {
                status: RunStatus::Failed
            }
        )),
        "{records:?}"
    );
}

#[test]
fn a_decision_the_audit_log_cannot_hold_is_not_acted_on() {
    let env = Env::new();
    let book = env.tmp.path().join("audit.yaml");
    let logs = env.state().join("logs");
    let ran = env.tmp.path().join("ran");
    std::fs::write(
        &book,
        format!(
            r#"name: the audit log goes away
phases:
  - id: prepare
    steps:
      - id: break-the-log
        run: rm -rf '{logs}' && printf 'not a folder' > '{logs}'
  - id: change
    gate: true
    steps:
      - id: act
        run: touch '{ran}'
"#,
            logs = logs.display(),
            ran = ran.display()
        ),
    )
    .unwrap();
    let out = env.tollgate(&[
        "run",
        book.to_str().unwrap(),
        "--headless",
        "--approve",
        "change",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}{stderr}");
    assert!(
        stderr.contains("cannot write the audit log") && stderr.contains("stopped before acting"),
        "{stderr}"
    );
    assert!(!ran.exists(), "the step behind the gate ran");
    let (_, records) = env.only_run();
    assert!(decisions(&records).is_empty(), "{records:?}");
}

#[test]
fn the_audit_log_says_kinds_and_statuses_in_words() {
    let env = Env::new();
    let out = env.tollgate(&[
        "run",
        DEMO,
        "--headless",
        "--approve-all",
        "--approve",
        "deploy=demo",
    ]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let audit = audit_log(&env.state());
    let audited = crate::common::audit_lines(&env.state());
    assert!(
        audited
            .iter()
            .any(|l| l["event"] == "gate_decided" && l["kind"] == "phase"),
        "{audit}"
    );
    assert!(
        audited
            .iter()
            .any(|l| l["event"] == "step_finished" && l["status"] == "succeeded"),
        "{audit}"
    );
    // Typed: numbers as numbers, absent rather than null.
    assert!(
        audited
            .iter()
            .filter(|l| l["event"] == "step_finished")
            .all(|l| l["exit_code"].is_i64() && l["duration_ms"].is_u64()),
        "{audit}"
    );
    assert!(!audit.contains("null"), "{audit}");
    assert!(!audit.contains("Some("), "{audit}");
    assert!(!audit.contains("None"), "{audit}");
}

#[test]
fn ids_the_flags_cannot_act_on_are_refused_before_anything_starts() {
    let env = Env::new();
    let out = env.tollgate(&["run", DEMO, "--headless", "--approve", "deplo"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "--approve deplo: the runbook has no phase or step `deplo` (did you mean `deploy`?)"
        ),
        "{stderr}"
    );
    let out = env.tollgate(&["run", DEMO, "--headless", "--approve", "deplo=demo"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.tollgate(&["run", DEMO, "--headless", "--mark-done", "check-tools"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--mark-done check-tools: only a step that was interrupted can be given; this is a new run"),
        "{stderr}"
    );
    assert!(
        journal::list_runs(&env.state()).is_empty(),
        "a refused invocation started a run"
    );
    // A paused run: `compile` never ran, `check-tools` succeeded; neither can be marked done.
    let out = env.tollgate(&["run", DEMO, "--headless", "--approve", "preflight"]);
    assert_eq!(out.status.code(), Some(3));
    for (flag, id, why) in [
        ("--mark-done", "compile", "it has not run"),
        ("--mark-done", "check-tools", "it succeeded"),
        ("--rerun", "check-tools", "it succeeded"),
        ("--rerun", "compil", "(did you mean `compile`?)"),
    ] {
        let out = env.tollgate(&["resume", "--headless", flag, id]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {id}: {stdout}\n{stderr}"
        );
        assert!(stderr.contains(why), "{flag} {id}: {stderr}");
        assert!(!stdout.contains(">> step"), "{flag} {id}: ran a step");
    }
}

#[test]
fn plan_shows_a_phase_whose_condition_waits_for_a_captured_value() {
    let env = Env::new();
    let book = env.tmp.path().join("captured.yaml");
    std::fs::write(
        &book,
        r#"name: decided by a capture
variables:
  needs_migration: { default: "false" }
phases:
  - id: inspect
    steps:
      - id: look
        run: echo true
        capture: [{ var: needs_migration }]
  - id: migrate
    when: needs_migration == 'true'
    gate: { destructive: true }
    steps:
      - id: alter-tables
        run: echo altering
"#,
    )
    .unwrap();
    let out = env.tollgate(&["plan", book.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("SKIPPED"), "{stdout}");
    assert!(
        stdout.contains("runs only if `needs_migration == 'true'`: depends on `needs_migration`, captured at run time"),
        "{stdout}"
    );
    assert!(stdout.contains("GATE `migrate`"), "{stdout}");
    assert!(stdout.contains("$ echo altering"), "{stdout}");
}

/// Headless, `--approve` counts as one person: a two-person gate approved by the flag is
/// journaled as one approval of two and waits for another person (it never passes on the flag
/// alone, and never asks the same person again).
#[test]
fn approve_counts_as_one_person_at_a_two_person_gate() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let runbook = env.tmp.path().join("two.yaml");
    std::fs::write(
        &runbook,
        "name: two people\nphases:\n  - id: ship\n    title: Ship\n    steps:\n      - id: go\n        title: Go\n        gate: { approvals: 2 }\n        run: echo shipped\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(env.state())
        .args(["run", "--headless", "--approve", "go"])
        .arg(&runbook)
        .env("USER", "ops-tester")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let waiting = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("waiting for another person") => break l,
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                panic!("no waiting line; saw:\n{}", seen.join("\n"));
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(waiting.contains("(1 of 2)"), "{waiting}");
    assert!(!seen.iter().any(|l| l.contains(">> step go")), "{seen:?}");
    let (_, records) = env.only_run();
    let approvals: Vec<(&str, &str, u32, u32)> = records
        .iter()
        .filter_map(|r| match r {
            Record::GateApproved {
                who,
                via,
                have,
                need,
                ..
            } => Some((who.as_str(), via.as_str(), *have, *need)),
            _ => None,
        })
        .collect();
    assert_eq!(approvals.len(), 1, "{records:?}");
    assert_eq!(
        (approvals[0].1, approvals[0].2, approvals[0].3),
        ("--approve", 1, 2)
    );
    assert!(approvals[0].0.starts_with("ops-tester@"), "{approvals:?}");
    assert!(
        !records
            .iter()
            .any(|r| matches!(r, Record::GateDecided { .. })),
        "{records:?}"
    );
}

/// The headless printer gives every output line of a chunk its prefix, whatever the lines'
/// lengths (empty, around the 16-byte block its loop copies, long), the step's name (a prefix
/// past the 32-byte block) and the stream; a chunk without a final line end still ends its last
/// line. Checked against the plain rule, line by line, over deterministically varied chunks.
#[test]
fn every_output_line_gets_its_prefix_whatever_its_length() {
    use std::sync::Arc;
    use tollgate::protocol::{Event, Stream};
    let mut seed: u64 = 7;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let steps = ["gen", "a-step-whose-name-is-longer-than-the-block"];
    for round in 0..300 {
        let step = steps[round % 2];
        let stream = if round % 3 == 0 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        let mut text = String::new();
        for _ in 0..1 + next(40) {
            let len = [0, 1, 7, 8, 15, 16, 17, 31, 33, 200][next(10)];
            text.extend((0..len).map(|i| char::from(b'a' + ((i + round) % 26) as u8)));
            text.push('\n');
        }
        if round % 5 == 0 {
            text.pop();
        }
        let mut out = Vec::new();
        {
            let mut p = tollgate::headless::Printer::new(&mut out);
            p.event(&Event::Output {
                step: step.into(),
                stream,
                text: Arc::from(text.as_str()),
            })
            .unwrap();
            p.flush().unwrap();
        }
        let sep = if stream == Stream::Stderr { "!" } else { "|" };
        let want: Vec<String> = text
            .strip_suffix('\n')
            .unwrap_or(&text)
            .split('\n')
            .map(|l| format!("{step} {sep} {l}"))
            .collect();
        let got = String::from_utf8(out).unwrap();
        assert!(got.ends_with('\n'), "{got:?}");
        let got: Vec<String> = got
            .lines()
            .map(|l| {
                let (stamp, rest) = l.split_at(13);
                assert!(
                    stamp.len() == 13 && stamp.as_bytes()[2] == b':' && stamp.ends_with(' '),
                    "{l:?}"
                );
                rest.to_string()
            })
            .collect();
        assert_eq!(got, want, "round {round}");
    }
}

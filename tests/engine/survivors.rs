//! A step's processes after tollgate is killed: recorded before the step runs, found again on
//! resume (a reused pid is not mistaken for them), and stopped or waited for before the step
//! re-runs, so two copies never run at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tollgate::engine::journal::{self, Record};
use tollgate::exec::procs::{self, ProcStart};
use tollgate::exec::{Executor, Job, JobCommon, OutputSink, ShellCall, Work};

/// A step that starts `sleep` in its group for `secs`, then writes `start`, waits, and writes
/// `end`: once `start` is written, the `sleep` exists.
fn runbook(dir: &Path, secs: u32) -> PathBuf {
    let rb = dir.join("rb.yaml");
    std::fs::write(
        &rb,
        format!(
            "name: survivors\nphases:\n  - id: p\n    steps:\n      - id: long\n        run: |\n          sleep {secs} &\n          echo start >> \"$runbook_dir/ran\"\n          wait\n          echo end >> \"$runbook_dir/ran\"\n"
        ),
    )
    .unwrap();
    rb
}

fn tollgate(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn ran(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ran"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts the runbook, SIGKILLs tollgate once the step runs; returns what the journal recorded.
fn killed_mid_step(dir: &Path, secs: u32) -> Vec<ProcStart> {
    let rb = runbook(dir, secs);
    let mut child: Child = tollgate(dir, &["run", rb.to_str().unwrap(), "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to start", || ran(dir) == ["start"]);
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = journal::list_runs(&dir.join("state"));
    let replay = runs[0].1.as_ref().unwrap();
    replay.processes.get("long").cloned().unwrap_or_default()
}

#[test]
fn a_step_process_is_journaled_before_the_step_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recorded = killed_mid_step(dir, 30);
    let path = &journal::list_runs(&dir.join("state"))[0].0;
    let (lines, _) = journal::read_lines(&journal::journal_path(&dir.join("state"), path)).unwrap();
    let at = |f: &dyn Fn(&Record) -> bool| lines.iter().position(|l| f(&l.record));
    let started = at(&|r| matches!(r, Record::StepStarted { .. })).unwrap();
    let process = at(&|r| matches!(r, Record::StepProcess { .. })).unwrap();
    assert!(started < process);
    assert_eq!(recorded.len(), 1);
    let p = &recorded[0];
    assert_eq!(p.pgid, p.pid);
    assert!(p.start_ticks > 0 && !p.boot_id.is_empty());
    // The interpreter dies with tollgate; its `sleep` does not.
    wait_for("the shell to die with tollgate", || {
        let found = procs::survivors(p);
        found.len() == 1 && found[0].command.starts_with("sleep")
    });
    let found = procs::survivors(p);
    assert!(found[0].command.starts_with("sleep 30"), "{found:?}");
    procs::survivors(p).iter().for_each(|s| unsafe {
        libc::kill(s.pid, libc::SIGKILL);
    });
}

#[test]
fn resume_with_survivors_needs_kill_survivors_or_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recorded = killed_mid_step(dir, 30);
    let out = tollgate(dir, &["resume", "--headless", "--rerun", "long"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--kill-survivors") && stderr.contains("--wait"),
        "{stderr}"
    );
    assert!(stderr.contains("sleep 30"), "{stderr}");
    // Nothing re-ran, nothing was journaled.
    assert_eq!(ran(dir), ["start"]);
    assert!(!procs::survivors(&recorded[0]).is_empty());

    let out = tollgate(
        dir,
        &[
            "resume",
            "--headless",
            "--kill-survivors",
            "--rerun",
            "long",
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // The first copy's `sleep` goes before the second copy starts.
    wait_for("the re-run to start", || ran(dir).len() == 2);
    assert!(procs::survivors(&recorded[0]).is_empty());
    let mut out = out;
    // The re-run's own `sleep 30`: stop it through the journal's new record.
    let runs = journal::list_runs(&dir.join("state"));
    let replay = runs[0].1.as_ref().unwrap();
    let second = replay.processes["long"][0].clone();
    assert_ne!(second, recorded[0]);
    out.kill().unwrap();
    out.wait().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(
        rt.block_on(procs::stop(
            &second,
            Duration::from_secs(1),
            Duration::from_secs(10)
        ))
        .is_empty()
    );
    let (lines, _) =
        journal::read_lines(&journal::journal_path(&dir.join("state"), &replay.run_id)).unwrap();
    assert!(lines.iter().any(|l| matches!(
        &l.record,
        Record::GateDecided { choice: tollgate::engine::Choice::KillSurvivors, via, .. } if via == "--kill-survivors"
    )));
}

#[test]
fn resume_with_wait_reruns_only_after_the_first_copy_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The first copy's `sleep 2` outlives tollgate, then its shell is gone: nothing writes `end`.
    // The second copy must not start before that `sleep` has ended.
    let recorded = killed_mid_step(dir, 2);
    assert!(!procs::survivors(&recorded[0]).is_empty());
    let out = tollgate(dir, &["resume", "--headless", "--wait", "--rerun", "long"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("via --wait"), "{stdout}");
    assert!(stdout.contains("survivors gone"), "{stdout}");
    assert_eq!(ran(dir), ["start", "start", "end"]);
    let waited = stdout.find("survivors gone").unwrap();
    assert!(waited < stdout.find(">> step long").unwrap(), "{stdout}");
}

#[test]
fn a_reused_pid_is_not_a_survivor() {
    // This process runs, but with another start time than the one recorded: not the step's.
    let pid = std::process::id() as i32;
    let ticks = procs::start_ticks(pid).unwrap();
    let mine = ProcStart {
        pgid: pid,
        pid,
        start_ticks: ticks,
        boot_id: procs::boot_id(),
    };
    let reused = ProcStart {
        start_ticks: ticks - 1,
        ..mine.clone()
    };
    let other_boot = ProcStart {
        boot_id: "another boot".into(),
        ..mine.clone()
    };
    assert!(procs::survivors(&mine).iter().any(|s| s.pid == pid));
    assert!(procs::survivors(&reused).is_empty());
    assert!(procs::survivors(&other_boot).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecorded_step_process_never_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let (started_tx, mut started_rx) = mpsc::channel(1);
    let job = Job {
        common: JobCommon {
            step: "s".into(),
            workdir: tmp.path().to_path_buf(),
            env: Vec::new(),
            timeout: None,
            keep_stdout: 0,
            started: Some(started_tx),
            environment: None,
        },
        work: Work::Shell(ShellCall {
            script: format!("touch {}", marker.display()),
            interpreter: Vec::new(),
        }),
    };
    let (ev_tx, _ev_rx) = mpsc::channel(64);
    let sink = OutputSink {
        step: "s".into(),
        events: ev_tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let shell = tollgate::exec::shell::Shell;
    let exec = shell.execute(&job, &sink, cancel_rx);
    tokio::pin!(exec);
    // The journal could not take the record: the report is dropped unanswered.
    let outcome = tokio::select! {
        o = &mut exec => o,
        s = started_rx.recv() => {
            let s = s.unwrap();
            // Held: the script has not run yet.
            assert!(procs::start_ticks(s.proc.pid).is_some());
            assert!(!marker.exists());
            drop(s);
            exec.await
        }
    };
    assert!(outcome.error.is_some(), "{outcome:?}");
    assert!(!marker.exists());
}

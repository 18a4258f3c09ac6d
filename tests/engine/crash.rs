//! SIGKILL the real binary at many points of a run, resume, and check that the journal always
//! parses and that no step runs twice unless the operator chose to re-run it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate::engine::RunStatus;
use tollgate::engine::journal;

const STEPS: usize = 12;

fn runbook() -> String {
    let mut s = String::from("name: crash test\nphases:\n");
    for (p, range) in [("a", 1..5), ("b", 5..9), ("c", 9..13)] {
        s.push_str(&format!("  - id: {p}\n    gate: true\n    steps:\n"));
        for i in range {
            s.push_str(&format!(
                "      - id: s{i}\n        run: |\n          echo start-s{i} >> \"$runbook_dir/ran\"\n          sleep 0.03\n          echo end-s{i} >> \"$runbook_dir/ran\"\n"
            ));
        }
    }
    s
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

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn sigkill_at_any_point_then_resume_never_reruns_a_step_unasked() {
    let total_lines = STEPS * 2;
    let re = regex::Regex::new(r"gate `(s\d+)` needs a decision").unwrap();
    let mut reran_points = 0;
    let mut marked_points = 0;
    // Kill after each of the 24 lines the steps write, plus once right at the start.
    for point in 0..=total_lines {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let rb = dir.join("crash.yaml");
        std::fs::write(&rb, runbook()).unwrap();
        let ran = dir.join("ran");
        let mut child = tollgate(
            dir,
            &["run", rb.to_str().unwrap(), "--headless", "--approve-all"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while lines(&ran).len() < point {
            assert!(Instant::now() < deadline, "point {point}: no progress");
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill();
        child.wait().unwrap();

        // Resume until done, answering only what is asked.
        let mut interrupted: Option<(String, bool)> = None;
        // A step killed mid-way may leave its `sleep` running a moment: wait for it.
        let mut flags: Vec<String> = vec!["--approve-all".into(), "--wait".into()];
        let mut finished = false;
        for _ in 0..4 {
            let state = dir.join("state");
            for (id, r) in journal::list_runs(&state) {
                let r =
                    r.unwrap_or_else(|e| panic!("point {point}: journal {id} does not parse: {e}"));
                assert!(!r.run_id.is_empty() || r.steps.is_empty());
            }
            let mut args = vec!["resume", "--headless"];
            args.extend(flags.iter().map(String::as_str));
            let out = tollgate(dir, &args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            match out.status.code() {
                Some(0) => {
                    finished = true;
                    break;
                }
                Some(5)
                    if stderr.contains("never started")
                        || (stderr.contains("no unfinished run")
                            && journal::list_runs(&state).is_empty()) =>
                {
                    // Killed before the first journal line: start again.
                    let out = tollgate(
                        dir,
                        &["run", rb.to_str().unwrap(), "--headless", "--approve-all"],
                    )
                    .output()
                    .unwrap();
                    assert_eq!(out.status.code(), Some(0));
                    finished = true;
                    break;
                }
                Some(5)
                    if stderr.contains("no unfinished run")
                        && journal::list_runs(&state).iter().all(|(_, r)| {
                            r.as_ref()
                                .is_ok_and(|r| r.status == Some(RunStatus::Succeeded))
                        }) =>
                {
                    // The run finished before the kill landed: nothing to resume.
                    finished = true;
                    break;
                }
                Some(3) => {
                    // Paused: an interrupted step needs the operator.
                    let step = re
                        .captures(&stderr)
                        .unwrap_or_else(|| panic!("point {point}: paused for what? {stderr}"))[1]
                        .to_string();
                    let rerun = point % 2 == 0;
                    flags.push(if rerun { "--rerun" } else { "--mark-done" }.into());
                    flags.push(step.clone());
                    interrupted = Some((step, rerun));
                }
                other => panic!("point {point}: resume exited {other:?}: {stderr}"),
            }
        }
        assert!(finished, "point {point}: never finished");
        match &interrupted {
            Some((_, true)) => reran_points += 1,
            Some((_, false)) => marked_points += 1,
            None => {}
        }

        let ran = lines(&ran);
        for i in 1..=STEPS {
            let step = format!("s{i}");
            let starts = ran
                .iter()
                .filter(|l| **l == format!("start-{step}"))
                .count();
            let ends = ran.iter().filter(|l| **l == format!("end-{step}")).count();
            match &interrupted {
                Some((s, true)) if *s == step => {
                    assert!(
                        (1..=2).contains(&starts),
                        "point {point}: {step} started {starts}×"
                    );
                    // The re-run finished; the first run may or may not have.
                    assert!(
                        (1..=2).contains(&ends),
                        "point {point}: {step} ended {ends}×"
                    );
                }
                Some((s, false)) if *s == step => {
                    assert!(starts <= 1, "point {point}: {step} started {starts}×");
                    assert!(ends <= 1, "point {point}: {step} ended {ends}×");
                }
                _ => {
                    assert_eq!(
                        starts, 1,
                        "point {point}: {step} started {starts}× in {ran:?}"
                    );
                    assert_eq!(ends, 1, "point {point}: {step} ended {ends}× in {ran:?}");
                }
            }
        }
    }
    // The kill points must have exercised both operator choices.
    assert!(
        reran_points > 0 && marked_points > 0,
        "rerun {reran_points}, marked {marked_points}"
    );
}

/// A kill between making a run's folder and writing its journal leaves a folder that is no run:
/// `runs` does not list it and `resume` finds nothing unfinished, so the run is simply started again.
#[test]
fn a_run_folder_without_a_journal_never_started() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("state/runs/20260101-000000-dead")).unwrap();
    assert!(journal::list_runs(&dir.join("state")).is_empty());
    let out = tollgate(dir, &["resume", "--headless"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no unfinished run"));
    let out = tollgate(dir, &["runs"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("dead"));
}

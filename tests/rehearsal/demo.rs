//! `tollgate demo`, headless through the binary: the built-in runbook rehearsed against the
//! sandbox and the stand-ins — 1.5.0 built, pushed and rolled out, 1.6.0 crash-looping (the demo
//! injects it), its rollout failing with the kubelet's CrashLoopBackOff, and rolled back.

use std::process::Output;

use tollgate::engine::journal::{self, Record};
use tollgate::engine::{Choice, RunStatus};

use crate::common::binary::{Bin, text};

const DECISIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/demo/decisions.yaml");

fn demo(b: &Bin, args: &[&str]) -> Output {
    let mut all = vec!["demo"];
    all.extend_from_slice(args);
    b.run(&all)
}

/// The lines of `stdout` printed for step `step` (`HH:MM:SS.mmm REHEARSAL STEP | …`).
fn step_lines<'a>(stdout: &'a str, step: &str) -> Vec<&'a str> {
    let out = format!(" REHEARSAL {step} | ");
    let err = format!(" REHEARSAL {step} ! ");
    stdout
        .lines()
        .filter(|l| l.contains(&out) || l.contains(&err))
        .collect()
}

#[test]
fn the_demo_ships_a_release_then_rolls_back_the_one_that_crash_loops() {
    let b = Bin::new();
    let out = demo(
        &b,
        &["--headless", "--approve-all", "--approve", "deploy=demo"],
    );
    let (stdout, stderr) = text(&out);
    // Rolled back: a step failed and the rollback path ran (exit 1).
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("== run rolled back"), "{stdout}");

    // Every line says it is a rehearsal, and the crash is said to be the demo's doing.
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        assert!(line.contains(" REHEARSAL "), "{line}");
    }
    assert!(
        stdout.contains(
            "rehearsal: set-image-next: injected: the new pods of deployment web crash-loop"
        ),
        "{stdout}"
    );

    // 1.5.0: built and pushed into the ECR stand-in, the deployment pinned to that digest, and a
    // rolling update, one new pod at a time.
    let digest = stdout
        .lines()
        .find_map(|l| l.split(" REHEARSAL push-image | digest=").nth(1))
        .unwrap_or_else(|| panic!("no digest pushed:\n{stdout}"))
        .trim()
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let rollout = step_lines(&stdout, "rollout").join("\n");
    for want in [
        "1 out of 3 new replicas have been updated",
        "2 out of 3 new replicas have been updated",
        "deployment \"web\" successfully rolled out",
    ] {
        assert!(rollout.contains(want), "{want}:\n{rollout}");
    }
    let pinned = format!("web:1.5.0@{digest}");
    assert!(
        step_lines(&stdout, "runs-pushed-image")
            .iter()
            .any(|l| l.ends_with(&pinned)),
        "{stdout}"
    );

    // 1.6.0: its rollout fails at the progress deadline, its pod in CrashLoopBackOff, with the
    // crashed container's last lines.
    let failed = stdout
        .lines()
        .find(|l| l.contains("!! step rollout-next failed"))
        .unwrap_or_else(|| panic!("rollout-next did not fail:\n{stdout}"));
    assert!(failed.contains("ProgressDeadlineExceeded"), "{failed}");
    assert!(failed.contains(": CrashLoopBackOff (restarts "), "{failed}");
    let next = step_lines(&stdout, "rollout-next").join("\n");
    assert!(
        next.contains("FATAL startup check failed, exiting with status 1"),
        "{next}"
    );
    assert!(
        stdout.contains("gate rollout-next: rollback by ")
            && stdout.contains("via automatic (non-interactive: the runbook's on_failure)"),
        "{stdout}"
    );

    // The rollback: undone to the previous revision, its rollout finished, 1.5.0 running again.
    assert!(
        step_lines(&stdout, "undo")
            .iter()
            .any(|l| l.contains("deployment/web rolled back: revision 3 → revision 2")),
        "{stdout}"
    );
    assert!(
        step_lines(&stdout, "rollout-undone")
            .iter()
            .any(|l| l.ends_with("deployment \"web\" successfully rolled out")),
        "{stdout}"
    );
    assert!(
        step_lines(&stdout, "back-on-release")
            .iter()
            .any(|l| l.ends_with(&pinned)),
        "{stdout}"
    );

    // The journal says the same: rolled back, rollout-next failed, the rollback chosen for it.
    let (_, path) = b.only_run();
    let (lines, _) = journal::read_lines(&path).unwrap();
    let records: Vec<Record> = lines.into_iter().map(|l| l.record).collect();
    let finished = records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::RunFinished { status, .. } => Some(*status),
            _ => None,
        })
        .expect("run_finished");
    assert_eq!(finished, RunStatus::RolledBack);
    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::GateDecided { gate, choice: Choice::Rollback, .. } if gate == "rollout-next"
        )),
        "{records:?}"
    );

    // The demo's files, written to the state folder and rehearsed from there.
    for f in [
        "first-deploy.yaml",
        "cluster.yaml",
        "app/Dockerfile",
        "app/serve.sh",
    ] {
        assert!(b.state().join("demo").join(f).is_file(), "{f}");
    }
    assert!(
        stdout.contains(&format!(
            "sending the build context {}",
            b.state().join("demo/app").display()
        )),
        "{stdout}"
    );
}

#[test]
fn the_demo_scripted_by_its_decisions_file_ends_as_the_file_expects() {
    let b = Bin::new();
    let out = demo(&b, &["--decisions", DECISIONS, "--speed", "4"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(": as expected"), "{stdout}");
    assert!(
        stdout.contains("gate rollout-next: rollback by"),
        "{stdout}"
    );
    assert!(stdout.contains("via rehearsal-script"), "{stdout}");
}

#[test]
fn without_the_injection_the_demo_runbook_ships_both_releases() {
    // The crash is the demo's injection, not the runbook's: rehearsed without it, 1.6.0 rolls
    // out like 1.5.0 and the run succeeds, the rollback never needed.
    let b = Bin::new();
    let out = b.run(&[
        "rehearse",
        "runbooks/demo/first-deploy.yaml",
        "--headless",
        "--approve-all",
        "--approve",
        "deploy=demo",
        "--speed",
        "4",
        "--docker",
        "stand-in",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("== run succeeded"), "{stdout}");
    assert!(
        step_lines(&stdout, "rollout-next")
            .iter()
            .any(|l| l.ends_with("deployment \"web\" successfully rolled out")),
        "{stdout}"
    );
    assert!(!stdout.contains("CrashLoopBackOff"), "{stdout}");
    assert!(!stdout.contains("step undo"), "{stdout}");
}

#[test]
fn a_bad_demo_flag_is_one_line_and_starts_nothing() {
    let b = Bin::new();
    let out = demo(&b, &["--headless", "--speed", "0"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--speed must be a positive number, not 0"),
        "{stderr}"
    );
    assert!(!b.state().join("runs").exists(), "no run was started");
}

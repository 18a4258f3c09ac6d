//! A runbook's `deadline`: `check` refuses a bad duration in one `file:line:col:` line, `plan`
//! shows it.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn tollgate(args: &[&str], state: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TOLLGATE_STATE_DIR", state)
        .stdin(Stdio::null())
        .output()
        .expect("start tollgate")
}

fn book(dir: &std::path::Path, name: &str, deadline: &str) -> String {
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "name: dr failover\ndeadline: {deadline}\nphases:\n  - id: fail-over\n    steps:\n      - id: promote\n        run: echo promoted\n"
        ),
    )
    .unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn check_refuses_a_bad_deadline_in_one_positioned_line() {
    let dir = tempfile::tempdir().unwrap();
    for (deadline, message) in [
        (
            "4 hours",
            "`deadline`: `4 hours` is not a duration (e.g. 30s, 5m, 1h30m; no spaces)",
        ),
        (
            "soon",
            "`deadline`: `soon` is not a duration (e.g. 30s, 5m, 1h30m)",
        ),
        (
            "0s",
            "`deadline` must be more than 0 (the run's whole time, e.g. 4h)",
        ),
        (
            "99999d",
            "`deadline`: `99999d` is too long (at most 36500d)",
        ),
    ] {
        let file = book(dir.path(), "bad.yaml", deadline);
        let out = tollgate(&["check", &file], dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{deadline}: {stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, [format!("{file}:2:11: {message}")], "{deadline}");
    }
    let file = book(dir.path(), "good.yaml", "4h");
    let out = tollgate(&["check", &file], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn plan_shows_the_deadline_and_where_it_counts_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = book(dir.path(), "dr.yaml", "4h");
    let out = tollgate(&["plan", &file], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "deadline: 4h (from the run's start)"),
        "{stdout}"
    );
    // None declared: no line.
    let plain = dir.path().join("plain.yaml");
    std::fs::write(
        &plain,
        "name: plain\nphases:\n  - id: p\n    steps:\n      - id: s\n        run: echo ok\n",
    )
    .unwrap();
    let out = tollgate(&["plan", plain.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("deadline"), "{stdout}");
}

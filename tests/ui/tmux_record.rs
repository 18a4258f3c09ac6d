//! `--record FILE.cast` in the real binary inside tmux: the run's interface recorded as an
//! asciicast v2 file that a real player reads back (`asciinema cat`, from tests/asciinema/
//! setup.sh), with a marker at each gate; and headless `--record` the same way.
//!
//! Every tmux server here is private and killed when the test ends. Without tmux the tests
//! print a note and pass.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};
use crate::common::venv;

const GATED: &str = r#"name: Cache — flush
phases:
  - id: flush
    title: Flush the cache
    gate:
      message: Flush the cache now?
    steps:
      - id: flush-it
        title: Flush it
        run: echo "flushed every key"
  - id: check
    title: Check
    gate: { message: Check it? }
    steps:
      - id: check-it
        title: Check it
        run: echo "cache empty"
"#;

/// `asciinema cat FILE`: what a player replays, or why it could not.
fn played(cast: &Path) -> String {
    venv::setup("asciinema").expect("the asciinema venv");
    let bin = venv::dir("asciinema", "ASCIINEMA_VENV").join("bin/asciinema");
    let out = Command::new(bin).arg("cat").arg(cast).output().unwrap();
    assert!(
        out.status.success(),
        "asciinema cat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The markers of an asciicast v2 file, in order; the header checked first.
fn markers(cast: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    lines
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e[1] == "m")
        .map(|e| e[2].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_interface_is_recorded_with_a_marker_at_every_gate() {
    if !tmux_installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let runbook = tmp.path().join("flush.yaml");
    std::fs::write(&runbook, GATED).unwrap();
    let cast = tmp.path().join("run.cast");
    let mut t = Tmux::new("record");
    t.shell("r", tmp.path());
    t.command(
        "r",
        &format!(
            "{} --state-dir state run {} --record {}; echo $? > code.tmp; mv code.tmp code",
            sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            sh_quote(runbook.to_str().unwrap()),
            sh_quote(cast.to_str().unwrap())
        ),
    );
    for (message, done) in [
        ("Flush the cache now?", "flushed every key"),
        ("Check it?", "cache empty"),
    ] {
        t.wait_text("r", message);
        t.probe("r", "a", "approve chosen", |s| {
            s.contains("Enter to approve")
        });
        t.press("r", &["Enter"], "the step's output", |s| s.contains(done));
    }
    t.wait("r", "the run succeeded", |s| {
        s.lines()
            .nth(1)
            .is_some_and(|banner| banner.trim_end().ends_with("· succeeded"))
    });
    t.keys("r", &["q"]);
    let code = tmp.path().join("code");
    let deadline = Instant::now() + DEADLINE;
    while !code.exists() {
        assert!(Instant::now() < deadline, "{}", t.screen("r"));
        std::thread::sleep(POLL);
    }
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "0");
    assert_eq!(markers(&cast), ["gate: flush", "gate: check"]);
    let replay = played(&cast);
    for shown in [
        "Cache — flush",
        "Flush the cache now?",
        "flushed every key",
        "cache empty",
    ] {
        assert!(replay.contains(shown), "`{shown}` not replayed");
    }
}

#[test]
fn a_headless_run_is_recorded_too() {
    let tmp = tempfile::tempdir().unwrap();
    let runbook = tmp.path().join("flush.yaml");
    std::fs::write(&runbook, GATED).unwrap();
    let cast = tmp.path().join("run.cast");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args([
            "run",
            "--headless",
            "--approve",
            "flush",
            "--approve",
            "check",
        ])
        .arg(&runbook)
        .arg("--record")
        .arg(&cast)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(markers(&cast), ["gate: flush", "gate: check"]);
    let replay = played(&cast);
    assert!(replay.contains("flushed every key") && replay.contains("cache empty"));
    // The recording is what stdout got.
    assert_eq!(replay, String::from_utf8_lossy(&out.stdout));
}

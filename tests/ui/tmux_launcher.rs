//! The launcher in the real binary inside tmux: `tollgate` alone finds a runbook (of the test's
//! own, in a temporary folder named by TOLLGATE_RUNBOOKS) by the alert typed, its form refuses
//! a bad pattern on screen, takes the values and a secret, and the run goes to the end in the
//! run's interface; and a paused run, listed first, is resumed with Enter.
//!
//! Every tmux server here is private and killed when the test ends. Without tmux the tests
//! print a note and pass.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tollgate::engine::RunStatus;
use tollgate::engine::journal;

use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};

const RESTART: &str = r#"name: Queue workers — restart
description: The job queue backs up; restart its workers with a release.
owner: queue team
triggers:
  alerts:
    - "QueueBacklogHigh > 1000 jobs"
variables:
  release:
    pattern: 'v[0-9]+\.[0-9]+'
    default: "v1.0"
  count:
    type: int
    default: "2"
  token:
    secret: true
    description: the queue's admin token
phases:
  - id: restart
    title: Restart the workers
    steps:
      - id: restart-workers
        title: Restart them
        run: |
          printf 'release=%s count=%s token=%s\n' "$release" "$count" "${token#tok-}" > "$TMPDIR/launched.txt"
          echo "restarted {{ count }} workers at {{ release }}"
"#;

const DECOY: &str = r#"name: Web — deploy
description: Ships the web front end.
phases:
  - id: ship
    title: Ship
    steps:
      - id: ship-it
        title: Ship it
        run: echo shipped
"#;

const GATED: &str = r#"name: Cache — flush
description: Flushes the cache, after a gate.
triggers:
  symptoms:
    - "stale pages served"
phases:
  - id: flush
    title: Flush the cache
    gate:
      message: Flush the cache now?
    steps:
      - id: flush-it
        title: Flush it
        run: echo flushed > "$TMPDIR/flushed.txt"
"#;

/// A temporary folder: `runbooks/` with the test's runbooks, `state/`, and a wrapper
/// `./tollgate` that runs the binary with that state folder.
struct Setup {
    tmp: tempfile::TempDir,
    state: PathBuf,
}

impl Setup {
    fn new(runbooks: &[(&str, &str)]) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        for (path, text) in runbooks {
            let p = tmp.path().join("runbooks").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let state = tmp.path().join("state");
        let wrapper = tmp.path().join("tollgate");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho $$ > {pid}.tmp && mv {pid}.tmp {pid}\nexec {bin} --state-dir {state} \"$@\"\n",
                pid = sh_quote(tmp.path().join("tollgate.pid").to_str().unwrap()),
                bin = sh_quote(env!("CARGO_BIN_EXE_tollgate")),
                state = sh_quote(state.to_str().unwrap()),
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Setup { tmp, state }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The launcher's command line: it exits, then its exit code is written (renamed into
    /// place, so a file that exists is complete).
    fn launch_line(&self) -> String {
        let runbooks = self.dir().join("runbooks");
        format!(
            "TOLLGATE_RUNBOOKS={} ./tollgate; echo $? > code.tmp; stty -a > stty.tmp; mv stty.tmp stty; mv code.tmp code",
            sh_quote(runbooks.to_str().unwrap())
        )
    }

    fn wait_file(&self, name: &str, tmux: &Tmux, target: &str) -> String {
        let path = self.dir().join(name);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{name} was never written; the screen shows:\n{}",
                tmux.screen(target)
            );
            std::thread::sleep(POLL);
        }
    }
}

/// The run's banner line says it succeeded.
fn succeeded(s: &str) -> bool {
    s.lines()
        .nth(1)
        .is_some_and(|banner| banner.trim_end().ends_with("· succeeded"))
}

#[test]
fn launcher_finds_by_alert_fills_the_form_and_runs_to_the_end() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new(&[("queue/restart.yaml", RESTART), ("web/deploy.yaml", DECOY)]);
    let mut t = Tmux::new("launcher");
    t.shell("l", setup.dir());
    t.command("l", &setup.launch_line());
    t.wait("l", "the launcher's list", |s| {
        s.contains("2 runbooks") && s.contains("Queue workers — restart")
    });

    t.type_text("l", "QueueBacklog");
    t.wait("l", "the runbook found by its alert", |s| {
        s.contains("1 of 2")
            && s.contains("▸ Queue workers — restart")
            && s.contains("matched alert QueueBacklogHigh")
            && !s.contains("Web — deploy")
    });
    t.press("l", &["Enter"], "the plan and the form", |s| {
        s.contains("runbook: Queue workers — restart") && s.contains("variables")
    });

    // A bad release is refused on screen, and Enter does not run it.
    t.keys("l", &["C-u"]);
    t.type_text("l", "1.2");
    t.wait("l", "the pattern refused", |s| {
        s.contains("`1.2` does not match the pattern")
    });
    t.press("l", &["Enter"], "Enter refused", |s| {
        s.contains("cannot run yet")
    });
    t.keys("l", &["C-u"]);
    t.type_text("l", "v3.1");
    t.wait("l", "the release accepted", |s| {
        s.contains("v3.1▏") && !s.contains("does not match") && s.contains("Enter runs it")
    });
    // The plan follows the values typed.
    t.wait("l", "the plan with v3.1", |s| {
        s.contains("release = v3.1  (--var)")
    });
    t.keys("l", &["Tab", "BSpace"]);
    t.type_text("l", "5");
    t.wait("l", "count 5", |s| s.contains("restarted 5 workers"));
    t.keys("l", &["Tab"]);
    t.type_text("l", "tok-abcdef123456");
    let screen = t.wait("l", "the token masked", |s| s.contains("••••••••••••••••"));
    assert!(!screen.contains("tok-abc"), "{screen}");

    t.keys("l", &["Enter"]);
    let screen = t.wait("l", "the run succeeded", succeeded);
    assert!(screen.contains("restarted 5 workers at v3.1"), "{screen}");
    assert!(!screen.contains("tok-abc"), "{screen}");
    t.keys("l", &["q"]);
    let code = setup.wait_file("code", &t, "l");
    assert_eq!(code.trim(), "0", "{}", t.screen("l"));
    assert_eq!(
        std::fs::read_to_string(setup.dir().join("launched.txt")).unwrap(),
        "release=v3.1 count=5 token=abcdef123456\n"
    );
    // The run is journaled as `run` journals it: the values, never the secret.
    let runs = journal::list_runs(&setup.state);
    assert_eq!(runs.len(), 1);
    let r = runs[0].1.as_ref().unwrap();
    assert_eq!(r.status, Some(RunStatus::Succeeded));
    assert_eq!(r.vars.get("release").map(String::as_str), Some("v3.1"));
    assert_eq!(r.vars.get("count").map(String::as_str), Some("5"));
    let journal_text =
        std::fs::read_to_string(journal::journal_path(&setup.state, &runs[0].0)).unwrap();
    assert!(!journal_text.contains("tok-abcdef123456"));
}

#[test]
fn launcher_resumes_a_paused_run_from_the_list() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new(&[("cache/flush.yaml", GATED), ("web/deploy.yaml", DECOY)]);
    // A run paused at its gate: headless, with no one to ask.
    let out = std::process::Command::new(setup.dir().join("tollgate"))
        .arg("run")
        .arg(setup.dir().join("runbooks/cache/flush.yaml"))
        .arg("--headless")
        .env("TMPDIR", setup.dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = journal::list_runs(&setup.state);
    assert_eq!(runs.len(), 1);
    let run_id = runs[0].0.clone();

    let mut t = Tmux::new("launcher-resume");
    t.shell("r", setup.dir());
    t.command("r", &setup.launch_line());
    t.wait("r", "the paused run listed first, selected", |s| {
        s.contains("unfinished runs (Enter resumes)")
            && s.lines()
                .any(|l| l.contains("▸ paused") && l.contains(&run_id))
    });
    t.keys("r", &["Enter"]);
    t.wait_text("r", "Flush the cache now?");
    t.probe("r", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press("r", &["Enter"], "the run succeeded", succeeded);
    t.keys("r", &["q"]);
    let code = setup.wait_file("code", &t, "r");
    assert_eq!(code.trim(), "0", "{}", t.screen("r"));
    assert_eq!(
        std::fs::read_to_string(setup.dir().join("flushed.txt")).unwrap(),
        "flushed\n"
    );
    // The same run, resumed: no new one.
    let runs = journal::list_runs(&setup.state);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, run_id);
    assert_eq!(
        runs[0].1.as_ref().unwrap().status,
        Some(RunStatus::Succeeded)
    );
}

#[test]
fn open_without_a_terminal_says_so_and_exits_2() {
    let setup = Setup::new(&[("web/deploy.yaml", DECOY)]);
    let out = std::process::Command::new(setup.dir().join("tollgate"))
        .arg("open")
        .arg(setup.dir().join("runbooks"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("the launcher needs a terminal"), "{err}");
}

#[test]
fn launcher_gives_the_terminal_back_after_sigterm() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new(&[("web/deploy.yaml", DECOY)]);
    let mut t = Tmux::new("launcher-term");
    t.shell("s", setup.dir());
    t.command("s", &setup.launch_line());
    t.wait("s", "the launcher's list", |s| {
        s.lines().any(|l| l.trim_end().ends_with("▏  1 runbook"))
    });
    assert_eq!(t.format("s", "#{alternate_on}"), "1");
    let pid: libc::pid_t = setup
        .wait_file("tollgate.pid", &t, "s")
        .trim()
        .parse()
        .unwrap();
    // SAFETY: a signal to the process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let code = setup.wait_file("code", &t, "s");
    assert_eq!(code.trim(), "0", "{}", t.screen("s"));
    let stty = std::fs::read_to_string(setup.dir().join("stty")).unwrap();
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["icanon", "echo"] {
        assert!(
            flags.contains(&flag),
            "`{flag}` is off after SIGTERM:\n{stty}"
        );
    }
    assert_eq!(t.format("s", "#{alternate_on}"), "0");
}

//! The real binary's terminal interface inside tmux, used as a person would: a shell-only deploy
//! runbook's gates (tests/fixtures/runbooks/valid/shell-deploy.yaml) answered with keys, the
//! process killed with SIGKILL mid-step and the run resumed, and the terminal given back intact
//! after `q` and after SIGTERM.
//!
//! Every tmux server here is private (`tmux -L <unique name>`, no config file) and killed when the
//! test ends, pass or fail. Without tmux the tests print a note and pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use tollgate::engine::journal::{self, Record};
use tollgate::engine::{Choice, GateKind, RunStatus};

use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};

/// Everything one test's runs keep: a temporary folder with the state folder, a wrapper that
/// records tollgate's pid and `exec`s it (so the pid is tollgate's own), and the files `stty -a`
/// writes.
struct Setup {
    tmp: tempfile::TempDir,
    state: PathBuf,
    runbook: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
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
        let runbook = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/runbooks/valid/shell-deploy.yaml");
        Setup {
            tmp,
            state,
            runbook,
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The command line that starts `./tollgate ARGS` and, once it has exited, writes `stty -a`
    /// to `stty_file` (renamed into place, so a file that exists is complete).
    fn line(&self, args: &str, stty_file: &str) -> String {
        let _ = std::fs::remove_file(self.dir().join("tollgate.pid"));
        format!("./tollgate {args}; stty -a > {stty_file}.tmp; mv {stty_file}.tmp {stty_file}")
    }

    fn run_line(&self, stty_file: &str) -> String {
        let rb = sh_quote(self.runbook.to_str().unwrap());
        self.line(&format!("run {rb}"), stty_file)
    }

    /// Waits for a file the pane's shell writes.
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

    fn pid(&self, tmux: &Tmux, target: &str) -> libc::pid_t {
        self.wait_file("tollgate.pid", tmux, target)
            .trim()
            .parse()
            .unwrap()
    }

    fn run_id(&self) -> String {
        let runs = journal::list_runs(&self.state);
        assert_eq!(runs.len(), 1, "one run expected");
        runs[0].0.clone()
    }

    fn runs_listing(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--state-dir")
            .arg(&self.state)
            .arg("runs")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Whether the screen shows every one of `texts`. Conditions on a whole screen are checked in
/// one capture: a frame reaches the terminal in several writes, and a capture between them shows
/// its top half new and its bottom half old.
fn all(screen: &str, texts: &[&str]) -> bool {
    texts.iter().all(|t| screen.contains(t))
}

/// The line of the screen that contains `text`.
fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with `{text}` in:\n{screen}"))
}

/// Whether `stty -a` shows the terminal in its normal, cooked mode.
fn assert_cooked(stty: &str, after: &str) {
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for flag in ["icanon", "echo"] {
        assert!(
            flags.contains(&flag) && !flags.contains(&format!("-{flag}").as_str()),
            "after {after}, `stty -a` does not show `{flag}` on:\n{stty}"
        );
    }
}

const PREFLIGHT: &str = "GATE before phase preflight";
const BUILD: &str = "GATE before phase build";
const DEPLOY: &str = "GATE before phase deploy";
const CHOOSE_FIRST: &str = "choose with ←/→ or a key first";

/// The preflight gate: both checklist items ticked, then approved.
fn pass_preflight(t: &Tmux, pane: &str) {
    t.wait_text(pane, PREFLIGHT);
    // `a` only chooses approve (once the dialog takes keys); Enter then decides, and approving
    // with the checklist open is refused with a message.
    t.probe(pane, "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press(pane, &["Enter"], "approve refused", |s| {
        s.contains("tick every checklist item first")
    });
    t.press(pane, &["Space"], "first item ticked", |s| {
        s.contains("[x] Change ticket approved")
    });
    t.press(pane, &["Down", "Space"], "second item ticked", |s| {
        s.contains("[x] Scratch space is writable")
    });
    t.press(pane, &["a", "Enter"], "the preflight gate closed", |s| {
        !s.contains(PREFLIGHT)
    });
    t.wait(
        pane,
        "the preflight steps succeeded, the checklist done",
        |s| {
            all(
                s,
                &["preflight ☐2/2", "✓ check-tools", "✓ prepare-workspace"],
            )
        },
    );
}

/// The build gate: approved, and compile seen running.
fn pass_build(t: &Tmux, pane: &str) {
    t.wait_text(pane, BUILD);
    t.wait_text(pane, "Build version 1.4.2?");
    // Enter with no button chosen only says so; pressing it again changes nothing.
    t.probe(pane, "Enter", "Enter asks for a choice", |s| {
        s.contains(CHOOSE_FIRST)
    });
    t.press(pane, &["a", "Enter"], "the build gate closed", |s| {
        !s.contains(BUILD)
    });
    t.wait(pane, "compile running with output", |s| {
        s.contains("▶ compile") && s.contains("compiling module 2/8")
    });
}

#[test]
fn gates_kill_resume_and_quit() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new();
    let mut t = Tmux::new("resume");

    // The first run, answered at the keyboard and killed in the middle of the compile step.
    t.shell("run", setup.dir());
    t.command("run", &setup.run_line("stty-killed"));
    pass_preflight(&t, "run");
    pass_build(&t, "run");
    let pid = setup.pid(&t, "run");
    // SAFETY: a plain kill(2) of the tollgate this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    // The control: a tollgate that cannot clean up leaves the terminal raw and on the alternate
    // screen, which is what the checks after `q` and SIGTERM would catch.
    let stty = setup.wait_file("stty-killed", &t, "run");
    let flags: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        flags.contains(&"-icanon") && flags.contains(&"-echo"),
        "{stty}"
    );
    assert_eq!(t.format("run", "#{alternate_on}"), "1");
    let run_id = setup.run_id();
    assert!(
        line_with(&setup.runs_listing(), &run_id).contains("interrupted"),
        "{}",
        setup.runs_listing()
    );

    // `tollgate resume` in a new session: the step that was running is asked about, re-run, and
    // the run goes on through the destructive deploy gate to the end.
    t.shell("resume", setup.dir());
    t.command("resume", &setup.line("resume", "stty-quit"));
    let retry = "[t] retry   [m] mark-done   [x] abort";
    let first = t.wait("resume", "the interrupted step's dialog", |s| {
        s.contains("STEP INTERRUPTED compile")
            && (s.contains(retry) || s.contains("[k] kill-survivors"))
    });
    // Killed within one of its `sleep 0.2`s, the step may have left one running: when resume
    // still finds it, it is stopped before the step can re-run.
    let survivors = first.contains("[k] kill-survivors");
    if survivors {
        t.probe("resume", "k", "kill-survivors chosen", |s| {
            s.contains("Enter to kill-survivors")
        });
        t.press("resume", &["Enter"], "the survivors stopped", |s| {
            s.contains(retry)
        });
    }
    t.probe("resume", "Enter", "Enter asks for a choice", |s| {
        s.contains(CHOOSE_FIRST)
    });
    t.press(
        "resume",
        &["t", "Enter"],
        "the interrupted dialog closed",
        |s| !s.contains("STEP INTERRUPTED"),
    );
    t.wait("resume", "compile and package succeeded", |s| {
        s.contains("✓ compile") && s.contains("✓ package")
    });

    t.wait(
        "resume",
        "the destructive deploy gate, on its checklist",
        |s| {
            all(
                s,
                &[
                    DEPLOY,
                    "DESTRUCTIVE",
                    "▶ [ ] Someone is watching the dashboards",
                    "[a] approve",
                ],
            )
        },
    );
    // Esc hides the dialog to look at the panes: the gate stays open and the banner says so;
    // `d` brings it back.
    t.probe("resume", "Escape", "the dialog hidden", |s| {
        !s.contains(DEPLOY) && s.contains("hidden: d shows it")
    });
    t.press("resume", &["d"], "the dialog back", |s| s.contains(DEPLOY));
    // Shown again, it ignores keys for a moment, as when it opened.
    t.probe("resume", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press("resume", &["Enter"], "approve refused", |s| {
        s.contains("tick every checklist item first")
    });
    t.press("resume", &["Space"], "the checklist ticked", |s| {
        s.contains("[x] Someone is watching the dashboards")
    });
    t.press("resume", &["Tab"], "the confirmation field", |s| {
        s.contains("to approve: ▏")
    });
    t.type_text("resume", "dex");
    t.wait_text("resume", "type `demo` to approve: dex▏");
    // Ctrl-W deletes the word, Ctrl-U clears: neither types a letter.
    t.press("resume", &["C-w"], "the word deleted", |s| {
        s.contains("to approve: ▏")
    });
    t.type_text("resume", "dem");
    t.press("resume", &["C-u"], "the field cleared", |s| {
        s.contains("to approve: ▏")
    });
    t.type_text("resume", "dem");
    t.press(
        "resume",
        &["Enter", "a", "Enter"],
        "a wrong word refused",
        |s| s.contains("`dem` does not match"),
    );
    t.type_text("resume", "o");
    t.wait_text("resume", "type `demo` to approve: demo▏  ✓ matches");
    t.press("resume", &["Tab"], "the note field", |s| {
        s.contains("note: ▏")
    });
    t.press(
        "resume",
        &["Tab", "a", "Enter"],
        "the deploy gate closed",
        |s| !s.contains(DEPLOY),
    );

    // Every step succeeded: those of this session (the scheduler refused the first call of
    // reserve-capacity, so its second attempt is shown) and those finished before the kill,
    // which the resumed interface shows from the journal.
    t.wait("resume", "the run succeeded with every step ✓", |s| {
        let succeeded = s
            .lines()
            .nth(1)
            .is_some_and(|banner| banner.trim_end().ends_with("· succeeded"));
        let second_attempt = s
            .lines()
            .any(|l| l.contains("✓ reserve-capacity") && l.contains(" #2"));
        succeeded
            && second_attempt
            && all(
                s,
                &[
                    "✓ preflight",
                    "✓ check-tools",
                    "✓ prepare-workspace",
                    "✓ compile",
                    "✓ package",
                    "✓ deploy ◆! ☐1/1",
                    "✓ switch-release",
                    "✓ smoke-test",
                    "✓ summary",
                ],
            )
    });

    // On a finished run `q` quits at once, and the shell gets its terminal back.
    t.keys("resume", &["q"]);
    let stty = setup.wait_file("stty-quit", &t, "resume");
    assert_cooked(&stty, "`q`");
    assert_eq!(t.format("resume", "#{alternate_on}"), "0");
    let screen = t.wait_text("resume", &format!("run {run_id}: succeeded"));
    assert!(screen.contains("./tollgate resume;"), "{screen}");
    assert!(!screen.contains("phases"), "{screen}");

    // The journal and `tollgate runs` agree.
    assert!(
        line_with(&setup.runs_listing(), &run_id).contains("succeeded"),
        "{}",
        setup.runs_listing()
    );
    let lines = journal::read_lines(&journal::journal_path(&setup.state, &run_id))
        .unwrap()
        .0;
    let decided: Vec<(String, GateKind, Choice, String)> = lines
        .iter()
        .filter_map(|l| match &l.record {
            Record::GateDecided {
                gate,
                kind,
                choice,
                via,
                ..
            } => Some((gate.clone(), *kind, *choice, via.clone())),
            _ => None,
        })
        .collect();
    let interface = || "interface".to_string();
    assert_eq!(
        decided,
        vec![
            (
                "preflight".into(),
                GateKind::Phase,
                Choice::Approve,
                interface()
            ),
            (
                "build".into(),
                GateKind::Phase,
                Choice::Approve,
                interface()
            ),
            (
                "compile".into(),
                GateKind::Interrupted,
                Choice::KillSurvivors,
                interface()
            ),
            (
                "compile".into(),
                GateKind::Interrupted,
                Choice::Retry,
                interface()
            ),
            (
                "deploy".into(),
                GateKind::Phase,
                Choice::Approve,
                interface()
            ),
        ]
        .into_iter()
        .filter(|d| survivors || d.2 != Choice::KillSurvivors)
        .collect::<Vec<_>>()
    );
    assert!(matches!(
        lines.last().map(|l| &l.record),
        Some(Record::RunFinished {
            status: RunStatus::Succeeded
        })
    ));
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new();
    let mut t = Tmux::new("sigterm");
    t.shell("run", setup.dir());
    t.command("run", &setup.run_line("stty-term"));
    pass_preflight(&t, "run");
    pass_build(&t, "run");
    let pid = setup.pid(&t, "run");
    // SAFETY: a plain kill(2) of the tollgate this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);

    let stty = setup.wait_file("stty-term", &t, "run");
    assert_cooked(&stty, "SIGTERM");
    assert_eq!(t.format("run", "#{alternate_on}"), "0");
    let run_id = setup.run_id();
    let screen = t.wait_text("run", &format!("resume with: tollgate resume {run_id}"));
    assert!(screen.contains("./tollgate run"), "{screen}");
    assert!(!screen.contains("phases"), "{screen}");
    let listing = setup.runs_listing();
    assert!(
        !line_with(&listing, &run_id).contains("succeeded"),
        "{listing}"
    );
}

/// The banner's clock (`run ID · HH:MM:SS`), in seconds.
fn banner_clock(screen: &str, run_id: &str) -> u64 {
    let banner = line_with(screen, &format!("run {run_id} · "));
    let clock = banner.split(" · ").nth(1).unwrap().trim();
    let hms: Vec<u64> = clock.split(':').map(|n| n.parse().unwrap()).collect();
    hms[0] * 3600 + hms[1] * 60 + hms[2]
}

#[test]
fn resume_of_a_failed_run_shows_what_it_had_done() {
    if !tmux_installed() {
        return;
    }
    let setup = Setup::new();
    // The first session, headless: every gate approved by flag, the smoke test made to fail; the
    // run stops at the rollback gate no one can decide there.
    let first = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("TMPDIR", setup.dir())
        .arg("--state-dir")
        .arg(&setup.state)
        .args(["run", setup.runbook.to_str().unwrap(), "--headless"])
        .args(["--var", "break_verification=true"])
        .args(["--approve", "preflight", "--approve", "build"])
        .args(["--approve", "deploy=demo"])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(3), "{printed}");
    assert!(
        printed.contains("smoke-test ! smoke test: HTTP 503"),
        "{printed}"
    );
    let run_id = setup.run_id();
    let lines = journal::read_lines(&journal::journal_path(&setup.state, &run_id))
        .unwrap()
        .0;
    let started = chrono::DateTime::parse_from_rfc3339(&lines[0].at).unwrap();

    // Resumed in the interface: the failure dialog of the step that failed then, with its error
    // and last lines, over the screen of everything done before.
    let mut t = Tmux::new("history");
    t.shell("resume", setup.dir());
    let since = (chrono::Utc::now() - started.to_utc()).num_seconds() as u64;
    t.command("resume", &setup.line("resume", "stty-quit"));
    let screen = t.wait("resume", "the failure dialog over the run's past", |s| {
        all(s, &["STEP FAILED smoke-test", "│ smoke test: HTTP 503"])
    });
    assert!(
        screen.contains("error: exit code 1, expected 0 (in an earlier session)"),
        "{screen}"
    );
    // Phases and steps as they ended, with their durations and the checklists confirmed.
    assert!(
        line_with(&screen, "✓ preflight").contains("☐2/2"),
        "{screen}"
    );
    assert!(line_with(&screen, "deploy ◆!").contains("☐1/1"), "{screen}");
    let duration = regex::Regex::new(r"\d+\.\ds").unwrap();
    for step in [
        "✓ check-tools",
        "✓ compile",
        "✓ switch-release",
        "✗ smoke-test (check)",
    ] {
        assert!(
            duration.is_match(line_with(&screen, step)),
            "no duration for {step}:\n{screen}"
        );
    }
    // The events of the first session, decisions with who and how.
    assert!(screen.contains("step compile succeeded"), "{screen}");
    assert!(screen.contains("gate deploy: approve by"), "{screen}");
    assert!(screen.contains("(--approve)"), "{screen}");
    assert!(screen.contains("run resumed"), "{screen}");
    // The commands as they ran, variables filled; the clock counts from the run's start.
    assert!(!screen.contains("{{"), "{screen}");
    assert!(
        screen.contains(&format!("tollgate-demo-{run_id}/current")),
        "{screen}"
    );
    assert!(banner_clock(&screen, &run_id) >= since, "{screen}");
    // A step of the first session shows the output it printed then, kept in the run's folder.
    assert!(
        screen.contains("output: smoke-test · 1 line") && screen.contains("▌smoke test: HTTP 503"),
        "{screen}"
    );
    assert!(
        !screen.contains("output not available in this session"),
        "{screen}"
    );

    // Aborted, the run ends failed, and `q` quits.
    t.probe("resume", "x", "abort chosen", |s| {
        s.contains("Enter to abort")
    });
    t.press("resume", &["Enter"], "the run failed", |s| {
        s.lines()
            .nth(1)
            .is_some_and(|banner| banner.trim_end().ends_with("· failed"))
    });
    t.keys("resume", &["q"]);
    let stty = setup.wait_file("stty-quit", &t, "resume");
    assert_cooked(&stty, "`q`");
}

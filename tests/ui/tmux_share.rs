//! A run followed from other terminals (`tollgate follow`), inside tmux: a driver and two
//! followers, one of them joining late; and a handover, where a follower asks to drive, the
//! driver accepts, and the follower approves a gate, recorded as theirs.
//!
//! The tmux server is private and killed when the test ends. Without tmux the test prints a note
//! and passes.

use std::path::Path;
use std::time::Instant;

use tollgate::engine::journal::{self, Record};

use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};

/// A gate to hold the run until the first follower is there, then a step whose output a late
/// joiner must see, failing so that its dialog keeps it on screen.
const BUILD: &str = r#"
name: shared build
phases:
  - id: build
    gate: { message: "start the build?" }
    steps:
      - id: compile
        run: "echo early-line-1; echo early-line-2; echo early-line-3; exit 1"
"#;

const SHIP: &str = r#"
name: shared ship
phases:
  - id: ship
    gate: { message: "ship it?" }
    steps:
      - id: push
        run: "echo pushed-line"
"#;

/// `name@host` of a follower run by this test's user, as the driver's share tap names it: the
/// driver's own name (the same user is the same person), as its `run_started` journals it.
fn follower_name(state: &Path) -> String {
    match records(state).first() {
        Some(Record::RunStarted { who, .. }) => who.clone(),
        other => panic!("the run's first record is not its start: {other:?}"),
    }
}

/// A private tmux session `name` with a shell for each of `windows`, in a fresh folder holding the
/// runbook `file` (`text`); the state folder, and tollgate's command line on it.
struct Room {
    tmp: tempfile::TempDir,
    state: std::path::PathBuf,
    t: Tmux,
    tg: String,
}

fn room(name: &str, file: &str, text: &str, windows: &[&str]) -> Room {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = dir.join("state");
    std::fs::write(dir.join(file), text).unwrap();
    let mut t = Tmux::new(name);
    for w in windows {
        t.shell(w, dir);
    }
    let tg = tollgate(&state);
    Room { tmp, state, t, tg }
}

fn tollgate(state: &Path) -> String {
    format!(
        "{} --state-dir {}",
        sh_quote(env!("CARGO_BIN_EXE_tollgate")),
        sh_quote(state.to_str().unwrap())
    )
}

fn records(state: &Path) -> Vec<Record> {
    let runs = journal::list_runs(state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let path = journal::journal_path(state, &runs[0].0);
    let (lines, _) = journal::read_lines(&path).unwrap();
    journal::check(&lines).unwrap_or_else(|e| panic!("the journal does not check: {e:?}"));
    lines.into_iter().map(|l| l.record).collect()
}

/// What `look` finds, waited for until the deadline; then a failure saying what it saw last.
fn wait_for<T>(mut look: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match look() {
            Ok(t) => return t,
            Err(seen) => assert!(Instant::now() < deadline, "{seen}"),
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until no socket is left in the run's folder (removed when the run ends).
fn wait_socket_gone(state: &Path) {
    wait_for(|| {
        let left: Vec<_> = journal::list_runs(state)
            .iter()
            .map(|(id, _)| journal::journal_path(state, id).with_file_name("follow.sock"))
            .filter(|p| p.exists())
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?} is still there"))
        }
    })
}

#[test]
fn two_followers_see_every_line_and_gate_and_a_late_one_sees_what_came_before() {
    if !tmux_installed() {
        return;
    }
    let Room {
        tmp: _tmp,
        state,
        t,
        tg,
    } = room("share", "build.yaml", BUILD, &["drive", "ana", "li"]);
    t.command("drive", &format!("{tg} run build.yaml"));
    t.wait_text("drive", "GATE before phase build");
    let me = follower_name(&state);
    let user = me.split('@').next().unwrap().to_string();

    // The first follower: the gate, shown with who decides it; the driver sees it watching.
    t.command("ana", &format!("{tg} follow"));
    let screen = t.wait_text("ana", "decides this gate — D asks to drive");
    assert!(screen.contains("GATE before phase build"), "{screen}");
    assert!(screen.contains("start the build?"), "{screen}");
    t.wait_text("drive", &format!("watching: {user}"));
    // Not at the keys: approving is refused on its screen, and the gate stays open.
    t.press("ana", &["a"], "the refusal", |s| {
        s.contains("decides this gate (D asks to drive)")
    });
    let screen = t.screen("drive");
    assert!(screen.contains("GATE before phase build"), "{screen}");

    // The driver approves; the step prints and fails; the follower sees both live.
    t.probe("drive", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.keys("drive", &["Enter"]);
    t.wait_text("drive", "STEP FAILED");
    t.wait_text("ana", "STEP FAILED compile");
    // Esc hides the dialog (again does nothing more): the output pane under it.
    t.probe("ana", "Escape", "the output under the dialog", |s| {
        (1..=3).all(|i| s.contains(&format!("┃early-line-{i} ")))
    });

    // The second follower joins late: the earlier output and the open gate are there.
    t.command("li", &format!("{tg} follow"));
    t.wait_text("li", "STEP FAILED compile");
    t.probe("li", "Escape", "the earlier output", |s| {
        (1..=3).all(|i| s.contains(&format!("┃early-line-{i} ")))
    });
    // Each line once, in order (the output pane's lines start at its border).
    let screen = t.screen("li");
    let at = |l: &str| screen.find(&format!("┃{l} ")).unwrap_or(usize::MAX);
    assert_eq!(screen.matches("┃early-line-1 ").count(), 1, "{screen}");
    assert!(
        at("early-line-1") < at("early-line-2") && at("early-line-2") < at("early-line-3"),
        "{screen}"
    );
    assert!(at("early-line-3") < usize::MAX, "{screen}");
    t.wait_text("drive", &format!("watching: {user}, {user}"));

    // The driver aborts; both followers see the run's end, then the driver's process going.
    t.probe("drive", "x", "abort chosen", |s| {
        s.contains("Enter to abort")
    });
    t.keys("drive", &["Enter"]);
    // (Aborted at a failed step, the run ends failed.)
    t.wait_text("ana", "steps · failed");
    t.wait_text("li", "steps · failed");
    t.wait_text("ana", "following stopped");
    t.wait_text("li", "following stopped");
    wait_socket_gone(&state);
    t.keys("drive", &["q"]);

    // Who watched is journaled: one follower, then two.
    let watched: Vec<Vec<String>> = records(&state)
        .into_iter()
        .filter_map(|r| match r {
            Record::Watching { names } => Some(names),
            _ => None,
        })
        .collect();
    assert!(watched.contains(&vec![me.clone()]), "{watched:?}");
    assert!(
        watched.contains(&vec![me.clone(), me.clone()]),
        "{watched:?}"
    );
    t.keys("ana", &["q"]);
    t.keys("li", &["q"]);
}

#[test]
fn a_follower_handed_the_keys_approves_a_gate_as_themselves() {
    if !tmux_installed() {
        return;
    }
    let Room {
        tmp: _tmp,
        state,
        t,
        tg,
    } = room("handover", "ship.yaml", SHIP, &["drive", "ana"]);
    t.command("drive", &format!("{tg} run ship.yaml"));
    t.wait_text("drive", "GATE before phase ship");
    let me = follower_name(&state);
    t.command("ana", &format!("{tg} follow"));
    t.wait_text("ana", "decides this gate — D asks to drive");

    // The follower asks; the driver is asked, and accepts.
    t.press("ana", &["D"], "the ask sent", |s| {
        s.contains("to hand over the keys")
    });
    t.wait_text("drive", &format!("{me} asks to drive"));
    t.press("drive", &["a"], "the keys handed over", |s| {
        s.contains("decides this gate — D asks to drive")
    });
    t.wait_text("ana", "you are at the keys");

    // Now the follower decides; the driver's screen follows.
    t.probe("ana", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.keys("ana", &["Enter"]);
    t.wait_text("drive", "pushed-line");
    t.wait_text("ana", "pushed-line");
    t.wait_text("drive", "succeeded");
    t.keys("drive", &["q"]);
    wait_socket_gone(&state);

    let records = records(&state);
    let handed = records
        .iter()
        .position(|r| matches!(r, Record::DriverChanged { who } if *who == me))
        .unwrap_or_else(|| panic!("no driver_changed to {me}: {records:?}"));
    let decided = records
        .iter()
        .position(|r| {
            matches!(r, Record::GateDecided { gate, who, via, .. }
                if gate == "ship" && *who == me && via == "follower")
        })
        .unwrap_or_else(|| panic!("no decision by the follower: {records:?}"));
    assert!(handed < decided, "{records:?}");
    t.keys("ana", &["q"]);
}

/// What `--listen` printed: the address and the token.
fn listening(file: &Path) -> (String, String) {
    wait_for(|| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.contains("TOLLGATE_FOLLOW_TOKEN="))
            .ok_or_else(|| format!("no token line in: {text}"))?;
        let token = line
            .split("TOLLGATE_FOLLOW_TOKEN=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .unwrap_or_default()
            .to_string();
        let addr = line.rsplit(' ').next().unwrap_or_default().to_string();
        Ok((addr, token))
    })
}

/// `--listen 127.0.0.1:0`: the address and token printed once; `follow --connect` with a wrong
/// token refused in one line, with the token shown the run live as `guest@127.0.0.1`, watching
/// only (its ask to drive answered so); the driver's banner lists it; the token is nowhere in the
/// run's folder.
#[test]
fn a_follower_over_tcp_with_the_token_watches_and_nothing_more() {
    if !tmux_installed() {
        return;
    }
    let Room { tmp, state, t, tg } = room("listen", "build.yaml", BUILD, &["drive", "guest"]);
    let dir = tmp.path();
    t.command(
        "drive",
        &format!("{tg} run build.yaml --listen 127.0.0.1:0 2> listen.txt"),
    );
    t.wait_text("drive", "GATE before phase build");
    let (addr, token) = listening(&dir.join("listen.txt"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    t.command(
        "guest",
        &format!(
            "TOLLGATE_FOLLOW_TOKEN={} {tg} follow --connect {addr}; echo \"code-$?-done\"",
            "f".repeat(64)
        ),
    );
    // Exit 5 (the run's state), one line.
    let screen = t.wait_text("guest", "code-5-done");
    assert!(
        screen.contains("refused to be followed: the token is wrong or missing"),
        "{screen}"
    );

    t.command(
        "guest",
        &format!("clear; TOLLGATE_FOLLOW_TOKEN={token} {tg} follow --connect {addr}"),
    );
    let screen = t.wait_text("guest", "decides this gate — D asks to drive");
    assert!(screen.contains("start the build?"), "{screen}");
    t.wait_text("drive", "watching: guest@127.0.0.1");
    t.press("guest", &["D"], "the ask answered", |s| {
        s.contains("only watches")
    });

    // The driver approves; the guest sees the step's lines and its failure live.
    t.probe("drive", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.keys("drive", &["Enter"]);
    t.wait_text("guest", "STEP FAILED compile");
    t.probe("guest", "Escape", "the output under the dialog", |s| {
        (1..=3).all(|i| s.contains(&format!("┃early-line-{i} ")))
    });
    t.probe("drive", "x", "abort chosen", |s| {
        s.contains("Enter to abort")
    });
    t.keys("drive", &["Enter"]);
    t.wait_text("guest", "following stopped");
    wait_socket_gone(&state);
    t.keys("drive", &["q"]);
    t.keys("guest", &["q"]);

    let watched: Vec<Vec<String>> = records(&state)
        .into_iter()
        .filter_map(|r| match r {
            Record::Watching { names } => Some(names),
            _ => None,
        })
        .collect();
    assert!(
        watched.contains(&vec!["guest@127.0.0.1".to_string()]),
        "{watched:?}"
    );
    // The token was printed once, and kept nowhere.
    for entry in walk(&state) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&token),
            "the token is in {}",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

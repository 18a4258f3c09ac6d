//! A two-person gate proven with two real local users, inside tmux: the driver (this test's
//! user, root) approves and is counted, 1 of 2; the same user following from another terminal
//! approves again and is refused (the same person); a second local user, `tgpair-ana`, created
//! here in the group `tgpair` the run is shared with (`--share-group`), follows and approves,
//! and the step runs. The journal names each approver: the driver, then `tgpair-ana@HOST` via
//! `follower`, as the socket's peer credentials say.
//!
//! Creating a user needs root: run otherwise, the test prints a note and passes. Without tmux
//! too. The tmux server is private and killed when the test ends.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tollgate::engine::journal::{self, Record};
use tollgate::protocol::Choice;

use crate::common::tmux::{Tmux, sh_quote, tmux_installed};

const GROUP: &str = "tgpair";
const USER: &str = "tgpair-ana";
const WORD: &str = "dropit";

/// One step behind a destructive gate that needs two people; its output is not its command line
/// (shown before it runs).
const RUNBOOK: &str = r#"
name: two people drop a table
phases:
  - id: cleanup
    steps:
      - id: drop
        gate: { approvals: 2, destructive: true, confirm: dropit, message: "drop the old table?" }
        run: "echo dropped-the-$(echo table)"
"#;

fn note(text: &str) {
    // Straight to stderr, past the test harness's capture, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

fn getent(db: &str, name: &str) -> Option<String> {
    let out = Command::new("getent").args([db, name]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn run_ok(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The group and the user in it, made when missing (another run of this test may make them at
/// the same time: what counts is that they exist afterwards). Returns the user's uid.
fn ensure_user() -> u32 {
    if getent("group", GROUP).is_none() {
        let _ = Command::new("groupadd").arg(GROUP).output();
        assert!(getent("group", GROUP).is_some(), "groupadd {GROUP} failed");
    }
    if getent("passwd", USER).is_none() {
        let _ = Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", "-g", GROUP, USER])
            .output();
    }
    let entry = getent("passwd", USER).unwrap_or_else(|| panic!("useradd {USER} failed"));
    // A user made earlier with another group: in ours too.
    let groups = Command::new("id").args(["-nG", USER]).output().unwrap();
    if !String::from_utf8_lossy(&groups.stdout)
        .split_whitespace()
        .any(|g| g == GROUP)
    {
        run_ok("usermod", &["-a", "-G", GROUP, USER]);
    }
    entry.split(':').nth(2).unwrap().parse().unwrap()
}

/// A folder of the test's temp dir that belongs to `uid`, for it to write in.
fn owned_dir(path: &Path, uid: u32) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    std::os::unix::fs::chown(path, Some(uid), None).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    path.to_path_buf()
}

/// The binary where the other user can run it (the build's target folder may not be reachable
/// for them): a hard link when the temp dir is on the same file system, else a copy.
fn reachable_binary(dir: &Path) -> PathBuf {
    let bin = dir.join("tollgate");
    let built = env!("CARGO_BIN_EXE_tollgate");
    if std::fs::hard_link(built, &bin).is_err() {
        std::fs::copy(built, &bin).unwrap();
    }
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn records(state: &Path, id: &str) -> Vec<Record> {
    let (lines, _) = journal::read_lines(&journal::journal_path(state, id)).unwrap();
    journal::check(&lines).unwrap_or_else(|e| panic!("the journal does not check: {e:?}"));
    lines.into_iter().map(|l| l.record).collect()
}

/// Approves the open gate in `window`: the word typed, approve chosen, Enter. The first key is a
/// probe (Enter with nothing chosen only says to choose), since the dialog ignores keys for a
/// moment after it opens; every later key is then taken in order.
fn approve(t: &Tmux, window: &str) {
    t.probe(window, "Enter", "the dialog taking keys", |s| {
        s.contains("choose with ←/→ or a key first")
    });
    // From the choices, Tab goes round to the word (the gate has no checklist).
    t.keys(window, &["Tab"]);
    t.type_text(window, WORD);
    t.wait_text(window, "✓ matches");
    t.keys(window, &["Enter"]);
    t.press(window, &["a"], "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.keys(window, &["Enter"]);
}

#[test]
fn a_two_person_gate_refuses_the_same_user_twice_and_passes_with_a_second_user() {
    if !tmux_installed() {
        return;
    }
    // SAFETY: geteuid never fails.
    if unsafe { libc::geteuid() } != 0 {
        note("not root: a second local user cannot be made; skipping the two-user tmux test");
        return;
    }
    let uid = ensure_user();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The other user passes through (never lists) the temp dir, and runs the binary there.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    let bin = reachable_binary(dir);
    let state = dir.join("state");
    std::fs::write(dir.join("drop.yaml"), RUNBOOK).unwrap();
    std::fs::set_permissions(
        dir.join("drop.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let ana_home = owned_dir(&dir.join("ana"), uid);
    let ana_state = owned_dir(&dir.join("ana-state"), uid);

    let mut t = Tmux::new("foureyes");
    t.shell("drive", dir);
    t.shell("me", dir);
    t.shell("ana", dir);
    let tg = |state: &Path| {
        format!(
            "{} --state-dir {}",
            sh_quote(bin.to_str().unwrap()),
            sh_quote(state.to_str().unwrap())
        )
    };
    t.command(
        "drive",
        &format!("{} run drop.yaml --share-group {GROUP}", tg(&state)),
    );
    t.wait_text("drive", "drop the old table?");
    let runs = journal::list_runs(&state);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let id = runs[0].0.clone();
    let socket = journal::journal_path(&state, &id).with_file_name("follow.sock");
    let driver = match records(&state, &id).first() {
        Some(Record::RunStarted { who, .. }) => who.clone(),
        other => panic!("the run's first record is not its start: {other:?}"),
    };
    let host = driver.split_once('@').map_or("", |(_, h)| h).to_string();
    let ana = format!("{USER}@{host}");

    // The driver approves: counted, one of two; the gate stays open.
    approve(&t, "drive");
    t.wait_text("drive", "1 of 2");

    // The same user, following: the same person, refused; the run still waits.
    let follow = format!(
        "{} follow --socket {}",
        tg(&state),
        sh_quote(socket.to_str().unwrap())
    );
    t.command("me", &follow);
    t.wait_text("me", "this gate needs 2 people");
    approve(&t, "me");
    t.wait_text("me", "has approved already");
    let screen = t.screen("drive");
    assert!(!screen.contains("dropped-the-table"), "{screen}");

    // The second user, in the shared group, follows from their own account and approves.
    let inner = format!(
        "cd {home} && HOME={home} TMPDIR={home} {bin} --state-dir {st} follow --socket {sock}",
        home = sh_quote(ana_home.to_str().unwrap()),
        bin = sh_quote(bin.to_str().unwrap()),
        st = sh_quote(ana_state.to_str().unwrap()),
        sock = sh_quote(socket.to_str().unwrap()),
    );
    t.command(
        "ana",
        &format!("su -s /bin/sh {USER} -c {}", sh_quote(&inner)),
    );
    t.wait_text("ana", "this gate needs 2 people");
    t.wait_text("drive", "watching:");
    approve(&t, "ana");
    t.wait_text("drive", "dropped-the-table");
    t.wait_text("drive", "succeeded");
    t.wait_text("ana", "dropped-the-table");
    t.wait_text("ana", "following stopped");
    t.wait_text("me", "following stopped");
    t.keys("drive", &["q"]);
    t.keys("me", &["q"]);
    t.keys("ana", &["q"]);

    // The journal: the driver's approval counted, then the second user's passing the gate.
    let records = records(&state, &id);
    let approved: Vec<_> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Record::GateApproved {
                gate,
                who,
                via,
                have,
                need,
                ..
            } => Some((i, gate.as_str(), who.as_str(), via.as_str(), *have, *need)),
            _ => None,
        })
        .collect();
    assert!(
        matches!(approved.as_slice(), [(_, "drop", who, "interface", 1, 2)] if *who == driver),
        "{approved:?}"
    );
    let decided = records
        .iter()
        .position(|r| {
            matches!(r, Record::GateDecided { gate, choice: Choice::Approve, who, via, destructive: true, .. }
                if gate == "drop" && *who == ana && via == "follower")
        })
        .unwrap_or_else(|| panic!("no approval by {ana} via follower: {records:?}"));
    assert!(approved[0].0 < decided, "{records:?}");
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Watching { names } if names.contains(&ana))),
        "{records:?}"
    );

    let out = Command::new(&bin)
        .args(["--state-dir", state.to_str().unwrap(), "verify", &id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

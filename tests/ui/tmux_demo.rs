//! `tollgate demo` in the real interface, inside tmux (160×45), answered with keys as a newcomer
//! would: the REHEARSAL mark, web's pods rolling from one ReplicaSet to the next in the pods pane
//! while the logs pane streams the new pods' lines, then the release that crash-loops
//! (CrashLoopBackOff in the pods pane, the failure dialog offering rollback), rolled back.
//!
//! The tmux server is private and killed when the test ends. Without tmux the test prints a note
//! and passes.

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;

use crate::common::tmux::{Tmux, sh_quote, tmux_installed};

const T: &str = "main";

/// Where the pane titled `name` starts: (row, column of its corner).
fn find_box(grid: &[Vec<char>], name: &str) -> Option<(usize, usize)> {
    grid.iter().enumerate().find_map(|(y, row)| {
        let s: String = row.iter().collect();
        let byte = s
            .find(&format!("┌ {name} "))
            .or_else(|| s.find(&format!("┏ {name} ")))?;
        Some((y, s[..byte].chars().count()))
    })
}

/// The rows inside the pane titled `name`, as text (none when its title is not on screen).
fn box_rows(screen: &str, name: &str) -> Vec<String> {
    let grid: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, left)) = find_box(&grid, name) else {
        return Vec::new();
    };
    let row = &grid[top];
    let corner = |c: &char| matches!(c, '┐' | '┓');
    let Some(right) = (left + 1..row.len()).find(|&x| corner(&row[x])) else {
        return Vec::new();
    };
    grid[top + 1..]
        .iter()
        .take_while(|r| r.get(left).is_some_and(|c| matches!(c, '│' | '┃')))
        .map(|r| r[left + 1..right.min(r.len())].iter().collect())
        .collect()
}

/// web's pods in the pods pane: (ReplicaSet hash, whole row).
fn web_pods(screen: &str) -> Vec<(String, String)> {
    let re = Regex::new(r"\bweb-([a-z0-9]+)-[a-z0-9]{5}\b").unwrap();
    box_rows(screen, "pods")
        .into_iter()
        .filter_map(|row| {
            let hash = re.captures(&row)?.get(1)?.as_str().to_string();
            Some((hash, row))
        })
        .collect()
}

/// The logs pane's lines of web's pods: (ReplicaSet hash, the line's text after the prefix).
fn web_log_lines(screen: &str) -> Vec<(String, String)> {
    let re = Regex::new(r"^([a-z0-9]+)-[a-z0-9]{5} web │ (.*)$").unwrap();
    box_rows(screen, "logs")
        .into_iter()
        .filter_map(|row| {
            let c = re.captures(row.trim())?;
            Some((c[1].to_string(), c[2].trim().to_string()))
        })
        .collect()
}

/// Chooses `key`'s button at the open gate (sent again until the dialog takes keys), then
/// decides it with Enter and waits for the dialog titled `title` to close.
fn decide(t: &Tmux, key: &str, word: &str, title: &str) {
    t.probe(T, key, &format!("{word} chosen"), |s| {
        s.contains(&format!("Enter to {word}"))
    });
    t.press(T, &["Enter"], &format!("{title} decided"), |s| {
        !s.contains(title)
    });
}

#[test]
fn the_demo_rolls_out_live_then_crash_loops_and_rolls_back_in_the_interface() {
    if !tmux_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut t = Tmux::new("demo");
    t.shell(T, dir.path());
    let state = dir.path().join("state");
    t.command(
        T,
        &format!(
            "{} --state-dir {} demo; echo \"demo exited $?\"",
            sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            sh_quote(state.to_str().unwrap())
        ),
    );

    // The first gate, on a screen that says REHEARSAL first, with web's three pods running.
    let screen = t.wait(T, "the build gate and web's three pods running", |s| {
        s.contains("GATE before phase build")
            && web_pods(s).len() == 3
            && web_pods(s).iter().all(|(_, row)| row.contains("Running"))
    });
    let banner = screen.lines().next().unwrap_or_default();
    assert!(banner.trim_start().starts_with("REHEARSAL"), "{screen}");
    // The banner as the real binary draws it in a 160-column terminal.
    insta::assert_snapshot!("demo_banner_in_tmux_160x45", banner.trim_end());
    assert!(
        screen.contains("kube demo-cluster") && screen.contains("aws 123456789012"),
        "{screen}"
    );
    let old: BTreeSet<String> = web_pods(&screen).into_iter().map(|(h, _)| h).collect();
    assert_eq!(old.len(), 1, "one ReplicaSet before the deploy: {screen}");
    decide(&t, "a", "approve", "GATE before phase build");

    // The destructive gate: the checklist ticked, the confirmation word typed, approved.
    t.wait_text(T, "GATE before phase deploy");
    t.wait_text(T, "DESTRUCTIVE");
    t.probe(T, "Space", "the checklist ticked", |s| {
        s.contains("[x] Someone is watching the pods and logs panes")
    });
    t.press(T, &["Tab"], "the word focused", |s| {
        s.contains("▶ type `demo` to approve:")
    });
    t.type_text(T, "demo");
    t.wait_text(T, "✓ matches");
    t.press(T, &["Tab"], "the note focused", |s| s.contains("▶ note:"));
    t.press(T, &["Tab"], "the buttons focused", |s| {
        s.contains("▶ [a] approve")
    });
    decide(&t, "a", "approve", "GATE before phase deploy");

    // The rolling update, live: old and new pods side by side in the pods pane, and the logs
    // pane streaming lines the new pods wrote (not only their `── joined`).
    let screen = t.wait(
        T,
        "old and new pods in the pods pane, and a new pod's log lines",
        |s| {
            let pods = web_pods(s);
            let new_pod = pods.iter().any(|(h, _)| !old.contains(h));
            let old_pod = pods.iter().any(|(h, _)| old.contains(h));
            let new_lines = web_log_lines(s)
                .iter()
                .any(|(h, text)| !old.contains(h) && !text.starts_with("──"));
            new_pod && old_pod && new_lines && s.contains("▶ rollout")
        },
    );
    assert!(
        screen.contains("logs deployment/web"),
        "the logs pane follows the step's deployment: {screen}"
    );
    let released = t.wait(T, "the rollout finished and the next gate", |s| {
        s.contains("GATE before phase ship-next")
    });
    assert!(released.contains("✓ rollout"), "{released}");
    let good: BTreeSet<String> = web_pods(&released)
        .into_iter()
        .map(|(h, _)| h)
        .filter(|h| !old.contains(h))
        .collect();
    assert_eq!(good.len(), 1, "{released}");
    // The gate says the crash is the demo's doing.
    assert!(
        released.contains("The demo makes its pods crash-loop on purpose"),
        "{released}"
    );
    decide(&t, "a", "approve", "GATE before phase ship-next");

    // 1.6.0's pod crash-loops beside the three good ones, which keep serving.
    let screen = t.wait(T, "a new pod in CrashLoopBackOff", |s| {
        web_pods(s).iter().any(|(h, row)| {
            !old.contains(h) && !good.contains(h) && row.contains("CrashLoopBackOff")
        })
    });
    assert_eq!(
        web_pods(&screen)
            .iter()
            .filter(|(h, row)| good.contains(h) && row.contains("Running"))
            .count(),
        3,
        "{screen}"
    );

    // The rollout fails at its deadline; the dialog says why and offers the rollback.
    let failed = t.wait(T, "the failure dialog", |s| {
        s.contains("STEP FAILED rollout-next") && s.contains("[b] rollback")
    });
    assert!(failed.contains("ProgressDeadlineExceeded"), "{failed}");
    assert!(failed.contains("CrashLoopBackOff (restarts"), "{failed}");
    decide(&t, "b", "rollback", "STEP FAILED rollout-next");
    t.wait_text(T, "GATE before phase rollback");
    decide(&t, "a", "approve", "GATE before phase rollback");

    // Rolled back: the crash-looping pod gone, the three good pods left.
    let done = t.wait(T, "the run rolled back, the bad pod gone", |s| {
        let pods = web_pods(s);
        s.lines().nth(1).is_some_and(|l| l.contains("rolled back"))
            && pods.len() == 3
            && pods.iter().all(|(h, _)| good.contains(h))
    });
    assert!(done.contains("✓ rollout-undone"), "{done}");
    assert!(done.contains("✓ back-on-release"), "{done}");

    // `q` leaves; the rehearsal's stand-ins and folder are gone with it.
    t.keys(T, &["q"]);
    // (The command line itself reads `demo exited $?`.)
    let shell = t.wait(T, "the demo's exit", |s| {
        s.lines().any(|l| {
            l.strip_prefix("demo exited ")
                .is_some_and(|code| code.trim().parse::<i32>().is_ok())
        })
    });
    assert!(
        shell
            .lines()
            .any(|l| l.starts_with("run ") && l.contains("rolled back")),
        "{shell}"
    );
    // Rolled back: a step failed and the rollback path ran.
    assert!(
        shell.lines().any(|l| l.trim() == "demo exited 1"),
        "{shell}"
    );
    assert_no_rehearsal_left(dir.path());
}

fn assert_no_rehearsal_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("tollgate-rehearsal-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

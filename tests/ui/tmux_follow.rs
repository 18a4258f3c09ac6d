//! The real binary's interface inside tmux: a deploy's step fails, the failure dialog offers
//! `[o] open rollback` (its `on_failure: {runbook: rollback}`), and `o`, Enter roll back and open
//! the rollback runbook in the interface, with the failed run's id as `{{ from_run }}`; its gate
//! is answered with keys and it runs.
//!
//! The tmux server is private and killed when the test ends. Without tmux the test prints a note
//! and passes.

use std::path::Path;
use std::time::Instant;

use tollgate::engine::journal::{self, Record};

use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};

const DEPLOY: &str = r#"
name: deploy shop
links:
  rollback: rollback.yaml
on_failure: { runbook: rollback }
phases:
  - id: ship
    steps:
      - id: smoke
        title: smoke tests
        run: "echo smoke failing >&2; exit 3"
"#;

const ROLLBACK: &str = r#"
name: roll back shop
phases:
  - id: undo
    gate: { message: "undo run {{ from_run }}?" }
    steps:
      - id: report
        run: "echo from={{ from_run }} > rolled-back.txt; echo rolled back {{ from_run }}"
"#;

/// Waits for a file the runs write.
fn wait_file(path: &Path, tmux: &Tmux, target: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} was never written; the screen shows:\n{}",
            path.display(),
            tmux.screen(target)
        );
        std::thread::sleep(POLL);
    }
}

#[test]
fn the_failure_dialogs_o_opens_the_rollback_runbook_and_it_runs() {
    if !tmux_installed() {
        eprintln!("tmux is not installed: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = dir.join("state");
    std::fs::write(dir.join("deploy.yaml"), DEPLOY).unwrap();
    std::fs::write(dir.join("rollback.yaml"), ROLLBACK).unwrap();
    let mut t = Tmux::new("follow");
    t.shell("run", dir);
    t.command(
        "run",
        &format!(
            "{} --state-dir {} run --approve ship deploy.yaml; echo $? > exit.tmp; mv exit.tmp exit.txt",
            sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            sh_quote(state.to_str().unwrap()),
        ),
    );
    // The failure dialog, with its button (drawn with the dialog, maybe a frame after the title).
    let screen = t.wait_text("run", "[o] open rollback");
    assert!(screen.contains("STEP FAILED"), "{screen}");
    // `o` only chooses; Enter rolls back, and the run ends failed.
    t.probe("run", "o", "open chosen", |s| {
        s.contains("Enter to roll back, then open `rollback`")
    });
    // The rollback runbook opens in the interface, at its gate, naming the failed run.
    t.press("run", &["Enter"], "the rollback runbook's gate", |s| {
        s.contains("GATE before phase undo") && s.contains("roll back shop")
    });
    let runs = journal::list_runs(&state);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let failed = runs
        .iter()
        .find(|(_, r)| r.as_ref().is_ok_and(|r| r.from_run.is_none()))
        .map(|(id, _)| id.clone())
        .unwrap();
    t.wait_text("run", &format!("undo run {failed}?"));
    t.probe("run", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press("run", &["Enter"], "the rollback ran", |s| {
        s.contains(&format!("rolled back {failed}")) && s.contains("succeeded")
    });
    assert_eq!(
        wait_file(&dir.join("rolled-back.txt"), &t, "run").trim(),
        format!("from={failed}")
    );
    t.keys("run", &["q"]);
    // The deploy failed: that is the exit code, though its rollback succeeded.
    assert_eq!(wait_file(&dir.join("exit.txt"), &t, "run").trim(), "1");

    // The failed run names the run that followed it; that run names the failed one.
    let records = |id: &str| -> Vec<Record> {
        journal::read_lines(&journal::journal_path(&state, id))
            .unwrap()
            .0
            .into_iter()
            .map(|l| l.record)
            .collect()
    };
    let followed = runs
        .iter()
        .map(|(id, _)| id)
        .find(|id| **id != failed)
        .unwrap();
    assert!(
        matches!(records(&failed).last(), Some(Record::FollowedBy { run, runbook }) if run == followed && runbook == "rollback"),
        "{:?}",
        records(&failed)
    );
    for (id, _) in journal::list_runs(&state) {
        journal::read_replay(&journal::journal_path(&state, &id))
            .unwrap_or_else(|e| panic!("run {id}: {e}"));
    }
}

/// In a rehearsal, in the interface: a deploy that changed the sandbox (a ConfigMap applied, an
/// image set) fails; the failure dialog's `o` opens its rollback runbook in the same world, and
/// the rollback's `kube.revert {run: "{{ from_run }}"}` puts both back, which its `kube.get`
/// steps show; both journals link.
#[test]
fn a_rehearsed_deploy_is_followed_from_the_dialog_and_its_revert_puts_the_sandbox_back() {
    if !tmux_installed() {
        eprintln!("tmux is not installed: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = dir.join("state");
    for (name, text) in [
        ("cluster.yaml", SHOP_CLUSTER),
        ("green.yaml", SHOP_GREEN),
        ("deploy.yaml", SHOP_DEPLOY),
        ("rollback.yaml", SHOP_ROLLBACK),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut t = Tmux::new("follow-sandbox");
    t.shell("run", dir);
    t.command(
        "run",
        &format!(
            "{} --state-dir {} rehearse deploy.yaml --speed 50 --docker stand-in --approve ship; echo $? > exit.tmp; mv exit.tmp exit.txt",
            sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            sh_quote(state.to_str().unwrap()),
        ),
    );
    // The failure dialog, with its button (drawn with the dialog, maybe a frame after the title).
    let screen = t.wait_text("run", "[o] open rollback");
    assert!(screen.contains("STEP FAILED"), "{screen}");
    t.probe("run", "o", "open chosen", |s| {
        s.contains("Enter to roll back, then open `rollback`")
    });
    t.press("run", &["Enter"], "the rollback runbook's gate", |s| {
        s.contains("roll back shop") && s.contains("put back what run")
    });
    t.probe("run", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    // The reverts ran against the deploy's sandbox: the ConfigMap and the image are back (the
    // output pane shows the last step's output: the image read back).
    t.press("run", &["Enter"], "the sandbox put back", |s| {
        s.contains("✓ config-back")
            && s.contains("restored=registry.example/web:1.0")
            && s.contains("succeeded")
    });
    t.keys("run", &["q"]);
    assert_eq!(wait_file(&dir.join("exit.txt"), &t, "run").trim(), "1");
    let runs = journal::list_runs(&state);
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (failed, followed) = {
        let f = runs
            .iter()
            .find(|(_, r)| r.as_ref().is_ok_and(|r| r.from_run.is_none()))
            .map(|(id, _)| id.clone())
            .unwrap();
        let o = runs
            .iter()
            .map(|(id, _)| id.clone())
            .find(|id| *id != f)
            .unwrap();
        (f, o)
    };
    let last = journal::read_lines(&journal::journal_path(&state, &failed))
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record)
        .next_back();
    assert!(
        matches!(&last, Some(Record::FollowedBy { run, .. }) if *run == followed),
        "{last:?}"
    );
    let replay = journal::read_replay(&journal::journal_path(&state, &followed)).unwrap();
    assert_eq!(replay.from_run.as_deref(), Some(failed.as_str()));
}

const SHOP_CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-config, namespace: shop }
data: { color: blue }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - { name: web, image: "registry.example/web:1.0" }
"#;

const SHOP_GREEN: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-config, namespace: shop }
data: { color: green }
"#;

const SHOP_DEPLOY: &str = r#"
name: deploy shop
targets:
  kube: { context: shop-prod, namespace: shop }
links:
  rollback: rollback.yaml
on_failure: { runbook: rollback }
rehearsal:
  fixtures: [cluster.yaml]
phases:
  - id: ship
    steps:
      - id: config
        run:
          kube.apply: { files: [green.yaml] }
      - id: image
        run:
          kube.set_image: { deployment: web, container: web, image: "registry.example/web:2.0" }
      - id: smoke
        run: "echo smoke tests fail >&2; exit 1"
"#;

const SHOP_ROLLBACK: &str = r#"
name: roll back shop
targets:
  kube: { context: somewhere-else, namespace: elsewhere }
phases:
  - id: revert
    gate: { message: "put back what run {{ from_run }} changed?" }
    steps:
      - id: image-back
        run:
          kube.revert: { run: "{{ from_run }}", step: image }
      - id: config-back
        run:
          kube.revert: { run: "{{ from_run }}", step: config }
      - id: look-config
        run:
          kube.get: { resource: configmap/shop-config, jsonpath: "color={.data.color}" }
        expect: { output_contains: "color=blue" }
      - id: look
        run:
          kube.get: { resource: deployment/web, jsonpath: "restored={.spec.template.spec.containers[0].image}" }
"#;

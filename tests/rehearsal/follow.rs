//! A rehearsed deploy that fails, followed (`--follow-failure-runbook`) into its rollback
//! runbook in the same world: the rollback's `kube.revert {run: "{{ from_run }}"}` puts back,
//! in the same sandbox, what the failed run changed; the decisions file's `follow:` section
//! scripts the rollback's gates and says what it is expected to do.

use std::path::Path;

use tollgate::engine::journal::{self, Record};

use crate::common::binary::{Bin, text};

const CLUSTER: &str = r#"
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

const GREEN: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: { name: shop-config, namespace: shop }
data: { color: green }
"#;

const DEPLOY: &str = r#"
name: deploy shop
targets:
  kube: { context: shop-prod, namespace: shop }
variables:
  version: { default: "2.0" }
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
          kube.set_image: { deployment: web, container: web, image: "registry.example/web:{{ version }}" }
      - id: changed
        run:
          kube.get: { resource: deployment/web, jsonpath: "image={.spec.template.spec.containers[0].image}" }
      - id: smoke
        run: "echo smoke tests fail >&2; exit 1"
"#;

const ROLLBACK: &str = r#"
name: roll back shop
targets:
  kube: { context: somewhere-else, namespace: elsewhere }
variables:
  version: { default: "none" }
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
      - id: look
        run:
          kube.get: { resource: deployment/web, jsonpath: "restored={.spec.template.spec.containers[0].image}" }
      - id: look-config
        run:
          kube.get: { resource: configmap/shop-config, jsonpath: "color={.data.color}" }
"#;

const DECISIONS: &str = r#"
gates:
  ship: approve
expect:
  outcome: failed
  ran: [config, image]
  failed: [smoke]
follow:
  gates:
    revert: approve
  expect:
    outcome: succeeded
    ran: [image-back, config-back, look, look-config]
"#;

fn records(state: &Path, id: &str) -> Vec<Record> {
    journal::read_lines(&journal::journal_path(state, id))
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record)
        .collect()
}

#[test]
fn a_failed_deploy_is_followed_by_its_rollback_which_puts_the_sandbox_back() {
    let b = Bin::new();
    b.runbook("cluster.yaml", CLUSTER);
    b.runbook("green.yaml", GREEN);
    b.runbook("rollback.yaml", ROLLBACK);
    let deploy = b.runbook("deploy.yaml", DEPLOY);
    let decisions = b.runbook("decisions.yaml", DECISIONS);
    let out = b
        .command(&[
            "rehearse",
            "--headless",
            "--follow-failure-runbook",
            "--decisions",
            decisions.to_str().unwrap(),
            deploy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let printed = format!("{stdout}\n{stderr}");
    // Both runs did as their scripts expect: the deploy failed, the rollback succeeded.
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert_eq!(
        stdout.matches(": as expected").count(),
        2,
        "two rehearsals as expected:\n{printed}"
    );
    // The deploy changed the sandbox; the rollback, in the same sandbox, put it back.
    assert!(
        stdout.contains("image=registry.example/web:2.0"),
        "{printed}"
    );
    assert!(
        stdout.contains("restored=registry.example/web:1.0"),
        "{printed}"
    );
    assert!(stdout.contains("color=blue"), "{printed}");
    // Its targets are the failed run's (the sandbox's context and namespace), not its own.
    assert!(
        stdout.contains("targets carried: kube shop-prod ns shop"),
        "{printed}"
    );

    let runs = journal::list_runs(&b.state());
    assert_eq!(runs.len(), 2, "{printed}");
    let (followed, failed): (Vec<_>, Vec<_>) = runs.iter().partition(|(id, _)| {
        matches!(
            records(&b.state(), id).first(),
            Some(Record::RunStarted {
                from_run: Some(_),
                ..
            })
        )
    });
    let (rollback, deploy_run) = (&followed[0].0, &failed[0].0);
    for (id, replay) in &runs {
        let r = replay.as_ref().unwrap_or_else(|e| panic!("run {id}: {e}"));
        assert!(r.rehearsal, "both are rehearsals");
    }
    let first = runs.iter().find(|(id, _)| id == deploy_run).unwrap();
    assert_eq!(
        first.1.as_ref().unwrap().followed_by,
        vec![(rollback.clone(), "rollback".to_string())]
    );
    let second = runs.iter().find(|(id, _)| id == rollback).unwrap();
    assert_eq!(
        second.1.as_ref().unwrap().from_run.as_deref(),
        Some(deploy_run.as_str())
    );
}

#[test]
fn the_follow_section_is_checked_against_the_followed_runbook() {
    let b = Bin::new();
    b.runbook("cluster.yaml", CLUSTER);
    b.runbook("green.yaml", GREEN);
    b.runbook("rollback.yaml", ROLLBACK);
    let deploy = b.runbook("deploy.yaml", DEPLOY);
    let decisions = b.runbook(
        "decisions.yaml",
        &DECISIONS.replace("    revert: approve", "    revrt: approve"),
    );
    let out = b
        .command(&[
            "rehearse",
            "--headless",
            "--follow-failure-runbook",
            "--decisions",
            decisions.to_str().unwrap(),
            deploy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the runbook has no phase or step `revrt` (did you mean `revert`?)")
            && stderr.contains("(in `follow`: no runbook in `links` has it)"),
        "{stderr}"
    );
    // Refused before anything ran.
    assert!(journal::list_runs(&b.state()).is_empty(), "{stdout}");
}

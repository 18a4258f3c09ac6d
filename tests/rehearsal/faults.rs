//! Faults injected in the sandbox by `--inject`, through the binary: a release's new pods
//! crash-loop and the runbook's rollback branch brings the old version back; a node lost under a
//! step; the API server restarting as a step starts.

use std::path::PathBuf;
use std::process::Output;

use crate::common::binary::{Bin, text};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn release(fixture: &str) -> String {
    format!(
        r#"name: Release web 2.0
targets:
  kube: {{ context: shop-prod, namespace: shop }}
rehearsal:
  fixtures: ["{fixture}"]
on_failure: {{ goto: roll-back }}
phases:
  - id: release
    gate: true
    steps:
      - id: roll-out
        run:
          kube.set_image: {{ deployment: web, container: web, image: "shop/web:2.0" }}
      - id: wait
        run:
          kube.rollout_status: {{ deployment: web }}
        expect: {{ timeout: 8s }}
      - id: check-api
        run:
          kube.get: {{ resource: deployments }}
        retries: {{ attempts: 10, delay: 500ms }}
  - id: roll-back
    rollback: true
    steps:
      - id: undo
        run:
          kube.rollout_undo: {{ deployment: web }}
      - id: undo-wait
        run:
          kube.rollout_status: {{ deployment: web }}
        expect: {{ timeout: 30s }}
"#
    )
}

fn rehearse(b: &Bin, decisions: &str, args: &[&str]) -> (Output, String, String) {
    let fixture = PathBuf::from(ROOT).join("tests/fixtures/rehearsal/shop-cluster.yaml");
    let rb = b.runbook("release.yaml", &release(&fixture.display().to_string()));
    let d = b.dir().join("decisions.yaml");
    std::fs::write(&d, decisions).unwrap();
    let mut all = vec![
        "rehearse",
        rb.to_str().unwrap(),
        "--decisions",
        d.to_str().unwrap(),
        "--speed",
        "20",
    ];
    all.extend_from_slice(args);
    let out = b.command(&all).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out, stdout, stderr)
}

#[test]
fn new_pods_that_crash_loop_fail_the_rollout_and_the_rollback_brings_the_old_version_back() {
    let b = Bin::new();
    let (out, stdout, stderr) = rehearse(
        &b,
        "gates: { release: approve }\nexpect:\n  outcome: rolled-back\n  ran: [roll-out, undo, undo-wait]\n  failed: [wait]\n",
        &["--inject", "crashloop=web@roll-out"],
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rehearsal: roll-out: injected: the new pods of deployment web crash-loop"),
        "{stdout}"
    );
    assert!(stdout.contains("CrashLoopBackOff"), "{stdout}");
    assert!(stdout.contains("as expected"), "{stdout}");
}

#[test]
fn the_same_release_without_the_fault_goes_through() {
    let b = Bin::new();
    let (out, stdout, stderr) = rehearse(
        &b,
        "gates: { release: approve }\nexpect:\n  outcome: succeeded\n  ran: [roll-out, wait, check-api]\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
}

#[test]
fn the_api_server_restarting_as_a_step_starts_is_survived_by_its_retries() {
    let b = Bin::new();
    let (out, stdout, stderr) = rehearse(
        &b,
        "gates: { release: approve }\nexpect:\n  outcome: succeeded\n  ran: [check-api]\n",
        &["--inject", "api-restart@check-api"],
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rehearsal: check-api: injected: the Kubernetes API server restarts"),
        "{stdout}"
    );
}

#[test]
fn a_node_lost_under_the_rollout_is_journaled_and_an_unknown_one_says_so() {
    let b = Bin::new();
    let (out, stdout, stderr) = rehearse(
        &b,
        "gates: { release: approve }\nexpect:\n  ran: [roll-out]\n",
        &[
            "--inject",
            "node-loss=node-a@wait",
            "--inject",
            "node-loss=node-z@roll-out",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("rehearsal: wait: injected: node node-a is lost (NotReady)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("node node-z is lost (NotReady) could not be injected: no node \"node-z\""),
        "{stdout}"
    );
    let (_, journal) = b.only_run();
    let journal = std::fs::read_to_string(journal).unwrap();
    assert!(journal.contains("node node-a is lost"), "{journal}");
}

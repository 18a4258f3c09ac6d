//! `tollgate find`: runbooks found by what a responder knows (an alert's name, a symptom, words
//! of the name), under --dir, $TOLLGATE_RUNBOOKS or ./runbooks; decisions files, manifests and
//! fragments are not runbooks; a runbook with errors is listed, saying it cannot start.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn find(cwd: &Path, args: &[&str], env: Option<&str>) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("find")
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1");
    match env {
        Some(v) => cmd.env("TOLLGATE_RUNBOOKS", v),
        None => cmd.env_remove("TOLLGATE_RUNBOOKS"),
    };
    let out = cmd.output().expect("run tollgate find");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Two systems: an incident runbook with triggers, a deploy, a runbook with an error; beside
/// them a decisions file, a cluster fixture and a fragment, which are not runbooks.
fn folder() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        r,
        "shop/incident-payments.yaml",
        "name: Shop — payments failing\nowner: payments team\ntriggers:\n  alerts: [\"PaymentFailureRate > 10%\"]\n  symptoms: [checkout answers 502]\nphases:\n  - id: look\n    steps: [{ id: s, run: echo }]\n",
    );
    write(
        r,
        "shop/deploy.yaml",
        "name: Shop — deploy\ndescription: Ship the orders API.\nphases:\n  - id: go\n    steps: [{ id: s, run: echo }]\n",
    );
    write(
        r,
        "billing/broken.yaml",
        "name: Billing — payments replay\nphases:\n  - id: go\n    steps: [{ id: s, run: echo, retries: many }]\n",
    );
    write(
        r,
        "shop/rehearsals/incident-payments-happy.yaml",
        "runbook: ../incident-payments.yaml\ngates: { look: approve }\n",
    );
    write(
        r,
        "shop/cluster.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n",
    );
    write(
        r,
        "shop/parts/payments-preflight.yaml",
        "name: Payments preflight\nphases:\n  - id: pre\n    steps: [{ id: p, run: echo }]\n",
    );
    d
}

#[test]
fn an_alerts_name_finds_the_runbook_that_declares_it() {
    let d = folder();
    let (code, out, err) = find(d.path(), &["PaymentFailureRate", "--dir", "."], None);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "./shop/incident-payments.yaml  Shop — payments failing  (alert PaymentFailureRate > 10%)"
        ],
        "{out}"
    );
}

#[test]
fn words_find_names_and_symptoms_and_a_broken_runbook_says_it_cannot_start() {
    let d = folder();
    let (code, out, err) = find(d.path(), &["payments"], Some("."));
    assert_eq!(code, Some(0), "{err}");
    let paths: Vec<&str> = out.lines().map(|l| l.split("  ").next().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    // Neither the decisions file, the fixture nor the fragment is a runbook.
    assert_eq!(
        sorted,
        ["./billing/broken.yaml", "./shop/incident-payments.yaml"],
        "{out}"
    );
    let broken = out
        .lines()
        .find(|l| l.starts_with("./billing/broken.yaml"))
        .unwrap();
    assert!(
        broken.contains("[cannot start: ./billing/broken.yaml:4:"),
        "{broken}"
    );
    let (code, out, _) = find(d.path(), &["checkout", "502"], Some("."));
    assert_eq!(code, Some(0));
    assert!(out.contains("(symptom checkout answers 502)"), "{out}");
}

#[test]
fn no_match_exits_1_and_no_folder_exits_2() {
    let d = folder();
    let (code, out, err) = find(d.path(), &["zzqqxx"], Some("."));
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(
        err.contains("no runbook matches `zzqqxx` (3 runbooks under .)"),
        "{err}"
    );
    let (code, _, err) = find(d.path(), &["payments"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("no folder of runbooks:"), "{err}");
}

#[test]
fn the_seeds_runbooks_are_found_by_their_alerts() {
    let (code, out, err) = find(Path::new(ROOT), &["HotWalletBalanceLow"], None);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("runbooks/labelmint/incident-payout-failures.yaml  "),
        "{out}"
    );
    let (code, out, _) = find(Path::new(ROOT), &["BalanceInvariantViolation"], None);
    assert_eq!(code, Some(0));
    assert!(out.contains("runbooks/zerostate/"), "{out}");
}

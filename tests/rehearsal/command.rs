//! The command itself, through the binary: the environment its shell steps see, scripted
//! decisions and injected faults, `plan --rehearse`, the record it leaves, and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::binary::{Bin, text};

/// The folders holding the real `kubectl` and `aws` the tests install, first on a PATH.
fn tools_path() -> String {
    let kubectl = crate::common::kubectl::binary();
    let aws = crate::common::awscli::binary().unwrap_or_else(|e| panic!("no aws CLI: {e}"));
    let dirs: Vec<PathBuf> = [kubectl, aws]
        .iter()
        .map(|b| b.parent().unwrap().to_path_buf())
        .collect();
    let mut path = std::env::join_paths(dirs).unwrap();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path.to_string_lossy().into_owned()
}

fn rehearse(b: &Bin, args: &[&str]) -> Output {
    let mut all = vec!["rehearse", "--headless"];
    all.extend_from_slice(args);
    b.command(&all).env("PATH", tools_path()).output().unwrap()
}

const ENV_RUNBOOK: &str = r#"name: What a rehearsal's shell steps can reach
targets:
  kube: { context: "arn:aws:eks:eu-west-1:123456789012:cluster/shop-prod", namespace: shop }
  aws: { account: "123456789012", region: eu-west-1 }
rehearsal:
  fixtures: []
phases:
  - id: look
    steps:
      - id: look-around
        run:
          env:
            AWS_ENDPOINT_URL: https://secretsmanager.eu-west-1.amazonaws.com
          shell: |
            echo "context=$(kubectl config current-context)"
            echo "account=$(aws sts get-caller-identity --query Account --output text)"
            echo "arn=$(aws sts get-caller-identity --query Arn --output text)"
            env | grep -E '^(AWS_|DOCKER_|KUBE|TOLLGATE_REHEARSAL)' | sort
"#;

#[test]
fn shell_steps_reach_only_the_rehearsals_stand_ins_whatever_the_caller_has() {
    let b = Bin::new();
    let rb = b.runbook("look.yaml", ENV_RUNBOOK);
    // What an operator's laptop has: real-looking keys, a profile, a kubeconfig, a remote daemon.
    let home = b.dir().join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::create_dir_all(home.join(".kube")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIAIOSFODNN7REALKEY\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYREALKEY\n[prod]\naws_access_key_id = AKIAPRODPRODPRODPROD\naws_secret_access_key = prodprodprodprodprodprod\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".kube/config"),
        "apiVersion: v1\nkind: Config\ncurrent-context: real-prod\ncontexts: [{name: real-prod, context: {cluster: real}}]\nclusters: [{name: real, cluster: {server: https://10.9.9.9}}]\nusers: []\n",
    )
    .unwrap();
    let out = b
        .command(&["rehearse", "--headless", rb.to_str().unwrap()])
        .env("PATH", tools_path())
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7REALKEY")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYREALKEY",
        )
        .env("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEREALSESSION")
        .env("AWS_PROFILE", "prod")
        .env("AWS_ENDPOINT_URL", "https://real.example")
        .env("KUBECONFIG", home.join(".kube/config"))
        .env("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        .env("DOCKER_HOST", "tcp://10.1.2.3:2376")
        .env("DOCKER_CONFIG", home.join(".docker"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("context=arn:aws:eks:eu-west-1:123456789012:cluster/shop-prod"),
        "{stdout}"
    );
    assert!(stdout.contains("account=123456789012"), "{stdout}");
    assert!(
        stdout.contains("arn=arn:aws:iam::123456789012:user/tollgate-rehearsal"),
        "{stdout}"
    );
    assert!(stdout.contains("TOLLGATE_REHEARSAL=1"), "{stdout}");
    assert!(
        stdout.contains("AWS_ENDPOINT_URL=http://127.0.0.1:"),
        "the stand-in wins over the step's own env: {stdout}"
    );
    assert!(stdout.contains("DOCKER_HOST=unix://"), "{stdout}");
    let tmp = b.dir().display().to_string();
    assert!(
        stdout.contains(&format!("KUBECONFIG={tmp}/tollgate-rehearsal-")),
        "{stdout}"
    );
    for real in [
        "AKIAIOSFODNN7REALKEY",
        "REALKEY",
        "REALSESSION",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "real.example",
        "10.1.2.3",
        "10.9.9.9",
        "real-prod",
        "KUBERNETES_SERVICE_HOST",
        "secretsmanager.eu-west-1.amazonaws.com",
    ] {
        assert!(!stdout.contains(real), "{real} reached the step:\n{stdout}");
    }
    // Every line says what it is, and nothing of the rehearsal is left behind.
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        assert!(line.contains(" REHEARSAL "), "{line}");
    }
    let left: Vec<_> = std::fs::read_dir(b.dir())
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

const BRANCHES: &str = r#"name: A deploy with a way back
targets: { environment: staging }
on_failure: { goto: roll-back }
phases:
  - id: ship
    gate: { message: ship it?, destructive: true, confirm: staging }
    steps:
      - id: build
        run: echo built
      - id: deploy
        run: echo deployed
      - id: smoke
        run: echo smoke ok
  - id: roll-back
    rollback: true
    steps:
      - id: undo-deploy
        run: echo put back
"#;

fn decisions(b: &Bin, name: &str, yaml: &str) -> PathBuf {
    let p = b.dir().join(name);
    std::fs::write(&p, yaml).unwrap();
    p
}

#[test]
fn an_injected_failure_takes_the_rollback_branch_as_the_decisions_file_expects() {
    let b = Bin::new();
    let rb = b.runbook("ship.yaml", BRANCHES);
    let d = decisions(
        &b,
        "rollback.yaml",
        "gates:\n  ship: { choice: approve, note: rehearsing the way back }\nexpect:\n  outcome: rolled-back\n  ran: [build, undo-deploy]\n  failed: [deploy]\n",
    );
    let out = rehearse(
        &b,
        &[
            rb.to_str().unwrap(),
            "--decisions",
            d.to_str().unwrap(),
            "--inject",
            "step=deploy:fail:the registry is down",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("as expected"), "{stdout}");
    assert!(
        stdout.contains("rehearsal: deploy: injected failure: the registry is down"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("deploy | deployed"),
        "the injected step did not run: {stdout}"
    );
    let (run_id, journal) = b.only_run();
    let journal = std::fs::read_to_string(journal).unwrap();
    assert!(journal.contains("\"rehearsal\":true"), "{journal}");
    assert!(
        journal.contains("\"via\":\"rehearsal-script\""),
        "{journal}"
    );
    assert!(journal.contains("\"event\":\"rehearsal\""), "{journal}");
    let runs = b.run(&["runs"]);
    let (listed, _) = text(&runs);
    let line = listed.lines().find(|l| l.contains(&run_id)).unwrap();
    assert!(line.contains("rehearsal"), "{listed}");

    // The same decisions without the fault: the expectation is not met, and each point says so.
    let b = Bin::new();
    let rb = b.runbook("ship.yaml", BRANCHES);
    let d = decisions(
        &b,
        "rollback.yaml",
        "gates:\n  ship: approve\nexpect:\n  outcome: rolled-back\n  failed: [deploy]\n",
    );
    let out = rehearse(
        &b,
        &[rb.to_str().unwrap(), "--decisions", d.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stderr.contains("expected outcome rolled-back"), "{stderr}");
    assert!(
        stderr.contains("expected deploy to have failed; it succeeded"),
        "{stderr}"
    );
}

#[test]
fn a_gate_the_script_does_not_name_pauses_the_rehearsal() {
    let b = Bin::new();
    let rb = b.runbook("ship.yaml", BRANCHES);
    let d = decisions(&b, "none.yaml", "expect: { outcome: succeeded }\n");
    let out = rehearse(
        &b,
        &[rb.to_str().unwrap(), "--decisions", d.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stderr.contains("expected outcome succeeded"), "{stderr}");
    assert!(stderr.contains("paused"), "{stderr}");
}

#[test]
fn plan_rehearse_shows_how_each_step_rehearses_and_the_coverage() {
    let b = Bin::new();
    let out = b.run(&[
        "plan",
        "--rehearse",
        "tests/fixtures/runbooks/valid/rehearse.yaml",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for want in [
        "rehearsal: a sandbox cluster loaded from rehearsal/cluster.yaml; AWS and Docker stand-ins; secrets that exist: shop/production/token, shop/production/database-url; repositories that exist: shop-web",
        "REHEARSAL: real, against the stand-ins",
        "REHEARSAL: skipped: terraform reaches AWS; the next step stands in for its node group",
        "REHEARSAL: replaced by kube.apply rehearsal/cluster.yaml -n shop",
        "REHEARSAL: replaced by echo 203.0.113.10",
        "rehearsal coverage: 1 real against the stand-ins, 2 replaced, 1 skipped",
        "token = ••••••  (made up in a rehearsal, secret)",
    ] {
        assert!(stdout.contains(want), "{want}\n{stdout}");
    }
    // Without --rehearse, none of it.
    let (plain, _) = text(&b.run(&["plan", "tests/fixtures/runbooks/valid/rehearse.yaml"]));
    assert!(!plain.contains("REHEARSAL"), "{plain}");
}

#[test]
fn bad_input_is_one_line_and_starts_nothing() {
    let b = Bin::new();
    let rb = b.runbook("ship.yaml", BRANCHES);
    let rb = rb.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--inject", "flood=web@x"],
            "--inject flood=web@x: unknown kind `flood`",
        ),
        (
            &["--inject", "step=deplo:fail"],
            "--inject: the runbook has no step `deplo` (did you mean `deploy`?)",
        ),
        (
            &["--speed", "0"],
            "--speed must be a positive number, not 0",
        ),
        (
            &["--fixture", "/nonexistent/cluster.yaml"],
            "fixture /nonexistent/cluster.yaml does not exist",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec![rb];
        all.extend_from_slice(args);
        let out = rehearse(&b, &all);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let d = decisions(&b, "bad.yaml", "gates:\n  shipp: approve\n");
    let out = rehearse(&b, &[rb, "--decisions", d.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:2:", d.display())), "{stderr}");
    assert!(!b.state().join("runs").exists(), "no run was started");
}

/// Where the rehearsal's folder would be: gone after the run.
#[allow(dead_code)]
fn rehearsal_dirs(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("tollgate-rehearsal-")
        })
        .count()
}

#[test]
fn the_aws_stand_in_starts_with_the_runbooks_secrets_and_repositories() {
    let b = Bin::new();
    let rb = b.runbook(
        "seeded.yaml",
        r#"name: What already exists in the account
targets:
  aws: { account: "123456789012", region: eu-west-1 }
rehearsal:
  fixtures: []
  aws:
    secrets: [shop/jwt]
    values:
      shop/database-url: "postgresql://shop:made-up@db.rehearsal.invalid:5432/shop"
    repositories: [shop/web]
phases:
  - id: look
    steps:
      - id: read
        run: |
          echo "url=$(aws secretsmanager get-secret-value --secret-id shop/database-url --query SecretString --output text)"
          aws secretsmanager describe-secret --secret-id shop/jwt --query Name --output text
          aws ecr describe-repositories --query 'repositories[].repositoryName' --output text
          aws secretsmanager describe-secret --secret-id shop/gone >/dev/null 2>&1 || echo "shop/gone is missing"
"#,
    );
    let out = rehearse(
        &b,
        &[rb.to_str().unwrap(), "--inject", "secret-missing=shop/gone"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("url=postgresql://shop:made-up@db.rehearsal.invalid:5432/shop"),
        "{stdout}"
    );
    assert!(stdout.contains("read | shop/jwt"), "{stdout}");
    assert!(stdout.contains("read | shop/web"), "{stdout}");
    assert!(stdout.contains("shop/gone is missing"), "{stdout}");
    assert!(
        stdout.contains(
            "rehearsal: injected: secret shop/gone is missing (it was not there to begin with)"
        ),
        "{stdout}"
    );
}

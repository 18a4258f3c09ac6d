//! Seed 000's phase 1 (pre-deployment setup: AWS identity, secrets into Secrets Manager) and phase 4
//! (container images: ECR login, build, tag, push, ECR validation) run headless from the real
//! `runbooks/labelmint/first-deploy.yaml`, unchanged, against real local servers: moto as AWS
//! (account 288761728065, the design's), a private dockerd, and a docker-registry that takes ECR's
//! credentials and registers what is pushed in moto's ECR (`common/ecr.rs`).
//!
//! The other phases are skipped (`--skip`, journaled as the operator's choice), as are the three steps of phase 1 that need
//! the operator's laptop or the Internet: `check-tools` (helm, psql… are not installed here),
//! `find-hosted-zone` (Route53 through the AWS CLI) and `dns-delegated` (`dig` against public DNS).

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;

use crate::common;
use crate::common::docker::{http_get, shared};
use crate::common::ecr::{EcrRegistry, token_password};
use crate::common::moto::Moto;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ACCOUNT: &str = "288761728065";
/// Phase 1's secrets: (variable, secret id, planted value).
const SECRETS: &[(&str, &str, &str)] = &[
    ("jwt_secret", "jwt-secret", "jwt-planted-4c1d9a7e55"),
    (
        "session_secret",
        "session-secret",
        "session-planted-8e2f0b13",
    ),
    (
        "telegram_client_bot_token",
        "telegram-client-bot-token",
        "7301:client-planted-AAH9x",
    ),
    (
        "telegram_worker_bot_token",
        "telegram-worker-bot-token",
        "7302:worker-planted-BBK3y",
    ),
    (
        "ton_private_key",
        "ton-private-key",
        "tonkey-planted-line-one\ntonkey-planted-line-two",
    ),
    ("ton_api_key", "ton-api-key", "tonapi-planted-91f3c2"),
];
const PHASES: &[&str] = &["pre-deployment-setup", "container-images"];
const OFF_MACHINE: &[&str] = &["check-tools", "find-hosted-zone", "dns-delegated"];

/// A LabelMint checkout: the two Dockerfiles the design names, committed; its HEAD.
fn checkout(dir: &Path) -> String {
    let docker = dir.join("infrastructure/docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("labelmint-frontend-optimized.dockerfile"),
        "FROM scratch\nCOPY web.txt /web.txt\n",
    )
    .unwrap();
    std::fs::write(
        docker.join("labelmint-backend-optimized.dockerfile"),
        "FROM scratch\nCOPY backend.txt /backend.txt\n",
    )
    .unwrap();
    std::fs::write(dir.join("web.txt"), "labelmint web\n").unwrap();
    std::fs::write(dir.join("backend.txt"), "labelmint backend\n").unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "labelmint"]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

/// The phases other than 1 and 4, and the off-machine steps of phase 1.
fn skipped(runbook: &Path) -> Vec<String> {
    let loaded = tollgate::runbook::load(runbook).unwrap();
    assert!(loaded.ok(), "{:?}", loaded.diags);
    let rb = serde_json::to_value(&loaded.runbook).unwrap();
    let mut out: Vec<String> = OFF_MACHINE.iter().map(|s| s.to_string()).collect();
    for phase in rb["phases"].as_array().unwrap() {
        let id = phase["id"].as_str().unwrap();
        if !PHASES.contains(&id) {
            out.push(id.to_string());
        }
    }
    out
}

/// The registry's digest of `name:tag`, asked with ECR's credentials.
fn registry_digest(ecr: &EcrRegistry, name: &str, tag: &str) -> String {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("AWS:{}", token_password(ACCOUNT)))
    );
    let (status, headers, body) = http_get(
        &ecr.addr,
        &format!("/v2/{name}/manifests/{tag}"),
        &[
            ("Authorization", &auth),
            (
                "Accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            ),
        ],
    )
    .unwrap();
    assert_eq!(status, 200, "{name}:{tag}: {body}");
    headers
        .into_iter()
        .find(|(k, _)| k == "docker-content-digest")
        .map(|(_, v)| v)
        .unwrap()
}

/// The headless run of the real runbook, phases 1 and 4, against `moto` and, for images, `docker`
/// and the ECR registry `ecr` (the registry variable keeps its default without it).
fn run_phases(
    tmp: &Path,
    moto: &Moto,
    docker: Option<&str>,
    ecr: Option<&str>,
    repo: &Path,
    head: &str,
    extra: &[&str],
) -> std::process::Output {
    let runbook = Path::new(ROOT).join("runbooks/labelmint/first-deploy.yaml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.arg("--state-dir")
        .arg(tmp.join("state"))
        .args(["run", "--headless", "--approve-all"])
        // Phase 1's gate is destructive: it passes only with its confirmation word.
        .args(["--approve", "pre-deployment-setup=production"])
        .args(extra)
        .arg(&runbook)
        .arg("--var")
        .arg(format!("repo_dir={}", repo.display()))
        .arg("--var")
        .arg(format!("image_tag={head}"))
        .arg("--var")
        .arg("ton_wallet_address=EQD-planted-wallet")
        // A secret never comes from the command line.
        .env("TOLLGATE_VAR_db_password", "unused-in-these-phases");
    if let Some(ecr) = ecr {
        cmd.arg("--var").arg(format!("ecr_registry={ecr}"));
    }
    if let Some(host) = docker {
        cmd.env("DOCKER_HOST", host);
    }
    for id in skipped(&runbook) {
        cmd.arg("--skip").arg(id);
    }
    for (var, _, value) in SECRETS {
        cmd.env(format!("TOLLGATE_VAR_{var}"), value);
    }
    let home = tmp.join("home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.env("HOME", &home)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("KUBECONFIG", tmp.join("no-kubeconfig"))
        .current_dir(tmp)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phases_1_and_4_run_headless_against_aws_and_a_registry() {
    let Some(moto) = Moto::start_as(ACCOUNT) else {
        return;
    };
    let Some(docker) = shared() else { return };
    let Some(ecr) = EcrRegistry::start(&moto.endpoint(), ACCOUNT) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("labelmint");
    let head = checkout(&repo);
    let state = tmp.path().join("state");
    let out = run_phases(
        tmp.path(),
        &moto,
        Some(&docker.host),
        Some(&ecr.addr),
        &repo,
        &head,
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}\nmoto:\n{}",
        moto.log()
    );
    assert!(ecr.errors.lock().unwrap().is_empty(), "{:?}", ecr.errors);

    // Phase 1: the account checked, every secret stored with its value, none of them shown.
    assert!(stdout.contains(&format!("account={ACCOUNT}")), "{stdout}");
    let sm = moto.client().await;
    for (_, id, value) in SECRETS {
        let got = sm
            .get_secret_value()
            .secret_id(format!("labelmint/production/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.secret_string(), Some(*value), "{id}");
    }

    // Phase 4: both images pushed under both tags, with the digest the registry (and so ECR) has,
    // captured from the push and checked by the validation.
    for name in ["labelmint-web", "labelmint-backend"] {
        let digest = registry_digest(&ecr, name, &head);
        assert_eq!(registry_digest(&ecr, name, "latest"), digest, "{name}");
        assert!(
            stdout.contains(&format!("digest={digest}")),
            "{name} {digest} not shown:\n{stdout}"
        );
    }
    for step in [
        "ecr-has-web",
        "ecr-has-backend",
        "secrets-exist",
        "docker-login",
    ] {
        assert!(stdout.contains(step), "{step}:\n{stdout}");
    }

    // Nothing secret anywhere: the planted values (whole, line by line, base64), the ECR token.
    let mut forms = vec![
        token_password(ACCOUNT),
        base64::engine::general_purpose::STANDARD
            .encode(format!("AWS:{}", token_password(ACCOUNT))),
    ];
    for (_, _, value) in SECRETS {
        forms.extend(value.lines().map(str::to_string));
        forms.push(base64::engine::general_purpose::STANDARD.encode(value));
    }
    let places = common::places(&stdout, &stderr, &state);
    let journal = places
        .iter()
        .filter(|(p, _)| p.contains("journal"))
        .map(|(_, t)| t.as_str())
        .collect::<String>();
    assert!(journal.contains("pushed"), "pushes journaled:\n{journal}");
    common::assert_in_none(&places, &forms);
}

/// Credentials of another account: phase 1 stops at its first AWS step, before any secret is
/// written, and says which account it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_stops_phase_1_before_anything_is_written() {
    let Some(moto) = Moto::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("labelmint");
    let head = checkout(&repo);
    let out = run_phases(tmp.path(), &moto, None, None, &repo, &head, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("wrong AWS account"), "{stdout}");
    assert!(stdout.contains(common::moto::MOTO_ACCOUNT), "{stdout}");
    assert!(
        !stdout.contains(">> step store-"),
        "no secret step ran:\n{stdout}"
    );
    let listed = moto.client().await.list_secrets().send().await.unwrap();
    assert!(listed.secret_list().is_empty(), "{listed:?}");
}

/// `--skip` of an id the runbook lacks: one line, the usage exit code, no run started.
#[test]
fn skipping_an_unknown_id_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--headless", "--skip", "dns-delegatd"])
        .arg(Path::new(ROOT).join("runbooks/labelmint/first-deploy.yaml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "tollgate: --skip dns-delegatd: the runbook has no phase or step `dns-delegatd` (did you mean `dns-delegated`?)"
    );
    assert!(!state.join("runs").exists(), "no run was started");
}

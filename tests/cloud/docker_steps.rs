//! `docker.build`, `docker.tag`, `docker.push` and `docker.login` against a real Docker daemon and an
//! htpasswd-protected registry (both private to this test binary, shared by its modules, see
//! `common/docker.rs`). Where they cannot run, each test says so and passes.

use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use tokio::sync::{mpsc, watch};
use tollgate::engine::Event;
use tollgate::exec::docker::{DockerCall, DockerExec, connect_to, run_docker};
use tollgate::exec::{Executor, Job, Outcome, OutputSink};
use tollgate::runbook::docker::{
    DockerAction, DockerBuild, DockerLogin, DockerPush, DockerTag, RegistryAuth,
};

use crate::common;
use crate::common::docker::{DockerHarness, REGISTRY_PASSWORD, REGISTRY_USER, shared};

const KEEP: usize = 64 * 1024;
const WRONG_PASSWORD: &str = "not-the-pass-93d1";

/// A context folder: a `FROM scratch` image with one file, a label from a build arg.
fn context(dir: &Path, dockerfile: &str) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("app/hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("app/debug.log"), "left out\n").unwrap();
    std::fs::write(dir.join("app/.dockerignore"), "*.log\n").unwrap();
}

const DOCKERFILE: &str =
    "FROM scratch\nARG GREETING=none\nCOPY hello.txt /hello.txt\nLABEL greeting=$GREETING\n";

fn build_action(tags: &[&str]) -> DockerAction {
    let mut b = DockerBuild {
        context: "app".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..DockerBuild::default()
    };
    b.build_args.insert("GREETING".into(), "hello".into());
    b.labels.insert("org.example.rev".into(), "abc123".into());
    DockerAction::Build(b)
}

/// Runs `action` with `secrets`, from `workdir`: the outcome and everything the step showed.
async fn run(
    h: &DockerHarness,
    action: DockerAction,
    secrets: &[(&str, &str)],
    workdir: &Path,
) -> (Outcome, String) {
    run_within(h, action, secrets, workdir, Duration::from_secs(120)).await
}

/// [`run`] with a step timeout.
async fn run_within(
    h: &DockerHarness,
    action: DockerAction,
    secrets: &[(&str, &str)],
    workdir: &Path,
    timeout: Duration,
) -> (Outcome, String) {
    run_at(&h.host, action, secrets, workdir, timeout).await
}

/// Runs `action` against the daemon at `host` (a real one, or the rehearsal's stand-in) from
/// `workdir`, with `secrets` in the step's environment: the outcome and everything it showed.
pub(crate) async fn run_at(
    host: &str,
    action: DockerAction,
    secrets: &[(&str, &str)],
    workdir: &Path,
    timeout: Duration,
) -> (Outcome, String) {
    let docker = connect_to(host).await.expect("connect to the daemon");
    let call = DockerCall {
        action,
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        workdir: workdir.to_path_buf(),
    };
    let (tx, mut rx) = mpsc::channel(4096);
    let sink = OutputSink {
        step: "s".into(),
        events: tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (_cancel_tx, cancel) = watch::channel(false);
    let collect = tokio::spawn(async move {
        let mut all = String::new();
        while let Some(e) = rx.recv().await {
            if let Event::Output { text, .. } = e {
                all.push_str(&text);
            }
        }
        all
    });
    let outcome = run_docker(&docker, &call, &sink, cancel, Some(timeout), KEEP).await;
    drop(sink);
    (outcome, collect.await.unwrap())
}

async fn daemon(h: &DockerHarness) -> Docker {
    connect_to(&h.host).await.unwrap()
}

fn image_in(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("image="))
        .unwrap_or_else(|| panic!("no image= in {stdout:?}"))
        .to_string()
}

#[tokio::test]
async fn build_makes_an_image_with_its_labels_args_and_tags() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    let (outcome, output) = run(
        h,
        build_action(&["tollgate-test/build:one", "tollgate-test/build:two"]),
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}\n{output}");
    assert!(
        output.contains("Step 1/"),
        "build output streamed: {output}"
    );
    let id = image_in(&outcome.stdout);
    assert!(id.starts_with("sha256:"), "{id}");

    let docker = daemon(h).await;
    let one = docker
        .inspect_image("tollgate-test/build:one")
        .await
        .unwrap();
    let two = docker
        .inspect_image("tollgate-test/build:two")
        .await
        .unwrap();
    assert_eq!(one.id.as_deref(), Some(id.as_str()));
    assert_eq!(two.id.as_deref(), Some(id.as_str()));
    let labels = one.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("org.example.rev").map(String::as_str),
        Some("abc123")
    );
    assert_eq!(
        labels.get("greeting").map(String::as_str),
        Some("hello"),
        "build arg passed"
    );
    assert_eq!(outcome.changes.len(), 1);
    assert_eq!(outcome.changes[0]["change"], "built");
    assert_eq!(outcome.changes[0]["image"], id.as_str());
}

#[tokio::test]
async fn build_takes_a_dockerfile_path_and_a_target_stage() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    std::fs::create_dir_all(dir.path().join("app/build")).unwrap();
    std::fs::write(
        dir.path().join("app/build/Dockerfile.multi"),
        "FROM scratch AS first\nCOPY hello.txt /first.txt\nLABEL stage=first\n\
         FROM scratch AS second\nCOPY hello.txt /second.txt\nLABEL stage=second\n",
    )
    .unwrap();
    let action = DockerAction::Build(DockerBuild {
        context: "app".into(),
        dockerfile: Some("build/Dockerfile.multi".into()),
        tags: vec!["tollgate-test/stage:first".into()],
        target: Some("first".into()),
        ..DockerBuild::default()
    });
    let (outcome, output) = run(h, action, &[], dir.path()).await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}\n{output}");
    let image = daemon(h)
        .await
        .inspect_image("tollgate-test/stage:first")
        .await
        .unwrap();
    let labels = image.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("stage").map(String::as_str), Some("first"));
}

#[tokio::test]
async fn build_stops_at_the_step_timeout() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    let (outcome, _) = run_within(
        h,
        build_action(&["tollgate-test/timeout:1"]),
        &[],
        dir.path(),
        Duration::ZERO,
    )
    .await;
    assert!(outcome.timed_out, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(outcome.error.is_none() && outcome.changes.is_empty());
}

#[tokio::test]
async fn build_context_leaves_out_what_dockerignore_names() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    // COPY of an ignored file fails: it was not sent.
    context(dir.path(), "FROM scratch\nCOPY debug.log /debug.log\n");
    let (outcome, output) = run(h, build_action(&[]), &[], dir.path()).await;
    assert_eq!(outcome.exit_code, None, "{output}");
    let error = outcome.error.unwrap_or_default();
    assert!(error.contains("debug.log"), "{error}");
}

#[tokio::test]
async fn build_with_a_bad_dockerfile_fails_with_the_daemons_message() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), "FROM scratch\nFROBNICATE everything\n");
    let (outcome, output) = run(h, build_action(&["tollgate-test/bad:1"]), &[], dir.path()).await;
    assert_eq!(outcome.exit_code, None);
    let error = outcome.error.clone().unwrap_or_default();
    eprintln!("--- bad Dockerfile ---\n{output}{error}");
    assert!(
        error.starts_with("build failed: ") && error.contains("unknown instruction: FROBNICATE"),
        "{error}\n{output}"
    );
    assert!(outcome.changes.is_empty());
}

#[tokio::test]
async fn tag_gives_an_image_another_name() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    let (built, output) = run(h, build_action(&["tollgate-test/tag:src"]), &[], dir.path()).await;
    assert_eq!(built.exit_code, Some(0), "{output}");
    let id = image_in(&built.stdout);

    let target = format!("{}/tollgate-test/tag:v1", h.registry);
    let tag = DockerAction::Tag(DockerTag {
        source: "tollgate-test/tag:src".into(),
        target: target.clone(),
    });
    let (outcome, output) = run(h, tag.clone(), &[], dir.path()).await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}\n{output}");
    assert_eq!(image_in(&outcome.stdout), id);
    let docker = daemon(h).await;
    assert_eq!(
        docker.inspect_image(&target).await.unwrap().id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(outcome.changes[0]["change"], "tagged");
    assert_eq!(outcome.changes[0]["previous"], serde_json::Value::Null);

    // Again: nothing changes.
    let (again, output) = run(h, tag, &[], dir.path()).await;
    assert_eq!(again.exit_code, Some(0));
    assert!(again.changes.is_empty());
    assert!(output.contains("already names"), "{output}");

    let missing = DockerAction::Tag(DockerTag {
        source: "tollgate-test/no-such:image".into(),
        target: "tollgate-test/x:1".into(),
    });
    let (outcome, _) = run(h, missing, &[], dir.path()).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("no image tollgate-test/no-such:image on the daemon")
    );
}

/// Builds an image named `registry/name:tag`.
async fn build_for_push(h: &DockerHarness, dir: &Path, image: &str) {
    context(dir, DOCKERFILE);
    let (built, output) = run(h, build_action(&[image]), &[], dir).await;
    assert_eq!(built.exit_code, Some(0), "{output}");
}

fn push_action(image: &str) -> DockerAction {
    DockerAction::Push(DockerPush {
        image: image.into(),
        registry_auth: Some(RegistryAuth {
            username: REGISTRY_USER.into(),
            password_var: "REGISTRY_PASSWORD".into(),
        }),
    })
}

#[tokio::test]
async fn push_with_the_right_password_captures_the_registrys_digest() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/tollgate-test/push:v1", h.registry);
    build_for_push(h, dir.path(), &image).await;

    let (outcome, output) = run(
        h,
        push_action(&image),
        &[("REGISTRY_PASSWORD", REGISTRY_PASSWORD)],
        dir.path(),
    )
    .await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}\n{output}");
    eprintln!("--- push ---\n{output}");
    let digest = outcome
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest="))
        .expect("digest= in stdout")
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        h.manifest_digest("tollgate-test/push", "v1").as_deref(),
        Some(digest.as_str()),
        "the registry's manifest digest"
    );
    assert_eq!(
        outcome.changes,
        vec![serde_json::json!({"change": "pushed", "image": image, "digest": digest})]
    );
    // Progress: a line per status change, not per progress tick.
    assert!(output.contains("Pushed"), "{output}");
    assert!(output.lines().count() < 40, "flooded:\n{output}");
    assert!(!output.contains(REGISTRY_PASSWORD));
    assert!(!format!("{outcome:?}").contains(REGISTRY_PASSWORD));
}

#[tokio::test]
async fn push_with_a_wrong_password_is_denied() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/tollgate-test/denied:v1", h.registry);
    build_for_push(h, dir.path(), &image).await;

    let (outcome, output) = run(
        h,
        push_action(&image),
        &[("REGISTRY_PASSWORD", WRONG_PASSWORD)],
        dir.path(),
    )
    .await;
    assert_eq!(outcome.exit_code, None);
    let error = outcome.error.clone().unwrap_or_default();
    eprintln!("--- denied ---\n{output}{error}");
    assert!(
        error.starts_with(&format!(
            "push of {image} denied by the registry: unauthorized: authentication required"
        )) && error.contains("$REGISTRY_PASSWORD"),
        "{error}\n{output}"
    );
    assert!(outcome.changes.is_empty());
    assert!(h.manifest_digest("tollgate-test/denied", "v1").is_none());
    for secret in [WRONG_PASSWORD, REGISTRY_PASSWORD] {
        assert!(!output.contains(secret), "{output}");
        assert!(!format!("{outcome:?}").contains(secret));
    }
}

#[tokio::test]
async fn push_without_the_secret_value_says_which_variable() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{}/tollgate-test/nosecret:v1", h.registry);
    let (outcome, _) = run(h, push_action(&image), &[], dir.path()).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("the secret variable REGISTRY_PASSWORD (registry_auth.password_var) has no value")
    );
}

fn login_action(h: &DockerHarness) -> DockerAction {
    DockerAction::Login(DockerLogin {
        registry: h.registry.clone(),
        username: REGISTRY_USER.into(),
        password_var: "REGISTRY_PASSWORD".into(),
    })
}

#[tokio::test]
async fn login_with_the_right_password_succeeds() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (outcome, output) = run(
        h,
        login_action(h),
        &[("REGISTRY_PASSWORD", REGISTRY_PASSWORD)],
        dir.path(),
    )
    .await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}\n{output}");
    assert_eq!(outcome.stdout, "Login Succeeded\n");
    assert!(
        output.contains(&format!(
            "checking the credentials for {} as {REGISTRY_USER}",
            h.registry
        )),
        "{output}"
    );
    // A check, not a change.
    assert!(outcome.changes.is_empty());
    assert!(!output.contains(REGISTRY_PASSWORD));
    assert!(!format!("{outcome:?}").contains(REGISTRY_PASSWORD));
}

#[tokio::test]
async fn login_with_a_wrong_password_fails_with_the_daemons_message() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (outcome, output) = run(
        h,
        login_action(h),
        &[("REGISTRY_PASSWORD", WRONG_PASSWORD)],
        dir.path(),
    )
    .await;
    assert_eq!(outcome.exit_code, None);
    let error = outcome.error.clone().unwrap_or_default();
    eprintln!("--- wrong password ---\n{output}{error}");
    assert!(
        error.starts_with(&format!(
            "login to {} as {REGISTRY_USER} failed: ",
            h.registry
        )) && error.to_lowercase().contains("unauthorized")
            && error.ends_with("(check the user and the password in $REGISTRY_PASSWORD)"),
        "{error}"
    );
    assert!(outcome.stdout.is_empty());
    for secret in [WRONG_PASSWORD, REGISTRY_PASSWORD] {
        assert!(!output.contains(secret), "{output}");
        assert!(!format!("{outcome:?}").contains(secret));
    }

    let (outcome, _) = run(h, login_action(h), &[], dir.path()).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("the secret variable REGISTRY_PASSWORD (password_var) has no value")
    );
}

#[tokio::test]
async fn the_executor_runs_the_call_its_job_carries_and_stops_on_cancel() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    let call = DockerCall {
        action: build_action(&["tollgate-test/exec:1"]),
        secrets: Vec::new(),
        workdir: dir.path().to_path_buf(),
    };
    let exec = DockerExec::with(daemon(h).await);
    // A job of another family is not the docker executor's.
    let job = |step: &str| Job {
        common: tollgate::exec::JobCommon {
            step: step.into(),
            workdir: dir.path().to_path_buf(),
            env: Vec::new(),
            timeout: None,
            keep_stdout: KEEP,
            started: None,
            environment: None,
        },
        work: if step == "build" {
            tollgate::exec::Work::Docker(call.clone())
        } else {
            tollgate::exec::Work::Shell(Default::default())
        },
    };
    let (tx, _rx) = mpsc::channel(4096);
    let sink = OutputSink {
        step: "build".into(),
        events: tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (_keep, cancel) = watch::channel(false);
    let outcome = exec.execute(&job("build"), &sink, cancel.clone()).await;
    assert_eq!(outcome.exit_code, Some(0), "{outcome:?}");
    let other = exec.execute(&job("other"), &sink, cancel).await;
    assert_eq!(other.error.as_deref(), Some("not a docker step"));

    let (cancel_tx, cancel) = watch::channel(false);
    cancel_tx.send(true).unwrap();
    let cancelled = exec.execute(&job("build"), &sink, cancel).await;
    assert!(
        cancelled.cancelled && cancelled.exit_code.is_none(),
        "{cancelled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_builds_pushes_and_captures_the_digest_without_showing_the_password() {
    let Some(h) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), DOCKERFILE);
    // Layers of its own: the other tests' pushes to the shared registry neither mount nor skip them.
    std::fs::write(
        dir.path().join("app/hello.txt"),
        "hello from the api runbook\n",
    )
    .unwrap();
    let yaml = r#"
name: ship the api
variables:
  registry: { description: the registry host }
  registry_password: { secret: true }
  digest: { default: "" }
phases:
  - id: ship
    gate: true
    steps:
      - id: build
        run:
          docker.build:
            context: app
            tags: ["{{ registry }}/shop/api:1.0"]
            labels: { org.opencontainers.image.revision: abc1234 }
      - id: push
        run:
          docker.push:
            image: "{{ registry }}/shop/api:1.0"
            registry_auth: { username: deployer, password_var: registry_password }
        capture:
          - { var: digest, regex: 'digest=(sha256:[0-9a-f]{64})' }
      - id: show
        run: echo "deployed digest {{ digest }}"
"#;
    let mut router = tollgate::exec::Router::shell_only();
    router.docker = Some(std::sync::Arc::new(DockerExec::with(daemon(h).await)));
    let fin = common::sandbox_cluster::run_with(
        dir.path(),
        yaml,
        router,
        "run-1",
        &[
            ("registry", h.registry.as_str()),
            ("registry_password", REGISTRY_PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        fin.outcome,
        tollgate::engine::Outcome::Finished(tollgate::engine::RunStatus::Succeeded),
        "{}",
        fin.output
    );
    let digest = h
        .manifest_digest("shop/api", "1.0")
        .expect("the registry has it");
    assert!(
        fin.output.contains(&format!("deployed digest {digest}")),
        "the captured digest is the registry's:\n{}",
        fin.output
    );
    // The push is journaled with its digest; the password is nowhere.
    assert!(
        fin.changes_of("push")
            .iter()
            .any(|c| c["digest"] == digest.as_str())
    );
    let journal =
        std::fs::read_to_string(dir.path().join("state/runs/run-1/journal.jsonl")).unwrap();
    for text in [&fin.output, &journal] {
        assert!(!text.contains(REGISTRY_PASSWORD));
    }
}

//! The rehearsal's Docker stand-in (`tollgate_standin::docker`) driven as a daemon is: by
//! tollgate's own `docker.build` / `docker.push` steps (bollard), by a runbook that captures the
//! pushed digest, and by the `docker` CLI (`DOCKER_HOST`, legacy builder). Pushes land in the ECR
//! stand-in's store, with the digest the push reported. With a real dockerd as its upstream
//! (the shared harness), builds and image calls go to that daemon while pushes still stay in
//! process: nothing reaches a registry.

use std::path::Path;
use std::time::Duration;

use tollgate::exec::Outcome;
use tollgate::exec::docker::{DockerExec, connect_to};
use tollgate::runbook::docker::{DockerAction, DockerBuild, DockerPush, RegistryAuth};
use tollgate_standin::docker::{Config, DockerStandIn};
use tollgate_standin::{Identity, ecr};

use crate::common;
use crate::common::docker::shared;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const TOKEN: &str = "ecr-token-5b7d0c2e";

fn ecr_host() -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")
}

struct StandIn {
    dir: tempfile::TempDir,
    docker: DockerStandIn,
    ecr: ecr::Store,
}

async fn start(upstream: Option<String>) -> StandIn {
    let dir = tempfile::tempdir().unwrap();
    let ecr = ecr::Store::default();
    let docker = DockerStandIn::start(Config {
        socket: dir.path().join("docker.sock"),
        identity: Identity {
            account: ACCOUNT.into(),
            region: REGION.into(),
        },
        ecr: ecr.clone(),
        upstream,
    })
    .await
    .expect("start the Docker stand-in");
    StandIn { dir, docker, ecr }
}

const DOCKERFILE: &str =
    "FROM scratch\nARG GREETING=none\nCOPY hello.txt /hello.txt\nLABEL greeting=$GREETING\n";

/// `dir/app`: a `FROM scratch` image with one file, a label from a build arg; `hello` is the
/// file's text.
fn context(dir: &Path, hello: &str) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("app/hello.txt"), hello).unwrap();
    std::fs::write(dir.join("app/debug.log"), "left out\n").unwrap();
    std::fs::write(dir.join("app/.dockerignore"), "*.log\n").unwrap();
}

fn build_action(tags: &[String]) -> DockerAction {
    let mut b = DockerBuild {
        context: "app".into(),
        tags: tags.to_vec(),
        ..DockerBuild::default()
    };
    b.build_args.insert("GREETING".into(), "hello".into());
    b.labels.insert("org.example.rev".into(), "abc123".into());
    DockerAction::Build(b)
}

fn push_action(image: &str) -> DockerAction {
    DockerAction::Push(DockerPush {
        image: image.into(),
        registry_auth: Some(RegistryAuth {
            username: "AWS".into(),
            password_var: "ECR_TOKEN".into(),
        }),
    })
}

/// Runs `action` against `host` from `workdir`: the outcome and everything the step showed.
async fn run(host: &str, action: DockerAction, workdir: &Path) -> (Outcome, String) {
    let secrets = [("ECR_TOKEN", TOKEN)];
    super::docker_steps::run_at(host, action, &secrets, workdir, Duration::from_secs(120)).await
}

fn stdout_value(outcome: &Outcome, key: &str) -> String {
    outcome
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {:?}", outcome.stdout))
        .to_string()
}

#[tokio::test]
async fn tollgates_build_and_push_steps_land_the_image_in_the_ecr_stand_in() {
    let s = start(None).await;
    s.ecr.create_repository("shop/web", false, "MUTABLE");
    context(s.dir.path(), "hello\n");
    let image = format!("{}/shop/web:1.0", ecr_host());

    let (built, output) = run(
        &s.docker.host(),
        build_action(std::slice::from_ref(&image)),
        s.dir.path(),
    )
    .await;
    assert_eq!(built.exit_code, Some(0), "{built:?}\n{output}");
    assert!(output.contains("Step 1/4 : FROM scratch"), "{output}");
    assert!(
        output.contains(&format!("Successfully tagged {image}")),
        "{output}"
    );
    let id = stdout_value(&built, "image");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    // The same context builds the same image; the build arg and label are on it.
    let (again, _) = run(
        &s.docker.host(),
        build_action(std::slice::from_ref(&image)),
        s.dir.path(),
    )
    .await;
    assert_eq!(stdout_value(&again, "image"), id);
    let docker = connect_to(&s.docker.host()).await.unwrap();
    let inspected = docker.inspect_image(&image).await.unwrap();
    assert_eq!(inspected.id.as_deref(), Some(id.as_str()));
    let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("greeting").map(String::as_str), Some("hello"));
    assert_eq!(
        labels.get("org.example.rev").map(String::as_str),
        Some("abc123")
    );

    let (pushed, output) = run(&s.docker.host(), push_action(&image), s.dir.path()).await;
    assert_eq!(pushed.exit_code, Some(0), "{pushed:?}\n{output}");
    let digest = stdout_value(&pushed, "digest");
    let repo = s.ecr.repository("shop/web").expect("the repository");
    assert_eq!(repo.images.len(), 1);
    assert_eq!(
        repo.images[0].digest, digest,
        "the digest the step reported"
    );
    assert_eq!(repo.images[0].tags, vec!["1.0".to_string()]);
    let manifest: serde_json::Value = serde_json::from_str(&repo.images[0].manifest).unwrap();
    assert_eq!(manifest["config"]["digest"], id.as_str());
    assert!(!output.contains(TOKEN) && !format!("{pushed:?}").contains(TOKEN));

    // Not the pinned account's ECR, or no repository: refused, nothing stored.
    let elsewhere = "ghcr.io/shop/web:1.0";
    let (_, _) = run(
        &s.docker.host(),
        DockerAction::Tag(tollgate::runbook::docker::DockerTag {
            source: image.clone(),
            target: elsewhere.into(),
        }),
        s.dir.path(),
    )
    .await;
    let (refused, _) = run(&s.docker.host(), push_action(elsewhere), s.dir.path()).await;
    let error = refused.error.unwrap_or_default();
    assert!(
        error.contains(&format!(
            "pushes only to the pinned account's ECR ({}), never reaching ghcr.io",
            ecr_host()
        )),
        "{error}"
    );
    let absent = format!("{}/absent:1", ecr_host());
    run(
        &s.docker.host(),
        build_action(std::slice::from_ref(&absent)),
        s.dir.path(),
    )
    .await;
    let (refused, _) = run(&s.docker.host(), push_action(&absent), s.dir.path()).await;
    assert_eq!(
        refused.error.as_deref(),
        Some(
            format!(
                "push of {absent} failed: name unknown: The repository with name 'absent' does not exist in the registry with id '{ACCOUNT}'"
            )
            .as_str()
        )
    );
    assert_eq!(s.ecr.repositories().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_captures_the_digest_the_ecr_stand_in_holds() {
    let s = start(None).await;
    s.ecr.create_repository("shop/api", false, "MUTABLE");
    context(s.dir.path(), "hello from the api runbook\n");
    let yaml = r#"
name: ship the api
variables:
  registry: { description: the registry host }
  ecr_token: { secret: true }
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
      - id: push
        run:
          docker.push:
            image: "{{ registry }}/shop/api:1.0"
            registry_auth: { username: AWS, password_var: ecr_token }
        capture:
          - { var: digest, regex: 'digest=(sha256:[0-9a-f]{64})' }
      - id: show
        run: echo "deployed digest {{ digest }}"
"#;
    let mut router = tollgate::exec::Router::shell_only();
    router.docker = Some(std::sync::Arc::new(DockerExec::with(
        connect_to(&s.docker.host()).await.unwrap(),
    )));
    let work = tempfile::tempdir().unwrap();
    context(work.path(), "hello from the api runbook\n");
    let fin = common::sandbox_cluster::run_with(
        work.path(),
        yaml,
        router,
        "run-1",
        &[("registry", &ecr_host()), ("ecr_token", TOKEN)],
    )
    .await;
    assert_eq!(
        fin.outcome,
        tollgate::engine::Outcome::Finished(tollgate::engine::RunStatus::Succeeded),
        "{}",
        fin.output
    );
    let stored = s.ecr.repository("shop/api").unwrap().images;
    assert_eq!(stored.len(), 1);
    assert!(
        fin.output
            .contains(&format!("deployed digest {}", stored[0].digest)),
        "the captured digest is the one the ECR stand-in holds:\n{}",
        fin.output
    );
    assert!(!fin.output.contains(TOKEN));
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// `docker ARGS` against the stand-in, with its own config folder: `(success, stdout, stderr)`.
async fn docker_cli(s: &StandIn, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(args)
        .current_dir(s.dir.path())
        .env("DOCKER_HOST", s.docker.host())
        .env("DOCKER_CONFIG", s.dir.path().join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("run docker");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("docker finished within a minute")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_cli_builds_logs_in_pushes_lists_and_inspects() {
    if !on_path("docker") {
        println!("skipped: the docker CLI is not installed (apt-get install docker.io)");
        return;
    }
    let s = start(None).await;
    s.ecr.create_repository("web", false, "MUTABLE");
    context(s.dir.path(), "hello\n");
    let image = format!("{}/web:1", ecr_host());

    let (ok, out, err) = docker_cli(&s, &["build", "-t", &image, "app"], None).await;
    eprintln!("--- docker build ---\n{out}{err}");
    assert!(ok, "docker build failed:\n{out}\n{err}");
    assert!(out.contains("Step 1/4 : FROM scratch"), "{out}");
    assert!(
        out.contains(&format!("Successfully tagged {image}")),
        "{out}"
    );

    // Without a login the push has no credentials: ECR refuses it, as it would.
    let (ok, out, err) = docker_cli(&s, &["push", &image], None).await;
    assert!(!ok, "{out}");
    assert!(err.contains("no basic auth credentials"), "{out}\n{err}");

    let (ok, out, err) = docker_cli(
        &s,
        &[
            "login",
            "--username",
            "AWS",
            "--password-stdin",
            &ecr_host(),
        ],
        Some(TOKEN),
    )
    .await;
    assert!(ok && out.contains("Login Succeeded"), "{out}\n{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));

    let (ok, out, err) = docker_cli(&s, &["push", &image], None).await;
    eprintln!("--- docker push ---\n{out}{err}");
    assert!(ok, "docker push failed:\n{out}\n{err}");
    let stored = s.ecr.repository("web").unwrap().images;
    assert_eq!(stored.len(), 1);
    assert!(
        out.contains(&format!("1: digest: {} size: ", stored[0].digest)),
        "{out}"
    );

    let (ok, out, err) = docker_cli(&s, &["images"], None).await;
    eprintln!("--- docker images ---\n{out}{err}");
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("{}/web", ecr_host())))
        .unwrap_or_else(|| panic!("no web row in:\n{out}"));
    assert!(row.split_whitespace().nth(1) == Some("1"), "{row}");

    let (ok, out, err) = docker_cli(&s, &["inspect", &image], None).await;
    assert!(ok, "docker inspect failed:\n{out}\n{err}");
    let inspected: serde_json::Value = serde_json::from_str(&out).unwrap();
    let repo_digests = inspected[0]["RepoDigests"].to_string();
    assert!(repo_digests.contains(&stored[0].digest), "{repo_digests}");
    assert_eq!(inspected[0]["Config"]["Labels"]["greeting"], "none");

    // Another registry: refused by the stand-in, never reached.
    let (ok, _, err) = docker_cli(&s, &["tag", &image, "registry.example.com/web:1"], None).await;
    assert!(ok, "{err}");
    let (ok, out, err) = docker_cli(&s, &["push", "registry.example.com/web:1"], None).await;
    assert!(!ok);
    assert!(
        err.contains("never reaching registry.example.com"),
        "{out}\n{err}"
    );
    let (ok, _, err) = docker_cli(
        &s,
        &[
            "login",
            "--username",
            "u",
            "--password-stdin",
            "registry.example.com",
        ],
        Some(TOKEN),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("never reaching registry.example.com"), "{err}");
}

#[tokio::test]
async fn with_a_local_daemon_builds_go_to_it_and_pushes_stay_in_the_ecr_stand_in() {
    let Some(h) = shared() else { return };
    let s = start(Some(h.host.clone())).await;
    s.ecr.create_repository("standin/up", false, "MUTABLE");
    // Content of its own: the other modules' images on the shared daemon are not this one.
    context(s.dir.path(), "hello from the upstream test\n");
    let image = format!("{}/standin/up:7", ecr_host());

    let (built, output) = run(
        &s.docker.host(),
        build_action(std::slice::from_ref(&image)),
        s.dir.path(),
    )
    .await;
    assert_eq!(built.exit_code, Some(0), "{built:?}\n{output}");
    let id = stdout_value(&built, "image");
    // The daemon built it: it has the image, under that id.
    let daemon = connect_to(&h.host).await.unwrap();
    let on_daemon = daemon.inspect_image(&image).await.expect("on the daemon");
    assert_eq!(on_daemon.id.as_deref(), Some(id.as_str()));
    let labels = on_daemon.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("greeting").map(String::as_str), Some("hello"));

    let (pushed, output) = run(&s.docker.host(), push_action(&image), s.dir.path()).await;
    assert_eq!(pushed.exit_code, Some(0), "{pushed:?}\n{output}");
    let digest = stdout_value(&pushed, "digest");
    let stored = s.ecr.repository("standin/up").unwrap().images;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].digest, digest);
    let manifest: serde_json::Value = serde_json::from_str(&stored[0].manifest).unwrap();
    assert_eq!(
        manifest["config"]["digest"],
        id.as_str(),
        "the digest is made from the daemon's image id"
    );
    assert_eq!(
        stored[0].size,
        on_daemon.size.unwrap_or_default() as u64,
        "and its size"
    );
    // The push reached no registry: the daemon has no repo digest for it.
    let after = daemon.inspect_image(&image).await.unwrap();
    assert!(after.repo_digests.unwrap_or_default().is_empty());

    // A push to the harness's real registry is refused too.
    let elsewhere = format!("{}/standin/up:7", h.registry);
    let (refused, _) = run(&s.docker.host(), push_action(&elsewhere), s.dir.path()).await;
    assert!(
        refused
            .error
            .unwrap_or_default()
            .contains("never reaching 127.0.0.1:"),
    );
    assert!(h.manifest_digest("standin/up", "7").is_none());

    // The docker CLI's build streams through to the daemon too.
    if !on_path("docker") {
        println!("skipped: the docker CLI is not installed (apt-get install docker.io)");
        return;
    }
    let cli_image = format!("{}/standin/up:cli", ecr_host());
    let (ok, out, err) = docker_cli(&s, &["build", "-t", &cli_image, "app"], None).await;
    assert!(
        ok,
        "docker build through the stand-in failed:\n{out}\n{err}"
    );
    let (ok, out, err) = docker_cli(
        &s,
        &[
            "images",
            "--format",
            "{{.Tag}} {{.ID}}",
            &format!("{}/standin/up", ecr_host()),
        ],
        None,
    )
    .await;
    assert!(ok, "{err}");
    let cli_id = daemon
        .inspect_image(&cli_image)
        .await
        .expect("the daemon built it")
        .id
        .unwrap_or_default();
    let short = |id: &str| id["sha256:".len().."sha256:".len() + 12].to_string();
    assert!(
        out.contains(&format!("cli {}", short(&cli_id)))
            && out.contains(&format!("7 {}", short(&id))),
        "the daemon's images, listed through the stand-in:\n{out}"
    );
}

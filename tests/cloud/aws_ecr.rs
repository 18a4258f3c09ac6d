//! `ecr.login`, `ecr.ensure_repository`, `ecr.describe_images` and `aws.identity` against moto
//! (a real AWS API emulator on loopback), through headless runs of runbooks; and the account pin
//! in front of them.
//!
//! moto's ECR: a login token is base64 of `AWS:{account}-auth-token` with the proxy endpoint
//! `https://{account}.dkr.ecr.{region}.amazonaws.com` and an expiry in 2015; `PutImage` takes
//! the digest to give an image, which is how these tests seed one.

use base64::Engine as _;
use tollgate::engine::journal::Record;

use crate::common::moto::{Finished, MOTO_ACCOUNT, Moto, aws_runbook, aws_target, run_as, run_in};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// The password in moto's login token for its account.
const PASSWORD: &str = "123456789012-auth-token";

fn runbook(account: &str, variables: &str, steps: &str) -> String {
    aws_runbook(
        "ecr",
        account,
        &format!("  repo: {{ default: labelmint-web }}\n{variables}"),
        steps,
    )
}

async fn run(moto: &Moto, dir: &std::path::Path, yaml: &str) -> Finished {
    run_in(dir, yaml, moto.target(Some(&aws_target(MOTO_ACCOUNT))), &[]).await
}

/// Runs `yaml` in a fresh folder under `dir` named `name`.
async fn run_named(moto: &Moto, dir: &std::path::Path, name: &str, yaml: &str) -> Finished {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    run(moto, &sub, yaml).await
}

/// `value` appears nowhere a person or a file could see it: the steps' output, any event, the
/// journal.
fn assert_nowhere(f: &Finished, value: &str) {
    for (what, text) in [
        ("output", &f.output),
        ("events", &f.events_text()),
        ("journal", &f.journal),
    ] {
        assert!(!text.contains(value), "`{value}` is in the {what}:\n{text}");
    }
}

fn digest(fill: char) -> String {
    format!("sha256:{}", fill.to_string().repeat(64))
}

/// A repository with one image tagged `tags`, whose digest is `digest`.
async fn seed(moto: &Moto, repo: &str, tags: &[&str], digest: &str) {
    moto.ecr()
        .create_repository()
        .repository_name(repo)
        .send()
        .await
        .unwrap();
    put_image(moto, repo, tags, digest).await;
}

/// An image tagged `tags`, whose digest is `digest`, put in an existing repository.
async fn put_image(moto: &Moto, repo: &str, tags: &[&str], digest: &str) {
    let ecr = moto.ecr();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": digest,
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "size": 32654,
            "digest": format!("sha256:{}", "e".repeat(64)),
        }],
    })
    .to_string();
    for tag in tags {
        ecr.put_image()
            .repository_name(repo)
            .image_manifest(&manifest)
            .image_tag(*tag)
            .image_digest(digest)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_puts_the_password_in_a_secret_variable_and_prints_the_registry() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    // ECR_PASSWORD has no value at the start: the login step sets it.
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  ECR_PASSWORD: { secret: true }\n",
        r#"      - id: login
        run:
          ecr.login: { password_var: ECR_PASSWORD }
        capture:
          - { var: ecr_registry, regex: 'registry=(\S+)' }
      - id: use
        run: |
          printf %s "$ECR_PASSWORD" > password.txt
          echo "password $ECR_PASSWORD for {{ ecr_registry }}"
          printf %s "$ECR_PASSWORD" | base64
"#,
    );
    let f = run(&moto, dir.path(), &yaml).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    // The later step had the password in its environment.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("password.txt")).unwrap(),
        PASSWORD
    );
    for line in [
        format!("registry={REGISTRY}\n"),
        "username=AWS\n".to_string(),
        "expires=2015-01-01T00:00:00Z\n".to_string(),
        format!("password •••••• for {REGISTRY}\n"),
    ] {
        assert!(f.output.contains(&line), "no {line:?} in:\n{}", f.output);
    }
    // moto's token expired long ago: said, not failed.
    assert!(
        f.output
            .contains("warning: the token expired at 2015-01-01T00:00:00Z"),
        "{}",
        f.output
    );
    assert!(
        f.records.iter().any(|r| matches!(r,
            Record::VarCaptured { name, value: None, secret: true } if name == "ECR_PASSWORD")),
        "ECR_PASSWORD not journaled as a secret set without its value"
    );
    // Neither the password nor the token it came in (nor their base64) is anywhere.
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{PASSWORD}"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    for value in [PASSWORD, token.as_str(), b64.trim_end_matches('=')] {
        assert_nowhere(&f, value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_to_another_registry_id_with_the_host_written_out() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  ECR_PASSWORD: { secret: true }\n",
        r#"      - id: login
        run:
          ecr.login: { password_var: ECR_PASSWORD, registry_id: "210987654321", registry: "127.0.0.1:5000" }
      - id: use
        run: 'printf %s "$ECR_PASSWORD" > password.txt && echo "password $ECR_PASSWORD"'
"#,
    );
    let f = run(&moto, dir.path(), &yaml).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    // The token of the registry asked for.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("password.txt")).unwrap(),
        "210987654321-auth-token"
    );
    assert!(
        f.output.contains("registry=127.0.0.1:5000\n"),
        "{}",
        f.output
    );
    assert!(!f.output.contains("dkr.ecr"), "{}", f.output);
    assert!(f.output.contains("password ••••••"), "{}", f.output);
    assert_nowhere(&f, "210987654321-auth-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_repository_creates_it_once_then_finds_it() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let steps = r#"      - id: repo
        run:
          ecr.ensure_repository: { name: "{{ repo }}", scan_on_push: true, tag_mutability: IMMUTABLE }
"#;
    let uri = format!("{REGISTRY}/labelmint-web");

    let first = run_named(
        &moto,
        dir.path(),
        "first",
        &runbook(MOTO_ACCOUNT, "", steps),
    )
    .await;
    assert!(first.succeeded(), "{:?}\n{}", first.outcome, first.output);
    assert!(
        first
            .output
            .contains(&format!("created labelmint-web ({uri})\n")),
        "{}",
        first.output
    );
    let made = moto
        .ecr()
        .describe_repositories()
        .repository_names("labelmint-web")
        .send()
        .await
        .unwrap();
    let r = &made.repositories()[0];
    assert_eq!(
        r.image_tag_mutability().map(|m| m.as_str()),
        Some("IMMUTABLE")
    );
    assert_eq!(
        r.image_scanning_configuration().map(|c| c.scan_on_push()),
        Some(true)
    );
    let changes = first.changes_of("repo");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["aws"], "repository_created");
    assert_eq!(changes[0]["name"], "labelmint-web");
    assert_eq!(changes[0]["uri"], uri.as_str());

    // Again, asking for other settings: it exists, nothing is changed, the difference is said.
    let again = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: repo
        run:
          ecr.ensure_repository: { name: labelmint-web, tag_mutability: MUTABLE }
"#,
    );
    let second = run_named(&moto, dir.path(), "second", &again).await;
    assert!(
        second.succeeded(),
        "{:?}\n{}",
        second.outcome,
        second.output
    );
    assert!(
        second
            .output
            .contains(&format!("exists labelmint-web ({uri})\n")),
        "{}",
        second.output
    );
    assert!(
        second
            .output
            .contains("note: labelmint-web has tag mutability IMMUTABLE, not MUTABLE"),
        "{}",
        second.output
    );
    assert!(second.changes_of("repo").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_images_finds_the_tags_with_the_pushed_digest_and_names_what_is_missing() {
    let Some(moto) = Moto::start() else { return };
    let pushed = digest('a');
    seed(&moto, "labelmint-web", &["1.4.2", "latest"], &pushed).await;
    let dir = tempfile::tempdir().unwrap();
    let images = |extra: &str| {
        runbook(
            MOTO_ACCOUNT,
            "",
            &format!(
                r#"      - id: images
        run:
          ecr.describe_images: {{ repository: "{{{{ repo }}}}"{extra} }}
"#
            ),
        )
    };

    // Both tags, the digest the push captured: one line for the one image.
    let ok = run_named(
        &moto,
        dir.path(),
        "ok",
        &images(&format!(r#", tags: ["1.4.2", latest], digest: "{pushed}""#)),
    )
    .await;
    assert!(ok.succeeded(), "{:?}\n{}", ok.outcome, ok.output);
    let lines: Vec<&str> = ok
        .output
        .lines()
        .filter(|l| l.contains("digest="))
        .collect();
    assert_eq!(lines.len(), 1, "{}", ok.output);
    assert!(
        lines[0].starts_with(&format!("1.4.2 latest digest={pushed} pushed=20")),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with(" size=6.9KiB"), "{}", lines[0]);

    // Every image, without tags.
    let all = run_named(&moto, dir.path(), "all", &images("")).await;
    assert!(all.succeeded(), "{:?}\n{}", all.outcome, all.output);
    assert!(
        all.output
            .contains(&format!("1.4.2 latest digest={pushed} ")),
        "{}",
        all.output
    );

    // A tag that was never pushed.
    let missing = run_named(
        &moto,
        dir.path(),
        "missing",
        &images(r#", tags: ["1.4.2", "1.4.3"]"#),
    )
    .await;
    assert!(!missing.succeeded(), "{:?}", missing.outcome);
    assert_eq!(
        missing.error_of("images").as_deref(),
        Some("labelmint-web: no image tagged 1.4.3")
    );
    assert!(missing.output.contains(&format!("digest={pushed}")));

    // The tag is there, on another image than the one pushed.
    let other = digest('b');
    let mismatch = run_named(
        &moto,
        dir.path(),
        "mismatch",
        &images(&format!(r#", tags: ["1.4.2"], digest: "{other}""#)),
    )
    .await;
    assert!(!mismatch.succeeded(), "{:?}", mismatch.outcome);
    assert_eq!(
        mismatch.error_of("images"),
        Some(format!("labelmint-web:1.4.2 is {pushed}, not {other}"))
    );

    // A digest alone must be in the repository.
    let by_digest = run_named(
        &moto,
        dir.path(),
        "by-digest",
        &images(&format!(r#", digest: "{other}""#)),
    )
    .await;
    assert_eq!(
        by_digest.error_of("images"),
        Some(format!("labelmint-web: no image with digest {other}"))
    );

    // No such repository.
    let yaml = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: images
        run:
          ecr.describe_images: { repository: labelmint-api, tags: ["1.4.2"] }
"#,
    );
    let no_repo = run_named(&moto, dir.path(), "no-repo", &yaml).await;
    assert!(!no_repo.succeeded(), "{:?}", no_repo.outcome);
    assert_eq!(
        no_repo.error_of("images").as_deref(),
        Some("ECR repository labelmint-api does not exist")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_prints_the_account_the_run_is_pinned_to() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: who
        run:
          aws.identity: {}
        capture:
          - { var: account, regex: 'account=(\d+)' }
      - id: who-again
        run:
          aws.identity:
      - id: show
        run: echo "pinned to {{ account }}"
"#,
    );
    let f = run(&moto, dir.path(), &yaml).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let lines: Vec<&str> = f
        .output
        .lines()
        .filter(|l| l.starts_with("account="))
        .collect();
    assert_eq!(lines.len(), 2, "{}", f.output);
    for l in lines {
        assert!(
            l.starts_with("account=123456789012 arn=arn:aws:") && l.ends_with(" region=us-east-1"),
            "{l}"
        );
    }
    assert!(f.output.contains("pinned to 123456789012"), "{}", f.output);
}

/// One pin guards every AWS step: an ECR step in a run pinned to another account is blocked
/// before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_pinned_to_another_account_creates_no_repository() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        "288761728065",
        "",
        r#"      - id: repo
        run:
          ecr.ensure_repository: { name: labelmint-web }
"#,
    );
    let f = run_in(
        dir.path(),
        &yaml,
        moto.target(Some(&aws_target("288761728065"))),
        &[],
    )
    .await;
    assert!(!f.succeeded(), "{:?}", f.outcome);
    let error = f.error_of("repo").expect("the step failed");
    assert!(
        error.contains("wrong AWS account: the run is pinned to 288761728065 us-east-1, but the credentials are for 123456789012"),
        "{error}"
    );
    let listed = moto.ecr().describe_repositories().send().await.unwrap();
    assert!(listed.repositories().is_empty(), "{listed:?}");
}

/// `tollgate plan` shows each new step as one line, and a variable `ecr.login` sets as set by a
/// step, not missing.
#[test]
fn plan_shows_the_steps_and_the_variable_a_login_sets() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["plan", "tests/fixtures/runbooks/valid/aws-steps.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("TOLLGATE_VAR_ecr_password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "  ecr_password = <set by a step>  (step, secret)",
        "    $ aws.identity",
        "    $ ecr.login into=ecr_password",
        "    $ docker.login {{ ecr_registry }} as AWS (password from $ecr_password)",
        "    $ ecr.ensure_repository labelmint/web scan-on-push=true tag-mutability=IMMUTABLE",
        "      $ ecr.describe_images labelmint/web tags=1.4.2,latest digest=sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "    $ secrets.put labelmint/production/contract-address from-var=contract_address",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
}

/// Whether repository `name` exists.
async fn exists(moto: &Moto, name: &str) -> bool {
    match moto
        .ecr()
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(d) => !d.repositories().is_empty(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            false
        }
        Err(e) => panic!("{e:?}"),
    }
}

/// `secrets.revert` of an `ecr.ensure_repository` that created a repository, from a rollback run:
/// deleted while empty (never forced); refused, naming the image count, once images were put in
/// it. A failing phase with `undo: true` deletes the repository it created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_deletes_a_created_repository_only_while_it_is_empty() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let t = || moto.target(Some(&aws_target(MOTO_ACCOUNT)));
    let deploy = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: web
        run:
          ecr.ensure_repository: { name: "{{ repo }}" }
      - id: api
        run:
          ecr.ensure_repository: { name: labelmint-api }
"#,
    );
    let d = run_as(dir.path(), &deploy, t(), "run-deploy", &[], false).await;
    assert!(d.succeeded(), "{:?}\n{}", d.outcome, d.output);
    // Images pushed to one of them since.
    put_image(&moto, "labelmint-api", &["1.4.2"], &digest('a')).await;
    put_image(&moto, "labelmint-api", &["1.4.3"], &digest('b')).await;
    let back = runbook(
        MOTO_ACCOUNT,
        "  deploy_run: { description: the run whose changes are put back }\n",
        r#"      - id: web-back
        run:
          secrets.revert: { step: web, run: "{{ deploy_run }}" }
      - id: api-back
        run:
          secrets.revert: { step: api, run: "{{ deploy_run }}" }
"#,
    );
    let f = run_as(
        dir.path(),
        &back,
        t(),
        "run-rollback",
        &[("deploy_run", "run-deploy")],
        false,
    )
    .await;
    assert!(!f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    assert!(!exists(&moto, "labelmint-web").await);
    assert!(
        f.output.contains(
            "deleted repository labelmint-web (the step had created it; it had no images)\n"
        ),
        "{}",
        f.output
    );
    let deleted = f.changes_of("web-back");
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0]["aws"], "repository_deleted");
    assert_eq!(deleted[0]["name"], "labelmint-web");
    assert_eq!(
        f.error_of("api-back").as_deref(),
        Some("repository labelmint-api has 2 images; not deleted (only an empty repository is)")
    );
    assert!(exists(&moto, "labelmint-api").await);
    assert!(f.changes_of("api-back").is_empty());

    // The engine's undo of a failing phase deletes the (empty) repository it created.
    let undo = format!(
        "name: ecr\ntargets:\n  environment: production\n  aws: {{ account: \"{MOTO_ACCOUNT}\", region: us-east-1 }}\n{}",
        r#"phases:
  - id: registry
    gate: true
    on_failure: { undo: true }
    steps:
      - id: worker
        run:
          ecr.ensure_repository: { name: labelmint-worker }
      - id: push
        run: exit 1
"#
    );
    let f = run_as(dir.path(), &undo, t(), "run-undo", &[], true).await;
    assert!(!f.succeeded(), "{:?}", f.outcome);
    assert_eq!(f.changes_of("worker")[0]["aws"], "repository_created");
    assert_eq!(f.changes_of("worker.undo")[0]["aws"], "repository_deleted");
    assert!(!exists(&moto, "labelmint-worker").await, "{}", f.output);
}

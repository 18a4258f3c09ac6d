//! `secrets.require`, `secrets.put`, `secrets.get` and `secrets.rotate` against moto (a real
//! AWS API emulator on loopback), through headless runs of runbooks; and the account pin.

use base64::Engine as _;
use tollgate::engine::journal::Record;
use tollgate::engine::{Event, ValueRequest};

use crate::common;
use crate::common::moto::{
    Finished, MOTO_ACCOUNT, Moto, aws_runbook, aws_target, run_in, run_typing_in,
};

fn runbook(account: &str, variables: &str, steps: &str) -> String {
    aws_runbook(
        "secrets",
        account,
        &format!("  env: {{ default: production }}\n{variables}"),
        steps,
    )
}

async fn run(moto: &Moto, dir: &std::path::Path, yaml: &str, vars: &[(&str, &str)]) -> Finished {
    run_in(
        dir,
        yaml,
        moto.target(Some(&aws_target(MOTO_ACCOUNT))),
        vars,
    )
    .await
}

/// `value` appears nowhere a person or a file could see it: the steps' output, any event, the
/// journal, in plain or base64 form.
fn assert_hidden(f: &Finished, value: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    for (what, text) in [
        ("output", &f.output),
        ("events", &f.events_text()),
        ("journal", &f.journal),
    ] {
        assert!(!text.contains(value), "the value is in the {what}:\n{text}");
        assert!(
            !text.contains(b64.trim_end_matches('=')),
            "the value's base64 is in the {what}:\n{text}"
        );
    }
}

/// (AWSCURRENT version, AWSPREVIOUS version) of a secret.
async fn stages(moto: &Moto, id: &str) -> (Option<String>, Option<String>) {
    let d = moto
        .client()
        .await
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    let find = |label: &str| {
        d.version_ids_to_stages().and_then(|m| {
            m.iter()
                .find(|(_, l)| l.iter().any(|x| x == label))
                .map(|(v, _)| v.clone())
        })
    };
    (find("AWSCURRENT"), find("AWSPREVIOUS"))
}

async fn value_of(moto: &Moto, id: &str) -> String {
    moto.client()
        .await
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string()
}

async fn create(moto: &Moto, id: &str, value: &str) -> String {
    moto.client()
        .await
        .create_secret()
        .name(id)
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_passes_when_all_exist_and_names_the_missing_ones() {
    let Some(moto) = Moto::start() else { return };
    create(&moto, "labelmint/production/jwt-secret", "one-value-1").await;
    create(&moto, "labelmint/production/db-url", "two-value-2").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("all")).unwrap();
    std::fs::create_dir_all(dir.path().join("some")).unwrap();

    let all = run(
        &moto,
        &dir.path().join("all"),
        &runbook(
            MOTO_ACCOUNT,
            "",
            r#"      - id: present
        run:
          secrets.require:
            ids: ["labelmint/{{ env }}/jwt-secret", labelmint/production/db-url]
"#,
        ),
        &[],
    )
    .await;
    assert!(all.succeeded(), "{:?}\n{}", all.outcome, all.output);
    assert!(
        all.output
            .contains("secret labelmint/production/jwt-secret exists"),
        "{}",
        all.output
    );
    assert!(
        all.output
            .contains("secret labelmint/production/db-url exists")
    );

    let some = run(
        &moto,
        &dir.path().join("some"),
        &runbook(
            MOTO_ACCOUNT,
            "",
            r#"      - id: present
        run:
          secrets.require:
            ids: [labelmint/production/jwt-secret, labelmint/production/stripe-key, labelmint/production/smtp]
"#,
        ),
        &[],
    )
    .await;
    assert!(!some.succeeded(), "{:?}", some.outcome);
    let error = some.error_of("present").expect("the step failed");
    assert!(
        error.contains(
            "2 of 3 secrets missing: labelmint/production/stripe-key, labelmint/production/smtp"
        ),
        "{error}"
    );
    assert!(
        some.output
            .contains("missing: labelmint/production/stripe-key")
    );
    assert!(!some.output.contains("one-value-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_from_a_variable_and_a_file_then_get_reaches_a_later_step_only_through_its_environment()
{
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let jwt = "jwt-Zq9x-s3cr3t-41f7";
    let from_file = "postgres://app:pa55-w0rd-9c1d@db/labelmint";
    std::fs::write(dir.path().join("db-url.txt"), from_file).unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  JWT: { secret: true, prompt: true }\n  JWT_READ: { secret: true }\n  DB_URL: { secret: true }\n",
        r#"      - id: put-jwt
        run:
          secrets.put:
            id: "labelmint/{{ env }}/jwt-secret"
            from_var: JWT
            description: the API's signing key
      - id: put-db
        run:
          secrets.put: { id: labelmint/production/db-url, from_file: db-url.txt }
      - id: put-jwt-again
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: JWT }
      - id: get-jwt
        run:
          secrets.get: { id: labelmint/production/jwt-secret, var: JWT_READ }
      - id: get-db
        run:
          secrets.get: { id: labelmint/production/db-url, var: DB_URL }
      - id: use
        run: |
          test "$JWT_READ" = "$JWT"
          echo "jwt is $JWT_READ"
          echo "db is $DB_URL"
          printf %s "$DB_URL" | base64
        expect: { output_contains: "jwt is" }
"#,
    );
    let f = run(&moto, dir.path(), &yaml, &[("JWT", jwt)]).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    // AWS holds the values.
    assert_eq!(
        value_of(&moto, "labelmint/production/jwt-secret").await,
        jwt
    );
    assert_eq!(
        value_of(&moto, "labelmint/production/db-url").await,
        from_file
    );
    // The steps say what they did.
    assert!(
        f.output
            .contains("created labelmint/production/jwt-secret (version "),
        "{}",
        f.output
    );
    assert!(
        f.output
            .contains("created labelmint/production/db-url (version ")
    );
    assert!(
        f.output
            .contains("put labelmint/production/jwt-secret (version ")
    );
    assert!(
        f.output
            .contains("read labelmint/production/jwt-secret (version ")
    );
    assert!(f.output.contains("into JWT_READ"));
    // The later step saw the values (it echoed them), masked.
    assert!(f.output.contains("jwt is ••••••"), "{}", f.output);
    assert!(f.output.contains("db is ••••••"), "{}", f.output);
    // The variables were journaled as set, without a value.
    for name in ["JWT_READ", "DB_URL"] {
        assert!(
            f.records.iter().any(|r| matches!(r,
            Record::VarCaptured { name: n, value: None, secret: true } if n == name)),
            "{name} not journaled as a secret capture"
        );
    }
    assert_hidden(&f, jwt);
    assert_hidden(&f, from_file);
}

/// A value typed at the masked prompt (answered here as a view would) lands in AWS, is masked in
/// everything shown from then on (a later step that prints it literally shows the mask), and is
/// in no event nor the journal. Declined, the step fails saying why and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_from_a_masked_prompt_stores_the_typed_value_and_shows_it_nowhere() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let typed = "typed-webhook-Kx81-secret";
    // A later step comes by the value some other way and prints it.
    std::fs::write(dir.path().join("leak.txt"), typed).unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: put-typed
        run:
          secrets.put:
            id: "labelmint/{{ env }}/webhook-token"
            prompt: "The new webhook token for {{ env }}"
            description: the webhook's token
      - id: echo
        run: 'echo "leaked: $(cat leak.txt)"'
"#,
    );
    let f = run_typing_in(
        dir.path(),
        &yaml,
        moto.target(Some(&aws_target(MOTO_ACCOUNT))),
        &[],
        &[("put-typed", typed)],
    )
    .await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    assert_eq!(
        value_of(&moto, "labelmint/production/webhook-token").await,
        typed
    );
    let asked: Vec<&ValueRequest> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ValueRequested(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        asked,
        [&ValueRequest {
            step: "put-typed".into(),
            prompt: "The new webhook token for production".into(),
            purpose: "secrets.put labelmint/production/webhook-token".into(),
        }]
    );
    // The command shown names the prompt, never a value.
    let started = f.events.iter().find_map(|e| match e {
        Event::StepStarted { step, command, .. } if step == "put-typed" => Some(command.clone()),
        _ => None,
    });
    assert_eq!(
        started.as_deref(),
        Some(
            "secrets.put labelmint/production/webhook-token from a masked prompt (\"The new webhook token for production\") description=\"the webhook's token\""
        )
    );
    assert!(
        f.output
            .contains("created labelmint/production/webhook-token (version "),
        "{}",
        f.output
    );
    assert!(f.output.contains("leaked: ••••••"), "{}", f.output);
    assert_hidden(&f, typed);

    // Declined at the prompt: the step fails saying so, and nothing is stored.
    std::fs::create_dir_all(dir.path().join("declined")).unwrap();
    let declined = run_typing_in(
        &dir.path().join("declined"),
        &runbook(
            MOTO_ACCOUNT,
            "",
            r#"      - id: put-typed
        run:
          secrets.put: { id: labelmint/production/other-token, prompt: "Another token" }
"#,
        ),
        moto.target(Some(&aws_target(MOTO_ACCOUNT))),
        &[],
        &[],
    )
    .await;
    assert!(!declined.succeeded(), "{:?}", declined.outcome);
    assert_eq!(
        declined.error_of("put-typed").as_deref(),
        Some("secrets.put labelmint/production/other-token: the test types nothing here")
    );
    let listed = moto.client().await.list_secrets().send().await.unwrap();
    assert_eq!(listed.secret_list().len(), 1, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_a_passing_verify_keeps_the_new_version_current() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/api-key";
    let old = create(&moto, id, "old-api-key-5521").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "",
        r#"      - id: rotate
        run:
          secrets.rotate:
            id: labelmint/production/api-key
            generate: 40
            verify: 'test ${#TOLLGATE_SECRET_VALUE} -eq 40 && echo "verifying $TOLLGATE_SECRET_VALUE"'
"#,
    );
    let f = run(&moto, dir.path(), &yaml, &[]).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let (current, previous) = stages(&moto, id).await;
    assert_ne!(current.as_deref(), Some(old.as_str()));
    assert_eq!(previous.as_deref(), Some(old.as_str()));
    let new = value_of(&moto, id).await;
    assert_eq!(new.len(), 40);
    assert!(f.output.contains("verify passed"), "{}", f.output);
    assert!(f.output.contains("verifying ••••••"), "{}", f.output);
    assert_hidden(&f, &new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_a_failing_verify_moves_current_back_and_fails() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/webhook-secret";
    let old = create(&moto, id, "old-webhook-8812").await;
    let dir = tempfile::tempdir().unwrap();
    let new = "new-webhook-value-0042";
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  NEW: { secret: true }\n",
        r#"      - id: rotate
        run:
          secrets.rotate:
            id: labelmint/production/webhook-secret
            from_var: NEW
            verify: 'echo "trying $TOLLGATE_SECRET_VALUE"; exit 3'
"#,
    );
    let f = run(&moto, dir.path(), &yaml, &[("NEW", new)]).await;
    assert!(!f.succeeded(), "{:?}", f.outcome);
    let error = f.error_of("rotate").expect("the step failed");
    assert!(error.contains("verify failed (exit code 3)"), "{error}");
    assert!(error.contains("back on the previous version"), "{error}");
    let (current, _) = stages(&moto, id).await;
    assert_eq!(current.as_deref(), Some(old.as_str()));
    assert_eq!(value_of(&moto, id).await, "old-webhook-8812");
    assert!(
        f.output
            .contains("rolled back: AWSCURRENT of labelmint/production/webhook-secret is"),
        "{}",
        f.output
    );
    assert!(f.output.contains("trying ••••••"), "{}", f.output);
    assert_hidden(&f, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_pinned_to_another_account_is_blocked_before_anything_is_sent() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        "288761728065",
        "  JWT: { secret: true }\n",
        r#"      - id: put
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: JWT }
"#,
    );
    let f = run_in(
        dir.path(),
        &yaml,
        moto.target(Some(&aws_target("288761728065"))),
        &[("JWT", "pinned-value-7781")],
    )
    .await;
    assert!(!f.succeeded(), "{:?}", f.outcome);
    let error = f.error_of("put").expect("the step failed");
    assert!(
        error.contains("wrong AWS account: the run is pinned to 288761728065 us-east-1, but the credentials are for 123456789012"),
        "{error}"
    );
    let listed = moto.client().await.list_secrets().send().await.unwrap();
    assert!(listed.secret_list().is_empty(), "{listed:?}");
}

/// The command line, headless, with the standard chain given only through the environment of the
/// child process (`AWS_ENDPOINT_URL`, keys, region): the note names the pinned account, and a
/// secret read by one step reaches the next through its environment, masked in what is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_run_uses_the_standard_chain_and_notes_the_account() {
    let Some(moto) = Moto::start() else { return };
    create(&moto, "labelmint/production/jwt-secret", "chain-value-3391").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  JWT: { secret: true }\n",
        r#"      - id: read
        run:
          secrets.get: { id: labelmint/production/jwt-secret, var: JWT }
      - id: use
        run: 'test "$(printf %s "$JWT" | wc -c)" -eq 16 && echo "got $JWT"'
"#,
    );
    let file = dir.path().join("runbook.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["run", "--headless", "--approve-all"])
        .arg(&file)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("aws account 123456789012 region us-east-1"),
        "{stdout}"
    );
    assert!(stdout.contains("got ••••••"), "{stdout}");
    assert!(!stdout.contains("chain-value-3391") && !stderr.contains("chain-value-3391"));
    let journals: String = walk(&dir.path().join("state"));
    assert!(!journals.is_empty());
    assert!(!journals.contains("chain-value-3391"), "{journals}");
}

/// Every file under `dir`, concatenated.
fn walk(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&walk(&p));
        } else {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
    out
}

/// Credentials for the pinned account, but configured for another region than the runbook's:
/// blocked, and nothing pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_region_than_the_runbook_names_is_blocked() {
    let Some(moto) = Moto::start() else { return };
    let wanted = tollgate::runbook::AwsTarget {
        account: MOTO_ACCOUNT.into(),
        region: "eu-west-1".into(),
        ..Default::default()
    };
    let t = tollgate::target::PinnedAccount::with_overrides(
        Some(&wanted),
        tollgate::target::account::Overrides {
            endpoint_url: Some(moto.endpoint()),
            credentials: Some(("testing".into(), "testing".into())),
            region: Some("us-east-1".into()),
        },
    );
    let e = t.checked().await.expect_err("blocked");
    assert_eq!(
        e.to_string(),
        "wrong AWS region: the run is pinned to 123456789012 eu-west-1, but the configuration is for us-east-1; the step was not run"
    );
    assert_eq!(t.pinned(), None);
    // The same credentials in the runbook's region pin.
    let ok = moto.target(Some(&aws_target(MOTO_ACCOUNT)));
    let (_, pin) = ok.checked().await.expect("pins");
    assert_eq!(
        (pin.account.as_str(), pin.region.as_str()),
        (MOTO_ACCOUNT, "us-east-1")
    );
    assert_eq!(ok.describe(), "123456789012 us-east-1");
}

/// An abort while `verify` runs stops it and still moves AWSCURRENT back (the executor, driven
/// directly: the abort is sent when the verify command has said it started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_during_verify_moves_current_back() {
    use tollgate::exec::{AwsCall, Executor, Job, OutputSink};
    use tollgate::protocol::Secret;
    use tollgate::runbook::aws::{AwsAction, SecretsRotate};
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/session-key";
    let old = create(&moto, id, "old-session-6120").await;
    let dir = tempfile::tempdir().unwrap();
    let exec = tollgate::exec::aws::AwsExec {
        target: moto.target(Some(&aws_target(MOTO_ACCOUNT))),
    };
    let job = Job {
        common: tollgate::exec::JobCommon {
            step: "rotate".into(),
            workdir: dir.path().to_path_buf(),
            env: Vec::new(),
            timeout: None,
            keep_stdout: 1 << 20,
            started: None,
            environment: None,
        },
        work: tollgate::exec::Work::Aws(AwsCall {
            action: AwsAction::SecretsRotate(SecretsRotate {
                id: id.into(),
                from_var: Some("NEW".into()),
                generate: None,
                verify: Some("echo verify-started; sleep 30".into()),
            }),
            secret_values: vec![("NEW".into(), Secret("new-session-7734".into()))],
            reverting: Ok(tollgate::exec::Journaled::Ran(Vec::new())),
        }),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let sink = OutputSink {
        step: "rotate".into(),
        events: tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let run = exec.execute(&job, &sink, cancel);
    tokio::pin!(run);
    let mut output = String::new();
    let outcome = tokio::time::timeout(common::moto::DEADLINE, async {
        loop {
            tokio::select! {
                o = &mut run => break o,
                Some(ev) = rx.recv() => {
                    if let tollgate::engine::Event::Output { text, .. } = ev {
                        if text.contains("verify-started") {
                            let _ = cancel_tx.send(true);
                        }
                        output.push_str(&text);
                    }
                }
            }
        }
    })
    .await
    .expect("the step ends soon after the abort");
    while let Ok(tollgate::engine::Event::Output { text, .. }) = rx.try_recv() {
        output.push_str(&text);
    }
    assert!(outcome.cancelled, "{outcome:?}");
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.contains("verify was aborted"), "{error}");
    let (current, _) = stages(&moto, id).await;
    assert_eq!(current.as_deref(), Some(old.as_str()), "{output}");
    assert!(output.contains("rolled back"), "{output}");
    assert!(!output.contains("new-session-7734"), "{output}");
}

/// `json_key` takes one key of a JSON secret; a missing secret or key fails the step, naming
/// neither value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_takes_one_key_of_a_json_secret() {
    let Some(moto) = Moto::start() else { return };
    create(
        &moto,
        "labelmint/production/db",
        r#"{"username": "app", "password": "pw-json-8842-xk"}"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ok")).unwrap();
    std::fs::create_dir_all(dir.path().join("missing")).unwrap();
    let ok = run(
        &moto,
        &dir.path().join("ok"),
        &runbook(
            MOTO_ACCOUNT,
            "  PW: { secret: true }\n",
            r#"      - id: read
        run:
          secrets.get: { id: labelmint/production/db, var: PW, json_key: password }
      - id: use
        run: 'test "$(printf %s "$PW" | wc -c)" -eq 15 && echo "pw $PW"'
"#,
        ),
        &[],
    )
    .await;
    assert!(ok.succeeded(), "{:?}\n{}", ok.outcome, ok.output);
    assert!(
        ok.output
            .contains("read labelmint/production/db key password (version "),
        "{}",
        ok.output
    );
    assert!(ok.output.contains("pw ••••••"), "{}", ok.output);
    assert_hidden(&ok, "pw-json-8842-xk");

    let missing = run(
        &moto,
        &dir.path().join("missing"),
        &runbook(
            MOTO_ACCOUNT,
            "  PW: { secret: true }\n",
            r#"      - id: read
        run:
          secrets.get: { id: labelmint/production/db, var: PW, json_key: token }
"#,
        ),
        &[],
    )
    .await;
    assert!(!missing.succeeded());
    let error = missing.error_of("read").expect("the step failed");
    assert_eq!(error, "secret labelmint/production/db has no key `token`");
    assert_hidden(&missing, "pw-json-8842-xk");
}

/// `from_var` may name any variable, e.g. a contract address a step captured in the clear: the
/// value is stored, and the `secrets.put` step itself never prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_from_a_captured_plain_variable_stores_it_without_printing_it() {
    let Some(moto) = Moto::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let address = "EQDk2VTvn04SUKJrW7rXahzdF8_Qi6utb0wj43InCu9vdjrR";
    let yaml = runbook(
        MOTO_ACCOUNT,
        "",
        &format!(
            r#"      - id: deploy-contract
        run: echo "deployed at address={address}"
        capture:
          - {{ var: contract_address, regex: 'address=(\S+)' }}
      - id: store
        run:
          secrets.put: {{ id: labelmint/production/contract-address, from_var: contract_address }}
"#
        ),
    );
    let f = run(&moto, dir.path(), &yaml, &[]).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    assert_eq!(
        value_of(&moto, "labelmint/production/contract-address").await,
        address
    );
    let stored: String = f
        .events
        .iter()
        .filter_map(|e| match e {
            tollgate::engine::Event::Output { step, text, .. } if step == "store" => Some(&**text),
            _ => None,
        })
        .collect();
    assert!(
        stored.contains("created labelmint/production/contract-address (version "),
        "{stored}"
    );
    assert!(!stored.contains(address), "{stored}");
    assert!(
        !f.changes_of("store")
            .iter()
            .any(|c| c.to_string().contains(address))
    );
}

/// The version a step's journaled change names (`version`).
fn version_of(f: &Finished, step: &str) -> String {
    let changes = f.changes_of(step);
    assert_eq!(changes.len(), 1, "{step}: {changes:?}");
    changes[0]["version"].as_str().unwrap().to_string()
}

fn short(version: &str) -> String {
    format!("{}…", &version[..8])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_of_a_second_put_makes_the_first_version_current_again() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/jwt-secret";
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = ("first-jwt-Qm41-value", "second-jwt-Lp07-value");
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  ONE: { secret: true }\n  TWO: { secret: true }\n",
        r#"      - id: put-one
        run:
          secrets.put: { id: "labelmint/{{ env }}/jwt-secret", from_var: ONE }
      - id: put-two
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: TWO }
      - id: back
        run:
          secrets.revert: { step: put-two }
"#,
    );
    let f = run(&moto, dir.path(), &yaml, &[("ONE", first), ("TWO", second)]).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let (v1, v2) = (version_of(&f, "put-one"), version_of(&f, "put-two"));
    let (current, _) = stages(&moto, id).await;
    assert_eq!(current.as_deref(), Some(v1.as_str()));
    assert_eq!(value_of(&moto, id).await, first);
    // One line for the change, naming versions only.
    assert!(
        f.output.contains(&format!(
            "{id}: AWSCURRENT is back on {} (the step had put {})\n",
            short(&v1),
            short(&v2)
        )),
        "{}",
        f.output
    );
    let started = f.events.iter().find_map(|e| match e {
        Event::StepStarted { step, command, .. } if step == "back" => Some(command.clone()),
        _ => None,
    });
    assert_eq!(started.as_deref(), Some("secrets.revert step=put-two"));
    // What the revert did is journaled, as a change of its own kind.
    assert_eq!(
        f.changes_of("back"),
        vec![serde_json::json!({"aws": "secret_reverted", "id": id, "version": v1, "from": v2})]
    );
    assert_hidden(&f, first);
    assert_hidden(&f, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_of_a_created_secret_schedules_its_deletion_with_a_recovery_window() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/webhook-token";
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  TOKEN: { secret: true }\n",
        r#"      - id: put
        run:
          secrets.put: { id: labelmint/production/webhook-token, from_var: TOKEN }
      - id: back
        run:
          secrets.revert: { step: put }
      - id: again
        run:
          secrets.revert: { step: put }
"#,
    );
    let f = run(&moto, dir.path(), &yaml, &[("TOKEN", "webhook-Vb62-value")]).await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let d = moto
        .client()
        .await
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    let deleted = d.deleted_date().expect("the deletion is scheduled");
    // Scheduled, not done: restorable for the recovery window.
    let days = (deleted.secs() - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((6.9..=7.1).contains(&days), "deleted in {days} days");
    assert!(
        f.output
            .contains(&format!("{id} scheduled for deletion on ")),
        "{}",
        f.output
    );
    assert!(
        f.output.contains(&format!(
            "(the step had created it); it can be restored for 7 days: aws secretsmanager restore-secret --secret-id {id}\n"
        )),
        "{}",
        f.output
    );
    let back = f.changes_of("back");
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0]["aws"], "secret_deletion_scheduled");
    assert_eq!(back[0]["recovery_days"], 7);
    assert_eq!(back[0]["version"], version_of(&f, "put"));
    // Once scheduled, there is nothing more to do.
    assert!(
        f.output
            .contains(&format!("{id} is already scheduled for deletion (on ")),
        "{}",
        f.output
    );
    assert!(f.changes_of("again").is_empty());
    assert_hidden(&f, "webhook-Vb62-value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_put_since_is_left_as_it_is_and_the_revert_fails() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/jwt-secret";
    let before = create(&moto, id, "jwt-before-Ka90").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = runbook(
        MOTO_ACCOUNT,
        "  NEW: { secret: true }\n  OTHER: { secret: true }\n",
        r#"      - id: put
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: NEW }
      - id: someone-else
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: OTHER }
      - id: back
        run:
          secrets.revert: { step: put }
"#,
    );
    let f = run(
        &moto,
        dir.path(),
        &yaml,
        &[("NEW", "jwt-new-Ty55"), ("OTHER", "jwt-other-Rr31")],
    )
    .await;
    assert!(!f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let other = version_of(&f, "someone-else");
    let refusal = format!(
        "{id} changed since (AWSCURRENT is {}, not the version the step put); left as it is",
        short(&other)
    );
    assert_eq!(f.error_of("back").as_deref(), Some(refusal.as_str()));
    assert!(f.output.contains(&format!("{refusal}\n")), "{}", f.output);
    // Nothing was moved, nor journaled as moved.
    let (current, _) = stages(&moto, id).await;
    assert_eq!(current.as_deref(), Some(other.as_str()));
    assert_ne!(other, before);
    assert!(f.changes_of("back").is_empty());
}

/// A phase that fails after a `secrets.put` on an existing secret and one that created a secret:
/// the engine undoes both with `secrets.revert`, newest first; the read-only step is not undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_phase_with_undo_reverts_its_secret_puts() {
    let Some(moto) = Moto::start() else { return };
    let existing = "labelmint/production/db-url";
    let before = create(&moto, existing, "db-url-before-Wq12").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: release\ntargets:\n  environment: production\n  aws: {{ account: \"{MOTO_ACCOUNT}\", region: us-east-1 }}\nvariables:\n  DB: {{ secret: true }}\n  KEY: {{ secret: true }}\n{}",
        r#"phases:
  - id: release
    gate: true
    on_failure: { undo: true }
    steps:
      - id: check
        run:
          secrets.require: { ids: [labelmint/production/db-url] }
      - id: put-db
        run:
          secrets.put: { id: labelmint/production/db-url, from_var: DB }
      - id: put-key
        run:
          secrets.put: { id: labelmint/production/api-key, from_var: KEY }
      - id: migrate
        run: exit 1
"#
    );
    let f = common::moto::run_as(
        dir.path(),
        &yaml,
        moto.target(Some(&aws_target(MOTO_ACCOUNT))),
        "run-1",
        &[("DB", "db-url-new-Hh83"), ("KEY", "api-key-Jd44")],
        true,
    )
    .await;
    assert!(!f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    let undone: Vec<&str> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepStarted { step, command, .. } if step.ends_with(".undo") => {
                Some(command.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        undone,
        ["secrets.revert step=put-key", "secrets.revert step=put-db"]
    );
    let finished = |id: &str| {
        f.events.iter().rev().find_map(|e| match e {
            Event::StepFinished { step, status, .. } if step == id => Some(*status),
            _ => None,
        })
    };
    for id in ["put-key.undo", "put-db.undo"] {
        assert_eq!(
            finished(id),
            Some(tollgate::engine::StepStatus::Succeeded),
            "{id}\n{}",
            f.output
        );
    }
    assert_eq!(finished("check.undo"), None);
    // The existing secret is back on its version; the new one is scheduled for deletion.
    let (current, _) = stages(&moto, existing).await;
    assert_eq!(current.as_deref(), Some(before.as_str()));
    assert_eq!(value_of(&moto, existing).await, "db-url-before-Wq12");
    let key = moto
        .client()
        .await
        .describe_secret()
        .secret_id("labelmint/production/api-key")
        .send()
        .await
        .unwrap();
    assert!(key.deleted_date().is_some(), "{key:?}");
    assert_eq!(
        f.changes_of("put-db.undo")[0]["aws"],
        "secret_reverted",
        "{}",
        f.journal
    );
    assert_hidden(&f, "db-url-new-Hh83");
    assert_hidden(&f, "api-key-Jd44");
}

/// `secrets.revert` of a step the named run skipped (its `when`) or never reached puts nothing
/// back and succeeds, saying so in one line, with no change journaled; a step that run's runbook
/// does not have fails, named: as `kube.revert` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_revert_of_a_step_that_did_not_run_puts_nothing_back() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/jwt-secret";
    let before = create(&moto, id, "jwt-before-Lm42").await;
    let dir = tempfile::tempdir().unwrap();
    let deploy = runbook(
        MOTO_ACCOUNT,
        "  rotate: { default: \"no\" }\n",
        r#"      - id: put-jwt
        when: rotate == 'yes'
        run:
          secrets.rotate: { id: labelmint/production/jwt-secret, generate: 32 }
      - id: smoke
        run: "false"
      - id: put-later
        run:
          secrets.rotate: { id: labelmint/production/jwt-secret, generate: 32 }
"#,
    );
    let t = || moto.target(Some(&aws_target(MOTO_ACCOUNT)));
    // The deploy's runbook is kept as deploy.yaml: the file a revert of a step it never reached
    // reads.
    let mut spec = common::spec_as(dir.path(), &deploy, &[], false, "run-deploy");
    let kept = dir.path().join("deploy.yaml");
    std::fs::copy(&spec.runbook_path, &kept).unwrap();
    spec.runbook_path = kept.clone();
    let mut router = tollgate::exec::Router::shell_only();
    router.aws = Some(std::sync::Arc::new(tollgate::exec::aws::AwsExec {
        target: t(),
    }));
    let d =
        common::sandbox_cluster::run_spec(spec, router, tollgate::engine::Choice::Abort, &[]).await;
    assert!(!d.succeeded(), "{}", d.output);
    let back = r#"name: roll back
targets:
  environment: production
  aws: { account: "ACCOUNT", region: us-east-1 }
variables:
  which: { description: the step }
phases:
  - id: restore
    gate: true
    steps:
      - id: back
        run:
          secrets.revert: { step: "{{ which }}", run: run-deploy }
"#
    .replace("ACCOUNT", MOTO_ACCOUNT);
    for (n, which) in ["put-jwt", "put-later"].iter().enumerate() {
        let f = common::moto::run_as(
            dir.path(),
            &back,
            t(),
            &format!("run-back-{n}"),
            &[("which", which)],
            false,
        )
        .await;
        assert!(f.succeeded(), "{which}: {:?}\n{}", f.outcome, f.output);
        assert_eq!(
            f.output.trim_end(),
            format!(r#"step "{which}" did not run in run run-deploy: nothing to put back"#)
        );
        assert!(f.changes_of("back").is_empty(), "{}", f.journal);
    }
    assert_eq!(stages(&moto, id).await.0.as_deref(), Some(before.as_str()));
    let f = common::moto::run_as(
        dir.path(),
        &back,
        t(),
        "run-back-typo",
        &[("which", "put-jtw")],
        false,
    )
    .await;
    assert_eq!(
        f.error_of("back"),
        Some(format!(
            r#"run run-deploy's runbook {} has no step "put-jtw" (did you mean `put-jwt`?)"#,
            kept.display()
        ))
    );
}

/// A rollback runbook, a run of its own, puts back what a step of the deploy's run changed
/// (`run:` from a variable); the same revert pinned to another account is blocked first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_runbook_reverts_a_put_of_another_run() {
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/jwt-secret";
    let before = create(&moto, id, "jwt-before-Pz70").await;
    let dir = tempfile::tempdir().unwrap();
    let deploy = runbook(
        MOTO_ACCOUNT,
        "  JWT: { secret: true }\n",
        r#"      - id: put-jwt
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: JWT }
"#,
    );
    let t = || moto.target(Some(&aws_target(MOTO_ACCOUNT)));
    let d = common::moto::run_as(
        dir.path(),
        &deploy,
        t(),
        "run-deploy",
        &[("JWT", "jwt-deployed-Xc19")],
        false,
    )
    .await;
    assert!(d.succeeded(), "{:?}\n{}", d.outcome, d.output);
    let rollback = |account: &str| {
        format!(
            "name: roll back\ntargets:\n  environment: production\n  aws: {{ account: \"{account}\", region: us-east-1 }}\nvariables:\n  deploy_run: {{ description: the run whose changes are put back }}\n{}",
            r#"phases:
  - id: restore
    gate: true
    steps:
      - id: jwt-back
        run:
          secrets.revert: { step: put-jwt, run: "{{ deploy_run }}" }
"#
        )
    };
    // Pinned to another account: blocked before anything is sent.
    let wrong = tollgate::runbook::AwsTarget {
        account: "288761728065".into(),
        region: "us-east-1".into(),
        ..Default::default()
    };
    let blocked = common::moto::run_as(
        dir.path(),
        &rollback("288761728065"),
        moto.target(Some(&wrong)),
        "run-rollback-wrong",
        &[("deploy_run", "run-deploy")],
        false,
    )
    .await;
    let error = blocked.error_of("jwt-back").expect("blocked");
    assert!(
        error.starts_with("wrong AWS account: the run is pinned to 288761728065 us-east-1"),
        "{error}"
    );
    assert_ne!(stages(&moto, id).await.0.as_deref(), Some(before.as_str()));

    let f = common::moto::run_as(
        dir.path(),
        &rollback(MOTO_ACCOUNT),
        t(),
        "run-rollback",
        &[("deploy_run", "run-deploy")],
        false,
    )
    .await;
    assert!(f.succeeded(), "{:?}\n{}", f.outcome, f.output);
    assert_eq!(stages(&moto, id).await.0.as_deref(), Some(before.as_str()));
    assert_eq!(value_of(&moto, id).await, "jwt-before-Pz70");
    assert_eq!(f.changes_of("jwt-back")[0]["aws"], "secret_reverted");
    // A run that is not there is named.
    let none = common::moto::run_as(
        dir.path(),
        &rollback(MOTO_ACCOUNT),
        t(),
        "run-rollback-2",
        &[("deploy_run", "run-nope")],
        false,
    )
    .await;
    assert_eq!(
        none.error_of("jwt-back").as_deref(),
        Some(r#"there is no run "run-nope" in this state folder (`tollgate runs` lists them)"#)
    );
}

/// `secrets.revert` straight through the executor, reverting `reverting`.
async fn revert_directly(
    moto: &Moto,
    reverting: Vec<serde_json::Value>,
) -> (tollgate::exec::Outcome, String) {
    use tollgate::exec::{AwsCall, Executor, Job, OutputSink};
    use tollgate::runbook::Revert;
    use tollgate::runbook::aws::AwsAction;
    let exec = tollgate::exec::aws::AwsExec {
        target: moto.target(Some(&aws_target(MOTO_ACCOUNT))),
    };
    let job = Job {
        common: tollgate::exec::JobCommon {
            step: "back".into(),
            workdir: std::env::temp_dir(),
            env: Vec::new(),
            timeout: None,
            keep_stdout: 1 << 20,
            started: None,
            environment: None,
        },
        work: tollgate::exec::Work::Aws(AwsCall {
            action: AwsAction::SecretsRevert(Revert {
                step: "deploy".into(),
                run: None,
            }),
            secret_values: Vec::new(),
            reverting: Ok(tollgate::exec::Journaled::Ran(reverting)),
        }),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let sink = OutputSink {
        step: "back".into(),
        events: tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let outcome = tokio::time::timeout(common::moto::DEADLINE, exec.execute(&job, &sink, cancel))
        .await
        .expect("the revert ends");
    drop(sink);
    let mut output = String::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Output { text, .. } = ev {
            output.push_str(&text);
        }
    }
    (outcome, output)
}

/// A run's journal holds the cluster's changes and AWS's: `secrets.revert` puts back only AWS's,
/// says what it leaves (a rotation already rolled back, a kind it does not know, a revert's own
/// change), and goes on past a change it refuses before failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_takes_only_aws_changes_and_says_what_it_leaves() {
    use serde_json::json;
    let Some(moto) = Moto::start() else { return };
    let id = "labelmint/production/session-key";
    let v1 = create(&moto, id, "session-one-Bb20").await;
    let v2 = moto
        .client()
        .await
        .put_secret_value()
        .secret_id(id)
        .secret_string("session-two-Nn88")
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    let scaled =
        json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 3, "to": 0});
    let (outcome, output) = revert_directly(
        &moto,
        vec![
            json!({"aws": "secret_put", "id": id, "version": v2, "previous": v1}),
            scaled.clone(),
            json!({"aws": "secret_rolled_back", "id": "labelmint/production/other", "version": "a1b2c3d4e5f6", "from": "f6e5d4c3b2a1"}),
            json!({"aws": "secret_put", "id": "labelmint/production/orphan", "version": "0a0b0c0d0e0f", "previous": null}),
            json!({"aws": "bucket_emptied", "bucket": "labelmint-assets"}),
            json!({"aws": "secret_reverted", "id": id, "version": v1, "from": v2}),
        ],
    )
    .await;
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "labelmint/production/orphan had no AWSCURRENT version before the step; left as it is"
        ),
        "{output}"
    );
    // Newest first, one line each; the cluster's change is not AWS's to put back.
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{id}: AWSCURRENT was moved back by a revert; a revert is not put back")
                .as_str(),
            "an AWS change of a kind tollgate does not know (`bucket_emptied`): nothing to put back",
            "labelmint/production/orphan had no AWSCURRENT version before the step; left as it is",
            "labelmint/production/other: the step had already moved AWSCURRENT back to a1b2c3d4…; nothing to do",
            format!(
                "{id}: AWSCURRENT is back on {} (the step had put {})",
                short(&v1),
                short(&v2)
            )
            .as_str(),
        ],
        "{output}"
    );
    assert_eq!(stages(&moto, id).await.0.as_deref(), Some(v1.as_str()));
    assert_eq!(outcome.changes.len(), 1, "{:?}", outcome.changes);

    // Only the cluster's changes: nothing here for `secrets.revert`.
    let (outcome, _) = revert_directly(&moto, vec![scaled]).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "step \"deploy\" changed nothing in AWS that can be put back: what it journaled is not in AWS (`kube.revert` puts back a kube step's changes)"
        )
    );
}

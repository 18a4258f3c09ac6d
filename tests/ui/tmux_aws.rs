//! The real binary's interface with AWS, inside tmux, against moto: the banner shows the account
//! and region pinned at the start, and a `secrets.put` asks for its value at a masked prompt that
//! shows only bullets; the value typed lands in AWS and on no screen nor file. Without tmux or
//! moto the test prints a note and passes.

use std::time::Instant;

use crate::common::moto::Moto;
use crate::common::tmux::{DEADLINE, POLL, PROBE_RETRY, Tmux, sh_quote, tmux_installed};

const RUNBOOK: &str = r#"
name: typed token
targets:
  aws: { account: "123456789012", region: us-east-1 }
phases:
  - id: store
    title: Store the new token
    gate: true
    steps:
      - id: put-token
        run:
          secrets.put: { id: app/api-token, prompt: "The new API token" }
"#;

const TYPED: &str = "typed-Api-T0ken-77";

/// A folder with the runbook and a `./tollgate` that runs the binary with the standard AWS
/// chain, from the environment only, pointed at moto.
fn setup(moto: &Moto) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.yaml"), RUNBOOK).unwrap();
    let state = dir.path().join("state");
    let wrapper = dir.path().join("tollgate");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport AWS_ENDPOINT_URL={endpoint}\nexport AWS_ACCESS_KEY_ID=testing\nexport AWS_SECRET_ACCESS_KEY=testing\nexport AWS_REGION=us-east-1\nexport AWS_CONFIG_FILE=/dev/null\nexport AWS_SHARED_CREDENTIALS_FILE=/dev/null\nexport AWS_EC2_METADATA_DISABLED=true\nunset AWS_PROFILE\nexec {bin} --state-dir {state} \"$@\"\n",
            endpoint = sh_quote(&moto.endpoint()),
            bin = sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            state = sh_quote(state.to_str().unwrap()),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The value AWS holds for `id`.
fn stored(moto: &Moto, id: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        moto.client()
            .await
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap()
            .to_string()
    })
}

/// Fails if `value` is in any file under `dir`.
fn assert_in_no_file(dir: &std::path::Path, value: &str) {
    let mut files = vec![dir.to_path_buf()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            assert!(!text.contains(value), "the value is in {}", p.display());
        }
    }
}

#[test]
fn the_banner_shows_the_pinned_account_and_the_prompt_shows_bullets_only() {
    if !tmux_installed() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let dir = setup(&moto);
    let mut t = Tmux::new("aws");
    t.shell("main", dir.path());
    t.command("main", "./tollgate run token.yaml");
    // Pinned at the start, before the first gate is answered.
    t.wait("main", "the pinned account in the banner", |s| {
        s.lines()
            .nth(1)
            .is_some_and(|b| b.contains("· aws 123456789012/us-east-1 "))
            && s.contains("GATE before phase store")
    });
    t.probe("main", "Enter", "Enter asks for a choice", |s| {
        s.contains("choose with ←/→ or a key first")
    });
    t.press("main", &["a", "Enter"], "the gate closed", |s| {
        !s.contains("GATE before phase store")
    });
    t.wait("main", "the masked prompt", |s| {
        s.contains("SECRET VALUE") && s.contains("The new API token")
    });
    // The prompt ignores keys for a moment after it opens: a probe character is typed until it
    // shows as a bullet, then cleared with Ctrl-U.
    let deadline = Instant::now() + DEADLINE;
    'probe: loop {
        t.keys("main", &["x"]);
        let retry = Instant::now() + PROBE_RETRY;
        while Instant::now() < retry {
            if t.screen("main").contains("value: •") {
                break 'probe;
            }
            std::thread::sleep(POLL);
        }
        assert!(
            Instant::now() < deadline,
            "the prompt never took a key:\n{}",
            t.screen("main")
        );
    }
    t.press("main", &["C-u"], "the prompt cleared", |s| {
        s.contains("value: ▏  0 characters")
    });
    t.type_text("main", TYPED);
    let bullets = "•".repeat(TYPED.len());
    let screen = t.wait("main", "one bullet per character", |s| {
        s.contains(&format!("value: {bullets}▏  18 characters"))
    });
    assert!(!screen.contains(TYPED), "{screen}");
    t.press("main", &["Enter"], "the step stored the value", |s| {
        s.contains("✓ put-token") && s.contains("created app/api-token (version ")
    });
    t.wait("main", "the run succeeded", |s| {
        s.lines().nth(1).is_some_and(|b| b.contains("· succeeded"))
    });
    t.press("main", &["q"], "the shell back", |s| {
        s.contains(": succeeded")
    });

    assert_eq!(stored(&moto, "app/api-token"), TYPED);
    assert_in_no_file(&dir.path().join("state"), TYPED);
}

/// Headless in a terminal: the value is read without echo, and never printed.
#[test]
fn headless_in_a_terminal_reads_the_value_without_echo() {
    if !tmux_installed() {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let dir = setup(&moto);
    let mut t = Tmux::new("aws-headless");
    t.shell("main", dir.path());
    t.command(
        "main",
        "./tollgate run --headless --approve store token.yaml; echo \"exit=$?\"",
    );
    t.wait("main", "the prompt", |s| {
        s.contains("The new API token (typed, not shown):")
    });
    t.type_text("main", TYPED);
    t.keys("main", &["Enter"]);
    let screen = t.wait("main", "the run's end", |s| s.contains("exit=0"));
    assert!(
        screen.contains("?? step put-token asks for a value, typed at a prompt and not shown: The new API token (secrets.put app/api-token)"),
        "{screen}"
    );
    assert!(
        screen.contains("created app/api-token (version "),
        "{screen}"
    );
    assert!(!screen.contains(TYPED), "{screen}");
    assert_eq!(stored(&moto, "app/api-token"), TYPED);
    assert_in_no_file(&dir.path().join("state"), TYPED);
}

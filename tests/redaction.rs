//! Secrets never reach output in any form: a headless run whose steps print a planted secret as
//! it is, base64-encoded (alone and inside basic-auth credentials), URL-encoded, JSON-escaped and
//! line by line leaves none of those forms on the screen, in the journal or in the audit log.

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const SECRET: &str = "pl4nted s3cret/with+chars?&=";
const KEY: &str = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\nAASCBKcwggSjAgEAAoIBAQC7\n-----END TEST KEY-----";

const RUNBOOK: &str = r#"
name: redaction
variables:
  token: { secret: true, env: REDACTION_TOKEN }
  key: { secret: true, env: REDACTION_KEY }
phases:
  - id: leak
    title: Steps that try to show the secrets
    steps:
      - id: plain
        run: { shell: 'echo "token=$token"' }
      - id: base64
        run: { shell: 'printf %s "$token" | base64; printf "%s\n" "$token" | base64' }
      - id: basic-auth
        run: { shell: 'printf "deploy:%s" "$token" | base64 -w0; echo; printf "x%s" "$token" | base64 -w0; echo' }
      - id: url
        run: { shell: 'python3 -c "import os,urllib.parse as u; print(u.quote(os.environ[\"token\"], safe=\"\")); print(u.quote_plus(os.environ[\"token\"]))"' }
      - id: json
        run: { shell: 'python3 -c "import os,json; print(json.dumps({\"key\": os.environ[\"key\"]}))"' }
      - id: key-lines
        run: { shell: 'printf "%s\n" "$key"; printf "%s\n" "$key" | sed -n 2p | base64' }
      - id: stderr-and-fail
        run: { shell: 'echo "bad token $token" >&2; exit 3' }
"#;

fn forms() -> Vec<String> {
    let mut out = vec![
        SECRET.to_string(),
        STANDARD.encode(SECRET),
        STANDARD.encode(format!("{SECRET}\n")),
        URL_SAFE_NO_PAD.encode(SECRET),
        form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        serde_json::to_string(KEY)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        "MIIEvQIBADANBgkqhkiG9w0BAQ".to_string(),
        "AASCBKcwggSjAgEAAoIBAQC7".to_string(),
        STANDARD.encode("MIIEvQIBADANBgkqhkiG9w0BAQ\n"),
    ];
    // Inside basic-auth credentials: the run of characters that encodes only the secret.
    for prefix in ["deploy:", "x"] {
        let enc = STANDARD.encode(format!("{prefix}{SECRET}"));
        let skip = (prefix.len() * 4).div_ceil(3) + 1;
        out.push(enc[skip..enc.len() - 4].to_string());
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_form_of_a_secret_reaches_screen_journal_or_log() {
    if Command::new("python3").arg("-V").output().is_err() {
        panic!("python3 is needed by this test (installed by .ci/run)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let runbook = tmp.path().join("redaction.yaml");
    std::fs::write(&runbook, RUNBOOK).unwrap();
    let state = tmp.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--headless", "--approve-all"])
        .arg(&runbook)
        .env("REDACTION_TOKEN", SECRET)
        .env("REDACTION_KEY", KEY)
        .env("TOLLGATE_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the last step fails: {stdout}\n{stderr}"
    );
    // The steps did print: their masked lines are there.
    for step in [
        "plain",
        "base64",
        "basic-auth",
        "url",
        "json",
        "key-lines",
        "stderr-and-fail",
    ] {
        assert!(
            stdout.contains(step) || stderr.contains(step),
            "{step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("token=••••••"), "{stdout}");
    let mut written = Vec::new();
    files_under(&state, &mut written);
    assert!(
        written
            .iter()
            .any(|p| p.to_string_lossy().contains("journal"))
    );
    let mut places: Vec<(String, String)> = vec![
        ("stdout".into(), stdout.clone()),
        ("stderr".into(), stderr.clone()),
    ];
    for p in written {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        places.push((p.display().to_string(), text));
    }
    for form in forms() {
        assert!(form.len() >= 8, "{form}");
        for (place, text) in &places {
            assert!(!text.contains(&form), "{form:?} reached {place}:\n{text}");
        }
    }
}

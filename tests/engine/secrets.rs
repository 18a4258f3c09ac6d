//! How a secret gets in and every form it comes out in, through the real binary headless: a
//! captured value holding a secret is secret too; hex, upper case and colour-split forms are
//! masked; a secret too short to mask is refused; a secret is never taken from `--var`, and
//! `--var-file` only from a file no one else can read.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common;

const SECRET: &str = "hunter2";
const MASK: &str = "••••••";

/// `tollgate --state-dir DIR/state ARGS...` with `pw` in the environment (when given).
fn tollgate(dir: &Path, args: &[&str], pw: Option<&str>) -> (Output, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.arg("--state-dir")
        .arg(dir.join("state"))
        .args(args)
        .current_dir(dir)
        .env("TOLLGATE_LOG", "trace")
        .env_remove("SECRETS_PW")
        .stdin(Stdio::null());
    if let Some(pw) = pw {
        cmd.env("SECRETS_PW", pw);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `text` without terminal control sequences, in lower case: any form of the secret that a
/// reader would see, whatever its case or colours.
fn as_read(text: &str) -> String {
    let re = regex::Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]").unwrap();
    re.replace_all(text, "").to_lowercase()
}

/// Fails if the secret, its hex, or either in any case or split by colour codes, is anywhere
/// the run could keep it.
fn assert_secret_nowhere(stdout: &str, stderr: &str, state: &Path) {
    let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
    let places: Vec<(String, String)> = common::places(stdout, stderr, state)
        .into_iter()
        .map(|(p, t)| (p, as_read(&t)))
        .collect();
    common::assert_in_none(&places, &[SECRET.to_string(), hex]);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const CAPTURES: &str = r#"
name: captures
variables:
  pw: { secret: true, env: SECRETS_PW }
phases:
  - id: p
    steps:
      - id: print
        run: 'echo "token=$pw"'
        capture: [{ var: captok, regex: 'token=(\S+)' }]
      - id: print-hex
        run: 'printf "h=%s\n" "$(printf %s "$pw" | od -An -tx1 | tr -d " \n")"'
        capture: [{ var: caphex, regex: 'h=(\S+)' }]
      - id: show
        title: 'using {{ captok }} and {{ caphex }}'
        run: 'echo "got {{ captok }} {{ caphex }}"'
"#;

#[test]
fn a_captured_value_holding_a_secret_is_masked_and_not_journaled() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = write(tmp.path(), "captures.yaml", CAPTURES);
    let (out, stdout, stderr) = tollgate(
        tmp.path(),
        &["run", "--headless", "--approve-all", &rb],
        Some(SECRET),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("got {MASK} {MASK}")),
        "the next step gets the captures masked:\n{stdout}"
    );
    let journal = std::fs::read_to_string(
        std::fs::read_dir(tmp.path().join("state/runs"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("journal.jsonl"),
    )
    .unwrap();
    for name in ["captok", "caphex"] {
        let line = journal
            .lines()
            .find(|l| l.contains("var_captured") && l.contains(&format!("\"{name}\"")))
            .unwrap_or_else(|| panic!("no capture of {name}:\n{journal}"));
        assert!(line.contains("\"secret\":true"), "{line}");
    }
    assert_secret_nowhere(&stdout, &stderr, &tmp.path().join("state"));
}

#[test]
fn hex_upper_case_and_colour_split_forms_are_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = write(
        tmp.path(),
        "forms.yaml",
        r#"
name: forms
variables:
  pw: { secret: true, env: SECRETS_PW }
phases:
  - id: p
    steps:
      - id: hex-lower
        run: 'printf "%s" "$pw" | od -An -tx1 | tr -d " \n"; echo'
      - id: hex-upper
        run: 'printf "%s" "$pw" | od -An -tx1 | tr -d " \n" | tr a-f A-F; echo'
      - id: upper
        run: 'printf "%s\n" "$pw" | tr a-z A-Z'
      - id: coloured
        run: 'printf "a \033[31mhun\033[1;32mter2\033[0m b\n"; printf "\033[33mHUN\033[0mTER2\n" >&2'
"#,
    );
    let (out, stdout, stderr) = tollgate(
        tmp.path(),
        &["run", "--headless", "--approve-all", &rb],
        Some(SECRET),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for step in ["hex-lower", "hex-upper", "upper", "coloured"] {
        assert!(
            stdout
                .lines()
                .chain(stderr.lines())
                .any(|l| l.contains(step) && l.contains(MASK)),
            "{step} printed no mask:\n{stdout}\n{stderr}"
        );
    }
    assert_secret_nowhere(&stdout, &stderr, &tmp.path().join("state"));
}

#[test]
fn a_secret_too_short_to_mask_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = write(tmp.path(), "captures.yaml", CAPTURES);
    let (out, stdout, stderr) = tollgate(
        tmp.path(),
        &["run", "--headless", "--approve-all", &rb],
        Some("abc"),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("tollgate:"))
            .collect::<Vec<_>>(),
        [
            "tollgate: variable `pw`: a secret must be at least 4 characters (a shorter one cannot be masked without masking ordinary text)"
        ],
        "{stderr}"
    );
    assert!(!stdout.contains("abc"), "{stdout}");
    assert!(!tmp.path().join("state/runs").exists(), "a run was started");
}

#[test]
fn a_secret_on_the_command_line_is_refused_naming_where_it_comes_from() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = write(tmp.path(), "captures.yaml", CAPTURES);
    let want = "tollgate: --var pw: `pw` is secret and a command line stays in shell history and `ps`; set SECRETS_PW, answer its prompt, or pass --var-file pw=PATH";
    for cmd in [
        vec![
            "run",
            "--headless",
            "--approve-all",
            &rb,
            "--var",
            "pw=hunter2",
        ],
        vec!["plan", &rb, "--var", "pw=hunter2"],
    ] {
        let (out, stdout, stderr) = tollgate(tmp.path(), &cmd, None);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stdout}\n{stderr}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("tollgate:"))
            .collect();
        assert_eq!(lines, [want], "{cmd:?}: {stderr}");
        assert!(!stdout.contains(SECRET), "{cmd:?}: {stdout}");
    }
    assert!(!tmp.path().join("state/runs").exists(), "a run was started");
}

#[test]
fn a_var_file_gives_a_secret_only_when_no_one_else_can_read_it() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = write(tmp.path(), "captures.yaml", CAPTURES);
    let file = write(tmp.path(), "pw.txt", &format!("{SECRET}\n"));
    let arg = format!("pw={file}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (out, stdout, stderr) = tollgate(
        tmp.path(),
        &[
            "run",
            "--headless",
            "--approve-all",
            &rb,
            "--var-file",
            &arg,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tollgate:"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "tollgate: --var-file pw={file}: readable by group or others (mode 640); `chmod 600 {file}` first"
        )],
        "{stderr}"
    );
    assert!(!tmp.path().join("state/runs").exists(), "a run was started");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, stdout, stderr) = tollgate(
        tmp.path(),
        &[
            "run",
            "--headless",
            "--approve-all",
            &rb,
            "--var-file",
            &arg,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("token={MASK}")), "{stdout}");
    assert_secret_nowhere(&stdout, &stderr, &tmp.path().join("state"));
}

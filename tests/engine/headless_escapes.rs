//! The real binary, headless: a step's escape sequences, in its output and in every value
//! tollgate prints (titles, the `$` line, captured values), reach the terminal as colours only,
//! unless `--raw-output`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Prints a title, a clipboard write, a clear, colours, a bare `\r` and mode changes; the
/// title and the command (in its comment) hold escapes of their own, and the captured value too.
const NOISY: &str = r#"
name: escapes
phases:
  - id: p
    steps:
      - id: noisy
        title: "deploy \e]0;pwned\a now"
        run: "printf 'a\\033]0;pwned\\007b\\033]52;c;aGk=\\007c\\033[2Jd\\033[31me\\033[0mf\\rg\\033[?1000h\\033[?2004h\\033[?25lh\\n' # \e[2J\e]2;cmd\a\r"
        capture:
          - { var: v, regex: 'a(.*)c' }
"#;

fn run(dir: &Path, extra: &[&str]) -> Output {
    let rb = dir.join("noisy.yaml");
    std::fs::write(&rb, NOISY).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .args(extra)
        .env("TMPDIR", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Each line without its `HH:MM:SS.mmm ` time.
fn untimed(stdout: &str) -> Vec<String> {
    stdout
        .split('\n')
        .map(|l| l.get(13..).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn headless_output_keeps_colours_and_drops_every_other_control_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = untimed(&stdout);
    let want = [
        ">> step noisy: deploy  now",
        r">>   $ printf 'a\033]0;pwned\007b\033]52;c;aGk=\007c\033[2Jd\033[31me\033[0mf\rg\033[?1000h\033[?2004h\033[?25lh\n' # ",
        "noisy | abcd\x1b[31me\x1b[0mfgh\x1b[0m",
        ".. captured v = b",
    ];
    for w in want {
        assert!(
            lines.iter().any(|l| l == w),
            "no line {w:?} in:\n{lines:#?}"
        );
    }
    // Nothing but SGR anywhere: no BEL, no carriage return, every ESC opens `ESC [ digits m`.
    assert!(!stdout.contains(['\x07', '\r']), "{stdout:?}");
    for (i, _) in stdout.match_indices('\x1b') {
        let rest = &stdout[i + 1..];
        let end = rest.find('m').expect("an SGR's end");
        assert!(
            rest.starts_with('[') && rest[1..end].chars().all(|c| c.is_ascii_digit() || c == ';'),
            "not SGR: {:?}",
            &rest[..end.min(20)]
        );
    }
}

#[test]
fn raw_output_passes_escape_sequences_on_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["--raw-output"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(
            "noisy | a\x1b]0;pwned\x07b\x1b]52;c;aGk=\x07c\x1b[2Jd\x1b[31me\x1b[0mf\rg\x1b[?1000h\x1b[?2004h\x1b[?25lh\n"
        ),
        "{stdout:?}"
    );
    assert!(stdout.contains("step noisy: deploy \x1b]0;pwned\x07 now"));
    // Not a terminal: nothing is written to put modes back.
    assert!(!stdout.contains("\x1b[?1000l"));
}

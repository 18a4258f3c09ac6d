//! The real binary, headless, with lines longer than a read: kept whole up to the line limit
//! for `expect`, `capture` and masking; longer ones shown in pieces marked `⏎`, never cut
//! through a secret.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The documented line limit (`LINE_MAX` in `exec/shell/executor.rs`).
const LINE_MAX: usize = 1024 * 1024;

fn run(dir: &Path, runbook: &str, env: &[(&str, &str)]) -> Output {
    let rb = dir.join("long.yaml");
    std::fs::write(&rb, runbook).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .envs(env.iter().copied())
        .env("TMPDIR", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The text of each `step | …` output line of `step`, without its time and prefix.
fn shown(stdout: &str, step: &str) -> Vec<String> {
    let mark = format!(" {step} | ");
    stdout
        .lines()
        .filter_map(|l| l.split_once(&mark).map(|(_, t)| t.to_string()))
        .collect()
}

#[test]
fn a_one_line_json_document_over_64_kib_is_matched_and_captured_whole() {
    let tmp = tempfile::tempdir().unwrap();
    // 300 KiB of padding, then the field captured; `output_contains` spans the 64 KiB mark.
    let out = run(
        tmp.path(),
        r#"
name: long json
phases:
  - id: p
    steps:
      - id: doc
        run: |
          printf '{"pad":"'
          head -c 65530 /dev/zero | tr '\0' x
          printf 'needle-across-the-cut'
          head -c 300000 /dev/zero | tr '\0' y
          printf '","tail":"found-it"}\n'
        expect: { output_contains: "xxxxneedle-across-the-cutyyyy" }
        capture:
          - { var: tail, json: .tail }
      - id: use
        run: echo "tail is {{ tail }}"
"#,
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = shown(&stdout, "doc");
    assert_eq!(doc.len(), 1, "the line was shown in {} pieces", doc.len());
    assert_eq!(doc[0].len(), 8 + 65530 + 21 + 300000 + 20);
    assert!(!doc[0].contains('⏎'));
    assert_eq!(shown(&stdout, "use"), vec!["tail is found-it"]);
}

#[test]
fn a_secret_across_the_old_64_kib_cut_is_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        r#"
name: straddle
variables:
  pw: { secret: true, env: STRADDLE_PW }
phases:
  - id: p
    steps:
      - id: leak
        run: |
          # Written at once, so the 64 KiB read ends inside the secret.
          { head -c 65533 /dev/zero | tr '\0' a; printf '%sbbb\n' "$pw"; } > line.txt
          cat line.txt
"#,
        &[("STRADDLE_PW", "hunter2")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let leak = shown(&stdout, "leak");
    assert_eq!(leak.len(), 1);
    assert_eq!(leak[0], format!("{}••••••bbb", "a".repeat(65533)));
    assert!(!stdout.contains("hun") && !stdout.contains("ter2"));
}

#[test]
fn a_line_over_the_limit_is_shown_in_marked_pieces_kept_whole_and_masked_across_the_cut() {
    let tmp = tempfile::tempdir().unwrap();
    // The secret starts 3 bytes before the limit: a cut at the limit would split it. The token
    // straddles where the second piece ends (the limit past the first piece's end).
    let before = LINE_MAX - 3;
    let middle = LINE_MAX - 7 - 6;
    let runbook = format!(
        r#"
name: over the limit
variables:
  pw: {{ secret: true, env: LIMIT_PW }}
phases:
  - id: p
    steps:
      - id: huge
        run: |
          head -c {before} /dev/zero | tr '\0' a
          printf '%s' "$pw"
          head -c {middle} /dev/zero | tr '\0' b
          printf 'TOKEN-ACROSS'
          head -c 100 /dev/zero | tr '\0' c
          printf 'END\n'
        expect: {{ output_contains: "bbbbTOKEN-ACROSScccc" }}
        capture:
          - {{ var: token, regex: 'b(TOKEN-[A-Z]+)c' }}
      - id: use
        run: echo "token is {{{{ token }}}}"
"#
    );
    let out = run(tmp.path(), &runbook, &[("LIMIT_PW", "hunter2")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("hun") && !stdout.contains("ter2"));
    let pieces = shown(&stdout, "huge");
    assert_eq!(
        pieces.len(),
        3,
        "{:?}",
        pieces.iter().map(String::len).collect::<Vec<_>>()
    );
    // Every piece but the last is marked, and together they are the line, masked.
    assert!(pieces[0].ends_with('⏎') && pieces[1].ends_with('⏎'));
    assert!(!pieces[2].ends_with('⏎'));
    let whole: String = pieces.iter().map(|p| p.trim_end_matches('⏎')).collect();
    assert_eq!(
        whole,
        format!(
            "{}••••••{}TOKEN-ACROSS{}END",
            "a".repeat(before),
            "b".repeat(middle),
            "c".repeat(100)
        )
    );
    // The first piece ends before the secret rather than inside it; the second is the limit
    // long, before masking.
    assert_eq!(pieces[0], format!("{}⏎", "a".repeat(before)));
    assert_eq!(pieces[1], format!("••••••{}TOKEN-⏎", "b".repeat(middle)));
    // Kept whole for `expect` and `capture`.
    assert_eq!(shown(&stdout, "use"), vec!["token is TOKEN-ACROSS"]);
}

//! `tollgate check` against the runbook corpus in tests/fixtures/runbooks and against hostile
//! input.
//!
//! - Every `tests/fixtures/runbooks/valid/*.yaml` checks clean: no output, exit 0.
//! - Every `tests/fixtures/runbooks/invalid/NAME.yaml` prints exactly `NAME.expected` and exits 1.
//!   After a deliberate change to the messages, `TOLLGATE_BLESS=1 cargo test --test runbook
//!   check::` rewrites the `.expected` files; review the diff before keeping it.
//! - Files only meant to be included live in `parts/` folders and are not checked on their own.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Only a guard against a hang; a healthy check takes a fraction of this.
const DEADLINE: Duration = Duration::from_secs(10);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `tollgate check ARGS...` from the crate root, killing it if it outlives [`DEADLINE`].
fn check<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .arg("check")
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tollgate");
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        out_pipe.read_to_end(&mut s).ok();
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        err_pipe.read_to_end(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tollgate") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            child.kill().ok();
            child.wait().ok();
            let names: Vec<String> = args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect();
            panic!(
                "`tollgate check {}` still running after {DEADLINE:?}",
                names.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    Run {
        status,
        stdout: String::from_utf8_lossy(&out_thread.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned(),
        took,
    }
}

/// The `*.yaml` files directly in `dir` (relative to the crate root), sorted.
fn runbooks_in(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    files
}

/// Expected and actual output side by side, line by line, marking the lines that differ.
fn diff_view(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for i in 0..exp.len().max(act.len()) {
        match (exp.get(i), act.get(i)) {
            (Some(e), Some(a)) if e == a => writeln!(out, "    {e}").unwrap(),
            (e, a) => {
                if let Some(e) = e {
                    writeln!(out, "  - {e}").unwrap();
                }
                if let Some(a) = a {
                    writeln!(out, "  + {a}").unwrap();
                }
            }
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') && !expected.is_empty() {
        writeln!(out, "  (the final newline differs)").unwrap();
    }
    out
}

#[test]
fn valid_runbooks_check_clean() {
    let files = runbooks_in("tests/fixtures/runbooks/valid");
    assert!(
        files.len() >= 6,
        "expected at least 6 valid runbooks, found {}",
        files.len()
    );
    let mut failures = String::new();
    for f in &files {
        let r = check(&[f]);
        if r.status.code() != Some(0) || !r.stdout.is_empty() || !r.stderr.is_empty() {
            writeln!(
                failures,
                "{f}: exit {:?}\n{}{}",
                r.status.code(),
                r.stdout,
                r.stderr
            )
            .unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "valid runbooks with problems:\n{failures}"
    );
}

#[test]
fn invalid_runbooks_print_exactly_what_is_expected() {
    let files = runbooks_in("tests/fixtures/runbooks/invalid");
    assert!(
        files.len() >= 35,
        "expected at least 35 invalid runbooks, found {}",
        files.len()
    );
    let bless = std::env::var_os("TOLLGATE_BLESS").is_some();
    let mut failures = String::new();
    for f in &files {
        let expected_path = Path::new(ROOT).join(f).with_extension("expected");
        let r = check(&[f]);
        if bless {
            std::fs::write(&expected_path, &r.stdout).unwrap();
        }
        let Ok(expected) = std::fs::read_to_string(&expected_path) else {
            writeln!(
                failures,
                "{f}: no {} (its output is:\n{})",
                expected_path.display(),
                r.stdout
            )
            .unwrap();
            continue;
        };
        if expected.trim().is_empty() {
            writeln!(failures, "{f}: the .expected file is empty").unwrap();
        }
        if r.status.code() != Some(1) {
            writeln!(
                failures,
                "{f}: exit {:?}, expected 1; stderr:\n{}",
                r.status.code(),
                r.stderr
            )
            .unwrap();
        }
        if r.stdout != expected {
            writeln!(
                failures,
                "{f}: output differs (- expected, + actual):\n{}",
                diff_view(&expected, &r.stdout)
            )
            .unwrap();
        }
        if r.stderr.contains("panicked") {
            writeln!(failures, "{f}: panicked:\n{}", r.stderr).unwrap();
        }
    }
    assert!(failures.is_empty(), "\n{failures}");
}

#[test]
fn every_expected_file_has_its_runbook() {
    let dir = Path::new(ROOT).join("tests/fixtures/runbooks/invalid");
    let orphans: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "expected"))
        .filter(|p| !p.with_extension("yaml").is_file())
        .collect();
    assert!(
        orphans.is_empty(),
        ".expected files without a runbook: {orphans:?}"
    );
}

#[test]
fn several_files_in_one_call_report_each_in_turn() {
    let files = runbooks_in("tests/fixtures/runbooks/invalid");
    let expected: String = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(Path::new(ROOT).join(f).with_extension("expected"))
                .unwrap_or_default()
        })
        .collect();
    let mut args = vec!["tests/fixtures/runbooks/valid/gates.yaml".to_string()];
    args.extend(files);
    let r = check(&args);
    assert_eq!(r.status.code(), Some(1), "stderr: {}", r.stderr);
    assert!(
        r.stdout == expected,
        "output differs (- expected, + actual):\n{}",
        diff_view(&expected, &r.stdout)
    );
}

// ---- hostile input -------------------------------------------------------------------------

/// A small deterministic generator, so a failure can be reproduced.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn alias_bomb() -> Vec<u8> {
    let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='i' {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        s.push_str(&format!("{c}: &{c} [{refs}]\n"));
        prev = c;
    }
    s.into_bytes()
}

fn base64_junk(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let r = rng.next();
        for i in 0..8 {
            out.push(ALPHABET[((r >> (i * 8)) & 63) as usize]);
        }
        if out.len() % 77 == 76 {
            out.push(b'\n');
        }
    }
    out.truncate(len);
    out
}

fn binary_junk(len: usize) -> Vec<u8> {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    (0..len).map(|_| rng.next() as u8).collect()
}

fn deep_lists(depth: usize) -> Vec<u8> {
    "[".repeat(depth).into_bytes()
}

fn deep_flow_mappings(depth: usize) -> Vec<u8> {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)).into_bytes()
}

fn deep_block_mappings(depth: usize) -> Vec<u8> {
    (0..depth)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect::<String>()
        .into_bytes()
}

fn many_keys(count: usize) -> Vec<u8> {
    (0..count)
        .map(|i| format!("k{i}: {i}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Checks a generated file: one line naming it with a position, exit 1, no panic, no hang.
fn assert_refused(name: &str, bytes: &[u8], message_hint: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let r = check(&[&path]);
    let shown = path.display().to_string();
    assert_ne!(
        r.status.code(),
        Some(101),
        "{name}: panicked:\n{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("panicked"),
        "{name}: panicked:\n{}",
        r.stderr
    );
    assert_eq!(
        r.status.code(),
        Some(1),
        "{name}: exit code\nstdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{name}: expected one line, got:\n{}",
        r.stdout
    );
    let rest = lines[0]
        .strip_prefix(&format!("{shown}:"))
        .unwrap_or_else(|| panic!("{name}: the line does not name the file: {}", lines[0]));
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().unwrap_or_default();
    let col = parts.next().unwrap_or_default();
    let message = parts.next().unwrap_or_default().trim();
    assert!(
        line.parse::<u32>().is_ok_and(|n| n >= 1) && col.parse::<u32>().is_ok_and(|n| n >= 1),
        "{name}: no line:col position in: {}",
        lines[0]
    );
    assert!(
        message.contains(message_hint),
        "{name}: expected the message to mention {message_hint:?}: {}",
        lines[0]
    );
    assert!(r.took < DEADLINE, "{name}: took {:?}", r.took);
}

#[test]
fn alias_bomb_is_refused() {
    assert_refused("bomb.yaml", &alias_bomb(), "alias");
}

#[test]
fn fifty_megabytes_of_junk_is_refused() {
    assert_refused("junk.yaml", &base64_junk(50 * 1024 * 1024), "larger");
}

#[test]
fn binary_bytes_are_refused() {
    assert_refused("random.yaml", &binary_junk(64 * 1024), "UTF-8");
}

#[test]
fn ten_thousand_nested_lists_are_refused() {
    assert_refused("lists.yaml", &deep_lists(10_000), "nesting");
}

#[test]
fn ten_thousand_nested_mappings_are_refused() {
    assert_refused("mappings.yaml", &deep_flow_mappings(10_000), "nesting");
}

#[test]
fn deeply_indented_mappings_are_refused() {
    // 2,000 levels of block indentation fit under the size cap; 10,000 would not.
    assert_refused("indented.yaml", &deep_block_mappings(2_000), "nesting");
}

#[test]
fn a_mapping_with_too_many_keys_is_refused_quickly() {
    assert_refused("keys.yaml", &many_keys(150_000), "values");
}

// ---- the source documents ------------------------------------------------------------------

#[test]
fn the_literal_key_in_the_labelmint_design_is_flagged() {
    let seed = "../shared/seeds/000_063bfdb7e38fdd61.txt";
    let Ok(text) = std::fs::read_to_string(Path::new(ROOT).join(seed)) else {
        eprintln!("note: {seed} is absent; skipping the literal-secret check on it");
        return;
    };
    let marker = "export TON_PRIVATE_KEY=";
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(marker))
        .expect("the seed has an `export TON_PRIVATE_KEY=` line");
    let line_no = index + 1;
    let value = line[line.find(marker).unwrap() + marker.len()..]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');

    let r = check(&[seed]);
    assert_eq!(r.status.code(), Some(1), "stderr: {}", r.stderr);
    let prefix = format!("{seed}:{line_no}:");
    let flagged = r.stdout.lines().any(|l| {
        l.starts_with(&prefix)
            && l.contains(": warning: literal secret")
            && l.contains("TON_PRIVATE_KEY")
    });
    assert!(
        flagged,
        "no `warning: literal secret` naming TON_PRIVATE_KEY at line {line_no}; output:\n{}",
        r.stdout
    );
    // The finding names the variable; it never repeats the secret.
    assert!(value.len() >= 16, "the key value was not found on its line");
    assert!(
        !r.stdout.contains(value) && !r.stderr.contains(value),
        "the output repeats the secret value"
    );
}

// ---- files that cannot be read ---------------------------------------------------------------

#[test]
fn a_missing_file_is_unreadable() {
    let r = check(&["tests/fixtures/runbooks/no-such-runbook.yaml"]);
    assert_eq!(r.status.code(), Some(2), "stdout: {}", r.stdout);
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    assert!(
        r.stderr
            .contains("tests/fixtures/runbooks/no-such-runbook.yaml")
            && r.stderr.contains("cannot read"),
        "stderr: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "stderr: {}", r.stderr);
}

#[test]
fn a_directory_is_unreadable() {
    let r = check(&["tests/fixtures/runbooks/valid"]);
    assert_eq!(r.status.code(), Some(2), "stdout: {}", r.stdout);
    assert!(
        r.stderr.contains("tests/fixtures/runbooks/valid") && r.stderr.contains("directory"),
        "stderr: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "stderr: {}", r.stderr);
}

#[test]
fn an_unreadable_file_among_others_still_checks_the_rest() {
    let r = check(&[
        "tests/fixtures/runbooks/no-such-runbook.yaml",
        "tests/fixtures/runbooks/invalid/unknown-key-top.yaml",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let expected = std::fs::read_to_string(
        Path::new(ROOT).join("tests/fixtures/runbooks/invalid/unknown-key-top.expected"),
    )
    .unwrap();
    assert_eq!(r.stdout, expected);
}

#[test]
fn a_kube_step_that_changes_the_cluster_with_no_gate_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ungated.yaml");
    std::fs::write(
        &path,
        "name: ungated\nphases:\n  - id: p\n    steps:\n      - id: look\n        run:\n          kube.get: { resource: pods }\n      - id: down\n        run:\n          kube.scale: { replicas: 0 }\n      - id: gated\n        gate: true\n        run:\n          kube.scale: { replicas: 1 }\n",
    )
    .unwrap();
    let r = check(&[&path]);
    assert_eq!(r.status.code(), Some(1), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "{}:8:9: warning: step `down` changes the cluster (`kube.scale`) with no gate before it; add `gate:` to the step or its phase\n",
            path.display()
        )
    );
}

/// The mistakes found by reading LabelMint's runbooks against their design, as a class: a title
/// claiming every object over a check one line satisfies, a secret on curl's command line (also
/// through a shell variable that holds it), and an outage behind a gate with no confirmation word.
#[test]
fn claims_secrets_on_command_lines_and_soft_gates_before_outages_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.yaml");
    std::fs::write(
        &path,
        r#"name: prod
targets: { environment: production, production: true }
variables:
  api_key: { secret: true }
  bot_token: { secret: true }
phases:
  - id: check
    steps:
      - id: images-match
        title: Every deployment runs 1.2
        run: kubectl get deploy -o wide
        expect: { output_contains: ":1.2", output_not_contains: ":latest" }
      - id: balance
        run: |
          curl -sS -H "X-API-Key: $api_key" https://toncenter.com/api/v2/getAddressBalance
      - id: webhook
        run: |
          token="$bot_token"
          curl -fsS "https://api.telegram.org/bot$token/getWebhookInfo"
      - id: balance-stdin
        run: |
          printf 'X-API-Key: %s\n' "$api_key" | curl -sS -H @- https://toncenter.com/api
  - id: stop
    gate: { destructive: true }
    steps:
      - id: scale-to-zero
        gate: { message: "Scale to zero?" }
        run:
          kube.scale: { replicas: 0 }
      - id: drop-scratch
        run: psql -c 'DROP DATABASE scratch'
  - id: rotate
    gate: true
    steps:
      - id: rotate-jwt
        run:
          secrets.rotate: { id: app/jwt-secret, generate: 64 }
      - id: restore
        gate: { destructive: true }
        run: pg_restore --clean -d app /backups/latest.dump
"#,
    )
    .unwrap();
    let r = check(&[&path]);
    assert_eq!(r.status.code(), Some(1), "{}", r.stderr);
    let p = path.display();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{p}:9:9: warning: step `images-match` says `every` but `output_contains: \":1.2\"` passes when any one line holds it; check each one (a script that fails on the first that does not, or only `output_not_contains` of what a wrong one prints)"
            ),
            format!(
                "{p}:15:11: warning: step `balance` puts secret `api_key` on the command line of `curl`, where `ps` shows it; pass it on stdin (`printf '%s' \"$api_key\" | curl …`), in a file only you can read, or in the environment"
            ),
            format!(
                "{p}:18:11: warning: step `webhook` puts secret `bot_token` on the command line of `curl`, where `ps` shows it; pass it on stdin (`printf '%s' \"$bot_token\" | curl …`), in a file only you can read, or in the environment"
            ),
            format!(
                "{p}:26:9: warning: step `scale-to-zero` scales every deployment to zero, in a production runbook, but the gate before it asks for no confirmation word; make it `destructive: true` (on the step or its phase's gate)"
            ),
            format!(
                "{p}:35:9: warning: step `rotate-jwt` replaces app/jwt-secret: every session signed with the old value ends, in a production runbook, but the gate before it asks for no confirmation word; make it `destructive: true` (on the step or its phase's gate)"
            ),
        ],
        "{}",
        r.stdout
    );
}

/// A step that changes a system may not simply be skipped in a rehearsal: the steps after it
/// would rehearse against a system it never changed. A read-only step may; a replaced one is fine.
#[test]
fn a_change_skipped_in_a_rehearsal_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skips.yaml");
    std::fs::write(
        &path,
        r#"name: skips
phases:
  - id: p
    gate: true
    steps:
      - id: restore-snapshot
        rehearse: { skip: "RDS has no stand-in" }
        run: aws rds restore-db-instance-from-db-snapshot --db-instance-identifier x --db-snapshot-identifier y
      - id: scale
        rehearse: { skip: "no reason" }
        run:
          kube.scale: { deployment: web, replicas: 2 }
      - id: describe
        rehearse: { skip: "RDS has no stand-in" }
        run: aws rds describe-db-instances --db-instance-identifier x
      - id: restore-replaced
        rehearse: { run: "echo restored" }
        run: aws rds restore-db-instance-from-db-snapshot --db-instance-identifier x --db-snapshot-identifier y
"#,
    )
    .unwrap();
    let r = check(&[&path]);
    assert_eq!(r.status.code(), Some(1), "{}", r.stderr);
    let p = path.display();
    let tail = "but is skipped in a rehearsal, so the steps after it rehearse against a system it never changed; give it a stand-in (`rehearse: {run: …}`) that does what later steps need";
    assert_eq!(
        r.stdout,
        format!(
            "{p}:7:19: warning: step `restore-snapshot` changes an RDS instance {tail}\n\
             {p}:10:19: warning: step `scale` changes the cluster (`kube.scale`) {tail}\n"
        )
    );
}

#[test]
fn ids_longer_than_a_label_are_refused_in_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "a".repeat(200_000);
    let at_limit = "b".repeat(63);
    let file = dir.path().join("long-ids.yaml");
    std::fs::write(
        &file,
        format!(
            "name: long ids\nphases:\n  - id: {huge}\n    steps:\n      - id: {at_limit}\n        run: echo ok\n"
        ),
    )
    .unwrap();
    let r = check(&[&file]);
    assert_eq!(r.status.code(), Some(1), "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one problem, the 63-character id is fine: {lines:?}"
    );
    assert!(
        lines[0].ends_with(&format!(
            ":3:9: id `{}…` is 200000 characters long; ids are at most 63 (a step's id labels the pods of its `kube.job`, and is typed in `--approve`)",
            "a".repeat(40)
        )),
        "{}",
        lines[0]
    );
    assert!(lines[0].len() < 300, "the line stays short");
}

#[test]
fn a_capture_that_can_see_a_secret_steps_output_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captures.yaml");
    std::fs::write(
        &path,
        r#"name: captures
variables:
  pw: { secret: true }
phases:
  - id: p
    steps:
      - id: reads
        run: 'echo "token=$pw"'
        capture: [{ var: captok, regex: 'token=(\S+)' }]
      - id: through-env
        run:
          shell: echo "$LOGIN"
          env: { LOGIN: "{{ pw }}" }
        capture: [{ var: login }]
      - id: declared
        run: 'echo "${pw}"'
        capture: [{ var: kept, secret: true }]
      - id: unrelated
        run: 'echo "$password"'
        capture: [{ var: other }]
      - id: said-public
        run: 'echo "$pw" >/dev/null; echo address=0:abc'
        capture: [{ var: address, regex: 'address=(\S+)', public: true }]
"#,
    )
    .unwrap();
    let r = check(&[&path]);
    assert_eq!(r.status.code(), Some(1), "{}", r.stderr);
    let p = path.display();
    assert_eq!(
        r.stdout,
        format!(
            "{p}:9:26: warning: capture `captok` can see the output of step `reads`, which reads secret `pw`; declare it `secret: true`, or `public: true` if it cannot hold the secret (a value holding it is masked and not journaled either way)\n\
             {p}:14:26: warning: capture `login` can see the output of step `through-env`, which reads secret `pw`; declare it `secret: true`, or `public: true` if it cannot hold the secret (a value holding it is masked and not journaled either way)\n"
        )
    );
}

/// `--format json`: one object per problem and line, holding exactly what the text line says,
/// for every runbook of the invalid corpus (errors and warnings); an unreadable file is an error
/// object with no position, and exit 2.
#[test]
fn json_format_says_exactly_what_the_text_lines_say() {
    let files = runbooks_in("tests/fixtures/runbooks/invalid");
    let text = check(&files);
    let mut args = vec!["--format".to_string(), "json".to_string()];
    args.extend(files.iter().cloned());
    let json = check(&args);
    assert_eq!(json.status.code(), text.status.code(), "{}", json.stderr);
    let mut lines = Vec::new();
    for l in json.stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        let o = v.as_object().expect("an object");
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["column", "file", "line", "message", "severity"],
            "{l}"
        );
        let severity = v["severity"].as_str().unwrap();
        assert!(matches!(severity, "error" | "warning"), "{l}");
        let warning = if severity == "warning" {
            "warning: "
        } else {
            ""
        };
        lines.push(format!(
            "{}:{}:{}: {warning}{}",
            v["file"].as_str().unwrap(),
            v["line"].as_u64().unwrap(),
            v["column"].as_u64().unwrap(),
            v["message"]
                .as_str()
                .unwrap()
                .replace('\r', "\\r")
                .replace('\n', "\\n")
        ));
    }
    let expected: Vec<&str> = text.stdout.lines().collect();
    assert!(expected.len() > 50, "{}", expected.len());
    assert_eq!(lines, expected);

    let missing = check(&[
        "--format",
        "json",
        "tests/fixtures/runbooks/no-such-file.yaml",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(missing.stdout.trim()).unwrap();
    assert_eq!(v["severity"], "error");
    assert_eq!(v["line"], serde_json::Value::Null);
    assert!(
        v["message"].as_str().unwrap().contains("cannot read"),
        "{v}"
    );
}

//! The tamper-evident record: `tollgate verify RUN_ID` passes a real run's journal and audit
//! lines, and names the first line where a record was edited, removed, reordered or added by hand
//! (exit 6); `resume` refuses each of those journals with one line (exit 5); the audit log's lines
//! are typed JSON, chained across processes appending at once.

use std::path::Path;

use crate::common::binary::{Bin, text};
use tollgate::text::sha256_hex;

const DEMO: &str = "tests/fixtures/runbooks/valid/shell-deploy.yaml";

/// The shell-only deploy paused at its destructive `deploy` gate (exit 3): its id and journal.
fn paused_at_deploy(bin: &Bin) -> (String, std::path::PathBuf) {
    let out = bin.run(&[
        "run",
        DEMO,
        "--headless",
        "--approve",
        "preflight",
        "--approve",
        "build",
    ]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    bin.only_run()
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// `verify ID`: its exit code and its one line of stdout (stderr must be empty).
fn verify(bin: &Bin, id: &str) -> (Option<i32>, String) {
    let out = bin.run(&["verify", id]);
    let (stdout, stderr) = text(&out);
    assert!(stderr.is_empty(), "{stderr}");
    (out.status.code(), stdout)
}

/// What is wrong, from the one line `verify` prints: `PATH:LINE: …`, exit 6.
fn tampered(bin: &Bin, id: &str, path: &Path, line: usize) -> String {
    let (code, stdout) = verify(bin, id);
    assert_eq!(code, Some(6), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let at = format!("{}:{line}: ", path.display());
    stdout
        .trim_end()
        .strip_prefix(&at)
        .unwrap_or_else(|| panic!("not `{at}…`: {stdout}"))
        .to_string()
}

/// `resume` refuses the journal with exit 5 and one line naming `path:line`; what it says.
fn resume_refused(bin: &Bin, path: &Path, line: usize) -> String {
    let out = bin.run(&["resume", "--headless", "--approve", "deploy=demo"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stdout.contains("reserve-capacity"), "ran on:\n{stdout}");
    let at = format!("{}:{line}: ", path.display());
    let i = stderr
        .find(&at)
        .unwrap_or_else(|| panic!("no `{at}` in {stderr}"));
    stderr[i + at.len()..].trim_end().to_string()
}

#[test]
fn verify_passes_a_real_runs_journal_from_its_runbook_digest_to_its_last_line() {
    let bin = Bin::new();
    let (id, path) = paused_at_deploy(&bin);
    let lines = lines_of(&path);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let digest = first["digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{digest}"
    );
    assert_eq!(
        first["prev"], digest,
        "the first line chains to its runbook"
    );
    let (code, stdout) = verify(&bin, &id);
    assert_eq!(code, Some(0), "{stdout}");
    let said: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        said[0],
        format!(
            "run {id}: {} records, chain intact from the runbook digest {digest} to {}",
            lines.len(),
            sha256_hex(lines.last().unwrap().as_bytes())
        )
    );
    assert!(
        said[1].starts_with("audit log: ") && said[1].contains(&format!("of run {id} agree")),
        "{stdout}"
    );
    // A resumed session goes on with the same chain.
    let out = bin.run(&["resume", "--headless", "--approve", "deploy=demo"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(verify(&bin, &id).0, Some(0));
    // Unknown and malformed ids.
    assert_eq!(bin.run(&["verify", "no-such-run"]).status.code(), Some(5));
    assert_eq!(bin.run(&["verify", "../runs"]).status.code(), Some(2));
}

#[test]
fn a_record_edited_removed_or_reordered_is_named_by_verify_and_refused_by_resume() {
    let bin = Bin::new();
    let (id, path) = paused_at_deploy(&bin);
    let good = lines_of(&path);
    assert!(good.len() > 6, "{good:?}");
    let chain_broken =
        |why: &str, at: usize| why.contains(&format!("its `prev` is not the hash of line {at}"));

    // One byte of a field of line 3 (the approval of `preflight`: now by someone else).
    let mut edited = good.clone();
    assert!(edited[2].contains("\"who\":\"ops-tester@"), "{}", edited[2]);
    edited[2] = edited[2].replace("\"who\":\"ops-tester@", "\"who\":\"ops-testes@");
    write_lines(&path, &edited);
    let why = tampered(&bin, &id, &path, 4);
    assert!(chain_broken(&why, 3), "{why}");
    assert!(
        why.contains("a record before it was edited, removed or reordered"),
        "{why}"
    );
    assert!(chain_broken(&resume_refused(&bin, &path, 4), 3));

    // Line 3 removed.
    let removed = [&good[..2], &good[3..]].concat();
    write_lines(&path, &removed);
    assert!(chain_broken(&tampered(&bin, &id, &path, 3), 2));
    assert!(chain_broken(&resume_refused(&bin, &path, 3), 2));

    // Lines 3 and 4 swapped.
    let mut reordered = good.clone();
    reordered.swap(2, 3);
    write_lines(&path, &reordered);
    assert!(chain_broken(&tampered(&bin, &id, &path, 3), 2));
    assert!(chain_broken(&resume_refused(&bin, &path, 3), 2));

    // The last line edited: no line after it to break, but its audit line holds its hash.
    let mut last = good.clone();
    let n = last.len();
    assert!(last[n - 1].contains("run_paused"), "{}", last[n - 1]);
    last[n - 1] = last[n - 1].replace("\"reason\":\"", "\"reason\":\"x");
    write_lines(&path, &last);
    let why = tampered(&bin, &id, &path, n);
    assert!(
        why.contains("the journal line does not agree with the audit log"),
        "{why}"
    );
    assert!(
        resume_refused(&bin, &path, n).contains("does not agree with the audit log"),
        "resume"
    );

    // As it was: it verifies again, and resumes.
    write_lines(&path, &good);
    assert_eq!(verify(&bin, &id).0, Some(0));
}

#[test]
fn a_line_appended_by_hand_is_named_chained_or_not() {
    let bin = Bin::new();
    let (id, path) = paused_at_deploy(&bin);
    let good = lines_of(&path);
    let n = good.len() + 1;
    let at = tollgate::engine::now_rfc3339();
    let approval = |seq: usize| {
        format!(
            r#"{{"seq":{seq},"at":"{at}","event":"gate_decided","gate":"deploy","kind":"phase","choice":"approve","who":"x","via":"y"}}"#
        )
    };
    // Without a `prev`: the chain is missing there.
    let mut bare = good.clone();
    bare.push(approval(n));
    write_lines(&path, &bare);
    let why = tampered(&bin, &id, &path, n);
    assert!(why.contains("it has no `prev`"), "{why}");
    assert!(
        resume_refused(&bin, &path, n).contains("it has no `prev`"),
        "resume"
    );
    // With the chain computed, as a forger who knows it would, and the gate reopened first so
    // the journal's rules hold: the audit log has no line for either.
    write_lines(&path, &good);
    crate::common::append_chained(
        &path,
        &format!(
            r#"{{"seq":{n},"at":"{at}","event":"gate_reached","gate":"deploy","kind":"phase"}}"#
        ),
    );
    crate::common::append_chained(&path, &approval(n + 1));
    // Its rules hold: only the audit log tells.
    let (lines, _) = tollgate::engine::journal::read_lines(&path).unwrap();
    assert_eq!(tollgate::engine::journal::check(&lines), Ok(()));
    let why = tampered(&bin, &id, &path, n);
    assert!(
        why.contains("the audit log has no line for this `gate_reached`"),
        "{why}"
    );
    let why = resume_refused(&bin, &path, n);
    assert!(
        why.contains("the audit log has no line for this `gate_reached`"),
        "{why}"
    );
    // A journal stripped of its chain is refused from its first line.
    let stripped: Vec<String> = good
        .iter()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("prev");
            v.to_string()
        })
        .collect();
    write_lines(&path, &stripped);
    let why = tampered(&bin, &id, &path, 1);
    assert!(why.contains("no hash chain"), "{why}");
    assert!(resume_refused(&bin, &path, 1).contains("no hash chain"));
}

fn audit_files(state: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(state.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("audit-")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_broken_audit_line_is_named_by_verify() {
    let bin = Bin::new();
    let (id, _) = paused_at_deploy(&bin);
    let files = audit_files(&bin.state());
    let audit = files.last().unwrap().clone();
    let good = lines_of(&audit);
    assert!(good.len() > 3, "{good:?}");
    // One byte of line 2 (its `who`, or any field): line 3 says so.
    let mut edited = good.clone();
    edited[1] = edited[1].replacen("\"run_id\":\"", "\"run_id\":\"x", 1);
    write_lines(&audit, &edited);
    let why = tampered(&bin, &id, &audit, 3);
    assert!(
        why.contains("its `prev` is not the hash of line 2: a line before it was edited, removed or reordered"),
        "{why}"
    );
    // Line 2 removed.
    write_lines(&audit, &[&good[..1], &good[2..]].concat());
    assert!(tampered(&bin, &id, &audit, 2).contains("is not the hash of line 1"));
    // A line that is not JSON.
    let mut junk = good.clone();
    junk.insert(1, "gate decided run_id=x".into());
    write_lines(&audit, &junk);
    assert!(tampered(&bin, &id, &audit, 2).contains("not an audit line"));
    write_lines(&audit, &good);
    assert_eq!(verify(&bin, &id).0, Some(0));
}

const MANY: &str = "name: many\nphases:\n  - id: all\n    steps:\n";

#[test]
fn audit_lines_are_typed_json_chained_across_two_processes_writing_at_once() {
    let bin = Bin::new();
    let mut yaml = MANY.to_string();
    for i in 0..40 {
        yaml.push_str(&format!("      - id: s{i}\n        run: \"true\"\n"));
    }
    let rb = bin.runbook("many.yaml", &yaml);
    let rb = rb.to_str().unwrap();
    let args = ["run", rb, "--headless", "--approve-all"];
    let mut a = bin.command(&args).spawn().unwrap();
    let mut b = bin.command(&args).spawn().unwrap();
    let (out_a, out_b) = (a.wait().unwrap(), b.wait().unwrap());
    assert!(out_a.success() && out_b.success(), "{out_a:?} {out_b:?}");

    let files = audit_files(&bin.state());
    let mut prev = "0".repeat(64);
    let mut runs = std::collections::BTreeSet::new();
    let mut n = 0;
    for f in &files {
        for line in lines_of(f) {
            n += 1;
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("line {n} is not a JSON object ({e}): {line}"));
            assert_eq!(v["prev"], prev.as_str(), "line {n}: the chain breaks");
            prev = sha256_hex(line.as_bytes());
            // The fields every line has, typed.
            let at = v["at"].as_str().unwrap();
            assert!(
                chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.len() == 24,
                "{at}"
            );
            runs.insert(v["run_id"].as_str().unwrap().to_string());
            assert!(v["journal_seq"].is_u64(), "{line}");
            let h = v["journal_sha256"].as_str().unwrap();
            assert!(h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()));
            assert!(!v.values().any(|x| x.is_null()), "{line}");
            let has = |k: &str| v.contains_key(k);
            match v["event"].as_str().unwrap() {
                "run_started" => assert!(
                    ["runbook", "runbook_name", "digest", "who"]
                        .iter()
                        .all(|k| has(k)),
                    "{line}"
                ),
                "gate_reached" => assert!(has("gate") && has("kind"), "{line}"),
                "gate_decided" => assert!(
                    ["gate", "kind", "choice", "who", "via"]
                        .iter()
                        .all(|k| has(k)),
                    "{line}"
                ),
                "step_process" => {
                    assert!(v["pid"].is_i64() && v["pgid"].is_i64(), "{line}")
                }
                "step_finished" => assert!(
                    has("step")
                        && v["status"] == "succeeded"
                        && v["exit_code"] == 0
                        && v["duration_ms"].is_u64(),
                    "{line}"
                ),
                "run_finished" => assert_eq!(v["status"], "succeeded", "{line}"),
                other => panic!("an event not documented for this run: {other}: {line}"),
            }
        }
    }
    assert!(n >= 2 * 40, "{n} lines");
    assert_eq!(runs.len(), 2, "{runs:?}");
    for id in &runs {
        let (code, stdout) = verify(&bin, id);
        assert_eq!(code, Some(0), "{stdout}");
    }
}

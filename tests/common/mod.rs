//! What the engine and interface tests share: a runbook written to a folder and a run of it
//! ready to start, its journal under the folder's `state/`.

#[allow(dead_code)]
pub mod awscli;
#[allow(dead_code)]
pub mod binary;
#[allow(dead_code)]
pub mod docker;
#[allow(dead_code)]
pub mod ecr;
#[allow(dead_code)]
pub mod kubectl;
#[allow(dead_code)]
pub mod moto;
#[allow(dead_code)]
pub mod rehearse;
#[allow(dead_code)]
pub mod sandbox_cluster;
#[allow(dead_code)]
pub mod tmux;
#[allow(dead_code)]
pub mod venv;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::engine::RunSpec;
use tollgate::engine::journal::{self, Journal, JournalError, Line, Replay};
use tollgate::engine::variables;

/// `yaml` as `runbook.yaml` in `dir`, checked clean, with `vars` set; `replay` rebuilds the
/// state from a journal already in `dir/state` (a resume).
#[allow(dead_code)]
pub fn spec(dir: &Path, yaml: &str, vars: &[(&str, &str)], replay: bool) -> RunSpec {
    spec_as(dir, yaml, vars, replay, "run-1")
}

/// [`spec`] for a run with another id (several runs in one state folder).
pub fn spec_as(
    dir: &Path,
    yaml: &str,
    vars: &[(&str, &str)],
    replay: bool,
    run_id: &str,
) -> RunSpec {
    let path = dir.join("runbook.yaml");
    std::fs::write(&path, yaml).unwrap();
    let loaded = tollgate::runbook::load(&path).unwrap();
    assert!(
        loaded.errors().next().is_none(),
        "runbook has errors: {:?}",
        loaded.diags
    );
    // Secret values never come from `--var`: they are given as their environment variables.
    let is_secret = |k: &str| loaded.runbook.variables.get(k).is_some_and(|v| v.secret);
    let overrides: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| !is_secret(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| is_secret(k))
        .map(|(k, v)| {
            let var = &loaded.runbook.variables[*k];
            (variables::env_name(k, var), v.to_string())
        })
        .collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let vars = variables::resolve(&loaded.runbook, &overrides, &[], &lookup, None).unwrap();
    let jpath = journal::journal_path(&dir.join("state"), run_id);
    let (journal, lines) = open_journal(&jpath, run_id);
    RunSpec {
        runbook: Arc::new(loaded.runbook),
        runbook_path: path,
        digest: loaded.digest,
        run_id: run_id.into(),
        vars,
        journal,
        replay: replay.then(|| Replay::from_lines(&lines)),
        who: "tester@host".into(),
        rehearsal: false,
    }
}

/// How long a journal may stay locked by someone else's fork before [`open_journal`] gives up.
const JOURNAL_LOCK_DEADLINE: Duration = Duration::from_secs(10);

/// Opens run `run_id`'s journal for writing, as the run it starts or resumes will.
///
/// The tests of an area share one process, and a child that any of them forks (a shell step of an
/// engine running in process, a `tmux` or `tollgate` command) holds a copy of every descriptor the
/// process has open until it execs: a journal open at that moment, and its lock, outlive their
/// closing for that long. A test that finishes a run and opens its journal again (a resume) can
/// meet that lock; it is asked for again until [`JOURNAL_LOCK_DEADLINE`], and a lock held longer
/// than that fails the test as before.
fn open_journal(path: &Path, run_id: &str) -> (Journal, Vec<Line>) {
    let deadline = Instant::now() + JOURNAL_LOCK_DEADLINE;
    loop {
        match Journal::open(path, run_id) {
            Err(JournalError::Locked(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            opened => return opened.unwrap(),
        }
    }
}

/// Where a run could have shown or kept a value: its stdout and stderr (when given) and the text
/// of every file it wrote under its state folder, as `(place, text)`. Fails when no journal is
/// among the files, so a run that wrote nothing cannot pass for one that leaked nothing.
#[allow(dead_code)]
pub fn places(stdout: &str, stderr: &str, state: &Path) -> Vec<(String, String)> {
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
    let mut written = Vec::new();
    files_under(state, &mut written);
    assert!(
        written.iter().any(|p| p.ends_with("journal.jsonl")),
        "no journal under {}: {written:?}",
        state.display()
    );
    let mut out = vec![
        ("stdout".to_string(), stdout.to_string()),
        ("stderr".to_string(), stderr.to_string()),
    ];
    for p in written {
        let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
        out.push((p.display().to_string(), text));
    }
    out
}

/// Fails, naming the form and the place, if any of `forms` is in any of `places`.
#[allow(dead_code)]
pub fn assert_in_none(places: &[(String, String)], forms: &[String]) {
    for form in forms {
        for (place, text) in places {
            assert!(!text.contains(form.as_str()), "{form:?} reached {place}");
        }
    }
}

/// A line written by hand with its `prev` set: `{…}` becomes `{…,"prev":"PREV"}`.
fn with_prev(line: &str, prev: &str) -> String {
    let body = line.trim_end().strip_suffix('}').expect("a JSON object");
    format!(r#"{body},"prev":"{prev}"}}"#)
}

/// A journal written by hand, chained as tollgate chains one: each line's `prev` the hash of the
/// line before it, the first's the `digest` of its `run_started`. It passes the chain and is
/// judged by the journal's other rules. The text, lines ending in newlines.
#[allow(dead_code)]
pub fn chained(lines: &[String]) -> String {
    let mut out = String::new();
    let mut prev: Option<String> = None;
    for line in lines {
        let p = prev.take().unwrap_or_else(|| {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            v["digest"]
                .as_str()
                .expect("a run_started first")
                .to_string()
        });
        let l = with_prev(line, &p);
        prev = Some(tollgate::text::sha256_hex(l.as_bytes()));
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Appends a record written by hand to a journal, chained to its last line as tollgate would
/// chain it: refused, if it is, by the rule it breaks, not by the chain.
#[allow(dead_code)]
pub fn append_chained(path: &Path, line: &str) {
    use std::io::Write as _;
    let text = std::fs::read_to_string(path).unwrap();
    let last = text.lines().last().expect("a journal with lines");
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(
        f,
        "{}",
        with_prev(line, &tollgate::text::sha256_hex(last.as_bytes()))
    )
    .unwrap();
}

/// The audit log's daily files under a state folder (`logs/audit-*.log`), oldest first.
#[allow(dead_code)]
fn audit_files(state: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(state.join("logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-"))
        })
        .collect();
    files.sort();
    files
}

/// Every audit log line under a state folder (`logs/audit-*.log`, oldest first), parsed: fails
/// on a line that is not a JSON object.
#[allow(dead_code)]
pub fn audit_lines(state: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let files = audit_files(state);
    files
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| match serde_json::from_str(l) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => panic!("not a JSON object: {l}"),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `line` without its `prev` (a hex string, wherever it is among the keys).
fn without_prev(line: &str) -> String {
    let key = r#","prev":""#;
    match line.rfind(key) {
        Some(i) => {
            let start = i + key.len();
            let end = line[start..]
                .find('"')
                .map_or(line.len(), |j| start + j + 1);
            format!("{}{}", &line[..i], &line[end..])
        }
        None => line.to_string(),
    }
}

/// After a test edits a run's journal by hand to stage a past that tollgate could have written
/// (a run begun hours ago): the journal chained again from its first line, and the run's audit
/// lines made to name the records as they now are, the audit log chained again, as if tollgate
/// had written both so.
#[allow(dead_code)]
pub fn rechain_run(journal_path: &Path) {
    let run_id = journal_path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap()
        .to_string();
    let state = journal_path
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    let old: Vec<String> = std::fs::read_to_string(journal_path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let bare: Vec<String> = old.iter().map(|l| without_prev(l)).collect();
    let text = chained(&bare);
    std::fs::write(journal_path, &text).unwrap();
    let new_hashes: Vec<String> = text
        .lines()
        .map(|l| tollgate::text::sha256_hex(l.as_bytes()))
        .collect();
    let files = audit_files(state);
    let mut prev = "0".repeat(64);
    for f in files {
        let mut out = String::new();
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let mut l = without_prev(line);
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            if v["run_id"] == run_id.as_str()
                && let Some(seq) = v["journal_seq"].as_u64()
                && let Some(said) = v["journal_sha256"].as_str()
                && let Some(now) = new_hashes.get((seq as usize).saturating_sub(1))
            {
                l = l.replace(said, now);
            }
            let l = with_prev(&l, &prev);
            prev = tollgate::text::sha256_hex(l.as_bytes());
            out.push_str(&l);
            out.push('\n');
        }
        std::fs::write(&f, out).unwrap();
    }
}

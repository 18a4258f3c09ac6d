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

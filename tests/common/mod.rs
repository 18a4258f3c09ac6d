//! What the engine and interface tests share: a runbook written to a folder and a run of it
//! ready to start, its journal under the folder's `state/`.

#[allow(dead_code)]
pub mod cluster;
#[allow(dead_code)]
pub mod docker;
#[allow(dead_code)]
pub mod ecr;
#[allow(dead_code)]
pub mod moto;
#[allow(dead_code)]
pub mod tmux;

use std::path::Path;
use std::sync::Arc;

use tollgate::engine::RunSpec;
use tollgate::engine::context;
use tollgate::engine::journal::{self, Journal, Replay};

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
    let overrides: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let vars = context::resolve(&loaded.runbook, &overrides, &|_| None, None).unwrap();
    let jpath = journal::journal_path(&dir.join("state"), run_id);
    let (journal, lines) = Journal::open(&jpath, run_id).unwrap();
    RunSpec {
        runbook: Arc::new(loaded.runbook),
        runbook_path: path,
        digest: loaded.digest,
        run_id: run_id.into(),
        vars,
        journal,
        replay: replay.then(|| Replay::from_lines(&lines)),
        who: "tester@host".into(),
    }
}

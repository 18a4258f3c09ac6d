//! Following a failed run into the runbook its failure path leads to (`on_failure: {runbook:
//! NAME}`, NAME a name in `links`), chosen with `--follow-failure-runbook` or the interface's
//! `o`: the linked runbook loaded, the failed run's targets carried where it declares the same
//! kind, the non-secret values of the variables both runbooks declare carried (secret ones are
//! looked up again, never read from the journal), the built-in `from_run` set to the failed run's
//! id, and both journals linked (`followed_by` in the failed run's, `from_run` in the new one's
//! `run_started`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::journal::{self, Carried, Journal};
use crate::engine::{self, RunSpec, variables};
use crate::runbook::{self, Runbook};

/// What a run that may be followed leaves for the one that follows it.
pub(super) struct Prev {
    pub run_id: String,
    pub runbook: Arc<Runbook>,
    pub runbook_path: PathBuf,
    /// Its non-secret variables as resolved.
    pub vars: BTreeMap<String, String>,
    pub journal: PathBuf,
    pub rehearsal: bool,
    /// The kube context it ran against when a flag (`--context`) chose it, not its runbook.
    pub context: Option<String>,
}

impl Prev {
    pub fn of(spec: &RunSpec, context: Option<&str>) -> Prev {
        Prev {
            run_id: spec.run_id.clone(),
            runbook: spec.runbook.clone(),
            runbook_path: spec.runbook_path.clone(),
            vars: spec.vars.public(),
            journal: spec.journal.path().to_path_buf(),
            rehearsal: spec.rehearsal || spec.replay.as_ref().is_some_and(|r| r.rehearsal),
            context: context.map(str::to_string),
        }
    }

    /// The state folder its journal (`STATE/runs/ID/journal.jsonl`) is in.
    fn state_dir(&self) -> PathBuf {
        self.journal
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// The engine's part of a followed run, for the wiring.
#[derive(Clone, Debug)]
pub(super) struct Following {
    pub from_run: String,
    pub carried: Option<Carried>,
}

/// The runbook the failure path leads to, loaded and checked, the carried targets in place of
/// its own.
pub(super) struct Linked {
    pub name: String,
    pub path: PathBuf,
    pub runbook: Runbook,
    pub digest: String,
    pub carried: Option<Carried>,
}

impl Linked {
    /// The folder its file is in (its own `links` and files are found from there).
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }
}

/// Loads the runbook `name` of `prev`'s `links`; its problems are printed as `check` prints
/// them. `Err` is one line, or nothing when the problems were printed.
pub(super) fn linked(prev: &Prev, name: &str) -> Result<Linked, Option<String>> {
    let Some(link) = prev.runbook.links.get(name) else {
        return Err(Some(format!(
            "the runbook `{name}` to follow is not a name in the `links` of {}",
            prev.runbook_path.display()
        )));
    };
    let dir = prev
        .runbook_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join(link.as_str());
    let path = std::path::absolute(&path).unwrap_or(path);
    let loaded = super::load::load_usable(&path).map_err(|_| None)?;
    let mut runbook = loaded.runbook;
    let carried = Carried::between(
        &prev.runbook.targets,
        prev.context.as_deref(),
        &runbook.targets,
    );
    if let Some(c) = &carried {
        c.apply(&mut runbook.targets);
    }
    Ok(Linked {
        name: name.to_string(),
        path,
        runbook,
        digest: loaded.digest,
        carried,
    })
}

/// The values the followed run starts with, as `--var` gives them: the failed run's values of
/// the non-secret variables both runbooks declare, and `from_run` filled into the defaults that
/// name it (e.g. `deploy_run: {default: "{{ from_run }}"}`).
pub(super) fn carried_vars(prev: &Prev, to: &Runbook) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, var) in &to.variables {
        if var.secret {
            continue;
        }
        // The default names `from_run` when filling it in changes it.
        let names_from_run = variables::default_of(var, "a") != variables::default_of(var, "b");
        let from_run = names_from_run
            .then(|| variables::default_of(var, &prev.run_id))
            .flatten();
        if let Some(v) = from_run {
            out.push((name.clone(), v));
            continue;
        }
        let shared = prev.runbook.variables.get(name).is_some_and(|v| !v.secret);
        if let (true, Some(v)) = (shared, prev.vars.get(name)) {
            out.push((name.clone(), v.clone()));
        }
    }
    out
}

/// Opens the followed run's journal and links the two: `followed_by` in the failed run's
/// journal, before the new run starts. The spec and the engine's part of it.
pub(super) fn start(
    prev: &Prev,
    linked: Linked,
    runbook: Runbook,
    vars: variables::Vars,
) -> Result<(RunSpec, Following), String> {
    let run_id = engine::new_run_id();
    let path = journal::journal_path(&prev.state_dir(), &run_id);
    let (journal, _) = Journal::open(&path, &run_id).map_err(|e| e.to_string())?;
    journal::record_followed(&prev.journal, &prev.run_id, &run_id, &linked.name).map_err(|e| {
        format!(
            "cannot link run {} to the run that follows it: {e}",
            prev.run_id
        )
    })?;
    let spec = RunSpec {
        runbook: Arc::new(runbook),
        runbook_path: linked.path,
        digest: linked.digest,
        run_id,
        vars,
        journal,
        replay: None,
        who: variables::who(),
        rehearsal: prev.rehearsal,
    };
    let following = Following {
        from_run: prev.run_id.clone(),
        carried: linked.carried,
    };
    Ok((spec, following))
}

/// The line said before the followed run starts.
pub(super) fn opening(prev: &Prev, spec: &RunSpec, following: &Following, name: &str) -> String {
    let carried = following
        .carried
        .as_ref()
        .map(|c| format!("; targets carried: {}", c.describe()))
        .unwrap_or_default();
    format!(
        "run {} failed: following it with the runbook `{name}` ({}) as run {}{carried}",
        prev.run_id,
        spec.runbook_path.display(),
        spec.run_id
    )
}

/// `runbook` with the phases of the runbooks its `links` name added, for checking the ids the
/// flags name when a failure may be followed (`--approve` may name a gate of the runbook
/// followed). A link that cannot be loaded adds nothing.
pub(super) fn with_linked(runbook: &Runbook, dir: &Path) -> Runbook {
    let mut all = runbook.clone();
    all.phases.extend(linked_phases(runbook, dir).phases);
    all
}

/// A runbook holding only the phases of the runbooks `runbook`'s `links` name: what a decisions
/// file's `follow:` section may name, checked before the rehearsal starts.
pub(super) fn linked_phases(runbook: &Runbook, dir: &Path) -> Runbook {
    let mut all = Runbook::default();
    for link in runbook.links.values() {
        if let Ok(l) = runbook::load(&dir.join(link.as_str())) {
            all.phases.extend(l.runbook.phases);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(file: &str, vars: &[(&str, &str)]) -> Prev {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let loaded = runbook::load(&path).unwrap();
        Prev {
            run_id: "20261206-101010-abcd".into(),
            runbook: Arc::new(loaded.runbook),
            runbook_path: path,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            journal: PathBuf::from("/nonexistent/runs/x/journal.jsonl"),
            rehearsal: false,
            context: None,
        }
    }

    /// LabelMint's first deploy, failed and followed into rollback-application: `deploy_run`
    /// (default `{{ from_run }}`) is the failed run, the shared non-secret variables carry over,
    /// and unfollowed its default is empty as before.
    #[test]
    fn labelmint_rollback_application_gets_the_failed_deploy_as_deploy_run() {
        let p = prev(
            "runbooks/labelmint/first-deploy.yaml",
            &[("namespace", "labelmint-staging"), ("image_tag", "a1b2c3d")],
        );
        let linked = linked(&p, "rollback-application").unwrap_or_else(|e| panic!("{e:?}"));
        let vars = carried_vars(&p, &linked.runbook);
        assert!(
            vars.contains(&("deploy_run".into(), p.run_id.clone())),
            "{vars:?}"
        );
        assert!(
            vars.contains(&("namespace".into(), "labelmint-staging".into())),
            "{vars:?}"
        );
        assert!(!vars.iter().any(|(k, _)| k == "image_tag"), "{vars:?}");
        let deploy_run = &linked.runbook.variables["deploy_run"];
        assert_eq!(variables::default_of(deploy_run, "").as_deref(), Some(""));
        // Both declare kube and AWS targets: the failed run's are carried.
        let c = linked.carried.expect("carried");
        assert_eq!(
            c.kube_namespace,
            p.runbook.targets.kube.as_ref().unwrap().namespace
        );
        assert_eq!(
            Some(c.aws_account.unwrap()),
            p.runbook.targets.aws.as_ref().map(|a| a.account.clone())
        );
    }
}

//! What a rehearsal runs, from the runbook: the steps as a rehearsal runs them, the cluster's
//! fixtures, and the variables' values (made up for secrets, never read from the real
//! environment).

use std::path::{Path, PathBuf};

use crate::runbook::{OnFailure, Rehearse, Runbook, Spanned, Step};

/// The runbook as a rehearsal runs it: a step with `rehearse: {run: …}` runs that instead. It
/// and a step skipped in rehearsal have no `undo`: what it would undo was never done.
pub fn runbook(rb: &Runbook) -> Runbook {
    fn step(s: &mut Step) {
        match s.rehearse.as_ref().map(|r| &r.value) {
            Some(Rehearse::Replace(run)) => {
                let pos = s.rehearse.as_ref().map(|r| r.pos).unwrap_or_default();
                s.run = Some(Spanned::new(pos, (**run).clone()));
                s.undo = None;
            }
            Some(Rehearse::Skip(_)) => s.undo = None,
            Some(Rehearse::Run) | None => {}
        }
        if let Some(f) = s.on_failure.as_mut() {
            failure(&mut f.value);
        }
    }
    fn failure(f: &mut OnFailure) {
        f.steps.iter_mut().for_each(|s| step(&mut s.value));
    }
    let mut rb = rb.clone();
    for p in &mut rb.phases {
        let p = &mut p.value;
        p.steps.iter_mut().for_each(|s| step(&mut s.value));
        p.validation.iter_mut().for_each(|s| step(&mut s.value));
        if let Some(f) = p.on_failure.as_mut() {
            failure(&mut f.value);
        }
    }
    if let Some(f) = rb.on_failure.as_mut() {
        failure(&mut f.value);
    }
    rb
}

/// The manifests the rehearsal cluster starts from: the runbook's `rehearsal.fixtures`, else
/// `cluster.yaml` next to it when there is one; then the `--fixture` files.
pub fn fixtures(rb: &Runbook, dir: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match rb.rehearsal.as_ref().and_then(|r| r.fixtures.as_ref()) {
        Some(f) => f.iter().map(|f| dir.join(f.as_str())).collect(),
        None => Some(dir.join("cluster.yaml"))
            .filter(|p| p.is_file())
            .into_iter()
            .collect(),
    };
    out.extend(extra.iter().cloned());
    out
}

/// A made-up value for a secret variable in a rehearsal (long enough to be masked).
pub fn made_up(name: &str) -> String {
    format!("rehearsal-made-up-{name}")
}

/// The values a rehearsal starts from, in order of precedence (the last wins): the runbook's
/// `rehearsal.vars` (`{{ runbook_dir }}` filled), then `given` (a decisions file's, then
/// `--var`).
pub fn overrides(rb: &Runbook, dir: &Path, given: &[(String, String)]) -> Vec<(String, String)> {
    let dir = dir.display().to_string();
    let mut out: Vec<(String, String)> = rb
        .rehearsal
        .iter()
        .flat_map(|r| r.vars.iter())
        .map(|(k, v)| {
            let v = v
                .value
                .replace("{{ runbook_dir }}", &dir)
                .replace("{{runbook_dir}}", &dir);
            (k.clone(), v)
        })
        .collect();
    out.extend(given.iter().cloned());
    out
}

/// Where a rehearsal's variables are looked up instead of the real environment: a secret's
/// value is the one `secrets` gives (a decisions file's prompts), else made up; nothing else is
/// read from the environment.
pub fn lookup<'a>(
    rb: &'a Runbook,
    secrets: &'a [(String, String)],
) -> impl Fn(&str) -> Option<String> + 'a {
    move |env_name: &str| {
        let (name, _) = rb.variables.iter().find(|(name, var)| {
            var.secret && crate::engine::variables::env_name(name, var) == env_name
        })?;
        Some(
            secrets
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| made_up(name)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Runbook {
        let dir = std::env::temp_dir().join(format!("tollgate-prepare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rb.yaml");
        std::fs::write(&path, yaml).unwrap();
        let loaded = crate::runbook::load(&path).unwrap();
        assert!(loaded.ok(), "{:?}", loaded.diags);
        loaded.runbook
    }

    #[test]
    fn a_replaced_step_runs_its_stand_in_and_neither_it_nor_a_skipped_one_has_an_undo() {
        let rb = load(
            "name: t\nvariables:\n  token: { secret: true }\n  repo: { prompt: true }\nrehearsal:\n  vars: { repo: \"{{ runbook_dir }}/checkout\" }\nphases:\n  - id: p\n    steps:\n      - id: real\n        run: echo real\n        undo: echo undo-real\n      - id: tf\n        run: terraform apply\n        undo: terraform destroy\n        rehearse: { run: \"echo nodes\" }\n      - id: dns\n        run: dig x\n        undo: dig y\n        rehearse: { skip: \"reaches DNS\" }\n",
        );
        let r = runbook(&rb);
        let steps = &r.phases[0].steps;
        assert_eq!(steps[0].run.as_ref().unwrap().script(), Some("echo real"));
        assert!(steps[0].undo.is_some());
        assert_eq!(steps[1].run.as_ref().unwrap().script(), Some("echo nodes"));
        assert!(steps[1].undo.is_none());
        assert!(steps[2].undo.is_none());
        assert_eq!(steps[2].run.as_ref().unwrap().script(), Some("dig x"));

        let o = overrides(&rb, Path::new("/rb"), &[("repo".into(), "/given".into())]);
        assert_eq!(
            o,
            vec![
                ("repo".to_string(), "/rb/checkout".to_string()),
                ("repo".to_string(), "/given".to_string())
            ]
        );
        let given = [("token".to_string(), "from-the-script".to_string())];
        let l = lookup(&rb, &given);
        assert_eq!(l("TOLLGATE_VAR_token").as_deref(), Some("from-the-script"));
        assert_eq!(l("TOLLGATE_VAR_repo"), None, "nothing else is read");
        assert_eq!(l("HOME"), None);
        let none: [(String, String); 0] = [];
        assert_eq!(
            lookup(&rb, &none)("TOLLGATE_VAR_token").as_deref(),
            Some("rehearsal-made-up-token")
        );
    }
}

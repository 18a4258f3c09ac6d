//! The seeds' runbooks as a whole (`runbooks/<system>/`): each one is proven by rehearsals that
//! `cargo test` runs — its happy path to the end and at least one path through a rejection or a
//! failure — each incident, rollback, emergency or drill runbook declares the triggers a
//! responder finds it by, and each system's README and the project's README name every runbook.

use std::path::{Path, PathBuf};

use crate::common::rehearse::root;

/// The systems of the seeds, as folders of `runbooks/`.
const SYSTEMS: &[&str] = &["labelmint", "zerostate", "mint-replica-lite", "normaldance"];

/// The runbooks of a system: its YAML files with `phases` (not the cluster fixture).
fn runbooks(system: &str) -> Vec<PathBuf> {
    let dir = root().join("runbooks").join(system);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l.starts_with("phases:"))
        })
        .collect();
    out.sort();
    out
}

/// A decisions file: the runbook it names and the outcome it expects.
struct Decisions {
    path: PathBuf,
    runbook: String,
    outcome: String,
}

fn decisions(system: &str) -> Vec<Decisions> {
    let dir = root().join("runbooks").join(system).join("rehearsals");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<Decisions> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let runbook = text
                .lines()
                .find_map(|l| l.strip_prefix("runbook:"))?
                .trim()
                .trim_matches('"')
                .trim_start_matches("../")
                .to_string();
            let outcome = text
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("outcome:"))
                .map(|o| o.trim().to_string())
                .unwrap_or_default();
            Some(Decisions {
                path,
                runbook,
                outcome,
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every test source of the rehearsal tests, as one text.
fn test_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = String::new();
    walk(&root().join("tests/rehearsal"), &mut out);
    out
}

#[test]
fn every_seed_runbook_rehearses_its_happy_path_and_a_way_back_in_the_tests() {
    let sources = test_sources();
    let mut problems = Vec::new();
    let mut count = 0;
    for system in SYSTEMS {
        let all = decisions(system);
        for rb in runbooks(system) {
            count += 1;
            let name = rb.file_name().unwrap().to_str().unwrap().to_string();
            let mine: Vec<&Decisions> = all.iter().filter(|d| d.runbook == name).collect();
            if !mine.iter().any(|d| d.outcome == "succeeded") {
                problems.push(format!(
                    "{system}/{name}: no decisions file expects `succeeded`"
                ));
            }
            if !mine.iter().any(|d| d.outcome != "succeeded") {
                problems.push(format!(
                    "{system}/{name}: no decisions file through a rejection or a failure"
                ));
            }
            if !sources.contains(&format!("runbooks/{system}/{name}")) {
                problems.push(format!("{system}/{name}: no rehearsal test names it"));
            }
        }
        for d in &all {
            let rel = d.path.strip_prefix(root()).unwrap().display().to_string();
            if !sources.contains(&rel) {
                problems.push(format!("{rel}: no test rehearses it"));
            }
        }
    }
    assert!(count >= 3, "only {count} seed runbooks found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn incident_rollback_emergency_and_drill_runbooks_declare_their_triggers() {
    let mut problems = Vec::new();
    for system in SYSTEMS {
        for rb in runbooks(system) {
            let name = rb.file_name().unwrap().to_str().unwrap();
            let responder = [
                "rollback",
                "incident",
                "emergency",
                "dr-",
                "drill",
                "troubleshoot",
            ]
            .iter()
            .any(|k| name.contains(k));
            if !responder {
                continue;
            }
            let loaded = tollgate::runbook::load(&rb).unwrap();
            match &loaded.runbook.triggers {
                Some(t) if !t.alerts.is_empty() || !t.symptoms.is_empty() => {}
                _ => problems.push(format!("{system}/{name}: no `triggers`")),
            }
            if loaded.runbook.owner.is_none() {
                problems.push(format!("{system}/{name}: no `owner`"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_systems_readme_and_the_projects_name_every_runbook() {
    let top = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut problems = Vec::new();
    for system in SYSTEMS {
        let books = runbooks(system);
        if books.is_empty() {
            continue;
        }
        let readme = root().join("runbooks").join(system).join("README.md");
        let text = std::fs::read_to_string(&readme).unwrap_or_default();
        for rb in &books {
            let name = rb.file_name().unwrap().to_str().unwrap();
            if !text.contains(name) {
                problems.push(format!("runbooks/{system}/README.md does not name {name}"));
            }
            if !top.contains(&format!("{system}/{name}")) {
                problems.push(format!("README.md does not name {system}/{name}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! `tollgate init`: the starter runbook it writes checks clean and rehearses both ways (the happy
//! path and the way back) with the decisions files written next to it; a second init into the
//! same folder writes nothing; a project schema above the folder is pointed at, not copied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::binary::{Bin, text};

/// `tollgate ARGS…` run from the test's folder (not the crate's: no project schema above it).
fn tollgate(bin: &Bin, cwd: &Path, args: &[&str]) -> Output {
    bin.command(args).current_dir(cwd).output().unwrap()
}

/// Every file under `dir`, relative, with its contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn names(t: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    t.keys().map(|p| p.display().to_string()).collect()
}

#[test]
fn init_writes_a_starter_that_checks_clean_and_rehearses_both_ways() {
    let bin = Bin::new();
    let cwd = bin.dir().join("project");
    std::fs::create_dir(&cwd).unwrap();
    let o = tollgate(&bin, &cwd, &["init"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let dir = cwd.join("runbooks/example");
    assert_eq!(
        names(&tree(&dir)),
        [
            "rehearsals/happy.yaml",
            "rehearsals/rollback.yaml",
            "runbook.schema.json",
            "runbook.yaml"
        ],
    );
    for f in [
        "runbooks/example/runbook.yaml",
        "runbooks/example/runbook.schema.json",
        "runbooks/example/rehearsals/happy.yaml",
        "runbooks/example/rehearsals/rollback.yaml",
        "tollgate check runbooks/example/runbook.yaml",
        "tollgate plan runbooks/example/runbook.yaml",
        "tollgate rehearse runbooks/example/runbook.yaml --decisions runbooks/example/rehearsals/happy.yaml",
    ] {
        assert!(out.contains(f), "`{f}` not in:\n{out}");
    }

    // The editor's schema is the binary's own, next to the runbook.
    let runbook = std::fs::read_to_string(dir.join("runbook.yaml")).unwrap();
    assert_eq!(
        runbook.lines().next(),
        Some("# yaml-language-server: $schema=runbook.schema.json")
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("runbook.schema.json")).unwrap()).unwrap();
    assert_eq!(written, tollgate::runbook::schema());

    // What a newcomer is meant to find in it.
    let loaded = tollgate::runbook::load(&dir.join("runbook.yaml")).unwrap();
    let rb = &loaded.runbook;
    assert!(
        rb.owner.is_some() && rb.triggers.is_some(),
        "owner, triggers"
    );
    assert!(
        rb.targets.kube.is_none() && rb.targets.aws.is_none(),
        "local only"
    );
    assert!(rb.variables.values().any(|v| !v.value.choices.is_empty()));
    assert!(rb.variables.values().any(|v| v.value.pattern.is_some()));
    assert!(rb.phases.iter().any(|p| p.rollback), "a rollback phase");

    let o = tollgate(&bin, &cwd, &["check", "runbooks/example/runbook.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(text(&o), (String::new(), String::new()));

    let rehearse = |decisions: &str| {
        let o = tollgate(
            &bin,
            &cwd,
            &[
                "rehearse",
                "runbooks/example/runbook.yaml",
                "--decisions",
                decisions,
                "--headless",
                "--speed",
                "50",
            ],
        );
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{decisions}:\n{out}\n{err}");
        assert!(out.contains(": as expected"), "{out}");
    };
    rehearse("runbooks/example/rehearsals/happy.yaml");
    let current = || std::fs::read_to_string(dir.join("out/current.txt")).unwrap();
    assert_eq!(current(), "release=1.0.1\ncolor=green\n");
    rehearse("runbooks/example/rehearsals/rollback.yaml");
    // The way back put back what was current before it, and took its release away.
    assert_eq!(current(), "release=1.0.1\ncolor=green\n");
    assert!(dir.join("out/releases/1.0.1.txt").exists());
    assert!(!dir.join("out/releases/1.0.2.txt").exists());
}

#[test]
fn init_into_a_folder_it_wrote_writes_nothing_and_names_the_file() {
    let bin = Bin::new();
    let cwd = bin.dir().to_path_buf();
    assert_eq!(
        tollgate(&bin, &cwd, &["init", "ops"]).status.code(),
        Some(0)
    );
    std::fs::write(cwd.join("ops/runbook.yaml"), "name: edited\n").unwrap();
    let before = tree(&cwd.join("ops"));

    let o = tollgate(&bin, &cwd, &["init", "ops"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "tollgate: init: ops/runbook.yaml exists; nothing written\n"
    );
    assert_eq!(tree(&cwd.join("ops")), before);
    // Nothing was left next to it either.
    let siblings: Vec<_> = std::fs::read_dir(&cwd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n != "state")
        .collect();
    assert_eq!(siblings, ["ops"]);
}

#[test]
fn init_checks_every_file_before_writing_any() {
    let bin = Bin::new();
    let cwd = bin.dir().to_path_buf();
    // Only the last file it would write is there: the others must not be written either.
    std::fs::create_dir_all(cwd.join("ops/rehearsals")).unwrap();
    std::fs::write(cwd.join("ops/rehearsals/rollback.yaml"), "mine\n").unwrap();

    let o = tollgate(&bin, &cwd, &["init", "ops"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert_eq!(
        err,
        "tollgate: init: ops/rehearsals/rollback.yaml exists; nothing written\n"
    );
    assert_eq!(names(&tree(&cwd.join("ops"))), ["rehearsals/rollback.yaml"]);
    assert_eq!(
        std::fs::read_to_string(cwd.join("ops/rehearsals/rollback.yaml")).unwrap(),
        "mine\n"
    );

    // A file where the folder should be: one line, nothing written.
    std::fs::write(cwd.join("plain"), "x").unwrap();
    let o = tollgate(&bin, &cwd, &["init", "plain"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o).1,
        "tollgate: init: plain exists and is not a folder; nothing written\n"
    );
}

#[test]
fn init_points_at_the_project_schema_above_it_instead_of_copying_it() {
    let bin = Bin::new();
    let cwd = bin.dir().to_path_buf();
    std::fs::create_dir(cwd.join("schema")).unwrap();
    let schema = serde_json::to_string_pretty(&tollgate::runbook::schema()).unwrap();
    std::fs::write(cwd.join("schema/runbook.schema.json"), schema).unwrap();

    let o = tollgate(&bin, &cwd, &["init", "runbooks/payments"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let dir = cwd.join("runbooks/payments");
    assert!(!dir.join("runbook.schema.json").exists());
    let runbook = std::fs::read_to_string(dir.join("runbook.yaml")).unwrap();
    assert_eq!(
        runbook.lines().next(),
        Some("# yaml-language-server: $schema=../../schema/runbook.schema.json")
    );
    assert!(
        !text(&o).0.contains("runbook.schema.json"),
        "{:?}",
        text(&o)
    );
    let o = tollgate(&bin, &cwd, &["check", "runbooks/payments/runbook.yaml"]);
    assert_eq!(text(&o), (String::new(), String::new()));
    assert_eq!(o.status.code(), Some(0));
}

//! A failed run followed into the runbook its failure path leads to (`on_failure: {runbook:
//! NAME}`), headless with `--follow-failure-runbook`: the rollback runbook runs with the failed
//! run's id as `{{ from_run }}` and the shared variables carried; both journals say so and
//! still pass the integrity check; `tollgate runs` shows the pair. Without the flag the command
//! is printed, as before.

use std::path::Path;

use tollgate::engine::journal::{self, Record};

use crate::common::binary::{Bin, text};

const DEPLOY: &str = r#"
name: deploy shop
variables:
  release: { default: "r42" }
  other: { default: "deploy-only" }
links:
  rollback: rollback.yaml
on_failure: { runbook: rollback }
phases:
  - id: ship
    steps:
      - id: push
        run: "echo pushed {{ release }} > pushed.txt"
      - id: smoke
        run: "echo smoke failing >&2; exit 3"
"#;

const ROLLBACK: &str = r#"
name: roll back shop
variables:
  release: { default: "none" }
  note: { default: "rolled back" }
phases:
  - id: undo
    gate: { message: "roll back?" }
    steps:
      - id: report
        run: "echo from={{ from_run }} release={{ release }} note={{ note }}"
"#;

fn records(state: &Path, id: &str) -> Vec<Record> {
    let path = journal::journal_path(state, id);
    journal::read_lines(&path)
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record)
        .collect()
}

/// The runs in the state folder, the one followed first (ids made in the same second sort by
/// a random part: the journals say which follows which).
fn run_ids(state: &Path) -> Vec<String> {
    let mut ids: Vec<String> = journal::list_runs(state)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort_by_key(|id| {
        matches!(
            records(state, id).first(),
            Some(Record::RunStarted {
                from_run: Some(_),
                ..
            })
        )
    });
    ids
}

#[test]
fn a_failed_run_is_followed_by_its_rollback_runbook_and_both_journals_say_so() {
    let bin = Bin::new();
    let deploy = bin.runbook("deploy.yaml", DEPLOY);
    bin.runbook("rollback.yaml", ROLLBACK);
    let out = bin.run(&[
        "run",
        "--headless",
        "--follow-failure-runbook",
        "--approve",
        "ship",
        "--approve",
        "undo",
        deploy.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    // The deploy failed: the chain's exit code is the failure's, though the rollback succeeded.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let ids = run_ids(&bin.state());
    assert_eq!(ids.len(), 2, "two runs: {ids:?}\n{stdout}\n{stderr}");
    let (failed, rollback) = (&ids[0], &ids[1]);
    assert!(
        stdout.contains(&format!("from={failed} release=r42 note=rolled back")),
        "from_run and the shared variable reach the rollback; its own keeps its default:\n{stdout}"
    );
    assert!(
        stdout.contains("following it with the runbook `rollback`"),
        "{stdout}"
    );

    // The failed run says which run followed it, after it finished; the rollback run says
    // which it came from.
    let first = records(&bin.state(), failed);
    assert!(
        matches!(first.last(), Some(Record::FollowedBy { run, runbook }) if run == rollback && runbook == "rollback"),
        "{first:?}"
    );
    let second = records(&bin.state(), rollback);
    match &second[0] {
        Record::RunStarted { from_run, vars, .. } => {
            assert_eq!(from_run.as_deref(), Some(failed.as_str()));
            assert_eq!(vars.get("from_run"), Some(failed));
            assert!(
                !vars.contains_key("other"),
                "only shared variables: {vars:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(second.last(), Some(Record::RunFinished { status }) if status.word() == "succeeded"),
        "{second:?}"
    );
    // Both journals are still ones tollgate wrote.
    for id in &ids {
        journal::read_replay(&journal::journal_path(&bin.state(), id))
            .unwrap_or_else(|e| panic!("run {id}: {e}"));
    }

    // `tollgate runs` shows the pair.
    let listed = bin.run(&["runs"]);
    let (runs, _) = text(&listed);
    assert!(
        runs.contains(&format!("→ {rollback} followed it (runbook `rollback`)")),
        "{runs}"
    );
    assert!(runs.contains(&format!("← {failed} it follows")), "{runs}");
    let audited = crate::common::audit_lines(&bin.state());
    assert!(
        audited.iter().any(|l| l["event"] == "followed_by"
            && l["run_id"] == failed.as_str()
            && l["run"] == rollback.as_str()),
        "{audited:?}"
    );
}

#[test]
fn without_the_flag_the_command_is_printed_and_nothing_follows() {
    let bin = Bin::new();
    let deploy = bin.runbook("deploy.yaml", DEPLOY);
    bin.runbook("rollback.yaml", ROLLBACK);
    let out = bin.run(&[
        "run",
        "--headless",
        "--approve",
        "ship",
        deploy.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(run_ids(&bin.state()).len(), 1, "{stdout}");
    assert!(
        stdout.contains("follow the runbook `rollback`: tollgate run ")
            && stdout.contains("rollback.yaml"),
        "{stdout}"
    );
}

#[test]
fn the_followed_runbooks_gates_still_need_an_approval() {
    let bin = Bin::new();
    let deploy = bin.runbook("deploy.yaml", DEPLOY);
    bin.runbook("rollback.yaml", ROLLBACK);
    let out = bin.run(&[
        "run",
        "--headless",
        "--follow-failure-runbook",
        "--approve",
        "ship",
        deploy.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    let ids = run_ids(&bin.state());
    assert_eq!(ids.len(), 2, "{stdout}\n{stderr}");
    // Nobody approved `undo`: the rollback run pauses there (exit 3), its step never ran.
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(!stdout.contains("report | from="), "{stdout}");
    let second = records(&bin.state(), &ids[1]);
    assert!(
        second.iter().any(|r| matches!(r, Record::RunPaused { .. })),
        "{second:?}"
    );
}

#[test]
fn a_secret_both_runbooks_declare_is_looked_up_again_never_carried_through_the_journal() {
    let bin = Bin::new();
    let secret = "s3cr3t-value-for-follow";
    let deploy = bin.runbook(
        "deploy.yaml",
        &DEPLOY.replace(
            "variables:\n",
            "variables:\n  token: { secret: true, env: DEPLOY_TOKEN }\n",
        ),
    );
    bin.runbook(
        "rollback.yaml",
        &ROLLBACK
            .replace(
                "variables:\n",
                "variables:\n  token: { secret: true, env: ROLLBACK_TOKEN }\n",
            )
            .replace(
                "run: \"echo from=",
                "run: \"test \\\"$token\\\" = again-from-its-own-env && echo token looked up again; echo from=",
            ),
    );
    let out = bin
        .command(&[
            "run",
            "--headless",
            "--follow-failure-runbook",
            "--approve",
            "ship",
            "--approve",
            "undo",
            deploy.to_str().unwrap(),
        ])
        .env("DEPLOY_TOKEN", secret)
        .env("ROLLBACK_TOKEN", "again-from-its-own-env")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // The rollback read its secret where it says (its own variable), not the deploy's value.
    assert!(
        stdout.contains("token looked up again"),
        "{stdout}\n{stderr}"
    );
    for id in run_ids(&bin.state()) {
        let text = std::fs::read_to_string(journal::journal_path(&bin.state(), &id)).unwrap();
        assert!(
            !text.contains(secret),
            "run {id}'s journal holds the secret"
        );
        assert!(!text.contains("again-from-its-own-env"));
    }
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}

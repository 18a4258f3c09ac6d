//! `runs`: every run in the state folder, with its status.

use std::path::Path;

use super::exit;
use crate::engine::journal;

pub(super) fn runs(state_dir: &Path, ids: bool, all_ids: bool) -> i32 {
    if all_ids {
        print!("{}", all_run_ids(state_dir));
    } else if ids {
        print!("{}", resumable_ids(state_dir));
    } else {
        print!("{}", listing(state_dir));
    }
    exit::OK
}

/// The ids `resume` can take, newest first, one per line: runs (not rehearsals) whose journal
/// reads, that did not succeed and that no process is running (shell completion offers them after
/// `tollgate resume`).
fn resumable_ids(state_dir: &Path) -> String {
    journal::list_runs(state_dir)
        .into_iter()
        .filter_map(|(id, r)| {
            let r = r.ok()?;
            let s = status(state_dir, &id, &r);
            (!r.rehearsal && s != "succeeded" && s != "running").then(|| format!("{id}\n"))
        })
        .collect()
}

/// Every run with a journal, newest first, one per line (shell completion offers them after
/// `tollgate report`).
fn all_run_ids(state_dir: &Path) -> String {
    journal::list_runs(state_dir)
        .into_iter()
        .map(|(id, _)| format!("{id}\n"))
        .collect()
}

/// The table `runs` prints: a row per run, newest first; `KIND` says whether it was a run or a
/// rehearsal against stand-ins (`tollgate rehearse`). Under a failed run that was followed,
/// `→ ID` names the run that followed it; under that run, `← ID` the run it follows.
fn listing(state_dir: &Path) -> String {
    use std::fmt::Write;
    let list = journal::list_runs(state_dir);
    if list.is_empty() {
        return format!("no runs in {}\n", state_dir.display());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<14} {:<10} {:<25} RUNBOOK",
        "RUN", "STATUS", "KIND", "STARTED"
    );
    for (id, r) in list {
        match r {
            Ok(r) => {
                let status = status(state_dir, &id, &r);
                let kind = if r.rehearsal { "rehearsal" } else { "run" };
                let _ = writeln!(
                    out,
                    "{id:<22} {status:<14} {kind:<10} {:<25} {}",
                    r.started_at, r.runbook_name
                );
                // The pair a followed failure makes: the run that followed, the run it follows.
                for (next, link) in &r.followed_by {
                    let _ = writeln!(out, "  → {next} followed it (runbook `{link}`)");
                }
                if let Some(from) = &r.from_run {
                    let _ = writeln!(out, "  ← {from} it follows (failed)");
                }
            }
            Err(e) => {
                // Every line parses, but not as a journal tollgate wrote: `resume` refuses it.
                let status = match e {
                    journal::JournalError::Invalid { .. } => "not resumable",
                    _ => "unreadable",
                };
                let _ = writeln!(out, "{id:<22} {status:<14} {:<10} {:<25} {e}", "", "");
            }
        }
    }
    out
}

/// A run's status as listed: how it ended, or `paused`, `running` (its journal is locked by the
/// process running it) or `interrupted`.
pub(super) fn status(state_dir: &Path, id: &str, r: &journal::Replay) -> String {
    match (r.status, &r.paused) {
        (Some(s), _) => s.word().to_string(),
        (None, Some(_)) => "paused".to_string(),
        (None, None) if is_locked(state_dir, id) => "running".to_string(),
        (None, None) => "interrupted".to_string(),
    }
}

fn is_locked(state_dir: &Path, id: &str) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::File::open(journal::journal_path(state_dir, id)) else {
        return false;
    };
    // SAFETY: flock on a valid descriptor; released when `f` is dropped.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::journal::{Journal, Record, journal_path};
    use crate::protocol::RunStatus;

    fn run(state: &Path, id: &str, rehearsal: bool) {
        let (mut j, _) = Journal::open(&journal_path(state, id), id).unwrap();
        j.append(Record::RunStarted {
            run_id: id.into(),
            runbook: "rb.yaml".into(),
            runbook_name: "first deploy".into(),
            digest: "d".into(),
            vars: Default::default(),
            who: "a@h".into(),
            rehearsal,
            deadline_secs: None,
            from_run: None,
            carried: None,
        })
        .unwrap();
        j.append(Record::RunFinished {
            status: RunStatus::Succeeded,
        })
        .unwrap();
    }

    #[test]
    fn a_followed_failure_is_listed_with_the_run_that_followed_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("20260101-000000-0001", "20260101-000001-0002");
        let path = journal_path(dir.path(), a);
        {
            let (mut j, _) = Journal::open(&path, a).unwrap();
            j.append(started(a, None)).unwrap();
            j.append(Record::RunFinished {
                status: RunStatus::Failed,
            })
            .unwrap();
        }
        {
            let (mut j, _) = Journal::open(&journal_path(dir.path(), b), b).unwrap();
            j.append(started(b, Some(a))).unwrap();
        }
        journal::record_followed(&path, a, b, "rollback").unwrap();
        let out = listing(dir.path());
        let lines: Vec<&str> = out.lines().collect();
        let at = |p: &str| lines.iter().position(|l| l.starts_with(p)).unwrap();
        assert_eq!(
            lines[at(a) + 1],
            format!("  → {b} followed it (runbook `rollback`)"),
            "{out}"
        );
        assert_eq!(
            lines[at(b) + 1],
            format!("  ← {a} it follows (failed)"),
            "{out}"
        );
    }

    fn started(id: &str, from_run: Option<&str>) -> Record {
        Record::RunStarted {
            run_id: id.into(),
            runbook: "rb.yaml".into(),
            runbook_name: "deploy".into(),
            digest: "d".into(),
            vars: Default::default(),
            who: "a@h".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: from_run.map(str::to_string),
            carried: None,
        }
    }

    #[test]
    fn a_rehearsal_is_listed_as_one() {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), "20260101-000000-0001", false);
        run(dir.path(), "20260101-000000-0002", true);
        let out = listing(dir.path());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].contains(" KIND "), "{out}");
        let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
        let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            words(row("20260101-000000-0002"))[1..3],
            ["succeeded", "rehearsal"]
        );
        assert_eq!(
            words(row("20260101-000000-0001"))[1..3],
            ["succeeded", "run"]
        );
    }
}

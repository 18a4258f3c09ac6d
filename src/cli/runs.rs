//! `runs`: every run in the state folder, with its status.

use std::path::Path;

use super::exit;
use crate::engine::journal;

pub(super) fn runs(state_dir: &Path) -> i32 {
    print!("{}", listing(state_dir));
    exit::OK
}

/// The table `runs` prints: a row per run, newest first; `KIND` says whether it was a run or a
/// rehearsal against stand-ins (`tollgate rehearse`).
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
                let status = match (r.status, &r.paused) {
                    (Some(s), _) => s.word().to_string(),
                    (None, Some(_)) => "paused".to_string(),
                    (None, None) if is_locked(state_dir, &id) => "running".to_string(),
                    (None, None) => "interrupted".to_string(),
                };
                let kind = if r.rehearsal { "rehearsal" } else { "run" };
                let _ = writeln!(
                    out,
                    "{id:<22} {status:<14} {kind:<10} {:<25} {}",
                    r.started_at, r.runbook_name
                );
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
        })
        .unwrap();
        j.append(Record::RunFinished {
            status: RunStatus::Succeeded,
        })
        .unwrap();
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

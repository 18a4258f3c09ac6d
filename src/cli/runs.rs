//! `runs`: every run in the state folder, with its status.

use std::path::Path;

use super::exit;
use crate::engine::journal;

pub(super) fn runs(state_dir: &Path) -> i32 {
    let list = journal::list_runs(state_dir);
    if list.is_empty() {
        println!("no runs in {}", state_dir.display());
        return exit::OK;
    }
    println!("{:<22} {:<14} {:<25} RUNBOOK", "RUN", "STATUS", "STARTED");
    for (id, r) in list {
        match r {
            Ok(r) => {
                let status = match (r.status, &r.paused) {
                    (Some(s), _) => s.word().to_string(),
                    (None, Some(_)) => "paused".to_string(),
                    (None, None) if is_locked(state_dir, &id) => "running".to_string(),
                    (None, None) => "interrupted".to_string(),
                };
                println!(
                    "{id:<22} {status:<14} {:<25} {}",
                    r.started_at, r.runbook_name
                );
            }
            Err(e) => {
                // Every line parses, but not as a journal tollgate wrote: `resume` refuses it.
                let status = match e {
                    journal::JournalError::Invalid { .. } => "not resumable",
                    _ => "unreadable",
                };
                println!("{id:<22} {status:<14} {:<25} {e}", "");
            }
        }
    }
    exit::OK
}

fn is_locked(state_dir: &Path, id: &str) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::File::open(journal::journal_path(state_dir, id)) else {
        return false;
    };
    // SAFETY: flock on a valid descriptor; released when `f` is dropped.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

//! `verify RUN_ID`: whether a run's journal and its audit log lines are as tollgate wrote them.
//! The journal's hash chain and its rules ([`journal::check`]), the audit log's chain over all its
//! daily files, and the two against each other: every audit line of the run names a journal line
//! (`journal_seq`) by its hash (`journal_sha256`), and every journal record the engine audits has
//! such a line. One line on stdout either way: the run's chain from its runbook digest to its last
//! line's hash, or `PATH:LINE: what is wrong` (exit 6, [`exit::TAMPERED`]).

use std::path::Path;

use super::exit;
use crate::engine::audit::{self, AuditLog, ReadLine};
use crate::engine::journal::{self, JournalError};

pub(super) fn verify(state_dir: &Path, run_id: &str) -> i32 {
    if run_id.is_empty() || run_id == "." || run_id == ".." || run_id.contains('/') {
        eprintln!("tollgate: `{run_id}` is not a run id");
        return exit::USAGE;
    }
    let path = journal::journal_path(state_dir, run_id);
    if !path.is_file() {
        eprintln!("tollgate: no run `{run_id}` in {}", state_dir.display());
        return exit::STATE;
    }
    match report(state_dir, run_id, &path) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            exit::OK
        }
        Err(Refused::Tampered(line)) => {
            println!("{line}");
            exit::TAMPERED
        }
        Err(Refused::Unreadable(line)) => {
            eprintln!("tollgate: {line}");
            exit::STATE
        }
    }
}

enum Refused {
    /// Not as tollgate wrote it: `PATH:LINE: what is wrong`.
    Tampered(String),
    /// Could not be read at all.
    Unreadable(String),
}

/// What `verify` says of a run that passes, a line each; or what is wrong.
fn report(state_dir: &Path, run_id: &str, path: &Path) -> Result<Vec<String>, Refused> {
    let lines = match journal::read_lines(path) {
        Ok((lines, _)) => lines,
        Err(e @ JournalError::Corrupt { .. }) => return Err(Refused::Tampered(e.to_string())),
        Err(e) => return Err(Refused::Unreadable(e.to_string())),
    };
    if lines.is_empty() {
        return Err(Refused::Tampered(format!(
            "{}:1: the journal holds no record",
            path.display()
        )));
    }
    journal::checked(path, &lines).map_err(|e| Refused::Tampered(e.to_string()))?;
    let log = AuditLog::of_state(state_dir);
    let audit = match audit::read_checked(&log) {
        Ok(all) => all,
        Err((_, broken)) => return Err(Refused::Tampered(broken.to_string())),
    };
    let of_run: Vec<&ReadLine> = audit
        .iter()
        .filter(|l| l.str("run_id") == Some(run_id))
        .collect();
    let unwritten = journal::agrees_with_audit(path, &lines, &of_run)
        .map_err(|b| Refused::Tampered(b.to_string()))?;
    let last = lines.last().map(|l| l.hash.as_str()).unwrap_or_default();
    let mut out = vec![format!(
        "run {run_id}: {} records, chain intact from the runbook digest {} to {last}",
        lines.len(),
        lines[0].prev
    )];
    let files = log.files().len();
    let mut said = format!(
        "audit log: {} lines of run {run_id} agree with its journal; its chain intact over {} line{} in {files} file{}",
        of_run.len(),
        audit.len(),
        if audit.len() == 1 { "" } else { "s" },
        if files == 1 { "" } else { "s" },
    );
    if let Some(seq) = unwritten {
        said.push_str(&format!(
            " (the last names record {seq}, which the journal never got: the run stopped between the two)"
        ));
    }
    out.push(said);
    Ok(out)
}

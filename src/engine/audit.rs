//! The audit log: a line for every transition that matters (a run starting, resuming, pausing or
//! ending; a gate reached and decided; a step's result; a change made), in `STATE/logs/`, one
//! file a day. Each line is written and flushed to disk before the engine acts on what it says,
//! like the journal's records: when it cannot be, the run stops there.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where a run's audit lines go.
#[derive(Clone, Debug)]
pub struct AuditLog {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the audit log {path}: {source}; stopped before acting on what it would have said"
)]
pub struct AuditError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl AuditLog {
    /// The audit log of the state folder a journal (`STATE/runs/ID/journal.jsonl`) is in.
    pub fn of_journal(journal: &Path) -> AuditLog {
        let state = journal
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        AuditLog {
            dir: state.join("logs"),
        }
    }

    /// Today's file (UTC).
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!(
            "audit-{}.log",
            chrono::Utc::now().format("%Y-%m-%d")
        ))
    }

    /// Appends one line and makes it durable. The file is opened for each line (a handful a
    /// step): a folder or file that stopped being writable is noticed at the next line.
    pub fn write(&self, line: &str) -> Result<(), AuditError> {
        let path = self.path();
        let failed = |source| AuditError {
            path: path.display().to_string(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(failed)?;
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(failed)?;
        let mut text = String::with_capacity(line.len() + 32);
        text.push_str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        text.push(' ');
        text.push_str(line);
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(failed)?;
        f.sync_data().map_err(failed)
    }
}

/// `key=value`, the value quoted when it has a space, a quote or nothing in it.
pub fn field(key: &str, value: &str) -> String {
    if value.is_empty() || value.contains([' ', '"', '=', '\n', '\t']) {
        format!("{key}={}", serde_json::to_string(value).unwrap_or_default())
    } else {
        format!("{key}={value}")
    }
}

//! The audit log: a line for every transition that matters (a run starting, resuming, pausing or
//! ending; a gate reached and decided; a step's result; a change made), in `STATE/logs/`, one
//! file a day. Each line is written and flushed to disk before the engine acts on what it says,
//! like the journal's records: when it cannot be, the run stops there.
//!
//! A line is one JSON object: `at`, `event`, `run_id`, the event's fields (typed: numbers as
//! numbers, absent rather than null), the journal record it goes with (`journal_seq`,
//! `journal_sha256`), and `prev`: the hex SHA-256 of the line before it in the file, the first
//! line of a day's file chained to the last line of the newest earlier file (64 zeros for the
//! very first). Several tollgate processes append to the same file: each holds an exclusive lock
//! on it while it reads the last line and appends its own. The schema is `docs/audit-log.md`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::text::sha256_hex;

/// What the first audit line of all chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// One audit line before it is written: its event, its run and its fields, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    event: String,
    fields: Vec<(String, Value)>,
}

impl Entry {
    /// An `event` of the run `run_id`.
    pub fn new(event: &str, run_id: &str) -> Entry {
        Entry {
            event: event.to_string(),
            fields: vec![("run_id".into(), Value::from(run_id))],
        }
    }

    /// With `key` set to `value` (a string, number, bool, or JSON).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Entry {
        self.fields.push((key.to_string(), value.into()));
        self
    }

    /// With `key` set when there is a value: absent otherwise, never null.
    pub fn maybe(self, key: &str, value: Option<impl Into<Value>>) -> Entry {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// With `key` set to `true` when `yes`: absent otherwise.
    pub fn flag(self, key: &str, yes: bool) -> Entry {
        if yes { self.with(key, true) } else { self }
    }

    /// The journal line this one goes with: its number and its hash (the journal's chain).
    pub fn journal(self, seq: u64, sha256: &str) -> Entry {
        self.with("journal_seq", seq).with("journal_sha256", sha256)
    }

    pub fn event(&self) -> &str {
        &self.event
    }

    /// The line's text, without its newline: `{"at":…,"event":…,"run_id":…,…,"prev":…}`.
    fn text(&self, at: &str, prev: &str) -> String {
        let mut text = String::with_capacity(256);
        let mut push = |key: &str, value: &Value| {
            text.push(if text.is_empty() { '{' } else { ',' });
            text.push_str(&Value::from(key).to_string());
            text.push(':');
            text.push_str(&value.to_string());
        };
        push("at", &Value::from(at));
        push("event", &Value::from(self.event.as_str()));
        for (k, v) in &self.fields {
            push(k, v);
        }
        push("prev", &Value::from(prev));
        text.push('}');
        text
    }
}

/// The name of the audit file of a UTC day.
fn file_name(day: chrono::DateTime<chrono::Utc>) -> String {
    format!("audit-{}.log", day.format("%Y-%m-%d"))
}

/// Whether `name` is an audit file's (`audit-YYYY-MM-DD.log`).
fn is_audit_file(name: &str) -> bool {
    name.len() == "audit-YYYY-MM-DD.log".len()
        && name.starts_with("audit-")
        && name.ends_with(".log")
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

    /// The audit log of a state folder.
    pub fn of_state(state_dir: &Path) -> AuditLog {
        AuditLog {
            dir: state_dir.join("logs"),
        }
    }

    /// Today's file (UTC).
    pub fn path(&self) -> PathBuf {
        self.dir.join(file_name(chrono::Utc::now()))
    }

    /// Every audit file, oldest first.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_audit_file(n))
            .collect();
        names.sort();
        names.into_iter().map(|n| self.dir.join(n)).collect()
    }

    /// Appends one line, chained to the last one, and makes it durable. The file is opened for
    /// each line (a handful a step): a folder or file that stopped being writable is noticed at
    /// the next line.
    pub fn write(&self, entry: &Entry) -> Result<(), AuditError> {
        let now = chrono::Utc::now();
        let name = file_name(now);
        let path = self.dir.join(&name);
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
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(failed)?;
        // Held until written: no other process reads the same last line and appends after it.
        let held = lock(&f, libc::LOCK_EX).map_err(failed)?;
        let (last, torn) = last_line(&mut f).map_err(failed)?;
        let prev = match last {
            Some(line) => sha256_hex(&line),
            None => self.last_before(&name).map_err(failed)?,
        };
        let mut text = String::with_capacity(300);
        // A line a crash cut short stays one line of its own (the next `prev` is its hash).
        if torn {
            text.push('\n');
        }
        text.push_str(&entry.text(
            &now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            &prev,
        ));
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(failed)?;
        let synced = f.sync_data().map_err(failed);
        drop(held);
        synced
    }

    /// The hash of the last line of the newest audit file before `name`, or [`GENESIS`].
    fn last_before(&self, name: &str) -> io::Result<String> {
        let earlier = self.files().into_iter().rev().filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n < name)
        });
        for path in earlier {
            let mut f = File::open(&path)?;
            let _held = lock(&f, libc::LOCK_SH)?;
            if let (Some(line), _) = last_line(&mut f)? {
                return Ok(sha256_hex(&line));
            }
        }
        Ok(GENESIS.to_string())
    }
}

/// A flock, released when dropped — explicitly, not by closing the file: a step's process
/// forked meanwhile holds a copy of the descriptor until it execs, and a lock left to the close
/// would outlive the engine's close and block its next line (a deadlock: the step waits for that
/// line before it runs).
struct Held(std::os::fd::RawFd);

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: flock on the descriptor locked; the file outlives this guard.
        unsafe {
            libc::flock(self.0, libc::LOCK_UN);
        }
    }
}

fn lock(f: &File, how: libc::c_int) -> io::Result<Held> {
    loop {
        // SAFETY: flock on a valid open descriptor; released by the guard returned.
        if unsafe { libc::flock(f.as_raw_fd(), how) } == 0 {
            return Ok(Held(f.as_raw_fd()));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The file's last line (without its newline), read from the end; and whether the file ends
/// without a newline (a line cut short). `None` for an empty file.
fn last_line(f: &mut File) -> io::Result<(Option<Vec<u8>>, bool)> {
    const CHUNK: u64 = 8 * 1024;
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((None, false));
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    loop {
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = vec![0; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        pos = start;
        let torn = tail.last() != Some(&b'\n');
        let body = if torn {
            &tail[..]
        } else {
            &tail[..tail.len() - 1]
        };
        if let Some(i) = body.iter().rposition(|b| *b == b'\n') {
            return Ok((Some(body[i + 1..].to_vec()), torn));
        }
        if pos == 0 {
            return Ok((Some(body.to_vec()), torn));
        }
    }
}

/// One audit line as read back: where it is, its bytes' hash, and its object (`None` when the
/// line is not a JSON object).
#[derive(Clone, Debug)]
pub struct ReadLine {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub hash: String,
    pub object: Option<serde_json::Map<String, Value>>,
}

impl ReadLine {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.object.as_ref()?.get(key)?.as_str()
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        self.object.as_ref()?.get(key)?.as_u64()
    }
}

/// A break in the audit log: where, and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Broken {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// The lines of the run `run_id` in every audit file, oldest first (lines that are not JSON
/// objects, or of other runs, left out; the chain not checked).
pub fn lines_of_run(log: &AuditLog, run_id: &str) -> io::Result<Vec<ReadLine>> {
    let mut out = Vec::new();
    for path in log.files() {
        let bytes = std::fs::read(&path)?;
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            // Cheap before parsing: most lines are of other runs.
            if line.is_empty() || !contains(line, run_id.as_bytes()) {
                continue;
            }
            let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            if object.get("run_id").and_then(Value::as_str) == Some(run_id) {
                out.push(ReadLine {
                    path: path.clone(),
                    line: i + 1,
                    hash: sha256_hex(line),
                    object: Some(object),
                });
            }
        }
    }
    Ok(out)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads every line of the audit files and checks their chain, oldest file first; stops at the
/// first break. Returns the lines read (all of them when the chain holds).
pub fn read_checked(log: &AuditLog) -> Result<Vec<ReadLine>, (Vec<ReadLine>, Broken)> {
    let mut out = Vec::new();
    let mut last = GENESIS.to_string();
    for path in log.files() {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                let broken = Broken {
                    path,
                    line: 0,
                    message: format!("cannot be read: {e}"),
                };
                return Err((out, broken));
            }
        };
        let mut rest = &bytes[..];
        let mut n = 0;
        while !rest.is_empty() {
            n += 1;
            let (line, next) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let object = serde_json::from_slice::<Value>(line)
                .ok()
                .and_then(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                });
            let read = ReadLine {
                path: path.clone(),
                line: n,
                hash: sha256_hex(line),
                object,
            };
            let fail = |message: String| Broken {
                path: path.clone(),
                line: n,
                message,
            };
            let broken = match (&read.object, read.str("prev")) {
                (None, _) => Some(fail("not an audit line (a JSON object)".into())),
                (Some(_), None) => Some(fail(
                    "it has no `prev`: the audit log's chain is missing here".into(),
                )),
                (Some(_), Some(p)) if p != last => Some(fail(if n == 1 {
                    "its `prev` is not the hash of the last line of the audit file before it (or 64 zeros for the first): a line before it was edited, removed or reordered".into()
                } else {
                    format!(
                        "its `prev` is not the hash of line {}: a line before it was edited, removed or reordered",
                        n - 1
                    )
                })),
                _ => None,
            };
            last = read.hash.clone();
            out.push(read);
            if let Some(b) = broken {
                return Err((out, b));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lock is released when the line is written, not when the file is closed: a process
    /// forked meanwhile (a step's, before it execs) holds a copy of the descriptor, and must not
    /// keep the next line waiting.
    #[test]
    fn a_process_forked_while_the_lock_is_held_does_not_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let held = lock(&f, libc::LOCK_EX).unwrap();
        // SAFETY: the child only sleeps and exits (async-signal-safe calls), as a forked step
        // does until it execs; it is killed below.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe {
                libc::sleep(30);
                libc::_exit(0);
            }
        }
        assert!(child > 0, "fork");
        drop(held);
        drop(f);
        let other = File::open(&path).unwrap();
        // SAFETY: flock on a valid descriptor, not waiting.
        let got = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        let err = std::io::Error::last_os_error();
        // SAFETY: the child forked above.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), 0);
        }
        assert_eq!(got, 0, "the lock outlived its line: {err}");
    }

    #[test]
    fn a_line_is_typed_json_in_order_with_absent_fields_left_out() {
        let e = Entry::new("step_finished", "r1")
            .with("step", "build")
            .with("exit_code", 3)
            .maybe("error", None::<String>)
            .flag("destructive", false)
            .journal(7, "ab");
        let text = e.text("2026-01-01T00:00:00.000Z", GENESIS);
        assert_eq!(
            text,
            format!(
                r#"{{"at":"2026-01-01T00:00:00.000Z","event":"step_finished","run_id":"r1","step":"build","exit_code":3,"journal_seq":7,"journal_sha256":"ab","prev":"{GENESIS}"}}"#
            )
        );
    }

    #[test]
    fn the_last_line_is_found_across_chunks_and_a_torn_one_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let long = "x".repeat(200_000);
        std::fs::write(&p, format!("a\n{long}\n")).unwrap();
        let (line, torn) = last_line(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!((line.unwrap().len(), torn), (200_000, false));
        std::fs::write(&p, "a\nbc").unwrap();
        let (line, torn) = last_line(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!((line.unwrap(), torn), (b"bc".to_vec(), true));
    }

    #[test]
    fn lines_chain_within_a_file_and_from_the_newest_earlier_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::of_state(dir.path());
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let old = r#"{"at":"2020-01-01T00:00:00.000Z","event":"run_finished","run_id":"x","status":"failed","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
        std::fs::write(
            dir.path().join("logs/audit-2020-01-01.log"),
            format!("{old}\n"),
        )
        .unwrap();
        log.write(&Entry::new("run_paused", "r").with("reason", "x"))
            .unwrap();
        log.write(&Entry::new("run_finished", "r").with("status", "failed"))
            .unwrap();
        let lines = read_checked(&log).expect("chain holds");
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1].str("prev"),
            Some(sha256_hex(old.as_bytes()).as_str())
        );
        assert_eq!(lines[2].str("prev"), Some(lines[1].hash.as_str()));
    }
}

//! A run's journal as the report reads it: every complete line, checked as the engine checks a
//! journal before it resumes one ([`journal::checked`]). Records of a newer tollgate (kinds this
//! one does not know) are kept aside rather than refused: the lines around them are still checked
//! (sequence numbers and times over all lines; the rules between records over the ones known).

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::engine::journal::{self, JournalError, Line, Record};
use crate::protocol::GateKind;

/// One journal line.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its line number in the file, from 1.
    pub line: usize,
    pub seq: u64,
    pub at: String,
    /// The `event` field.
    pub event: String,
    /// The record, when this version of tollgate knows its kind.
    pub record: Option<Record>,
    /// The pairing records, read here whether or not [`Record`] knows them yet.
    pub ext: Option<Ext>,
    /// `ext` was read (or the kind is one the report reads on its own).
    pub ext_known: bool,
    /// The hash chain: the line's `prev`, and the SHA-256 of its bytes.
    pub prev: String,
    pub hash: String,
}

/// Records of the pairing feature, read from their JSON.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Ext {
    /// Someone took the keys.
    DriverChanged { who: String },
    /// Who followed the run then.
    Watching {
        #[serde(default)]
        names: Vec<String>,
    },
    /// An approval that did not yet pass a two-person gate.
    GateApproved {
        gate: String,
        kind: GateKind,
        who: String,
        #[serde(default)]
        via: String,
        have: u32,
        need: u32,
    },
}

#[derive(Deserialize)]
struct Head {
    seq: u64,
    at: String,
    event: String,
}

fn corrupt(path: &Path, line: usize, message: String) -> JournalError {
    JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// The journal at `path`, read and checked.
pub fn read_checked(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let file = std::fs::File::open(path).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| JournalError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if read == 0 || buf.last() != Some(&b'\n') {
            // The end, or a line torn by a crash mid-write: never acted on.
            break;
        }
        n += 1;
        let value: serde_json::Value =
            serde_json::from_slice(&buf).map_err(|e| corrupt(path, n, e.to_string()))?;
        let head: Head =
            serde_json::from_value(value.clone()).map_err(|e| corrupt(path, n, e.to_string()))?;
        let ext = serde_json::from_value::<Ext>(value.clone()).ok();
        let prev = value
            .get("prev")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string();
        let hash = crate::text::sha256_hex(&buf[..buf.len() - 1]);
        let record = match serde_json::from_value::<Line>(value) {
            Ok(l) => Some(l.record),
            Err(e) if e.to_string().starts_with("unknown variant") => None,
            Err(e) => return Err(corrupt(path, n, e.to_string())),
        };
        entries.push(Entry {
            prev,
            hash,
            line: n,
            seq: head.seq,
            at: head.at,
            event: head.event,
            ext_known: ext.is_some(),
            record,
            ext,
        });
    }
    check(path, &entries)?;
    Ok(entries)
}

/// [`journal::check`] over the lines; where some are of kinds this tollgate does not know, the
/// sequence and the times over all of them and the rest over the known ones.
fn check(path: &Path, entries: &[Entry]) -> Result<(), JournalError> {
    let known: Vec<(usize, Line)> = entries
        .iter()
        .filter_map(|e| {
            e.record.clone().map(|record| {
                (
                    e.line,
                    Line {
                        seq: e.seq,
                        at: e.at.clone(),
                        record,
                        prev: e.prev.clone(),
                        hash: e.hash.clone(),
                    },
                )
            })
        })
        .collect();
    if known.len() == entries.len() {
        let lines: Vec<Line> = known.into_iter().map(|(_, l)| l).collect();
        return journal::checked(path, &lines);
    }
    let invalid = |line: usize, message: String| JournalError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut prev: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    for (i, e) in entries.iter().enumerate() {
        let due = i as u64 + 1;
        if e.seq != due {
            return Err(invalid(
                e.line,
                format!("sequence number {} where {due} was due", e.seq),
            ));
        }
        let t = chrono::DateTime::parse_from_rfc3339(&e.at)
            .map_err(|_| invalid(e.line, format!("time `{}` is not RFC 3339", e.at)))?;
        if prev.is_some_and(|p| t < p) {
            return Err(invalid(
                e.line,
                format!("time {} is before the previous record", e.at),
            ));
        }
        prev = Some(t);
    }
    // The hash chain over every line, known or not: each `prev` is the hash of the line before;
    // the first's is the runbook digest its `run_started` starts the chain with.
    for (i, e) in entries.iter().enumerate() {
        let due = match i {
            0 => known
                .first()
                .filter(|(line, _)| *line == e.line)
                .map(|(_, l)| journal::chain_start(&l.record)),
            _ => Some(entries[i - 1].hash.clone()),
        };
        if e.prev.is_empty() || due.as_deref() != Some(e.prev.as_str()) {
            return Err(invalid(
                e.line,
                "its `prev` does not chain to the line before it: a record before it was edited, removed or reordered".into(),
            ));
        }
    }
    // The rules between records, over the known ones numbered as if alone.
    let renumbered: Vec<Line> = known
        .iter()
        .enumerate()
        .map(|(i, (_, l))| Line {
            seq: i as u64 + 1,
            ..l.clone()
        })
        .collect();
    journal::check_rules(&renumbered).map_err(|(i, message)| {
        let line = known.get(i.saturating_sub(1)).map_or(i, |k| k.0);
        invalid(line, message)
    })
}

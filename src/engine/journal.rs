//! The journal: an append-only JSON-lines file per run, fsync'ed at every state transition.
//!
//! `replay` rebuilds what a run had done from it. A line cut short by a crash (no newline at the
//! end) is ignored and trimmed away before the run is resumed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::audit::{Broken, ReadLine};
use crate::protocol::{Choice, GateKind, OutputLine, RunStatus, StepStatus};

/// The time a record was written, as the journal writes it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    RunStarted {
        run_id: String,
        runbook: String,
        runbook_name: String,
        digest: String,
        /// Non-secret variables as resolved at start; secrets are never written.
        vars: BTreeMap<String, String>,
        who: String,
        /// A rehearsal against stand-ins (absent, false, in older journals and real runs).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rehearsal: bool,
        /// The runbook's `deadline` in seconds, counted from this record's time (absent when it
        /// declares none). A resume keeps it, and the start it counts from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline_secs: Option<u64>,
        /// The failed run this one follows (`on_failure: {runbook: NAME}` followed): what its
        /// `kube.revert {run: "{{ from_run }}"}` puts back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_run: Option<String>,
        /// The targets carried over from that run, in place of the runbook's own: a resume
        /// keeps them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        carried: Option<Carried>,
    },
    RunResumed {
        who: String,
        digest: String,
    },
    PhaseStarted {
        phase: String,
    },
    PhaseFinished {
        phase: String,
        status: StepStatus,
    },
    GateReached {
        gate: String,
        kind: GateKind,
    },
    GateDecided {
        gate: String,
        kind: GateKind,
        choice: Choice,
        who: String,
        via: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// The gate needed its confirmation word.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        destructive: bool,
        /// Each checklist item of the gate, and whether the person confirmed it (how: `via`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checklist: Vec<ConfirmedItem>,
    },
    /// One approval of a gate that needs several distinct people, short of the last: the gate
    /// stays open. The one that completes it is the gate's `gate_decided`.
    GateApproved {
        gate: String,
        kind: GateKind,
        who: String,
        via: String,
        /// How many distinct people have approved, with this one, and how many must.
        have: u32,
        need: u32,
    },
    StepStarted {
        step: String,
        attempt: u32,
        /// How many attempts this session's run of the step may make (absent in older journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<u32>,
        /// The step's action as shown when it started: variables filled, secrets masked
        /// (absent in older journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// A failed step's last lines of output, masked as they were shown.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        last: Vec<OutputLine>,
    },
    /// A process a step started, journaled before it runs: its group, pid and start time (clock
    /// ticks since boot, on boot `boot_id`), so a resumed run can tell whether it still runs.
    StepProcess {
        step: String,
        pgid: i32,
        pid: i32,
        start_ticks: u64,
        boot_id: String,
    },
    /// What a step changed in the world (e.g. the replica count a scale replaced), for undo.
    Changed {
        step: String,
        change: serde_json::Value,
    },
    VarCaptured {
        name: String,
        /// Absent for secrets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        secret: bool,
    },
    /// A step failed attempt `next_attempt - 1` of `attempts` and waits `delay_ms` before the
    /// next: a crash during the wait resumes with that attempt, not as a final failure.
    RetryScheduled {
        step: String,
        next_attempt: u32,
        attempts: u32,
        delay_ms: u64,
    },
    RunPaused {
        reason: String,
    },
    RunFinished {
        status: RunStatus,
    },
    /// The run `run` of the runbook `runbook` (its `links` name) was started after this run
    /// failed, to follow its `on_failure: {runbook: …}`. Written after `run_finished`.
    FollowedBy {
        run: String,
        runbook: String,
    },
    /// What a rehearsal did at a step (or to the run): skipped in rehearsal, a fault injected.
    Rehearsal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        what: String,
    },
    /// `who` is at the keys from now on: a follower the driver handed them to, or the driver
    /// again. Decisions after it are that person's.
    DriverChanged {
        who: String,
    },
    /// Who followed the run from other terminals from here on (`name@host`, empty when no one).
    Watching {
        names: Vec<String>,
    },
}

impl Record {
    /// Records that may come between any two others (a gate's `gate_reached` and its decision
    /// among them): who is at the keys, who is watching.
    pub fn aside(&self) -> bool {
        matches!(self, Record::DriverChanged { .. } | Record::Watching { .. })
    }
}

impl Record {
    /// Whether the audit log has a line for this record (naming it by its `journal_seq` and
    /// `journal_sha256`): every record but a phase or step starting, a phase finishing and a
    /// value captured.
    pub fn is_audited(&self) -> bool {
        match self {
            Record::RunStarted { .. }
            | Record::RunResumed { .. }
            | Record::GateReached { .. }
            | Record::GateDecided { .. }
            | Record::GateApproved { .. }
            | Record::DriverChanged { .. }
            | Record::Watching { .. }
            | Record::StepFinished { .. }
            | Record::StepProcess { .. }
            | Record::Changed { .. }
            | Record::RetryScheduled { .. }
            | Record::RunPaused { .. }
            | Record::RunFinished { .. }
            | Record::FollowedBy { .. }
            | Record::Rehearsal { .. } => true,
            Record::PhaseStarted { .. }
            | Record::PhaseFinished { .. }
            | Record::StepStarted { .. }
            | Record::VarCaptured { .. } => false,
        }
    }

    /// The record's `event` word, as the journal and the audit log write it.
    pub fn event(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event")?.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// The targets a followed runbook is carried to from the run it follows, where it declares the
/// same kind of target: that run's kube context and namespace, its AWS account and region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Carried {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
}

impl Carried {
    /// The targets of `from` carried to `to`, only where `to` declares that kind of target (a
    /// followed runbook never reaches more than it declares); `None` when nothing is carried.
    pub fn between(
        from: &crate::runbook::Targets,
        context: Option<&str>,
        to: &crate::runbook::Targets,
    ) -> Option<Carried> {
        let mut c = Carried::default();
        if let (Some(f), Some(_)) = (&from.kube, &to.kube) {
            let ctx = context.unwrap_or(&f.context);
            c.kube_context = (!ctx.is_empty()).then(|| ctx.to_string());
            c.kube_namespace = f.namespace.clone();
        }
        if let (Some(f), Some(_)) = (&from.aws, &to.aws) {
            c.aws_account = (!f.account.is_empty()).then(|| f.account.clone());
            c.aws_region = (!f.region.is_empty()).then(|| f.region.clone());
        }
        (c != Carried::default()).then_some(c)
    }

    /// Puts the carried targets in place of `to`'s own (kinds it does not declare stay absent).
    pub fn apply(&self, to: &mut crate::runbook::Targets) {
        if let Some(k) = to.kube.as_mut() {
            if let Some(c) = &self.kube_context {
                k.context = c.clone();
            }
            if self.kube_namespace.is_some() {
                k.namespace = self.kube_namespace.clone();
            }
        }
        if let Some(a) = to.aws.as_mut() {
            if let Some(x) = &self.aws_account {
                a.account = x.clone();
            }
            if let Some(x) = &self.aws_region {
                a.region = x.clone();
            }
        }
    }

    /// `kube CONTEXT ns NAMESPACE · aws ACCOUNT REGION`, for the note that says what was carried.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.kube_context {
            parts.push(format!(
                "kube {c} ns {}",
                self.kube_namespace.as_deref().unwrap_or("default")
            ));
        }
        if let (Some(a), Some(r)) = (&self.aws_account, &self.aws_region) {
            parts.push(format!("aws {a} {r}"));
        }
        parts.join(" · ")
    }
}

/// A checklist item as a decision left it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfirmedItem {
    pub item: String,
    pub confirmed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub record: Record,
    /// The hash chain: the lowercase hex SHA-256 of the previous line's exact bytes (without its
    /// newline); the first line's is the runbook digest of its `run_started`. Empty when the
    /// line has none (a journal no tollgate with the chain wrote, or one stripped of it).
    #[serde(default)]
    pub prev: String,
    /// The lowercase hex SHA-256 of this line's bytes as read from the file (never written: the
    /// next line's `prev` says it). Empty for a line not read from a file.
    #[serde(skip)]
    pub hash: String,
}

pub use crate::text::sha256_hex;

/// What the first line of a journal chains to: the runbook digest of its `run_started` (64 zeros
/// when the first record is not one, which [`check`] refuses).
pub fn chain_start(record: &Record) -> String {
    match record {
        Record::RunStarted { digest, .. } => digest.clone(),
        _ => "0".repeat(64),
    }
}

/// A journal line as written: its text (without the newline), its sequence number and its hash.
#[derive(Clone, Debug)]
pub struct Written {
    pub seq: u64,
    pub hash: String,
    text: String,
}

/// Writes records, one line and one fsync each, holding an exclusive lock on the file.
pub struct Journal {
    file: File,
    path: PathBuf,
    seq: u64,
    /// The hash of the last line written or read: the next line's `prev` (`None` when empty).
    last: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("run {0} is being run by another tollgate process")]
    Locked(String),
    #[error("{}:{line}: journal line is not valid: {message}", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("no run `{0}` in {1}")]
    NotFound(String, String),
    /// Every line parses, but together they are not a journal tollgate wrote (see [`check`]).
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Opens (creating if needed) a run's journal for appending, after trimming a torn last line.
    pub fn open(path: &Path, run_id: &str) -> Result<(Journal, Vec<Line>), JournalError> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(io_err(path))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err(path))?;
        // SAFETY: flock on a valid open descriptor; released when the file is closed or the
        // process dies, so a crash never leaves a run locked.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(JournalError::Locked(run_id.to_string()));
        }
        let (lines, good_len) = read_lines(path)?;
        let len = file.metadata().map_err(io_err(path))?.len();
        if good_len < len {
            file.set_len(good_len).map_err(io_err(path))?;
        }
        let seq = lines.last().map_or(0, |l| l.seq);
        let last = lines.last().map(|l| l.hash.clone());
        Ok((
            Journal {
                file,
                path: path.to_path_buf(),
                seq,
                last,
            },
            lines,
        ))
    }

    /// Writes a record and fsyncs the file (which makes earlier unsynced records durable too).
    pub fn append(&mut self, record: Record) -> Result<Written, JournalError> {
        let line = self.prepare(record);
        self.write(&line)?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        Ok(line)
    }

    /// Writes a record; it becomes durable with the next [`Journal::append`].
    pub fn append_unsynced(&mut self, record: Record) -> Result<Written, JournalError> {
        let line = self.prepare(record);
        self.write(&line)?;
        Ok(line)
    }

    /// The line `record` would be written as next, chained to the last one: its number and hash
    /// are known (for the audit line that names it) before anything is written.
    pub fn prepare(&self, record: Record) -> Written {
        let prev = self.last.clone().unwrap_or_else(|| chain_start(&record));
        let line = Line {
            seq: self.seq + 1,
            at: now_rfc3339(),
            record,
            prev,
            hash: String::new(),
        };
        let text = serde_json::to_string(&line).unwrap_or_default();
        Written {
            seq: line.seq,
            hash: sha256_hex(text.as_bytes()),
            text,
        }
    }

    /// Writes a line [`Journal::prepare`] made, unsynced; the one prepared last, or the chain
    /// breaks (which [`check`] then refuses).
    pub fn write(&mut self, line: &Written) -> Result<(), JournalError> {
        let mut text = Vec::with_capacity(line.text.len() + 1);
        text.extend_from_slice(line.text.as_bytes());
        text.push(b'\n');
        // One write per line: a crash leaves at worst one torn line at the end, which
        // `read_lines` ignores.
        self.file.write_all(&text).map_err(io_err(&self.path))?;
        self.seq = line.seq;
        self.last = Some(line.hash.clone());
        Ok(())
    }

    /// Makes every line written so far durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io_err(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates `dir` and its missing parents readable by their owner only (0700), whatever the umask:
/// another local user must not read a run's records, nor forge them.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `text` to `path`, readable and writable by its owner only (0600), whatever the umask.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // A file left by an earlier version keeps its mode when opened: set it.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}

/// Reads every complete line; returns them and the byte length they cover.
pub fn read_lines(path: &Path) -> Result<(Vec<Line>, u64), JournalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut good = 0u64;
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if read == 0 {
            break;
        }
        n += 1;
        if buf.last() != Some(&b'\n') {
            // Torn by a crash mid-write: never acted on.
            break;
        }
        match serde_json::from_slice::<Line>(&buf) {
            Ok(mut line) => {
                line.hash = sha256_hex(&buf[..buf.len() - 1]);
                lines.push(line)
            }
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: n,
                    message: e.to_string(),
                });
            }
        }
        good += read as u64;
    }
    Ok((lines, good))
}

/// What a run had done, rebuilt from its journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    pub run_id: String,
    pub runbook: String,
    pub runbook_name: String,
    pub digest: String,
    pub vars: BTreeMap<String, String>,
    /// The run was a rehearsal against stand-ins (`run_started`'s `rehearsal`).
    pub rehearsal: bool,
    /// The deadline journaled at the run's start, in seconds (`run_started`'s `deadline_secs`).
    pub deadline_secs: Option<u64>,
    pub secret_captures: Vec<String>,
    pub steps: BTreeMap<String, StepStatus>,
    pub phases: BTreeMap<String, StepStatus>,
    /// Gates approved and not yet acted on twice: a gate approved before a crash stays approved.
    pub approved: BTreeMap<String, Choice>,
    pub status: Option<RunStatus>,
    pub started_at: String,
    pub last_at: String,
    pub paused: Option<String>,
    pub attempts: BTreeMap<String, u32>,
    /// The processes each step's last attempt started.
    pub processes: BTreeMap<String, Vec<crate::exec::procs::ProcStart>>,
    /// What each step changed, oldest first.
    pub changes: BTreeMap<String, Vec<serde_json::Value>>,
    /// Steps that failed an attempt and were waiting to try again when the run stopped.
    pub retries: BTreeMap<String, PendingRetry>,
    /// The line that set `digest` (the run's start, or the resume that accepted a change).
    pub digest_line: usize,
    /// Why each step last failed, as journaled (secrets masked), when it did.
    pub errors: BTreeMap<String, String>,
    /// Every record, in order: what the views are shown of the run's earlier sessions.
    pub past: Vec<Line>,
    /// The failed run this one follows (`run_started`'s `from_run`).
    pub from_run: Option<String>,
    /// The targets carried over from it (`run_started`'s `carried`).
    pub carried: Option<Carried>,
    /// The runs that followed this one after it failed, oldest first: (run, runbook's link name).
    pub followed_by: Vec<(String, String)>,
}

impl Replay {
    /// Refuses to resume with a runbook whose digest is not the one this run last ran with,
    /// unless the change was accepted.
    pub fn same_runbook(
        &self,
        journal: &Path,
        runbook: &Path,
        digest: &str,
        accepted: bool,
    ) -> Result<(), JournalError> {
        if digest == self.digest || accepted {
            return Ok(());
        }
        Err(JournalError::Invalid {
            path: journal.to_path_buf(),
            line: self.digest_line,
            message: format!(
                "{} changed since this run last ran it (digest {}, now {digest}); resume with --accept-changed-runbook to go on with it",
                runbook.display(),
                self.digest
            ),
        })
    }
}

/// A retry that was scheduled and had not started when the run stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PendingRetry {
    /// The attempt to make next, of `attempts`, counted as the step's runbook counts them.
    pub next_attempt: u32,
    pub attempts: u32,
    pub delay_ms: u64,
    /// When it was scheduled (RFC 3339).
    pub at: String,
}

impl Replay {
    pub fn from_lines(lines: &[Line]) -> Replay {
        let mut r = Replay::default();
        for (n, line) in lines.iter().enumerate() {
            if r.started_at.is_empty() {
                r.started_at = line.at.clone();
            }
            r.last_at = line.at.clone();
            match &line.record {
                Record::RunStarted {
                    run_id,
                    runbook,
                    runbook_name,
                    digest,
                    vars,
                    rehearsal,
                    deadline_secs,
                    from_run,
                    carried,
                    ..
                } => {
                    r.from_run = from_run.clone();
                    r.carried = carried.clone();
                    r.rehearsal = *rehearsal;
                    r.deadline_secs = *deadline_secs;
                    r.run_id = run_id.clone();
                    r.runbook = runbook.clone();
                    r.runbook_name = runbook_name.clone();
                    r.digest = digest.clone();
                    r.digest_line = n + 1;
                    r.vars = vars.clone();
                }
                Record::RunResumed { digest, .. } => {
                    r.status = None;
                    r.paused = None;
                    if *digest != r.digest {
                        r.digest = digest.clone();
                        r.digest_line = n + 1;
                    }
                }
                Record::PhaseStarted { phase } => {
                    r.phases.insert(phase.clone(), StepStatus::Running);
                }
                Record::PhaseFinished { phase, status } => {
                    r.phases.insert(phase.clone(), *status);
                }
                // An approval short of a gate's last is not kept across sessions: a resumed
                // run asks again.
                Record::GateReached { .. } | Record::GateApproved { .. } => {}
                Record::GateDecided {
                    gate, choice, kind, ..
                } => {
                    if matches!(kind, GateKind::Phase | GateKind::Step) {
                        r.approved.insert(gate.clone(), *choice);
                    }
                }
                Record::StepStarted { step, attempt, .. } => {
                    r.retries.remove(step);
                    r.steps.insert(step.clone(), StepStatus::Running);
                    r.attempts.insert(step.clone(), *attempt);
                    r.processes.remove(step);
                }
                Record::StepProcess {
                    step,
                    pgid,
                    pid,
                    start_ticks,
                    boot_id,
                } => r.processes.entry(step.clone()).or_default().push(
                    crate::exec::procs::ProcStart {
                        pgid: *pgid,
                        pid: *pid,
                        start_ticks: *start_ticks,
                        boot_id: boot_id.clone(),
                    },
                ),
                Record::StepFinished {
                    step,
                    status,
                    error,
                    ..
                } => {
                    r.steps.insert(step.clone(), *status);
                    match error {
                        Some(e) if *status == StepStatus::Failed => {
                            r.errors.insert(step.clone(), e.clone())
                        }
                        _ => r.errors.remove(step),
                    };
                }
                Record::VarCaptured {
                    name,
                    value,
                    secret,
                } => match (value, secret) {
                    (Some(v), false) => {
                        r.vars.insert(name.clone(), v.clone());
                    }
                    _ => r.secret_captures.push(name.clone()),
                },
                Record::Changed { step, change } => {
                    r.changes
                        .entry(step.clone())
                        .or_default()
                        .push(change.clone());
                }
                Record::RetryScheduled {
                    step,
                    next_attempt,
                    attempts,
                    delay_ms,
                } => {
                    r.retries.insert(
                        step.clone(),
                        PendingRetry {
                            next_attempt: *next_attempt,
                            attempts: *attempts,
                            delay_ms: *delay_ms,
                            at: line.at.clone(),
                        },
                    );
                }
                // A session that ended on purpose (an abort while waiting) gave up its retries:
                // only a crash leaves one pending.
                Record::RunPaused { reason } => {
                    r.paused = Some(reason.clone());
                    r.retries.clear();
                }
                Record::RunFinished { status } => {
                    r.status = Some(*status);
                    r.retries.clear();
                }
                Record::FollowedBy { run, runbook } => {
                    r.followed_by.push((run.clone(), runbook.clone()))
                }
                Record::Rehearsal { .. }
                | Record::DriverChanged { .. }
                | Record::Watching { .. } => {}
            }
        }
        r.past = lines.to_vec();
        // A step that started and never finished was running when the process died.
        for status in r.steps.values_mut().chain(r.phases.values_mut()) {
            if *status == StepStatus::Running {
                *status = StepStatus::Interrupted;
            }
        }
        r
    }
}

/// Checks that `lines` are a journal tollgate could have written, before anything acts on them:
/// the first record starts the run and no other does; sequence numbers run 1, 2, 3, … with no gap;
/// times never go backwards; a decision is the record right after its own gate's `gate_reached`
/// (except a skip chosen before the run, `--skip`, followed at once by that phase or step
/// finished as skipped, and an accepted change of runbook, followed at once by the resume that
/// uses it); a resume with another runbook digest comes right after that change was accepted;
/// a retry is scheduled right after its step failed. Returns the 1-based line and what is wrong.
///
/// Before all that, the hash chain ([`check_chain`]): a record edited, removed, reordered or
/// added by hand breaks it, and a journal without one is refused as well.
pub fn check(lines: &[Line]) -> Result<(), (usize, String)> {
    check_chain(lines)?;
    check_rules(lines)
}

/// [`check`] without the hash chain: the rules between records alone (for a reader that checked
/// the chain over lines it cannot all decode, as a report of a newer journal does).
pub fn check_rules(lines: &[Line]) -> Result<(), (usize, String)> {
    let mut prev_at: Option<chrono::DateTime<chrono::FixedOffset>> = None;
    let mut digest = "";
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        let fail = |m: String| Err((n, m));
        if line.seq != n as u64 {
            return fail(format!(
                "sequence number {} where {n} was due (records missing, added or reordered)",
                line.seq
            ));
        }
        let at = match chrono::DateTime::parse_from_rfc3339(&line.at) {
            Ok(at) => at,
            Err(e) => return fail(format!("time `{}` is not an RFC 3339 time: {e}", line.at)),
        };
        if let Some(p) = prev_at
            && at < p
        {
            return fail(format!(
                "time {} is before the previous record's {}",
                line.at,
                p.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ));
        }
        prev_at = Some(at);
        // Who drives and who watches may change anywhere (while a gate is open too): the records
        // around one are the nearest others.
        let prev = lines[..i]
            .iter()
            .rev()
            .map(|l| &l.record)
            .find(|r| !r.aside());
        let next = lines[i + 1..]
            .iter()
            .map(|l| &l.record)
            .find(|r| !r.aside());
        match (&line.record, i) {
            (Record::RunStarted { digest: d, .. }, 0) => digest = d,
            (Record::RunStarted { .. }, _) => return fail("a second `run_started`".into()),
            (_, 0) => return fail("the first record is not `run_started`".into()),
            (Record::RunResumed { digest: d, .. }, _) => {
                if d != digest
                    && !matches!(prev, Some(Record::GateDecided { kind: GateKind::RunbookChanged, choice: Choice::Approve, gate, .. }) if gate == d)
                {
                    return fail(format!(
                        "resumed with runbook digest {d} (was {digest}) and no accepted change before it"
                    ));
                }
                digest = d;
            }
            (
                Record::GateDecided {
                    gate, kind, choice, ..
                },
                _,
            ) => {
                let reached = matches!(prev, Some(Record::GateReached { gate: g, kind: k } | Record::GateApproved { gate: g, kind: k, .. }) if g == gate && k == kind);
                let skipped_before = *choice == Choice::Skip
                    && matches!(kind, GateKind::Phase | GateKind::Step)
                    && match next {
                        None => true,
                        Some(Record::PhaseFinished { phase, status }) => {
                            *kind == GateKind::Phase
                                && phase == gate
                                && *status == StepStatus::Skipped
                        }
                        Some(Record::StepFinished { step, status, .. }) => {
                            *kind == GateKind::Step
                                && step == gate
                                && *status == StepStatus::Skipped
                        }
                        Some(_) => false,
                    };
                let change_accepted = *kind == GateKind::RunbookChanged
                    && *choice == Choice::Approve
                    && match next {
                        None => true,
                        Some(Record::RunResumed { digest: d, .. }) => d == gate,
                        Some(_) => false,
                    };
                if !(reached || skipped_before || change_accepted) {
                    return fail(format!(
                        "decision `{}` for gate `{gate}`, which was not open (the record before it is not its `gate_reached`)",
                        choice.word()
                    ));
                }
            }
            (Record::GateApproved { gate, kind, .. }, _) if !matches!(prev, Some(Record::GateReached { gate: g, kind: k } | Record::GateApproved { gate: g, kind: k, .. }) if g == gate && k == kind) =>
            {
                return fail(format!(
                    "approval for gate `{gate}`, which was not open (the record before it is not its `gate_reached`)"
                ));
            }
            (Record::FollowedBy { run, .. }, _)
                if !matches!(
                    prev,
                    Some(
                        Record::RunFinished {
                            status: RunStatus::Failed | RunStatus::RolledBack
                        } | Record::FollowedBy { .. }
                    )
                ) =>
            {
                return fail(format!(
                    "run {run} follows this one, but the record before it is not this run failing (`run_finished`)"
                ));
            }
            (Record::RetryScheduled { step, .. }, _) if !matches!(prev, Some(Record::StepFinished { step: s, status: StepStatus::Failed, .. }) if s == step) =>
            {
                return fail(format!(
                    "retry of step `{step}` scheduled, but the record before it is not that step failing"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the journal's hash chain: each line's `prev` is the hash of the line before it as read
/// ([`Line::hash`]), the first line's the runbook digest of its `run_started`. Returns the first
/// line where it breaks (1-based) and how.
pub fn check_chain(lines: &[Line]) -> Result<(), (usize, String)> {
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.prev.is_empty() {
            return Err((
                n,
                "it has no `prev`: the journal carries no hash chain (written by a tollgate before it chained its journals, or stripped of it)".into(),
            ));
        }
        if i == 0 {
            if !matches!(line.record, Record::RunStarted { .. }) {
                return Err((
                    n,
                    "the first record is not `run_started`: the run's first record was removed or replaced".into(),
                ));
            }
            let start = chain_start(&line.record);
            if line.prev != start {
                return Err((
                    n,
                    format!(
                        "its `prev` is not the runbook digest of its `run_started` ({start}): the record was edited"
                    ),
                ));
            }
        } else if line.prev != lines[i - 1].hash {
            return Err((
                n,
                format!(
                    "its `prev` is not the hash of line {i}: a record before it was edited, removed or reordered"
                ),
            ));
        }
    }
    Ok(())
}

/// Chains lines made in memory as a journal would write them: each one's `prev` and `hash` set
/// (for tests and tools that build a journal by hand; a real journal is chained as it is written).
pub fn chain(lines: &mut [Line]) {
    let mut last: Option<String> = None;
    for line in lines {
        line.prev = last.take().unwrap_or_else(|| chain_start(&line.record));
        let text = serde_json::to_string(&*line).unwrap_or_default();
        line.hash = sha256_hex(text.as_bytes());
        last = Some(line.hash.clone());
    }
}

/// A run's journal (checked) and its audit lines against each other. For each journal line a run's audit
/// lines name, the last of them that does holds its hash (an earlier one is a line audited when a
/// run stopped before journaling it, and the record was made again after a resume); every record
/// the engine audits has its line. Returns the record the audit log names past the journal's end,
/// if one (the run stopped between the audit line and the journal line).
pub fn agrees_with_audit(
    path: &Path,
    lines: &[Line],
    audit: &[&ReadLine],
) -> Result<Option<u64>, Broken> {
    let mut named: BTreeMap<u64, &ReadLine> = BTreeMap::new();
    for l in audit {
        let (Some(seq), Some(_)) = (l.u64("journal_seq"), l.str("journal_sha256")) else {
            return Err(Broken {
                path: l.path.clone(),
                line: l.line,
                message: "an audit line of this run names no journal record (`journal_seq`, `journal_sha256`)".into(),
            });
        };
        named.insert(seq, l);
    }
    let mut unwritten = None;
    for (&seq, l) in &named {
        let said = l.str("journal_sha256").unwrap_or_default();
        match lines
            .get(seq.saturating_sub(1) as usize)
            .filter(|_| seq > 0)
        {
            Some(j) if j.hash == said => {
                if l.str("event") != Some(j.record.event().as_str()) {
                    return Err(Broken {
                        path: l.path.clone(),
                        line: l.line,
                        message: format!(
                            "says `{}` for journal line {seq}, which is `{}`",
                            l.str("event").unwrap_or_default(),
                            j.record.event()
                        ),
                    });
                }
            }
            Some(_) => {
                return Err(Broken {
                    path: path.to_path_buf(),
                    line: seq as usize,
                    message: format!(
                        "the journal line does not agree with the audit log ({}:{} holds another hash for it): the record was edited after it was audited",
                        l.path.display(),
                        l.line
                    ),
                });
            }
            None if seq == lines.len() as u64 + 1 => unwritten = Some(seq),
            None => {
                return Err(Broken {
                    path: l.path.clone(),
                    line: l.line,
                    message: format!(
                        "names journal line {seq}, which the journal does not have: records were removed from its end"
                    ),
                });
            }
        }
    }
    for (i, j) in lines.iter().enumerate() {
        if j.record.is_audited() && !named.contains_key(&j.seq) {
            return Err(Broken {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!(
                    "the audit log has no line for this `{}`: it was added by hand, or its audit line was removed",
                    j.record.event()
                ),
            });
        }
    }
    Ok(unwritten)
}

/// [`agrees_with_audit`] for a run's journal `path` and the audit log of its state folder (the
/// run's lines only, their chain unchecked: `verify` checks that), as a [`JournalError::Invalid`].
pub fn audited(path: &Path, run_id: &str, lines: &[Line]) -> Result<(), JournalError> {
    let log = super::audit::AuditLog::of_journal(path);
    let of_run = super::audit::lines_of_run(&log, run_id).map_err(io_err(path))?;
    let refs: Vec<&ReadLine> = of_run.iter().collect();
    agrees_with_audit(path, lines, &refs)
        .map(|_| ())
        .map_err(|b| JournalError::Invalid {
            path: b.path,
            line: b.line,
            message: b.message,
        })
}

/// Journals, in the failed run's journal at `path`, that run `next` of the runbook linked as
/// `runbook` follows it: after its `run_finished`, checked first; the audit log says it too.
/// Refused when the journal is not one tollgate wrote or the run did not end failed.
pub fn record_followed(
    path: &Path,
    run_id: &str,
    next: &str,
    runbook: &str,
) -> Result<(), JournalError> {
    let (mut journal, lines) = Journal::open(path, run_id)?;
    checked(path, &lines)?;
    let ended = matches!(
        lines.last().map(|l| &l.record),
        Some(
            Record::RunFinished {
                status: RunStatus::Failed | RunStatus::RolledBack
            } | Record::FollowedBy { .. }
        )
    );
    if !ended {
        return Err(JournalError::Invalid {
            path: path.to_path_buf(),
            line: lines.len(),
            message: format!("run {run_id} did not end failed: no runbook follows it"),
        });
    }
    let line = journal.prepare(Record::FollowedBy {
        run: next.to_string(),
        runbook: runbook.to_string(),
    });
    // Audited first, as every transition is: nothing is journaled that the audit log misses.
    let audit = super::audit::AuditLog::of_journal(path);
    audit
        .write(
            &super::audit::Entry::new("followed_by", run_id)
                .with("run", next)
                .with("runbook", runbook)
                .journal(line.seq, &line.hash),
        )
        .map_err(|e| JournalError::Io {
            path: PathBuf::from(&e.path),
            source: e.source,
        })?;
    journal.write(&line)?;
    journal.sync()?;
    Ok(())
}

/// A run's journal read, checked ([`check`]) and replayed.
pub fn read_replay(path: &Path) -> Result<Replay, JournalError> {
    let (lines, _) = read_lines(path)?;
    checked(path, &lines)?;
    Ok(Replay::from_lines(&lines))
}

/// [`check`] as a [`JournalError::Invalid`] naming the journal `path`.
pub fn checked(path: &Path, lines: &[Line]) -> Result<(), JournalError> {
    check(lines).map_err(|(line, message)| JournalError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    })
}

/// Where runs and logs live: `--state-dir`, `TOLLGATE_STATE_DIR`, `$XDG_STATE_HOME/tollgate`, or
/// `~/.local/state/tollgate`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TOLLGATE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("tollgate");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/state/tollgate")
}

pub fn journal_path(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join("runs").join(run_id).join("journal.jsonl")
}

/// All runs, newest first, with what their journals say.
pub fn list_runs(state_dir: &Path) -> Vec<(String, Result<Replay, JournalError>)> {
    let mut ids: Vec<String> = fs::read_dir(state_dir.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        // A run folder without a journal is a run killed before its first line: it never started.
        .filter(|id| journal_path(state_dir, id).is_file())
        .collect();
    ids.sort();
    ids.reverse();
    ids.into_iter()
        .map(|id| {
            let r = read_replay(&journal_path(state_dir, &id));
            (id, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(digest: &str) -> Record {
        Record::RunStarted {
            run_id: "r".into(),
            runbook: "rb.yaml".into(),
            runbook_name: "rb".into(),
            digest: digest.into(),
            vars: BTreeMap::new(),
            who: "a@h".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: None,
            carried: None,
        }
    }

    fn reached(gate: &str) -> Record {
        Record::GateReached {
            gate: gate.into(),
            kind: GateKind::Phase,
        }
    }

    fn decided(gate: &str, kind: GateKind, choice: Choice) -> Record {
        Record::GateDecided {
            gate: gate.into(),
            kind,
            choice,
            who: "a@h".into(),
            via: "--approve".into(),
            note: None,
            destructive: false,
            checklist: Vec::new(),
        }
    }

    fn step_finished(step: &str, status: StepStatus) -> Record {
        Record::StepFinished {
            step: step.into(),
            status,
            exit_code: None,
            duration_ms: 0,
            error: None,
            last: Vec::new(),
        }
    }

    fn retry(step: &str) -> Record {
        Record::RetryScheduled {
            step: step.into(),
            next_attempt: 2,
            attempts: 3,
            delay_ms: 1000,
        }
    }

    /// Numbered from 1, a second apart.
    fn journal(records: Vec<Record>) -> Vec<Line> {
        let mut lines: Vec<Line> = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| Line {
                seq: i as u64 + 1,
                at: format!("2026-01-01T00:00:{i:02}.000Z"),
                record,
                prev: String::new(),
                hash: String::new(),
            })
            .collect();
        chain(&mut lines);
        lines
    }

    /// Refused by the rules after the chain: the lines are chained again as they are.
    fn refused(lines: &[Line]) -> (usize, String) {
        let mut lines = lines.to_vec();
        chain(&mut lines);
        check(&lines).expect_err("accepted")
    }

    /// Who drives and who watches may change while a gate is open: the decision still follows
    /// its gate; a decision with no gate before it is still refused, whatever comes between.
    #[test]
    fn driver_and_watchers_may_come_between_a_gate_and_its_decision() {
        let driver = || Record::DriverChanged { who: "li@h".into() };
        let watching = || Record::Watching {
            names: vec!["li@h".into()],
        };
        let lines = journal(vec![
            started("d1"),
            reached("ship"),
            watching(),
            driver(),
            decided("ship", GateKind::Phase, Choice::Approve),
        ]);
        assert_eq!(check(&lines), Ok(()));
        let lines = journal(vec![
            started("d1"),
            watching(),
            driver(),
            decided("ship", GateKind::Phase, Choice::Approve),
        ]);
        assert_eq!(refused(&lines).0, 4);
        // They read back as they were written.
        let line = serde_json::to_string(&driver()).unwrap();
        assert_eq!(line, r#"{"event":"driver_changed","who":"li@h"}"#);
    }

    #[test]
    fn a_journal_as_tollgate_writes_it_passes() {
        let lines = journal(vec![
            started("d1"),
            reached("p"),
            decided("p", GateKind::Phase, Choice::Approve),
            Record::StepStarted {
                step: "s".into(),
                attempt: 1,
                attempts: None,
                command: None,
            },
            step_finished("s", StepStatus::Failed),
            retry("s"),
            decided("t", GateKind::Step, Choice::Skip),
            step_finished("t", StepStatus::Skipped),
            Record::RunPaused { reason: "x".into() },
            decided("d2", GateKind::RunbookChanged, Choice::Approve),
            Record::RunResumed {
                who: "a@h".into(),
                digest: "d2".into(),
            },
            Record::RunFinished {
                status: RunStatus::Succeeded,
            },
        ]);
        assert_eq!(check(&lines), Ok(()));
        let replay = Replay::from_lines(&lines);
        assert_eq!((replay.digest.as_str(), replay.digest_line), ("d2", 11));
    }

    #[test]
    fn a_line_edited_removed_reordered_or_unchained_breaks_the_chain_where_it_shows() {
        let good = journal(vec![
            started("d"),
            reached("p"),
            decided("p", GateKind::Phase, Choice::Approve),
            Record::RunPaused { reason: "x".into() },
        ]);
        assert_eq!(check(&good), Ok(()));
        let broken = |lines: &[Line]| check_chain(lines).expect_err("chain held");
        // Line 2 edited (its hash is what the file's bytes hash to): line 3 says so.
        let mut edited = good.clone();
        edited[1].hash = sha256_hex(b"something else");
        let (line, why) = broken(&edited);
        assert_eq!(line, 3);
        assert!(
            why.contains("its `prev` is not the hash of line 2: a record before it was edited, removed or reordered"),
            "{why}"
        );
        let removed = [&good[..1], &good[2..]].concat();
        assert_eq!(broken(&removed).0, 2);
        let reordered = vec![good[0].clone(), good[2].clone(), good[1].clone()];
        assert_eq!(broken(&reordered).0, 2);
        // The first line not chained to its runbook digest.
        let mut first = good.clone();
        first[0].prev = "d2".into();
        assert!(broken(&first).1.contains("runbook digest"));
        // No chain at all.
        let mut bare = good.clone();
        for l in &mut bare {
            l.prev.clear();
        }
        let (line, why) = broken(&bare);
        assert_eq!(line, 1);
        assert!(why.contains("no hash chain"), "{why}");
    }

    #[test]
    fn a_run_that_followed_is_named_only_after_the_run_failed() {
        let finished = |status| Record::RunFinished { status };
        let followed = || Record::FollowedBy {
            run: "r2".into(),
            runbook: "rollback".into(),
        };
        let lines = journal(vec![started("d"), finished(RunStatus::Failed), followed()]);
        assert_eq!(check(&lines), Ok(()));
        let replay = Replay::from_lines(&lines);
        assert_eq!(replay.followed_by, vec![("r2".into(), "rollback".into())]);
        assert_eq!(replay.status, Some(RunStatus::Failed));
        // Slipped in before the run ended, or after a success: not what tollgate writes.
        let (line, why) = refused(&journal(vec![started("d"), followed()]));
        assert_eq!(line, 2);
        assert!(why.contains("run r2 follows this one"), "{why}");
        assert_eq!(
            refused(&journal(vec![
                started("d"),
                finished(RunStatus::Succeeded),
                followed()
            ]))
            .0,
            3
        );
    }

    #[test]
    fn a_followed_run_is_journaled_in_the_failed_one_and_refused_for_one_that_did_not_fail() {
        let dir = tempfile::tempdir().unwrap();
        let run = |id: &str, status| {
            let path = journal_path(dir.path(), id);
            let (mut j, _) = Journal::open(&path, id).unwrap();
            j.append(started("d")).unwrap();
            j.append(Record::RunFinished { status }).unwrap();
            path
        };
        let failed = run("a", RunStatus::Failed);
        record_followed(&failed, "a", "b", "rollback").unwrap();
        let replay = read_replay(&failed).unwrap();
        assert_eq!(replay.followed_by, vec![("b".into(), "rollback".into())]);
        let ok = run("c", RunStatus::Succeeded);
        let e = record_followed(&ok, "c", "d", "rollback").unwrap_err();
        assert!(e.to_string().contains("run c did not end failed"), "{e}");
        assert_eq!(read_lines(&ok).unwrap().0.len(), 2, "nothing written");
    }

    #[test]
    fn targets_are_carried_only_where_the_followed_runbook_declares_that_kind() {
        use crate::runbook::{AwsTarget, KubeTarget, Targets};
        let from = Targets {
            kube: Some(KubeTarget {
                context: "prod-a".into(),
                namespace: Some("shop".into()),
            }),
            aws: Some(AwsTarget {
                account: "123456789012".into(),
                region: "eu-west-1".into(),
                ..AwsTarget::default()
            }),
            ..Targets::default()
        };
        let mut kube_only = Targets {
            kube: Some(KubeTarget {
                context: "other".into(),
                namespace: None,
            }),
            ..Targets::default()
        };
        let c = Carried::between(&from, Some("flag-ctx"), &kube_only).unwrap();
        assert_eq!(c.aws_account, None, "never widened to AWS");
        c.apply(&mut kube_only);
        assert!(kube_only.aws.is_none());
        let k = kube_only.kube.unwrap();
        assert_eq!(
            (k.context.as_str(), k.namespace.as_deref()),
            ("flag-ctx", Some("shop"))
        );
        assert!(Carried::between(&from, None, &Targets::default()).is_none());
    }

    #[test]
    fn a_gap_or_a_repeat_in_sequence_numbers_is_refused() {
        let mut lines = journal(vec![started("d"), reached("p"), reached("q")]);
        lines[2].seq = 4;
        assert_eq!(refused(&lines).0, 3);
        lines[2].seq = 2;
        assert!(
            refused(&lines)
                .1
                .contains("sequence number 2 where 3 was due")
        );
    }

    #[test]
    fn a_time_before_the_previous_record_is_refused() {
        let mut lines = journal(vec![started("d"), reached("p")]);
        lines[1].at = "2025-12-31T23:59:59Z".into();
        let (line, why) = refused(&lines);
        assert_eq!(line, 2);
        assert!(why.contains("is before the previous record"), "{why}");
    }

    #[test]
    fn the_first_record_starts_the_run_and_no_other_does() {
        assert_eq!(refused(&journal(vec![reached("p")])).0, 1);
        assert_eq!(refused(&journal(vec![started("d"), started("d")])).0, 2);
    }

    #[test]
    fn a_decision_is_only_for_the_gate_open_right_before_it() {
        // Another gate.
        let lines = journal(vec![
            started("d"),
            reached("p"),
            decided("q", GateKind::Phase, Choice::Approve),
        ]);
        assert_eq!(refused(&lines).0, 3);
        // The gate, but after the run paused there.
        let lines = journal(vec![
            started("d"),
            reached("p"),
            Record::RunPaused { reason: "x".into() },
            decided("p", GateKind::Phase, Choice::Approve),
        ]);
        let (line, why) = refused(&lines);
        assert_eq!(line, 4);
        assert!(why.contains("gate `p`, which was not open"), "{why}");
        // The gate, but of another kind.
        let lines = journal(vec![
            started("d"),
            reached("p"),
            decided("p", GateKind::Failed, Choice::Retry),
        ]);
        assert_eq!(refused(&lines).0, 3);
    }

    #[test]
    fn a_decision_without_its_gate_is_only_a_skip_followed_by_that_skip() {
        let lines = journal(vec![
            started("d"),
            decided("t", GateKind::Step, Choice::Skip),
            step_finished("t", StepStatus::Succeeded),
        ]);
        assert_eq!(refused(&lines).0, 2);
        let lines = journal(vec![
            started("d"),
            decided("t", GateKind::Step, Choice::Approve),
        ]);
        assert_eq!(refused(&lines).0, 2);
    }

    #[test]
    fn a_resume_with_another_runbook_needs_the_change_accepted_right_before_it() {
        let resumed = |digest: &str| Record::RunResumed {
            who: "a@h".into(),
            digest: digest.into(),
        };
        let lines = journal(vec![started("d1"), resumed("d2")]);
        let (line, why) = refused(&lines);
        assert_eq!(line, 2);
        assert!(why.contains("no accepted change"), "{why}");
        // Accepted for another digest.
        let lines = journal(vec![
            started("d1"),
            decided("d3", GateKind::RunbookChanged, Choice::Approve),
            resumed("d2"),
        ]);
        assert_eq!(refused(&lines).0, 2);
    }

    #[test]
    fn a_retry_is_scheduled_only_right_after_its_step_failed() {
        let lines = journal(vec![
            started("d"),
            step_finished("s", StepStatus::Succeeded),
            retry("s"),
        ]);
        assert_eq!(refused(&lines).0, 3);
    }

    #[test]
    fn a_pending_retry_is_replayed_until_its_attempt_starts_or_the_session_ends() {
        let mut records = vec![
            started("d"),
            step_finished("s", StepStatus::Failed),
            retry("s"),
        ];
        let r = Replay::from_lines(&journal(records.clone()));
        assert_eq!(r.retries.get("s").map(|p| p.next_attempt), Some(2));
        records.push(Record::RunFinished {
            status: RunStatus::Aborted,
        });
        assert!(Replay::from_lines(&journal(records)).retries.is_empty());
    }
}

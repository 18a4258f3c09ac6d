//! `tollgate report`: a run's postmortem, from its journal (read and checked as the engine reads
//! it) and its kept output: the runbook and its targets, who drove and who watched, a timeline of
//! phases and steps, every gate and how it was decided, every change and revert, the failure path
//! and the runs linked to this one, and the last lines of each failed step. Rendered as Markdown
//! ([`markdown`]) or one self-contained HTML file ([`html`]).
//!
//! Everything taken from the record is masked again with the secrets the report can know (the
//! runbook's secret variables set in its environment), and stripped of terminal control
//! sequences. Imported by the command line only.

pub mod html;
pub mod markdown;
mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::engine::journal::{self, JournalError, Record};
use crate::protocol::{Choice, GateKind, Masker, OutputLine, StepStatus, Stream};
use crate::record::output;

pub use read::Entry;

/// How many lines of a failed step's output the report shows.
pub const FAILED_LINES: usize = 20;

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no run `{0}` in {1}")]
    NotFound(String, String),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("run `{0}` has no records: it never started")]
    Empty(String),
}

/// A run, as the report tells it. Every text is masked and free of control sequences.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub run_id: String,
    pub runbook_name: String,
    pub runbook_path: String,
    /// The runbook's digest at the start, and each other one a resume went on with.
    pub digests: Vec<String>,
    pub rehearsal: bool,
    /// How the run ended (`succeeded`, `rolled back`, …), `paused` or `unfinished`.
    pub result: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The time of the last record.
    pub last_at: Option<DateTime<Utc>>,
    /// The targets as the run was pinned to them (`kube CONTEXT ns NS`, `aws ACCOUNT REGION`).
    pub targets: Vec<String>,
    /// Where the targets come from, or why they are not shown.
    pub targets_note: String,
    /// Non-secret variables as resolved at the start.
    pub vars: Vec<(String, String)>,
    pub drivers: Vec<Driver>,
    /// Everyone who followed the run from another terminal, in the order they first did.
    pub watchers: Vec<String>,
    /// Phases and steps in the order they started; a step's `depth` is its phases' nesting.
    pub timeline: Vec<Bar>,
    pub gates: Vec<GateRow>,
    pub changes: Vec<ChangeRow>,
    /// What happened after the first failure, in order, one sentence each.
    pub failure_path: Vec<String>,
    pub from_run: Option<String>,
    /// Runs that followed this one: (run, runbook link).
    pub followed_by: Vec<(String, String)>,
    pub failures: Vec<Failure>,
    /// What a rehearsal did: (step, what).
    pub rehearsal_notes: Vec<(Option<String>, String)>,
    /// Pauses: (time, reason).
    pub pauses: Vec<(DateTime<Utc>, String)>,
    /// Secret variables' captures (names only: values are never journaled).
    pub secret_captures: Vec<String>,
    /// Records this version of tollgate does not know: (journal line, event).
    pub unknown: Vec<(usize, String)>,
    /// Steps of the runbook's phases (not its rollback phases) that never started nor were
    /// skipped: (phase, step). Only when the runbook is the one the run last ran.
    pub not_run: Vec<(String, String)>,
}

/// Someone at the keys, from `from` until `to` (the run's end, or still).
#[derive(Clone, Debug, PartialEq)]
pub struct Driver {
    pub who: String,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
    /// `started the run`, `resumed the run`, `took the keys`.
    pub how: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    Phase,
    Step,
}

/// A phase or a step on the timeline.
#[derive(Clone, Debug)]
pub struct Bar {
    pub kind: BarKind,
    pub id: String,
    pub depth: usize,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// The final status's word, or `did not finish`.
    pub result: String,
    pub failed: bool,
    /// Attempts made (steps).
    pub attempts: u32,
    /// Time spent running, summed over the attempts (steps).
    pub run_ms: Option<u64>,
    pub exit_code: Option<i32>,
    /// The command as run (masked).
    pub command: Option<String>,
}

impl Bar {
    /// How long the bar spans, in milliseconds.
    pub fn span_ms(&self) -> Option<i64> {
        self.end.map(|e| (e - self.start).num_milliseconds().max(0))
    }
}

/// A gate: when it opened, the approvals counted, and the decision.
#[derive(Clone, Debug)]
pub struct GateRow {
    pub gate: String,
    pub kind: GateKind,
    pub reached_at: Option<DateTime<Utc>>,
    pub approvals: Vec<Approval>,
    pub decision: Option<Decided>,
}

/// An approval that did not yet pass a two-person gate.
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub at: DateTime<Utc>,
    pub who: String,
    pub via: String,
    pub have: u32,
    pub need: u32,
}

#[derive(Clone, Debug)]
pub struct Decided {
    pub at: DateTime<Utc>,
    pub choice: Choice,
    pub who: String,
    pub via: String,
    pub note: Option<String>,
    pub destructive: bool,
    /// Each checklist item and whether it was confirmed.
    pub checklist: Vec<(String, bool)>,
}

/// A change a step made (a `changed` record).
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub at: DateTime<Utc>,
    pub step: String,
    /// `kube`, `aws` or `docker`.
    pub family: &'static str,
    /// The change's kind as journaled (`image`, `scaled`, `pushed`, `secret_put`, …).
    pub kind: String,
    /// Its fields, `key=value`, objects left out.
    pub detail: String,
    /// Made by a step that puts back another's changes (`kube.revert`, `secrets.revert`), or a
    /// change that is itself a way back (a rollout undone, a secret rolled back).
    pub revert: bool,
}

/// A step that failed, with its last lines.
#[derive(Clone, Debug)]
pub struct Failure {
    pub step: String,
    pub at: DateTime<Utc>,
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    pub lines: Vec<OutputLine>,
    /// `kept output` or `journal`.
    pub source: &'static str,
    /// Older lines not shown (kept but cut to [`FAILED_LINES`], or dropped by the bounds).
    pub more: u64,
}

/// The folder of run `run_id`, when `run_id` names one with a journal (and is a plain name, not
/// a path).
pub fn run_dir(state_dir: &Path, run_id: &str) -> Result<PathBuf, ReportError> {
    let plain = !run_id.is_empty()
        && run_id != "."
        && run_id != ".."
        && !run_id.contains('/')
        && !run_id.contains('\0');
    let journal = journal::journal_path(state_dir, run_id);
    if !plain || !journal.is_file() {
        return Err(ReportError::NotFound(
            crate::text::one_line(run_id),
            state_dir.join("runs").display().to_string(),
        ));
    }
    Ok(state_dir.join("runs").join(run_id))
}

/// The report of run `run_id` in `state_dir`, masked with `masker` and with the secrets of the
/// runbook's secret variables found in this process's environment.
pub fn load(state_dir: &Path, run_id: &str, masker: &Masker) -> Result<Report, ReportError> {
    let dir = run_dir(state_dir, run_id)?;
    let entries = read::read_checked(&dir.join("journal.jsonl"))?;
    if entries.is_empty() {
        return Err(ReportError::Empty(run_id.to_string()));
    }
    let mut masker = masker.clone();
    let runbook = runbook_of(&entries);
    if let Some(loaded) = &runbook {
        add_env_secrets(&loaded.runbook, &mut masker);
    }
    Ok(build(&entries, &dir, runbook.as_ref(), &masker))
}

/// The runbook the run started with, when its file still reads.
fn runbook_of(entries: &[Entry]) -> Option<crate::runbook::loader::Loaded> {
    let path = entries.iter().find_map(|e| match &e.record {
        Some(Record::RunStarted { runbook, .. }) => Some(runbook.clone()),
        _ => None,
    })?;
    crate::runbook::loader::load(Path::new(&path)).ok()
}

/// Adds the value of each of the runbook's secret variables set in the environment (its `env`,
/// or `TOLLGATE_VAR_NAME`), as a run would read it.
pub fn add_env_secrets(rb: &crate::runbook::model::Runbook, masker: &mut Masker) {
    for (name, var) in &rb.variables {
        if !var.secret {
            continue;
        }
        let env = var
            .env
            .clone()
            .unwrap_or_else(|| format!("TOLLGATE_VAR_{name}"));
        if let Some(v) = std::env::var_os(&env).and_then(|v| v.into_string().ok())
            && v.trim().chars().count() >= crate::protocol::MIN_MASKED
        {
            masker.add(&v);
        }
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Masked, without terminal control sequences or other control characters (tabs kept).
fn clean(masker: &Masker, text: &str) -> String {
    let masked = masker.mask(text);
    let safe = crate::text::terminal_safe(&masked);
    let mut out = String::with_capacity(safe.len());
    let mut chars = safe.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Only colours are left: ESC [ params m.
            if chars.peek() == Some(&'[') {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_control() && c != '\t' && c != '\n' {
            continue;
        }
        out.push(c);
    }
    out
}

/// The report of the journal's `entries`, for the run folder `dir`.
pub fn build(
    entries: &[Entry],
    dir: &Path,
    runbook: Option<&crate::runbook::loader::Loaded>,
    masker: &Masker,
) -> Report {
    let m = |s: &str| clean(masker, s);
    let mut r = Report::default();
    let mut open_phases: Vec<usize> = Vec::new();
    let mut step_bar: BTreeMap<String, usize> = BTreeMap::new();
    let mut step_commands: BTreeMap<String, String> = BTreeMap::new();
    let mut failed_steps: Vec<Failure> = Vec::new();
    let mut carried = None;
    let mut failing = false;
    let mut status = None;
    let mut paused = false;
    for e in entries {
        let t = at(&e.at);
        r.last_at = Some(t);
        if let Some(ext) = &e.ext {
            match ext {
                read::Ext::DriverChanged { who } => {
                    if let Some(d) = r.drivers.last_mut() {
                        d.to = Some(t);
                    }
                    r.drivers.push(Driver {
                        who: m(who),
                        from: t,
                        to: None,
                        how: "took the keys",
                    });
                }
                read::Ext::Watching { names } => {
                    for n in names {
                        let n = m(n);
                        if !r.watchers.contains(&n) {
                            r.watchers.push(n);
                        }
                    }
                }
                read::Ext::GateApproved {
                    gate,
                    kind,
                    who,
                    via,
                    have,
                    need,
                } => {
                    let a = Approval {
                        at: t,
                        who: m(who),
                        via: m(via),
                        have: *have,
                        need: *need,
                    };
                    match r
                        .gates
                        .iter_mut()
                        .rev()
                        .find(|g| &g.gate == gate && g.kind == *kind && g.decision.is_none())
                    {
                        Some(g) => g.approvals.push(a),
                        None => r.gates.push(GateRow {
                            gate: m(gate),
                            kind: *kind,
                            reached_at: None,
                            approvals: vec![a],
                            decision: None,
                        }),
                    }
                }
            }
            continue;
        }
        let Some(record) = &e.record else {
            if !e.ext_known {
                r.unknown.push((e.line, m(&e.event)));
            }
            continue;
        };
        match record {
            Record::RunStarted {
                run_id,
                runbook,
                runbook_name,
                digest,
                vars,
                who,
                rehearsal,
                from_run,
                carried: c,
                ..
            } => {
                r.run_id = m(run_id);
                r.runbook_path = m(runbook);
                r.runbook_name = m(runbook_name);
                r.digests.push(m(digest));
                r.rehearsal = *rehearsal;
                r.started_at = Some(t);
                r.vars = vars.iter().map(|(k, v)| (m(k), m(v))).collect();
                r.drivers.push(Driver {
                    who: m(who),
                    from: t,
                    to: None,
                    how: "started the run",
                });
                r.from_run = from_run.as_deref().filter(|f| !f.is_empty()).map(m);
                carried = c.clone();
            }
            Record::RunResumed { who, digest } => {
                if r.digests.last() != Some(&m(digest)) {
                    r.digests.push(m(digest));
                }
                if let Some(d) = r.drivers.last_mut() {
                    d.to = Some(t);
                }
                r.drivers.push(Driver {
                    who: m(who),
                    from: t,
                    to: None,
                    how: "resumed the run",
                });
                paused = false;
            }
            Record::PhaseStarted { phase } => {
                r.timeline.push(Bar {
                    kind: BarKind::Phase,
                    id: m(phase),
                    depth: open_phases.len(),
                    start: t,
                    end: None,
                    result: "did not finish".into(),
                    failed: false,
                    attempts: 0,
                    run_ms: None,
                    exit_code: None,
                    command: None,
                });
                open_phases.push(r.timeline.len() - 1);
                if failing {
                    r.failure_path.push(format!("phase {} started", m(phase)));
                }
            }
            Record::PhaseFinished { phase, status: s } => {
                let phase = m(phase);
                if let Some(pos) = open_phases.iter().rposition(|&i| r.timeline[i].id == phase) {
                    let i = open_phases.remove(pos);
                    let b = &mut r.timeline[i];
                    b.end = Some(t);
                    b.result = s.word().to_string();
                    b.failed = *s == StepStatus::Failed;
                }
                if failing {
                    r.failure_path.push(format!("phase {phase} {}", s.word()));
                }
            }
            Record::StepStarted { step, command, .. } => {
                let id = m(step);
                let i = step_bar_at(&mut r.timeline, &mut step_bar, &id, open_phases.len(), t);
                let b = &mut r.timeline[i];
                b.attempts += 1;
                b.end = None;
                b.result = "did not finish".into();
                if let Some(c) = command {
                    b.command = Some(m(c));
                    step_commands.insert(id, m(c));
                }
            }
            Record::StepFinished {
                step,
                status: s,
                exit_code,
                duration_ms,
                error,
                last,
            } => {
                let id = m(step);
                // A step skipped (or marked done) without starting gets its bar here.
                let i = step_bar_at(&mut r.timeline, &mut step_bar, &id, open_phases.len(), t);
                let b = &mut r.timeline[i];
                b.end = Some(t);
                b.result = s.word().to_string();
                b.failed = *s == StepStatus::Failed;
                b.exit_code = *exit_code;
                if b.attempts > 0 {
                    b.run_ms = Some(b.run_ms.unwrap_or(0) + duration_ms);
                }
                if *s == StepStatus::Failed {
                    failing = true;
                    let lines = last
                        .iter()
                        .map(|l| OutputLine {
                            stream: l.stream,
                            text: m(&l.text),
                        })
                        .collect();
                    failed_steps.retain(|f| f.step != id);
                    failed_steps.push(Failure {
                        step: id.clone(),
                        at: t,
                        error: error.as_deref().map(m),
                        exit_code: *exit_code,
                        lines,
                        source: "journal",
                        more: 0,
                    });
                    let why = error
                        .as_deref()
                        .map(|e| format!(": {}", crate::text::one_line(&m(e))))
                        .unwrap_or_default();
                    r.failure_path.push(format!("step {id} failed{why}"));
                }
            }
            Record::GateReached { gate, kind } => r.gates.push(GateRow {
                gate: m(gate),
                kind: *kind,
                reached_at: Some(t),
                approvals: Vec::new(),
                decision: None,
            }),
            Record::GateDecided {
                gate,
                kind,
                choice,
                who,
                via,
                note,
                destructive,
                checklist,
            } => {
                let d = Decided {
                    at: t,
                    choice: *choice,
                    who: m(who),
                    via: m(via),
                    note: note.as_deref().map(m),
                    destructive: *destructive,
                    checklist: checklist
                        .iter()
                        .map(|c| (m(&c.item), c.confirmed))
                        .collect(),
                };
                let gate = m(gate);
                if failing {
                    r.failure_path.push(format!(
                        "gate {gate} ({}): {} by {} via {}",
                        kind.word(),
                        choice.word(),
                        d.who,
                        d.via
                    ));
                }
                match r
                    .gates
                    .iter_mut()
                    .rev()
                    .find(|g| g.gate == gate && g.kind == *kind && g.decision.is_none())
                {
                    Some(g) => g.decision = Some(d),
                    None => r.gates.push(GateRow {
                        gate,
                        kind: *kind,
                        reached_at: None,
                        approvals: Vec::new(),
                        decision: Some(d),
                    }),
                }
            }
            Record::Changed { step, change } => {
                let step = m(step);
                let command = step_commands.get(&step).map(String::as_str).unwrap_or("");
                r.changes
                    .push(change_row(t, step.clone(), change, command, &m));
            }
            Record::VarCaptured {
                name, secret: true, ..
            } => r.secret_captures.push(m(name)),
            Record::RetryScheduled {
                step,
                next_attempt,
                attempts,
                delay_ms,
            } if failing => {
                r.failure_path.push(format!(
                    "step {} retried: attempt {next_attempt} of {attempts} after {}",
                    m(step),
                    duration(*delay_ms as i64)
                ));
            }
            Record::VarCaptured { .. }
            | Record::StepProcess { .. }
            | Record::RetryScheduled { .. } => {}
            Record::RunPaused { reason } => {
                r.pauses.push((t, m(reason)));
                paused = true;
            }
            Record::RunFinished { status: s } => {
                status = Some(*s);
                r.finished_at = Some(t);
                if failing {
                    r.failure_path.push(format!("run {}", s.word()));
                }
            }
            Record::FollowedBy { run, runbook } => {
                r.followed_by.push((m(run), m(runbook)));
                r.failure_path.push(format!(
                    "run {} followed it (runbook {})",
                    m(run),
                    m(runbook)
                ));
            }
            Record::Rehearsal { step, what } => {
                r.rehearsal_notes.push((step.as_deref().map(m), m(what)));
            }
            // Kinds added later (the pairing records are read as `Ext` above).
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    let end = r.finished_at;
    if let Some(d) = r.drivers.last_mut() {
        d.to = end;
    }
    r.result = match status {
        Some(s) => s.word().to_string(),
        None if paused => "paused".into(),
        None => "unfinished".into(),
    };
    // A step started and never finished is open until the run ended (or its last record).
    for b in &mut r.timeline {
        if b.kind == BarKind::Phase && b.end.is_none() {
            b.result = "did not finish".into();
        }
    }
    if let Some(l) = runbook.filter(|l| Some(&l.digest) == r.digests.last()) {
        for phase in l.runbook.phases.iter().filter(|p| !p.rollback) {
            for step in phase.steps.iter().chain(&phase.validation) {
                let id = m(&step.id);
                if !step_bar.contains_key(&id) {
                    r.not_run.push((m(&phase.id), id));
                }
            }
        }
    }
    let (targets, note) = targets(runbook, r.digests.last(), carried.as_ref(), &m);
    r.targets = targets;
    r.targets_note = note;
    // A failed step's kept output, when there is some, in place of the journal's last lines.
    for f in &mut failed_steps {
        if let Some(k) = output::read(dir, &f.step).ok().flatten()
            && !k.lines.is_empty()
        {
            let from = k.lines.len().saturating_sub(FAILED_LINES);
            f.lines = k.lines[from..]
                .iter()
                .map(|l| OutputLine {
                    stream: l.stream,
                    text: m(&l.text),
                })
                .collect();
            f.source = "kept output";
            f.more = k.dropped + from as u64;
        }
    }
    r.failures = failed_steps;
    r
}

/// The run's targets: the runbook's (when its file is the one the run last ran: same digest),
/// the carried ones in their place.
fn targets(
    runbook: Option<&crate::runbook::loader::Loaded>,
    digest: Option<&String>,
    carried: Option<&journal::Carried>,
    m: &dyn Fn(&str) -> String,
) -> (Vec<String>, String) {
    let carried_note = carried
        .map(|c| format!("; carried from the run it follows: {}", m(&c.describe())))
        .unwrap_or_default();
    match runbook {
        Some(l) if Some(&l.digest) == digest => {
            let mut t = l.runbook.targets.clone();
            if let Some(c) = carried {
                c.apply(&mut t);
            }
            let mut list: Vec<String> = t.summary().iter().map(|s| m(s)).collect();
            if t.production {
                list.push("production".into());
            }
            (
                list,
                format!("from the runbook, unchanged since the run{carried_note}"),
            )
        }
        Some(_) => (
            carried.map(|c| vec![m(&c.describe())]).unwrap_or_default(),
            format!("the runbook changed since the run: its targets are not shown{carried_note}"),
        ),
        None => (
            carried.map(|c| vec![m(&c.describe())]).unwrap_or_default(),
            format!("the runbook file no longer reads: its targets are not shown{carried_note}"),
        ),
    }
}

fn change_row(
    t: DateTime<Utc>,
    step: String,
    change: &serde_json::Value,
    command: &str,
    m: &dyn Fn(&str) -> String,
) -> ChangeRow {
    let obj = change.as_object();
    let (family, kind) = match obj {
        Some(o) if o.get("aws").is_some() => (
            "aws",
            o.get("aws")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string(),
        ),
        Some(o) => {
            let k = o
                .get("change")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            let fam = if matches!(k.as_str(), "built" | "pushed" | "tagged" | "logged_in") {
                "docker"
            } else {
                "kube"
            };
            (fam, k)
        }
        None => ("?", "?".into()),
    };
    let mut parts = Vec::new();
    if let Some(o) = obj {
        for (k, v) in o {
            if k == "aws" || k == "change" {
                continue;
            }
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a)
                    if a.iter().all(|x| !x.is_object() && !x.is_array()) =>
                {
                    a.iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(",")
                }
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                    format!("({k} kept in the journal)")
                }
                other => other.to_string(),
            };
            if text.starts_with('(') {
                parts.push(text);
            } else {
                parts.push(format!("{k}={text}"));
            }
        }
    }
    let revert = command.starts_with("kube.revert")
        || command.starts_with("secrets.revert")
        || kind.contains("revert")
        || kind.contains("rolled_back");
    ChangeRow {
        at: t,
        step,
        family,
        kind: m(&kind),
        detail: m(&parts.join(" ")),
        revert,
    }
}

/// `12 ms`, `3.4 s`, `2 min 05 s`, `1 h 02 min`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// `2026-12-06 13:33:11 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The timeline's bar of step `id`, made (starting at `t`, under `depth` open phases) the first
/// time the step is seen.
fn step_bar_at(
    timeline: &mut Vec<Bar>,
    step_bar: &mut BTreeMap<String, usize>,
    id: &str,
    depth: usize,
    t: DateTime<Utc>,
) -> usize {
    *step_bar.entry(id.to_string()).or_insert_with(|| {
        timeline.push(Bar {
            kind: BarKind::Step,
            id: id.to_string(),
            depth,
            start: t,
            end: None,
            result: String::new(),
            failed: false,
            attempts: 0,
            run_ms: None,
            exit_code: None,
            command: None,
        });
        timeline.len() - 1
    })
}

/// Time since the run started, `+M:SS.s`.
pub fn offset(r: &Report, t: DateTime<Utc>) -> String {
    let ms = r
        .started_at
        .map_or(0, |s| (t - s).num_milliseconds().max(0));
    format!("+{}:{:04.1}", ms / 60_000, (ms % 60_000) as f64 / 1000.0)
}

/// `stdout`/`stderr`.
pub fn stream_word(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes `records` (each an object with its `event`) as run `id`'s journal in `state`,
    /// numbered from 1, a second apart.
    fn journal(state: &Path, id: &str, records: &[serde_json::Value]) {
        let dir = state.join("runs").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        // Chained as the journal's writer chains it: the first to its runbook digest.
        let mut prev = records
            .first()
            .and_then(|r| r["digest"].as_str())
            .unwrap_or_default()
            .to_string();
        for (i, r) in records.iter().enumerate() {
            let mut line = json!({"seq": i + 1, "at": format!("2026-01-01T00:00:{i:02}.000Z")});
            for (k, v) in r.as_object().unwrap() {
                line[k] = v.clone();
            }
            line["prev"] = json!(prev);
            let one = line.to_string();
            prev = crate::text::sha256_hex(one.as_bytes());
            text.push_str(&one);
            text.push('\n');
        }
        std::fs::write(dir.join("journal.jsonl"), text).unwrap();
    }

    fn started() -> serde_json::Value {
        json!({"event": "run_started", "run_id": "r1", "runbook": "/nowhere/rb.yaml",
               "runbook_name": "rb", "digest": "d1", "vars": {}, "who": "ana@h"})
    }

    #[test]
    fn pairing_records_are_read_and_unknown_kinds_listed_with_the_rest_still_checked() {
        let dir = tempfile::tempdir().unwrap();
        let records = vec![
            started(),
            json!({"event": "gate_reached", "gate": "go", "kind": "phase"}),
            json!({"event": "watching", "names": ["bo@h"]}),
            json!({"event": "gate_approved", "gate": "go", "kind": "phase", "who": "bo@h",
                   "via": "follower", "have": 1, "need": 2}),
            json!({"event": "gate_decided", "gate": "go", "kind": "phase", "choice": "approve",
                   "who": "ana@h", "via": "interface"}),
            json!({"event": "driver_changed", "who": "bo@h"}),
            json!({"event": "watching", "names": ["bo@h", "cy@h"]}),
            json!({"event": "something_newer", "x": 1}),
            json!({"event": "run_finished", "status": "succeeded"}),
        ];
        journal(dir.path(), "r1", &records);
        let r = load(dir.path(), "r1", &Masker::default()).unwrap();
        assert_eq!(r.watchers, ["bo@h", "cy@h"]);
        let drivers: Vec<(&str, &str)> =
            r.drivers.iter().map(|d| (d.who.as_str(), d.how)).collect();
        assert_eq!(
            drivers,
            [("ana@h", "started the run"), ("bo@h", "took the keys")]
        );
        assert_eq!(r.drivers[0].to, Some(r.drivers[1].from));
        assert_eq!(r.gates.len(), 1);
        let g = &r.gates[0];
        assert_eq!(g.approvals[0].who, "bo@h");
        assert_eq!((g.approvals[0].have, g.approvals[0].need), (1, 2));
        assert_eq!(g.decision.as_ref().unwrap().who, "ana@h");
        assert_eq!(r.unknown, [(8, "something_newer".to_string())]);
        assert_eq!(r.result, "succeeded");
        let md = markdown::render(&r);
        assert!(
            md.contains("| `bo@h` | took the keys | +0:05.0 | +0:08.0 |"),
            "{md}"
        );
        assert!(
            md.contains("`bo@h` (1 of 2)<br>`ana@h` | follower<br>interface"),
            "{md}"
        );
        assert!(md.contains("- line 8: `something_newer`"), "{md}");

        // Still checked: a gap in the numbers, and a decision for a gate that is not open.
        let mut gap = records.clone();
        gap.remove(6);
        journal(dir.path(), "r2", &gap);
        std::fs::write(
            dir.path().join("runs/r2/journal.jsonl"),
            std::fs::read_to_string(dir.path().join("runs/r2/journal.jsonl"))
                .unwrap()
                .replace("\"seq\":7,", "\"seq\":9,"),
        )
        .unwrap();
        let e = load(dir.path(), "r2", &Masker::default()).unwrap_err();
        assert!(
            e.to_string().contains("sequence number 9 where 7 was due"),
            "{e}"
        );
        let mut wrong = records.clone();
        wrong[4]["gate"] = json!("other");
        journal(dir.path(), "r3", &wrong);
        let e = load(dir.path(), "r3", &Masker::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains(":5: decision `approve` for gate `other`"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_run_a_path_or_an_empty_journal_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        journal(dir.path(), "r1", &[started()]);
        for id in ["nope", "../runs/r1", "", ".."] {
            let e = load(dir.path(), id, &Masker::default()).unwrap_err();
            assert!(matches!(e, ReportError::NotFound(..)), "{id}: {e}");
            assert!(e.to_string().starts_with("no run `"), "{e}");
        }
        // A journal without a record: a run killed before its first line.
        journal(dir.path(), "r2", &[]);
        let e = load(dir.path(), "r2", &Masker::default()).unwrap_err();
        assert_eq!(e.to_string(), "run `r2` has no records: it never started");
    }

    #[test]
    fn a_secret_that_reached_the_record_is_masked_again_in_both_formats() {
        let secret = "s3cr3t-Value";
        let dir = tempfile::tempdir().unwrap();
        journal(
            dir.path(),
            "r1",
            &[
                json!({"event": "run_started", "run_id": "r1", "runbook": "/nowhere/rb.yaml",
                       "runbook_name": "rb", "digest": "d1", "vars": {"url": format!("https://u:{secret}@h")},
                       "who": "ana@h"}),
                json!({"event": "step_started", "step": "s", "attempt": 1,
                       "command": format!("curl -H 'Authorization: {secret}' | tee `x`")}),
                json!({"event": "step_finished", "step": "s", "status": "failed", "duration_ms": 5,
                       "exit_code": 1, "error": format!("exit 1: {secret}"),
                       "last": [{"stream": "stderr", "text": format!("denied {secret}")}]}),
                json!({"event": "run_finished", "status": "failed"}),
            ],
        );
        let run_dir = dir.path().join("runs/r1");
        let mut k = crate::record::output::Keeper::new(&run_dir).unwrap();
        k.attempt("s", 1).unwrap();
        k.lines(
            "s",
            Stream::Stdout,
            format!("token {secret}\n\x1b[31mred\x1b[0m\n"),
        )
        .unwrap();
        k.flush().unwrap();
        let mut masker = Masker::default();
        masker.add(secret);
        let r = load(dir.path(), "r1", &masker).unwrap();
        let md = markdown::render(&r);
        let html = html::render(&r);
        for text in [&md, &html] {
            assert!(
                !text.to_lowercase().contains(&secret.to_lowercase()),
                "{text}"
            );
            assert!(text.contains(crate::protocol::MASK), "{text}");
            assert!(!text.contains('\x1b'), "{text}");
        }
        // The kept output is preferred to the journal's last lines, colours dropped.
        assert!(md.contains("from the kept output"), "{md}");
        assert!(md.contains("\nred\n"), "{md}");
        // The command's `|` and backticks stay inside its code span.
        assert!(
            md.contains("`` curl -H 'Authorization: ••••••' \\| tee `x` ``"),
            "{md}"
        );
    }

    #[test]
    fn html_escapes_every_text_and_carries_no_script() {
        let dir = tempfile::tempdir().unwrap();
        journal(
            dir.path(),
            "r1",
            &[
                json!({"event": "run_started", "run_id": "r1", "runbook": "/nowhere/rb.yaml",
                       "runbook_name": "<script>alert(1)</script>", "digest": "d1",
                       "vars": {}, "who": "ana@h"}),
                json!({"event": "step_started", "step": "s", "attempt": 1,
                       "command": "echo \"<img src=x onerror=alert(1)>\" && true"}),
                json!({"event": "step_finished", "step": "s", "status": "succeeded",
                       "duration_ms": 5}),
            ],
        );
        let r = load(dir.path(), "r1", &Masker::default()).unwrap();
        let html = html::render(&r);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&amp;&amp; true"), "{html}");
        assert!(html.contains("<svg id=\"timeline\""), "{html}");
        assert_eq!(r.result, "unfinished");
        let md = markdown::render(&r);
        assert!(
            md.contains("report: \\<script\\>alert(1)\\</script\\>"),
            "{md}"
        );
    }
}

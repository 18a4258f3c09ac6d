//! A rehearsal's decisions file (`tollgate rehearse --decisions FILE`): the gates decided ahead,
//! the values its prompts get, and what the run is expected to do.
//!
//! ```yaml
//! runbook: ../first-deploy.yaml            # optional, informative
//! vars: { node_instance_type: t3.large }   # like --var
//! prompts:                                 # variables with `prompt: true`, and steps' masked prompts
//!   db_password: made-up-password
//! gates:
//!   pre-deployment-setup: approve          # a choice word
//!   infrastructure: { choice: approve, note: "plan reviewed", word: labelmint-production }
//!   smoke-tests: { choice: reject, note: "rehearsing the rejection" }
//!   promote: { choice: approve, approvers: [ana, li] }  # a gate that needs two people
//!   back-to-previous: { choice: approve, after: 3m }     # decided 3 simulated minutes in
//! expect:
//!   outcome: succeeded                     # succeeded | failed | rolled-back | paused | aborted | rejected
//!   ran: [step-a]                          # steps that must have succeeded
//!   skipped: [terraform-init]
//!   failed: [smoke-tests]
//! follow:                                  # the runbook followed after a failure
//!   gates: { revert: approve }             # (--follow-failure-runbook): the same keys
//!   expect: { outcome: succeeded }
//! ```
//!
//! Read with positions (the runbook's YAML reader): every problem is one line
//! `FILE:LINE:COL: what is wrong`. A gate is named by its phase or step id; a failed or
//! interrupted step's gate by the step's id. A gate the file does not name is left to the flags
//! and the person at the terminal: with neither, a headless run pauses there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::Outcome;
use crate::engine::journal::{self, Replay};
use crate::protocol::approvals::{Approvals, Scripted};
use crate::protocol::{Choice, RunStatus, Secret, StepStatus};
use crate::runbook::yaml::{self, Budget, Kind, Node, Pos};
use crate::runbook::{Runbook, vars};

/// A decisions file, read.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    /// The file it was read from.
    pub file: PathBuf,
    /// The runbook it was written for (`runbook:`), relative to the file's folder: informative.
    pub runbook: Option<PathBuf>,
    /// Variables set as `--var` sets them, in the file's order.
    pub vars: Vec<(String, String)>,
    /// Made-up values for variables with `prompt: true` (secret ones too) and for steps' masked
    /// prompts (by step id).
    pub prompts: BTreeMap<String, Secret>,
    /// Each gate named, with its choice, note and confirmation word.
    pub gates: BTreeMap<String, Scripted>,
    /// Where each gate and expected step was named (for [`Decisions::check_ids`]).
    positions: Vec<(Pos, Named)>,
    pub expect: Expectation,
    /// The decisions of the run that follows this one when it fails and its failure path leads
    /// to another runbook (`follow:`, the same keys; `rehearse --follow-failure-runbook`).
    pub follow: Option<Box<Decisions>>,
}

/// What a name in the file refers to, for checking it against the runbook.
#[derive(Clone, Debug)]
enum Named {
    Gate(String),
    Step(String),
}

/// What the run is expected to have done (`expect:`): every point unmet is one line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectation {
    pub outcome: Option<Expected>,
    /// Steps that must have run and succeeded.
    pub ran: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
}

/// How the run is expected to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Succeeded,
    Failed,
    RolledBack,
    Paused,
    Aborted,
    Rejected,
}

const OUTCOMES: &[(&str, Expected)] = &[
    ("succeeded", Expected::Succeeded),
    ("failed", Expected::Failed),
    ("rolled-back", Expected::RolledBack),
    ("paused", Expected::Paused),
    ("aborted", Expected::Aborted),
    ("rejected", Expected::Rejected),
];

const CHOICES: &[(&str, Choice)] = &[
    ("approve", Choice::Approve),
    ("reject", Choice::Reject),
    ("skip", Choice::Skip),
    ("rollback", Choice::Rollback),
    ("retry", Choice::Retry),
    ("mark-done", Choice::MarkDone),
    ("abort", Choice::Abort),
];

const TOP_KEYS: &[&str] = &["runbook", "vars", "prompts", "gates", "expect", "follow"];
const GATE_KEYS: &[&str] = &["choice", "note", "word", "approvers", "after"];
const EXPECT_KEYS: &[&str] = &["outcome", "ran", "skipped", "failed"];

impl Expected {
    pub fn word(self) -> &'static str {
        OUTCOMES
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("?", |(w, _)| w)
    }

    fn met_by(self, outcome: &Outcome) -> bool {
        matches!(
            (self, outcome),
            (Expected::Succeeded, Outcome::Finished(RunStatus::Succeeded))
                | (Expected::Failed, Outcome::Finished(RunStatus::Failed))
                | (
                    Expected::RolledBack,
                    Outcome::Finished(RunStatus::RolledBack)
                )
                | (Expected::Aborted, Outcome::Finished(RunStatus::Aborted))
                | (Expected::Rejected, Outcome::Finished(RunStatus::Rejected))
                | (Expected::Paused, Outcome::Paused(_))
        )
    }
}

/// How a run ended, as the unmet expectation says it: `the run rolled back`.
fn ended(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Finished(RunStatus::Succeeded) => "the run succeeded".into(),
        Outcome::Finished(RunStatus::Failed) => "the run failed".into(),
        Outcome::Finished(RunStatus::RolledBack) => "the run rolled back".into(),
        Outcome::Finished(RunStatus::Aborted) => "the run was aborted".into(),
        Outcome::Finished(RunStatus::Rejected) => "the run was rejected at a gate".into(),
        Outcome::Paused(reason) => format!("the run paused ({reason})"),
    }
}

impl Expectation {
    /// Whether nothing is expected.
    pub fn is_empty(&self) -> bool {
        *self == Expectation::default()
    }

    /// Checks the run's outcome and its steps' last statuses (a journal's [`Replay::steps`]):
    /// every point unmet as one line, e.g. `expected outcome succeeded, the run rolled back` or
    /// `expected smoke-tests to have failed; it succeeded`.
    pub fn check(
        &self,
        outcome: &Outcome,
        steps: &BTreeMap<String, StepStatus>,
    ) -> Result<(), Vec<String>> {
        let mut unmet = Vec::new();
        if let Some(e) = self.outcome
            && !e.met_by(outcome)
        {
            unmet.push(format!("expected outcome {}, {}", e.word(), ended(outcome)));
        }
        let lists = [
            (&self.ran, StepStatus::Succeeded, "run"),
            (&self.skipped, StepStatus::Skipped, "been skipped"),
            (&self.failed, StepStatus::Failed, "failed"),
        ];
        for (ids, want, what) in lists {
            for id in ids {
                match steps.get(id) {
                    Some(s) if *s == want => {}
                    Some(s) => unmet.push(format!("expected {id} to have {what}; it {}", said(*s))),
                    None => unmet.push(format!("expected {id} to have {what}; it never ran")),
                }
            }
        }
        if unmet.is_empty() { Ok(()) } else { Err(unmet) }
    }

    /// [`Expectation::check`] against a run's journal, read back (not locked): each step's last
    /// status, a step of a phase that was skipped whole counting as skipped.
    pub fn check_journal(
        &self,
        outcome: &Outcome,
        journal: &Path,
        runbook: &Runbook,
    ) -> Result<(), Vec<String>> {
        let (lines, _) = journal::read_lines(journal)
            .map_err(|e| vec![format!("cannot read {}: {e}", journal.display())])?;
        self.check(outcome, &statuses(&Replay::from_lines(&lines), runbook))
    }
}

/// Each step's last status in `replay`; the steps of a phase skipped whole (which the journal
/// records as the phase's) as skipped.
pub fn statuses(replay: &Replay, runbook: &Runbook) -> BTreeMap<String, StepStatus> {
    let mut out = replay.steps.clone();
    for p in &runbook.phases {
        if replay.phases.get(p.id.value.as_str()) == Some(&StepStatus::Skipped) {
            for s in p.steps.iter().chain(p.validation.iter()) {
                out.entry(s.id.value.clone()).or_insert(StepStatus::Skipped);
            }
        }
    }
    out
}

/// A step's status as the unmet expectation says it: `it succeeded`, `it was skipped`.
fn said(s: StepStatus) -> String {
    match s {
        StepStatus::Succeeded => "succeeded".into(),
        StepStatus::Failed => "failed".into(),
        StepStatus::Skipped => "was skipped".into(),
        StepStatus::Interrupted => "was interrupted".into(),
        StepStatus::Running => "was still running".into(),
        StepStatus::Pending | StepStatus::AwaitingGate => "never ran".into(),
    }
}

/// Reads a decisions file: every problem as one line `FILE:LINE:COL: what is wrong`.
pub fn load(path: &Path) -> Result<Decisions, Vec<String>> {
    let max = Budget::default().max_bytes;
    let bytes = read_capped(path, max).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let text = yaml::to_text(&bytes)
        .map_err(|e| vec![format!("{}:{}: {}", path.display(), e.pos, e.message)])?;
    parse(path, text)
}

fn read_capped(path: &Path, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Reads a decisions file's text (`file` names it in messages and resolves `runbook:`).
pub fn parse(file: &Path, text: &str) -> Result<Decisions, Vec<String>> {
    let mut r = Reader {
        file,
        problems: Vec::new(),
    };
    let root = yaml::parse(text, Budget::default())
        .map_err(|e| vec![format!("{}:{}: {}", file.display(), e.pos, e.message)])?;
    let mut d = Decisions {
        file: file.to_path_buf(),
        ..Decisions::default()
    };
    if root.is_null() {
        return Ok(d);
    }
    r.document(&root, &mut d, "the decisions file");
    if r.problems.is_empty() {
        Ok(d)
    } else {
        Err(r.problems)
    }
}

impl Reader<'_> {
    /// The file's keys, or a `follow:` section's (the same keys, for the runbook followed).
    fn document(&mut self, root: &Node, d: &mut Decisions, within: &str) {
        let r = self;
        let file = r.file;
        let Some(entries) = r.map(root, within) else {
            return;
        };
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            match key {
                "runbook" => {
                    if let Some(s) = r.string(v, "`runbook`") {
                        let dir = file.parent().unwrap_or(Path::new("."));
                        d.runbook = Some(dir.join(s));
                    }
                }
                "vars" => {
                    for (name, value) in r.map(v, "`vars`").unwrap_or_default() {
                        if let (Some(n), Some(val)) = (
                            r.string(name, "a variable's name"),
                            r.scalar(value, "a value"),
                        ) {
                            d.vars.push((n, val));
                        }
                    }
                }
                "prompts" => {
                    for (name, value) in r.map(v, "`prompts`").unwrap_or_default() {
                        if let (Some(n), Some(val)) = (
                            r.string(name, "a prompt's name"),
                            r.scalar(value, "a value"),
                        ) {
                            d.prompts.insert(n, Secret(val));
                        }
                    }
                }
                "gates" => {
                    for (id, g) in r.map(v, "`gates`").unwrap_or_default() {
                        let Some(id) = r.string(id, "a gate's id") else {
                            continue;
                        };
                        if let Some(s) = r.gate(&id, g) {
                            d.positions.push((g.pos, Named::Gate(id.clone())));
                            d.gates.insert(id, s);
                        }
                    }
                }
                "expect" => r.expect(v, d),
                "follow" => {
                    let mut f = Decisions {
                        file: file.to_path_buf(),
                        ..Decisions::default()
                    };
                    r.document(v, &mut f, "`follow`");
                    d.follow = Some(Box::new(f));
                }
                _ => r.unknown(k, key, TOP_KEYS, within),
            }
        }
    }
}

struct Reader<'a> {
    file: &'a Path,
    problems: Vec<String>,
}

impl Reader<'_> {
    fn problem(&mut self, pos: Pos, message: impl AsRef<str>) {
        self.problems.push(format!(
            "{}:{pos}: {}",
            self.file.display(),
            crate::text::one_line(message.as_ref())
        ));
    }

    fn map<'n>(&mut self, n: &'n Node, what: &str) -> Option<Vec<(&'n Node, &'n Node)>> {
        match &n.kind {
            Kind::Map(entries) => Some(entries.iter().map(|(k, v)| (k, v)).collect()),
            _ if n.is_null() => Some(Vec::new()),
            _ => {
                self.problem(
                    n.pos,
                    format!("{what} must be a mapping, not {}", n.describe()),
                );
                None
            }
        }
    }

    fn scalar(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.kind {
            Kind::Scalar { value, .. } => Some(value.clone()),
            _ => {
                self.problem(
                    n.pos,
                    format!("{what} must be a string, not {}", n.describe()),
                );
                None
            }
        }
    }

    /// A scalar that must not be empty.
    fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        let s = self.scalar(n, what)?;
        if n.is_null() || s.trim().is_empty() {
            self.problem(n.pos, format!("{what} is empty"));
            return None;
        }
        Some(s)
    }

    fn list(&mut self, n: &Node, what: &str) -> Vec<(Pos, String)> {
        match &n.kind {
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| self.string(i, "a step id").map(|s| (i.pos, s)))
                .collect(),
            _ if n.is_null() => Vec::new(),
            _ => {
                self.problem(
                    n.pos,
                    format!("{what} must be a list of step ids, not {}", n.describe()),
                );
                Vec::new()
            }
        }
    }

    /// A list of distinct people's names (a gate's `approvers`).
    fn names(&mut self, n: &Node, what: &str) -> Option<Vec<String>> {
        let Kind::Seq(items) = &n.kind else {
            self.problem(
                n.pos,
                format!("{what} must be a list of names, not {}", n.describe()),
            );
            return None;
        };
        let mut names: Vec<String> = Vec::new();
        for i in items {
            let name = self.string(i, "a name")?;
            if names.contains(&name) {
                self.problem(
                    i.pos,
                    format!("{what} names `{name}` twice: each approver is a different person"),
                );
                return None;
            }
            names.push(name);
        }
        Some(names)
    }

    fn unknown(&mut self, k: &Node, key: &str, known: &[&str], within: &str) {
        let near = known
            .iter()
            .min_by_key(|w| crate::text::edit_distance(key, w))
            .filter(|w| crate::text::edit_distance(key, w) <= 2)
            .map(|w| format!(" (did you mean `{w}`?)"))
            .unwrap_or_default();
        self.problem(
            k.pos,
            format!(
                "unknown key `{key}` in {within}{near}; it takes {}",
                known
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }

    fn choice(&mut self, n: &Node) -> Option<Choice> {
        let word = self.string(n, "a choice")?;
        match CHOICES.iter().find(|(w, _)| *w == word) {
            Some((_, c)) => Some(*c),
            None => {
                let words: Vec<&str> = CHOICES.iter().map(|(w, _)| *w).collect();
                self.problem(
                    n.pos,
                    format!(
                        "unknown choice `{word}`; a gate is decided by one of: {}",
                        words.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// A gate's decision: a choice word, or `{ choice, note, word }`.
    fn gate(&mut self, id: &str, n: &Node) -> Option<Scripted> {
        if let Kind::Scalar { .. } = n.kind {
            return Some(Scripted {
                choice: Some(self.choice(n)?),
                ..Scripted::default()
            });
        }
        let entries = self.map(n, &format!("gate `{id}`"))?;
        let mut s = Scripted::default();
        let mut ok = true;
        for (k, v) in entries {
            let key = k.as_str().unwrap_or_default();
            match key {
                "choice" => match self.choice(v) {
                    Some(c) => s.choice = Some(c),
                    None => ok = false,
                },
                "note" => s.note = self.scalar(v, "`note`").filter(|n| !n.trim().is_empty()),
                "word" => s.word = self.string(v, "`word`"),
                "approvers" => match self.names(v, "`approvers`") {
                    Some(names) => s.approvers = names,
                    None => ok = false,
                },
                "after" => match self.string(v, "`after`").map(|t| vars::parse_duration(&t)) {
                    Some(Ok(d)) => s.after = Some(d),
                    Some(Err(why)) => {
                        self.problem(v.pos, format!("`after`: {why}"));
                        ok = false;
                    }
                    None => ok = false,
                },
                _ => {
                    self.unknown(k, key, GATE_KEYS, &format!("gate `{id}`"));
                    ok = false;
                }
            }
        }
        if s.choice.is_none() && ok {
            self.problem(n.pos, format!("gate `{id}` names no `choice`"));
            return None;
        }
        ok.then_some(s)
    }

    fn expect(&mut self, n: &Node, d: &mut Decisions) {
        for (k, v) in self.map(n, "`expect`").unwrap_or_default() {
            let key = k.as_str().unwrap_or_default();
            let into = match key {
                "outcome" => {
                    let Some(word) = self.string(v, "`outcome`") else {
                        continue;
                    };
                    match OUTCOMES.iter().find(|(w, _)| *w == word) {
                        Some((_, e)) => d.expect.outcome = Some(*e),
                        None => {
                            let words: Vec<&str> = OUTCOMES.iter().map(|(w, _)| *w).collect();
                            self.problem(
                                v.pos,
                                format!(
                                    "unknown outcome `{word}`; a run ends as one of: {}",
                                    words.join(", ")
                                ),
                            );
                        }
                    }
                    continue;
                }
                "ran" => &mut d.expect.ran,
                "skipped" => &mut d.expect.skipped,
                "failed" => &mut d.expect.failed,
                _ => {
                    self.unknown(k, key, EXPECT_KEYS, "`expect`");
                    continue;
                }
            };
            for (pos, id) in self.list(v, &format!("`expect.{key}`")) {
                d.positions.push((pos, Named::Step(id.clone())));
                into.push(id);
            }
        }
    }
}

impl Decisions {
    /// The made-up value the file gives variable `name` (one with `prompt: true`), for the
    /// variables' prompt.
    pub fn prompt(&self, name: &str) -> Option<String> {
        self.prompts.get(name).map(|s| s.0.clone())
    }

    /// The file with every gate's `after` (simulated time) turned into real time at `speed`,
    /// the rehearsal's `--speed`; its `follow:` section too.
    pub fn at_speed(mut self, speed: f64) -> Decisions {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        for s in self.gates.values_mut() {
            s.after = s
                .after
                .map(|d| Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(d));
        }
        self.follow = self.follow.map(|f| Box::new(f.at_speed(speed)));
        self
    }

    /// The gates the file decides and the values it gives steps' masked prompts, added to the
    /// command line's approvals (decided before them, recorded via `rehearsal-script`).
    pub fn apply(&self, approvals: &mut Approvals) {
        approvals.scripted.extend(self.gates.clone());
        approvals.values.extend(self.prompts.clone());
    }

    /// The gates and expected steps the file names that `runbook` has not, one line each with
    /// where: a gate is a phase's or a step's id, an expected step a step's id.
    pub fn check_ids(&self, runbook: &Runbook) -> Vec<String> {
        let mut phases = Vec::new();
        let mut steps = Vec::new();
        for p in &runbook.phases {
            phases.push(p.id.value.as_str());
            for s in p.steps.iter().chain(p.validation.iter()) {
                steps.push(s.id.value.as_str());
            }
        }
        let mut out = Vec::new();
        for (pos, named) in &self.positions {
            let (id, known, what): (&str, Vec<&str>, &str) = match named {
                Named::Gate(id) => (
                    id,
                    phases.iter().chain(steps.iter()).copied().collect(),
                    "no phase or step",
                ),
                Named::Step(id) => (id, steps.clone(), "no step"),
            };
            if known.contains(&id) {
                continue;
            }
            let near = known
                .iter()
                .min_by_key(|w| crate::text::edit_distance(id, w))
                .filter(|w| crate::text::edit_distance(id, w) <= 2)
                .map(|w| format!(" (did you mean `{w}`?)"))
                .unwrap_or_default();
            out.push(format!(
                "{}:{pos}: the runbook has {what} `{id}`{near}",
                self.file.display()
            ));
        }
        out
    }
}

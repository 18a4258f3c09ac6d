//! Every transition of a run, described once and written three ways by one function
//! ([`Engine::transition`]): the audit log line and the journal record (made durable before anything
//! acts on it, or with the next record when nothing does), then the event the views show.

use std::collections::BTreeMap;
use std::time::Duration;

use super::audit::Entry;
use super::journal::{ConfirmedItem, Record};
use super::outcome::EngineError;
use super::state::Engine;
use crate::protocol::{
    Choice, Deadline, Event, GateKind, GateRequest, MASK, OutputLine, RunStatus, StepStatus,
};

/// One transition of a run.
#[derive(Clone, Debug)]
pub enum Transition {
    RunStarted {
        runbook_path: String,
        runbook_name: String,
        digest: String,
        vars: BTreeMap<String, String>,
        who: String,
        /// The runbook's deadline, counted from now.
        deadline: Option<Deadline>,
        /// The failed run this one follows, and the targets carried from it.
        from_run: Option<String>,
        carried: Option<super::journal::Carried>,
    },
    RunResumed {
        runbook_name: String,
        who: String,
        digest: String,
        /// The deadline journaled at the run's first start, counted from then.
        deadline: Option<Deadline>,
    },
    PhaseStarted {
        phase: String,
        title: String,
        /// False when the journal already has it (a resumed phase).
        journal: bool,
    },
    PhaseFinished {
        phase: String,
        status: StepStatus,
    },
    GateReached(GateRequest),
    GateDecided {
        gate: String,
        kind: GateKind,
        choice: Choice,
        who: String,
        via: String,
        note: Option<String>,
        destructive: bool,
        checklist: Vec<ConfirmedItem>,
    },
    /// One approval of a gate that needs several distinct people, short of the last.
    GateApproved {
        gate: String,
        kind: GateKind,
        who: String,
        via: String,
        have: u32,
        need: u32,
    },
    StepStarted {
        step: String,
        title: String,
        /// This session's attempt and how many it may make.
        attempt: u32,
        attempts: u32,
        /// The attempt's number over the whole run (what the journal counts).
        attempt_in_run: u32,
        /// Secrets masked.
        command: String,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        exit_code: Option<i32>,
        duration: Duration,
        /// Secrets masked.
        error: Option<String>,
        /// A failed step's last lines of output, secrets masked.
        last: Vec<OutputLine>,
    },
    Changed {
        step: String,
        change: serde_json::Value,
    },
    /// A process the step started, held until this is durable.
    StepProcess {
        step: String,
        proc: crate::exec::procs::ProcStart,
    },
    /// A variable set by a step: `value` is `None` for a secret (never journaled nor shown).
    VarCaptured {
        name: String,
        value: Option<String>,
    },
    /// A failed attempt will be followed by `next_attempt` of `attempts` after `delay`.
    RetryScheduled {
        step: String,
        next_attempt: u32,
        attempts: u32,
        delay: Duration,
    },
    RunPaused {
        reason: String,
    },
    RunFinished {
        status: RunStatus,
    },
    /// What a rehearsal did: a step skipped in rehearsal, a fault injected.
    Rehearsal {
        step: Option<String>,
        what: String,
    },
    /// `who` is at the keys from now on (handed over from another terminal, or back).
    DriverChanged {
        who: String,
    },
    /// Who follows the run from other terminals now.
    Watching {
        names: Vec<String>,
    },
}

/// When a record must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// Written and fsync'ed now: something is about to act on it.
    Now,
    /// Written now, made durable by the fsync of the next record, which always comes before the
    /// engine does anything else (starts a step, acts on a decision, ends the run).
    WithNext,
}

impl Transition {
    fn record(&self, run_id: &str, rehearsal: bool) -> Option<(Record, Durability)> {
        use Durability::*;
        Some(match self.clone() {
            Transition::RunStarted {
                runbook_path,
                runbook_name,
                digest,
                vars,
                who,
                deadline,
                from_run,
                carried,
            } => (
                Record::RunStarted {
                    run_id: run_id.to_string(),
                    runbook: runbook_path,
                    runbook_name,
                    digest,
                    vars,
                    who,
                    rehearsal,
                    deadline_secs: deadline.map(|d| d.secs),
                    from_run,
                    carried,
                },
                WithNext,
            ),
            Transition::RunResumed { who, digest, .. } => {
                (Record::RunResumed { who, digest }, WithNext)
            }
            Transition::PhaseStarted { journal: false, .. } => return None,
            Transition::PhaseStarted { phase, .. } => (Record::PhaseStarted { phase }, WithNext),
            Transition::PhaseFinished { phase, status } => {
                (Record::PhaseFinished { phase, status }, WithNext)
            }
            Transition::GateReached(req) => (
                Record::GateReached {
                    gate: req.id,
                    kind: req.kind,
                },
                WithNext,
            ),
            Transition::GateDecided {
                gate,
                kind,
                choice,
                who,
                via,
                note,
                destructive,
                checklist,
            } => (
                Record::GateDecided {
                    gate,
                    kind,
                    choice,
                    who,
                    via,
                    note,
                    destructive,
                    checklist,
                },
                Now,
            ),
            Transition::GateApproved {
                gate,
                kind,
                who,
                via,
                have,
                need,
            } => (
                Record::GateApproved {
                    gate,
                    kind,
                    who,
                    via,
                    have,
                    need,
                },
                Now,
            ),
            Transition::StepStarted {
                step,
                attempt_in_run,
                attempts,
                command,
                ..
            } => (
                Record::StepStarted {
                    step,
                    attempt: attempt_in_run,
                    attempts: Some(attempts),
                    command: Some(command),
                },
                Now,
            ),
            Transition::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
                last,
            } => (
                Record::StepFinished {
                    step,
                    status,
                    exit_code,
                    duration_ms: duration.as_millis() as u64,
                    error,
                    last,
                },
                Now,
            ),
            Transition::Changed { step, change } => (Record::Changed { step, change }, Now),
            Transition::StepProcess { step, proc } => (
                Record::StepProcess {
                    step,
                    pgid: proc.pgid,
                    pid: proc.pid,
                    start_ticks: proc.start_ticks,
                    boot_id: proc.boot_id,
                },
                Now,
            ),
            Transition::VarCaptured { name, value } => (
                Record::VarCaptured {
                    secret: value.is_none(),
                    name,
                    value,
                },
                Now,
            ),
            // Durable before the wait: a crash during it resumes with the next attempt.
            Transition::RetryScheduled {
                step,
                next_attempt,
                attempts,
                delay,
            } => (
                Record::RetryScheduled {
                    step,
                    next_attempt,
                    attempts,
                    delay_ms: delay.as_millis() as u64,
                },
                Now,
            ),
            Transition::RunPaused { reason } => (Record::RunPaused { reason }, Now),
            Transition::RunFinished { status } => (Record::RunFinished { status }, Now),
            Transition::Rehearsal { step, what } => (Record::Rehearsal { step, what }, Now),
            // Durable before anyone at the new keys can decide anything.
            Transition::DriverChanged { who } => (Record::DriverChanged { who }, Now),
            Transition::Watching { names } => (Record::Watching { names }, WithNext),
        })
    }

    /// The audit log's line, if this transition has one (the journal record it goes with is
    /// added when it is written).
    fn audit(&self, run_id: &str) -> Option<Entry> {
        let entry = |event: &str| Entry::new(event, run_id);
        Some(match self {
            Transition::RunStarted {
                runbook_path,
                runbook_name,
                digest,
                who,
                from_run,
                deadline,
                ..
            } => entry("run_started")
                .with("runbook", runbook_path.as_str())
                .with("runbook_name", runbook_name.as_str())
                .with("digest", digest.as_str())
                .with("who", who.as_str())
                .maybe("deadline_secs", deadline.as_ref().map(|d| d.secs))
                .maybe("from_run", from_run.as_deref()),
            Transition::RunResumed { who, digest, .. } => entry("run_resumed")
                .with("who", who.as_str())
                .with("digest", digest.as_str()),
            Transition::GateReached(req) => entry("gate_reached")
                .with("gate", req.id.as_str())
                .with("kind", token(&req.kind)),
            Transition::GateDecided {
                gate,
                kind,
                choice,
                who,
                via,
                note,
                destructive,
                checklist,
            } => {
                let items: Vec<serde_json::Value> = checklist
                    .iter()
                    .map(|c| serde_json::json!({"item": c.item, "confirmed": c.confirmed}))
                    .collect();
                entry("gate_decided")
                    .with("gate", gate.as_str())
                    .with("kind", token(kind))
                    .with("choice", token(choice))
                    .with("who", who.as_str())
                    .with("via", via.as_str())
                    .flag("destructive", *destructive)
                    .maybe("checklist", (!items.is_empty()).then_some(items))
                    .maybe("note", note.as_deref())
            }
            Transition::GateApproved {
                gate,
                kind,
                who,
                via,
                have,
                need,
            } => entry("gate_approved")
                .with("gate", gate.as_str())
                .with("kind", token(kind))
                .with("who", who.as_str())
                .with("via", via.as_str())
                .with("have", *have)
                .with("need", *need),
            Transition::StepFinished {
                step,
                status,
                exit_code,
                duration,
                ..
            } => entry("step_finished")
                .with("step", step.as_str())
                .with("status", token(status))
                .maybe("exit_code", *exit_code)
                .with("duration_ms", duration.as_millis() as u64),
            Transition::Changed { step, change } => entry("changed")
                .with("step", step.as_str())
                .with("change", change.clone()),
            Transition::RetryScheduled {
                step,
                next_attempt,
                attempts,
                delay,
            } => entry("retry_scheduled")
                .with("step", step.as_str())
                .with("next_attempt", *next_attempt)
                .with("attempts", *attempts)
                .with("delay_ms", delay.as_millis() as u64),
            Transition::RunPaused { reason } => entry("run_paused").with("reason", reason.as_str()),
            Transition::RunFinished { status } => {
                entry("run_finished").with("status", token(status))
            }
            Transition::StepProcess { step, proc } => entry("step_process")
                .with("step", step.as_str())
                .with("pgid", proc.pgid)
                .with("pid", proc.pid),
            Transition::Rehearsal { step, what } => entry("rehearsal")
                .maybe("step", step.as_deref())
                .with("what", what.as_str()),
            Transition::DriverChanged { who } => entry("driver_changed").with("who", who.as_str()),
            Transition::Watching { names } => entry("watching").with("names", names.clone()),
            Transition::PhaseStarted { .. }
            | Transition::PhaseFinished { .. }
            | Transition::StepStarted { .. }
            | Transition::VarCaptured { .. } => return None,
        })
    }

    /// The event the views show, if this transition has one.
    fn event(self, run_id: &str) -> Option<Event> {
        Some(match self {
            Transition::RunStarted {
                runbook_name,
                deadline,
                ..
            } => Event::RunStarted {
                run_id: run_id.to_string(),
                runbook: runbook_name,
                resumed: false,
                deadline,
            },
            Transition::RunResumed {
                runbook_name,
                deadline,
                ..
            } => Event::RunStarted {
                run_id: run_id.to_string(),
                runbook: runbook_name,
                resumed: true,
                deadline,
            },
            Transition::PhaseStarted { phase, title, .. } => Event::PhaseStarted { phase, title },
            Transition::Rehearsal { step, what } => {
                Event::Note(rehearsal_line(step.as_deref(), &what))
            }
            Transition::PhaseFinished { phase, status } => Event::PhaseFinished { phase, status },
            Transition::GateReached(req) => Event::GateReached(req),
            Transition::GateDecided {
                gate,
                choice,
                who,
                via,
                checklist,
                ..
            } => Event::GateDecided {
                gate,
                choice,
                who,
                via,
                checklist: checklist.iter().map(|c| c.confirmed).collect(),
            },
            Transition::GateApproved {
                gate,
                who,
                via,
                have,
                need,
                ..
            } => Event::ApprovalCounted {
                gate,
                who,
                via,
                have,
                need,
            },
            Transition::StepStarted {
                step,
                title,
                attempt,
                attempts,
                command,
                ..
            } => Event::StepStarted {
                step,
                title,
                attempt,
                attempts,
                command,
            },
            Transition::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
                ..
            } => Event::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
            },
            Transition::Changed { .. }
            | Transition::StepProcess { .. }
            | Transition::Watching { .. } => return None,
            Transition::DriverChanged { who } => Event::DriverChanged { who },
            Transition::VarCaptured { name, value } => Event::VarCaptured {
                name,
                shown: value.unwrap_or_else(|| MASK.to_string()),
            },
            Transition::RetryScheduled {
                step,
                next_attempt,
                delay,
                ..
            } => Event::RetryScheduled {
                step,
                next_attempt,
                delay,
            },
            Transition::RunPaused { reason } => Event::RunPaused { reason },
            Transition::RunFinished { status } => Event::RunFinished { status },
        })
    }
}

impl Engine {
    /// Audits, journals and announces one transition, in that order: nothing is shown, and
    /// nothing acts on it, before it is in the audit log and the journal. When either cannot be
    /// written the run stops here (exit 5), before anything acts on it.
    pub(super) async fn transition(&mut self, t: Transition) -> Result<(), EngineError> {
        let audit = t.audit(&self.run_id);
        match t.record(&self.run_id, self.rehearsal) {
            Some((record, durability)) => {
                // The journal line is made first, so the audit line can name it (its number and
                // hash); it is written after the audit line.
                let line = self.journal.prepare(record);
                if let Some(entry) = audit {
                    self.audit.write(&entry.journal(line.seq, &line.hash))?;
                }
                self.journal.write(&line)?;
                if durability == Durability::Now {
                    self.journal.sync()?;
                }
            }
            None => {
                if let Some(entry) = audit {
                    self.audit.write(&entry)?;
                }
            }
        }
        if let Some(event) = t.event(&self.run_id) {
            self.emit(event).await;
        }
        Ok(())
    }
}

/// A kind, choice or status as the journal writes it (`runbook_changed`, `mark_done`, …).
fn token<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// How a rehearsal's note reads in the views: `rehearsal: STEP: WHAT`.
pub fn rehearsal_line(step: Option<&str>, what: &str) -> String {
    match step {
        Some(step) => format!("rehearsal: {step}: {what}"),
        None => format!("rehearsal: {what}"),
    }
}

//! Every transition of a run, described once and written three ways by one function
//! ([`Engine::transition`]): the audit log line and the journal record (made durable before anything
//! acts on it, or with the next record when nothing does), then the event the views show.

use std::collections::BTreeMap;
use std::time::Duration;

use super::audit::field;
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
        })
    }

    /// The audit log's line, if this transition has one.
    fn audit(&self, run_id: &str) -> Option<String> {
        let run = field("run_id", run_id);
        Some(match self {
            Transition::RunStarted {
                runbook_path, who, ..
            } => format!(
                "run started {run} {} {}",
                field("runbook", runbook_path),
                field("who", who)
            ),
            Transition::RunResumed { who, .. } => {
                format!("run resumed {run} {}", field("who", who))
            }
            Transition::GateReached(req) => format!(
                "gate reached {run} {} {}",
                field("gate", &req.id),
                field("kind", req.kind.word())
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
            } => {
                let mut line = format!(
                    "gate decided {run} {} {} {} {} {}",
                    field("gate", gate),
                    field("kind", kind.word()),
                    field("choice", choice.word()),
                    field("who", who),
                    field("via", via)
                );
                if *destructive {
                    line.push_str(" destructive=true");
                }
                if !checklist.is_empty() {
                    let confirmed = checklist.iter().filter(|c| c.confirmed).count();
                    line.push(' ');
                    line.push_str(&field(
                        "checklist",
                        &format!("{confirmed}/{} confirmed", checklist.len()),
                    ));
                }
                if let Some(n) = note {
                    line.push(' ');
                    line.push_str(&field("note", n));
                }
                line
            }
            Transition::StepFinished {
                step,
                status,
                exit_code,
                ..
            } => {
                let mut line = format!(
                    "step finished {run} {} {}",
                    field("step", step),
                    field("status", status.word())
                );
                if let Some(c) = exit_code {
                    line.push(' ');
                    line.push_str(&field("exit_code", &c.to_string()));
                }
                line
            }
            Transition::Changed { step, change } => format!(
                "changed {run} {} {}",
                field("step", step),
                field("change", &change.to_string())
            ),
            Transition::RetryScheduled {
                step,
                next_attempt,
                attempts,
                delay,
            } => format!(
                "retry scheduled {run} {} {} {} {}",
                field("step", step),
                field("next_attempt", &next_attempt.to_string()),
                field("attempts", &attempts.to_string()),
                field("delay_ms", &delay.as_millis().to_string())
            ),
            Transition::RunPaused { reason } => {
                format!("run paused {run} {}", field("reason", reason))
            }
            Transition::RunFinished { status } => {
                format!("run finished {run} {}", field("status", status.word()))
            }
            Transition::StepProcess { step, proc } => format!(
                "step process started {run} {} {} {}",
                field("step", step),
                field("pgid", &proc.pgid.to_string()),
                field("pid", &proc.pid.to_string())
            ),
            Transition::Rehearsal { step, what } => format!(
                "rehearsal {run} {} {}",
                field("step", step.as_deref().unwrap_or("")),
                field("what", what)
            ),
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
            Transition::Changed { .. } | Transition::StepProcess { .. } => return None,
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
        if let Some(line) = t.audit(&self.run_id) {
            self.audit.write(&line)?;
        }
        if let Some((record, durability)) = t.record(&self.run_id, self.rehearsal) {
            match durability {
                Durability::Now => self.journal.append(record)?,
                Durability::WithNext => self.journal.append_unsynced(record)?,
            }
        }
        if let Some(event) = t.event(&self.run_id) {
            self.emit(event).await;
        }
        Ok(())
    }
}

/// How a rehearsal's note reads in the views: `rehearsal: STEP: WHAT`.
pub fn rehearsal_line(step: Option<&str>, what: &str) -> String {
    match step {
        Some(step) => format!("rehearsal: {step}: {what}"),
        None => format!("rehearsal: {what}"),
    }
}

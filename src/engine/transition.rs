//! Every transition of a run, described once and written three ways by one function
//! ([`Engine::transition`]): the journal record (made durable before anything acts on it, or with
//! the next record when nothing does), the audit log line, and the event the views show.

use std::collections::BTreeMap;
use std::time::Duration;

use super::journal::Record;
use super::outcome::EngineError;
use super::state::Engine;
use crate::protocol::{Choice, Event, GateKind, GateRequest, MASK, RunStatus, StepStatus};

/// One transition of a run.
#[derive(Clone, Debug)]
pub enum Transition {
    RunStarted {
        runbook_path: String,
        runbook_name: String,
        digest: String,
        vars: BTreeMap<String, String>,
        who: String,
    },
    RunResumed {
        runbook_name: String,
        who: String,
        digest: String,
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
    },
    Changed {
        step: String,
        change: serde_json::Value,
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
    fn record(&self, run_id: &str) -> Option<(Record, Durability)> {
        use Durability::*;
        Some(match self.clone() {
            Transition::RunStarted {
                runbook_path,
                runbook_name,
                digest,
                vars,
                who,
            } => (
                Record::RunStarted {
                    run_id: run_id.to_string(),
                    runbook: runbook_path,
                    runbook_name,
                    digest,
                    vars,
                    who,
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
            } => (
                Record::GateDecided {
                    gate,
                    kind,
                    choice,
                    who,
                    via,
                    note,
                },
                Now,
            ),
            Transition::StepStarted {
                step,
                attempt_in_run,
                ..
            } => (
                Record::StepStarted {
                    step,
                    attempt: attempt_in_run,
                },
                Now,
            ),
            Transition::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
            } => (
                Record::StepFinished {
                    step,
                    status,
                    exit_code,
                    duration_ms: duration.as_millis() as u64,
                    error,
                },
                Now,
            ),
            Transition::Changed { step, change } => (Record::Changed { step, change }, Now),
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
        })
    }

    /// The audit log's line, if this transition has one.
    fn audit(&self, run_id: &str) {
        match self {
            Transition::RunStarted {
                runbook_path, who, ..
            } => {
                tracing::info!(target: "audit", run_id = %run_id, runbook = %runbook_path, who = %who, "run started")
            }
            Transition::RunResumed { who, .. } => {
                tracing::info!(target: "audit", run_id = %run_id, who = %who, "run resumed")
            }
            Transition::GateReached(req) => {
                tracing::info!(target: "audit", run_id = %run_id, gate = %req.id, kind = ?req.kind, "gate reached")
            }
            Transition::GateDecided {
                gate,
                kind,
                choice,
                who,
                via,
                note,
            } => {
                tracing::info!(target: "audit", run_id = %run_id, gate = %gate, kind = ?kind, choice = choice.word(), who = %who, via = %via, note = ?note, "gate decided")
            }
            Transition::StepFinished {
                step,
                status,
                exit_code,
                ..
            } => {
                tracing::info!(target: "audit", run_id = %run_id, step = %step, status = ?status, exit_code = ?exit_code, "step finished")
            }
            Transition::Changed { step, change } => {
                tracing::info!(target: "audit", run_id = %run_id, step = %step, change = %change, "changed")
            }
            Transition::RetryScheduled {
                step,
                next_attempt,
                attempts,
                delay,
            } => {
                tracing::info!(target: "audit", run_id = %run_id, step = %step, next_attempt, attempts, delay_ms = delay.as_millis() as u64, "retry scheduled")
            }
            Transition::RunPaused { reason } => {
                tracing::info!(target: "audit", run_id = %run_id, reason = %reason, "run paused")
            }
            Transition::RunFinished { status } => {
                tracing::info!(target: "audit", run_id = %run_id, status = ?status, "run finished")
            }
            Transition::PhaseStarted { .. }
            | Transition::PhaseFinished { .. }
            | Transition::StepStarted { .. }
            | Transition::VarCaptured { .. } => {}
        }
    }

    /// The event the views show, if this transition has one.
    fn event(self, run_id: &str) -> Option<Event> {
        Some(match self {
            Transition::RunStarted { runbook_name, .. } => Event::RunStarted {
                run_id: run_id.to_string(),
                runbook: runbook_name,
                resumed: false,
            },
            Transition::RunResumed { runbook_name, .. } => Event::RunStarted {
                run_id: run_id.to_string(),
                runbook: runbook_name,
                resumed: true,
            },
            Transition::PhaseStarted { phase, title, .. } => Event::PhaseStarted { phase, title },
            Transition::PhaseFinished { phase, status } => Event::PhaseFinished { phase, status },
            Transition::GateReached(req) => Event::GateReached(req),
            Transition::GateDecided {
                gate,
                choice,
                who,
                via,
                ..
            } => Event::GateDecided {
                gate,
                choice,
                who,
                via,
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
            } => Event::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
            },
            Transition::Changed { .. } => return None,
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
    /// Journals, audits and announces one transition, in that order: nothing is shown, and
    /// nothing acts on it, before it is in the journal.
    pub(super) async fn transition(&mut self, t: Transition) -> Result<(), EngineError> {
        if let Some((record, durability)) = t.record(&self.run_id) {
            match durability {
                Durability::Now => self.journal.append(record)?,
                Durability::WithNext => self.journal.append_unsynced(record)?,
            }
        }
        t.audit(&self.run_id);
        if let Some(event) = t.event(&self.run_id) {
            self.emit(event).await;
        }
        Ok(())
    }
}

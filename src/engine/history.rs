//! What a resumed run had done before this session, told to the views as the events that showed
//! it then ([`Event::History`]), rebuilt from the journal: phases and steps with their statuses,
//! durations, exit codes and errors, decisions with who and how, checklists confirmed, values
//! captured (a secret's masked), retries, pauses and ends. Output is not journaled: each step that
//! ran says so ([`Event::OutputNotKept`]), with the last lines a failed step's record kept.

use std::time::Duration;

use super::journal::Record;
use super::state::Engine;
use crate::protocol::{Event, GateKind, History, MASK, Past};
use crate::runbook::Step;

impl Engine {
    /// The run's earlier sessions as events, from the journal read at the start of this one.
    pub(super) fn history(&self) -> History {
        let mut entries = Vec::new();
        let mut push = |at: &str, event: Event| {
            entries.push(Past {
                at: at.to_string(),
                event,
            })
        };
        // Steps started and not (yet) finished, with when they started.
        let mut open: Vec<(String, String)> = Vec::new();
        for line in &self.replay.past {
            let at = line.at.as_str();
            match &line.record {
                Record::RunStarted { run_id, .. } => push(
                    at,
                    Event::RunStarted {
                        run_id: run_id.clone(),
                        runbook: self.replay.runbook_name.clone(),
                        resumed: false,
                        deadline: None,
                    },
                ),
                Record::RunResumed { .. } => push(
                    at,
                    Event::RunStarted {
                        run_id: self.run_id.clone(),
                        runbook: self.replay.runbook_name.clone(),
                        resumed: true,
                        deadline: None,
                    },
                ),
                Record::PhaseStarted { phase } => {
                    let title = self
                        .runbook
                        .phases
                        .iter()
                        .find(|p| p.id.value == *phase)
                        .map(|p| self.vars.render(&p.title))
                        .unwrap_or_default();
                    push(
                        at,
                        Event::PhaseStarted {
                            phase: phase.clone(),
                            title,
                        },
                    )
                }
                Record::PhaseFinished { phase, status } => push(
                    at,
                    Event::PhaseFinished {
                        phase: phase.clone(),
                        status: *status,
                    },
                ),
                // A gate of an earlier session is closed: its decision (or the pause) follows.
                Record::GateReached { .. } => {}
                Record::GateDecided {
                    gate,
                    kind,
                    choice,
                    who,
                    via,
                    checklist,
                    ..
                } => {
                    let gate = if *kind == GateKind::RunbookChanged {
                        format!("runbook changed ({gate})")
                    } else {
                        gate.clone()
                    };
                    push(
                        at,
                        Event::GateDecided {
                            gate,
                            choice: *choice,
                            who: who.clone(),
                            via: via.clone(),
                            checklist: checklist.iter().map(|c| c.confirmed).collect(),
                        },
                    )
                }
                Record::StepStarted {
                    step,
                    attempt,
                    attempts,
                    command,
                } => {
                    open.retain(|(s, _)| s != step);
                    open.push((step.clone(), at.to_string()));
                    let def = find_step(&self.runbook, step);
                    let attempts = attempts
                        .or_else(|| def.map(Step::attempts))
                        .unwrap_or(1)
                        .max(*attempt);
                    let command = command.clone().unwrap_or_else(|| {
                        def.map(|d| self.vars.masker().mask(&self.step_command(d)).into_owned())
                            .unwrap_or_default()
                    });
                    push(
                        at,
                        Event::StepStarted {
                            step: step.clone(),
                            title: def.map(|d| self.vars.render(&d.title)).unwrap_or_default(),
                            attempt: *attempt,
                            attempts,
                            command,
                        },
                    )
                }
                Record::StepFinished {
                    step,
                    status,
                    exit_code,
                    duration_ms,
                    error,
                    last,
                } => {
                    open.retain(|(s, _)| s != step);
                    push(
                        at,
                        Event::StepFinished {
                            step: step.clone(),
                            status: *status,
                            exit_code: *exit_code,
                            duration: Duration::from_millis(*duration_ms),
                            error: error.clone(),
                        },
                    );
                    push(
                        at,
                        Event::OutputNotKept {
                            step: step.clone(),
                            last: last.clone(),
                        },
                    )
                }
                Record::StepProcess { .. } | Record::Changed { .. } => {}
                Record::Rehearsal { step, what } => push(
                    at,
                    Event::Note(super::transition::rehearsal_line(step.as_deref(), what)),
                ),
                Record::VarCaptured { name, value, .. } => push(
                    at,
                    Event::VarCaptured {
                        name: name.clone(),
                        shown: value.clone().unwrap_or_else(|| MASK.to_string()),
                    },
                ),
                Record::RetryScheduled {
                    step,
                    next_attempt,
                    delay_ms,
                    ..
                } => push(
                    at,
                    Event::RetryScheduled {
                        step: step.clone(),
                        next_attempt: *next_attempt,
                        delay: Duration::from_millis(*delay_ms),
                    },
                ),
                Record::RunPaused { reason } => push(
                    at,
                    Event::RunPaused {
                        reason: reason.clone(),
                    },
                ),
                Record::RunFinished { status } => push(at, Event::RunFinished { status: *status }),
            }
        }
        // What was running when tollgate stopped printed output no one kept either.
        for (step, at) in open {
            push(
                &at,
                Event::OutputNotKept {
                    step,
                    last: Vec::new(),
                },
            );
        }
        History {
            started_at: self.replay.started_at.clone(),
            entries,
        }
    }
}

/// A step of the runbook by id: a phase's step or check, or a step of a failure path.
fn find_step<'a>(runbook: &'a crate::runbook::Runbook, id: &str) -> Option<&'a Step> {
    fn among<'a>(steps: &'a [crate::runbook::Spanned<Step>], id: &str) -> Option<&'a Step> {
        steps.iter().find_map(|s| {
            if s.id.value == id {
                return Some(&s.value);
            }
            s.on_failure.as_ref().and_then(|f| among(&f.steps, id))
        })
    }
    runbook
        .phases
        .iter()
        .find_map(|p| {
            among(&p.steps, id)
                .or_else(|| among(&p.validation, id))
                .or_else(|| p.on_failure.as_ref().and_then(|f| among(&f.steps, id)))
        })
        .or_else(|| {
            runbook
                .on_failure
                .as_ref()
                .and_then(|f| among(&f.steps, id))
        })
}

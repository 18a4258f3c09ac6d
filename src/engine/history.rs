//! What a resumed run had done before this session, told to the views as the events that showed
//! it then ([`Event::History`]), rebuilt from the journal: phases and steps with their statuses,
//! durations, exit codes and errors, decisions with who and how, checklists confirmed, values
//! captured (a secret's masked), retries, pauses and ends. What each attempt of a step printed
//! follows its start, from the output kept in the run's folder (`record::output`); a step that
//! ran when nothing was kept (a run from before output was kept) says so instead
//! ([`Event::OutputNotKept`]), with the last lines a failed step's record kept.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::journal::{Line, Record};
use super::state::Engine;
use crate::protocol::{Event, GateKind, History, MASK, Past, Stream, not_kept_line};
use crate::record::output::{self, Chunk};
use crate::runbook::Step;

/// The kept output of the steps of earlier sessions, placed: for each step, the chunks that
/// follow its n-th start (0-based) in the journal.
#[derive(Default)]
struct Placed {
    /// Steps with kept output (a step missing here kept nothing).
    steps: HashMap<String, HashMap<usize, Vec<Chunk>>>,
}

impl Placed {
    /// Reads each started step's kept output and places each attempt's after the start it
    /// belongs to: the journal's starts and the kept attempts are matched from the newest back,
    /// by attempt number (an older part whose start was dropped goes with the start before).
    fn read(run_dir: &Path, past: &[Line]) -> Placed {
        let mut starts: HashMap<&str, Vec<u32>> = HashMap::new();
        for line in past {
            if let Record::StepStarted { step, attempt, .. } = &line.record {
                starts.entry(step.as_str()).or_default().push(*attempt);
            }
        }
        let mut placed = Placed::default();
        for (step, starts) in starts {
            // Unreadable kept output is as none: the journal still tells what happened.
            let Ok(Some(kept)) = output::read_attempts(run_dir, step) else {
                continue;
            };
            let mut at: HashMap<usize, Vec<Chunk>> = HashMap::new();
            let mut before = starts.len();
            let mut first = usize::MAX;
            for (attempt, chunks) in kept.attempts.into_iter().rev() {
                let found = (0..before)
                    .rev()
                    .find(|&k| attempt.is_none_or(|a| starts[k] == a));
                let k = match found {
                    Some(k) => {
                        before = k;
                        k
                    }
                    None => 0,
                };
                first = first.min(k);
                let mut chunks = chunks;
                if let Some(earlier) = at.remove(&k) {
                    chunks.extend(earlier);
                }
                at.insert(k, chunks);
            }
            if kept.dropped > 0 {
                let k = if first == usize::MAX { 0 } else { first };
                at.entry(k).or_default().insert(
                    0,
                    Chunk {
                        stream: Stream::Stdout,
                        text: not_kept_line(kept.dropped),
                    },
                );
            }
            placed.steps.insert(step.to_string(), at);
        }
        placed
    }
}

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
        let run_dir = self.journal.path().parent().unwrap_or(Path::new("."));
        let mut placed = Placed::read(run_dir, &self.replay.past);
        // How many times each step has started so far.
        let mut started: HashMap<String, usize> = HashMap::new();
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
                Record::GateApproved {
                    gate,
                    who,
                    via,
                    have,
                    need,
                    ..
                } => push(
                    at,
                    Event::ApprovalCounted {
                        gate: gate.clone(),
                        who: who.clone(),
                        via: via.clone(),
                        have: *have,
                        need: *need,
                    },
                ),
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
                    );
                    let n = started.entry(step.clone()).or_default();
                    let chunks = placed
                        .steps
                        .get_mut(step)
                        .and_then(|at| at.remove(&*n))
                        .unwrap_or_default();
                    *n += 1;
                    for c in chunks {
                        push(
                            at,
                            Event::Output {
                                step: step.clone(),
                                stream: c.stream,
                                text: c.text.into(),
                            },
                        );
                    }
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
                    if !placed.steps.contains_key(step) {
                        push(
                            at,
                            Event::OutputNotKept {
                                step: step.clone(),
                                last: last.clone(),
                            },
                        )
                    }
                }
                Record::StepProcess { .. } | Record::Changed { .. } | Record::Watching { .. } => {}
                Record::DriverChanged { who } => {
                    push(at, Event::DriverChanged { who: who.clone() })
                }
                Record::FollowedBy { run, runbook } => push(
                    at,
                    Event::Note(format!("run {run} followed this one: runbook `{runbook}`")),
                ),
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
        // What was running when tollgate stopped printed output no one kept either (when
        // nothing was kept).
        for (step, at) in open {
            if placed.steps.contains_key(&step) {
                continue;
            }
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

//! Gates and prompts: what a gate asks, waiting for a decision that fits it (the right gate, a
//! listed choice, the confirmation word), journaling it, and values typed at a masked prompt.

use super::journal::ConfirmedItem;
use super::outcome::{EngineError, Outcome, Unanswered};
use super::state::Engine;
use super::transition::Transition;
use crate::protocol::{
    Choice, Command, Decision, Event, GateKind, GateRequest, Secret, ValueRequest,
};
use crate::runbook::Step;

/// What the gate a decision was made at asked for.
#[derive(Clone, Debug, Default)]
pub(super) struct AtGate {
    destructive: bool,
    /// Each checklist item and whether the person confirmed it.
    checklist: Vec<ConfirmedItem>,
}

impl AtGate {
    fn of(req: &GateRequest, ticked: &[bool]) -> AtGate {
        AtGate {
            destructive: req.destructive,
            checklist: req
                .checklist
                .iter()
                .enumerate()
                .map(|(i, c)| ConfirmedItem {
                    item: c.text.clone(),
                    confirmed: ticked.get(i).copied().unwrap_or(false),
                })
                .collect(),
        }
    }
}

/// Approving a gate with a checklist needs every item confirmed, one by one.
fn every_item_confirmed(req: &GateRequest, d: &Decision) -> bool {
    d.checklist.len() == req.checklist.len() && d.checklist.iter().all(|t| *t)
}

impl Engine {
    /// Takes the commands that change who drives or who watches, wherever the engine reads
    /// commands (at a gate, at a prompt, while a step runs): journaled and audited, they never
    /// end a step nor pass a gate. Every other command is given back.
    pub(super) async fn aside(&mut self, cmd: Command) -> Result<Option<Command>, EngineError> {
        match cmd {
            Command::Drive { who } => {
                self.transition(Transition::DriverChanged { who }).await?;
                Ok(None)
            }
            Command::Watching { names } => {
                self.transition(Transition::Watching { names }).await?;
                Ok(None)
            }
            // Between the views and the share tap only.
            Command::AskDrive | Command::AnswerDrive { .. } | Command::Release => Ok(None),
            other => Ok(Some(other)),
        }
    }

    /// Opens a gate and waits for a decision that fits it. `Ok(Err(..))` means paused.
    pub(super) async fn gate(
        &mut self,
        req: GateRequest,
    ) -> Result<Result<Choice, Outcome>, EngineError> {
        // Nothing decided before the gate opened counts.
        while let Ok(cmd) = self.commands.try_recv() {
            if self.aside(cmd).await? == Some(Command::Abort) {
                self.aborted = true;
            }
        }
        self.transition(Transition::GateReached(req.clone()))
            .await?;
        if self.aborted {
            return self.aborted_at(&req).await;
        }
        // Who has approved so far, for a gate that needs several distinct people.
        let mut approvers: Vec<String> = Vec::new();
        loop {
            let cmd = if self.commands_open {
                self.commands.recv().await
            } else {
                None
            };
            let cmd = match cmd {
                Some(c) => match self.aside(c).await? {
                    Some(c) => Some(c),
                    None => continue,
                },
                None => None,
            };
            match cmd {
                None => {
                    self.commands_open = false;
                    return Ok(Err(Outcome::Paused(format!(
                        "gate `{}` is waiting for a decision",
                        req.id
                    ))));
                }
                Some(Command::Pause(reason)) => return Ok(Err(Outcome::Paused(reason))),
                Some(Command::Abort) => return self.aborted_at(&req).await,
                // An answer to a prompt that is no longer open.
                Some(Command::Value { .. }) => {}
                Some(Command::Decide(d)) => {
                    let refusal = if d.gate != req.id {
                        Some(format!("the open gate is `{}`, not `{}`", req.id, d.gate))
                    } else if !req.choices.contains(&d.choice) && d.choice != Choice::Abort {
                        Some(format!(
                            "`{}` is not a choice at this gate",
                            d.choice.word()
                        ))
                    } else if d.choice == Choice::Approve && !req.confirmed_by(d.typed.as_deref()) {
                        Some(format!(
                            "approving needs the confirmation word `{}` typed",
                            req.confirm.as_deref().unwrap_or_default()
                        ))
                    } else if d.choice == Choice::Approve && !every_item_confirmed(&req, &d) {
                        Some(format!(
                            "approving needs every checklist item confirmed ({} of {})",
                            d.checklist.iter().filter(|t| **t).count(),
                            req.checklist.len()
                        ))
                    } else if d.choice == Choice::Approve && approvers.contains(&d.who) {
                        Some(format!(
                            "{} has approved already: this gate needs {} different people, and the next approval comes from another person (`tollgate follow {}`)",
                            d.who, req.approvals, self.run_id
                        ))
                    } else {
                        None
                    };
                    if let Some(reason) = refusal {
                        self.emit(Event::DecisionRefused {
                            gate: req.id.clone(),
                            reason,
                        })
                        .await;
                        continue;
                    }
                    if d.choice == Choice::Approve && (approvers.len() as u32 + 1) < req.approvals {
                        // Not the last approval this gate needs: journaled, and it stays open.
                        approvers.push(d.who.clone());
                        self.transition(Transition::GateApproved {
                            gate: req.id.clone(),
                            kind: req.kind,
                            who: d.who,
                            via: d.via,
                            have: approvers.len() as u32,
                            need: req.approvals,
                        })
                        .await?;
                        continue;
                    }
                    let at = AtGate::of(&req, &d.checklist);
                    return self
                        .decided(&req.id, req.kind, d.choice, d.who, d.via, d.note, at)
                        .await;
                }
                // Taken by `aside` above.
                Some(_) => {}
            }
        }
    }

    /// The operator aborted while gate `req` was open (or before it opened).
    async fn aborted_at(
        &mut self,
        req: &GateRequest,
    ) -> Result<Result<Choice, Outcome>, EngineError> {
        let who = self.who.clone();
        let at = AtGate::of(req, &[]);
        self.decided(
            &req.id,
            req.kind,
            Choice::Abort,
            who,
            "abort".into(),
            None,
            at,
        )
        .await
    }

    /// Journals, audits and announces a decision on gate `id` (or a choice made before the run,
    /// such as `--skip`), saying also what the gate was: destructive or not, and which of its
    /// checklist items the person confirmed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decided(
        &mut self,
        id: &str,
        kind: GateKind,
        choice: Choice,
        who: String,
        via: String,
        note: Option<String>,
        at: AtGate,
    ) -> Result<Result<Choice, Outcome>, EngineError> {
        self.transition(Transition::GateDecided {
            gate: id.to_string(),
            kind,
            choice,
            who,
            via,
            note,
            destructive: at.destructive,
            checklist: at.checklist,
        })
        .await?;
        if matches!(kind, GateKind::Phase | GateKind::Step) {
            self.replay.approved.insert(id.to_string(), choice);
        }
        Ok(Ok(choice))
    }

    pub(super) fn decision_request(
        &self,
        step: &Step,
        kind: GateKind,
        choices: Vec<Choice>,
        error: Option<String>,
    ) -> GateRequest {
        GateRequest {
            id: step.id.value.clone(),
            kind,
            title: self.vars.render(&step.title),
            message: None,
            destructive: false,
            confirm: None,
            commands: vec![self.step_command(step)],
            checklist: Vec::new(),
            choices,
            production: self.runbook.targets.production,
            error,
            follow: None,
            approvals: 1,
        }
    }

    pub(super) fn already_approved(&self, gate: &str) -> bool {
        self.replay.approved.get(gate) == Some(&Choice::Approve)
    }

    /// What a step asks to be typed at a masked prompt (a `secrets.put` with `prompt`), and
    /// what its failure is called (`secrets.put ID`).
    pub(super) fn value_request(&self, step: &Step) -> Option<(ValueRequest, String)> {
        let action = step.run.as_ref()?.aws()?.filled(&|s| self.vars.render(s));
        let crate::runbook::aws::AwsAction::SecretsPut(put) = &action else {
            return None;
        };
        let prompt = put.prompt.clone()?;
        let what = format!("{} {}", action.key(), put.id);
        Some((
            ValueRequest {
                step: step.id.value.clone(),
                prompt,
                purpose: what.clone(),
            },
            what,
        ))
    }

    /// Asks the view for a value typed at a masked prompt and waits for it. The value is masked
    /// from then on, like a secret variable's; it is never journaled nor kept past the step.
    pub(super) async fn ask_value(&mut self, req: ValueRequest) -> Result<Secret, Unanswered> {
        // Nothing sent before the prompt opened answers it.
        while let Ok(cmd) = self.commands.try_recv() {
            match self.aside(cmd).await {
                Ok(Some(Command::Abort)) => self.aborted = true,
                Ok(_) => {}
                Err(e) => return Err(Unanswered::No(e.to_string())),
            }
        }
        if self.aborted {
            return Err(Unanswered::Aborted);
        }
        self.emit(Event::ValueRequested(req.clone())).await;
        loop {
            let cmd = if self.commands_open {
                self.commands.recv().await
            } else {
                None
            };
            let cmd = match cmd {
                Some(c) => match self.aside(c).await {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => continue,
                    Err(e) => return Err(Unanswered::No(e.to_string())),
                },
                None => None,
            };
            match cmd {
                None => {
                    self.commands_open = false;
                    return Err(Unanswered::No(
                        "needs a value typed at a prompt; no one is there to type it".into(),
                    ));
                }
                Some(Command::Abort) => {
                    self.aborted = true;
                    return Err(Unanswered::Aborted);
                }
                Some(Command::Pause(reason)) => return Err(Unanswered::No(reason)),
                Some(Command::Decide(d)) => {
                    self.emit(Event::DecisionRefused {
                        gate: d.gate,
                        reason: "no gate is open (a value is being asked for)".into(),
                    })
                    .await;
                }
                Some(Command::Value { step, value }) if step == req.step => {
                    return match value {
                        Ok(v) => {
                            self.vars.mask_value(&v.0);
                            Ok(v)
                        }
                        Err(why) => Err(Unanswered::No(why)),
                    };
                }
                // An answer to an earlier prompt; the rest taken by `aside` above.
                Some(_) => {}
            }
        }
    }
}

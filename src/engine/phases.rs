//! The run loop: phases in order, each behind its gate, then its steps; what is skipped, and how
//! each phase and step is marked finished.
use std::time::Duration;

use super::gates::AtGate;
use super::outcome::{Attempt, EngineError, Flow, Outcome};
use super::rehearsal::Rehearsed;
use super::state::Engine;
use super::transition::Transition;
use crate::exec::BoxFuture;
use crate::protocol::{
    ChecklistItem, Choice, Deadline, Event, GateKind, GateRequest, OutputLine, RunStatus,
    StepStatus,
};
use crate::runbook::{Gate, Phase, Step};

impl Engine {
    /// Runs (or resumes) to the end, a pause at a gate, or an abort.
    pub async fn run(mut self) -> Result<Outcome, EngineError> {
        if self.resumed {
            for (k, v) in self.replay.vars.clone() {
                if self.vars.get(&k).is_none() {
                    self.vars.set(&k, v, false);
                }
            }
            // The past first, so every view shows what this session goes on from.
            self.emit(Event::History(self.history())).await;
            for name in self.replay.secret_captures.clone() {
                self.emit(Event::Note(format!(
                    "secret `{name}` captured before the restart is not kept; steps that need it must capture it again"
                )))
                .await;
            }
            self.replay.same_runbook(
                self.journal.path(),
                &self.runbook_path,
                &self.digest,
                self.accept_change_via.is_some(),
            )?;
            if self.digest != self.replay.digest
                && let Some(via) = self.accept_change_via.clone()
            {
                let note = format!(
                    "{} changed since this run last ran it (digest {})",
                    self.runbook_path.display(),
                    self.replay.digest
                );
                let (gate, who) = (self.digest.clone(), self.who.clone());
                let _ = self
                    .decided(
                        &gate,
                        GateKind::RunbookChanged,
                        Choice::Approve,
                        who,
                        via,
                        Some(note),
                        AtGate::default(),
                    )
                    .await?;
            }
            // The deadline as journaled at the first start, counted from then.
            let deadline = self.replay.deadline_secs.map(|secs| Deadline {
                secs,
                started_at: self.replay.started_at.clone(),
            });
            self.transition(Transition::RunResumed {
                runbook_name: self.runbook.name.value.clone(),
                who: self.who.clone(),
                digest: self.digest.clone(),
                deadline,
            })
            .await?;
        } else {
            self.transition(Transition::RunStarted {
                runbook_path: self.runbook_path.display().to_string(),
                runbook_name: self.runbook.name.value.clone(),
                digest: self.digest.clone(),
                vars: self.vars.public(),
                who: self.who.clone(),
                deadline: self.runbook.deadline_secs().map(|secs| Deadline {
                    secs,
                    started_at: super::journal::now_rfc3339(),
                }),
                from_run: self.from_run.clone(),
                carried: self.carried.clone(),
            })
            .await?;
            self.rehearsal_start().await?;
        }

        let rb = self.runbook.clone();
        let mut outcome = Outcome::Finished(RunStatus::Succeeded);
        for phase in rb.phases.iter().filter(|p| !p.rollback) {
            if let Flow::Stop(o) = self.run_phase(phase).await? {
                outcome = o;
                break;
            }
        }
        match &outcome {
            Outcome::Finished(status) => {
                self.transition(Transition::RunFinished { status: *status })
                    .await?;
            }
            Outcome::Paused(reason) => {
                self.transition(Transition::RunPaused {
                    reason: reason.clone(),
                })
                .await?;
            }
        }
        Ok(outcome)
    }

    pub(super) fn run_phase<'a>(
        &'a mut self,
        phase: &'a Phase,
    ) -> BoxFuture<'a, Result<Flow, EngineError>> {
        Box::pin(async move {
            let id = phase.id.value.clone();
            if matches!(
                self.replay.phases.get(&id),
                Some(StepStatus::Succeeded | StepStatus::Skipped)
            ) {
                return Ok(Flow::Next);
            }
            if self.when_false(&phase.when) || self.skipped_by_choice(&id, GateKind::Phase).await? {
                self.finish_phase(&id, StepStatus::Skipped).await?;
                return Ok(Flow::Next);
            }
            // A checklist is confirmed at a gate, even where none is written.
            let gate = phase
                .gate
                .as_ref()
                .map(|g| g.value.clone())
                .or_else(|| (!phase.checklist.is_empty()).then(Gate::default));
            if let Some(gate) = &gate
                && !self.already_approved(&id)
            {
                let target = self.failure_target(None, phase);
                let mut choices = vec![Choice::Approve, Choice::Reject];
                if phase.allow_skip {
                    choices.push(Choice::Skip);
                }
                if target.is_some() && !phase.rollback {
                    choices.push(Choice::Rollback);
                }
                let req = GateRequest {
                    id: id.clone(),
                    kind: GateKind::Phase,
                    title: self.vars.render(&phase.title),
                    message: gate.message.as_ref().map(|m| self.vars.render(m)),
                    destructive: gate.destructive,
                    confirm: gate.destructive.then(|| self.confirm_word(gate, &id)),
                    commands: phase
                        .steps
                        .iter()
                        .chain(&phase.validation)
                        .filter(|s| !self.when_false(&s.when))
                        .map(|s| self.step_command(s))
                        .collect(),
                    checklist: phase
                        .checklist
                        .iter()
                        .map(|c| ChecklistItem {
                            text: self.vars.render(&c.text),
                            command: c.command.as_ref().map(|x| self.vars.render(x)),
                        })
                        .collect(),
                    choices,
                    production: self.runbook.targets.production,
                    error: None,
                    follow: None,
                    approvals: gate.approvals_needed(self.four_eyes()),
                };
                match self.gate(req).await? {
                    Err(paused) => return Ok(Flow::Stop(paused)),
                    Ok(Choice::Approve) => {}
                    Ok(Choice::Skip) => {
                        self.finish_phase(&id, StepStatus::Skipped).await?;
                        return Ok(Flow::Next);
                    }
                    Ok(Choice::Rollback) => {
                        return self.roll_back(target, phase, RunStatus::Rejected).await;
                    }
                    Ok(Choice::Reject) => {
                        return Ok(Flow::Stop(Outcome::Finished(RunStatus::Rejected)));
                    }
                    Ok(_) => return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted))),
                }
            }
            self.transition(Transition::PhaseStarted {
                phase: id.clone(),
                title: self.vars.render(&phase.title),
                journal: self.replay.phases.get(&id) != Some(&StepStatus::Running),
            })
            .await?;
            for step in phase.steps.iter().chain(&phase.validation) {
                if let Flow::Stop(o) = self.run_step(step, phase).await? {
                    if let Outcome::Finished(s) = &o {
                        let status = if *s == RunStatus::Succeeded {
                            StepStatus::Succeeded
                        } else {
                            StepStatus::Failed
                        };
                        self.finish_phase(&id, status).await?;
                    }
                    return Ok(Flow::Stop(o));
                }
            }
            self.finish_phase(&id, StepStatus::Succeeded).await?;
            Ok(Flow::Next)
        })
    }

    pub(super) async fn finish_phase(
        &mut self,
        id: &str,
        status: StepStatus,
    ) -> Result<(), EngineError> {
        self.replay.phases.insert(id.to_string(), status);
        self.transition(Transition::PhaseFinished {
            phase: id.to_string(),
            status,
        })
        .await?;
        Ok(())
    }

    /// Records the operator's choice not to run `id` (a phase or a step), if they made it.
    pub(super) async fn skipped_by_choice(
        &mut self,
        id: &str,
        kind: GateKind,
    ) -> Result<bool, EngineError> {
        if !self.skip.contains(id) {
            return Ok(false);
        }
        let (who, via) = (self.who.clone(), self.skip_via.clone());
        let _ = self
            .decided(id, kind, Choice::Skip, who, via, None, AtGate::default())
            .await?;
        Ok(true)
    }

    /// Records a step as skipped (by its condition or the operator) and moves on.
    pub(super) async fn skip_step(&mut self, id: &str) -> Result<Flow, EngineError> {
        self.finish_step(
            id,
            StepStatus::Skipped,
            None,
            Duration::ZERO,
            None,
            Vec::new(),
        )
        .await?;
        Ok(Flow::Next)
    }

    pub(super) fn run_step<'a>(
        &'a mut self,
        step: &'a Step,
        phase: &'a Phase,
    ) -> BoxFuture<'a, Result<Flow, EngineError>> {
        Box::pin(async move {
            let id = step.id.value.clone();
            let target = self.failure_target(Some(step), phase);
            let mut pending_failure: Option<String> = None;
            let mut pending_retry = None;
            let finished = matches!(
                self.replay.steps.get(&id),
                Some(StepStatus::Succeeded | StepStatus::Skipped)
            );
            // Chosen before the run (`--skip`): even a step that failed or was interrupted.
            if !finished && self.skipped_by_choice(&id, GateKind::Step).await? {
                return self.skip_step(&id).await;
            }
            match self.replay.steps.get(&id).copied() {
                Some(StepStatus::Succeeded | StepStatus::Skipped) => return Ok(Flow::Next),
                Some(StepStatus::Interrupted) => {
                    // Never a second copy beside what the first left running.
                    if let Err(stop) = self.survivors(step).await? {
                        return Ok(Flow::Stop(stop));
                    }
                    let req = self.decision_request(
                        step,
                        GateKind::Interrupted,
                        vec![Choice::Retry, Choice::MarkDone, Choice::Abort],
                        Some("the step was running when tollgate stopped; it may or may not have finished".into()),
                    );
                    match self.gate(req).await? {
                        Err(paused) => return Ok(Flow::Stop(paused)),
                        Ok(Choice::Retry) => {}
                        Ok(Choice::MarkDone) => {
                            self.finish_step(
                                &id,
                                StepStatus::Succeeded,
                                None,
                                Duration::ZERO,
                                None,
                                Vec::new(),
                            )
                            .await?;
                            return Ok(Flow::Next);
                        }
                        Ok(_) => return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted))),
                    }
                }
                // Killed while waiting to try again: the remaining attempts are still due.
                Some(StepStatus::Failed)
                    if self
                        .replay
                        .retries
                        .get(&id)
                        .is_some_and(|p| p.next_attempt <= step.attempts()) =>
                {
                    pending_retry = self.replay.retries.remove(&id);
                }
                Some(StepStatus::Failed) => {
                    pending_failure = Some(match self.replay.errors.get(&id) {
                        Some(e) => format!("{e} (in an earlier session)"),
                        None => "the step failed in an earlier session".into(),
                    });
                }
                _ => {}
            }
            if pending_failure.is_none() && pending_retry.is_none() {
                if self.when_false(&step.when) {
                    return self.skip_step(&id).await;
                }
                if let Some(gate) = step.effective_gate()
                    && !self.already_approved(&id)
                {
                    let mut choices = vec![Choice::Approve, Choice::Reject];
                    if step.allow_skip {
                        choices.push(Choice::Skip);
                    }
                    if target.is_some() {
                        choices.push(Choice::Rollback);
                    }
                    let mut req = self.decision_request(step, GateKind::Step, choices, None);
                    req.message = gate.message.as_ref().map(|m| self.vars.render(m));
                    req.destructive = gate.destructive;
                    req.confirm = gate.destructive.then(|| self.confirm_word(&gate, &id));
                    req.approvals = gate.approvals_needed(self.four_eyes());
                    match self.gate(req).await? {
                        Err(paused) => return Ok(Flow::Stop(paused)),
                        Ok(Choice::Approve) => {}
                        Ok(Choice::Skip) => return self.skip_step(&id).await,
                        Ok(Choice::Rollback) => {
                            return self.roll_back(target, phase, RunStatus::Rejected).await;
                        }
                        Ok(Choice::Reject) => {
                            return Ok(Flow::Stop(Outcome::Finished(RunStatus::Rejected)));
                        }
                        Ok(_) => return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted))),
                    }
                }
                match self.rehearse_step(step).await? {
                    Rehearsed::Run => {}
                    Rehearsed::Skipped => return self.skip_step(&id).await,
                    Rehearsed::Fails(error) => {
                        self.finish_step(
                            &id,
                            StepStatus::Failed,
                            None,
                            Duration::ZERO,
                            Some(error.clone()),
                            Vec::new(),
                        )
                        .await?;
                        pending_failure = Some(error);
                    }
                }
            }
            loop {
                if let Some(error) = pending_failure.take() {
                    let mut choices = vec![Choice::Retry];
                    if step.allow_skip {
                        choices.push(Choice::Skip);
                    }
                    if target.is_some() {
                        choices.push(Choice::Rollback);
                    }
                    choices.push(Choice::Abort);
                    let mut req =
                        self.decision_request(step, GateKind::Failed, choices, Some(error));
                    req.follow = target
                        .as_ref()
                        .and_then(|t| t.runbook.as_ref())
                        .filter(|l| self.runbook.links.contains_key(l.as_str()))
                        .map(|l| l.value.clone());
                    match self.gate(req).await? {
                        Err(paused) => return Ok(Flow::Stop(paused)),
                        Ok(Choice::Retry) => {}
                        Ok(Choice::Skip) => return self.skip_step(&id).await,
                        Ok(Choice::Rollback) => {
                            return self.roll_back(target, phase, RunStatus::Failed).await;
                        }
                        Ok(_) => return Ok(Flow::Stop(Outcome::Finished(RunStatus::Failed))),
                    }
                }
                match self.attempts(step, pending_retry.take()).await? {
                    Attempt::Ok => return Ok(Flow::Next),
                    Attempt::Aborted => {
                        return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted)));
                    }
                    Attempt::Failed(error) => pending_failure = Some(error),
                }
            }
        })
    }

    pub(super) async fn finish_step(
        &mut self,
        id: &str,
        status: StepStatus,
        exit_code: Option<i32>,
        duration: Duration,
        error: Option<String>,
        last: Vec<OutputLine>,
    ) -> Result<(), EngineError> {
        let masker = self.vars.masker();
        let error = error.map(|e| masker.mask(&e).into_owned());
        // Masked again with what is known now (a secret the step itself read): the journal
        // keeps these lines.
        let last = if status == StepStatus::Failed {
            last.into_iter()
                .map(|l| OutputLine {
                    stream: l.stream,
                    text: masker.mask(&l.text).into_owned(),
                })
                .collect()
        } else {
            Vec::new()
        };
        self.transition(Transition::StepFinished {
            step: id.to_string(),
            status,
            exit_code,
            duration,
            error,
            last,
        })
        .await?;
        self.replay.steps.insert(id.to_string(), status);
        Ok(())
    }
}

//! The run as a state machine: phases → gates → steps, emitting events for any view.
//!
//! Nothing advances past a gate without a [`Decision`] for that exact gate arriving on the command
//! channel; every decision is journaled (fsync'ed) before the engine acts on it. Views consume
//! [`Event`]s and send [`Command`]s; they never touch run state.

pub mod capture;
pub mod context;
pub mod journal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::exec::{AwsCall, Executor, Job, KubeCall, OutputSink};
pub use crate::protocol::{
    ChecklistItem, Choice, Command, Decision, Event, GateKind, GateRequest, RunStatus, Secret,
    StepStatus, Stream, ValueRequest,
};
use crate::runbook::aws::AwsAction;
use crate::runbook::kube::KubeAction;
use crate::runbook::{Gate, OnFailure, Phase, Runbook, Step, vars};
use context::Vars;
use journal::{Journal, JournalError, Record, Replay};

/// How a run ended: finished with a status, or paused at a gate (resumable).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Finished(RunStatus),
    Paused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
}

enum Flow {
    Next,
    Stop(Outcome),
}

/// Why a prompt got no value.
enum Unanswered {
    Aborted,
    /// The view could not ask, or the person declined: the reason.
    No(String),
}

/// Everything a run needs to start or resume.
pub struct RunSpec {
    pub runbook: Arc<Runbook>,
    pub runbook_path: PathBuf,
    pub digest: String,
    pub run_id: String,
    pub vars: Vars,
    pub journal: Journal,
    pub replay: Option<Replay>,
    pub who: String,
}

pub struct Engine {
    rb: Arc<Runbook>,
    dir: PathBuf,
    run_id: String,
    vars: Vars,
    journal: Journal,
    replay: Replay,
    resumed: bool,
    who: String,
    runbook_path: PathBuf,
    digest: String,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    executor: Arc<dyn Executor>,
    /// Set when the operator aborts while no gate is open.
    aborted: bool,
    /// What each step changed (from the journal and this session), for `kube.revert`,
    /// `secrets.revert` and undo.
    changes: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
    /// Phases and steps the operator chose not to run (`--skip`).
    skip: std::collections::BTreeSet<String>,
    skip_via: String,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new run id: time-ordered, unique enough for one operator's machine.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos();
    let mix = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{mix:04x}", now.format("%Y%m%d-%H%M%S"))
}

impl Engine {
    pub fn new(
        spec: RunSpec,
        executor: Arc<dyn Executor>,
        events: mpsc::Sender<Event>,
        commands: mpsc::Receiver<Command>,
    ) -> Engine {
        let dir = spec
            .runbook_path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let mut vars = spec.vars;
        vars.set("run_id", spec.run_id.clone(), false);
        vars.set("runbook_dir", dir.display().to_string(), false);
        vars.set("runbook_name", spec.runbook.name.value.clone(), false);
        let resumed = spec.replay.is_some();
        let changes = spec
            .replay
            .as_ref()
            .map(|r| r.changes.clone())
            .unwrap_or_default();
        Engine {
            rb: spec.runbook,
            dir,
            run_id: spec.run_id,
            vars,
            journal: spec.journal,
            replay: spec.replay.unwrap_or_default(),
            resumed,
            who: spec.who,
            runbook_path: spec.runbook_path,
            digest: spec.digest,
            events,
            commands,
            commands_open: true,
            executor,
            aborted: false,
            changes,
            skip: Default::default(),
            skip_via: String::new(),
        }
    }

    /// Phases and steps not to run: each is journaled as skipped, with who chose it and `via`
    /// (e.g. `--skip`) as a decision, when the run reaches it. Ids the runbook lacks are ignored
    /// (the caller checks them).
    pub fn skipping(mut self, ids: impl IntoIterator<Item = String>, via: &str) -> Engine {
        self.skip = ids.into_iter().collect();
        self.skip_via = via.to_string();
        self
    }

    /// Records the operator's choice not to run `id` (a phase or a step), if they made it.
    async fn skipped_by_choice(&mut self, id: &str, kind: GateKind) -> Result<bool, EngineError> {
        if !self.skip.contains(id) {
            return Ok(false);
        }
        let (who, via) = (self.who.clone(), self.skip_via.clone());
        let _ = self.decided(id, kind, Choice::Skip, who, via, None).await?;
        Ok(true)
    }

    async fn emit(&self, ev: Event) {
        let _ = self.events.send(ev).await;
    }

    /// Journals a transition that something is about to act on: written and fsync'ed now.
    fn record(&mut self, r: Record) -> Result<(), EngineError> {
        Ok(self.journal.append(r)?)
    }

    /// Journals a transition nothing acts on by itself (a phase starting or ending, a gate
    /// opening, the run starting): written now, made durable by the fsync of the next record,
    /// which always comes before the engine does anything else (starts a step, acts on a
    /// decision, ends the run).
    fn record_lazily(&mut self, r: Record) -> Result<(), EngineError> {
        Ok(self.journal.append_unsynced(r)?)
    }

    /// Runs (or resumes) to the end, a pause at a gate, or an abort.
    pub async fn run(mut self) -> Result<Outcome, EngineError> {
        if self.resumed {
            for name in self.replay.secret_captures.clone() {
                self.emit(Event::Note(format!(
                    "secret `{name}` captured before the restart is not kept; steps that need it must capture it again"
                )))
                .await;
            }
            for (k, v) in self.replay.vars.clone() {
                if self.vars.get(&k).is_none() {
                    self.vars.set(&k, v, false);
                }
            }
            self.record_lazily(Record::RunResumed {
                who: self.who.clone(),
                digest: self.digest.clone(),
            })?;
            tracing::info!(target: "audit", run_id = %self.run_id, who = %self.who, "run resumed");
        } else {
            self.record_lazily(Record::RunStarted {
                run_id: self.run_id.clone(),
                runbook: self.runbook_path.display().to_string(),
                runbook_name: self.rb.name.value.clone(),
                digest: self.digest.clone(),
                vars: self.vars.public(),
                who: self.who.clone(),
            })?;
            tracing::info!(target: "audit", run_id = %self.run_id, runbook = %self.runbook_path.display(), who = %self.who, "run started");
        }
        self.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            runbook: self.rb.name.value.clone(),
            resumed: self.resumed,
        })
        .await;

        let rb = self.rb.clone();
        let mut outcome = Outcome::Finished(RunStatus::Succeeded);
        for phase in rb.phases.iter().filter(|p| !p.rollback) {
            if let Flow::Stop(o) = self.run_phase(phase).await? {
                outcome = o;
                break;
            }
        }
        match &outcome {
            Outcome::Finished(status) => {
                self.record(Record::RunFinished { status: *status })?;
                tracing::info!(target: "audit", run_id = %self.run_id, status = ?status, "run finished");
                self.emit(Event::RunFinished { status: *status }).await;
            }
            Outcome::Paused(reason) => {
                self.record(Record::RunPaused {
                    reason: reason.clone(),
                })?;
                tracing::info!(target: "audit", run_id = %self.run_id, reason = %reason, "run paused");
                self.emit(Event::RunPaused {
                    reason: reason.clone(),
                })
                .await;
            }
        }
        Ok(outcome)
    }

    fn when_false(&self, when: &Option<crate::runbook::Spanned<String>>) -> bool {
        match when {
            None => false,
            Some(w) => match vars::parse_when(w) {
                Ok(expr) => !expr.eval(&self.vars.all()),
                Err(_) => false,
            },
        }
    }

    fn failure_target(&self, step: Option<&Step>, phase: &Phase) -> Option<OnFailure> {
        step.and_then(|s| s.on_failure.as_ref())
            .or(phase.on_failure.as_ref())
            .or(self.rb.on_failure.as_ref())
            .map(|f| f.value.clone())
    }

    fn confirm_word(&self, gate: &Gate, owner: &str) -> String {
        gate.confirm
            .as_ref()
            .map(|c| self.vars.render(c))
            .or_else(|| self.rb.targets.environment.clone())
            .unwrap_or_else(|| owner.to_string())
    }

    fn step_command(&self, step: &Step) -> String {
        let Some(run) = step.run.as_ref() else {
            return String::new();
        };
        if let Some(action) = run.kube() {
            let ns = self
                .rb
                .targets
                .kube
                .as_ref()
                .and_then(|k| k.namespace.clone())
                .unwrap_or_else(|| "default".into());
            return self.render_action(action).describe(&ns);
        }
        if let Some(action) = run.aws() {
            return action.filled(&|s| self.vars.render(s)).describe();
        }
        if let Some(action) = run.docker() {
            return action.filled(&|s| self.vars.render(s)).describe();
        }
        run.script()
            .map(|s| self.vars.render(s))
            .unwrap_or_default()
    }

    /// What step `step` of another run changed, from that run's journal (read, not locked: the
    /// run may be live in another tollgate). Nothing when there is no such run or step.
    fn changes_of_run(&self, run: &str, step: &str) -> Vec<serde_json::Value> {
        // Journals are STATE/runs/ID/journal.jsonl: the other run is a sibling folder.
        let Some(runs) = self.journal.path().parent().and_then(|d| d.parent()) else {
            return Vec::new();
        };
        if run.contains('/') || run.contains("..") {
            return Vec::new();
        }
        let path = runs.join(run).join("journal.jsonl");
        match journal::read_lines(&path) {
            Ok((lines, _)) => Replay::from_lines(&lines)
                .changes
                .remove(step)
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// What the step a revert names changed, oldest first: from this run, or from the journal of
    /// the run it names.
    fn reverting(&self, r: &crate::runbook::Revert) -> Vec<serde_json::Value> {
        match r.run.as_deref().filter(|x| !x.is_empty()) {
            Some(run) => self.changes_of_run(run, &r.step),
            None => self.changes.get(&r.step).cloned().unwrap_or_default(),
        }
    }

    /// A `kube.*` action with its strings filled from the variables.
    fn render_action(&self, action: &KubeAction) -> KubeAction {
        action.filled(&|s| vars::render(s, |n| self.vars.get(n).map(|x| x.value.clone())))
    }

    fn run_phase<'a>(
        &'a mut self,
        phase: &'a Phase,
    ) -> crate::exec::BoxFuture<'a, Result<Flow, EngineError>> {
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
                    production: self.rb.targets.production,
                    error: None,
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
            if self.replay.phases.get(&id) != Some(&StepStatus::Running) {
                self.record_lazily(Record::PhaseStarted { phase: id.clone() })?;
            }
            self.emit(Event::PhaseStarted {
                phase: id.clone(),
                title: self.vars.render(&phase.title),
            })
            .await;
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

    async fn finish_phase(&mut self, id: &str, status: StepStatus) -> Result<(), EngineError> {
        self.record_lazily(Record::PhaseFinished {
            phase: id.to_string(),
            status,
        })?;
        self.replay.phases.insert(id.to_string(), status);
        self.emit(Event::PhaseFinished {
            phase: id.to_string(),
            status,
        })
        .await;
        Ok(())
    }

    fn already_approved(&self, gate: &str) -> bool {
        self.replay.approved.get(gate) == Some(&Choice::Approve)
    }

    async fn finish_step(
        &mut self,
        id: &str,
        status: StepStatus,
        exit_code: Option<i32>,
        duration: Duration,
        error: Option<String>,
    ) -> Result<(), EngineError> {
        let error = error.map(|e| self.vars.masker().mask(&e).into_owned());
        self.record(Record::StepFinished {
            step: id.to_string(),
            status,
            exit_code,
            duration_ms: duration.as_millis() as u64,
            error: error.clone(),
        })?;
        tracing::info!(target: "audit", run_id = %self.run_id, step = %id, status = ?status, exit_code = ?exit_code, "step finished");
        self.replay.steps.insert(id.to_string(), status);
        self.emit(Event::StepFinished {
            step: id.to_string(),
            status,
            exit_code,
            duration,
            error,
        })
        .await;
        Ok(())
    }

    /// Records a step as skipped (by its condition or the operator) and moves on.
    async fn skip_step(&mut self, id: &str) -> Result<Flow, EngineError> {
        self.finish_step(id, StepStatus::Skipped, None, Duration::ZERO, None)
            .await?;
        Ok(Flow::Next)
    }

    fn run_step<'a>(
        &'a mut self,
        step: &'a Step,
        phase: &'a Phase,
    ) -> crate::exec::BoxFuture<'a, Result<Flow, EngineError>> {
        Box::pin(async move {
            let id = step.id.value.clone();
            let target = self.failure_target(Some(step), phase);
            let mut pending_failure: Option<String> = None;
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
                            )
                            .await?;
                            return Ok(Flow::Next);
                        }
                        Ok(_) => return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted))),
                    }
                }
                Some(StepStatus::Failed) => {
                    pending_failure = Some("the step failed in an earlier session".into());
                }
                _ => {}
            }
            if pending_failure.is_none() {
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
                    let req = self.decision_request(step, GateKind::Failed, choices, Some(error));
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
                match self.attempts(step).await? {
                    Attempt::Ok => return Ok(Flow::Next),
                    Attempt::Aborted => {
                        return Ok(Flow::Stop(Outcome::Finished(RunStatus::Aborted)));
                    }
                    Attempt::Failed(error) => pending_failure = Some(error),
                }
            }
        })
    }

    fn decision_request(
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
            production: self.rb.targets.production,
            error,
        }
    }

    /// Runs the failure path: its steps, then the rollback phase it names.
    async fn roll_back(
        &mut self,
        target: Option<OnFailure>,
        phase: &Phase,
        otherwise: RunStatus,
    ) -> Result<Flow, EngineError> {
        let Some(target) = target else {
            return Ok(Flow::Stop(Outcome::Finished(otherwise)));
        };
        let rb = self.rb.clone();
        let holder = Phase::default();
        let mut steps: Vec<Step> = target.steps.iter().map(|s| s.value.clone()).collect();
        if target.undo {
            // Reverse what this phase already did, newest first.
            let done = phase
                .steps
                .iter()
                .chain(&phase.validation)
                .rev()
                .filter(|s| self.replay.steps.get(s.id.as_str()) == Some(&StepStatus::Succeeded));
            let undos: Vec<Step> = done
                .filter_map(|s| {
                    // A step that journaled its changes, with no `undo` of its own, is undone
                    // by putting them back with the revert action of its family (`kube.revert`,
                    // `secrets.revert`).
                    let run = s.undo.clone().or_else(|| {
                        let run = s.run.as_ref()?;
                        let by = run.reverted_by()?;
                        self.changes.contains_key(s.id.as_str()).then(|| {
                            let revert = crate::runbook::Revert {
                                step: s.id.value.clone(),
                                run: None,
                            };
                            crate::runbook::Spanned::new(
                                run.pos,
                                crate::runbook::Run::of(crate::runbook::Action::reverting(
                                    by, revert,
                                )),
                            )
                        })
                    })?;
                    Some(Step {
                        id: crate::runbook::Spanned::new(s.id.pos, format!("{}.undo", s.id.value)),
                        title: format!(
                            "Undo: {}",
                            if s.title.is_empty() {
                                &s.id.value
                            } else {
                                &s.title
                            }
                        ),
                        run: Some(run),
                        ..Step::default()
                    })
                })
                .collect();
            steps.splice(0..0, undos);
        }
        for s in &steps {
            match self.run_step(s, &holder).await? {
                Flow::Next => {}
                Flow::Stop(Outcome::Paused(p)) => return Ok(Flow::Stop(Outcome::Paused(p))),
                Flow::Stop(_) => break,
            }
        }
        if let Some(link) = &target.runbook {
            let path = rb
                .links
                .get(link.as_str())
                .map(|p| self.dir.join(p.as_str()));
            if let Some(path) = path {
                self.emit(Event::Note(format!(
                    "follow the runbook `{}`: tollgate run {}",
                    link.value,
                    path.display()
                )))
                .await;
            }
        }
        if let Some(goto) = &target.goto
            && let Some(phase) = rb.phases.iter().find(|p| p.id.value == goto.value)
        {
            self.emit(Event::Note(format!("rolling back: phase `{}`", goto.value)))
                .await;
            return match self.run_phase(phase).await? {
                Flow::Next => Ok(Flow::Stop(Outcome::Finished(RunStatus::RolledBack))),
                Flow::Stop(Outcome::Paused(p)) => Ok(Flow::Stop(Outcome::Paused(p))),
                Flow::Stop(_) => Ok(Flow::Stop(Outcome::Finished(RunStatus::Failed))),
            };
        }
        Ok(Flow::Stop(Outcome::Finished(otherwise)))
    }

    /// Opens a gate and waits for a decision that fits it. `Ok(Err(..))` means paused.
    async fn gate(&mut self, req: GateRequest) -> Result<Result<Choice, Outcome>, EngineError> {
        // Nothing decided before the gate opened counts.
        while let Ok(cmd) = self.commands.try_recv() {
            if cmd == Command::Abort {
                self.aborted = true;
            }
        }
        self.record_lazily(Record::GateReached {
            gate: req.id.clone(),
            kind: req.kind,
        })?;
        tracing::info!(target: "audit", run_id = %self.run_id, gate = %req.id, kind = ?req.kind, "gate reached");
        if self.aborted {
            return self
                .decided(
                    &req.id,
                    req.kind,
                    Choice::Abort,
                    self.who.clone(),
                    "abort".into(),
                    None,
                )
                .await;
        }
        self.emit(Event::GateReached(req.clone())).await;
        loop {
            let cmd = if self.commands_open {
                self.commands.recv().await
            } else {
                None
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
                Some(Command::Abort) => {
                    return self
                        .decided(
                            &req.id,
                            req.kind,
                            Choice::Abort,
                            self.who.clone(),
                            "abort".into(),
                            None,
                        )
                        .await;
                }
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
                    return self
                        .decided(&req.id, req.kind, d.choice, d.who, d.via, d.note)
                        .await;
                }
            }
        }
    }

    /// Journals, audits and announces a decision on gate `id` (or a choice made before the run,
    /// such as `--skip`).
    async fn decided(
        &mut self,
        id: &str,
        kind: GateKind,
        choice: Choice,
        who: String,
        via: String,
        note: Option<String>,
    ) -> Result<Result<Choice, Outcome>, EngineError> {
        self.record(Record::GateDecided {
            gate: id.to_string(),
            kind,
            choice,
            who: who.clone(),
            via: via.clone(),
            note: note.clone(),
        })?;
        tracing::info!(target: "audit", run_id = %self.run_id, gate = %id, kind = ?kind, choice = choice.word(), who = %who, via = %via, note = ?note, "gate decided");
        if matches!(kind, GateKind::Phase | GateKind::Step) {
            self.replay.approved.insert(id.to_string(), choice);
        }
        self.emit(Event::GateDecided {
            gate: id.to_string(),
            choice,
            who,
            via,
        })
        .await;
        Ok(Ok(choice))
    }

    fn job(&self, step: &Step) -> Job {
        let run = step
            .run
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default();
        let keep = if !step.capture.is_empty()
            || step.expect.output_contains.is_some()
            || step.expect.output_not_contains.is_some()
            || step.expect.output_matches.is_some()
        {
            16 * 1024 * 1024
        } else {
            0
        };
        let mut env = self.vars.env();
        for (k, v) in &run.env {
            // Env values may name secrets: they are filled from the real values here and only
            // ever reach the process environment.
            let value = vars::render(v, |n| self.vars.get(n).map(|x| x.value.clone()));
            env.push((k.clone(), value));
        }
        env.push(("TOLLGATE_RUN_ID".into(), self.run_id.clone()));
        env.push(("TOLLGATE_STEP".into(), step.id.value.clone()));
        Job {
            step: step.id.value.clone(),
            script: vars::render(run.script().unwrap_or_default(), |n| {
                self.vars.get(n).map(|x| x.value.clone())
            }),
            interpreter: run.interpreter.clone(),
            workdir: match &run.workdir {
                Some(w) => self.dir.join(self.vars.render(w)),
                None => self.dir.clone(),
            },
            env,
            timeout: step
                .expect
                .timeout
                .as_ref()
                .and_then(|t| vars::parse_duration(t).ok()),
            keep_stdout: keep,
            kube: run.kube().map(|action| {
                let action = self.render_action(action);
                let reverting = match &action {
                    KubeAction::Revert(r) => self.reverting(r),
                    _ => Vec::new(),
                };
                KubeCall {
                    action,
                    target_namespace: self
                        .rb
                        .targets
                        .kube
                        .as_ref()
                        .and_then(|k| k.namespace.clone()),
                    reverting,
                    started: chrono::Utc::now(),
                }
            }),
            aws: run.aws().map(|action| {
                // Names and files are filled from variables (never secret ones: `check` refuses
                // them); the value a step stores comes from the variable `from_var` names (secret
                // or not), passed as a `Secret`: the step never prints it.
                let action = action
                    .filled(&|s| vars::render(s, |n| self.vars.get(n).map(|x| x.value.clone())));
                let secret_values = action
                    .reads_var()
                    .and_then(|n| {
                        self.vars
                            .get(n)
                            .map(|v| (n.to_string(), crate::exec::Secret(v.value.clone())))
                    })
                    .into_iter()
                    .collect();
                let reverting = match &action {
                    AwsAction::SecretsRevert(r) => self.reverting(r),
                    _ => Vec::new(),
                };
                AwsCall {
                    action,
                    secret_values,
                    reverting,
                }
            }),
            docker: run.docker().map(|action| {
                // Contexts, tags and args are filled from (non-secret) variables; a registry
                // password comes from the secret variable the push names, passed as such.
                let action = action
                    .filled(&|s| vars::render(s, |n| self.vars.get(n).map(|x| x.value.clone())));
                let secrets = action
                    .secret_vars()
                    .into_iter()
                    .filter_map(|n| self.vars.get(n).map(|v| (n.to_string(), v.value.clone())))
                    .collect();
                crate::exec::docker::DockerCall {
                    action,
                    secrets,
                    workdir: match &run.workdir {
                        Some(w) => self.dir.join(self.vars.render(w)),
                        None => self.dir.clone(),
                    },
                }
            }),
        }
    }

    async fn attempts(&mut self, step: &Step) -> Result<Attempt, EngineError> {
        let id = step.id.value.clone();
        let max = step.attempts();
        let retries = step.retries.as_ref();
        let mut delay = retries
            .and_then(|r| r.delay.as_ref())
            .and_then(|d| vars::parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(1));
        let backoff = retries.and_then(|r| r.backoff).unwrap_or(2.0);
        let first = self.replay.attempts.get(&id).copied().unwrap_or(0);
        let mut last_error = String::new();
        // A value typed at a prompt serves this step's retries; a retry chosen at the failure
        // gate asks again.
        let mut typed: Option<Secret> = None;
        for attempt in 1..=max {
            self.record(Record::StepStarted {
                step: id.clone(),
                attempt: first + attempt,
            })?;
            self.emit(Event::StepStarted {
                step: id.clone(),
                title: self.vars.render(&step.title),
                attempt,
                attempts: max,
                command: self
                    .vars
                    .masker()
                    .mask(&self.step_command(step))
                    .into_owned(),
            })
            .await;
            let started = Instant::now();
            if typed.is_none()
                && let Some((req, what)) = self.value_request(step)
            {
                match self.ask_value(req).await {
                    Ok(value) => typed = Some(value),
                    Err(why) => {
                        let (error, attempt) = match why {
                            Unanswered::Aborted => {
                                ("aborted by the operator".to_string(), Attempt::Aborted)
                            }
                            Unanswered::No(why) => {
                                let e = format!("{what}: {why}");
                                (e.clone(), Attempt::Failed(e))
                            }
                        };
                        self.finish_step(
                            &id,
                            StepStatus::Failed,
                            None,
                            started.elapsed(),
                            Some(error),
                        )
                        .await?;
                        // Not retried by itself: nothing was tried.
                        return Ok(attempt);
                    }
                }
            }
            let mut job = self.job(step);
            if let (Some(value), Some(call)) = (&typed, job.aws.as_mut()) {
                call.secret_values
                    .push((crate::exec::TYPED.to_string(), value.clone()));
            }
            let sink = OutputSink {
                step: id.clone(),
                events: self.events.clone(),
                masker: self.vars.masker().clone(),
                hold_stdout: step.capture.iter().any(|c| c.secret),
            };
            let (cancel_tx, cancel_rx) = watch::channel(false);
            let executor = self.executor.clone();
            let exec = executor.execute(&job, &sink, cancel_rx);
            tokio::pin!(exec);
            let outcome = loop {
                tokio::select! {
                    o = &mut exec => break o,
                    cmd = self.commands.recv(), if self.commands_open => match cmd {
                        None => self.commands_open = false,
                        Some(Command::Abort) => {
                            self.aborted = true;
                            let _ = cancel_tx.send(true);
                        }
                        Some(Command::Decide(d)) => {
                            self.emit(Event::DecisionRefused {
                                gate: d.gate,
                                reason: "no gate is open".into(),
                            })
                            .await;
                        }
                        Some(Command::Pause(_) | Command::Value { .. }) => {}
                    },
                }
            };
            let duration = started.elapsed();
            // Secret values the step read: into the mask first, before anything else is shown.
            self.set_secrets(&outcome.secrets).await?;
            for change in &outcome.changes {
                tracing::info!(target: "audit", run_id = %self.run_id, step = %id, change = %change, "changed");
                self.record(Record::Changed {
                    step: id.clone(),
                    change: change.clone(),
                })?;
                self.changes
                    .entry(id.clone())
                    .or_default()
                    .push(change.clone());
            }
            let verdict = self.judge(step, &outcome);
            let held = sink.hold_stdout;
            match verdict {
                Ok(()) => {
                    let captured = self.capture(step, &outcome.stdout).await;
                    if held {
                        self.show_held(&id, &outcome.stdout).await;
                    }
                    match captured {
                        Ok(()) => {
                            self.finish_step(
                                &id,
                                StepStatus::Succeeded,
                                outcome.exit_code,
                                duration,
                                None,
                            )
                            .await?;
                            return Ok(Attempt::Ok);
                        }
                        Err(e) => last_error = e,
                    }
                }
                Err(e) => {
                    if held {
                        self.show_held(&id, &outcome.stdout).await;
                    }
                    last_error = e;
                }
            }
            self.finish_step(
                &id,
                StepStatus::Failed,
                outcome.exit_code,
                duration,
                Some(last_error.clone()),
            )
            .await?;
            if outcome.cancelled || self.aborted {
                return Ok(Attempt::Aborted);
            }
            if attempt < max {
                self.emit(Event::RetryScheduled {
                    step: id.clone(),
                    next_attempt: attempt + 1,
                    delay,
                })
                .await;
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        cmd = self.commands.recv(), if self.commands_open => match cmd {
                            None => self.commands_open = false,
                            Some(Command::Abort) => return Ok(Attempt::Aborted),
                            Some(_) => {}
                        },
                    }
                }
                delay = Duration::from_secs_f64((delay.as_secs_f64() * backoff).min(300.0));
            }
        }
        Ok(Attempt::Failed(last_error))
    }

    /// What a step asks to be typed at a masked prompt (a `secrets.put` with `prompt`), and
    /// what its failure is called (`secrets.put ID`).
    fn value_request(&self, step: &Step) -> Option<(ValueRequest, String)> {
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
    async fn ask_value(&mut self, req: ValueRequest) -> Result<Secret, Unanswered> {
        // Nothing sent before the prompt opened answers it.
        while let Ok(cmd) = self.commands.try_recv() {
            if cmd == Command::Abort {
                self.aborted = true;
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
                // An answer to an earlier prompt.
                Some(Command::Value { .. }) => {}
            }
        }
    }

    /// Shows the stdout of a step that captured a secret, with the secret masked.
    async fn show_held(&self, id: &str, stdout: &str) {
        if !stdout.is_empty() {
            let text = self.vars.masker().mask(stdout).into_owned();
            self.emit(Event::Output {
                step: id.to_string(),
                stream: Stream::Stdout,
                text,
            })
            .await;
        }
    }

    fn judge(&self, step: &Step, o: &crate::exec::Outcome) -> Result<(), String> {
        if let Some(e) = &o.error {
            return Err(e.clone());
        }
        if o.cancelled {
            return Err("aborted by the operator".into());
        }
        if o.timed_out {
            let t = step.expect.timeout.as_ref().map_or("", |t| t.as_str());
            return Err(format!("timed out after {t}"));
        }
        let expected = step.expect.exit_code.unwrap_or(0);
        match (o.exit_code, o.signal) {
            (Some(c), _) if c != expected => {
                return Err(format!("exit code {c}, expected {expected}"));
            }
            (None, Some(sig)) => return Err(format!("killed by signal {sig}")),
            _ => {}
        }
        let e = &step.expect;
        if let Some(s) = &e.output_contains {
            let s = self.vars.render(s);
            if !o.stdout.contains(&s) {
                return Err(format!("output does not contain `{s}`"));
            }
        }
        if let Some(s) = &e.output_not_contains {
            let s = self.vars.render(s);
            if o.stdout.contains(&s) {
                return Err(format!("output contains `{s}`"));
            }
        }
        if let Some(re) = &e.output_matches {
            let ok = regex::Regex::new(re).map(|r| r.is_match(&o.stdout));
            if ok != Ok(true) {
                return Err(format!("output does not match `{}`", re.value));
            }
        }
        Ok(())
    }

    /// Sets the secret variables a step read (e.g. `secrets.get`): masked from now on, journaled
    /// as set without their value.
    async fn set_secrets(
        &mut self,
        secrets: &[(String, crate::exec::Secret)],
    ) -> Result<(), EngineError> {
        for (name, value) in secrets {
            self.vars.set(name, value.0.clone(), true);
        }
        for (name, _) in secrets {
            self.record(Record::VarCaptured {
                name: name.clone(),
                value: None,
                secret: true,
            })?;
            self.emit(Event::VarCaptured {
                name: name.clone(),
                shown: context::MASK.to_string(),
            })
            .await;
        }
        Ok(())
    }

    async fn capture(&mut self, step: &Step, stdout: &str) -> Result<(), String> {
        for cap in &step.capture {
            let value = capture::extract(cap, stdout)?;
            let secret = cap.secret || self.vars.get(&cap.var).is_some_and(|v| v.secret);
            self.vars.set(&cap.var, value.clone(), secret);
            let record = Record::VarCaptured {
                name: cap.var.value.clone(),
                value: (!secret).then(|| value.clone()),
                secret,
            };
            self.journal.append(record).map_err(|e| e.to_string())?;
            let shown = if secret {
                context::MASK.to_string()
            } else {
                value
            };
            self.emit(Event::VarCaptured {
                name: cap.var.value.clone(),
                shown,
            })
            .await;
        }
        Ok(())
    }
}

enum Attempt {
    Ok,
    Failed(String),
    Aborted,
}

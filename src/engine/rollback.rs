//! The failure path: a step's or phase's `on_failure` (undo what the phase did, run its steps,
//! go to a rollback phase), and what an earlier step (of this run or another) changed.

use std::path::Path;

use super::journal::{self, Replay};
use super::outcome::{EngineError, Flow, Outcome};
use super::state::Engine;
use crate::exec::Journaled;
use crate::protocol::{Event, RunStatus, StepStatus};
use crate::runbook::{OnFailure, Phase, Runbook, Step};

impl Engine {
    /// Runs the failure path: its steps, then the rollback phase it names.
    pub(super) async fn roll_back(
        &mut self,
        target: Option<OnFailure>,
        phase: &Phase,
        otherwise: RunStatus,
    ) -> Result<Flow, EngineError> {
        let Some(target) = target else {
            return Ok(Flow::Stop(Outcome::Finished(otherwise)));
        };
        let rb = self.runbook.clone();
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
                self.emit(Event::FollowRunbook {
                    name: link.value.clone(),
                    command: format!("tollgate run {}", path.display()),
                })
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

    pub(super) fn failure_target(&self, step: Option<&Step>, phase: &Phase) -> Option<OnFailure> {
        step.and_then(|s| s.on_failure.as_ref())
            .or(phase.on_failure.as_ref())
            .or(self.runbook.on_failure.as_ref())
            .map(|f| f.value.clone())
    }

    /// What the step a revert names changed, oldest first: from this run, or from the journal of
    /// the run it names; or that the step, one of that run's runbook, did not run in it (skipped
    /// by its `when` or by the operator, or never reached). Refused, in one line, when the revert
    /// names no step, a run that is not there, or a step that run's runbook does not have; and
    /// when that run was a rehearsal against stand-ins and this one is not, or the other way
    /// round: what one changed is not on the other's target.
    pub(super) fn reverting(&self, r: &crate::runbook::Revert) -> Result<Journaled, String> {
        let step = r.step.trim();
        if step.is_empty() {
            return Err(
                "the revert names no step (`step` is empty once its variables are filled)".into(),
            );
        }
        match r.run.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
            Some(run) => self.changes_of_run(run, step),
            None => {
                let found = Found {
                    run: &self.run_id,
                    step,
                    changes: self.changes.get(step),
                    status: self.replay.steps.get(step).copied(),
                };
                found.judged(|| {
                    if has_step(&self.runbook, step) {
                        Ok(())
                    } else {
                        Err(format!(
                            "this runbook has no step \"{step}\"{}",
                            near(&self.runbook, step)
                        ))
                    }
                })
            }
        }
    }

    /// What step `step` of another run changed, from that run's journal (read, not locked: the
    /// run may be live in another tollgate). Refused when there is no such run, when its
    /// runbook has no such step, and when one run is a rehearsal and the other is not
    /// ([`rehearsal_mismatch`]).
    pub(super) fn changes_of_run(&self, run: &str, step: &str) -> Result<Journaled, String> {
        // Journals are STATE/runs/ID/journal.jsonl: the other run is a sibling folder.
        let runs = self.journal.path().parent().and_then(|d| d.parent());
        let no_run = || {
            format!("there is no run \"{run}\" in this state folder (`tollgate runs` lists them)")
        };
        let Some(runs) = runs else {
            return Err(no_run());
        };
        if run.contains('/') || run.contains("..") || run.contains('\0') {
            return Err(no_run());
        }
        let path = runs.join(run).join("journal.jsonl");
        if !path.exists() {
            return Err(no_run());
        }
        let lines = match journal::read_lines(&path) {
            Ok((lines, _)) => lines,
            Err(e) => return Err(format!("the journal of run {run} cannot be read: {e}")),
        };
        let other = Replay::from_lines(&lines);
        if let Some(why) = rehearsal_mismatch(run, other.rehearsal, self.rehearsal) {
            return Err(why);
        }
        let found = Found {
            run,
            step,
            changes: other.changes.get(step),
            status: other.steps.get(step).copied(),
        };
        found.judged(|| {
            // Not in its journal: whether its runbook has the step, from the runbook file.
            let file = Path::new(&other.runbook);
            let unsure = |why: String| {
                format!("cannot tell whether run {run}'s runbook has step \"{step}\": {why}")
            };
            let loaded = crate::runbook::load(file).map_err(|e| unsure(e.to_string()))?;
            if has_step(&loaded.runbook, step) {
                return Ok(());
            }
            if loaded.errors().next().is_some() {
                return Err(unsure(format!(
                    "{} has errors now (`tollgate check` shows them)",
                    file.display()
                )));
            }
            let changed = if loaded.digest == other.digest {
                ""
            } else {
                " (it has changed since that run)"
            };
            Err(format!(
                "run {run}'s runbook {} has no step \"{step}\"{}{changed}",
                file.display(),
                near(&loaded.runbook, step)
            ))
        })
    }
}

/// What a journal holds of the step a revert names.
struct Found<'a> {
    run: &'a str,
    step: &'a str,
    changes: Option<&'a Vec<serde_json::Value>>,
    status: Option<StepStatus>,
}

impl Found<'_> {
    /// The step's changes when it ran; that it did not run when it was skipped, or never reached
    /// and `in_runbook` finds it in the run's runbook.
    fn judged(self, in_runbook: impl FnOnce() -> Result<(), String>) -> Result<Journaled, String> {
        if let Some(c) = self.changes.filter(|c| !c.is_empty()) {
            return Ok(Journaled::Ran(c.clone()));
        }
        let did_not_run = || {
            Journaled::DidNotRun(format!(
                "step \"{}\" did not run in run {}: nothing to put back",
                self.step, self.run
            ))
        };
        match self.status {
            Some(StepStatus::Skipped) => Ok(did_not_run()),
            Some(StepStatus::Pending | StepStatus::AwaitingGate) | None => {
                in_runbook()?;
                Ok(did_not_run())
            }
            Some(
                StepStatus::Running
                | StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Interrupted,
            ) => Ok(Journaled::Ran(Vec::new())),
        }
    }
}

/// Whether `runbook` has a step `id` (in any phase, its validation, or a failure path).
fn has_step(runbook: &Runbook, id: &str) -> bool {
    crate::runbook::validate::all_steps(runbook)
        .iter()
        .any(|s| s.id.value == id)
}

/// ` (did you mean `X`?)` for the step of `runbook` closest to `id`, if one is close.
fn near(runbook: &Runbook, id: &str) -> String {
    crate::runbook::validate::all_steps(runbook)
        .iter()
        .map(|s| (crate::text::edit_distance(id, &s.id), s.id.as_str()))
        .filter(|(d, _)| *d > 0 && *d <= 2.max(id.len() / 3))
        .min()
        .map_or_else(String::new, |(_, s)| format!(" (did you mean `{s}`?)"))
}

/// Why run `run`'s changes may not be reverted by this run: one of the two is a rehearsal against
/// stand-ins and the other is not, so what one changed is not where the other would put it back.
pub fn rehearsal_mismatch(run: &str, theirs: bool, ours: bool) -> Option<String> {
    match (theirs, ours) {
        (true, false) => Some(format!(
            "run {run} was a rehearsal against stand-ins; its changes cannot be reverted on a real target"
        )),
        (false, true) => Some(format!(
            "run {run} was not a rehearsal; a rehearsal against stand-ins cannot revert its changes"
        )),
        _ => None,
    }
}

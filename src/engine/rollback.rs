//! The failure path: a step's or phase's `on_failure` (undo what the phase did, run its steps,
//! go to a rollback phase), and what an earlier step (of this run or another) changed.

use super::journal::{self, Replay};
use super::outcome::{EngineError, Flow, Outcome};
use super::state::Engine;
use crate::protocol::{Event, RunStatus, StepStatus};
use crate::runbook::{OnFailure, Phase, Step};

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

    pub(super) fn failure_target(&self, step: Option<&Step>, phase: &Phase) -> Option<OnFailure> {
        step.and_then(|s| s.on_failure.as_ref())
            .or(phase.on_failure.as_ref())
            .or(self.runbook.on_failure.as_ref())
            .map(|f| f.value.clone())
    }

    /// What the step a revert names changed, oldest first: from this run, or from the journal of
    /// the run it names. Refused when that run was a rehearsal against stand-ins and this one is
    /// not, or the other way round: what one changed is not on the other's target.
    pub(super) fn reverting(
        &self,
        r: &crate::runbook::Revert,
    ) -> Result<Vec<serde_json::Value>, String> {
        match r.run.as_deref().filter(|x| !x.is_empty()) {
            Some(run) => self.changes_of_run(run, &r.step),
            None => Ok(self.changes.get(&r.step).cloned().unwrap_or_default()),
        }
    }

    /// What step `step` of another run changed, from that run's journal (read, not locked: the
    /// run may be live in another tollgate). Nothing when there is no such run or step; refused
    /// when one run is a rehearsal and the other is not ([`rehearsal_mismatch`]).
    pub(super) fn changes_of_run(
        &self,
        run: &str,
        step: &str,
    ) -> Result<Vec<serde_json::Value>, String> {
        // Journals are STATE/runs/ID/journal.jsonl: the other run is a sibling folder.
        let Some(runs) = self.journal.path().parent().and_then(|d| d.parent()) else {
            return Ok(Vec::new());
        };
        if run.contains('/') || run.contains("..") {
            return Ok(Vec::new());
        }
        let path = runs.join(run).join("journal.jsonl");
        match journal::read_lines(&path) {
            Ok((lines, _)) => {
                let mut other = Replay::from_lines(&lines);
                if let Some(why) = rehearsal_mismatch(run, other.rehearsal, self.rehearsal) {
                    return Err(why);
                }
                Ok(other.changes.remove(step).unwrap_or_default())
            }
            Err(_) => Ok(Vec::new()),
        }
    }
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

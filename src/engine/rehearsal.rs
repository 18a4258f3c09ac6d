//! A rehearsal's part in the run loop (`tollgate rehearse`): steps the runbook says not to run in
//! a rehearsal are skipped with their reason, and faults are injected where the command asked
//! for them. Each is journaled (a `rehearsal` record) and shown, so a rehearsal of the rollback
//! branch reads as such. What replaces a step (`rehearse: {run: …}`) is put in its place before
//! the run starts (`crate::rehearsal`), so the views show what really runs.

use super::outcome::EngineError;
use super::state::{Engine, Rehearsing};
use super::transition::Transition;
use crate::runbook::{Rehearse, Step};

/// What the rehearsal does with a step about to run.
pub(super) enum Rehearsed {
    /// Runs (as written, or as replaced).
    Run,
    /// Not run: skipped in rehearsal (the reason is journaled).
    Skipped,
    /// Fails without running (an injected failure), with this error.
    Fails(String),
}

impl Engine {
    /// Rehearse: see [`Rehearsing`].
    pub fn rehearsing(mut self, r: Rehearsing) -> Engine {
        self.rehearsing = Some(r);
        self
    }

    /// Journals and shows what the rehearsal did at `step` (or to the run, with none).
    pub(super) async fn rehearsal_note(
        &mut self,
        step: Option<&str>,
        what: String,
    ) -> Result<(), EngineError> {
        self.transition(Transition::Rehearsal {
            step: step.map(str::to_string),
            what,
        })
        .await
    }

    /// The faults injected before anything runs, journaled.
    pub(super) async fn rehearsal_start(&mut self) -> Result<(), EngineError> {
        let Some(r) = &self.rehearsing else {
            return Ok(());
        };
        for what in r.at_start.clone() {
            self.rehearsal_note(None, format!("injected: {what}"))
                .await?;
        }
        Ok(())
    }

    /// Whether `step`, about to run, runs in this rehearsal: skipped as the runbook says, or
    /// failing as injected; the faults armed at it are injected first.
    pub(super) async fn rehearse_step(&mut self, step: &Step) -> Result<Rehearsed, EngineError> {
        let Some(r) = &self.rehearsing else {
            return Ok(Rehearsed::Run);
        };
        let id = step.id.value.clone();
        if let Some(Rehearse::Skip(reason)) = step.rehearse.as_ref().map(|r| &r.value) {
            let reason = crate::text::one_line(reason);
            self.rehearsal_note(Some(&id), format!("skipped in rehearsal: {reason}"))
                .await?;
            return Ok(Rehearsed::Skipped);
        }
        let at_step = r.at_step.clone();
        let fail = r.fail.get(&id).cloned();
        if let Some(at_step) = at_step {
            for what in at_step(&id).await {
                self.rehearsal_note(Some(&id), format!("injected: {what}"))
                    .await?;
            }
        }
        if let Some(message) = fail {
            // Once: a retry runs the step.
            if let Some(r) = self.rehearsing.as_mut() {
                r.fail.remove(&id);
            }
            let error = format!("injected failure: {message}");
            self.rehearsal_note(Some(&id), error.clone()).await?;
            return Ok(Rehearsed::Fails(error));
        }
        Ok(Rehearsed::Run)
    }
}

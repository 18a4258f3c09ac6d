//! A step interrupted while its processes ran: before it can be re-run (or marked done), any of
//! them still running is named, and the operator chooses to stop them or wait for them. Two
//! copies of a step never run at once.

use std::time::Duration;

use super::outcome::{EngineError, Outcome};
use super::state::Engine;
use crate::exec::procs::{self, ProcStart, Survivor};
use crate::protocol::{Choice, Command, Event, GateKind, RunStatus};
use crate::runbook::Step;

/// How long survivors get between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// How long SIGKILL'ed processes may take to be gone.
const GONE: Duration = Duration::from_secs(30);

/// Which recorded processes of a step still run.
pub fn still_running(recorded: &[ProcStart]) -> Vec<Survivor> {
    let mut found: Vec<Survivor> = recorded.iter().flat_map(procs::survivors).collect();
    found.sort_by_key(|s| s.pid);
    found.dedup_by_key(|s| s.pid);
    found
}

/// One line naming them: `pid 123 `sleep 30` since 2026-12-05 22:01:05, …`.
pub fn describe(found: &[Survivor]) -> String {
    found
        .iter()
        .map(Survivor::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// If processes of interrupted step `step` still run, asks whether to kill them or wait for
    /// them, and does it. `Ok(Err(..))`: the run stops here (paused or aborted).
    pub(super) async fn survivors(
        &mut self,
        step: &Step,
    ) -> Result<Result<(), Outcome>, EngineError> {
        let id = step.id.value.clone();
        let recorded = self.replay.processes.get(&id).cloned().unwrap_or_default();
        let found = still_running(&recorded);
        if found.is_empty() {
            return Ok(Ok(()));
        }
        let req = self.decision_request(
            step,
            GateKind::Interrupted,
            vec![Choice::KillSurvivors, Choice::WaitSurvivors, Choice::Abort],
            Some(format!(
                "still running from the interrupted attempt: {}",
                describe(&found)
            )),
        );
        match self.gate(req).await? {
            Err(paused) => Ok(Err(paused)),
            Ok(Choice::KillSurvivors) => {
                self.emit(Event::Note(format!(
                    "{id}: stopping {} (SIGTERM, SIGKILL after {}s)",
                    describe(&found),
                    GRACE.as_secs()
                )))
                .await;
                let mut left = Vec::new();
                for p in &recorded {
                    left.extend(procs::stop(p, GRACE, GONE).await);
                }
                if left.is_empty() {
                    self.emit(Event::Note(format!("{id}: survivors gone")))
                        .await;
                    Ok(Ok(()))
                } else {
                    Ok(Err(Outcome::Paused(format!(
                        "{id}: still running after SIGKILL: {}",
                        describe(&left)
                    ))))
                }
            }
            Ok(Choice::WaitSurvivors) => {
                self.emit(Event::Note(format!(
                    "{id}: waiting for {} to end",
                    describe(&found)
                )))
                .await;
                let all_gone = async {
                    for p in &recorded {
                        procs::gone(p).await;
                    }
                };
                tokio::pin!(all_gone);
                loop {
                    tokio::select! {
                        _ = &mut all_gone => break,
                        cmd = self.commands.recv(), if self.commands_open => match cmd {
                            None => self.commands_open = false,
                            Some(Command::Abort) => {
                                return Ok(Err(Outcome::Finished(RunStatus::Aborted)));
                            }
                            Some(other) => {
                                self.aside(other).await?;
                            }
                        },
                    }
                }
                self.emit(Event::Note(format!("{id}: survivors gone")))
                    .await;
                Ok(Ok(()))
            }
            Ok(_) => Ok(Err(Outcome::Finished(RunStatus::Aborted))),
        }
    }
}

//! How gates are decided from the command line (`--approve ID[=WORD]`, `--approve-all`,
//! `--rerun`, `--mark-done`, `--kill-survivors`, `--wait`): one rule for every view, so the
//! interface and the headless view pass and refuse the same gates.

use super::{Choice, Decision, GateKind, GateRequest};

/// How gates are answered from the command line, before anyone is asked.
#[derive(Clone, Debug, Default)]
pub struct Approvals {
    /// Gate ids approved up front (`--approve ID`), each with the confirmation word given with it
    /// (`--approve ID=WORD`): a destructive gate passes only with its word.
    pub approve: Vec<(String, Option<String>)>,
    /// Every gate that is not destructive approved (`--approve-all`), recorded as such.
    pub approve_all: bool,
    /// Steps to re-run when they were interrupted or failed (`--rerun ID`).
    pub rerun: Vec<String>,
    /// Interrupted steps to mark done (`--mark-done ID`).
    pub mark_done: Vec<String>,
    /// Stop what interrupted steps left running (`--kill-survivors`).
    pub kill_survivors: bool,
    /// Wait until what interrupted steps left running has ended (`--wait`).
    pub wait_survivors: bool,
    /// Ask on the terminal for anything not decided above.
    pub interactive: bool,
    pub who: String,
}

/// `ID` or `ID=WORD`, as `--approve` takes it.
pub fn approval(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((id, word)) => (id.to_string(), Some(word.to_string())),
        None => (arg.to_string(), None),
    }
}

impl Approvals {
    /// The decision flags give for a gate, if any. Approving from a flag confirms the gate's
    /// checklist (recorded as confirmed via that flag); a destructive gate also needs its
    /// confirmation word, given as `--approve ID=WORD` (`--approve-all` never passes one).
    pub fn decide(&self, req: &GateRequest) -> Option<Decision> {
        let id = req.id.as_str();
        let listed = |list: &[String]| list.iter().any(|g| g == id);
        let approved = self.approve.iter().find(|(g, _)| g == id);
        let mut typed = None;
        let (choice, via) = match req.kind {
            GateKind::Phase | GateKind::Step if approved.is_some() => {
                let word = approved.and_then(|(_, w)| w.clone());
                if req.destructive && word.is_none() {
                    return None;
                }
                typed = word.filter(|_| req.destructive);
                (Choice::Approve, "--approve")
            }
            GateKind::Phase | GateKind::Step if self.approve_all && !req.destructive => {
                (Choice::Approve, "--approve-all")
            }
            GateKind::Interrupted if req.choices.contains(&Choice::KillSurvivors) => {
                if self.kill_survivors {
                    (Choice::KillSurvivors, "--kill-survivors")
                } else if self.wait_survivors {
                    (Choice::WaitSurvivors, "--wait")
                } else {
                    return None;
                }
            }
            GateKind::Interrupted | GateKind::Failed if listed(&self.rerun) => {
                (Choice::Retry, "--rerun")
            }
            GateKind::Interrupted if listed(&self.mark_done) => (Choice::MarkDone, "--mark-done"),
            // A failure nobody can be asked about follows the runbook's failure path.
            GateKind::Failed if !self.interactive => {
                if req.choices.contains(&Choice::Rollback) {
                    (
                        Choice::Rollback,
                        "automatic (non-interactive: the runbook's on_failure)",
                    )
                } else {
                    (Choice::Abort, "automatic (non-interactive)")
                }
            }
            _ => return None,
        };
        Some(Decision {
            gate: req.id.clone(),
            choice,
            who: self.who.clone(),
            via: via.into(),
            note: None,
            typed,
            checklist: if choice == Choice::Approve {
                vec![true; req.checklist.len()]
            } else {
                Vec::new()
            },
        })
    }

    /// What to pass to decide `req` when the flags did not: the line `resume` needs.
    pub fn hint(&self, req: &GateRequest) -> String {
        let word = req.confirm.as_deref().unwrap_or("WORD");
        match req.kind {
            GateKind::Phase | GateKind::Step if req.destructive => format!(
                "--approve {}={word} (a destructive gate passes only with its confirmation word; --approve-all never passes one)",
                req.id
            ),
            GateKind::Phase | GateKind::Step => format!("--approve {}", req.id),
            GateKind::Interrupted if req.choices.contains(&Choice::KillSurvivors) => {
                "--kill-survivors or --wait".to_string()
            }
            GateKind::Interrupted => format!("--rerun {} or --mark-done {}", req.id, req.id),
            GateKind::Failed => format!("--rerun {}", req.id),
            GateKind::RunbookChanged => "--accept-changed-runbook".to_string(),
        }
    }
}

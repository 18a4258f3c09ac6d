//! How gates are decided from the command line (`--approve ID[=WORD]`, `--approve-all`,
//! `--rerun`, `--mark-done`, `--kill-survivors`, `--wait`): one rule for every view, so the
//! interface and the headless view pass and refuse the same gates.

use std::collections::BTreeMap;

use super::{Choice, Decision, GateKind, GateRequest, Secret};

/// What `decisions` records as how a scripted decision was given.
pub const VIA_SCRIPT: &str = "rehearsal-script";

/// A gate's decision written down ahead, in a rehearsal's decisions file (`--decisions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scripted {
    pub choice: Option<Choice>,
    /// Journaled with the decision.
    pub note: Option<String>,
    /// A destructive gate's confirmation word; the gate's own when left out.
    pub word: Option<String>,
    /// For a gate that needs several people (`approvals: 2`, `four_eyes`): who approves, in
    /// order, each as a distinct person (made-up names: a rehearsal's people).
    pub approvers: Vec<String>,
    /// How long after the gate opens the script decides: a person's time to think, so that a
    /// rehearsal crosses the time windows a real decision would (Argo's scaleDownDelaySeconds,
    /// say). Written in simulated time; real time once the rehearsal's `--speed` divides it.
    pub after: Option<std::time::Duration>,
}

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
    /// A rehearsal's decisions file: gates (phase and step ids, or a failed or interrupted
    /// step's id) decided as it says, before the flags, recorded via [`VIA_SCRIPT`].
    pub scripted: BTreeMap<String, Scripted>,
    /// A rehearsal's answers to steps' masked prompts ([`super::ValueRequest`]), by step id.
    pub values: BTreeMap<String, Secret>,
    /// Failed steps the script already retried once ([`Approvals::decide_once`]).
    pub retried: std::collections::BTreeSet<String>,
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
    ///
    /// A gate a rehearsal's script names is decided as it says, before any flag: its choice (one
    /// the gate does not offer is sent all the same, for the engine to refuse with its reason),
    /// its note, and for a destructive approval the script's word or else the gate's own; its
    /// checklist is confirmed by the script.
    pub fn decide(&self, req: &GateRequest) -> Option<Decision> {
        self.decide_as(req, true)
    }

    /// [`Approvals::decide`], for the views: a script's `retry` of a failed step is made once,
    /// so a step that keeps failing cannot loop; its next failure is decided as if the script
    /// did not name it (headless: the runbook's failure path).
    pub fn decide_once(&mut self, req: &GateRequest) -> Option<Decision> {
        let again = req.kind == GateKind::Failed && self.retried.contains(&req.id);
        let d = self.decide_as(req, !again)?;
        if d.via == VIA_SCRIPT && d.choice == Choice::Retry && req.kind == GateKind::Failed {
            self.retried.insert(req.id.clone());
        }
        Some(d)
    }

    /// How long the script waits before its decision on gate `id` (its `after`), if it names
    /// one.
    pub fn script_waits(&self, id: &str) -> Option<std::time::Duration> {
        self.scripted
            .get(id)
            .and_then(|s| s.after)
            .filter(|d| !d.is_zero())
    }

    fn decide_as(&self, req: &GateRequest, script: bool) -> Option<Decision> {
        let id = req.id.as_str();
        if let Some(s) = self.scripted.get(id).filter(|_| script)
            && let Some(choice) = s.choice
        {
            let approve = choice == Choice::Approve;
            return Some(Decision {
                gate: req.id.clone(),
                choice,
                who: s.approvers.first().unwrap_or(&self.who).clone(),
                via: VIA_SCRIPT.into(),
                note: s.note.clone(),
                typed: (approve && req.destructive)
                    .then(|| s.word.clone().or_else(|| req.confirm.clone()))
                    .flatten(),
                checklist: if approve {
                    vec![true; req.checklist.len()]
                } else {
                    Vec::new()
                },
            });
        }
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

    /// The next approval a script gives for a gate that needs several people, once `have` of
    /// them approved: its next listed approver's (`approvers:`), if it lists one.
    pub fn next_approval(&self, req: &GateRequest, have: u32) -> Option<Decision> {
        let s = self.scripted.get(&req.id)?;
        let who = s.approvers.get(have as usize)?;
        let mut d = self.decide_as(req, true)?;
        (d.choice == Choice::Approve).then(|| {
            d.who = who.clone();
            d
        })
    }

    /// A rehearsal's answer to step `step`'s masked prompt, if its script gives one.
    pub fn value_for(&self, step: &str) -> Option<Secret> {
        self.values.get(step).cloned()
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

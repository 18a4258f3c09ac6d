//! What the engine says to its views (events) and what they answer (commands): the wire format a
//! follower terminal reads, free of any view's types.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use super::status::{RunStatus, StepStatus};

/// Which stream of a step a line of output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line a step showed, secrets masked (without its line end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

/// What a resumed run had done before this session, as the events that showed it then, each with
/// the time its journal record was written: sent once, before anything of the new session, so
/// every view rebuilds the past from the same source. Views apply these as they would live events,
/// without treating them as happening now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the run first started (RFC 3339).
    pub started_at: String,
    pub entries: Vec<Past>,
}

/// One event of an earlier session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Past {
    /// When it happened (RFC 3339).
    pub at: String,
    pub event: Event,
}

/// A manual checklist item as a gate shows it: text and command filled from variables.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// Before a phase.
    Phase,
    /// Before a step.
    Step,
    /// A step was running when tollgate died: re-run it, mark it done, or abort (first, if its
    /// processes still run: kill them, wait for them, or abort).
    Interrupted,
    /// A step failed: retry, skip, roll back, or abort.
    Failed,
    /// The runbook changed since the run started: going on with it was accepted before the
    /// resume (`--accept-changed-runbook`). Journaled as a decision, never opened as a gate.
    RunbookChanged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Approve,
    Reject,
    Skip,
    Retry,
    MarkDone,
    Rollback,
    Abort,
    /// Processes of an interrupted step still run: stop them (SIGTERM, then SIGKILL), then decide.
    KillSurvivors,
    /// Processes of an interrupted step still run: wait until they end, then decide.
    WaitSurvivors,
}

impl GateKind {
    /// The word logs and views use for the kind of gate.
    pub fn word(self) -> &'static str {
        match self {
            GateKind::Phase => "phase",
            GateKind::Step => "step",
            GateKind::Interrupted => "interrupted",
            GateKind::Failed => "failed",
            GateKind::RunbookChanged => "runbook changed",
        }
    }
}

impl Choice {
    pub fn word(self) -> &'static str {
        match self {
            Choice::Approve => "approve",
            Choice::Reject => "reject",
            Choice::Skip => "skip",
            Choice::Retry => "retry",
            Choice::MarkDone => "mark-done",
            Choice::Rollback => "rollback",
            Choice::Abort => "abort",
            Choice::KillSurvivors => "kill-survivors",
            Choice::WaitSurvivors => "wait",
        }
    }
}

/// What a gate asks, with everything the approver needs to see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateRequest {
    /// The phase or step id; what `--approve` names.
    pub id: String,
    pub kind: GateKind,
    pub title: String,
    pub message: Option<String>,
    pub destructive: bool,
    /// The word a destructive approval must carry.
    pub confirm: Option<String>,
    /// The commands about to run, variables filled in, secrets masked.
    pub commands: Vec<String>,
    pub checklist: Vec<ChecklistItem>,
    pub choices: Vec<Choice>,
    pub production: bool,
    /// For a failed step: why.
    pub error: Option<String>,
    /// For a failed step whose failure path leads to another runbook: its name in `links`
    /// (the interface offers to open it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    /// How many distinct people must approve (2 for a two-person gate: `approvals: 2`, or the
    /// runbook's `four_eyes`); 1 for an ordinary gate.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub approvals: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A person's answer to a gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub gate: String,
    pub choice: Choice,
    /// `user@host`.
    pub who: String,
    /// How it was given: `terminal`, `--approve`, `--approve-all`, `automatic`, …
    pub via: String,
    pub note: Option<String>,
    /// The confirmation word as typed, for destructive gates.
    pub typed: Option<String>,
    /// For each item of the gate's checklist, in order: whether the person confirmed it.
    /// Approving needs every one.
    #[serde(default)]
    pub checklist: Vec<bool>,
}

/// A step asks a person for a value typed at a masked prompt (`secrets.put` with `prompt`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueRequest {
    /// The step that asks.
    pub step: String,
    /// The text to show.
    pub prompt: String,
    /// What the value is for, e.g. `secrets.put labelmint/production/jwt-secret`.
    pub purpose: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Decide(Decision),
    /// The answer to a [`ValueRequest`] of step `step`: the value typed, or why there is none
    /// (the step then fails with that reason).
    Value {
        step: String,
        value: Result<Secret, String>,
    },
    /// Stop the running step (its whole process group) and end the run as aborted.
    Abort,
    /// The view cannot decide the open gate: stop here, resumable.
    Pause(String),
    /// The share tap to the engine: `who` is at the keys from now on (a follower the driver
    /// handed them to, or the driver again). Journaled (`driver_changed`), audited, announced as
    /// [`Event::DriverChanged`]; it never ends a step or passes a gate.
    Drive {
        who: String,
    },
    /// A view that is not at the keys asks for them (a follower's `D`, or the driver's own
    /// interface after handing them over): the share tap asks whoever holds them.
    AskDrive,
    /// The view at the keys answers [`Event::DriveRequested`]: hand them to `who`, or not.
    AnswerDrive {
        who: String,
        accept: bool,
    },
    /// A follower at the keys hands them back to the driver.
    Release,
    /// The share tap to the engine: who follows the run now (`name@host`, in the order they
    /// joined). Journaled (`watching`) and audited; nothing else.
    Watching {
        names: Vec<String>,
    },
}

/// The line a resumed run's history shows before a step's kept output when older lines of it were
/// not kept (a step keeps its newest lines, within a bound).
pub fn not_kept_line(n: u64) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("… {n} earlier line{s} of this step not kept\n")
}

/// How many lines a [`not_kept_line`] says were not kept; `None` for any other text.
pub fn not_kept_count(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("… ")?;
    let (n, tail) = rest.split_once(' ')?;
    (tail == "earlier line of this step not kept\n"
        || tail == "earlier lines of this step not kept\n")
        .then(|| n.parse().ok())
        .flatten()
}

/// How long a run should take (the runbook's `deadline`) and when it first started: the views
/// show the time left. It tells; it never stops a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub secs: u64,
    /// The run's first start, RFC 3339 (a resumed run's original start).
    pub started_at: String,
}

impl Deadline {
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.secs)
    }

    /// Time left at `elapsed` into the run, or how far past it is: `(left, over)`.
    pub fn left(
        &self,
        elapsed: std::time::Duration,
    ) -> Result<std::time::Duration, std::time::Duration> {
        let d = self.duration();
        if elapsed <= d {
            // Counted up to the whole second, as a countdown reads.
            let left = d - elapsed;
            Ok(std::time::Duration::from_secs(
                left.as_secs() + u64::from(left.subsec_nanos() > 0),
            ))
        } else {
            Err(elapsed - d)
        }
    }

    /// In the last fifth of the deadline, or past it.
    pub fn warning(&self, elapsed: std::time::Duration) -> bool {
        elapsed.as_millis() * 5 >= u128::from(self.secs) * 4000
    }
}

/// A duration as a deadline reads: `3h12m`, `48m`, `4h`, `45s`.
pub fn short_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m) = (s / 3600, s % 3600 / 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        resumed: bool,
        /// The runbook's deadline and the run's first start it counts from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Deadline>,
    },
    PhaseStarted {
        phase: String,
        title: String,
    },
    PhaseFinished {
        phase: String,
        status: StepStatus,
    },
    GateReached(GateRequest),
    /// A running step waits for a value typed at a masked prompt: answered by
    /// [`Command::Value`].
    ValueRequested(ValueRequest),
    GateDecided {
        gate: String,
        choice: Choice,
        who: String,
        via: String,
        /// For each item of the gate's checklist, in order: whether it was confirmed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        checklist: Vec<bool>,
    },
    /// An approval of a gate that needs more than one person: `have` of `need` distinct
    /// people have approved it; it stays open for the next (a rejection by any of them stops it).
    ApprovalCounted {
        gate: String,
        who: String,
        via: String,
        have: u32,
        need: u32,
    },
    /// A decision that did not fit the open gate (wrong gate, choice or confirmation word).
    DecisionRefused {
        gate: String,
        reason: String,
    },
    StepStarted {
        step: String,
        title: String,
        attempt: u32,
        attempts: u32,
        command: String,
    },
    /// One or more whole lines, each ending in `\n`, secrets masked. Shared, not copied, by
    /// everything that keeps it on the way to the view (the kept output, followers' log).
    Output {
        step: String,
        stream: Stream,
        text: std::sync::Arc<str>,
    },
    /// Where a running step's work is, in a few words (e.g. an Argo rollout's `canary 25 % · step
    /// 3/8`), masked; the newest replaces the one before. Not output, not journaled.
    StepProgress {
        step: String,
        text: String,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        exit_code: Option<i32>,
        duration: Duration,
        error: Option<String>,
    },
    RetryScheduled {
        step: String,
        next_attempt: u32,
        delay: Duration,
    },
    VarCaptured {
        name: String,
        /// Masked when secret.
        shown: String,
    },
    Note(String),
    /// The failure path leads to another runbook (`on_failure: {runbook: NAME}`, NAME a name in
    /// `links`): the views offer to follow it; `command` starts it by hand.
    FollowRunbook {
        name: String,
        command: String,
    },
    /// What the run had done before this session (sent first on a resume).
    History(History),
    /// A step ran in an earlier session: what it printed then is not kept, so its output is not
    /// available in this session; `last` holds the last lines its journal kept (a failed step's).
    OutputNotKept {
        step: String,
        last: Vec<OutputLine>,
    },
    RunPaused {
        reason: String,
    },
    RunFinished {
        status: RunStatus,
    },
    /// The share tap to every view: who follows the run from other terminals now.
    Watchers {
        names: Vec<String>,
    },
    /// The share tap to the view at the keys: `who` asks to drive (accept or refuse, answered
    /// with [`Command::AnswerDrive`]).
    DriveRequested {
        who: String,
    },
    /// The engine: `who` is at the keys from now on (journaled `driver_changed`).
    DriverChanged {
        who: String,
    },
    /// The share tap to one view: whether this view is at the keys (may decide gates) now.
    /// Never journaled, never in the state a late joiner is sent.
    Keys {
        held: bool,
    },
    /// The share tap to one follower that fell behind: the events that follow are the run's
    /// whole state again, from its start; what the view had is dropped first.
    Resent,
}

impl GateRequest {
    /// Whether `typed` is the confirmation word this gate needs before an approval: the one rule,
    /// for every view and the engine. A gate that is not destructive needs none.
    pub fn confirmed_by(&self, typed: Option<&str>) -> bool {
        !self.destructive || typed.map(str::trim) == self.confirm.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events are the wire format a follower reads: every kind goes to JSON and back unchanged,
    /// and a typed value never rides along.
    #[test]
    fn events_round_trip_through_json() {
        let gate = GateRequest {
            id: "deploy".into(),
            kind: GateKind::Phase,
            title: "Deploy".into(),
            message: Some("ship it".into()),
            destructive: true,
            confirm: Some("prod".into()),
            commands: vec!["kubectl apply -f x".into()],
            checklist: vec![ChecklistItem {
                text: "backups taken".into(),
                command: None,
            }],
            choices: vec![Choice::Approve, Choice::Reject],
            production: true,
            error: None,
            follow: Some("rollback".into()),
            approvals: 2,
        };
        let events = vec![
            Event::RunStarted {
                run_id: "r".into(),
                runbook: "rb".into(),
                resumed: false,
                deadline: Some(Deadline {
                    secs: 14400,
                    started_at: "2026-01-01T00:00:00.000Z".into(),
                }),
            },
            Event::GateReached(gate.clone()),
            Event::Output {
                step: "s".into(),
                stream: Stream::Stderr,
                text: "line\n".into(),
            },
            Event::StepFinished {
                step: "s".into(),
                status: StepStatus::Failed,
                exit_code: Some(3),
                duration: Duration::from_millis(1500),
                error: Some("exit code 3, expected 0".into()),
            },
            Event::Note("hello".into()),
            Event::ApprovalCounted {
                gate: "deploy".into(),
                who: "ana@h".into(),
                via: "follower".into(),
                have: 1,
                need: 2,
            },
            Event::FollowRunbook {
                name: "rollback".into(),
                command: "tollgate run rollback.yaml".into(),
            },
            Event::StepProgress {
                step: "promote".into(),
                text: "canary 25 % · step 3/8 · Paused".into(),
            },
            Event::History(History {
                started_at: "2026-01-01T00:00:00.000Z".into(),
                entries: vec![Past {
                    at: "2026-01-01T00:00:01.000Z".into(),
                    event: Event::GateDecided {
                        gate: "deploy".into(),
                        choice: Choice::Approve,
                        who: "a@h".into(),
                        via: "interface".into(),
                        checklist: vec![true],
                    },
                }],
            }),
            Event::OutputNotKept {
                step: "s".into(),
                last: vec![OutputLine {
                    stream: Stream::Stderr,
                    text: "smoke test: HTTP 503".into(),
                }],
            },
            Event::RunFinished {
                status: RunStatus::RolledBack,
            },
        ];
        for e in events {
            let json = serde_json::to_string(&e).expect("serialises");
            let back: Event = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, e, "{json}");
        }
        for n in [1, 2, 1_234_567] {
            assert_eq!(not_kept_count(&not_kept_line(n)), Some(n));
        }
        assert_eq!(not_kept_count("… 3 earlier lines of other things\n"), None);
        assert_eq!(not_kept_count("plain output\n"), None);
        assert!(gate.confirmed_by(Some(" prod ")));
        assert!(!gate.confirmed_by(Some("pro")));
        assert!(!gate.confirmed_by(None));
    }
}

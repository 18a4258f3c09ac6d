//! The interface's state types: panes, rows, dialogs, the banner, search; what the loop is told to
//! do. The [`super::app::App`] holds them.

use std::time::{Duration, Instant};

use ratatui::layout::Rect;

use super::output::OutputBuffer;
use crate::protocol::approvals::Approvals;
use crate::protocol::{
    Command, GateRequest, OutputLine, RunStatus, Secret, StepStatus, ValueRequest,
};

pub const RECENT_EVENTS: usize = 500;

/// `HH:MM:SS`.
pub fn hms(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Tree,
    Output,
    Side,
    Pods,
    Logs,
}

impl Pane {
    /// The next pane in Tab order; the pods and logs panes only when there is a cluster.
    pub(super) fn next(self, cluster: bool) -> Pane {
        match self {
            Pane::Tree => Pane::Output,
            Pane::Output if cluster => Pane::Pods,
            Pane::Output => Pane::Side,
            Pane::Pods => Pane::Logs,
            Pane::Logs => Pane::Side,
            Pane::Side => Pane::Tree,
        }
    }

    pub(super) fn prev(self, cluster: bool) -> Pane {
        let mut p = self;
        // Five panes at most: four steps forward is one back.
        for _ in 0..if cluster { 4 } else { 2 } {
            p = p.next(cluster);
        }
        p
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RowKind {
    Phase { rollback: bool },
    Step { validation: bool },
}

/// One line of the phases tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub kind: RowKind,
    pub gate: bool,
    pub destructive: bool,
    pub phase: String,
}

#[derive(Clone, Debug)]
pub struct StepView {
    pub status: StepStatus,
    pub attempt: u32,
    pub attempts: u32,
    pub command: String,
    pub started: Option<Instant>,
    pub duration: Option<Duration>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub output: OutputBuffer,
    /// The step ran in an earlier session, whose output is not kept: the last lines its journal
    /// kept (a failed step's), until it runs again in this one.
    pub not_kept: Option<Vec<OutputLine>>,
    /// Where the running step's work is, as it last said (e.g. `canary 25 % · step 3/8`).
    pub progress: Option<String>,
}

/// What the output pane says of a step that ran in an earlier session (its output is not kept).
pub const OUTPUT_NOT_KEPT: &str = "output not available in this session";

impl StepView {
    /// What the step last said of its progress, while it runs.
    pub fn live_progress(&self) -> Option<&str> {
        self.progress
            .as_deref()
            .filter(|_| self.status == StepStatus::Running)
    }

    /// Whether the step's output is from an earlier session and not kept.
    pub fn output_not_kept(&self) -> bool {
        self.not_kept.is_some() && self.output.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogFocus {
    /// An item of the checklist: drawn first, so first in Tab order.
    Checklist(usize),
    Confirm,
    Note,
    Choices,
}

#[derive(Clone, Debug)]
pub struct GateDialog {
    pub request: GateRequest,
    /// No choice is highlighted when the dialog opens: Enter alone never decides.
    pub selected: Option<usize>,
    pub typed: String,
    pub note: String,
    pub ticks: Vec<bool>,
    pub focus: DialogFocus,
    pub opened: Instant,
    pub message: Option<String>,
    /// Hidden (Esc) to look at the panes: the gate stays open, `d` shows it again.
    pub hidden: bool,
    /// Lines of what will run scrolled past (PgDn), when they do not all fit.
    pub scroll: usize,
    /// `o` chose "open NAME": roll back, then open the runbook the failure path leads to
    /// (`request.follow`) once the run has ended.
    pub follow: bool,
}

/// The AWS account and region the banner shows, for a run with `targets.aws` or AWS steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsBanner {
    /// What the runbook names (`targets.aws`), empty where it names nothing: shown until pinned.
    pub wanted_account: String,
    pub wanted_region: String,
    /// The account and region pinned at the first AWS call.
    pub pinned: Option<(String, String)>,
}

impl AwsBanner {
    pub fn new(wanted: Option<&crate::runbook::AwsTarget>) -> AwsBanner {
        AwsBanner {
            wanted_account: wanted.map(|w| w.account.clone()).unwrap_or_default(),
            wanted_region: wanted.map(|w| w.region.clone()).unwrap_or_default(),
            pinned: None,
        }
    }

    /// `123456789012/us-east-1` once pinned; before, what the runbook names, or that nothing is.
    pub fn text(&self) -> String {
        if let Some((account, region)) = &self.pinned {
            return format!("{account}/{region}");
        }
        if self.wanted_account.is_empty() && self.wanted_region.is_empty() {
            return "not pinned yet".into();
        }
        let or_unknown = |s: &str| {
            if s.is_empty() {
                "?".to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}/{} (not pinned yet)",
            or_unknown(&self.wanted_account),
            or_unknown(&self.wanted_region)
        )
    }
}

/// The masked prompt a step opened (a `secrets.put` with `prompt`).
#[derive(Clone, Debug)]
pub struct ValueDialog {
    pub request: ValueRequest,
    /// What has been typed: drawn only as one `•` per character, and handed to the engine on
    /// Enter (its `Debug` shows a mask).
    pub typed: Secret,
    pub opened: Instant,
}

impl ValueDialog {
    /// How many characters have been typed (all the screen shows of them).
    pub fn typed_len(&self) -> usize {
        self.typed.0.chars().count()
    }
}

/// Why a masked prompt gave no value when Esc closed it.
pub const PROMPT_CANCELLED: &str = "no value was typed (Esc at the prompt); nothing was stored";

#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Running,
    Paused(String),
    Finished(RunStatus),
}

#[derive(Clone, Debug, Default)]
pub struct Search {
    pub editing: bool,
    pub query: String,
    /// The line the last jump landed on.
    pub current: Option<usize>,
    /// Which match that is (from 1, oldest first), of how many lines that match.
    pub index: usize,
    pub matches: usize,
    pub not_found: bool,
}

/// What the loop must do after an input.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Send(Command),
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Ctrl-C while a step runs: abort it?
    AbortStep,
    /// q while the run is not finished.
    Quit,
}

/// Where the panes were drawn last, for mouse clicks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Areas {
    pub tree: Rect,
    pub output: Rect,
    pub side: Rect,
    pub pods: Rect,
    pub logs: Rect,
    /// How far what will run can scroll in the gate's dialog (PgDn stops there).
    pub gate_scroll_max: usize,
}

/// What the dialogs keep besides the open gate.
#[derive(Debug, Default)]
pub struct Dialogs {
    /// The command line's approvals (`--approve ID[=WORD]`, `--approve-all`, `--rerun`, …).
    pub(super) approvals: Approvals,
    /// Decisions made without a key (by the flags), for the loop to send.
    pub(super) outbox: Vec<Command>,
    /// Rows of the help scrolled past.
    pub(super) help_scroll: usize,
}

impl Dialogs {
    pub fn new(mut approvals: Approvals) -> Dialogs {
        // Someone is at the interface: a failure the flags do not decide is asked, never
        // decided for them.
        approvals.interactive = true;
        Dialogs {
            approvals,
            ..Dialogs::default()
        }
    }
}

/// A run shown in more than one terminal: who is at the keys, who follows, a handover asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sharing {
    /// This interface follows a run another terminal drives (`tollgate follow`).
    pub follower: bool,
    /// This interface may decide gates now.
    pub keys: bool,
    /// Who is at the keys (`name@host`).
    pub driver: String,
    /// Who follows the run from other terminals (`name@host`).
    pub watchers: Vec<String>,
    /// Someone asks this interface, at the keys, to hand them over: their `name@host`.
    pub asked: Option<String>,
}

/// `watching: ana, li`: each follower's user name, with its host when it is not `host`.
pub fn watching_text(names: &[String], host: &str) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let shown: Vec<&str> = names
        .iter()
        .map(|n| match n.split_once('@') {
            Some((user, h)) if h == host => user,
            _ => n.as_str(),
        })
        .collect();
    Some(format!("watching: {}", shown.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Followers on this host by user name, others with their host; no one, no text.
    #[test]
    fn watchers_read_as_user_names_with_the_host_only_when_another() {
        let names = vec!["ana@box".to_string(), "li@far".to_string()];
        assert_eq!(
            watching_text(&names, "box").as_deref(),
            Some("watching: ana, li@far")
        );
        assert_eq!(watching_text(&[], "box"), None);
    }
}

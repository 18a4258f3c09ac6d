//! The interface's state, and how engine events and keys change it. Rendering is elsewhere and
//! reads this state only.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::Rect;

use super::cluster::ClusterView;
use super::config::Config;
use super::output::OutputBuffer;
use crate::engine::journal::Replay;
use crate::engine::variables::Vars;
use crate::live::Request;
use crate::protocol::{
    Choice, Command, Decision, Event, GateKind, GateRequest, RunStatus, Secret, StepStatus,
    ValueRequest,
};
use crate::runbook::{Runbook, Step};
use crate::ui::theme::Theme;

pub const RECENT_EVENTS: usize = 500;

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
    fn next(self, cluster: bool) -> Pane {
        match self {
            Pane::Tree => Pane::Output,
            Pane::Output if cluster => Pane::Pods,
            Pane::Output => Pane::Side,
            Pane::Pods => Pane::Logs,
            Pane::Logs => Pane::Side,
            Pane::Side => Pane::Tree,
        }
    }

    fn prev(self, cluster: bool) -> Pane {
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogFocus {
    Confirm,
    Note,
    Checklist(usize),
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
}

pub struct App {
    pub(super) runbook: Arc<Runbook>,
    pub(super) run_id: String,
    who: String,
    pub(super) theme: Theme,
    pub(super) rows: Vec<Row>,
    pub(super) steps: HashMap<String, StepView>,
    pub(super) phases: HashMap<String, StepStatus>,
    pub(super) checklist_done: HashMap<String, Vec<bool>>,
    /// The row selected in the tree.
    pub(super) selected: usize,
    /// The selection follows the step that runs.
    follow_current: bool,
    current_step: Option<String>,
    pub(super) recent: VecDeque<String>,
    pub(super) gate: Option<GateDialog>,
    /// A step's masked prompt, while it waits for a value.
    pub(super) prompt: Option<ValueDialog>,
    pub(super) confirm: Option<Confirm>,
    pub(super) focus: Pane,
    pub(super) zoom: Option<Pane>,
    pub(super) help: bool,
    pub(super) search: Search,
    pub(super) wrap: bool,
    pub(super) timestamps: bool,
    /// Lines scrolled back from the end of the output; 0 follows new output.
    pub(super) scroll: usize,
    pub(super) side_scroll: usize,
    tree_scroll: usize,
    pub(super) state: RunState,
    pub(super) message: Option<String>,
    scrollback: usize,
    pub(super) started: Instant,
    pub(super) now: Instant,
    /// Whether the terminal window has focus (no decisions while it has not).
    focused: bool,
    pub(super) areas: Areas,
    pub(super) dirty: bool,
    /// Keys this soon after a dialog opens are ignored.
    gate_guard: Duration,
    /// Values to fill into commands not yet run (secrets masked).
    pub(super) vars: Vars,
    /// The pods and logs panes, when the run has a cluster.
    pub(super) cluster: Option<ClusterView>,
    /// The AWS account and region, when the run has anything to do with AWS.
    pub(super) aws: Option<AwsBanner>,
    /// The wall clock at the last draw (pod ages).
    pub(super) wall_clock: chrono::DateTime<chrono::Utc>,
    /// A fixed wall clock (tests' snapshots).
    frozen_clock: Option<chrono::DateTime<chrono::Utc>>,
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S%.3f").to_string()
}

impl App {
    /// The interface's state at the start of a run (or of a resumed run's new session).
    pub fn new(config: Config) -> App {
        let Config {
            runbook,
            run_id,
            who,
            theme,
            scrollback,
            vars,
            replay,
            aws,
            cluster,
            gate_guard,
            frozen_clock,
        } = config;
        let mut rows = Vec::new();
        for p in &runbook.phases {
            rows.push(Row {
                id: p.id.value.clone(),
                title: p.title.clone(),
                kind: RowKind::Phase {
                    rollback: p.rollback,
                },
                gate: p.gate.is_some(),
                destructive: p.gate.as_ref().is_some_and(|g| g.destructive),
                phase: p.id.value.clone(),
            });
            let steps = p.steps.iter().map(|s| (s, false));
            let validation = p.validation.iter().map(|s| (s, true));
            for (s, validation) in steps.chain(validation) {
                rows.push(step_row(s, &p.id.value, validation));
            }
        }
        let aws = aws.then(|| AwsBanner::new(runbook.targets.aws.as_ref()));
        let cluster = cluster.map(|c| {
            let mut view = ClusterView::new(c.context, c.namespace);
            if let Some(first) = &c.preview {
                view.preview(&first.filled(&|s| vars.render(s)));
            }
            view
        });
        let now = Instant::now();
        let mut app = App {
            runbook,
            run_id,
            who,
            theme,
            rows,
            steps: HashMap::new(),
            phases: HashMap::new(),
            checklist_done: HashMap::new(),
            selected: 0,
            follow_current: true,
            current_step: None,
            recent: VecDeque::new(),
            gate: None,
            prompt: None,
            confirm: None,
            focus: Pane::Output,
            zoom: None,
            help: false,
            search: Search::default(),
            wrap: false,
            timestamps: false,
            scroll: 0,
            side_scroll: 0,
            tree_scroll: 0,
            state: RunState::Running,
            message: None,
            scrollback,
            started: now,
            now,
            focused: true,
            areas: Areas::default(),
            dirty: true,
            gate_guard,
            vars,
            cluster,
            aws,
            wall_clock: frozen_clock.unwrap_or_else(chrono::Utc::now),
            frozen_clock,
        };
        if let Some(replay) = &replay {
            app.seed(replay);
        }
        app
    }

    /// Shows what a resumed run had already done before this session.
    fn seed(&mut self, replay: &Replay) {
        for (id, status) in &replay.steps {
            self.view(id).status = *status;
        }
        for (id, status) in &replay.phases {
            self.phases.insert(id.clone(), *status);
        }
        self.dirty = true;
    }

    pub fn runbook(&self) -> &Arc<Runbook> {
        &self.runbook
    }

    /// The rows of the phases tree, in order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// What the interface knows of a step that has started (or was done before a resume).
    pub fn step(&self, id: &str) -> Option<&StepView> {
        self.steps.get(id)
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The latest events, oldest first, each with its time.
    pub fn recent(&self) -> &VecDeque<String> {
        &self.recent
    }

    /// The gate's dialog, while a gate waits for a decision.
    pub fn gate(&self) -> Option<&GateDialog> {
        self.gate.as_ref()
    }

    pub fn gate_mut(&mut self) -> Option<&mut GateDialog> {
        self.gate.as_mut()
    }

    /// Takes the gate's dialog off the screen (to look at what is under it); see
    /// [`App::restore_gate`].
    pub fn take_gate(&mut self) -> Option<GateDialog> {
        self.dirty = true;
        self.gate.take()
    }

    pub fn restore_gate(&mut self, gate: Option<GateDialog>) {
        self.dirty = true;
        self.gate = gate;
    }

    /// A step's masked prompt, while it waits for a value.
    pub fn prompt(&self) -> Option<&ValueDialog> {
        self.prompt.as_ref()
    }

    pub fn prompt_mut(&mut self) -> Option<&mut ValueDialog> {
        self.prompt.as_mut()
    }

    /// The question on screen (abort the running step? quit?), if any.
    pub fn confirm(&self) -> Option<Confirm> {
        self.confirm
    }

    pub fn shows_help(&self) -> bool {
        self.help
    }

    pub fn search(&self) -> &Search {
        &self.search
    }

    pub fn search_mut(&mut self) -> &mut Search {
        self.dirty = true;
        &mut self.search
    }

    /// Whether long output lines wrap.
    pub fn wraps(&self) -> bool {
        self.wrap
    }

    pub fn set_wrap(&mut self, wrap: bool) {
        self.dirty = true;
        self.wrap = wrap;
    }

    pub fn set_focus(&mut self, pane: Pane) {
        self.dirty = true;
        self.focus = pane;
    }

    /// Shows one pane alone, or (`None`) all of them.
    pub fn set_zoom(&mut self, pane: Option<Pane>) {
        self.dirty = true;
        self.zoom = pane;
    }

    /// The pods and logs panes, when the run has a cluster.
    pub fn cluster(&self) -> Option<&ClusterView> {
        self.cluster.as_ref()
    }

    /// What the pods and logs panes ask of the watches since the last call.
    pub fn take_cluster_requests(&mut self) -> Vec<Request> {
        self.cluster
            .as_mut()
            .map(ClusterView::take_requests)
            .unwrap_or_default()
    }

    /// When the interface started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Sets the time the next frame is drawn at: `now` for elapsed times, and the wall clock
    /// (pod ages), the frozen one if there is one.
    pub fn set_clock(&mut self, now: Instant) {
        self.now = now;
        self.wall_clock = self.frozen_clock.unwrap_or_else(chrono::Utc::now);
    }

    /// Where the panes were drawn last (mouse clicks land by them).
    pub fn areas(&self) -> Areas {
        self.areas
    }

    pub fn step_def(&self, id: &str) -> Option<&Step> {
        fn find<'a>(steps: &'a [crate::runbook::Spanned<Step>], id: &str) -> Option<&'a Step> {
            for s in steps {
                if s.id.value == id {
                    return Some(&s.value);
                }
                if let Some(f) = &s.on_failure
                    && let Some(x) = find(&f.steps, id)
                {
                    return Some(x);
                }
            }
            None
        }
        for p in &self.runbook.phases {
            if let Some(s) = find(&p.steps, id).or_else(|| find(&p.validation, id)) {
                return Some(s);
            }
            if let Some(f) = &p.on_failure
                && let Some(s) = find(&f.steps, id)
            {
                return Some(s);
            }
        }
        self.runbook
            .on_failure
            .as_ref()
            .and_then(|f| find(&f.steps, id))
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    /// The step whose output the centre pane shows.
    pub fn shown_step(&self) -> Option<&str> {
        match self.selected_row() {
            Some(Row {
                kind: RowKind::Step { .. },
                id,
                ..
            }) => Some(id),
            _ => None,
        }
    }

    pub fn step_status(&self, id: &str) -> StepStatus {
        self.steps.get(id).map_or(StepStatus::Pending, |s| s.status)
    }

    pub fn progress(&self) -> (usize, usize) {
        let rollback: std::collections::HashSet<&str> = self
            .rows
            .iter()
            .filter(|p| p.kind == RowKind::Phase { rollback: true })
            .map(|p| p.id.as_str())
            .collect();
        let steps: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| matches!(r.kind, RowKind::Step { .. }))
            .filter(|r| !rollback.contains(r.phase.as_str()))
            .collect();
        let done = steps
            .iter()
            .filter(|r| {
                matches!(
                    self.step_status(&r.id),
                    StepStatus::Succeeded | StepStatus::Skipped
                )
            })
            .count();
        (done, steps.len())
    }

    fn note(&mut self, text: String) {
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back(format!("{} {text}", &clock()[..8]));
    }

    fn select_id(&mut self, id: &str) {
        if let Some(i) = self.rows.iter().position(|r| r.id == id) {
            if self.selected != i {
                self.scroll = 0;
                self.search.current = None;
            }
            self.selected = i;
        }
    }

    fn ensure_row(&mut self, id: &str, title: &str) {
        if self.rows.iter().any(|r| r.id == id) {
            return;
        }
        // A step not in the tree (a failure path's step, an undo): shown after the current one.
        let phase = self
            .current_step
            .as_ref()
            .and_then(|c| self.rows.iter().find(|r| &r.id == c))
            .map(|r| r.phase.clone())
            .unwrap_or_default();
        let at = self
            .current_step
            .as_ref()
            .and_then(|c| self.rows.iter().position(|r| &r.id == c))
            .map_or(self.rows.len(), |i| i + 1);
        let row = match self.step_def(id) {
            Some(s) => step_row(s, &phase, false),
            None => Row {
                id: id.to_string(),
                title: title.to_string(),
                kind: RowKind::Step { validation: false },
                gate: false,
                destructive: false,
                phase,
            },
        };
        self.rows.insert(at.min(self.rows.len()), row);
    }

    fn view(&mut self, id: &str) -> &mut StepView {
        let cap = self.scrollback;
        self.steps
            .entry(id.to_string())
            .or_insert_with(|| StepView {
                status: StepStatus::Pending,
                attempt: 0,
                attempts: 1,
                command: String::new(),
                started: None,
                duration: None,
                exit_code: None,
                error: None,
                output: OutputBuffer::new(cap),
            })
    }

    /// Applies one engine event.
    /// A message from the cluster side (pods, logs, a pod's detail, the live context).
    pub fn on_cluster(&mut self, m: crate::live::ClusterMsg) {
        if let Some(c) = self.cluster.as_mut() {
            c.on_msg(m);
            self.dirty = true;
        }
    }

    /// The AWS account and region were pinned (at the start, or by the first AWS step).
    pub fn on_aws_pin(&mut self, account: String, region: String) {
        let pin = Some((account, region));
        let Some(a) = self.aws.as_mut().filter(|a| a.pinned != pin) else {
            return;
        };
        a.pinned = pin;
        if let Some((account, region)) = &a.pinned {
            let text = format!("aws account {account} region {region}");
            self.note(text);
        }
        self.dirty = true;
    }

    pub fn on_engine(&mut self, ev: Event) {
        self.dirty = true;
        match ev {
            Event::RunStarted {
                run_id, resumed, ..
            } => {
                self.run_id = run_id;
                self.note(
                    if resumed {
                        "run resumed"
                    } else {
                        "run started"
                    }
                    .into(),
                );
            }
            Event::PhaseStarted { phase, .. } => {
                self.phases.insert(phase.clone(), StepStatus::Running);
                self.note(format!("phase {phase} started"));
                if self.follow_current && self.current_step.is_none() {
                    self.select_id(&phase);
                }
            }
            Event::PhaseFinished { phase, status } => {
                self.note(format!("phase {phase} {}", status.word()));
                self.phases.insert(phase, status);
            }
            Event::GateReached(req) => {
                self.note(format!("gate {} waiting", req.id));
                if self.follow_current {
                    self.select_id(&req.id);
                }
                if req.kind == GateKind::Interrupted {
                    self.view(&req.id).status = StepStatus::Interrupted;
                } else if matches!(req.kind, GateKind::Phase) {
                    self.phases.insert(req.id.clone(), StepStatus::AwaitingGate);
                } else if req.kind == GateKind::Step {
                    self.view(&req.id).status = StepStatus::AwaitingGate;
                }
                let ticks = vec![false; req.checklist.len()];
                let focus = if req.destructive {
                    DialogFocus::Confirm
                } else if !req.checklist.is_empty() {
                    DialogFocus::Checklist(0)
                } else {
                    DialogFocus::Choices
                };
                self.help = false;
                self.confirm = None;
                self.gate = Some(GateDialog {
                    request: req,
                    selected: None,
                    typed: String::new(),
                    note: String::new(),
                    ticks,
                    focus,
                    opened: self.now.max(Instant::now()),
                    message: None,
                });
            }
            Event::ValueRequested(req) => {
                self.note(format!(
                    "step {} asks for a value (masked prompt)",
                    req.step
                ));
                if self.follow_current {
                    self.select_id(&req.step);
                }
                self.help = false;
                self.prompt = Some(ValueDialog {
                    request: req,
                    typed: Secret::default(),
                    opened: self.now.max(Instant::now()),
                });
            }
            Event::GateDecided {
                gate,
                choice,
                who,
                via,
            } => {
                self.note(format!("gate {gate}: {} by {who} ({via})", choice.word()));
                if self.gate.as_ref().is_some_and(|g| g.request.id == gate)
                    && let Some(g) = self.gate.take()
                {
                    self.checklist_done.insert(g.request.id.clone(), g.ticks);
                }
                if self.phases.get(&gate) == Some(&StepStatus::AwaitingGate) {
                    self.phases.insert(gate, StepStatus::Pending);
                } else if let Some(v) = self.steps.get_mut(&gate)
                    && v.status == StepStatus::AwaitingGate
                {
                    v.status = StepStatus::Pending;
                }
            }
            Event::DecisionRefused { gate, reason } => {
                let text = format!("decision for {gate} refused: {reason}");
                if let Some(g) = self.gate.as_mut() {
                    g.message = Some(reason);
                }
                self.note(text.clone());
                self.message = Some(text);
            }
            Event::StepStarted {
                step,
                title,
                attempt,
                attempts,
                command,
            } => {
                self.ensure_row(&step, &title);
                self.current_step = Some(step.clone());
                if self.cluster.is_some() {
                    let action = self
                        .step_def(&step)
                        .and_then(|s| s.run.as_ref())
                        .and_then(|r| r.kube())
                        .map(|a| a.filled(&|t| self.vars.render(t)));
                    if let Some(c) = self.cluster.as_mut() {
                        c.step_started(&step, action.as_ref());
                    }
                }
                let v = self.view(&step);
                v.status = StepStatus::Running;
                v.attempt = attempt;
                v.attempts = attempts;
                v.command = command;
                v.started = Some(Instant::now());
                v.duration = None;
                v.error = None;
                v.exit_code = None;
                let of = if attempts > 1 {
                    format!(" (attempt {attempt}/{attempts})")
                } else {
                    String::new()
                };
                self.note(format!("step {step} started{of}"));
                if self.follow_current {
                    self.select_id(&step);
                }
            }
            Event::Output { step, stream, text } => {
                let at: Arc<str> = Arc::from(clock());
                self.view(&step).output.push_chunk(stream, &at, &text);
                if self.shown_step() == Some(step.as_str()) && self.scroll > 0 {
                    // Stay on the same lines while scrolled back.
                    self.scroll += text.matches('\n').count();
                }
            }
            Event::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
            } => {
                // A prompt still open for the step (it was aborted) has nothing left to answer.
                if self.prompt.as_ref().is_some_and(|p| p.request.step == step) {
                    self.prompt = None;
                }
                let v = self.view(&step);
                v.status = status;
                v.exit_code = exit_code;
                v.duration = Some(duration);
                v.error = error.clone();
                let mut text = format!("step {step} {}", status.word());
                if let Some(e) = error {
                    text.push_str(&format!(": {e}"));
                }
                self.note(text);
            }
            Event::RetryScheduled {
                step,
                next_attempt,
                delay,
            } => self.note(format!(
                "step {step}: attempt {next_attempt} in {:.1}s",
                delay.as_secs_f64()
            )),
            Event::VarCaptured { name, shown } => {
                self.note(format!("captured {name} = {shown}"));
                // `shown` is already masked for a secret.
                self.vars.set(&name, shown, false);
            }
            Event::Note(n) => self.note(n),
            Event::RunPaused { reason } => {
                self.note(format!("run paused: {reason}"));
                self.gate = None;
                self.prompt = None;
                self.state = RunState::Paused(reason);
            }
            Event::RunFinished { status } => {
                self.note(format!("run {}", status.word()));
                self.gate = None;
                self.prompt = None;
                self.state = RunState::Finished(status);
            }
        }
    }

    fn step_running(&self) -> bool {
        self.steps.values().any(|s| s.status == StepStatus::Running)
    }

    /// Applies one terminal event; returns what the loop must do.
    pub fn on_input(&mut self, ev: TermEvent) -> Vec<Action> {
        self.dirty = true;
        match ev {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => self.on_key(k),
            TermEvent::Mouse(m) => {
                self.on_mouse(m);
                Vec::new()
            }
            TermEvent::Paste(text) if self.prompt.is_some() => self.on_prompt_paste(&text),
            TermEvent::FocusLost => {
                self.focused = false;
                Vec::new()
            }
            TermEvent::FocusGained => {
                self.focused = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub fn on_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            return self.on_ctrl_c();
        }
        if let Some(c) = self.confirm {
            return self.on_confirm(c, k);
        }
        if self.help {
            if matches!(
                k.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ) {
                self.help = false;
            }
            return Vec::new();
        }
        if self.prompt.is_some() {
            return self.on_prompt_key(k);
        }
        if self.gate.is_some() {
            return self.on_gate_key(k);
        }
        if self.search.editing {
            self.on_search_key(k);
            return Vec::new();
        }
        self.message = None;
        // The pods and logs panes have keys of their own; what they leave is the app's.
        if let Some(c) = self.cluster.as_mut() {
            let handled = match self.focus {
                Pane::Pods => c.pods_key(k),
                Pane::Logs => c.logs_key(k),
                _ => false,
            };
            if handled {
                return Vec::new();
            }
        }
        match k.code {
            KeyCode::Char('q') => {
                if matches!(self.state, RunState::Running) {
                    self.confirm = Some(Confirm::Quit);
                } else {
                    return vec![Action::Quit];
                }
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab => self.focus = self.focus.next(self.cluster.is_some()),
            KeyCode::BackTab => self.focus = self.focus.prev(self.cluster.is_some()),
            KeyCode::Char('z') => {
                self.zoom = if self.zoom.is_some() {
                    None
                } else {
                    Some(self.focus)
                };
            }
            KeyCode::Esc => {
                self.zoom = None;
                self.search = Search::default();
            }
            KeyCode::Char('f') => {
                self.follow_current = !self.follow_current;
                if self.follow_current {
                    self.scroll = 0;
                    if let Some(c) = self.current_step.clone() {
                        self.select_id(&c);
                    }
                }
            }
            KeyCode::Char('w') => self.wrap = !self.wrap,
            KeyCode::Char('t') => self.timestamps = !self.timestamps,
            KeyCode::Char('/') => {
                self.search = Search {
                    editing: true,
                    ..Search::default()
                };
            }
            KeyCode::Char('n') => self.jump(true),
            KeyCode::Char('N') => self.jump(false),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-20),
            KeyCode::PageDown => self.move_by(20),
            KeyCode::Home | KeyCode::Char('g') => self.move_to(true),
            KeyCode::End | KeyCode::Char('G') => self.move_to(false),
            KeyCode::Enter if self.focus == Pane::Tree => self.focus = Pane::Output,
            _ => {}
        }
        Vec::new()
    }

    fn on_ctrl_c(&mut self) -> Vec<Action> {
        match self.confirm {
            Some(Confirm::AbortStep) => {
                self.confirm = None;
                return vec![Action::Send(Command::Abort)];
            }
            _ if !matches!(self.state, RunState::Running) => return vec![Action::Quit],
            _ => {}
        }
        self.confirm = Some(if self.step_running() {
            Confirm::AbortStep
        } else {
            Confirm::Quit
        });
        Vec::new()
    }

    fn on_confirm(&mut self, c: Confirm, k: KeyEvent) -> Vec<Action> {
        match k.code {
            KeyCode::Char('y') => {
                self.confirm = None;
                match c {
                    Confirm::AbortStep => vec![Action::Send(Command::Abort)],
                    Confirm::Quit if self.step_running() => {
                        vec![Action::Send(Command::Abort), Action::Quit]
                    }
                    Confirm::Quit => vec![
                        Action::Send(Command::Pause("the operator quit the interface".into())),
                        Action::Quit,
                    ],
                }
            }
            KeyCode::Char('n') | KeyCode::Esc => {
                self.confirm = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_search_key(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Esc => self.search = Search::default(),
            KeyCode::Enter => {
                self.search.editing = false;
                self.jump(false);
            }
            KeyCode::Backspace => {
                self.search.query.pop();
            }
            KeyCode::Char(c) => self.search.query.push(c),
            _ => {}
        }
    }

    /// Moves to the next (`forward`, towards newer lines) or previous match.
    fn jump(&mut self, forward: bool) {
        let q = self.search.query.clone();
        if q.is_empty() {
            return;
        }
        let Some(id) = self.shown_step().map(String::from) else {
            return;
        };
        let Some(v) = self.steps.get(&id) else { return };
        let len = v.output.len();
        if len == 0 {
            return;
        }
        let from = self
            .search
            .current
            .unwrap_or(len.saturating_sub(1 + self.scroll));
        let hit = |i: usize| super::ansi::strip(v.output.get(i).unwrap().text).contains(&q);
        let found = if forward {
            (from + 1..len).find(|&i| hit(i))
        } else if self.search.current.is_none() {
            (0..=from).rev().find(|&i| hit(i))
        } else {
            (0..from).rev().find(|&i| hit(i))
        };
        match found {
            Some(i) => {
                self.search.current = Some(i);
                self.search.not_found = false;
                // The match in the middle of the pane, with what follows it in view.
                let half = (self.areas.output.height as usize).saturating_sub(2) / 2;
                self.scroll = (len - 1 - i).saturating_sub(half);
                self.follow_current = false;
            }
            None => self.search.not_found = true,
        }
    }

    fn output_len(&self) -> usize {
        self.shown_step()
            .and_then(|s| self.steps.get(s))
            .map_or(0, |v| v.output.len())
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Pane::Tree => {
                let n = self.rows.len() as isize;
                let i = (self.selected as isize + delta).clamp(0, (n - 1).max(0)) as usize;
                if i != self.selected {
                    self.selected = i;
                    self.scroll = 0;
                    self.search.current = None;
                    self.follow_current = false;
                }
            }
            Pane::Output => {
                // Up scrolls back in time.
                let max = self.output_len().saturating_sub(1) as isize;
                self.scroll = (self.scroll as isize - delta).clamp(0, max) as usize;
            }
            Pane::Side => {
                let max = self.recent.len().saturating_sub(1) as isize;
                self.side_scroll = (self.side_scroll as isize - delta).clamp(0, max) as usize;
            }
            Pane::Pods | Pane::Logs => {}
        }
    }

    fn move_to(&mut self, start: bool) {
        match self.focus {
            Pane::Tree => {
                self.selected = if start {
                    0
                } else {
                    self.rows.len().saturating_sub(1)
                };
                self.follow_current = false;
            }
            Pane::Output => {
                self.scroll = if start {
                    self.output_len().saturating_sub(1)
                } else {
                    0
                };
            }
            Pane::Side => {
                self.side_scroll = if start {
                    self.recent.len().saturating_sub(1)
                } else {
                    0
                };
            }
            Pane::Pods | Pane::Logs => {}
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        let at = |r: Rect| {
            m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
        };
        let pane = if at(self.areas.tree) {
            Some(Pane::Tree)
        } else if at(self.areas.output) {
            Some(Pane::Output)
        } else if at(self.areas.side) {
            Some(Pane::Side)
        } else if at(self.areas.pods) {
            Some(Pane::Pods)
        } else if at(self.areas.logs) {
            Some(Pane::Logs)
        } else {
            None
        };
        let Some(pane) = pane else { return };
        if self.gate.is_some() || self.prompt.is_some() || self.help || self.confirm.is_some() {
            return;
        }
        match m.kind {
            MouseEventKind::ScrollUp => {
                self.focus = pane;
                self.move_by(-3);
            }
            MouseEventKind::ScrollDown => {
                self.focus = pane;
                self.move_by(3);
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Pane::Tree {
                    let row =
                        (m.row.saturating_sub(self.areas.tree.y + 1)) as usize + self.tree_scroll;
                    if row < self.rows.len() {
                        self.selected = row;
                        self.scroll = 0;
                        self.follow_current = false;
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether a dialog opened at `opened` takes keys now: not in its first moments (keys typed
    /// before it could be read, as at a gate), nor while the window is not focused.
    fn takes_keys(&self, opened: Instant) -> bool {
        self.focused && Instant::now().duration_since(opened) >= self.gate_guard
    }

    /// A key at the masked prompt: typed characters are kept (shown as bullets), Enter hands
    /// the value to the engine, Esc declines (the step fails).
    fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let Some(opened) = self.prompt.as_ref().map(|p| p.opened) else {
            return Vec::new();
        };
        if !self.takes_keys(opened) {
            return Vec::new();
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let Some(p) = self.prompt.as_mut() else {
            return Vec::new();
        };
        match k.code {
            KeyCode::Enter => {
                let p = self.prompt.take().expect("open");
                vec![Action::Send(Command::Value {
                    step: p.request.step,
                    value: Ok(p.typed),
                })]
            }
            KeyCode::Esc => {
                let p = self.prompt.take().expect("open");
                vec![Action::Send(Command::Value {
                    step: p.request.step,
                    value: Err(PROMPT_CANCELLED.into()),
                })]
            }
            KeyCode::Backspace => {
                p.typed.0.pop();
                Vec::new()
            }
            KeyCode::Char('u') if ctrl => {
                p.typed.0.clear();
                Vec::new()
            }
            KeyCode::Char(c) if !ctrl && !k.modifiers.contains(KeyModifiers::ALT) => {
                p.typed.0.push(c);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Pasted text at the masked prompt, line ends as `\n` (a terminal sends `\r`), without a
    /// final one.
    fn on_prompt_paste(&mut self, text: &str) -> Vec<Action> {
        let Some(opened) = self.prompt.as_ref().map(|p| p.opened) else {
            return Vec::new();
        };
        if !self.takes_keys(opened) {
            return Vec::new();
        }
        if let Some(p) = self.prompt.as_mut() {
            let text = text.replace("\r\n", "\n").replace('\r', "\n");
            p.typed.0.push_str(text.trim_end_matches('\n'));
        }
        Vec::new()
    }

    fn on_gate_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let Some(g) = self.gate.as_mut() else {
            return Vec::new();
        };
        // Keys typed before the dialog could be read, or while the window is not focused, do
        // not decide anything.
        if !self.focused || Instant::now().duration_since(g.opened) < self.gate_guard {
            return Vec::new();
        }
        g.message = None;
        let text_focus = matches!(g.focus, DialogFocus::Confirm | DialogFocus::Note);
        match k.code {
            KeyCode::Tab => {
                g.focus = next_focus(g, true);
                return Vec::new();
            }
            KeyCode::BackTab => {
                g.focus = next_focus(g, false);
                return Vec::new();
            }
            KeyCode::Char('?') if !text_focus => {
                self.help = true;
                return Vec::new();
            }
            _ => {}
        }
        match g.focus {
            DialogFocus::Confirm | DialogFocus::Note => {
                let field = if g.focus == DialogFocus::Confirm {
                    &mut g.typed
                } else {
                    &mut g.note
                };
                match k.code {
                    KeyCode::Char(c) => field.push(c),
                    KeyCode::Backspace => {
                        field.pop();
                    }
                    KeyCode::Enter | KeyCode::Esc => g.focus = DialogFocus::Choices,
                    _ => {}
                }
                Vec::new()
            }
            DialogFocus::Checklist(i) => {
                match k.code {
                    KeyCode::Char(' ') | KeyCode::Char('x') | KeyCode::Enter => {
                        if let Some(t) = g.ticks.get_mut(i) {
                            *t = !*t;
                        }
                    }
                    KeyCode::Up | KeyCode::Char('k') if i > 0 => {
                        g.focus = DialogFocus::Checklist(i - 1)
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        g.focus = if i + 1 < g.ticks.len() {
                            DialogFocus::Checklist(i + 1)
                        } else {
                            DialogFocus::Choices
                        }
                    }
                    // The choice keys work from the checklist too (x ticks here).
                    KeyCode::Char(c) => {
                        if let Some(choice) = choice_for_key(c, &g.request.choices) {
                            return self.decide(choice);
                        }
                    }
                    _ => {}
                }
                Vec::new()
            }
            DialogFocus::Choices => {
                let choices = g.request.choices.clone();
                match k.code {
                    KeyCode::Left | KeyCode::Char('h') => {
                        g.selected = Some(g.selected.map_or(0, |s| s.saturating_sub(1)));
                        Vec::new()
                    }
                    KeyCode::Right | KeyCode::Char('l') => {
                        g.selected = Some(g.selected.map_or(0, |s| (s + 1).min(choices.len() - 1)));
                        Vec::new()
                    }
                    KeyCode::Char('n') => {
                        g.focus = DialogFocus::Note;
                        Vec::new()
                    }
                    KeyCode::Enter => match g.selected.and_then(|i| choices.get(i)).copied() {
                        Some(c) => self.decide(c),
                        None => {
                            g.message = Some("choose with ←/→ or a key first".into());
                            Vec::new()
                        }
                    },
                    KeyCode::Char(c) => match choice_for_key(c, &choices) {
                        Some(choice) => self.decide(choice),
                        None => Vec::new(),
                    },
                    _ => Vec::new(),
                }
            }
        }
    }

    /// Sends a decision for the open gate, after the dialog's own checks.
    fn decide(&mut self, choice: Choice) -> Vec<Action> {
        let Some(g) = self.gate.as_mut() else {
            return Vec::new();
        };
        if choice == Choice::Approve {
            if g.ticks.iter().any(|t| !t) {
                g.message = Some("tick every checklist item first (space)".into());
                g.focus = DialogFocus::Checklist(g.ticks.iter().position(|t| !t).unwrap_or(0));
                return Vec::new();
            }
            if !g.request.confirmed_by(Some(&g.typed)) {
                g.message = Some(format!(
                    "type `{}` to approve",
                    g.request.confirm.as_deref().unwrap_or_default()
                ));
                g.focus = DialogFocus::Confirm;
                return Vec::new();
            }
        }
        let note = g.note.trim().to_string();
        vec![Action::Send(Command::Decide(Decision {
            gate: g.request.id.clone(),
            choice,
            who: self.who.clone(),
            via: "interface".into(),
            note: (!note.is_empty()).then_some(note),
            typed: (g.request.destructive && choice == Choice::Approve)
                .then(|| g.typed.trim().to_string()),
        }))]
    }

    /// The keys that work right now, for the status line.
    pub fn hints(&self) -> Vec<(&'static str, &'static str)> {
        if self.confirm.is_some() {
            return vec![("y", "yes"), ("n", "no")];
        }
        if self.help {
            return vec![("esc", "close help")];
        }
        if self.prompt.is_some() {
            return vec![
                ("type", "the value (not shown)"),
                ("enter", "use it"),
                ("esc", "cancel: the step fails"),
            ];
        }
        if let Some(g) = &self.gate {
            return match g.focus {
                DialogFocus::Confirm => {
                    vec![("type", "the word"), ("tab", "next"), ("enter", "done")]
                }
                DialogFocus::Note => vec![("type", "a note"), ("tab", "next"), ("enter", "done")],
                DialogFocus::Checklist(_) => {
                    vec![("space", "tick"), ("↑↓", "move"), ("tab", "next")]
                }
                DialogFocus::Choices => {
                    let mut h: Vec<(&str, &str)> = g
                        .request
                        .choices
                        .iter()
                        .map(|c| (key_for(*c), c.word()))
                        .collect();
                    h.push(("n", "note"));
                    h.push(("tab", "next"));
                    h
                }
            };
        }
        if self.search.editing {
            return vec![("enter", "find"), ("esc", "cancel")];
        }
        match self.focus {
            Pane::Pods if self.cluster.is_some() => {
                return vec![
                    ("↑↓", "move"),
                    ("enter", "detail"),
                    ("l/L", "logs pod/owner"),
                    ("s", "sort"),
                    ("/", "filter"),
                    ("o", "group"),
                    ("tab", "pane"),
                    ("z", "zoom"),
                ];
            }
            Pane::Logs if self.cluster.is_some() => {
                return vec![
                    ("↑↓", "scroll"),
                    ("space", "pause/follow"),
                    ("/", "search"),
                    ("F", "filter"),
                    ("p", "previous"),
                    ("t", "times"),
                    ("tab", "pane"),
                    ("z", "zoom"),
                ];
            }
            _ => {}
        }
        let mut h = vec![
            ("↑↓", "move"),
            ("tab", "pane"),
            ("z", "zoom"),
            ("/", "search"),
        ];
        if !self.search.query.is_empty() {
            h.push(("n/N", "next/prev"));
        }
        h.extend([
            ("f", "follow"),
            ("w", "wrap"),
            ("t", "times"),
            ("?", "help"),
            ("q", "quit"),
        ]);
        h
    }
}

fn step_row(s: &Step, phase: &str, validation: bool) -> Row {
    let gate = s.effective_gate();
    Row {
        id: s.id.value.clone(),
        title: s.title.clone(),
        kind: RowKind::Step { validation },
        gate: gate.is_some(),
        destructive: gate.is_some_and(|g| g.destructive),
        phase: phase.to_string(),
    }
}

fn next_focus(g: &GateDialog, forward: bool) -> DialogFocus {
    let mut order = Vec::new();
    if g.request.destructive {
        order.push(DialogFocus::Confirm);
    }
    order.extend((0..g.ticks.len()).map(DialogFocus::Checklist));
    order.push(DialogFocus::Note);
    order.push(DialogFocus::Choices);
    let i = order.iter().position(|f| *f == g.focus).unwrap_or(0);
    let n = order.len();
    order[if forward {
        (i + 1) % n
    } else {
        (i + n - 1) % n
    }]
}

/// The key that picks a choice in a dialog.
pub fn key_for(c: Choice) -> &'static str {
    match c {
        Choice::Approve => "a",
        Choice::Reject => "r",
        Choice::Skip => "s",
        Choice::Retry => "t",
        Choice::MarkDone => "m",
        Choice::Rollback => "b",
        Choice::Abort => "x",
    }
}

fn choice_for_key(c: char, choices: &[Choice]) -> Option<Choice> {
    choices
        .iter()
        .copied()
        .find(|ch| key_for(*ch).starts_with(c))
}

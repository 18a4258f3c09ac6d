//! The interface's state, and how engine events and keys change it. Rendering is elsewhere and
//! reads this state only.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cluster::ClusterView;
use super::config::Config;
use super::output::OutputBuffer;
pub use super::state::*;
use crate::engine::journal::Replay;
use crate::engine::variables::Vars;
use crate::live::Request;
use crate::protocol::{Event, GateKind, History, Secret, StepStatus};
use crate::runbook::{Runbook, Step};
use crate::ui::theme::Theme;

pub struct App {
    pub(super) runbook: Arc<Runbook>,
    pub(super) run_id: String,
    pub(super) who: String,
    pub(super) theme: Theme,
    /// Presenting (`P`): the theme to go back to; the banner shows SHARED meanwhile.
    pub(super) presenting: Option<Theme>,
    pub(super) rows: Vec<Row>,
    pub(super) steps: HashMap<String, StepView>,
    pub(super) phases: HashMap<String, StepStatus>,
    pub(super) checklist_done: HashMap<String, Vec<bool>>,
    /// The row selected in the tree.
    pub(super) selected: usize,
    /// The selection follows the step that runs.
    pub(super) follow_current: bool,
    /// The runbook the failure path led to (`on_failure: {runbook: NAME}`), once it did: `o`
    /// opens it after the run.
    pub(super) follow_offer: Option<String>,
    /// The runbook to open when the run has ended (chosen with `o`).
    pub(super) follow_chosen: Option<String>,
    pub(super) current_step: Option<String>,
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
    pub(super) state: RunState,
    pub(super) message: Option<String>,
    pub(super) scrollback: usize,
    pub(super) started: Instant,
    pub(super) now: Instant,
    /// When the run finished or paused (by the app's clock): the banner's clock stops there.
    pub(super) ended: Option<Instant>,
    /// Gates decided in this session.
    pub(super) gates_decided: usize,
    /// The phase shown waiting while a failed or interrupted step's dialog is open: the gate,
    /// the phase, and the phase's status before.
    pub(super) gate_phase: Option<(String, String, StepStatus)>,
    /// Whether the terminal window has focus (no decisions while it has not).
    pub(super) focused: bool,
    pub(super) areas: Areas,
    pub(super) dirty: bool,
    /// Keys this soon after a dialog opens are ignored.
    pub(super) gate_guard: Duration,
    /// Values to fill into commands not yet run (secrets masked).
    pub(super) vars: Vars,
    /// The pods and logs panes, when the run has a cluster.
    pub(super) cluster: Option<ClusterView>,
    /// The AWS account and region, when the run has anything to do with AWS.
    pub(super) aws: Option<AwsBanner>,
    /// The wall clock at the last draw (pod ages).
    pub(super) wall_clock: chrono::DateTime<chrono::Utc>,
    /// A fixed wall clock (tests' snapshots).
    pub(super) frozen_clock: Option<chrono::DateTime<chrono::Utc>>,
    /// While the events of earlier sessions are applied: the time of the one being applied.
    pub(super) replaying: Option<String>,
    /// What the dialogs keep besides the open gate: the flags' approvals, decisions to send.
    pub(super) dialogs: super::state::Dialogs,
    /// A rehearsal against stand-ins: the banner's mark, the help's `export KUBECONFIG=…`.
    pub(super) rehearsal: Option<super::config::Rehearsal>,
    /// The runbook's deadline, as the engine announced it at the run's start (or resume): the
    /// banner shows the time left against the run's clock.
    pub(super) deadline: Option<crate::protocol::Deadline>,
    /// Who is at the keys and who follows, when the run is shown in other terminals too.
    pub(super) sharing: Sharing,
}

/// The time of day now, `HH:MM:SS.mmm`, local; with a frozen clock (tests' snapshots), the
/// frozen time in UTC, the same on every machine.
fn clock(frozen: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match frozen {
        Some(t) => t.format("%H:%M:%S%.3f").to_string(),
        None => chrono::Local::now().format("%H:%M:%S%.3f").to_string(),
    }
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
            approvals,
            rehearsal,
            follower,
            driver,
        } = config;
        let rows = rows_of(&runbook);
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
            // Started with the presenter theme: presenting already, `P` goes to the default.
            presenting: (theme.name == "presenter").then(Theme::default),
            theme,
            rows,
            steps: HashMap::new(),
            phases: HashMap::new(),
            checklist_done: HashMap::new(),
            selected: 0,
            follow_current: true,
            follow_offer: None,
            follow_chosen: None,
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
            state: RunState::Running,
            message: None,
            scrollback,
            started: now,
            now,
            ended: None,
            gates_decided: 0,
            gate_phase: None,
            focused: true,
            areas: Areas::default(),
            dirty: true,
            gate_guard,
            vars,
            cluster,
            aws,
            wall_clock: frozen_clock.unwrap_or_else(chrono::Utc::now),
            frozen_clock,
            replaying: None,
            dialogs: super::state::Dialogs::new(approvals),
            rehearsal,
            deadline: None,
            sharing: Sharing {
                follower,
                keys: !follower,
                driver: driver.unwrap_or_else(|| who.clone()),
                ..Sharing::default()
            },
            who,
        };
        if let Some(replay) = &replay {
            app.seed(replay);
        }
        app
    }

    /// `P`: the presenter theme on (the one in use kept to go back to) or off; colours stay
    /// off when NO_COLOR asks.
    pub(super) fn toggle_presenting(&mut self) {
        match self.presenting.take() {
            Some(before) => self.theme = before,
            None => {
                let mut presenter = Theme::builtin("presenter").unwrap_or_default();
                if Theme::no_color_from_env() {
                    presenter = presenter.without_colors();
                }
                self.presenting = Some(std::mem::replace(&mut self.theme, presenter));
            }
        }
    }

    /// Whether the screen is being presented (`P`, or started with the presenter theme).
    pub fn presenting(&self) -> bool {
        self.presenting.is_some()
    }

    /// Shows what a resumed run had already done before this session.
    pub(super) fn seed(&mut self, replay: &Replay) {
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
        let g = self.gate.take();
        // What was ticked stays on screen while the dialog is away.
        if let Some(g) = &g {
            self.checklist_done
                .insert(g.request.id.clone(), g.ticks.clone());
        }
        g
    }

    /// The checklist items of a phase ticked so far: in its open gate's dialog, or when it was
    /// last decided or put away.
    pub fn ticks(&self, phase: &str) -> Option<&[bool]> {
        match &self.gate {
            Some(g) if g.request.id == phase => Some(&g.ticks),
            _ => self.checklist_done.get(phase).map(Vec::as_slice),
        }
    }

    /// How long the run has taken: until now, or until it finished (or paused).
    pub fn elapsed(&self) -> Duration {
        self.ended
            .unwrap_or(self.now)
            .saturating_duration_since(self.started)
    }

    /// The banner's deadline: `⏱ 3h12m left` or `⏱ 5m over`, and whether it is in its last
    /// fifth or past (the theme's warning style).
    pub fn deadline_text(&self) -> Option<(String, bool)> {
        let d = self.deadline.as_ref()?;
        let elapsed = self.elapsed();
        let text = match d.left(elapsed) {
            Ok(left) => format!("⏱ {} left", crate::protocol::short_duration(left)),
            Err(over) => format!("⏱ {} over", crate::protocol::short_duration(over)),
        };
        Some((text, d.warning(elapsed)))
    }

    /// What a finished run did: `succeeded in 00:00:49: 9 ok · 0 failed · 1 skipped · 3 gates
    /// decided`.
    pub fn summary(&self) -> Option<String> {
        let RunState::Finished(status) = &self.state else {
            return None;
        };
        let count = |s: StepStatus| self.steps.values().filter(|v| v.status == s).count();
        let gates = self.gates_decided;
        Some(format!(
            "{} in {}: {} ok · {} failed · {} skipped · {gates} gate{} decided",
            status.word(),
            hms(self.elapsed()),
            count(StepStatus::Succeeded),
            count(StepStatus::Failed),
            count(StepStatus::Skipped),
            if gates == 1 { "" } else { "s" },
        ))
    }

    /// Follows the running step and its new output (one press, whatever was scrolled or
    /// selected before).
    pub(super) fn follow(&mut self) {
        self.follow_current = true;
        self.scroll = 0;
        if let Some(c) = self.current_step.clone() {
            self.select_id(&c);
        }
    }

    /// The first row of the tree shown in `height` rows, keeping the selection in view: the
    /// draw and the mouse agree on it.
    pub fn tree_offset(&self, height: usize) -> usize {
        if height == 0 || self.rows.len() <= height {
            return 0;
        }
        self.selected
            .saturating_sub(height / 2)
            .min(self.rows.len() - height)
    }

    /// The output pane's size inside its border, as last drawn.
    fn output_inner(&self) -> (usize, usize) {
        let a = self.areas.output;
        (
            a.height.saturating_sub(2) as usize,
            a.width.saturating_sub(2) as usize,
        )
    }

    /// The furthest the output scrolls back with the pane still full (the first line at the
    /// top).
    pub(super) fn output_max_scroll(&self) -> usize {
        let Some(v) = self.shown_step().and_then(|s| self.steps.get(s)) else {
            return 0;
        };
        let (h, w) = self.output_inner();
        let out = &v.output;
        let len = out.len();
        let mut used = 0;
        for i in 0..len {
            used += match out.get(i) {
                // The line as drawn: its time, the stderr mark, its text without escapes.
                Some(line) if self.wrap => {
                    let mut plain = String::new();
                    if self.timestamps {
                        plain.push_str(line.at);
                        plain.push(' ');
                    }
                    if line.stream == crate::protocol::Stream::Stderr {
                        plain.push('▌');
                    }
                    plain.push_str(&super::ansi::strip(line.text));
                    super::output::char_rows(&plain, w)
                }
                _ => 1,
            };
            if used >= h {
                return len - (i + 1);
            }
        }
        0
    }

    /// Every row of the events pane at width `w`, oldest first.
    pub(super) fn event_rows(&self, w: usize) -> Vec<String> {
        self.recent
            .iter()
            .flat_map(|e| super::output::wrap_words(e, w))
            .collect()
    }

    /// The events pane's size inside its border, as last drawn.
    fn side_inner(&self) -> (usize, usize) {
        let a = self.areas.side;
        (
            a.height.saturating_sub(2) as usize,
            a.width.saturating_sub(2) as usize,
        )
    }

    /// The furthest the events pane scrolls back, in rows, with the pane still full.
    pub(super) fn side_max_scroll(&self) -> usize {
        let (h, w) = self.side_inner();
        if w == 0 {
            return self.recent.len().saturating_sub(1);
        }
        self.event_rows(w).len().saturating_sub(h)
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

    /// The pane that takes the keys.
    pub fn focus(&self) -> Pane {
        self.focus
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

    /// The runbook to open now that the run has ended and the engine is gone: the one `o` chose
    /// at the failed step's dialog. Nothing while the run has not finished (a rollback phase
    /// may still pause it).
    pub fn take_follow(&mut self) -> Option<String> {
        match self.state {
            RunState::Finished(_) => self.follow_chosen.take(),
            _ => None,
        }
    }

    /// The runbook `o` opens after the run, if the failure path led to one.
    pub fn follow_offer(&self) -> Option<&str> {
        self.follow_offer.as_deref()
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

    pub(super) fn note(&mut self, text: String) {
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        // An event of an earlier session is shown at the time it happened.
        let at = match &self.replaying {
            Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|_| "--:--:--".into()),
            None => clock(self.frozen_clock)[..8].to_string(),
        };
        let entry = format!("{at} {text}");
        let (_, w) = self.side_inner();
        if self.side_scroll > 0 && w > 0 {
            // Scrolled back: the same rows stay in view.
            self.side_scroll += super::output::wrap_words(&entry, w).len();
        }
        self.recent.push_back(entry);
    }

    /// Rebuilds what earlier sessions of a resumed run showed, from its journal: each event
    /// applied as it was then, at its time, without starting anything now. What was running when
    /// tollgate stopped is interrupted, and the run's clock counts from when it first started.
    fn on_history(&mut self, h: History) {
        for past in h.entries {
            if matches!(past.event, Event::History(_)) {
                continue;
            }
            self.replaying = Some(past.at);
            self.on_engine(past.event);
        }
        self.replaying = None;
        for v in self.steps.values_mut() {
            if v.status == StepStatus::Running {
                v.status = StepStatus::Interrupted;
            }
            v.started = None;
        }
        for s in self.phases.values_mut() {
            if *s == StepStatus::Running {
                *s = StepStatus::Interrupted;
            }
        }
        // An earlier session that ended (paused, failed) stopped the clock: this one goes on.
        self.state = RunState::Running;
        self.ended = None;
        self.gate = None;
        self.prompt = None;
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&h.started_at) {
            let since = chrono::Utc::now()
                .signed_duration_since(t)
                .to_std()
                .unwrap_or_default();
            if let Some(started) = Instant::now().checked_sub(since) {
                self.started = started;
            }
        }
    }

    pub(super) fn select_id(&mut self, id: &str) {
        if let Some(i) = self.rows.iter().position(|r| r.id == id) {
            if self.selected != i {
                self.scroll = 0;
                self.search.current = None;
            }
            self.selected = i;
        }
    }

    pub(super) fn ensure_row(&mut self, id: &str, title: &str) {
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

    pub(super) fn view(&mut self, id: &str) -> &mut StepView {
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
                not_kept: None,
                progress: None,
            })
    }

    /// The host of this interface's person (`name@host`).
    pub(super) fn host(&self) -> &str {
        self.who.split_once('@').map_or("", |(_, h)| h)
    }

    /// Who is at the keys, who follows, and a handover asked for.
    pub fn sharing(&self) -> &Sharing {
        &self.sharing
    }

    /// Forgets what the events so far showed (the run's state is about to be sent again, from
    /// its start); how the panes are looked at stays.
    fn reset(&mut self) {
        self.rows = rows_of(&self.runbook);
        self.steps.clear();
        self.phases.clear();
        self.checklist_done.clear();
        self.selected = 0;
        self.follow_current = true;
        self.follow_offer = None;
        self.current_step = None;
        self.recent.clear();
        self.gate = None;
        self.prompt = None;
        self.scroll = 0;
        self.side_scroll = 0;
        self.state = RunState::Running;
        self.ended = None;
        self.gates_decided = 0;
        self.gate_phase = None;
        self.deadline = None;
        self.sharing.asked = None;
        // Whether this view is at the keys is said again after the state.
        if self.sharing.follower {
            self.sharing.keys = false;
        }
        self.note("fell behind the run: its whole state was sent again".into());
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
                run_id,
                resumed,
                deadline,
                ..
            } => {
                self.run_id = run_id;
                if deadline.is_some() {
                    self.deadline = deadline;
                }
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
                if matches!(req.kind, GateKind::Failed | GateKind::Interrupted) {
                    // Nothing runs while the failure waits for a decision: the phase waits too.
                    let phase = self
                        .rows
                        .iter()
                        .find(|r| r.id == req.id)
                        .map(|r| r.phase.clone())
                        .filter(|p| !p.is_empty());
                    if let Some(phase) = phase {
                        let before = self
                            .phases
                            .insert(phase.clone(), StepStatus::AwaitingGate)
                            .unwrap_or(StepStatus::Pending);
                        self.gate_phase = Some((req.id.clone(), phase, before));
                    }
                }
                if req.kind == GateKind::Interrupted {
                    self.view(&req.id).status = StepStatus::Interrupted;
                } else if matches!(req.kind, GateKind::Phase) {
                    self.phases.insert(req.id.clone(), StepStatus::AwaitingGate);
                } else if req.kind == GateKind::Step {
                    self.view(&req.id).status = StepStatus::AwaitingGate;
                }
                self.open_gate(req);
            }
            Event::ValueRequested(req) if self.dialogs.approvals.value_for(&req.step).is_some() => {
                // A rehearsal's script answers it (a made-up value, never shown).
                self.note(format!(
                    "step {}: value given by the rehearsal script",
                    req.step
                ));
                let value = self
                    .dialogs
                    .approvals
                    .value_for(&req.step)
                    .unwrap_or_default();
                self.dialogs.outbox.push(crate::protocol::Command::Value {
                    step: req.step,
                    value: Ok(value),
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
                checklist,
            } => {
                self.note(format!("gate {gate}: {} by {who} ({via})", choice.word()));
                self.gates_decided += 1;
                if self.gate_phase.as_ref().is_some_and(|(g, ..)| *g == gate)
                    && let Some((_, phase, before)) = self.gate_phase.take()
                    && self.phases.get(&phase) == Some(&StepStatus::AwaitingGate)
                {
                    self.phases.insert(phase, before);
                }
                if self.gate.as_ref().is_some_and(|g| g.request.id == gate)
                    && let Some(g) = self.gate.take()
                {
                    self.checklist_done.insert(g.request.id.clone(), g.ticks);
                }
                // What the decision confirmed, as journaled (the only source for a past one).
                if !checklist.is_empty() {
                    self.checklist_done.insert(gate.clone(), checklist);
                }
                if self.phases.get(&gate) == Some(&StepStatus::AwaitingGate) {
                    self.phases.insert(gate, StepStatus::Pending);
                } else if let Some(v) = self.steps.get_mut(&gate)
                    && v.status == StepStatus::AwaitingGate
                {
                    v.status = StepStatus::Pending;
                }
            }
            Event::ApprovalCounted {
                gate,
                who,
                via,
                have,
                need,
            } => {
                let text = format!(
                    "gate {gate}: approved by {who} ({via}), {have} of {need}: waiting for another person (tollgate follow)"
                );
                if let Some(g) = self.gate.as_mut().filter(|g| g.request.id == gate) {
                    g.message = Some(text.clone());
                }
                self.note(text);
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
                let live = self.replaying.is_none();
                if live && self.cluster.is_some() {
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
                v.progress = None;
                v.attempt = attempt;
                v.attempts = attempts;
                v.command = command;
                // A step of an earlier session has no clock running here.
                v.started = live.then(Instant::now);
                v.duration = None;
                v.error = None;
                v.exit_code = None;
                if live {
                    v.not_kept = None;
                }
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
                // Output of an earlier session is shown at the time its attempt started.
                let at = match &self.replaying {
                    Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .format("%H:%M:%S%.3f")
                                .to_string()
                        })
                        .unwrap_or_else(|_| clock(self.frozen_clock)),
                    None => clock(self.frozen_clock),
                };
                let at: Arc<str> = Arc::from(at);
                self.view(&step).output.push_chunk(stream, &at, &text);
                if self.shown_step() == Some(step.as_str()) {
                    if self.scroll > 0 {
                        // Stay on the same lines while scrolled back.
                        self.scroll += text.matches('\n').count();
                    }
                    let q = &self.search.query;
                    if self.search.current.is_some() && !q.is_empty() {
                        self.search.matches += text
                            .lines()
                            .filter(|l| super::ansi::strip(l).contains(q.as_str()))
                            .count();
                    }
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
            Event::FollowRunbook { name, command } => {
                self.note(format!(
                    "follow the runbook `{name}`: {command} (o opens it when the run has ended)"
                ));
                self.follow_offer = Some(name);
            }
            Event::History(h) => self.on_history(h),
            Event::OutputNotKept { step, last } => self.view(&step).not_kept = Some(last),
            Event::StepProgress { step, text } => self.view(&step).progress = Some(text),
            Event::RunPaused { reason } => {
                self.ended.get_or_insert(self.now);
                self.note(format!("run paused: {reason}"));
                self.gate = None;
                self.prompt = None;
                self.state = RunState::Paused(reason);
            }
            Event::Watchers { names } => {
                let shown = watching_text(&names, self.host());
                self.note(shown.unwrap_or_else(|| "no one else is watching".into()));
                self.sharing.watchers = names;
            }
            Event::DriveRequested { who } => {
                self.note(format!("{who} asks to drive"));
                self.help = false;
                self.sharing.asked = Some(who);
            }
            Event::DriverChanged { who } => {
                self.note(format!("{who} is at the keys"));
                // Who drove an earlier session is history; this session's driver is known.
                if self.replaying.is_none() {
                    self.sharing.driver = who;
                    self.sharing.asked = None;
                }
            }
            Event::Keys { held } => {
                self.sharing.keys = held;
                self.message = Some(if held {
                    "you are at the keys: you decide the gates".into()
                } else {
                    format!("{} is at the keys (D asks to drive)", self.sharing.driver)
                });
                if !held {
                    self.sharing.asked = None;
                }
            }
            Event::Resent => self.reset(),
            Event::RunFinished { status } => {
                self.ended.get_or_insert(self.now);
                self.gate = None;
                self.prompt = None;
                if let Some((_, phase, before)) = self.gate_phase.take()
                    && self.phases.get(&phase) == Some(&StepStatus::AwaitingGate)
                {
                    self.phases.insert(phase, before);
                }
                self.state = RunState::Finished(status);
                let summary = self.summary().unwrap_or_default();
                self.note(format!("run {summary}"));
            }
        }
    }
}

/// The phases tree of a runbook: each phase, then its steps and validation steps.
fn rows_of(runbook: &Runbook) -> Vec<Row> {
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
    rows
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

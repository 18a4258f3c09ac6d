//! Keys and the mouse: how input moves the selection, scrolls, searches, asks to quit, and what the
//! footer says each key does.

use std::time::Instant;

use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::Rect;

use super::app::App;
use super::dialogs::key_for;
use super::field::edit_field;
use super::state::*;
use crate::protocol::{Command, StepStatus};

impl App {
    pub(super) fn step_running(&self) -> bool {
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
            // A follower leaves; the run it follows goes on.
            if self.sharing.follower {
                return vec![Action::Quit];
            }
            return self.on_ctrl_c();
        }
        if let Some(c) = self.confirm {
            return self.on_confirm(c, k);
        }
        if let Some(who) = self.sharing.asked.clone() {
            let accept = match k.code {
                KeyCode::Char('a') => true,
                KeyCode::Char('r') | KeyCode::Esc => false,
                _ => return Vec::new(),
            };
            self.sharing.asked = None;
            return vec![Action::Send(Command::AnswerDrive { who, accept })];
        }
        if self.help {
            match k.code {
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') => self.help = false,
                KeyCode::Down | KeyCode::Char('j') => self.dialogs.help_scroll += 1,
                KeyCode::Up | KeyCode::Char('k') => {
                    self.dialogs.help_scroll = self.dialogs.help_scroll.saturating_sub(1)
                }
                KeyCode::PageDown | KeyCode::Char(' ') => self.dialogs.help_scroll += 10,
                KeyCode::PageUp => {
                    self.dialogs.help_scroll = self.dialogs.help_scroll.saturating_sub(10)
                }
                KeyCode::Home | KeyCode::Char('g') => self.dialogs.help_scroll = 0,
                _ => {}
            }
            return Vec::new();
        }
        if self.prompt.is_some() {
            return self.on_prompt_key(k);
        }
        // `D` asks for the keys; a follower at them hands them back (never while a gate's
        // dialog, whose fields take a typed `D`, is shown).
        // A gate this view decides without the keys (one of several people) takes a typed `D`
        // too: Esc hides it, and `D` then asks to drive.
        let hand_back = self.sharing.follower && !self.gate_shown();
        let gate_takes_keys = self.gate_shown() && self.decides_gate();
        if k.code == KeyCode::Char('D')
            && !self.search.editing
            && ((!self.sharing.keys && !gate_takes_keys) || hand_back)
        {
            return self.on_drive_key();
        }
        if self.gate_shown() && !self.decides_gate() {
            return self.on_watched_gate_key(k);
        }
        if self.gate_shown() {
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
            // The run has ended failed and its failure path led to another runbook: open it.
            KeyCode::Char('o')
                if matches!(self.state, RunState::Finished(_)) && self.follow_offer.is_some() =>
            {
                self.follow_chosen = self.follow_offer.clone();
                return vec![Action::Quit];
            }
            KeyCode::Char('q') if self.sharing.follower => return vec![Action::Quit],
            KeyCode::Char('q') => {
                if matches!(self.state, RunState::Running) {
                    self.confirm = Some(Confirm::Quit);
                } else {
                    return vec![Action::Quit];
                }
            }
            KeyCode::Char('?') => {
                self.help = true;
                self.dialogs.help_scroll = 0;
            }
            // Back to the gate that Esc hid.
            KeyCode::Char('d') if self.gate_hidden() => self.show_gate(),
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
            KeyCode::Char('f') => self.follow(),
            KeyCode::Char('P') => self.toggle_presenting(),
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
            KeyCode::PageUp => self.move_by(-(self.page() as isize)),
            KeyCode::PageDown => self.move_by(self.page() as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_to(true),
            KeyCode::End | KeyCode::Char('G') => self.move_to(false),
            KeyCode::Enter if self.focus == Pane::Tree => self.focus = Pane::Output,
            _ => {}
        }
        Vec::new()
    }

    /// `D`: ask whoever is at the keys for them; a follower at the keys hands them back.
    fn on_drive_key(&mut self) -> Vec<Action> {
        if !self.sharing.keys {
            self.message = Some(format!(
                "asked {} to hand over the keys",
                self.sharing.driver
            ));
            return vec![Action::Send(Command::AskDrive)];
        }
        if self.sharing.follower {
            self.message = Some("the keys go back to the driver".into());
            return vec![Action::Send(Command::Release)];
        }
        Vec::new()
    }

    /// Whether this view decides the open gate: at the keys, or, for a gate that needs more
    /// than one person's approval, whoever follows too (each approval is one person's; the
    /// engine counts distinct people, and the share tap names each from the socket).
    pub(super) fn decides_gate(&self) -> bool {
        self.sharing.keys || self.gate.as_ref().is_some_and(|g| g.request.approvals >= 2)
    }

    /// A key while a gate's dialog is shown to someone not at the keys: it can be looked at,
    /// hidden, scrolled; deciding is for whoever drives.
    fn on_watched_gate_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let driver = self.sharing.driver.clone();
        let Some(g) = self.gate.as_mut() else {
            return Vec::new();
        };
        match k.code {
            KeyCode::Esc => g.hidden = true,
            KeyCode::PageDown => g.scroll = (g.scroll + 5).min(self.areas.gate_scroll_max),
            KeyCode::PageUp => g.scroll = g.scroll.saturating_sub(5),
            _ => g.message = Some(format!("{driver} decides this gate (D asks to drive)")),
        }
        Vec::new()
    }

    pub(super) fn on_ctrl_c(&mut self) -> Vec<Action> {
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

    pub(super) fn on_confirm(&mut self, c: Confirm, k: KeyEvent) -> Vec<Action> {
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

    pub(super) fn on_search_key(&mut self, k: KeyEvent) {
        match k.code {
            KeyCode::Esc => self.search = Search::default(),
            KeyCode::Enter => {
                self.search.editing = false;
                self.jump(false);
            }
            _ => {
                edit_field(&mut self.search.query, &k);
            }
        }
    }

    /// Moves to the next (`forward`, towards newer lines) or previous match.
    pub(super) fn jump(&mut self, forward: bool) {
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
        let hits: Vec<usize> = (0..len)
            .filter(|&i| {
                v.output
                    .get(i)
                    .is_some_and(|l| super::ansi::strip(l.text).contains(&q))
            })
            .collect();
        // Past the last match (or the first), around to the other end.
        let found = if forward {
            hits.iter().find(|&&i| i > from).or(hits.first())
        } else if self.search.current.is_none() {
            hits.iter().rev().find(|&&i| i <= from).or(hits.last())
        } else {
            hits.iter().rev().find(|&&i| i < from).or(hits.last())
        };
        match found.copied() {
            Some(i) => {
                self.search.current = Some(i);
                self.search.index = hits.partition_point(|&h| h < i) + 1;
                self.search.matches = hits.len();
                self.search.not_found = false;
                // The match in the middle of the pane, with what follows it in view.
                let half = (self.areas.output.height as usize).saturating_sub(2) / 2;
                self.scroll = (len - 1 - i)
                    .saturating_sub(half)
                    .min(self.output_max_scroll());
                self.follow_current = false;
            }
            None => {
                self.search.current = None;
                self.search.matches = 0;
                self.search.not_found = true;
            }
        }
    }

    /// What PgUp and PgDn move in the focused pane: its height as last drawn, less one row kept
    /// for context (20 before the first frame).
    fn page(&self) -> usize {
        let area = match self.focus {
            Pane::Tree => self.areas.tree,
            Pane::Output => self.areas.output,
            Pane::Side => self.areas.side,
            Pane::Pods | Pane::Logs => return 20,
        };
        match area.height.saturating_sub(2) {
            0 => 20,
            h => (h as usize - 1).max(1),
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) {
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
                // Up scrolls back in time, no further than a full page from the top.
                let max = self.output_max_scroll();
                let at = self.scroll.min(max) as isize;
                self.scroll = (at - delta).clamp(0, max as isize) as usize;
            }
            Pane::Side => {
                // In rows, wrapped ones counted.
                let max = self.side_max_scroll();
                let at = self.side_scroll.min(max) as isize;
                self.side_scroll = (at - delta).clamp(0, max as isize) as usize;
            }
            Pane::Pods | Pane::Logs => {}
        }
    }

    pub(super) fn move_to(&mut self, start: bool) {
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
                self.scroll = if start { self.output_max_scroll() } else { 0 };
            }
            Pane::Side => {
                self.side_scroll = if start { self.side_max_scroll() } else { 0 };
            }
            Pane::Pods | Pane::Logs => {}
        }
    }

    pub(super) fn on_mouse(&mut self, m: MouseEvent) {
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
        if self.gate_shown() || self.prompt.is_some() || self.help || self.confirm.is_some() {
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
                    // The row clicked, counted from the first one the tree shows.
                    let shown = self.areas.tree.height.saturating_sub(2) as usize;
                    let row = (m.row.saturating_sub(self.areas.tree.y + 1)) as usize
                        + self.tree_offset(shown);
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
    pub(super) fn takes_keys(&self, opened: Instant) -> bool {
        self.focused && Instant::now().duration_since(opened) >= self.gate_guard
    }

    /// The keys that work right now, for the status line. The footer keeps the ones that say
    /// how to leave ([`ESSENTIAL`]) when it cannot show them all.
    pub fn hints(&self) -> Vec<(&'static str, &'static str)> {
        if self.confirm.is_some() {
            return vec![("y", "yes"), ("n", "no")];
        }
        if self.sharing.asked.is_some() {
            return vec![("a", "accept"), ("r", "refuse")];
        }
        if self.gate_shown() && !self.decides_gate() {
            return vec![
                ("D", "ask to drive"),
                ("pgdn", "more"),
                ("esc", "hide: see the panes"),
                ("q", "quit"),
            ];
        }
        if self.help {
            return vec![("↑↓ pgdn", "scroll"), ("esc", "close help")];
        }
        if self.prompt.is_some() {
            return vec![
                ("type", "the value (not shown)"),
                ("enter", "use it"),
                ("^U", "clear"),
                ("esc", "cancel: the step fails"),
            ];
        }
        if let Some(g) = self.gate.as_ref().filter(|g| !g.hidden) {
            let mut h: Vec<(&str, &str)> = match g.focus {
                DialogFocus::Confirm => vec![
                    ("type", "the word"),
                    ("^U/^W", "clear/word"),
                    ("tab", "next"),
                    ("enter", "done"),
                ],
                DialogFocus::Note => vec![
                    ("type", "a note"),
                    ("^U/^W", "clear/word"),
                    ("tab", "next"),
                    ("enter", "done"),
                ],
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
                    h.push(("enter", "decide"));
                    h.push(("n", "note"));
                    h.push(("tab", "next"));
                    h
                }
            };
            if self.areas.gate_scroll_max > 0 {
                h.push(("pgdn", "more"));
            }
            h.push(("esc", "hide: see the panes"));
            h.push(("^C", "quit"));
            return h;
        }
        if self.search.editing {
            return vec![("enter", "find"), ("esc", "cancel")];
        }
        let mut h = Vec::new();
        if self.gate_hidden() {
            h.push(("d", "back to the gate"));
        }
        match self.focus {
            Pane::Pods if self.cluster.is_some() => {
                h.extend(super::keys::hints(super::keys::PODS));
                h.extend([("tab", "pane"), ("z", "zoom"), ("?", "help"), ("q", "quit")]);
                return h;
            }
            Pane::Logs if self.cluster.is_some() => {
                h.extend(super::keys::hints(super::keys::LOGS));
                h.extend([("tab", "pane"), ("z", "zoom"), ("?", "help"), ("q", "quit")]);
                return h;
            }
            _ => {}
        }
        if !self.sharing.keys {
            h.push(("D", "ask to drive"));
        } else if self.sharing.follower {
            h.push(("D", "hand back"));
        }
        for (k, what) in super::keys::hints(super::keys::MAIN) {
            h.push((k, what));
            if k == "/" && !self.search.query.is_empty() {
                h.push(("n/N", "next/prev"));
            }
        }
        h
    }
}

/// The footer's keys that say how to leave or go back: the last it drops.
pub const ESSENTIAL: &[&str] = &["?", "q", "esc", "^C", "d", "y", "n", "enter", "a", "r", "D"];

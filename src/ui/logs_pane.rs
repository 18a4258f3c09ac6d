//! The logs pane: what a [`crate::live::logs`] tail reports, kept in a bounded ring, with
//! follow and pause, search, a filter, timestamps and wrapping; drawn as a pure function of its
//! state, formatting only the lines in view.
//!
//! Keys (when the pane has the focus): `j`/`k`/`PgDn`/`PgUp` scroll, `g` the oldest line, `G` or
//! `End` follow again, `space` pause or follow, `/` search (`n` newer, `N` older match), `F`
//! show only matching lines, `p` the previous instances' logs (again: the current ones), `t`
//! timestamps, `w` wrap, `Esc` clear the search.
//!
//! A new tail ([`LogsPane::start`]) empties the pane: every line shown is of what the title names.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::{ansi, fit};
use crate::live::logs::LogsUpdate;
use crate::ui::theme::Theme;

/// Lines a pane keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Line,
    Joined,
    Reconnected,
    Left,
    Reconnecting,
    Error,
    /// Something the pane says itself (`p` on a pod that has not restarted).
    Note,
}

#[derive(Clone, Debug)]
struct Entry {
    kind: Kind,
    pod: Arc<str>,
    container: Arc<str>,
    ts: Option<DateTime<Utc>>,
    text: String,
    source: usize,
}

/// What the search line is being typed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Editing {
    Search,
    Filter,
}

/// The logs pane's state.
#[derive(Debug)]
pub struct LogsPane {
    entries: VecDeque<Entry>,
    cap: usize,
    /// Entries dropped from the front: the absolute number of `entries[0]`.
    dropped: u64,
    label: String,
    pod_prefix: Option<String>,
    /// Pods followed now, with how many of their containers.
    pods: BTreeMap<String, usize>,
    reconnecting: HashSet<(String, String)>,
    /// Shared names, so 20,000 lines of one pod hold its name once.
    names: HashMap<String, Arc<str>>,
    follow: bool,
    /// The absolute number of the bottom line in view while not following.
    anchor: u64,
    /// Lines that arrived since the pane was paused.
    new_since_pause: u64,
    query: String,
    editing: Option<Editing>,
    /// The match jumped to, as an absolute number.
    current: Option<u64>,
    not_found: bool,
    filter: bool,
    timestamps: bool,
    wrap: bool,
    wants_previous: bool,
    /// The tail reads the previous instances (once): nothing more is coming.
    previous: bool,
    /// Rows of text the last frame had, for paging.
    height: Cell<u16>,
}

impl Default for LogsPane {
    fn default() -> Self {
        LogsPane::new(DEFAULT_CAPACITY)
    }
}

/// The text without ANSI sequences, borrowed when it has none.
fn plain(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\x1b') {
        std::borrow::Cow::Owned(ansi::strip(s))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

impl LogsPane {
    /// A pane keeping the newest `capacity_lines` lines.
    pub fn new(capacity_lines: usize) -> Self {
        LogsPane {
            entries: VecDeque::new(),
            cap: capacity_lines.max(1),
            dropped: 0,
            label: String::new(),
            pod_prefix: None,
            pods: BTreeMap::new(),
            reconnecting: HashSet::new(),
            names: HashMap::new(),
            follow: true,
            anchor: 0,
            new_since_pause: 0,
            query: String::new(),
            editing: None,
            current: None,
            not_found: false,
            filter: false,
            timestamps: false,
            wrap: false,
            wants_previous: false,
            previous: false,
            height: Cell::new(20),
        }
    }

    /// What is tailed, as the title names it: `deployment/payment-backend`.
    pub fn set_source_label(&mut self, label: String) {
        self.label = label;
    }

    /// The start every pod name shares (`payment-backend-`), left out of line prefixes.
    pub fn set_pod_prefix(&mut self, prefix: Option<String>) {
        self.pod_prefix = prefix;
    }

    /// A new tail starts: what the pane held (lines, pods, paused place, search position) is of
    /// another source or instance and goes; the search text, filter, timestamps and wrap stay.
    pub fn start(&mut self, label: String, pod_prefix: Option<String>, previous: bool) {
        self.label = label;
        self.pod_prefix = pod_prefix;
        self.previous = previous;
        self.entries.clear();
        self.dropped = 0;
        self.pods.clear();
        self.reconnecting.clear();
        self.names.clear();
        self.follow = true;
        self.anchor = 0;
        self.new_since_pause = 0;
        self.current = None;
        self.not_found = false;
    }

    /// Whether the pane shows previous instances (`p`).
    pub fn previous(&self) -> bool {
        self.previous
    }

    /// A line the pane says itself, among the log lines.
    pub fn notice(&mut self, text: String) {
        self.note(Kind::Note, "", "", text);
    }

    /// Lines (and join/leave notes) kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped to stay within the capacity.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_following(&self) -> bool {
        self.follow
    }

    /// Lines that arrived since the pane was paused (0 while following).
    pub fn new_since_pause(&self) -> u64 {
        if self.follow { 0 } else { self.new_since_pause }
    }

    /// Pods followed now.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    pub fn timestamps(&self) -> bool {
        self.timestamps
    }

    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    /// Whether `p` was pressed since the last call: the app then tails the previous instances,
    /// or the current ones again if [`LogsPane::previous`].
    pub fn wants_previous(&mut self) -> bool {
        std::mem::take(&mut self.wants_previous)
    }

    fn name(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        if self.names.len() > 4096 {
            self.names.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.names.insert(s.to_string(), a.clone());
        a
    }

    fn push(&mut self, e: Entry) {
        if self.entries.len() == self.cap {
            self.entries.pop_front();
            self.dropped += 1;
            if self.current.is_some_and(|c| c < self.dropped) {
                self.current = None;
            }
        }
        self.entries.push_back(e);
    }

    fn note(&mut self, kind: Kind, pod: &str, container: &str, text: String) {
        let e = Entry {
            kind,
            pod: self.name(pod),
            container: self.name(container),
            ts: None,
            text,
            source: 0,
        };
        self.push(e);
    }

    /// Applies what a tail reported.
    pub fn apply(&mut self, u: LogsUpdate) {
        match u {
            LogsUpdate::Lines(lines) => {
                if !self.follow {
                    self.new_since_pause += lines.len() as u64;
                }
                for l in lines {
                    if !self.reconnecting.is_empty() {
                        self.reconnecting
                            .remove(&(l.pod.clone(), l.container.clone()));
                    }
                    let e = Entry {
                        kind: Kind::Line,
                        pod: self.name(&l.pod),
                        container: self.name(&l.container),
                        ts: l.ts,
                        text: l.text,
                        source: l.source,
                    };
                    self.push(e);
                }
            }
            LogsUpdate::Joined { pod, container } => {
                let again = self.reconnecting.remove(&(pod.clone(), container.clone()));
                if again {
                    self.note(Kind::Reconnected, &pod, &container, "reconnected".into());
                } else {
                    *self.pods.entry(pod.clone()).or_default() += 1;
                    self.note(Kind::Joined, &pod, &container, "joined".into());
                }
            }
            LogsUpdate::Left { pod, container } => {
                self.reconnecting.remove(&(pod.clone(), container.clone()));
                if let Some(n) = self.pods.get_mut(&pod) {
                    *n -= 1;
                    if *n == 0 {
                        self.pods.remove(&pod);
                        self.names.remove(&pod);
                    }
                }
                self.note(Kind::Left, &pod, &container, "left".into());
            }
            LogsUpdate::Reconnecting {
                pod,
                container,
                error,
            } => {
                if self.reconnecting.insert((pod.clone(), container.clone())) {
                    self.note(
                        Kind::Reconnecting,
                        &pod,
                        &container,
                        format!("reconnecting: {error}"),
                    );
                }
            }
            LogsUpdate::Error(e) => self.note(Kind::Error, "", "", e),
        }
    }

    fn end(&self) -> u64 {
        self.dropped + self.entries.len() as u64
    }

    fn get(&self, abs: u64) -> Option<&Entry> {
        abs.checked_sub(self.dropped)
            .and_then(|i| self.entries.get(i as usize))
    }

    fn matches(&self, e: &Entry) -> bool {
        e.kind == Kind::Line && !self.query.is_empty() && plain(&e.text).contains(&self.query)
    }

    /// Whether the entry is in view at all (the filter hides the others).
    fn shown(&self, e: &Entry) -> bool {
        !self.filter || self.query.is_empty() || self.matches(e)
    }

    fn prev_shown(&self, before: u64) -> Option<u64> {
        (self.dropped..before.min(self.end()))
            .rev()
            .find(|&i| self.get(i).is_some_and(|e| self.shown(e)))
    }

    fn next_shown(&self, after: u64) -> Option<u64> {
        (after.saturating_add(1).max(self.dropped)..self.end())
            .find(|&i| self.get(i).is_some_and(|e| self.shown(e)))
    }

    /// The bottom line in view.
    fn bottom(&self) -> Option<u64> {
        if self.follow {
            return self.prev_shown(self.end());
        }
        if self.entries.is_empty() {
            return None;
        }
        let a = self.anchor.clamp(self.dropped, self.end() - 1);
        match self.get(a) {
            Some(e) if self.shown(e) => Some(a),
            _ => self.prev_shown(a).or_else(|| self.next_shown(a)),
        }
    }

    fn pause(&mut self) {
        if self.follow {
            self.anchor = self.bottom().unwrap_or(self.end());
            self.follow = false;
            self.new_since_pause = 0;
        }
    }

    fn resume(&mut self) {
        self.follow = true;
        self.new_since_pause = 0;
    }

    fn scroll_up(&mut self, n: usize) {
        self.pause();
        let mut at = self.bottom().unwrap_or(self.dropped);
        for _ in 0..n {
            match self.prev_shown(at) {
                Some(p) => at = p,
                None => break,
            }
        }
        self.anchor = at;
    }

    fn scroll_down(&mut self, n: usize) {
        if self.follow {
            return;
        }
        let mut at = self.bottom().unwrap_or(self.dropped);
        for _ in 0..n {
            match self.next_shown(at) {
                Some(p) => at = p,
                None => break,
            }
        }
        self.anchor = at;
    }

    fn page(&self) -> usize {
        (self.height.get() as usize).saturating_sub(1).max(1)
    }

    /// Moves to the next match towards newer lines (`forward`) or older ones.
    fn jump(&mut self, forward: bool) {
        if self.query.is_empty() || self.entries.is_empty() {
            return;
        }
        let from = self.current.unwrap_or_else(|| {
            self.bottom()
                .map_or(self.end(), |b| if forward { b } else { b + 1 })
        });
        let hit = |i: &u64| self.get(*i).is_some_and(|e| self.matches(e));
        let found = if forward {
            (from.saturating_add(1).max(self.dropped)..self.end()).find(hit)
        } else {
            (self.dropped..from.min(self.end())).rev().find(hit)
        };
        match found {
            Some(i) => {
                self.current = Some(i);
                self.not_found = false;
                self.pause();
                // The match in the middle of the pane, with what follows it in view.
                let mut at = i;
                for _ in 0..(self.height.get() as usize / 2) {
                    match self.next_shown(at) {
                        Some(n) => at = n,
                        None => break,
                    }
                }
                self.anchor = at;
            }
            None => self.not_found = true,
        }
    }

    fn on_edit_key(&mut self, k: KeyEvent, editing: Editing) {
        match k.code {
            KeyCode::Esc => {
                self.editing = None;
                self.query.clear();
                self.filter = false;
                self.current = None;
                self.not_found = false;
            }
            KeyCode::Enter => {
                self.editing = None;
                self.current = None;
                if editing == Editing::Search {
                    self.jump(false);
                }
            }
            KeyCode::Backspace => {
                self.query.pop();
                self.not_found = false;
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.query.push(c);
                self.not_found = false;
            }
            _ => {}
        }
    }

    /// Handles a key; false when the key is not the pane's (the app's own keys).
    pub fn on_key(&mut self, k: KeyEvent) -> bool {
        if let Some(editing) = self.editing {
            self.on_edit_key(k, editing);
            return true;
        }
        if k.modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return false;
        }
        match k.code {
            KeyCode::Char('j') | KeyCode::Down => self.scroll_down(1),
            KeyCode::Char('k') | KeyCode::Up => self.scroll_up(1),
            KeyCode::PageDown => self.scroll_down(self.page()),
            KeyCode::PageUp => self.scroll_up(self.page()),
            KeyCode::Char('g') | KeyCode::Home => {
                self.pause();
                self.anchor = self.dropped;
            }
            KeyCode::Char('G') | KeyCode::End => self.resume(),
            KeyCode::Char(' ') => {
                if self.follow {
                    self.pause();
                } else {
                    self.resume();
                }
            }
            KeyCode::Char('/') => {
                self.editing = Some(Editing::Search);
                self.query.clear();
                self.current = None;
                self.not_found = false;
            }
            KeyCode::Char('F') => {
                if self.filter {
                    self.filter = false;
                } else {
                    self.filter = true;
                    if self.query.is_empty() {
                        self.editing = Some(Editing::Filter);
                    }
                }
            }
            KeyCode::Char('n') => self.jump(true),
            KeyCode::Char('N') => self.jump(false),
            KeyCode::Char('p') => self.wants_previous = true,
            KeyCode::Char('t') => self.timestamps = !self.timestamps,
            KeyCode::Char('w') => self.wrap = !self.wrap,
            KeyCode::Esc if !self.query.is_empty() || self.filter => {
                self.query.clear();
                self.filter = false;
                self.current = None;
                self.not_found = false;
            }
            _ => return false,
        }
        true
    }

    /// The pod name as a prefix shows it: without the shared start.
    fn short<'a>(&self, pod: &'a str) -> &'a str {
        self.pod_prefix
            .as_deref()
            .and_then(|p| pod.strip_prefix(p))
            .filter(|s| !s.is_empty())
            .unwrap_or(pod)
    }

    fn title(&self) -> String {
        let mut parts = vec![if self.label.is_empty() {
            "logs".to_string()
        } else {
            format!("logs {}", self.label)
        }];
        let n = self.pods.len();
        parts.push(format!("{n} pod{}", if n == 1 { "" } else { "s" }));
        let mut status = if self.previous {
            // Read once: nothing follows.
            "previous instances".to_string()
        } else if self.follow {
            "following".to_string()
        } else {
            format!("paused (+{} new)", self.new_since_pause)
        };
        if !self.reconnecting.is_empty() {
            if self.follow {
                status = "reconnecting".into();
            } else {
                status.push_str(" reconnecting");
            }
        }
        parts.push(status);
        if self.filter && !self.query.is_empty() {
            parts.push(format!("filter \"{}\"", self.query));
        }
        if self.dropped > 0 {
            parts.push(format!("{} older dropped", self.dropped));
        }
        let mut flags = Vec::new();
        if self.wrap {
            flags.push("wrap");
        }
        if self.timestamps {
            flags.push("times");
        }
        if !flags.is_empty() {
            parts.push(flags.join(" "));
        }
        format!(" {} ", parts.join(" · "))
    }

    fn line(&self, abs: u64, e: &Entry, theme: &Theme, widths: (usize, usize)) -> Line<'static> {
        let mut spans = Vec::new();
        if self.timestamps {
            let ts =
                e.ts.map_or_else(|| " ".repeat(12), |t| t.format("%H:%M:%S%.3f").to_string());
            spans.push(Span::styled(format!("{ts} "), theme.timestamp));
        }
        let sep = Span::styled(" │ ", theme.text_dim);
        match e.kind {
            Kind::Line => {}
            Kind::Error => {
                spans.push(Span::styled(format!("! {}", e.text), theme.stderr));
                return Line::from(spans);
            }
            Kind::Note => {
                spans.push(Span::styled(format!("── {}", e.text), theme.text_dim));
                return Line::from(spans);
            }
            _ => {
                let pod = self.short(&e.pod);
                spans.push(Span::styled(
                    format!(
                        "{pod:<pw$} {c:<cw$}",
                        c = e.container,
                        pw = widths.0,
                        cw = widths.1
                    ),
                    theme.text_dim,
                ));
                spans.push(sep);
                let style = if e.kind == Kind::Reconnecting {
                    theme.stderr
                } else {
                    theme.text_dim
                };
                spans.push(Span::styled(format!("── {}", e.text), style));
                return Line::from(spans);
            }
        }
        let source = source_style(theme, e.source);
        spans.push(Span::styled(
            format!(
                "{:<pw$} {:<cw$}",
                self.short(&e.pod),
                e.container,
                pw = widths.0,
                cw = widths.1
            ),
            source,
        ));
        spans.push(sep);
        let q = &self.query;
        if !q.is_empty() {
            let text = plain(&e.text);
            if text.contains(q.as_str()) {
                let hl = if self.current == Some(abs) {
                    theme.search_match.add_modifier(Modifier::REVERSED)
                } else {
                    theme.search_match
                };
                let mut rest: &str = &text;
                while let Some(i) = rest.find(q.as_str()) {
                    if i > 0 {
                        spans.push(Span::styled(rest[..i].to_string(), theme.text));
                    }
                    spans.push(Span::styled(q.clone(), hl));
                    rest = &rest[i + q.len()..];
                }
                if !rest.is_empty() {
                    spans.push(Span::styled(rest.to_string(), theme.text));
                }
                return Line::from(spans);
            }
        }
        spans.extend(ansi::spans(&e.text, theme.text));
        Line::from(spans)
    }

    /// Draws the pane into `area`.
    pub fn render(&self, f: &mut Frame, area: Rect, theme: &Theme, focused: bool) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(if focused {
                BorderType::Thick
            } else {
                BorderType::Plain
            })
            .border_style(if focused {
                theme.border_focused
            } else {
                theme.border
            })
            .title(Span::styled(self.title(), theme.title));
        let inner = block.inner(area);
        f.render_widget(block, area);
        self.height.set(inner.height);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        let h = inner.height as usize;
        let Some(bottom) = self.bottom() else {
            let msg = if self.filter && !self.query.is_empty() {
                "no line matches the filter"
            } else {
                "no log lines yet"
            };
            f.render_widget(Paragraph::new(Line::styled(msg, theme.text_dim)), inner);
            self.render_prompt(f, inner, theme);
            return;
        };
        // The entries in view: back from the bottom line, then on from it if the pane is not full.
        let mut picked = vec![bottom];
        let mut at = bottom;
        while picked.len() < h {
            match self.prev_shown(at) {
                Some(p) => {
                    picked.push(p);
                    at = p;
                }
                None => break,
            }
        }
        picked.reverse();
        let mut at = bottom;
        while picked.len() < h {
            match self.next_shown(at) {
                Some(n) => {
                    picked.push(n);
                    at = n;
                }
                None => break,
            }
        }
        let entries: Vec<(u64, &Entry)> = picked
            .iter()
            .filter_map(|&i| self.get(i).map(|e| (i, e)))
            .collect();
        let widths = entries
            .iter()
            .filter(|(_, e)| !matches!(e.kind, Kind::Error | Kind::Note))
            .fold((0, 0), |(pw, cw), (_, e)| {
                (
                    pw.max(self.short(&e.pod).chars().count()),
                    cw.max(e.container.chars().count()),
                )
            });
        let lines: Vec<Line> = entries
            .iter()
            .map(|(i, e)| self.line(*i, e, theme, widths))
            .collect();
        let p = if self.wrap {
            // The bottom line stays in view: the rows that overflow are scrolled off the top.
            let w = inner.width as usize;
            let used: usize = lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
            let p = Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false });
            if used > h {
                p.scroll(((used - h).min(u16::MAX as usize) as u16, 0))
            } else {
                p
            }
        } else {
            // A line longer than the pane ends in `…`: cut, and said so (`w` wraps).
            let w = inner.width as usize;
            let lines: Vec<Line> = lines.into_iter().map(|l| fit::line(l, w)).collect();
            Paragraph::new(Text::from(lines))
        };
        f.render_widget(p, inner);
        self.render_prompt(f, inner, theme);
    }

    fn render_prompt(&self, f: &mut Frame, inner: Rect, theme: &Theme) {
        let text = match (self.editing, self.not_found) {
            (Some(Editing::Search), _) => format!(" /{}▏", self.query),
            (Some(Editing::Filter), _) => format!(" filter: {}▏", self.query),
            (None, true) => format!(" /{} — not found ", self.query),
            (None, false) => return,
        };
        let r = Rect {
            x: inner.x,
            y: inner.y + inner.height.saturating_sub(1),
            width: inner.width,
            height: 1,
        };
        f.render_widget(Clear, r);
        f.render_widget(Paragraph::new(Span::styled(text, theme.key_hint)), r);
    }
}

/// The style of a source's prefix: `log_source_1` … `log_source_6`, in turn.
pub fn source_style(theme: &Theme, source: usize) -> Style {
    match source % 6 {
        0 => theme.log_source_1,
        1 => theme.log_source_2,
        2 => theme.log_source_3,
        3 => theme.log_source_4,
        4 => theme.log_source_5,
        _ => theme.log_source_6,
    }
}

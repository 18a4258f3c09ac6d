//! The launcher: what `tollgate` with no arguments (or `tollgate open DIR`) shows on a terminal.
//! The runs left unfinished (Enter resumes one), the recent runs, and the runbooks found
//! (`catalog`), grouped by system (their folder), each with its description, owner and
//! triggers; typing filters them with the catalog's fuzzy search, so an alert's name typed finds
//! the runbook that declares it. A runbook that fails `check` is listed with its first error and
//! cannot be started. Enter on a runbook asks for its plan and form ([`super::form`]).
//!
//! State, keys and a pure render; what Enter leads to is said by [`Intent`] and done by
//! `cli/open.rs` (this file starts nothing).

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
use super::form::{self, Form, FormKey};
use super::keys::Key;
use super::theme::Theme;
use crate::catalog::{self, Entry};
use crate::protocol::Secret;

/// The list's keys, for its footer.
pub const KEYS: &[Key] = &[
    Key {
        keys: "type",
        hint: "filter",
        help: "filter the runbooks: names, descriptions, alerts and symptoms",
    },
    Key {
        keys: "↑ ↓",
        hint: "move",
        help: "select a run or a runbook (PgUp PgDn Home End too)",
    },
    Key {
        keys: "Enter",
        hint: "open",
        help: "resume the run, or show the runbook's plan and variables",
    },
    Key {
        keys: "Esc",
        hint: "clear/quit",
        help: "clear the filter; with none, quit",
    },
    Key {
        keys: "Ctrl-C",
        hint: "quit",
        help: "quit",
    },
];

/// A run in the list.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub runbook: String,
    /// `paused`, `interrupted`, `running`, `failed`, `succeeded`…
    pub status: String,
    pub started: String,
    /// Unfinished: paused or interrupted, not a rehearsal: listed first, Enter resumes it.
    pub unfinished: bool,
    /// Why Enter cannot resume it, when it cannot (it succeeded; a rehearsal; unreadable).
    pub refused: Option<String>,
}

/// What the launcher asks of its driver after a key.
#[derive(Debug, PartialEq)]
pub enum Intent {
    None,
    Quit,
    /// Show this runbook's plan and form: the driver loads it and calls [`Launcher::open_form`].
    Open(PathBuf),
    /// Start the runbook of the open form with its values: `(name, value, secret)`.
    Start {
        path: PathBuf,
        values: Vec<(String, Secret, bool)>,
    },
    Resume(String),
}

/// A row of the list.
#[derive(Clone, Debug, PartialEq)]
enum Row {
    Heading(String),
    Run(usize),
    /// An entry, with what matched when filtered.
    Entry(usize, Option<String>),
}

/// The launcher's state.
pub struct Launcher {
    pub theme: Theme,
    /// Where the runbooks were looked for, as shown.
    pub roots: String,
    entries: Vec<Entry>,
    runs: Vec<RunRow>,
    pub query: String,
    rows: Vec<Row>,
    selected: usize,
    pub message: Option<String>,
    /// The open runbook's plan and form, with its path.
    pub form: Option<(PathBuf, Form)>,
}

/// How many finished runs the list shows.
const RECENT: usize = 5;

impl Launcher {
    pub fn new(theme: Theme, roots: &str, mut entries: Vec<Entry>, runs: Vec<RunRow>) -> Self {
        entries.sort_by(|a, b| (&a.system, &a.name, &a.path).cmp(&(&b.system, &b.name, &b.path)));
        let mut l = Launcher {
            theme,
            roots: roots.to_string(),
            entries,
            runs,
            query: String::new(),
            rows: Vec::new(),
            selected: 0,
            message: None,
            form: None,
        };
        l.refilter();
        l
    }

    /// The names of the runbooks listed, in order (for tests and the count).
    pub fn listed(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter_map(|r| match r {
                Row::Entry(i, _) => Some(self.entries[*i].name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The ids of the runs listed, in order.
    pub fn listed_runs(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter_map(|r| match r {
                Row::Run(i) => Some(self.runs[*i].id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The selected runbook's or run's name or id.
    pub fn selected(&self) -> Option<&str> {
        match self.rows.get(self.selected)? {
            Row::Entry(i, _) => Some(&self.entries[*i].name),
            Row::Run(i) => Some(&self.runs[*i].id),
            Row::Heading(_) => None,
        }
    }

    fn refilter(&mut self) {
        let mut rows = Vec::new();
        let q = self.query.trim();
        let runs: Vec<usize> = (0..self.runs.len())
            .filter(|i| {
                let r = &self.runs[*i];
                q.is_empty()
                    || r.runbook.to_lowercase().contains(&q.to_lowercase())
                    || r.id.contains(q)
            })
            .collect();
        let unfinished: Vec<usize> = runs
            .iter()
            .copied()
            .filter(|i| self.runs[*i].unfinished)
            .collect();
        let recent: Vec<usize> = runs
            .iter()
            .copied()
            .filter(|i| !self.runs[*i].unfinished)
            .take(RECENT)
            .collect();
        if !unfinished.is_empty() {
            rows.push(Row::Heading("unfinished runs (Enter resumes)".into()));
            rows.extend(unfinished.into_iter().map(Row::Run));
        }
        if !recent.is_empty() {
            rows.push(Row::Heading("recent runs".into()));
            rows.extend(recent.into_iter().map(Row::Run));
        }
        // Grouped by system: the groups in the order of their best match (by name unfiltered).
        let found: Vec<(usize, Option<String>)> = if q.is_empty() {
            (0..self.entries.len()).map(|i| (i, None)).collect()
        } else {
            let index = |e: &Entry| {
                self.entries
                    .iter()
                    .position(|x| std::ptr::eq(x, e))
                    .unwrap_or(0)
            };
            catalog::find(&self.entries, q)
                .into_iter()
                .map(|f| (index(f.entry), Some(f.why)))
                .collect()
        };
        let mut systems: Vec<&str> = Vec::new();
        for (i, _) in &found {
            let s = self.entries[*i].system.as_str();
            if !systems.contains(&s) {
                systems.push(s);
            }
        }
        for s in systems {
            let name = if s.is_empty() { "(top level)" } else { s };
            rows.push(Row::Heading(name.to_string()));
            rows.extend(
                found
                    .iter()
                    .filter(|(i, _)| self.entries[*i].system == s)
                    .map(|(i, why)| Row::Entry(*i, why.clone())),
            );
        }
        self.rows = rows;
        // The first runbook when filtering (what was looked for), else the first row.
        let first_entry = self.rows.iter().position(|r| matches!(r, Row::Entry(..)));
        let first_any = self.rows.iter().position(|r| !matches!(r, Row::Heading(_)));
        self.selected = if q.is_empty() { first_any } else { first_entry }
            .or(first_any)
            .unwrap_or(0);
    }

    fn selectable(&self, i: usize) -> bool {
        matches!(self.rows.get(i), Some(Row::Run(_) | Row::Entry(..)))
    }

    fn step(&mut self, by: isize) {
        let n = self.rows.len() as isize;
        let mut at = self.selected as isize;
        let mut moved = 0;
        while moved != by {
            let dir = by.signum();
            let mut next = at + dir;
            while (0..n).contains(&next) && !self.selectable(next as usize) {
                next += dir;
            }
            if !(0..n).contains(&next) {
                break;
            }
            at = next;
            moved += dir;
        }
        self.selected = at.max(0) as usize;
    }

    /// Shows a runbook's plan and form (after [`Intent::Open`]).
    pub fn open_form(&mut self, path: PathBuf, form: Form) {
        self.form = Some((path, form));
    }

    /// Says why a start was refused, on the form when it is open, else on the list.
    pub fn refuse(&mut self, why: &str) {
        match &mut self.form {
            Some((_, f)) => f.message = Some(why.to_string()),
            None => self.message = Some(why.to_string()),
        }
    }

    /// Applies a key.
    pub fn key(&mut self, k: &KeyEvent) -> Intent {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            return Intent::Quit;
        }
        if let Some((path, form)) = &mut self.form {
            return match form.key(k) {
                FormKey::Stay => Intent::None,
                FormKey::Back => {
                    self.form = None;
                    Intent::None
                }
                FormKey::Submit => Intent::Start {
                    path: path.clone(),
                    values: form.values(),
                },
            };
        }
        match k.code {
            KeyCode::Esc if self.query.is_empty() => return Intent::Quit,
            KeyCode::Esc => {
                self.query.clear();
                self.message = None;
                self.refilter();
            }
            KeyCode::Up => self.step(-1),
            KeyCode::Down => self.step(1),
            KeyCode::PageUp => self.step(-10),
            KeyCode::PageDown => self.step(10),
            KeyCode::Home => {
                self.selected = 0;
                self.step(1);
                self.step(-1);
            }
            KeyCode::End => self.step(self.rows.len() as isize),
            KeyCode::Enter => return self.enter(),
            _ => {
                if super::field::edit_field(&mut self.query, k) {
                    self.message = None;
                    self.refilter();
                }
            }
        }
        Intent::None
    }

    /// Text pasted: into the form's field, or the filter.
    pub fn paste(&mut self, text: &str) {
        if let Some((_, f)) = &mut self.form {
            f.paste(text);
            return;
        }
        self.query.extend(text.chars().filter(|c| !c.is_control()));
        self.refilter();
    }

    fn enter(&mut self) -> Intent {
        match self.rows.get(self.selected) {
            Some(Row::Run(i)) => {
                let r = &self.runs[*i];
                match &r.refused {
                    Some(why) => {
                        self.message = Some(format!("run {}: {why}", r.id));
                        Intent::None
                    }
                    None => Intent::Resume(r.id.clone()),
                }
            }
            Some(Row::Entry(i, _)) => {
                let e = &self.entries[*i];
                match &e.problem {
                    Some(p) => {
                        self.message =
                            Some(format!("{} cannot be started: it fails check: {p}", e.name));
                        Intent::None
                    }
                    None => Intent::Open(e.path.clone()),
                }
            }
            _ => {
                self.message = Some("nothing selected".into());
                Intent::None
            }
        }
    }
}

/// Draws the launcher: the form when one is open, else the list.
pub fn render(l: &Launcher, f: &mut Frame) {
    if let Some((_, form)) = &l.form {
        form::render(form, &l.theme, f);
        return;
    }
    let t = &l.theme;
    let area = f.area();
    let w = area.width as usize;
    let [top, filter, list, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let total = l.entries.len();
    let shown = l.listed().len();
    let head = Line::from(vec![
        Span::styled(" tollgate — runbooks ", t.banner),
        Span::styled(format!("  {}", l.roots), t.text_dim),
    ]);
    f.render_widget(Paragraph::new(fit::line(head, w)), top);
    let count = if l.query.trim().is_empty() {
        format!("{total} runbook{}", if total == 1 { "" } else { "s" })
    } else {
        format!("{shown} of {total}")
    };
    let filter_line = Line::from(vec![
        Span::styled(" filter: ", t.title),
        Span::styled(format!("{}▏", l.query), t.text),
        Span::styled(format!("  {count}"), t.text_dim),
    ]);
    f.render_widget(Paragraph::new(fit::line(filter_line, w)), filter);

    // Every row's lines, and where the selected one is; the window keeps it in sight.
    let mut lines: Vec<Line> = Vec::new();
    let mut sel = (0, 0);
    for (i, row) in l.rows.iter().enumerate() {
        let start = lines.len();
        let selected = i == l.selected;
        row_lines(l, row, selected, w, &mut lines);
        if selected {
            sel = (start, lines.len());
        }
    }
    if lines.is_empty() {
        let none = if l.query.trim().is_empty() {
            format!("no runbooks under {}", l.roots)
        } else {
            format!("no runbook matches `{}`", l.query.trim())
        };
        lines.push(Line::styled(format!("  {none}"), t.text_dim));
    }
    let h = list.height as usize;
    let skip = sel.1.saturating_sub(h).min(sel.0);
    let shown_lines: Vec<Line> = lines.into_iter().skip(skip).take(h).collect();
    f.render_widget(Paragraph::new(shown_lines), list);

    if let Some(m) = &l.message {
        f.render_widget(
            Paragraph::new(Line::styled(fit::cut(m, w), t.step_failed)),
            status,
        );
    }
    f.render_widget(Paragraph::new(form::footer_line(KEYS, t, w)), footer);
}

fn row_lines(l: &Launcher, row: &Row, selected: bool, w: usize, out: &mut Vec<Line<'static>>) {
    let t = &l.theme;
    let mark = if selected { "▸ " } else { "  " };
    let pick = |line: Line<'static>| {
        let line = fit::line(line, w);
        if selected { t.selected(line) } else { line }
    };
    match row {
        Row::Heading(h) => out.push(fit::line(
            Line::styled(h.clone(), t.title.add_modifier(Modifier::BOLD)),
            w,
        )),
        Row::Run(i) => {
            let r = &l.runs[*i];
            let style = match r.status.as_str() {
                "succeeded" => t.step_ok,
                "failed" | "rolled back" | "unreadable" | "not resumable" => t.step_failed,
                "paused" | "interrupted" => t.gate_pending,
                _ => t.text,
            };
            out.push(pick(Line::from(vec![
                Span::styled(mark, t.key_hint),
                Span::styled(format!("{:<12}", r.status), style),
                Span::styled(r.runbook.clone(), t.text),
                Span::styled(format!("  {}  {}", r.id, r.started), t.text_dim),
            ])));
        }
        Row::Entry(i, why) => {
            let e = &l.entries[*i];
            let name_style = if e.problem.is_some() {
                t.step_failed
            } else {
                t.text.add_modifier(Modifier::BOLD)
            };
            let mut first = vec![
                Span::styled(mark, t.key_hint),
                Span::styled(e.name.clone(), name_style),
            ];
            if !e.description.is_empty() {
                first.push(Span::styled(format!(" — {}", e.description), t.text_dim));
            }
            out.push(pick(Line::from(first)));
            let second = match &e.problem {
                Some(p) => Line::styled(format!("    ✗ cannot start: {p}"), t.step_failed),
                None => {
                    let mut parts = Vec::new();
                    // What the filter matched first: the reason it is listed.
                    if let Some(why) = why {
                        parts.push(format!("matched {why}"));
                    }
                    if let Some(o) = &e.owner {
                        parts.push(format!("owner {o}"));
                    }
                    let triggers: Vec<String> =
                        e.triggers.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    if !triggers.is_empty() {
                        parts.push(triggers.join(", "));
                    }
                    if parts.is_empty() {
                        parts.push("no owner, no triggers".into());
                    }
                    Line::styled(format!("    {}", parts.join(" · ")), t.text_dim)
                }
            };
            out.push(fit::line(second, w));
        }
    }
}

//! Drawing: a pure function of the app's state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::ansi;
use super::app::App;
use super::dialogs::key_for;
use super::state::{Areas, Confirm, DialogFocus, Pane, RowKind, RunState, hms};
use crate::protocol::{GateKind, StepStatus, Stream};

/// The symbol of a status: every status has one, so no state is told by colour alone.
pub fn symbol(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "·",
        StepStatus::AwaitingGate => "◆",
        StepStatus::Running => "▶",
        StepStatus::Succeeded => "✓",
        StepStatus::Failed => "✗",
        StepStatus::Skipped => "↷",
        StepStatus::Interrupted => "!",
    }
}

fn status_style(app: &App, s: StepStatus) -> Style {
    let t = &app.theme;
    match s {
        StepStatus::Pending => t.step_pending,
        StepStatus::AwaitingGate => t.gate_pending,
        StepStatus::Running => t.step_running,
        StepStatus::Succeeded => t.step_ok,
        StepStatus::Failed => t.step_failed,
        StepStatus::Skipped => t.step_skipped,
        StepStatus::Interrupted => t.step_interrupted,
    }
}

fn short(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

fn block<'a>(app: &App, title: String, pane: Pane) -> Block<'a> {
    let focused = app.focus == pane && app.gate.is_none() && app.prompt.is_none();
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(if focused {
            app.theme.border_focused
        } else {
            app.theme.border
        })
        .title(Span::styled(title, app.theme.title))
}

/// Draws everything; returns where the panes are, for mouse input.
pub fn render(app: &App, f: &mut Frame) -> Areas {
    let area = f.area();
    f.render_widget(Block::default().style(app.theme.text), area);
    let [banner, body, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_banner(app, f, banner);
    render_status(app, f, status);

    let mut areas = Areas::default();
    match app.zoom {
        Some(Pane::Tree) => {
            areas.tree = body;
            render_tree(app, f, body);
        }
        Some(Pane::Output) => {
            areas.output = body;
            render_center(app, f, body, &mut areas);
        }
        Some(Pane::Side) => {
            areas.side = body;
            render_side(app, f, body);
        }
        Some(Pane::Pods) if app.cluster.is_some() => {
            areas.pods = body;
            render_pods(app, f, body);
        }
        Some(Pane::Logs) if app.cluster.is_some() => {
            areas.logs = body;
            render_logs(app, f, body);
        }
        _ if app.cluster.is_some() => {
            // With a cluster: phases over events on the left, output in the middle, pods over
            // logs on the right (on a narrow screen they are a Tab and a `z` away).
            let right_w = if body.width >= 120 {
                body.width * 40 / 100
            } else {
                0
            };
            let tree_w = (body.width * 22 / 100).clamp(20, 40);
            let [left, center, right] = Layout::horizontal([
                Constraint::Length(tree_w),
                Constraint::Min(20),
                Constraint::Length(right_w),
            ])
            .areas(body);
            let [tree, side] =
                Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)])
                    .areas(left);
            areas.tree = tree;
            areas.side = side;
            render_tree(app, f, tree);
            render_side(app, f, side);
            if right_w > 0 {
                render_center(app, f, center, &mut areas);
            } else {
                render_switched(app, f, center, &mut areas, &[Pane::Pods, Pane::Logs]);
            }
            if right_w > 0 {
                let [pods, logs] =
                    Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)])
                        .areas(right);
                areas.pods = pods;
                areas.logs = logs;
                render_pods(app, f, pods);
                render_logs(app, f, logs);
            }
        }
        _ => {
            let side_w = if body.width >= 120 {
                body.width * 22 / 100
            } else {
                0
            };
            let tree_w = (body.width * 24 / 100).clamp(20, 44);
            let [tree, center, side] = Layout::horizontal([
                Constraint::Length(tree_w),
                Constraint::Min(20),
                Constraint::Length(side_w),
            ])
            .areas(body);
            areas.tree = tree;
            render_tree(app, f, tree);
            if side_w > 0 {
                areas.side = side;
                render_center(app, f, center, &mut areas);
                render_side(app, f, side);
            } else {
                render_switched(app, f, center, &mut areas, &[Pane::Side]);
            }
        }
    }
    if app.gate.is_some() {
        render_gate(app, f, area);
    }
    if app.prompt.is_some() {
        render_prompt(app, f, area);
    }
    if let Some(c) = app.confirm {
        render_confirm(app, f, area, c);
    }
    if app.help {
        render_help(app, f, area);
    }
    areas
}

/// The middle of a screen too narrow for every pane: a tab bar naming the output and the panes
/// that have no room of their own (`hidden`), and under it the output, or the hidden pane that
/// has the focus, switched in.
fn render_switched(app: &App, f: &mut Frame, area: Rect, areas: &mut Areas, hidden: &[Pane]) {
    let t = &app.theme;
    let shown = if hidden.contains(&app.focus) {
        app.focus
    } else {
        Pane::Output
    };
    let [bar, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let name = |p: Pane| match p {
        Pane::Tree => "phases",
        Pane::Output => "output",
        Pane::Side => "events",
        Pane::Pods => "pods",
        Pane::Logs => "logs",
    };
    let mut spans = Vec::new();
    for p in std::iter::once(Pane::Output).chain(hidden.iter().copied()) {
        let style = if p == shown {
            t.key_hint.add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            t.text_dim
        };
        let mark = if p == shown { "▸" } else { " " };
        spans.push(Span::styled(format!("{mark}{} ", name(p)), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("tab: next pane", t.text_dim));
    f.render_widget(Paragraph::new(Line::from(spans)), bar);
    match shown {
        Pane::Side => {
            areas.side = rest;
            render_side(app, f, rest);
        }
        Pane::Pods => {
            areas.pods = rest;
            render_pods(app, f, rest);
        }
        Pane::Logs => {
            areas.logs = rest;
            render_logs(app, f, rest);
        }
        _ => render_center(app, f, rest, areas),
    }
}

fn render_banner(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let rb = &app.runbook;
    let tg = &rb.targets;
    let mut targets = tg.summary();
    if targets.is_empty() {
        targets.push("local".into());
    }
    let (done, total) = app.progress();
    let state = match &app.state {
        RunState::Running if app.gate.is_some() => "waiting at a gate".to_string(),
        RunState::Running if app.prompt.is_some() => "waiting for a value".to_string(),
        RunState::Running => "running".to_string(),
        RunState::Paused(_) => "paused".to_string(),
        RunState::Finished(s) => s.word().to_string(),
    };
    let target_style = if tg.production {
        t.banner_production
    } else {
        t.banner
    };
    let mut first = vec![
        Span::styled(
            format!(" {} ", rb.name.value),
            t.banner.add_modifier(Modifier::BOLD),
        ),
        Span::styled(" ", t.banner),
    ];
    if tg.production {
        first.push(Span::styled(" ⚠ PRODUCTION ", t.banner_production));
        first.push(Span::styled(" ", t.banner));
    }
    first.push(Span::styled(
        format!(" {} ", targets.join(" · ")),
        target_style,
    ));
    let second = Line::from(vec![
        Span::styled(format!(" run {} ", app.run_id), t.banner),
        Span::styled(format!("· {} ", hms(app.elapsed())), t.banner),
        Span::styled(format!("· {done}/{total} steps "), t.progress),
        Span::styled(format!("· {state} "), t.banner),
    ]);
    let mut second = second;
    if let Some(c) = &app.cluster {
        // The context kube steps run against, live: the one pinned, or the one still awaited.
        second
            .spans
            .push(Span::styled(format!("· kube {} ", c.context), t.banner));
    }
    if let Some(a) = &app.aws {
        // The AWS account and region steps run against: pinned, or what is still awaited.
        second
            .spans
            .push(Span::styled(format!("· aws {} ", a.text()), t.banner));
    }
    let p = Paragraph::new(vec![Line::from(first), second]).style(t.banner);
    f.render_widget(p, area);
}

fn render_status(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (k, what) in app.hints() {
        spans.push(Span::styled(
            format!(" {k} "),
            t.key_hint.add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::styled(format!(" {what}  "), t.text_dim));
    }
    if let Some(m) = &app.message {
        spans.push(Span::styled(m.clone(), t.step_failed));
    } else if let RunState::Paused(r) = &app.state {
        spans.push(Span::styled(format!("paused: {r}"), t.gate_pending));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_tree(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let b = block(app, " phases ".into(), Pane::Tree);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let offset = tree_offset(app, h);
    let mut lines = Vec::new();
    for (i, row) in app.rows.iter().enumerate().skip(offset).take(h) {
        let (status, indent, label_style) = match row.kind {
            RowKind::Phase { .. } => (
                app.phases
                    .get(&row.id)
                    .copied()
                    .unwrap_or(StepStatus::Pending),
                "",
                t.text.add_modifier(Modifier::BOLD),
            ),
            RowKind::Step { .. } => (app.step_status(&row.id), "  ", t.text),
        };
        let mut spans = vec![
            Span::raw(indent),
            Span::styled(format!("{} ", symbol(status)), status_style(app, status)),
        ];
        let label = match row.kind {
            RowKind::Phase { rollback: true } => format!("{} (rollback)", row.id),
            RowKind::Step { validation: true } => format!("{} (check)", row.id),
            _ => row.id.clone(),
        };
        spans.push(Span::styled(label, label_style));
        if row.gate {
            let style = if row.destructive {
                t.destructive
            } else {
                t.gate_pending
            };
            spans.push(Span::styled(
                if row.destructive { " ◆!" } else { " ◆" },
                style,
            ));
        }
        if let RowKind::Step { .. } = row.kind
            && let Some(v) = app.steps.get(&row.id)
        {
            let d = match (v.duration, v.started) {
                (Some(d), _) => Some(d),
                (None, Some(s)) if v.status == StepStatus::Running => {
                    Some(app.now.saturating_duration_since(s))
                }
                _ => None,
            };
            if let Some(d) = d {
                spans.push(Span::styled(format!(" {}", short(d)), t.text_dim));
            }
            if v.attempts > 1 && v.attempt > 1 {
                spans.push(Span::styled(format!(" #{}", v.attempt), t.text_dim));
            }
        }
        if let RowKind::Phase { .. } = row.kind {
            let items = app
                .runbook
                .phases
                .iter()
                .find(|p| p.id.value == row.id)
                .map_or(0, |p| p.checklist.len());
            if items > 0 {
                let ticked = app
                    .ticks(&row.id)
                    .map_or(0, |v| v.iter().filter(|x| **x).count());
                let style = if ticked == items {
                    t.checklist_done
                } else {
                    t.checklist_open
                };
                spans.push(Span::styled(format!(" ☐{ticked}/{items}"), style));
            }
        }
        let mut line = Line::from(spans);
        if i == app.selected {
            line = t.selected(line);
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// The first row shown, keeping the selection in view.
pub fn tree_offset(app: &App, height: usize) -> usize {
    if height == 0 || app.rows.len() <= height {
        return 0;
    }
    let half = height / 2;
    app.selected
        .saturating_sub(half)
        .min(app.rows.len() - height)
}

fn render_center(app: &App, f: &mut Frame, area: Rect, areas: &mut Areas) {
    let detail = detail_lines(app);
    let detail_h = if app.zoom == Some(Pane::Output) {
        0
    } else {
        (detail.len() as u16 + 2).min(area.height / 3).max(3)
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Length(detail_h), Constraint::Min(3)]).areas(area);
    if detail_h > 0 {
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.border)
            .title(Span::styled(" step ", app.theme.title));
        let p = Paragraph::new(detail).block(b).wrap(Wrap { trim: false });
        f.render_widget(p, top);
    }
    areas.output = bottom;
    render_output(app, f, bottom);
}

fn detail_lines(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut out = Vec::new();
    if let (Some(summary), RunState::Finished(status)) = (app.summary(), &app.state) {
        let style = if *status == crate::protocol::RunStatus::Succeeded {
            t.step_ok
        } else {
            t.step_failed
        };
        out.push(Line::styled(
            format!("run {summary}"),
            style.add_modifier(Modifier::BOLD),
        ));
    }
    let Some(row) = app.selected_row() else {
        return out;
    };
    match row.kind {
        RowKind::Phase { .. } => {
            let Some(p) = app.runbook.phases.iter().find(|p| p.id.value == row.id) else {
                return out;
            };
            out.push(Line::from(vec![
                Span::styled(
                    format!("phase {}", p.id.value),
                    t.text.add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!("  {}", app.vars.render(&p.title)), t.text),
            ]));
            if !p.description.is_empty() {
                out.push(Line::styled(p.description.trim().to_string(), t.text_dim));
            }
            if let Some(g) = &p.gate {
                let mut s = "gate before this phase".to_string();
                if g.destructive {
                    s.push_str(" (destructive: the confirmation word is typed)");
                }
                out.push(Line::styled(
                    s,
                    if g.destructive {
                        t.destructive
                    } else {
                        t.gate_pending
                    },
                ));
            }
            let ticks = app.ticks(&p.id.value);
            for (i, item) in p.checklist.iter().enumerate() {
                let done = ticks.and_then(|v| v.get(i)).copied().unwrap_or(false);
                out.push(Line::styled(
                    format!("{} {}", if done { "[x]" } else { "[ ]" }, item.text),
                    if done {
                        t.checklist_done
                    } else {
                        t.checklist_open
                    },
                ));
            }
        }
        RowKind::Step { .. } => {
            let def = app.step_def(&row.id);
            let view = app.steps.get(&row.id);
            let status = app.step_status(&row.id);
            let mut head = vec![
                Span::styled(format!("{} ", symbol(status)), status_style(app, status)),
                Span::styled(row.id.clone(), t.text.add_modifier(Modifier::BOLD)),
            ];
            if !row.title.is_empty() {
                head.push(Span::styled(
                    format!("  {}", app.vars.render(&row.title)),
                    t.text,
                ));
            }
            if let Some(v) = view {
                if v.attempts > 1 {
                    head.push(Span::styled(
                        format!("  attempt {}/{}", v.attempt, v.attempts),
                        t.text_dim,
                    ));
                }
                if let Some(c) = v.exit_code {
                    head.push(Span::styled(format!("  exit {c}"), t.text_dim));
                }
            }
            out.push(Line::from(head));
            if let Some(d) = def.filter(|d| !d.description.is_empty()) {
                out.push(Line::styled(d.description.trim().to_string(), t.text_dim));
            }
            let command = view
                .map(|v| v.command.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| {
                    def.and_then(|d| d.run.as_ref())
                        .and_then(|r| r.script())
                        .map(|s| app.vars.render(s))
                })
                .unwrap_or_default();
            for l in command.lines().take(6) {
                out.push(Line::from(vec![
                    Span::styled("$ ", t.text_dim),
                    Span::styled(l.to_string(), t.text),
                ]));
            }
            if command.lines().count() > 6 {
                out.push(Line::styled("  …", t.text_dim));
            }
            if let Some(d) = def {
                let e = &d.expect;
                let mut ex = vec![format!("exit {}", e.exit_code.unwrap_or(0))];
                if let Some(s) = &e.output_contains {
                    ex.push(format!("contains `{}`", app.vars.render(s)));
                }
                if let Some(s) = &e.output_matches {
                    ex.push(format!("matches `{}`", s.value));
                }
                if let Some(s) = &e.timeout {
                    ex.push(format!("within {}", s.value));
                }
                if let Some(r) = &d.retries {
                    ex.push(format!("{} retries", r.attempts));
                }
                out.push(Line::styled(
                    format!("expect: {}", ex.join(", ")),
                    t.text_dim,
                ));
            }
            if let Some(err) = view.and_then(|v| v.error.clone()) {
                out.push(Line::styled(format!("error: {err}"), t.step_failed));
            }
        }
    }
    out
}

fn output_line(app: &App, line: super::output::OutLine<'_>, hit: bool) -> Line<'static> {
    let t = &app.theme;
    let mut spans = Vec::new();
    if app.timestamps {
        spans.push(Span::styled(format!("{} ", line.at), t.timestamp));
    }
    let base = if line.stream == Stream::Stderr {
        t.stderr
    } else {
        t.text
    };
    if line.stream == Stream::Stderr {
        spans.push(Span::styled("▌", t.stderr));
    }
    let q = &app.search.query;
    if !q.is_empty() && !app.search.editing || (app.search.editing && !q.is_empty()) {
        let plain = ansi::strip(line.text);
        if plain.contains(q.as_str()) {
            // The current match apart from the others, whatever the theme's match style:
            // reversed the other way, bold and underlined.
            let m = t.search_match;
            let hl = match (hit, m.add_modifier.contains(Modifier::REVERSED)) {
                (false, _) => m,
                (true, true) => m.remove_modifier(Modifier::REVERSED),
                (true, false) => m.add_modifier(Modifier::REVERSED),
            };
            let hl = if hit {
                hl.add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
            } else {
                hl
            };
            let mut rest = plain.as_str();
            while let Some(i) = rest.find(q.as_str()) {
                if i > 0 {
                    spans.push(Span::styled(rest[..i].to_string(), base));
                }
                spans.push(Span::styled(q.clone(), hl));
                rest = &rest[i + q.len()..];
            }
            if !rest.is_empty() {
                spans.push(Span::styled(rest.to_string(), base));
            }
            return Line::from(spans);
        }
    }
    spans.extend(ansi::spans(line.text, base));
    Line::from(spans)
}

fn render_output(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let step = app.shown_step();
    let view = step.and_then(|s| app.steps.get(s));
    // A step of an earlier session: one line says its output is not here, not "0 lines".
    let not_kept = view.is_some_and(|v| v.output_not_kept());
    let view = view.filter(|_| !not_kept);
    let mut flags = Vec::new();
    if app.scroll == 0 {
        flags.push("follow");
    }
    if app.wrap {
        flags.push("wrap");
    }
    if app.timestamps {
        flags.push("times");
    }
    let count = view.map_or(String::new(), |v| {
        let n = v.output.len();
        let mut s = format!("{n} line{}", if n == 1 { "" } else { "s" });
        if v.output.dropped() > 0 {
            s.push_str(&format!(", {} older dropped", v.output.dropped()));
        }
        s
    });
    let mut parts = vec![format!(
        "output{}",
        step.map(|s| format!(": {s}")).unwrap_or_default()
    )];
    if !count.is_empty() {
        parts.push(count);
    }
    if !flags.is_empty() {
        parts.push(flags.join(" "));
    }
    let s = &app.search;
    if !s.editing && !s.not_found && s.current.is_some() {
        parts.push(format!("/{} {}/{}", s.query, s.index, s.matches));
    }
    let title = format!(" {} ", parts.join(" · "));
    let b = block(app, title, Pane::Output);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let Some(v) = view else {
        let msg = if not_kept {
            super::state::OUTPUT_NOT_KEPT
        } else if step.is_some() {
            "no output yet"
        } else {
            "select a step to see its output"
        };
        f.render_widget(Paragraph::new(Line::styled(msg, t.text_dim)), inner);
        return;
    };
    let h = inner.height as usize;
    let w = inner.width as usize;
    let rows = output_rows(app, &v.output, h, w);
    f.render_widget(Paragraph::new(Text::from(rows)), inner);
    if app.search.editing || app.search.not_found {
        let text = if app.search.not_found {
            format!(" /{} — not found ", app.search.query)
        } else {
            format!(" /{}▏", app.search.query)
        };
        let r = Rect {
            x: inner.x,
            y: inner.y + inner.height.saturating_sub(1),
            width: inner.width,
            height: 1,
        };
        f.render_widget(Clear, r);
        f.render_widget(Paragraph::new(Span::styled(text, t.key_hint)), r);
    }
}

/// The rows of output a pane `h` rows high and `w` wide shows: the lines up to `app.scroll`
/// lines back from the newest, their last rows at the bottom; or, when those do not fill the
/// pane, the first lines from the top. Never a blank row while there is more output.
fn output_rows(
    app: &App,
    out: &super::output::OutputBuffer,
    h: usize,
    w: usize,
) -> Vec<Line<'static>> {
    let len = out.len();
    let end = len.saturating_sub(app.scroll);
    let rows_of = |i: usize| -> Vec<Line<'static>> {
        let Some(line) = out.get(i) else {
            return Vec::new();
        };
        let rendered = output_line(app, line, app.search.current == Some(i));
        if app.wrap {
            wrap_chars(rendered, w)
        } else {
            vec![rendered]
        }
    };
    // Back from the last line shown until the pane is full.
    let mut back: Vec<Vec<Line<'static>>> = Vec::new();
    let mut used = 0;
    let mut i = end;
    while i > 0 && used < h {
        i -= 1;
        let r = rows_of(i);
        used += r.len();
        back.push(r);
    }
    if used >= h && i > 0 {
        let rows: Vec<Line<'static>> = back.into_iter().rev().flatten().collect();
        return rows[rows.len() - h..].to_vec();
    }
    // The first line is in view: the page starts with it, and goes on past `end` if need be.
    let mut rows: Vec<Line<'static>> = back.into_iter().rev().flatten().collect();
    let mut j = end;
    while rows.len() < h && j < len {
        rows.extend(rows_of(j));
        j += 1;
    }
    rows.truncate(h);
    rows
}

/// Cuts a line into rows at most `w` columns wide, by characters, as a terminal wraps.
pub(super) fn wrap_chars(line: Line<'static>, w: usize) -> Vec<Line<'static>> {
    let w = w.max(1);
    let style = line.style;
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut cur_w = 0;
    for span in line.spans {
        let text = span.content.as_ref();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            let cw = Span::raw(&text[i..i + c.len_utf8()]).width();
            if cur_w + cw > w && cur_w > 0 {
                if i > start {
                    cur.push(Span::styled(text[start..i].to_string(), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut cur)).style(style));
                cur_w = 0;
                start = i;
            }
            cur_w += cw;
        }
        if start < text.len() {
            cur.push(Span::styled(text[start..].to_string(), span.style));
        }
    }
    rows.push(Line::from(cur).style(style));
    rows
}

fn render_pods(app: &App, f: &mut Frame, area: Rect) {
    if let Some(c) = &app.cluster {
        c.pods
            .render(f, area, &app.theme, app.focus == Pane::Pods, app.wall_clock);
    }
}

fn render_logs(app: &App, f: &mut Frame, area: Rect) {
    if let Some(c) = &app.cluster {
        c.logs.render(f, area, &app.theme, app.focus == Pane::Logs);
    }
}

fn render_side(app: &App, f: &mut Frame, area: Rect) {
    let b = block(app, " events ".into(), Pane::Side);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let rows = app.event_rows(inner.width as usize);
    // Newest at the bottom, `side_scroll` rows back; never past the oldest.
    let end = rows
        .len()
        .saturating_sub(app.side_scroll)
        .max(h.min(rows.len()));
    let lines: Vec<Line> = rows[end.saturating_sub(h)..end]
        .iter()
        .map(|r| Line::styled(r.clone(), app.theme.text_dim))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn centered(area: Rect, w_pct: u16, h: u16) -> Rect {
    let w = (area.width * w_pct / 100).max(40).min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn render_gate(app: &App, f: &mut Frame, area: Rect) {
    let Some(g) = &app.gate else { return };
    let t = &app.theme;
    let req = &g.request;
    let (kind, border) = match req.kind {
        GateKind::Phase => ("GATE before phase", t.dialog_border),
        GateKind::Step => ("GATE before step", t.dialog_border),
        GateKind::Failed => ("STEP FAILED", t.step_failed),
        GateKind::Interrupted => ("STEP INTERRUPTED", t.step_interrupted),
        GateKind::RunbookChanged => ("RUNBOOK CHANGED", t.dialog_border),
    };
    let border = if req.destructive {
        t.destructive
    } else {
        border
    };
    let mut lines: Vec<Line> = Vec::new();
    let mut head = vec![Span::styled(
        format!("{kind} {}", req.id),
        t.dialog.add_modifier(Modifier::BOLD),
    )];
    if !req.title.is_empty() {
        head.push(Span::styled(format!(" — {}", req.title), t.dialog));
    }
    lines.push(Line::from(head));
    let mut tags = Vec::new();
    if req.production {
        tags.push(Span::styled(" PRODUCTION ", t.banner_production));
        tags.push(Span::raw(" "));
    }
    if req.destructive {
        tags.push(Span::styled(
            " DESTRUCTIVE ",
            t.destructive.add_modifier(Modifier::REVERSED),
        ));
    }
    let touches = app.runbook.targets.summary();
    if !touches.is_empty() {
        tags.push(Span::styled(
            format!(" touches: {}", touches.join(", ")),
            t.dialog,
        ));
    }
    if !tags.is_empty() {
        lines.push(Line::from(tags));
    }
    if let Some(m) = &req.message {
        lines.push(Line::styled(m.clone(), t.dialog));
    }
    if let Some(e) = &req.error {
        lines.push(Line::styled(format!("error: {e}"), t.step_failed));
        if let Some(v) = app.steps.get(&req.id) {
            let n = v.output.len();
            for i in n.saturating_sub(5)..n {
                let l = v.output.get(i).expect("in range");
                let style = if l.stream == Stream::Stderr {
                    t.stderr
                } else {
                    t.text_dim
                };
                lines.push(Line::styled(format!("  │ {}", ansi::strip(l.text)), style));
            }
            // Failed in an earlier session: the last lines its journal kept.
            for l in v.not_kept.iter().flatten().filter(|_| n == 0) {
                let style = if l.stream == Stream::Stderr {
                    t.stderr
                } else {
                    t.text_dim
                };
                lines.push(Line::styled(format!("  │ {}", ansi::strip(&l.text)), style));
            }
        }
    }
    let commands: Vec<&String> = req.commands.iter().filter(|c| !c.is_empty()).collect();
    if !commands.is_empty() {
        lines.push(Line::styled("about to run:", t.text_dim));
        let mut shown = 0;
        'outer: for c in commands {
            for l in c.lines() {
                if shown == 10 {
                    lines.push(Line::styled("  …", t.text_dim));
                    break 'outer;
                }
                lines.push(Line::styled(format!("  $ {l}"), t.dialog));
                shown += 1;
            }
        }
    }
    for (i, item) in req.checklist.iter().enumerate() {
        let done = g.ticks.get(i).copied().unwrap_or(false);
        let focus = g.focus == DialogFocus::Checklist(i);
        let mut style = if done {
            t.checklist_done
        } else {
            t.checklist_open
        };
        if focus {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(Line::styled(
            format!("{} {}", if done { "[x]" } else { "[ ]" }, item.text),
            style,
        ));
    }
    if req.destructive {
        let word = req.confirm.clone().unwrap_or_default();
        let focus = g.focus == DialogFocus::Confirm;
        lines.push(Line::from(vec![
            Span::styled(format!("type `{word}` to approve: "), t.destructive),
            Span::styled(
                format!("{}{}", g.typed, if focus { "▏" } else { "" }),
                if focus {
                    t.dialog.add_modifier(Modifier::REVERSED)
                } else {
                    t.dialog
                },
            ),
        ]));
    }
    let note_focus = g.focus == DialogFocus::Note;
    lines.push(Line::from(vec![
        Span::styled("note: ", t.text_dim),
        Span::styled(
            format!("{}{}", g.note, if note_focus { "▏" } else { "" }),
            if note_focus {
                t.dialog.add_modifier(Modifier::REVERSED)
            } else {
                t.dialog
            },
        ),
    ]));
    lines.push(Line::raw(""));
    let mut buttons = Vec::new();
    for (i, c) in req.choices.iter().enumerate() {
        let mut style = t.key_hint;
        if g.selected == Some(i) && g.focus == DialogFocus::Choices {
            style = style.add_modifier(Modifier::REVERSED);
        }
        buttons.push(Span::styled(
            format!("[{}] {}", key_for(*c), c.word()),
            style,
        ));
        buttons.push(Span::raw("   "));
    }
    lines.push(Line::from(buttons));
    if let Some(m) = &g.message {
        lines.push(Line::styled(m.clone(), t.step_failed));
    }
    let h = lines.len() as u16 + 2;
    let r = centered(area, 70, h);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(border)
        .style(t.dialog)
        .title(Span::styled(
            format!(" {kind} "),
            border.add_modifier(Modifier::BOLD),
        ));
    f.render_widget(Paragraph::new(lines).block(b).wrap(Wrap { trim: false }), r);
}

/// The masked prompt: what the value is for, and one `•` per character typed, never the value.
fn render_prompt(app: &App, f: &mut Frame, area: Rect) {
    let Some(p) = &app.prompt else { return };
    let t = &app.theme;
    let kind = "SECRET VALUE";
    let mut lines: Vec<Line> = vec![
        Line::from(vec![
            Span::styled(
                format!("step {}", p.request.step),
                t.dialog.add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" — {}", p.request.purpose), t.dialog),
        ]),
        Line::styled(p.request.prompt.clone(), t.dialog),
        Line::styled(
            "typed, not shown; masked wherever it would appear, never written down",
            t.text_dim,
        ),
        Line::raw(""),
    ];
    let n = p.typed_len();
    lines.push(Line::from(vec![
        Span::styled("value: ", t.text_dim),
        Span::styled(
            format!("{}▏", "•".repeat(n)),
            t.dialog.add_modifier(Modifier::REVERSED),
        ),
        Span::styled(
            format!("  {n} character{}", if n == 1 { "" } else { "s" }),
            t.text_dim,
        ),
    ]));
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "[enter] use it   [esc] cancel (the step fails)",
        t.key_hint,
    ));
    let h = lines.len() as u16 + 2;
    let r = centered(area, 60, h);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.dialog_border)
        .style(t.dialog)
        .title(Span::styled(
            format!(" {kind} "),
            t.dialog_border.add_modifier(Modifier::BOLD),
        ));
    f.render_widget(Paragraph::new(lines).block(b).wrap(Wrap { trim: false }), r);
}

fn render_confirm(app: &App, f: &mut Frame, area: Rect, c: Confirm) {
    let t = &app.theme;
    let text = match c {
        Confirm::AbortStep => {
            "Abort the running step? Its processes are stopped; the run can be resumed.".to_string()
        }
        Confirm::Quit => format!(
            "Quit? The run stops here and can be resumed with `tollgate resume {}`.",
            app.run_id
        ),
    };
    let lines = vec![
        Line::styled(text, t.dialog),
        Line::raw(""),
        Line::styled("[y] yes    [n] no", t.key_hint),
    ];
    let r = centered(area, 50, 6);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_style(t.dialog_border)
        .style(t.dialog);
    f.render_widget(Paragraph::new(lines).block(b).wrap(Wrap { trim: false }), r);
}

const HELP: &[(&str, &str)] = &[
    (
        "↑ ↓  j k",
        "move in the focused pane (the tree selects a step; output scrolls)",
    ),
    ("PgUp PgDn", "move a page"),
    ("Home End  g G", "first / last"),
    ("Tab  Shift-Tab", "next / previous pane"),
    ("Enter", "show the selected step's output"),
    (
        "z",
        "zoom the focused pane to full screen (again or Esc: back)",
    ),
    ("f", "follow the running step and new output"),
    ("/", "search the output; n / N next / previous match"),
    ("w", "wrap long lines"),
    ("t", "show timestamps"),
    ("mouse", "wheel scrolls, click selects"),
    ("Ctrl-C", "abort the running step (asks first)"),
    ("q", "quit (the run can be resumed)"),
    ("", ""),
    (
        "at a gate",
        "a approve · r reject · s skip · b rollback · t retry · m mark done · x abort",
    ),
    (
        "",
        "k kill / w wait for what an interrupted step left running, before it re-runs",
    ),
    (
        "",
        "Tab moves between the checklist, the confirmation word, the note and the choices;",
    ),
    (
        "",
        "space ticks a checklist item; Enter decides only on a chosen button",
    ),
    ("?", "this help (Esc closes)"),
];

fn render_help(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>16}  "), t.key_hint),
                Span::styled(v.to_string(), t.dialog),
            ])
        })
        .collect();
    let r = centered(area, 80, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_style(t.dialog_border)
        .style(t.dialog)
        .title(Span::styled(" keys ", t.title));
    f.render_widget(Paragraph::new(lines).block(b), r);
}

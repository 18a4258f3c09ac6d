//! Drawing: a pure function of the app's state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::app::App;
use super::dialogs::key_for;
use super::state::{Areas, Confirm, DialogFocus, Pane, RowKind, RunState, hms};
use super::{ansi, fit, keys};
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
    let focused = app.focus == pane && !app.gate_shown() && app.prompt.is_none();
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
    if app.gate_shown() {
        areas.gate_scroll_max = render_gate(app, f, area);
    }
    if app.prompt.is_some() {
        render_prompt(app, f, area);
    }
    if let Some(c) = app.confirm {
        render_confirm(app, f, area, c);
    }
    if let Some(who) = &app.sharing.asked {
        render_question(
            app,
            f,
            area,
            &format!("{who} asks to drive"),
            "[a]ccept / [r]efuse",
        );
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

/// A kube context as the banner shows it when room is short: `…/labelmint-production` for
/// `arn:aws:eks:…:cluster/labelmint-production`, the server left out unless it says the
/// context is not connected yet.
fn short_context(context: &str) -> String {
    let (name, rest) = match context.split_once(" (") {
        Some((n, r)) => (n, format!(" ({r}")),
        None => (context, String::new()),
    };
    let name = match name.rsplit_once('/') {
        Some((_, last)) if !last.is_empty() => format!("…/{last}"),
        _ => name.to_string(),
    };
    let rest = if rest.contains("not ") {
        rest
    } else {
        String::new()
    };
    format!("{name}{rest}")
}

fn render_banner(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let rb = &app.runbook;
    let tg = &rb.targets;
    let w = area.width as usize;
    let mut targets = tg.summary();
    if targets.is_empty() {
        targets.push("local".into());
    }
    let (done, total) = app.progress();
    let state = match &app.state {
        RunState::Running if app.gate_hidden() => {
            let id = app.gate.as_ref().map_or("", |g| g.request.id.as_str());
            format!("◆ waiting at gate {id} (hidden: d shows it)")
        }
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
    let mut first = Vec::new();
    // A rehearsal says so first, where shortening the line never reaches: reversed and bold, so
    // it reads in every theme and without colours.
    if app.rehearsal.is_some() {
        first.push(Span::styled(
            format!(" {} ", super::config::REHEARSAL),
            t.banner.add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        first.push(Span::styled(" ", t.banner));
    }
    if app.presenting() {
        first.push(Span::styled(
            " SHARED ",
            t.banner.add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        first.push(Span::styled(" ", t.banner));
    }
    first.extend([
        Span::styled(
            format!(" {} ", rb.name.value),
            t.banner.add_modifier(Modifier::BOLD),
        ),
        Span::styled(" ", t.banner),
    ]);
    if tg.production {
        first.push(Span::styled(" ⚠ PRODUCTION ", t.banner_production));
        first.push(Span::styled(" ", t.banner));
    }
    first.push(Span::styled(
        format!(" {} ", targets.join(" · ")),
        target_style,
    ));
    // The second line, shortened to fit: the least important parts first (the context's long
    // name and server, the AWS wording, the run id, the clock); never the state.
    // A hidden gate stands out as the banner reversed: as readable as the banner, in any theme.
    let state_style = if app.gate_hidden() {
        t.banner.add_modifier(Modifier::BOLD | Modifier::REVERSED)
    } else {
        t.banner
    };
    let kube = app.cluster.as_ref().map(|c| c.context.clone());
    let aws = app.aws.as_ref().map(|a| a.text());
    // What the running step says of its progress (an Argo rollout's weight and step).
    let live = app.current_step.as_ref().and_then(|s| {
        app.steps
            .get(s)
            .and_then(|v| v.live_progress())
            .map(|p| format!("· {s}: {p} "))
    });
    let deadline = app.deadline_text();
    // Shared with other terminals: who follows, and who drives when it is not this one.
    let mut shared = Vec::new();
    if !app.sharing.keys {
        shared.push(format!("{} at the keys", app.sharing.driver));
    }
    if let Some(w) = super::state::watching_text(&app.sharing.watchers, app.host()) {
        shared.push(w);
    }
    let build = |level: usize| -> Line<'static> {
        let mut spans = Vec::new();
        if level < 3 {
            spans.push(Span::styled(format!(" run {} ", app.run_id), t.banner));
        }
        if level < 4 {
            spans.push(Span::styled(format!("· {} ", hms(app.elapsed())), t.banner));
        }
        let dot = if level < 4 { "· " } else { " " };
        spans.push(Span::styled(
            format!("{dot}{done}/{total} steps "),
            t.progress,
        ));
        spans.push(Span::styled(format!("· {state} "), state_style));
        for s in &shared {
            spans.push(Span::styled(format!("· {s} "), t.banner));
        }
        if let Some((text, warning)) = &deadline {
            // The time left: the theme's warning in the last fifth of the deadline and after.
            let style = if *warning {
                t.banner_production.add_modifier(Modifier::BOLD)
            } else {
                t.banner
            };
            spans.push(Span::styled(format!("· {text} "), style));
        }
        if let Some(p) = &live {
            spans.push(Span::styled(p.clone(), t.progress));
        }
        if let Some(k) = &kube {
            // The context kube steps run against, live: the one pinned, or the one awaited.
            let k = if level >= 1 {
                short_context(k)
            } else {
                k.clone()
            };
            spans.push(Span::styled(format!("· kube {k} "), t.banner));
        }
        if let Some(a) = &aws {
            // The AWS account and region steps run against: pinned, or what is still awaited.
            let a = if level >= 2 {
                a.replace(" (not pinned yet)", " (not pinned)")
            } else {
                a.clone()
            };
            spans.push(Span::styled(format!("· aws {a} "), t.banner));
        }
        Line::from(spans)
    };
    let second = (0..5)
        .map(build)
        .find(|l| l.width() <= w)
        .unwrap_or_else(|| fit::line(build(4), w));
    let p = Paragraph::new(vec![fit::line(Line::from(first), w), second]).style(t.banner);
    f.render_widget(p, area);
}

fn render_status(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let w = area.width as usize;
    let mut hints = app.hints();
    let hint_w = |h: &[(&str, &str)]| -> usize {
        h.iter()
            .map(|(k, what)| fit::width(k) + fit::width(what) + 5)
            .sum()
    };
    // What does not fit goes, the keys that say how to leave or get help last; a `…` says
    // something went.
    let mut dropped = false;
    while hint_w(&hints) + if dropped { 2 } else { 0 } > w {
        let Some(i) = hints
            .iter()
            .rposition(|(k, _)| !super::input::ESSENTIAL.contains(k))
        else {
            break;
        };
        hints.remove(i);
        dropped = true;
    }
    let mut spans = Vec::new();
    for (k, what) in hints {
        spans.push(Span::styled(
            format!(" {k} "),
            t.key_hint.add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::styled(format!(" {what}  "), t.text_dim));
    }
    if dropped {
        spans.push(Span::styled("… ", t.text_dim));
    }
    if let Some(m) = &app.message {
        spans.push(Span::styled(m.clone(), t.step_failed));
    } else if let RunState::Paused(r) = &app.state {
        spans.push(Span::styled(format!("paused: {r}"), t.gate_pending));
    }
    f.render_widget(Paragraph::new(fit::line(Line::from(spans), w)), area);
}

fn render_tree(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let b = block(app, " phases ".into(), Pane::Tree);
    let inner = b.inner(area);
    f.render_widget(b, area);
    let h = inner.height as usize;
    let offset = app.tree_offset(h);
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
    if let Some(p) = view.and_then(|v| v.live_progress()) {
        parts.push(p.to_string());
    }
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
            // Longer than the pane: cut, and said so with `…` (`w` wraps it whole).
            vec![fit::line(rendered, w)]
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

/// Where dialogs go: between the banner and the footer (so the footer's keys stay readable),
/// or the whole screen when it is too small for that.
fn dialog_area(area: Rect) -> Rect {
    if area.height >= 12 {
        Rect {
            y: area.y + 2,
            height: area.height - 3,
            ..area
        }
    } else {
        area
    }
}

/// A dialog's width: most of a small screen, `pct` of a large one.
fn dialog_width(area: Rect, pct: u16) -> u16 {
    (area.width * pct / 100)
        .max(area.width.saturating_sub(4).min(76))
        .min(area.width)
}

/// A box of `w`×`h` in the middle of `area`.
fn middle(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The mark before the focused control: seen without colour too.
const FOCUS: &str = "▶ ";
const UNFOCUSED: &str = "  ";

/// What a gate's dialog shows of what will run (or ran, for a failure), one logical line each:
/// the part that scrolls, and is cut first when the screen is small.
pub fn gate_body(app: &App, req: &crate::protocol::GateRequest) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut lines = Vec::new();
    if req.error.is_some()
        && let Some(v) = app.steps.get(&req.id)
    {
        let style = |stream: Stream| {
            if stream == Stream::Stderr {
                t.stderr
            } else {
                t.text_dim
            }
        };
        let n = v.output.len();
        if n > 0 {
            lines.push(Line::styled("last output:", t.text_dim));
            for i in n.saturating_sub(5)..n {
                let l = v.output.get(i).expect("in range");
                lines.push(Line::styled(
                    format!("  │ {}", ansi::strip(l.text)),
                    style(l.stream),
                ));
            }
        } else if let Some(kept) = v.not_kept.as_ref().filter(|k| !k.is_empty()) {
            // Failed in an earlier session: the last lines its journal kept.
            lines.push(Line::styled("last output (earlier session):", t.text_dim));
            for l in kept {
                lines.push(Line::styled(
                    format!("  │ {}", ansi::strip(&l.text)),
                    style(l.stream),
                ));
            }
        }
    }
    let commands: Vec<&String> = req.commands.iter().filter(|c| !c.is_empty()).collect();
    if !commands.is_empty() {
        let mut label = match req.kind {
            GateKind::Failed => "failed:".to_string(),
            GateKind::Interrupted => "was running when tollgate stopped:".to_string(),
            _ => "about to run:".to_string(),
        };
        if commands.iter().any(|c| c.contains("{{")) {
            label = format!(
                "{} ({{{{ … }}}}: filled when the step runs)",
                label.trim_end_matches(':')
            );
            label.push(':');
        }
        lines.push(Line::styled(label, t.text_dim));
        for c in commands {
            for l in c.lines() {
                lines.push(Line::styled(format!("  $ {l}"), t.dialog));
            }
        }
    }
    lines
}

/// Lines wrapped to `w` columns, each line's text kept in its first span's style.
fn wrap_lines(lines: Vec<Line<'static>>, w: usize, indent: &str) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for l in lines {
        let style = l.spans.first().map_or(l.style, |s| s.style);
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        out.extend(fit::wrapped(&text, w, indent, style));
    }
    out
}

/// A text field: its label, what is typed, and a cursor when focused (the whole line reversed
/// and marked, so focus shows in every theme and without colour).
fn field_line(
    app: &App,
    focused: bool,
    label: Span<'static>,
    value: String,
    after: Option<Span<'static>>,
) -> Line<'static> {
    let t = &app.theme;
    let mut spans = vec![
        Span::styled(
            if focused { FOCUS } else { UNFOCUSED },
            t.key_hint.add_modifier(Modifier::BOLD),
        ),
        label,
        Span::styled(
            format!("{value}{}", if focused { "▏" } else { "" }),
            if focused {
                t.dialog.add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                t.dialog.add_modifier(Modifier::UNDERLINED)
            },
        ),
    ];
    spans.extend(after);
    Line::from(spans)
}

/// Draws the gate's dialog; returns how far what will run can scroll in it.
fn render_gate(app: &App, f: &mut Frame, area: Rect) -> usize {
    let Some(g) = &app.gate else { return 0 };
    if g.hidden {
        return 0;
    }
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
    let outer = dialog_area(area);
    let w = dialog_width(outer, 70);
    let iw = w.saturating_sub(2) as usize;

    // The header: what the gate is. Kept after the controls, before what will run.
    let mut header: Vec<Line> = Vec::new();
    let mut title = format!("{kind} {}", req.id);
    if !req.title.is_empty() {
        title.push_str(&format!(" — {}", req.title));
    }
    let mut title_rows = fit::wrapped(&title, iw, "  ", t.dialog.add_modifier(Modifier::BOLD));
    title_rows.truncate(2);
    header.extend(title_rows);
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
    if req.approvals > 1 {
        tags.push(Span::raw(" "));
        tags.push(Span::styled(
            format!(" {} PEOPLE ", req.approvals),
            t.dialog.add_modifier(Modifier::REVERSED),
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
        header.push(fit::line(Line::from(tags), iw));
    }
    if let Some(m) = &req.message {
        header.extend(fit::wrapped(m, iw, "", t.dialog));
    }
    if let Some(e) = &req.error {
        let mut rows = fit::wrapped(&format!("error: {e}"), iw, "  ", t.step_failed);
        if rows.len() > 3 {
            rows.truncate(3);
            let last: String = rows[2].spans.iter().map(|s| s.content.as_ref()).collect();
            rows[2] = Line::styled(fit::cut(&format!("{last}…"), iw), t.step_failed);
        }
        header.extend(rows);
    }

    // The controls: always on screen.
    let mut controls: Vec<Line> = Vec::new();
    if !app.sharing.keys && req.approvals >= 2 {
        // A gate of several people: whoever follows approves or rejects it as themselves.
        controls.extend(fit::wrapped(
            &format!(
                "{} at the keys; this gate needs {} people: your decision counts as yours",
                app.sharing.driver, req.approvals
            ),
            iw,
            "",
            t.dialog.add_modifier(Modifier::BOLD),
        ));
    } else if !app.sharing.keys {
        // Shown to someone who follows: who decides, and how to ask for the keys.
        controls.extend(fit::wrapped(
            &format!("{} decides this gate — D asks to drive", app.sharing.driver),
            iw,
            "",
            t.dialog.add_modifier(Modifier::BOLD),
        ));
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
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        }
        let text = format!(
            "{}{} {}",
            if focus { FOCUS } else { UNFOCUSED },
            if done { "[x]" } else { "[ ]" },
            item.text
        );
        controls.extend(fit::wrapped(&text, iw, "      ", style));
    }
    if req.destructive {
        let word = req.confirm.clone().unwrap_or_default();
        let focus = g.focus == DialogFocus::Confirm;
        let typed = g.typed.trim();
        let verdict = if typed.is_empty() {
            None
        } else if req.confirmed_by(Some(&g.typed)) {
            Some(Span::styled("  ✓ matches", t.step_ok))
        } else {
            Some(Span::styled("  ✗ does not match", t.step_failed))
        };
        controls.push(fit::line(
            field_line(
                app,
                focus,
                Span::styled(format!("type `{word}` to approve: "), t.destructive),
                g.typed.clone(),
                verdict,
            ),
            iw,
        ));
    }
    controls.push(fit::line(
        field_line(
            app,
            g.focus == DialogFocus::Note,
            Span::styled("note: ", t.text_dim),
            g.note.clone(),
            None,
        ),
        iw,
    ));
    controls.push(Line::raw(""));
    // The buttons, in as many rows as they need; the chosen one reversed, the row marked when
    // it has the focus.
    let on_choices = g.focus == DialogFocus::Choices;
    let mut row: Vec<Span> = vec![Span::styled(
        if on_choices { FOCUS } else { UNFOCUSED },
        t.key_hint.add_modifier(Modifier::BOLD),
    )];
    let mut used = 2;
    for (i, c) in req.choices.iter().enumerate() {
        let text = format!("[{}] {}", key_for(*c), c.word());
        let tw = fit::width(&text);
        if used + tw > iw && used > 2 {
            controls.push(Line::from(std::mem::take(&mut row)));
            row.push(Span::raw(UNFOCUSED));
            used = 2;
        }
        let mut style = t.key_hint;
        if g.selected == Some(i) && on_choices && !g.follow {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        } else if on_choices {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        row.push(Span::styled(text, style));
        row.push(Span::raw("   "));
        used += tw + 3;
    }
    if let Some(name) = req
        .follow
        .as_deref()
        .filter(|_| super::dialogs::offers_follow(g))
    {
        let text = format!("[o] open {name}");
        let tw = fit::width(&text);
        if used + tw > iw && used > 2 {
            controls.push(Line::from(std::mem::take(&mut row)));
            row.push(Span::raw(UNFOCUSED));
        }
        let mut style = t.key_hint;
        if g.follow && on_choices {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        } else if on_choices {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        row.push(Span::styled(text, style));
    }
    controls.push(fit::line(Line::from(row), iw));
    let message = g.message.clone().or_else(|| {
        (on_choices && g.selected.is_none())
            .then(|| "choose with ←/→ or a key, then Enter".to_string())
    });
    if let Some(m) = message {
        let style = if g.message.is_some() {
            t.step_failed
        } else {
            t.text_dim
        };
        controls.extend(fit::wrapped(&m, iw, "", style));
    }

    // What will run: what room is left, scrolled, with a mark saying how much more there is.
    let body = wrap_lines(gate_body(app, req), iw, "      ");
    let room = outer.height.saturating_sub(2) as usize;
    let min_body = body.len().min(2);
    while header.len() > 1 && header.len() + controls.len() + min_body > room {
        header.pop();
    }
    let body_rows = room.saturating_sub(header.len() + controls.len());
    let mut lines = header;
    let mut scroll_max = 0;
    if body.len() <= body_rows {
        lines.extend(body);
    } else if body_rows > 0 {
        let window = body_rows - 1;
        let max = body.len() - window;
        scroll_max = max;
        let from = g.scroll.min(max);
        let below = body.len() - from - window;
        lines.extend(body[from..from + window].iter().cloned());
        let mark = match (from, below) {
            (0, b) => format!("  ↓ {b} more line{} (PgDn)", if b == 1 { "" } else { "s" }),
            (a, 0) => format!("  ↑ {a} line{} above (PgUp)", if a == 1 { "" } else { "s" }),
            (a, b) => format!("  ↑ {a} above, ↓ {b} more (PgUp/PgDn)"),
        };
        lines.push(Line::styled(
            fit::cut(&mark, iw),
            t.key_hint.add_modifier(Modifier::ITALIC),
        ));
    }
    // On a screen too small even for the controls, the top goes first.
    let skip = (lines.len() + controls.len()).saturating_sub(room);
    lines.extend(controls);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    let r = middle(outer, w, lines.len() as u16 + 2);
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
    f.render_widget(Paragraph::new(lines).block(b), r);
    scroll_max
}

/// The masked prompt: what the value is for, and one `•` per character typed, never the value.
fn render_prompt(app: &App, f: &mut Frame, area: Rect) {
    let Some(p) = &app.prompt else { return };
    let t = &app.theme;
    let kind = "SECRET VALUE";
    let outer = dialog_area(area);
    let w = dialog_width(outer, 60);
    let iw = w.saturating_sub(2) as usize;
    let mut head: Vec<Line> = fit::wrapped(
        &format!("step {} — {}", p.request.step, p.request.purpose),
        iw,
        "  ",
        t.dialog.add_modifier(Modifier::BOLD),
    );
    head.extend(fit::wrapped(&p.request.prompt, iw, "", t.dialog));
    head.extend(fit::wrapped(
        "typed, not shown; masked wherever it would appear, never written down",
        iw,
        "",
        t.text_dim,
    ));
    let n = p.typed_len();
    let controls = vec![
        Line::raw(""),
        fit::line(
            field_line(
                app,
                true,
                Span::styled("value: ", t.text_dim),
                "•".repeat(n),
                Some(Span::styled(
                    format!("  {n} character{}", if n == 1 { "" } else { "s" }),
                    t.text_dim,
                )),
            ),
            iw,
        ),
        Line::raw(""),
        fit::line(
            Line::styled(
                "  [enter] use it   [esc] cancel (the step fails)   [^U] clear",
                t.key_hint,
            ),
            iw,
        ),
    ];
    let room = outer.height.saturating_sub(2) as usize;
    head.truncate(room.saturating_sub(controls.len()).max(1));
    let mut lines = head;
    lines.extend(controls);
    let skip = lines.len().saturating_sub(room);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    let r = middle(outer, w, lines.len() as u16 + 2);
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
    f.render_widget(Paragraph::new(lines).block(b), r);
}

fn render_confirm(app: &App, f: &mut Frame, area: Rect, c: Confirm) {
    let text = match c {
        Confirm::AbortStep => {
            "Abort the running step? Its processes are stopped; the run can be resumed.".to_string()
        }
        Confirm::Quit => format!(
            "Quit? The run stops here and can be resumed with `tollgate resume {}`.",
            app.run_id
        ),
    };
    render_question(app, f, area, &text, "[y] yes    [n] no");
}

/// A question in the middle of the screen, and the keys that answer it.
fn render_question(app: &App, f: &mut Frame, area: Rect, text: &str, keys: &str) {
    let t = &app.theme;
    let keys = keys.to_string();
    let outer = dialog_area(area);
    let w = (outer.width / 2).max(44).min(outer.width);
    let iw = w.saturating_sub(2) as usize;
    let room = outer.height.saturating_sub(2) as usize;
    let mut lines = fit::wrapped(text, iw, "", t.dialog);
    lines.truncate(room.saturating_sub(2).max(1));
    lines.push(Line::raw(""));
    lines.push(fit::line(Line::styled(keys, t.key_hint), iw));
    let skip = lines.len().saturating_sub(room);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    let r = middle(outer, w, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    let b = Block::default()
        .borders(Borders::ALL)
        .border_style(t.dialog_border)
        .style(t.dialog);
    f.render_widget(Paragraph::new(lines).block(b), r);
}

/// One section of the help as rows of `w` columns: its title, then each key and what it does.
fn help_rows(app: &App, s: &keys::Section, w: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut rows = vec![Line::styled(
        format!("{:>16}", s.title),
        t.title.add_modifier(Modifier::BOLD),
    )];
    for k in s.keys {
        let text = fit::wrap(k.help, w.saturating_sub(18).max(10), "");
        for (i, part) in text.into_iter().enumerate() {
            let keys = if i == 0 { k.keys } else { "" };
            rows.push(fit::line(
                Line::from(vec![
                    Span::styled(format!("{keys:>16}  "), t.key_hint),
                    Span::styled(part, t.dialog),
                ]),
                w,
            ));
        }
    }
    rows
}

/// Every key, from [`keys::SECTIONS`]: in two columns when the screen is wide enough, else one
/// that scrolls (↓ / PgDn), with a mark saying there is more.
fn render_help(app: &App, f: &mut Frame, area: Rect) {
    let t = &app.theme;
    let outer = dialog_area(area);
    let w = dialog_width(outer, 90);
    let iw = w.saturating_sub(2) as usize;
    let room = outer.height.saturating_sub(2) as usize;
    let two = iw >= 2 * 84 + 2;
    let col_w = if two { (iw - 2) / 2 } else { iw };
    let mut columns: Vec<Vec<Line>> = vec![Vec::new()];
    // A rehearsal's help starts with how to look at its sandbox from another terminal.
    if let Some(r) = &app.rehearsal {
        let lines = [
            format!("A rehearsal against stand-ins: {}.", r.standins),
            "To look around with kubectl from a second terminal:".to_string(),
            format!("export KUBECONFIG={}", r.kubeconfig.display()),
        ];
        let col = &mut columns[0];
        col.push(Line::styled(
            format!("{:>16}", super::config::REHEARSAL.to_lowercase()),
            t.title.add_modifier(Modifier::BOLD),
        ));
        for (i, l) in lines.iter().enumerate() {
            // The command to copy gets the whole width, so it stays on one row if it can.
            let (indent, style) = if i == 2 {
                (2, t.key_hint.add_modifier(Modifier::BOLD))
            } else {
                (18, t.dialog)
            };
            let room = col_w.saturating_sub(indent).max(10);
            let parts = if i == 2 && fit::width(l) <= room {
                vec![l.clone()]
            } else {
                fit::wrap(l, room, "")
            };
            for part in parts {
                col.push(Line::from(vec![
                    Span::raw(" ".repeat(indent)),
                    Span::styled(part, style),
                ]));
            }
        }
    }
    let all: usize = keys::SECTIONS
        .iter()
        .map(|s| help_rows(app, s, col_w).len() + 1)
        .sum();
    for s in keys::SECTIONS {
        let rows = help_rows(app, s, col_w);
        let first = columns.len() == 1;
        let filled = columns.last().map_or(0, |c| c.len());
        if two && first && filled > 0 && filled + rows.len() > all / 2 + 2 {
            columns.push(Vec::new());
        }
        let col = columns.last_mut().expect("one");
        if !col.is_empty() {
            col.push(Line::raw(""));
        }
        col.extend(rows);
    }
    let lines: Vec<Line> = if columns.len() == 2 {
        let (l, r) = (&columns[0], &columns[1]);
        (0..l.len().max(r.len()))
            .map(|i| {
                let mut spans = Vec::new();
                let left = l.get(i).cloned().unwrap_or_default();
                let pad = col_w.saturating_sub(left.width()) + 2;
                spans.extend(left.spans);
                spans.push(Span::raw(" ".repeat(pad)));
                spans.extend(r.get(i).cloned().unwrap_or_default().spans);
                Line::from(spans)
            })
            .collect()
    } else {
        columns.into_iter().next().unwrap_or_default()
    };
    let total = lines.len();
    let max = total.saturating_sub(room);
    let from = app.dialogs.help_scroll.min(max);
    let shown: Vec<Line> = lines.into_iter().skip(from).take(room).collect();
    let r = middle(outer, w, shown.len() as u16 + 2);
    f.render_widget(Clear, r);
    let mut b = Block::default()
        .borders(Borders::ALL)
        .border_style(t.dialog_border)
        .style(t.dialog)
        .title(Span::styled(" keys ", t.title));
    if max > 0 {
        let below = max - from;
        let mark = match (from, below) {
            (0, b) => format!(" ↓ {b} more rows (↓ PgDn) "),
            (a, 0) => format!(" ↑ {a} rows above (↑ PgUp) "),
            (a, b) => format!(" ↑ {a} above · ↓ {b} more "),
        };
        b = b.title_bottom(Span::styled(mark, t.key_hint.add_modifier(Modifier::BOLD)));
    }
    f.render_widget(Paragraph::new(shown).block(b), r);
}

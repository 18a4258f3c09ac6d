//! The launcher's second screen: a runbook's plan (scrollable) above a form for its variables.
//! Choices (and booleans) are pick lists, defaults are filled in, `type` and `pattern` are
//! checked as the value is typed (the reason shown under the field, and the form not submitted
//! while one is wrong), and a secret's value is never drawn: only a mark per character.
//!
//! The state and its keys only; drawn by [`render`]. The values leave through [`Form::values`]
//! to `cli/open.rs`, which resolves them as `tollgate run --var …` would.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fit;
use super::keys::Key;
use super::theme::Theme;
use crate::engine::variables::check_value;
use crate::protocol::Secret;
use crate::runbook::{VarType, Variable};

/// The form's keys, for its footer.
pub const KEYS: &[Key] = &[
    Key {
        keys: "Tab  Shift-Tab",
        hint: "field",
        help: "next / previous field (↑ ↓ too)",
    },
    Key {
        keys: "← →",
        hint: "choose",
        help: "the previous / next choice of a pick list",
    },
    Key {
        keys: "PgUp PgDn",
        hint: "plan",
        help: "scroll the plan",
    },
    Key {
        keys: "Enter",
        hint: "run",
        help: "run the runbook with these values",
    },
    Key {
        keys: "Esc",
        hint: "back",
        help: "back to the list of runbooks",
    },
];

/// What a key did to the form.
#[derive(Debug, PartialEq)]
pub enum FormKey {
    /// Nothing to do outside the form.
    Stay,
    /// Esc: back to the list.
    Back,
    /// Enter with every value acceptable: start the run.
    Submit,
}

/// One variable's field (its `Debug` never shows a secret's value).
#[derive(Clone)]
pub struct Field {
    pub name: String,
    pub var: Variable,
    /// The value typed, or the choice picked.
    pub value: String,
    /// Why the value is refused, checked as it is typed.
    pub error: Option<String>,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = if self.var.secret {
            crate::protocol::MASK
        } else {
            &self.value
        };
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("value", &value)
            .field("error", &self.error)
            .finish()
    }
}

impl Field {
    /// A field for `var`, filled with `value` (its environment value or default) when given.
    pub fn new(name: &str, var: &Variable, value: Option<String>) -> Field {
        let picks = picks(var);
        let value = value.or_else(|| picks.first().cloned()).unwrap_or_default();
        let mut f = Field {
            name: name.to_string(),
            var: var.clone(),
            value,
            error: None,
        };
        f.check();
        f
    }

    /// The values a pick list offers: the choices, `true`/`false` for a boolean; none for a
    /// field typed in.
    pub fn picks(&self) -> Vec<String> {
        picks(&self.var)
    }

    fn check(&mut self) {
        // Empty is "no value": the default, or the run's own refusal, decides (as `run` does).
        self.error = if self.value.is_empty() {
            None
        } else {
            check_value(&self.name, &self.var, &self.value).err()
        };
    }

    /// The value as drawn: a secret's as one mark per character, never its text.
    pub fn shown(&self) -> String {
        if self.var.secret {
            "•".repeat(self.value.chars().count().min(32))
        } else {
            self.value.clone()
        }
    }
}

fn picks(var: &Variable) -> Vec<String> {
    if !var.choices.is_empty() {
        var.choices.clone()
    } else if var.ty == VarType::Bool {
        vec!["true".into(), "false".into()]
    } else {
        Vec::new()
    }
}

/// The plan and the variables' form of one runbook.
#[derive(Clone, Debug)]
pub struct Form {
    /// The runbook's name, and its file as shown.
    pub title: String,
    pub file: String,
    /// The plan's lines (`tollgate plan`'s text, secrets masked).
    pub plan: Vec<String>,
    pub plan_scroll: usize,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// One line for the operator: why Enter did nothing, or why the run could not start.
    pub message: Option<String>,
}

impl Form {
    pub fn new(title: &str, file: &str, plan: Vec<String>, fields: Vec<Field>) -> Form {
        Form {
            title: title.to_string(),
            file: file.to_string(),
            plan,
            plan_scroll: 0,
            fields,
            focus: 0,
            message: None,
        }
    }

    /// Whether every value is acceptable.
    pub fn valid(&self) -> bool {
        self.fields.iter().all(|f| f.error.is_none())
    }

    /// Every field's value, by name, with whether it is secret (each value kept out of
    /// `Debug`); empty ones left out (the default or the run's refusal decides).
    pub fn values(&self) -> Vec<(String, Secret, bool)> {
        self.fields
            .iter()
            .filter(|f| !f.value.is_empty())
            .map(|f| (f.name.clone(), Secret(f.value.clone()), f.var.secret))
            .collect()
    }

    /// Applies a key. Returns what the launcher does next.
    pub fn key(&mut self, k: &KeyEvent) -> FormKey {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let n = self.fields.len();
        match k.code {
            KeyCode::Esc => return FormKey::Back,
            KeyCode::Enter => {
                if let Some(i) = self.fields.iter().position(|f| f.error.is_some()) {
                    self.focus = i;
                    let f = &self.fields[i];
                    self.message = Some(format!(
                        "cannot run yet: {}",
                        f.error.clone().unwrap_or_default()
                    ));
                    return FormKey::Stay;
                }
                self.message = None;
                return FormKey::Submit;
            }
            KeyCode::Tab | KeyCode::Down if n > 0 => self.focus = (self.focus + 1) % n,
            KeyCode::BackTab | KeyCode::Up if n > 0 => self.focus = (self.focus + n - 1) % n,
            KeyCode::PageDown => {
                self.plan_scroll = (self.plan_scroll + 10).min(self.plan.len().saturating_sub(1))
            }
            KeyCode::PageUp => self.plan_scroll = self.plan_scroll.saturating_sub(10),
            KeyCode::Left | KeyCode::Right if !ctrl => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    let picks = f.picks();
                    if !picks.is_empty() {
                        let at = picks.iter().position(|p| *p == f.value);
                        let next = match (at, k.code == KeyCode::Right) {
                            (None, _) => 0,
                            (Some(i), true) => (i + 1) % picks.len(),
                            (Some(i), false) => (i + picks.len() - 1) % picks.len(),
                        };
                        f.value = picks[next].clone();
                        f.check();
                    }
                }
            }
            _ => {
                if let Some(f) = self.fields.get_mut(self.focus)
                    && f.picks().is_empty()
                    && super::field::edit_field(&mut f.value, k)
                {
                    f.check();
                    self.message = None;
                }
            }
        }
        FormKey::Stay
    }

    /// Text pasted into the focused field (control characters dropped).
    pub fn paste(&mut self, text: &str) {
        if let Some(f) = self.fields.get_mut(self.focus)
            && f.picks().is_empty()
        {
            f.value.extend(text.chars().filter(|c| !c.is_control()));
            f.check();
        }
    }
}

/// Draws the form: its title, the plan, the fields, and the footer of keys.
pub fn render(form: &Form, theme: &Theme, f: &mut Frame) {
    let area = f.area();
    let w = area.width as usize;
    let t = theme;
    // Each field takes a line, and one more for its reason when it is refused.
    let field_lines: usize = form
        .fields
        .iter()
        .map(|x| 1 + usize::from(x.error.is_some()))
        .sum::<usize>()
        .max(1);
    let room = area.height.saturating_sub(3) as usize;
    // The form gets what it needs up to half the room below the plan's at least 5 lines.
    let form_h = (field_lines + 2).min(room.saturating_sub(5).max(room / 2)) as u16;
    let [top, plan_area, form_area, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(form_h),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let title = Line::from(vec![
        Span::styled(format!(" {} ", form.title), t.banner),
        Span::styled(format!("  {}", form.file), t.text_dim),
    ]);
    f.render_widget(Paragraph::new(fit::line(title, w)), top);

    let plan_block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(
                " plan {}/{} ",
                (form.plan_scroll + 1).min(form.plan.len()),
                form.plan.len()
            ),
            t.title,
        ));
    let inner = plan_block.inner(plan_area);
    f.render_widget(plan_block, plan_area);
    let iw = inner.width as usize;
    let plan: Vec<Line> = form
        .plan
        .iter()
        .skip(form.plan_scroll)
        .take(inner.height as usize)
        .map(|l| Line::styled(fit::cut(l, iw), t.text))
        .collect();
    f.render_widget(Paragraph::new(plan), inner);

    render_fields(form, t, f, form_area);

    let msg = match (&form.message, form.valid()) {
        (Some(m), _) => Span::styled(fit::cut(m, w), t.step_failed),
        (None, true) => Span::styled("Enter runs it with these values", t.text_dim),
        (None, false) => Span::styled(
            "a value is refused: fix it to run (Esc: back)",
            t.gate_pending,
        ),
    };
    f.render_widget(Paragraph::new(Line::from(msg)), status);
    f.render_widget(Paragraph::new(footer_line(KEYS, t, w)), footer);
}

fn render_fields(form: &Form, t: &Theme, f: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focused)
        .title(Span::styled(" variables ", t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let iw = inner.width as usize;
    if form.fields.is_empty() {
        f.render_widget(
            Paragraph::new(Line::styled("no variables to set", t.text_dim)),
            inner,
        );
        return;
    }
    let label_w = form
        .fields
        .iter()
        .map(|x| fit::width(&x.name))
        .max()
        .unwrap_or(0)
        .min(iw / 3);
    let mut lines: Vec<Line> = Vec::new();
    // The lines of the focused field: its value, and its reason when refused.
    let mut focus_lines = (0, 0);
    for (i, x) in form.fields.iter().enumerate() {
        let focused = i == form.focus;
        let first = lines.len();
        let mark = if focused { "▸ " } else { "  " };
        let name = format!("{:<label_w$}", fit::cut(&x.name, label_w));
        let mut spans = vec![
            Span::styled(mark, t.key_hint),
            Span::styled(name, t.text),
            Span::raw("  "),
        ];
        let value_style = if x.var.secret {
            t.secret_masked
        } else if x.error.is_some() {
            t.step_failed
        } else {
            t.text
        };
        let picks = x.picks();
        if picks.is_empty() {
            let cursor = if focused { "▏" } else { "" };
            let value_style = if focused {
                value_style.add_modifier(Modifier::UNDERLINED)
            } else {
                value_style
            };
            spans.push(Span::styled(format!("{}{cursor}", x.shown()), value_style));
        } else if picks.iter().map(|p| fit::width(p) + 2).sum::<usize>() + 4
            > iw.saturating_sub(label_w + 4)
        {
            // Too many to show side by side: the one picked, and where it is in the list.
            let at = picks
                .iter()
                .position(|p| *p == x.value)
                .map_or(0, |i| i + 1);
            spans.push(Span::styled("◂ ", t.key_hint));
            spans.push(Span::styled(format!(" {} ", x.value), t.selection));
            spans.push(Span::styled(format!(" {at}/{} ", picks.len()), t.text_dim));
            spans.push(Span::styled(" ▸", t.key_hint));
        } else {
            spans.push(Span::styled("◂ ", t.key_hint));
            for p in &picks {
                let style = if *p == x.value {
                    t.selection
                } else {
                    t.text_dim
                };
                spans.push(Span::styled(format!(" {p} "), style));
            }
            spans.push(Span::styled(" ▸", t.key_hint));
        }
        let mut hint = Vec::new();
        if x.var.secret {
            hint.push("secret".to_string());
        }
        if x.var.ty == VarType::Int {
            hint.push("whole number".into());
        }
        if let Some(p) = &x.var.pattern {
            hint.push(format!("pattern {}", p.value));
        }
        if !x.var.description.is_empty() {
            hint.push(crate::text::one_line(&x.var.description));
        }
        if !hint.is_empty() {
            spans.push(Span::styled(format!("  {}", hint.join(" · ")), t.text_dim));
        }
        let line = Line::from(spans);
        lines.push(fit::line(
            if focused { line.style(t.dialog) } else { line },
            iw,
        ));
        if let Some(e) = &x.error {
            lines.push(fit::line(
                Line::styled(format!("    ✗ {e}"), t.step_failed),
                iw,
            ));
        }
        if focused {
            focus_lines = (first, lines.len());
        }
    }
    let h = inner.height as usize;
    // The focused field is always on screen, its reason too when there is room.
    let skip = focus_lines.1.saturating_sub(h).min(focus_lines.0);
    let shown: Vec<Line> = lines.into_iter().skip(skip).take(h).collect();
    f.render_widget(Paragraph::new(shown), inner);
}

/// The footer: each key reversed, then what it does; what does not fit is cut with `…`.
pub fn footer_line(keys: &'static [Key], t: &Theme, w: usize) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, what) in super::keys::hints(keys) {
        spans.push(Span::styled(
            format!(" {k} "),
            t.key_hint.add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::styled(format!(" {what}  "), t.text_dim));
    }
    fit::line(Line::from(spans), w)
}

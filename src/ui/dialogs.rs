//! The gate dialog and the masked prompt: ticking the checklist, typing the confirmation word and
//! a note, choosing; typing a value no one sees.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::state::*;
use crate::protocol::{Choice, Command, Decision};

impl App {
    /// A key at the masked prompt: typed characters are kept (shown as bullets), Enter hands
    /// the value to the engine, Esc declines (the step fails).
    pub(super) fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Action> {
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
    pub(super) fn on_prompt_paste(&mut self, text: &str) -> Vec<Action> {
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

    pub(super) fn on_gate_key(&mut self, k: KeyEvent) -> Vec<Action> {
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
                    // The choice keys choose from the checklist too (x ticks here); Enter on the
                    // choices then decides.
                    KeyCode::Char(c) => {
                        if let Some(choice) = choice_for_key(c, &g.request.choices) {
                            choose(g, choice);
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
                    // A key chooses, it never decides: no word typed here by mistake (the
                    // confirmation word after focus left its field) can answer the gate.
                    KeyCode::Char(c) => {
                        match choice_for_key(c, &choices) {
                            Some(choice) => choose(g, choice),
                            // Typing: back into the confirmation word.
                            None if g.request.destructive && c.is_alphanumeric() => {
                                g.focus = DialogFocus::Confirm;
                                g.selected = None;
                                g.typed.push(c);
                            }
                            None => {}
                        }
                        Vec::new()
                    }
                    _ => Vec::new(),
                }
            }
        }
    }

    /// Sends a decision for the open gate, after the dialog's own checks.
    pub(super) fn decide(&mut self, choice: Choice) -> Vec<Action> {
        let Some(g) = self.gate.as_mut() else {
            return Vec::new();
        };
        if choice == Choice::Approve {
            if g.ticks.iter().any(|t| !t) {
                g.message = Some("tick every checklist item first (space)".into());
                g.selected = None;
                g.focus = DialogFocus::Checklist(g.ticks.iter().position(|t| !t).unwrap_or(0));
                return Vec::new();
            }
            if !g.request.confirmed_by(Some(&g.typed)) {
                g.message = Some(format!(
                    "type `{}` to approve",
                    g.request.confirm.as_deref().unwrap_or_default()
                ));
                g.focus = DialogFocus::Confirm;
                g.selected = None;
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
            checklist: if choice == Choice::Approve {
                g.ticks.clone()
            } else {
                Vec::new()
            },
        }))]
    }
}

/// Highlights `choice`: Enter then decides it.
fn choose(g: &mut GateDialog, choice: Choice) {
    g.selected = g.request.choices.iter().position(|c| *c == choice);
    g.focus = DialogFocus::Choices;
    g.message = Some(format!("Enter to {}", choice.word()));
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
        Choice::KillSurvivors => "k",
        Choice::WaitSurvivors => "w",
    }
}

fn choice_for_key(c: char, choices: &[Choice]) -> Option<Choice> {
    choices
        .iter()
        .copied()
        .find(|ch| key_for(*ch).starts_with(c))
}

//! The gate dialog and the masked prompt: ticking the checklist, typing the confirmation word and
//! a note, choosing; typing a value no one sees.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::App;
use super::field::edit_field;
use super::state::*;
use crate::protocol::{Choice, Command, Decision, GateRequest};

impl App {
    /// Opens the dialog of a gate the engine reached, unless the command line's flags decide it
    /// (the same rule as headless: a destructive gate only with its word, `--approve ID=WORD`).
    pub(super) fn open_gate(&mut self, req: GateRequest) {
        if let Some(d) = self.dialogs.approvals.decide_once(&req) {
            if d.via == crate::protocol::approvals::VIA_SCRIPT {
                self.note(format!(
                    "gate {}: {} by the rehearsal script",
                    req.id,
                    d.choice.word()
                ));
            } else {
                self.note(format!(
                    "gate {}: {} by the flag {} (pre-approved)",
                    req.id,
                    d.choice.word(),
                    d.via
                ));
            }
            self.dialogs.outbox.push(Command::Decide(d));
        } else if req.destructive
            && self
                .dialogs
                .approvals
                .approve
                .iter()
                .any(|(g, w)| *g == req.id && w.is_none())
        {
            self.note(format!(
                "gate {}: --approve {} does not pass a destructive gate; it needs --approve {}=WORD",
                req.id, req.id, req.id
            ));
        }
        let ticks = vec![false; req.checklist.len()];
        // The first thing to do: the checklist (drawn first), else the word, else choosing.
        let focus = if !req.checklist.is_empty() {
            DialogFocus::Checklist(0)
        } else if req.destructive {
            DialogFocus::Confirm
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
            hidden: false,
            scroll: 0,
            follow: false,
        });
    }

    /// Decisions the flags made, for the loop to send to the engine.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.dialogs.outbox)
    }

    /// Whether a gate's dialog is on screen (open and not hidden).
    pub fn gate_shown(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| !g.hidden)
    }

    /// Whether a gate is open but hidden to look at the panes.
    pub fn gate_hidden(&self) -> bool {
        self.gate.as_ref().is_some_and(|g| g.hidden)
    }

    /// Shows the hidden gate again; keys are taken after the guard time, as when it opened.
    pub(super) fn show_gate(&mut self) {
        let now = self.now.max(Instant::now());
        if let Some(g) = self.gate.as_mut() {
            g.hidden = false;
            g.opened = now;
        }
    }

    /// A key at the masked prompt: typed characters are kept (shown as bullets), Enter hands
    /// the value to the engine, Esc declines (the step fails).
    pub(super) fn on_prompt_key(&mut self, k: KeyEvent) -> Vec<Action> {
        let Some(opened) = self.prompt.as_ref().map(|p| p.opened) else {
            return Vec::new();
        };
        if !self.takes_keys(opened) {
            return Vec::new();
        }
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
            _ => {
                edit_field(&mut p.typed.0, &k);
                Vec::new()
            }
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
        let body = self.areas.gate_scroll_max;
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
        let plain = !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        match k.code {
            // Out of the way, to read the panes; the gate stays open (`d` brings it back).
            KeyCode::Esc => {
                g.hidden = true;
                return Vec::new();
            }
            KeyCode::Tab => {
                g.focus = next_focus(g, true);
                return Vec::new();
            }
            KeyCode::BackTab => {
                g.focus = next_focus(g, false);
                return Vec::new();
            }
            KeyCode::PageDown => {
                g.scroll = (g.scroll + 5).min(body);
                return Vec::new();
            }
            KeyCode::PageUp => {
                g.scroll = g.scroll.saturating_sub(5);
                return Vec::new();
            }
            KeyCode::Char('?') if !text_focus && plain => {
                self.help = true;
                self.dialogs.help_scroll = 0;
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
                    KeyCode::Enter => g.focus = DialogFocus::Choices,
                    _ => {
                        edit_field(field, &k);
                    }
                }
                Vec::new()
            }
            DialogFocus::Checklist(i) => {
                match k.code {
                    KeyCode::Char(' ') | KeyCode::Char('x') | KeyCode::Enter if plain => {
                        if let Some(t) = g.ticks.get_mut(i) {
                            *t = !*t;
                        }
                    }
                    KeyCode::Up | KeyCode::Char('k') if i > 0 && plain => {
                        g.focus = DialogFocus::Checklist(i - 1)
                    }
                    KeyCode::Down | KeyCode::Char('j') if plain => {
                        g.focus = if i + 1 < g.ticks.len() {
                            DialogFocus::Checklist(i + 1)
                        } else {
                            next_focus(g, true)
                        }
                    }
                    // The choice keys choose from the checklist too (x ticks here); Enter on the
                    // choices then decides.
                    KeyCode::Char('o') if plain && offers_follow(g) => choose_follow(g),
                    KeyCode::Char(c) if plain => {
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
                if !plain {
                    return Vec::new();
                }
                match k.code {
                    KeyCode::Left | KeyCode::Char('h') => {
                        g.selected = Some(g.selected.map_or(0, |s| s.saturating_sub(1)));
                        Vec::new()
                    }
                    KeyCode::Right | KeyCode::Char('l') => {
                        g.selected = Some(
                            g.selected
                                .map_or(0, |s| (s + 1).min(choices.len().saturating_sub(1))),
                        );
                        Vec::new()
                    }
                    KeyCode::Char('n') => {
                        g.focus = DialogFocus::Note;
                        Vec::new()
                    }
                    KeyCode::Char('o') if offers_follow(g) => {
                        choose_follow(g);
                        Vec::new()
                    }
                    KeyCode::Enter => match g.selected.and_then(|i| choices.get(i)).copied() {
                        Some(c) => {
                            let follow = g.follow.then(|| g.request.follow.clone()).flatten();
                            let sent = self.decide(c);
                            if follow.is_some() && !sent.is_empty() {
                                self.follow_chosen = follow;
                            }
                            sent
                        }
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
                let word = g.request.confirm.as_deref().unwrap_or_default();
                let typed = g.typed.trim();
                g.message = Some(if typed.is_empty() {
                    format!("type `{word}` to approve")
                } else {
                    format!("`{typed}` does not match: type `{word}` to approve")
                });
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
    g.follow = false;
    g.selected = g.request.choices.iter().position(|c| *c == choice);
    g.focus = DialogFocus::Choices;
    g.message = Some(format!("Enter to {}", choice.word()));
}

/// Whether the dialog offers "open NAME": a failed step whose failure path (which rolling back
/// takes) leads to the runbook NAME.
pub fn offers_follow(g: &GateDialog) -> bool {
    g.request.follow.is_some() && g.request.choices.contains(&Choice::Rollback)
}

/// Highlights "open NAME": Enter then rolls back, and the runbook opens when the run has ended.
fn choose_follow(g: &mut GateDialog) {
    g.selected = g
        .request
        .choices
        .iter()
        .position(|c| *c == Choice::Rollback);
    g.focus = DialogFocus::Choices;
    g.follow = true;
    g.message = Some(format!(
        "Enter to roll back, then open `{}`",
        g.request.follow.as_deref().unwrap_or_default()
    ));
}

/// Tab order: the order the dialog draws its controls in.
fn next_focus(g: &GateDialog, forward: bool) -> DialogFocus {
    let mut order: Vec<DialogFocus> = (0..g.ticks.len()).map(DialogFocus::Checklist).collect();
    if g.request.destructive {
        order.push(DialogFocus::Confirm);
    }
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

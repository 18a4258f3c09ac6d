//! Every built-in theme is readable: each cell of every screen a run goes through (the tree with
//! its selection, output and its search, a destructive gate, help, a failure, the end) is drawn
//! with a foreground and background whose contrast meets WCAG AA — 4.5:1 for text, 3:1 for
//! borders and other marks — on the kind of terminal the theme is made for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;
use tollgate::engine::{Command, Engine, Event};
use tollgate::protocol::{Choice, Decision};
use tollgate::ui::Config;
use tollgate::ui::app::{Action, App, RunState};
use tollgate::ui::contrast::{self, Ground};
use tollgate::ui::render;
use tollgate::ui::theme::Theme;

use crate::common;

const DEADLINE: Duration = Duration::from_secs(20);

const RUNBOOK: &str = r#"
name: Orders API — deploy
targets:
  environment: production
  production: true
phases:
  - id: preflight
    title: Preflight
    steps:
      - id: versions
        title: Show versions
        run: |
          for i in $(seq 1 30); do echo "module $i loaded"; done
          echo "a warning" >&2
  - id: migrate
    title: Migrate the database
    gate: { message: "Migrate orders to v2?", destructive: true }
    checklist:
      - Backup taken in the last hour
      - Rollback plan read
    steps:
      - id: run-migration
        title: Run the migration
        run: echo "migrated 12 tables"
  - id: verify
    title: Verify
    steps:
      - id: smoke
        title: Smoke test
        run: |
          echo "HTTP 503" >&2
          exit 2
"#;

/// The terminal each built-in theme is made for.
fn ground(theme: &str) -> Ground {
    match theme {
        "light" => Ground::LIGHT,
        _ => Ground::DARK,
    }
}

/// Borders, bars, arrows and check marks: held to 3:1, not to the 4.5:1 of text.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x2190..=0x21FF | 0x2500..=0x25FF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

struct Run {
    app: App,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    theme: String,
    screens: Vec<(String, Buffer)>,
    _dir: tempfile::TempDir,
}

impl Run {
    fn start(theme: &str) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let spec = common::spec(dir.path(), RUNBOOK, &[], false);
        let runbook = spec.runbook.clone();
        let (ev_tx, events) = mpsc::channel(1024);
        let (commands, cmd_rx) = mpsc::channel(16);
        let engine = Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx);
        tokio::spawn(engine.run());
        let app = App::new(Config::new(
            runbook,
            "run-1",
            "tester@host",
            Theme::builtin(theme).unwrap(),
        ));
        Run {
            app,
            events,
            commands,
            theme: theme.to_owned(),
            screens: Vec::new(),
            _dir: dir,
        }
    }

    async fn until(&mut self, what: &str, pred: impl Fn(&App) -> bool) {
        let r = tokio::time::timeout(DEADLINE, async {
            while !pred(&self.app) {
                match self.events.recv().await {
                    Some(ev) => self.app.on_engine(ev),
                    None => return false,
                }
            }
            true
        })
        .await;
        assert!(
            matches!(r, Ok(true)),
            "never reached: {what}; events: {:?}",
            self.app.recent()
        );
    }

    async fn key(&mut self, code: KeyCode) {
        for action in self
            .app
            .on_input(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        {
            if let Action::Send(cmd) = action {
                self.commands.send(cmd).await.unwrap();
            }
        }
    }

    async fn keys(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c)).await;
        }
    }

    /// Decides the open gate as the engine is told, the way `--approve` does.
    async fn decide(&mut self, choice: Choice) {
        let g = &self.app.gate().expect("a gate is open").request;
        let decision = Decision {
            gate: g.id.clone(),
            choice,
            who: "tester@host".into(),
            via: "test".into(),
            note: None,
            typed: g.confirm.clone(),
            checklist: vec![true; g.checklist.len()],
        };
        self.commands.send(Command::Decide(decision)).await.unwrap();
    }

    fn seen(&mut self) {
        if let Some(g) = self.app.gate_mut() {
            g.opened = Instant::now() - Duration::from_secs(1);
        }
    }

    /// Keeps the screen as drawn now, at two sizes.
    fn shot(&mut self, what: &str) {
        for (w, h) in [(160, 45), (100, 30)] {
            let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
            t.draw(|f| {
                render::render(&self.app, f);
            })
            .unwrap();
            self.screens
                .push((format!("{what} at {w}x{h}"), t.backend().buffer().clone()));
        }
    }
}

/// The colour pairs whose cells cannot be read, each with the first place it is drawn and how
/// many cells use it.
fn unreadable(theme: &str, screens: &[(String, Buffer)]) -> Vec<String> {
    let ground = ground(theme);
    let mut bad: Vec<((contrast::Rgb, contrast::Rgb, bool), String, usize)> = Vec::new();
    for (what, b) in screens {
        for y in 0..b.area.height {
            for x in 0..b.area.width {
                let cell = &b[(x, y)];
                let Some(c) = cell.symbol().chars().find(|c| !c.is_whitespace()) else {
                    continue;
                };
                let mark = is_mark(c);
                let need = if mark { contrast::MARK } else { contrast::TEXT };
                let r = contrast::of(cell.style(), ground);
                if r >= need {
                    continue;
                }
                let (fg, bg) = contrast::seen(cell.style(), ground);
                match bad.iter_mut().find(|(k, _, _)| *k == (fg, bg, mark)) {
                    Some((_, _, n)) => *n += 1,
                    None => {
                        let row: String = (0..b.area.width)
                            .map(|x| b[(x, y)].symbol().to_string())
                            .collect();
                        bad.push((
                            (fg, bg, mark),
                            format!(
                                "{theme}: {r:.2} < {need}: {fg:02x?} on {bg:02x?}, first {c:?} \
                                 at ({x},{y}) of {what}: {:?}",
                                row.trim()
                            ),
                            1,
                        ))
                    }
                }
            }
        }
    }
    bad.into_iter()
        .map(|(_, s, n)| format!("{s} ({n} cells)"))
        .collect()
}

#[tokio::test]
async fn every_theme_meets_wcag_aa_on_every_screen_of_a_run() {
    let mut bad = Vec::new();
    for name in Theme::builtin_names() {
        let mut r = Run::start(name);
        r.shot("start");
        r.until("the migrate gate", |a| a.gate().is_some()).await;
        r.seen();
        r.shot("destructive gate");
        // Tick the checklist and type a word: the dialog's controls in their other states.
        r.key(KeyCode::Char(' ')).await;
        r.key(KeyCode::Tab).await;
        r.keys("prod").await;
        r.shot("destructive gate, half done");
        r.key(KeyCode::Char('?')).await;
        r.shot("help");
        r.key(KeyCode::Esc).await;
        // The selected row of the tree, away from the current step.
        r.key(KeyCode::Up).await;
        r.shot("selection");
        r.key(KeyCode::Char('/')).await;
        r.keys("module").await;
        r.key(KeyCode::Enter).await;
        r.shot("search");
        r.key(KeyCode::Esc).await;
        // Past the gate, as the engine is told; the smoke test then fails.
        r.decide(Choice::Approve).await;
        r.until("the failure dialog", |a| {
            a.gate().is_some_and(|g| g.request.error.is_some())
        })
        .await;
        r.seen();
        r.shot("failure");
        r.decide(Choice::Abort).await;
        r.until("the run ends", |a| {
            matches!(a.state(), RunState::Finished(_))
        })
        .await;
        r.shot("end");
        bad.extend(unreadable(&r.theme, &r.screens));
    }
    assert!(
        bad.is_empty(),
        "colour pairs below WCAG AA:\n{}",
        bad.join("\n")
    );
}

/// Every meaning of every built-in theme, alone on its terminal, inside a dialog, and under the
/// selection bar: the pairs a screen can put together, beyond the screens above (the pods pane's
/// rows, log sources, statuses not reached by that run).
#[test]
fn every_meaning_reads_on_the_ground_in_a_dialog_and_selected() {
    use ratatui::style::Style;
    use ratatui::text::{Line, Span};
    let mut bad = Vec::new();
    for name in Theme::builtin_names() {
        let theme = Theme::builtin(name).unwrap();
        let ground = ground(name);
        for meaning in Theme::MEANINGS {
            let style = theme.style(meaning).unwrap();
            let need = if meaning.starts_with("border") || *meaning == "dialog_border" {
                contrast::MARK
            } else {
                contrast::TEXT
            };
            let dialog = Style {
                bg: style.bg.or(theme.dialog.bg),
                ..style
            };
            let line = theme.selected(Line::from(Span::styled("x", style)));
            let selected = line.style.patch(line.spans[0].style);
            for (where_, s) in [
                ("alone", style),
                ("in a dialog", dialog),
                ("selected", selected),
            ] {
                let r = contrast::of(s, ground);
                if r < need {
                    bad.push(format!(
                        "{name}: {meaning} {where_}: {r:.2} < {need} ({s:?})"
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "below WCAG AA:\n{}", bad.join("\n"));
}

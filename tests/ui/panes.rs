//! Scrolling, following, searching and focus in the output, events and phases panes, and what
//! the screen says once a run has finished, driven by keys through the app and drawn on a test
//! backend the way the loop draws (so the app knows where its panes are).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tollgate::engine::{Command, Engine, EngineError, Event, Outcome, RunStatus, StepStatus};
use tollgate::protocol::{Choice, GateKind, History, Past, Stream};
use tollgate::ui::app::{Action, App, Pane, RunState};
use tollgate::ui::theme::Theme;
use tollgate::ui::{ClusterPanes, Config};

use crate::common;

const DEADLINE: Duration = Duration::from_secs(20);

/// The app on a runbook, with the engine when `engine` (events by hand otherwise).
struct Screen {
    app: App,
    events: Option<mpsc::Receiver<Event>>,
    commands: Option<mpsc::Sender<Command>>,
    handle: Option<JoinHandle<Result<Outcome, EngineError>>>,
    _dir: tempfile::TempDir,
}

impl Screen {
    fn new(yaml: &str) -> Screen {
        Screen::with(yaml, false, |c| c)
    }

    fn with(yaml: &str, engine: bool, config: impl FnOnce(Config) -> Config) -> Screen {
        let dir = tempfile::tempdir().unwrap();
        let spec = common::spec(dir.path(), yaml, &[], false);
        let runbook = spec.runbook.clone();
        let app = App::new(config(Config::new(
            runbook,
            "run-1",
            "tester@host",
            Theme::builtin("dark").unwrap(),
        )));
        let (mut events, mut commands, mut handle) = (None, None, None);
        if engine {
            let (ev_tx, ev_rx) = mpsc::channel(1024);
            let (cmd_tx, cmd_rx) = mpsc::channel(16);
            let e = Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx);
            handle = Some(tokio::spawn(e.run()));
            events = Some(ev_rx);
            commands = Some(cmd_tx);
        }
        Screen {
            app,
            events,
            commands,
            handle,
            _dir: dir,
        }
    }

    /// Applies engine events until the app is in the state asked for.
    async fn until(&mut self, what: &str, pred: impl Fn(&App) -> bool) {
        let events = self.events.as_mut().expect("an engine");
        let app = &mut self.app;
        let r = tokio::time::timeout(DEADLINE, async {
            while !pred(app) {
                match events.recv().await {
                    Some(ev) => app.on_engine(ev),
                    None => return false,
                }
            }
            true
        })
        .await;
        assert!(matches!(r, Ok(true)), "never reached: {what}");
    }

    fn key(&mut self, code: KeyCode) {
        for action in self
            .app
            .on_input(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        {
            if let Action::Send(cmd) = action {
                self.commands
                    .as_ref()
                    .expect("an engine")
                    .try_send(cmd)
                    .unwrap();
            }
        }
    }

    fn keys(&mut self, code: KeyCode, n: usize) {
        for _ in 0..n {
            self.key(code);
        }
    }

    /// A dialog on screen long enough to be read.
    fn gate_seen(&mut self) {
        if let Some(g) = self.app.gate_mut() {
            g.opened = Instant::now() - Duration::from_secs(1);
        }
    }

    /// Draws a frame as the loop does (the app keeps where its panes went), at the clock the app
    /// was last given.
    fn buffer(&mut self, w: u16, h: u16) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| tollgate::ui::draw(&mut self.app, f)).unwrap();
        t.backend().buffer().clone()
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        text(&self.buffer(w, h))
    }
}

fn text(b: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..b.area.height {
        s.push_str(&row(b, b.area, y));
        s.push('\n');
    }
    s
}

/// Row `y` of `area` in the buffer.
fn row(b: &Buffer, area: Rect, y: u16) -> String {
    (area.x..area.x + area.width)
        .map(|x| b[(x, y)].symbol().to_string())
        .collect()
}

/// The rows inside a pane's border.
fn inner_rows(b: &Buffer, pane: Rect) -> Vec<String> {
    let inner = Rect {
        x: pane.x + 1,
        y: pane.y + 1,
        width: pane.width.saturating_sub(2),
        height: pane.height.saturating_sub(2),
    };
    (inner.y..inner.y + inner.height)
        .map(|y| row(b, inner, y).trim_end().to_string())
        .collect()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d\d:\d\d:\d\d(\.\d{3})?", "[time]");
    s.add_filter(r"\b\d+\.\d+s\b", "[dur]");
    s
}

macro_rules! snap {
    ($name:expr, $screen:expr) => {
        settings().bind(|| insta::assert_snapshot!($name, $screen));
    };
}

const ONE_STEP: &str = r#"
name: chatty
phases:
  - id: p
    steps:
      - { id: chatty, run: "true" }
"#;

fn started(s: &mut Screen, step: &str) {
    s.app.on_engine(Event::StepStarted {
        step: step.into(),
        title: String::new(),
        attempt: 1,
        attempts: 1,
        command: "seq".into(),
    });
}

fn output(s: &mut Screen, step: &str, text: String) {
    s.app.on_engine(Event::Output {
        step: step.into(),
        stream: Stream::Stdout,
        text: text.into(),
    });
}

fn numbered(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line {i}\n")).collect()
}

/// 400 lines of output in a finished run.
fn four_hundred_lines() -> Screen {
    let mut s = Screen::new(ONE_STEP);
    started(&mut s, "chatty");
    output(&mut s, "chatty", numbered(1, 400));
    s.app.on_engine(Event::StepFinished {
        step: "chatty".into(),
        status: StepStatus::Succeeded,
        exit_code: Some(0),
        duration: Duration::from_secs(1),
        error: None,
    });
    s.app.on_engine(Event::RunFinished {
        status: RunStatus::Succeeded,
    });
    s
}

#[test]
fn home_and_page_up_show_a_full_page_and_down_moves_one_line() {
    let mut s = four_hundred_lines();
    let b = s.buffer(120, 40);
    let pane = s.app.areas().output;
    assert_eq!(inner_rows(&b, pane).last().unwrap(), "line 400");
    for key in [KeyCode::Home, KeyCode::Char('g')] {
        s.key(KeyCode::End);
        s.key(key);
        let b = s.buffer(120, 40);
        let rows = inner_rows(&b, pane);
        let h = rows.len();
        assert_eq!(rows[0], "line 1", "{key:?}\n{}", text(&b));
        assert_eq!(rows[h - 1], format!("line {h}"), "{key:?}\n{}", text(&b));
    }
    // Down moves the page by one line.
    s.key(KeyCode::Down);
    let rows = inner_rows(&s.buffer(120, 40), pane);
    assert_eq!(rows[0], "line 2");
    assert_eq!(rows.last().unwrap(), &format!("line {}", rows.len() + 1));
    // Page Up far past the top: still a full page, and one Down moves it.
    s.key(KeyCode::End);
    s.keys(KeyCode::PageUp, 40);
    let rows = inner_rows(&s.buffer(120, 40), pane);
    assert_eq!(rows[0], "line 1");
    assert!(rows.iter().all(|r| r.starts_with("line ")), "{rows:?}");
    s.key(KeyCode::Down);
    assert_eq!(inner_rows(&s.buffer(120, 40), pane)[0], "line 2");
    // The same with long lines wrapped: no blank row under the last line.
    s.key(KeyCode::Char('w'));
    s.key(KeyCode::Home);
    let rows = inner_rows(&s.buffer(120, 40), pane);
    assert!(rows.iter().all(|r| !r.is_empty()), "{rows:?}");
}

#[test]
fn home_on_long_wrapped_lines_fills_the_pane() {
    let mut s = Screen::new(ONE_STEP);
    started(&mut s, "chatty");
    let long: String = (1..=60)
        .map(|i| format!("row {i} {}\n", "word ".repeat(40)))
        .collect();
    output(&mut s, "chatty", long);
    s.key(KeyCode::Char('w'));
    s.buffer(100, 30);
    let pane = s.app.areas().output;
    s.key(KeyCode::Home);
    let rows = inner_rows(&s.buffer(100, 30), pane);
    assert!(rows[0].starts_with("row 1 "), "{rows:?}");
    assert!(rows.iter().all(|r| !r.is_empty()), "{rows:?}");
    // Down from the top moves: the first line's rows scroll out of view.
    s.key(KeyCode::Down);
    let rows = inner_rows(&s.buffer(100, 30), pane);
    assert!(rows.iter().all(|r| !r.is_empty()), "{rows:?}");
    assert!(!rows.iter().any(|r| r.starts_with("row 1 ")), "{rows:?}");
}

#[test]
fn f_follows_again_in_one_press_after_scrolling_up() {
    let mut s = Screen::new(ONE_STEP);
    started(&mut s, "chatty");
    output(&mut s, "chatty", numbered(1, 400));
    s.buffer(120, 40);
    let pane = s.app.areas().output;
    s.keys(KeyCode::Up, 10);
    let b = s.buffer(120, 40);
    assert_eq!(inner_rows(&b, pane).last().unwrap(), "line 390");
    assert!(!row(&b, b.area, pane.y).contains("follow"));
    s.key(KeyCode::Char('f'));
    output(&mut s, "chatty", numbered(401, 402));
    let b = s.buffer(120, 40);
    assert!(row(&b, b.area, pane.y).contains("follow"), "{}", text(&b));
    assert_eq!(inner_rows(&b, pane).last().unwrap(), "line 402");
    // From the tree, away from the running step: one press comes back to it, following.
    s.key(KeyCode::BackTab);
    s.key(KeyCode::Up);
    assert_ne!(s.app.shown_step(), Some("chatty"));
    s.key(KeyCode::Char('f'));
    assert_eq!(s.app.shown_step(), Some("chatty"));
    let b = s.buffer(120, 40);
    assert!(row(&b, b.area, pane.y).contains("follow"), "{}", text(&b));
}

#[test]
fn search_counts_matches_marks_the_current_one_and_n_wraps() {
    let mut s = Screen::new(ONE_STEP);
    started(&mut s, "chatty");
    let mut out = String::new();
    for i in 1..=8 {
        out.push_str(&format!("compiling module {i}/8\nok\n"));
    }
    output(&mut s, "chatty", out);
    s.buffer(120, 40);
    s.key(KeyCode::Char('/'));
    for c in "module".chars() {
        s.key(KeyCode::Char(c));
    }
    s.key(KeyCode::Enter);
    let screen = s.screen(120, 40);
    assert!(screen.contains("/module 8/8"), "{screen}");
    // n past the last match wraps to the first, N back to the last.
    s.key(KeyCode::Char('n'));
    assert!(!s.app.search().not_found);
    let screen = s.screen(120, 40);
    assert!(screen.contains("/module 1/8"), "{screen}");
    assert!(!screen.contains("not found"), "{screen}");
    s.key(KeyCode::Char('n'));
    s.key(KeyCode::Char('n'));
    let b = s.buffer(120, 40);
    assert!(text(&b).contains("/module 3/8"), "{}", text(&b));
    snap!("search_count", text(&b));
    // The current match is drawn apart from the others.
    let pane = s.app.areas().output;
    let style_at = |needle: &str| {
        let y = (pane.y + 1..pane.y + pane.height)
            .find(|&y| row(&b, b.area, y).contains(needle))
            .unwrap();
        let r = row(&b, b.area, y);
        let x = r[..r.find("module").unwrap()].chars().count() as u16;
        b[(x, y)].modifier
    };
    let (current, other) = (style_at("module 3/8"), style_at("module 2/8"));
    assert!(current.contains(Modifier::UNDERLINED | Modifier::BOLD));
    assert!(!other.contains(Modifier::UNDERLINED));
    assert_ne!(
        current.contains(Modifier::REVERSED),
        other.contains(Modifier::REVERSED)
    );
    s.key(KeyCode::Char('N'));
    s.key(KeyCode::Char('N'));
    s.key(KeyCode::Char('N'));
    assert!(s.screen(120, 40).contains("/module 8/8"));
    // A query with no match says so.
    s.key(KeyCode::Char('/'));
    for c in "absent".chars() {
        s.key(KeyCode::Char(c));
    }
    s.key(KeyCode::Enter);
    assert!(s.app.search().not_found);
    assert!(s.screen(120, 40).contains("not found"));
}

#[test]
fn the_events_pane_reaches_its_newest_line_through_wrapped_rows() {
    let mut s = Screen::new(ONE_STEP);
    for i in 0..40 {
        s.app.on_engine(Event::Note(format!(
            "gate build-and-package-{i}: approve by someone@somewhere.example (interface)"
        )));
    }
    s.app.on_engine(Event::RunFinished {
        status: RunStatus::Succeeded,
    });
    let b = s.buffer(120, 40);
    let pane = s.app.areas().side;
    assert!(pane.width > 0);
    let newest = |b: &Buffer| inner_rows(b, pane).join(" ");
    let tail = |b: &Buffer| inner_rows(b, pane).last().cloned().unwrap_or_default();
    assert!(newest(&b).contains("run succeeded"), "{}", text(&b));
    assert!(!tail(&b).is_empty(), "{}", text(&b));
    // Focus the events; back, then End, G and Page Down each reach the newest line again.
    s.key(KeyCode::Tab);
    assert_eq!(s.app.focus(), Pane::Side);
    for key in [KeyCode::End, KeyCode::Char('G'), KeyCode::PageDown] {
        s.keys(KeyCode::PageUp, 3);
        assert!(!newest(&s.buffer(120, 40)).contains("run succeeded"));
        s.keys(key, if key == KeyCode::PageDown { 3 } else { 1 });
        let b = s.buffer(120, 40);
        assert!(
            newest(&b).contains("run succeeded"),
            "{key:?}\n{}",
            text(&b)
        );
    }
    // Home: the oldest event at the top, a full pane.
    s.key(KeyCode::Home);
    let b = s.buffer(120, 40);
    let rows = inner_rows(&b, pane);
    assert!(rows[0].contains("gate"), "{rows:?}");
    assert!(rows.iter().all(|r| !r.is_empty()), "{rows:?}");
    // One Down scrolls one row.
    s.key(KeyCode::Down);
    assert_eq!(inner_rows(&s.buffer(120, 40), pane)[0], rows[1]);
}

const GATES: &str = r#"
name: gates
phases:
  - id: preflight
    gate: true
    checklist:
      - Change ticket approved
      - Scratch space is writable
    steps:
      - { id: check, run: "echo checked" }
  - id: verify
    steps:
      - id: smoke
        run: "echo failing >&2; exit 2"
"#;

#[tokio::test]
async fn ticks_show_in_the_tree_and_step_pane_and_a_failure_is_not_running() {
    let mut s = Screen::with(GATES, true, |c| c);
    s.until("the gate", |a| a.gate().is_some()).await;
    s.gate_seen();
    s.key(KeyCode::Char(' '));
    s.key(KeyCode::Down);
    s.key(KeyCode::Char(' '));
    let screen = s.screen(160, 45);
    assert!(screen.contains("preflight ◆ ☐2/2"), "{screen}");
    // Under the dialog, the step pane says the same.
    let gate = s.app.take_gate();
    let screen = s.screen(160, 45);
    assert!(screen.contains("[x] Change ticket approved"), "{screen}");
    assert!(screen.contains("[x] Scratch space is writable"), "{screen}");
    assert!(!screen.contains("[ ]"), "{screen}");
    s.app.restore_gate(gate);
    s.gate_seen();
    s.key(KeyCode::Tab);
    s.key(KeyCode::Tab);
    s.key(KeyCode::Char('a'));
    s.key(KeyCode::Enter);
    s.until("the failure dialog", |a| {
        a.gate().is_some_and(|g| g.request.kind == GateKind::Failed)
    })
    .await;
    let screen = s.screen(160, 45);
    assert!(screen.contains("◆ verify"), "{screen}");
    assert!(!screen.contains("▶ verify"), "{screen}");
    assert!(screen.contains("✗ smoke"), "{screen}");
    s.gate_seen();
    s.key(KeyCode::Char('x'));
    s.key(KeyCode::Enter);
    s.until("the end", |a| matches!(a.state(), RunState::Finished(_)))
        .await;
    let screen = s.screen(160, 45);
    assert!(screen.contains("✗ verify"), "{screen}");
    drop(s.commands.take());
    let _ = s.handle.take().unwrap().await;
}

#[test]
fn a_finished_runs_clock_stops_at_its_duration_and_its_summary_shows() {
    let yaml = r#"
name: summary
phases:
  - id: p
    gate: true
    steps:
      - { id: one, run: "true" }
      - { id: two, run: "true" }
      - { id: three, run: "true" }
"#;
    let mut s = Screen::new(yaml);
    let t0 = s.app.started();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    s.app.set_clock(at(10));
    s.app.on_engine(Event::GateDecided {
        gate: "p".into(),
        choice: Choice::Approve,
        who: "t@h".into(),
        via: "interface".into(),
        checklist: Vec::new(),
    });
    for (step, status) in [
        ("one", StepStatus::Succeeded),
        ("two", StepStatus::Skipped),
        ("three", StepStatus::Succeeded),
    ] {
        started(&mut s, step);
        s.app.on_engine(Event::StepFinished {
            step: step.into(),
            status,
            exit_code: Some(0),
            duration: Duration::from_secs(1),
            error: None,
        });
    }
    s.app.set_clock(at(30));
    assert!(s.screen(120, 30).contains("· 00:00:30 ·"));
    s.app.set_clock(at(49));
    s.app.on_engine(Event::RunFinished {
        status: RunStatus::Succeeded,
    });
    // Keys later: the clock stays at the run's duration.
    s.app.set_clock(at(89));
    s.key(KeyCode::Down);
    let screen = s.screen(160, 45);
    assert!(screen.contains("00:00:49"), "{screen}");
    assert!(!screen.contains("00:01:29"), "{screen}");
    assert!(
        screen.contains("succeeded in 00:00:49: 2 ok · 0 failed · 1 skipped · 1 gate decided"),
        "{screen}"
    );
}

#[test]
fn a_resumed_runs_clock_runs_again_after_an_earlier_session_that_ended() {
    let yaml = r#"
name: resumed
phases:
  - id: p
    steps:
      - { id: one, run: "true" }
"#;
    let mut s = Screen::new(yaml);
    // The first session paused 10 minutes ago; this one goes on.
    let first = chrono::Utc::now() - chrono::Duration::minutes(10);
    let past = |secs: i64, event: Event| Past {
        at: (first + chrono::Duration::seconds(secs)).to_rfc3339(),
        event,
    };
    s.app.on_engine(Event::History(History {
        started_at: first.to_rfc3339(),
        entries: vec![
            past(
                0,
                Event::RunStarted {
                    run_id: "run-1".into(),
                    runbook: "resumed".into(),
                    resumed: false,
                    deadline: None,
                },
            ),
            past(
                5,
                Event::RunPaused {
                    reason: "no one at the gate".into(),
                },
            ),
        ],
    }));
    let now = Instant::now();
    s.app.set_clock(now);
    let at_start = s.app.elapsed();
    assert!(at_start >= Duration::from_secs(599), "{at_start:?}");
    s.app.set_clock(now + Duration::from_secs(30));
    assert_eq!(s.app.elapsed(), at_start + Duration::from_secs(30));
    assert_eq!(*s.app.state(), RunState::Running);
}

const NARROW: &str = r#"
name: narrow
phases:
  - id: p
    steps:
      - { id: one, run: "echo one" }
"#;

#[test]
fn at_100_columns_tab_switches_in_the_hidden_events_pane_and_a_tab_bar_says_so() {
    let mut s = Screen::new(NARROW);
    started(&mut s, "one");
    output(&mut s, "one", "one\n".into());
    s.app
        .on_engine(Event::Note("a note for the events pane".into()));
    let screen = s.screen(100, 30);
    assert!(!screen.contains("a note for the events pane"), "{screen}");
    assert!(
        screen.contains("events"),
        "the tab bar names the hidden pane:\n{screen}"
    );
    s.key(KeyCode::Tab);
    assert_eq!(s.app.focus(), Pane::Side);
    let screen = s.screen(100, 30);
    assert!(screen.contains("a note for the events pane"), "{screen}");
    snap!("narrow_events_switched_in", screen);
    assert!(s.app.areas().side.width > 0);
    // Tab again: the tree, and the output back in the middle.
    s.key(KeyCode::Tab);
    assert_eq!(s.app.focus(), Pane::Tree);
    let screen = s.screen(100, 30);
    assert!(!screen.contains("a note for the events pane"), "{screen}");
    assert!(screen.contains("output: one"), "{screen}");
}

#[test]
fn at_100_columns_with_a_cluster_the_pods_and_logs_panes_are_switched_in() {
    let mut s = Screen::with(NARROW, false, |c| Config {
        cluster: Some(ClusterPanes {
            context: "sandbox".into(),
            namespace: "demo".into(),
            preview: None,
        }),
        ..c
    });
    let screen = s.screen(100, 30);
    assert!(
        screen.contains("pods") && screen.contains("logs"),
        "the tab bar names the hidden panes:\n{screen}"
    );
    s.key(KeyCode::Tab);
    assert_eq!(s.app.focus(), Pane::Pods);
    let b = s.buffer(100, 30);
    let pods = s.app.areas().pods;
    assert!(pods.width > 0 && pods.height > 0, "{}", text(&b));
    snap!("narrow_pods_switched_in", text(&b));
    s.key(KeyCode::Tab);
    assert_eq!(s.app.focus(), Pane::Logs);
    s.buffer(100, 30);
    assert!(s.app.areas().logs.width > 0);
    assert_eq!(s.app.areas().pods.width, 0);
}

#[test]
fn an_output_line_longer_than_the_pane_ends_in_a_mark_and_wraps_whole() {
    let mut s = Screen::new(ONE_STEP);
    started(&mut s, "chatty");
    let long = format!("shipped 1.4.2 to demo, run {} end-of-line", "x".repeat(150));
    output(&mut s, "chatty", format!("{long}\n"));
    let screen = s.screen(120, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("shipped 1.4.2"))
        .unwrap();
    assert!(row.contains("…"), "{screen}");
    assert!(!screen.contains("end-of-line"), "{screen}");
    s.key(KeyCode::Char('w'));
    let screen = s.screen(120, 30);
    assert!(screen.contains("end-of-line"), "{screen}");
}

#[test]
fn page_down_and_up_move_a_pane_less_one_line() {
    let mut s = four_hundred_lines();
    let b = s.buffer(120, 40);
    let pane = s.app.areas().output;
    let h = inner_rows(&b, pane).len();
    s.key(KeyCode::Home);
    s.key(KeyCode::PageDown);
    let rows = inner_rows(&s.buffer(120, 40), pane);
    // The last line of the page before is the first of this one.
    assert_eq!(rows[0], format!("line {h}"), "{rows:?}");
    s.key(KeyCode::PageDown);
    assert_eq!(
        inner_rows(&s.buffer(120, 40), pane)[0],
        format!("line {}", 2 * h - 1)
    );
    s.key(KeyCode::PageUp);
    assert_eq!(inner_rows(&s.buffer(120, 40), pane)[0], format!("line {h}"));
}

#[test]
fn a_click_in_a_scrolled_tree_selects_the_row_under_it() {
    let mut yaml = String::from("name: long\nphases:\n  - id: p\n    steps:\n");
    for i in 0..60 {
        yaml.push_str(&format!("      - {{ id: step-{i:02}, run: \"true\" }}\n"));
    }
    let mut s = Screen::new(&yaml);
    s.app.set_focus(Pane::Tree);
    s.key(KeyCode::End);
    let b = s.buffer(120, 24);
    let tree = s.app.areas().tree;
    // The tree is scrolled: its first row shown is not the runbook's first.
    let y = tree.y + 3;
    let row: String = (tree.x..tree.x + tree.width)
        .map(|x| b[(x, y)].symbol().to_string())
        .collect();
    let shown = row
        .split_whitespace()
        .find(|w| w.starts_with("step-"))
        .expect("a step on that row")
        .to_string();
    assert_ne!(shown, "step-02", "{}", text(&b));
    s.app
        .on_input(TermEvent::Mouse(ratatui::crossterm::event::MouseEvent {
            kind: ratatui::crossterm::event::MouseEventKind::Down(
                ratatui::crossterm::event::MouseButton::Left,
            ),
            column: tree.x + 2,
            row: y,
            modifiers: KeyModifiers::NONE,
        }));
    assert_eq!(
        s.app.selected_row().map(|r| r.id.as_str()),
        Some(shown.as_str())
    );
}

#[test]
fn a_resumed_runs_earlier_step_shows_its_kept_output_at_the_time_it_ran() {
    let yaml = r#"
name: resumed
phases:
  - id: p
    steps:
      - { id: build, run: "true" }
      - { id: next, run: "true" }
"#;
    let mut s = Screen::new(yaml);
    let first = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00.000Z")
        .unwrap()
        .to_utc();
    let past = |secs: i64, event: Event| Past {
        at: (first + chrono::Duration::seconds(secs)).to_rfc3339(),
        event,
    };
    s.app.on_engine(Event::History(History {
        started_at: first.to_rfc3339(),
        entries: vec![
            past(
                1,
                Event::StepStarted {
                    step: "build".into(),
                    title: String::new(),
                    attempt: 1,
                    attempts: 1,
                    command: "make".into(),
                },
            ),
            past(
                1,
                Event::Output {
                    step: "build".into(),
                    stream: Stream::Stdout,
                    text: tollgate::protocol::not_kept_line(7).into(),
                },
            ),
            past(
                1,
                Event::Output {
                    step: "build".into(),
                    stream: Stream::Stdout,
                    text: "built line 8\nbuilt line 9\n".into(),
                },
            ),
            past(
                3,
                Event::StepFinished {
                    step: "build".into(),
                    status: StepStatus::Succeeded,
                    exit_code: Some(0),
                    duration: Duration::from_secs(2),
                    error: None,
                },
            ),
        ],
    }));
    // The step that started last is the one shown; `t` shows each line's time.
    s.key(KeyCode::Char('t'));
    let screen = s.screen(160, 30);
    assert!(
        screen.contains("… 7 earlier lines of this step not kept"),
        "{screen}"
    );
    assert!(screen.contains("built line 9"), "{screen}");
    assert!(
        !screen.contains(tollgate::ui::state::OUTPUT_NOT_KEPT),
        "{screen}"
    );
    // Stamped with when its attempt started, not now.
    let then = (first + chrono::Duration::seconds(1))
        .with_timezone(&chrono::Local)
        .format("%H:%M:%S")
        .to_string();
    assert!(screen.contains(&then), "{then} in\n{screen}");
}

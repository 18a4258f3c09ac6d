//! The interface driven like a person would: the real engine and shell steps, keys in, whole
//! screens out (snapshots), and the colours of gates and failures checked exactly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tollgate::engine::journal;
use tollgate::engine::{
    Command, Engine, EngineError, Event, Outcome, RunSpec, RunStatus, StepStatus,
};
use tollgate::exec::{BoxFuture, Executor, Job, OutputSink};
use tollgate::protocol::Stream;
use tollgate::ui::Config;
use tollgate::ui::app::{Action, App, AwsBanner, RunState};
use tollgate::ui::render;
use tollgate::ui::theme::Theme;

use crate::common;

const DEADLINE: Duration = Duration::from_secs(20);

struct Tui {
    app: App,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    handle: Option<JoinHandle<Result<Outcome, EngineError>>>,
    _dir: tempfile::TempDir,
}

fn spec(dir: &std::path::Path, yaml: &str) -> RunSpec {
    common::spec(dir, yaml, &[], false)
}

impl Tui {
    fn start(yaml: &str, theme: &str) -> Tui {
        Tui::start_with(yaml, theme, Arc::new(tollgate::exec::shell::Shell))
    }

    fn start_with(yaml: &str, theme: &str, executor: Arc<dyn Executor>) -> Tui {
        Tui::start_full(yaml, theme, executor, &[])
    }

    fn start_full(
        yaml: &str,
        theme: &str,
        executor: Arc<dyn Executor>,
        vars: &[(&str, &str)],
    ) -> Tui {
        let dir = tempfile::tempdir().unwrap();
        let spec = common::spec(dir.path(), yaml, vars, false);
        let runbook = spec.runbook.clone();
        let (ev_tx, events) = mpsc::channel(1024);
        let (commands, cmd_rx) = mpsc::channel(16);
        let engine = Engine::new(spec, executor, ev_tx, cmd_rx);
        let handle = Some(tokio::spawn(engine.run()));
        let app = App::new(Config::new(
            runbook,
            "run-1",
            "tester@host",
            Theme::builtin(theme).unwrap(),
        ));
        Tui {
            app,
            events,
            commands,
            handle,
            _dir: dir,
        }
    }

    /// Applies engine events until the app is in the state asked for.
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
            "never reached: {what}\n{}",
            self.screen(120, 40)
        );
    }

    /// Presses a key; what the app asks for is sent to the engine.
    /// The run `spec` resumes from what its journal holds, with the interface on it.
    fn resumed(mut spec: RunSpec, dir: tempfile::TempDir) -> Tui {
        let lines = journal::read_lines(spec.journal.path()).unwrap().0;
        spec.replay = Some(journal::Replay::from_lines(&lines));
        let runbook = spec.runbook.clone();
        let (ev_tx, events) = mpsc::channel(1024);
        let (commands, cmd_rx) = mpsc::channel(16);
        let handle = Some(tokio::spawn(
            Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx).run(),
        ));
        let app = App::new(Config::new(
            runbook,
            "run-1",
            "t@h",
            Theme::builtin("dark").unwrap(),
        ));
        Tui {
            app,
            events,
            commands,
            handle,
            _dir: dir,
        }
    }

    async fn key(&mut self, code: KeyCode) {
        self.key_mod(code, KeyModifiers::NONE).await;
    }

    async fn key_mod(&mut self, code: KeyCode, m: KeyModifiers) {
        for action in self.app.on_input(TermEvent::Key(KeyEvent::new(code, m))) {
            if let Action::Send(cmd) = action {
                self.commands.send(cmd).await.unwrap();
            }
        }
    }

    async fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c)).await;
        }
    }

    /// A dialog that has been on screen long enough to be read.
    fn gate_seen(&mut self) {
        if let Some(g) = self.app.gate_mut() {
            g.opened = Instant::now() - Duration::from_secs(1);
        }
        if let Some(p) = self.app.prompt_mut() {
            p.opened = Instant::now() - Duration::from_secs(1);
        }
    }

    fn buffer(&mut self, w: u16, h: u16) -> Buffer {
        self.app.set_clock(self.app.started());
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| {
            render::render(&self.app, f);
        })
        .unwrap();
        t.backend().buffer().clone()
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        let b = self.buffer(w, h);
        let mut s = String::new();
        for y in 0..h {
            for x in 0..w {
                s.push_str(b[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    async fn finish(mut self) -> Outcome {
        drop(self.commands);
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(DEADLINE, async {
            while let Some(ev) = self.events.recv().await {
                self.app.on_engine(ev);
            }
        })
        .await
        .unwrap();
        handle.await.unwrap().unwrap()
    }
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d\d:\d\d:\d\d(\.\d{3})?", "[time]");
    s.add_filter(r"\b\d+\.\d+s\b", "[dur]");
    s.add_filter(r"/tmp/\.tmp\w+", "[tmp]");
    s
}

macro_rules! snap {
    ($name:expr, $screen:expr) => {
        settings().bind(|| insta::assert_snapshot!($name, $screen));
    };
}

fn find(b: &Buffer, text: &str) -> Option<(u16, u16)> {
    find_from(b, text, 0)
}

/// The first occurrence at or below row `y0`.
fn find_from(b: &Buffer, text: &str, y0: u16) -> Option<(u16, u16)> {
    let w = b.area.width;
    for y in y0..b.area.height {
        let row: String = (0..w).map(|x| b[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(text) {
            let col = row[..i].chars().count() as u16;
            return Some((col, y));
        }
    }
    None
}

const DEPLOY: &str = r#"
name: Orders API — deploy
targets:
  environment: production
  production: true
  kube: { context: prod-eks, namespace: orders }
  aws: { account: "123456789012", region: us-east-1 }
phases:
  - id: preflight
    title: Preflight
    steps:
      - id: versions
        title: Show versions
        run: |
          echo "kubectl v1.31"
          printf '\033[32mgreen ok\033[0m\n'
          echo "a warning" >&2
  - id: migrate
    title: Migrate the database
    gate: { message: "Migrate orders to v2?", destructive: true }
    checklist:
      - Backup taken in the last hour
    steps:
      - id: run-migration
        title: Run the migration
        run: echo "migrated 12 tables"
  - id: verify
    title: Verify
    steps:
      - id: smoke
        title: Smoke test
        allow_skip: true
        run: |
          echo "GET /health" >&2
          echo "HTTP 503" >&2
          exit 2
"#;

#[tokio::test]
async fn start_running_gate_destructive_typing_and_failure() {
    let mut t = Tui::start(DEPLOY, "dark");
    snap!("start", t.screen(160, 45));

    t.until("the migrate gate", |a| a.gate().is_some()).await;
    snap!("running_with_output_then_gate", t.screen(160, 45));

    // A stray key typed before the dialog could be read does nothing.
    t.key(KeyCode::Char('a')).await;
    assert!(t.app.gate().unwrap().typed.is_empty());

    t.gate_seen();
    // Approving without the checklist and the word is refused by the dialog itself.
    assert_eq!(
        t.app.gate().unwrap().focus,
        tollgate::ui::state::DialogFocus::Checklist(0)
    );
    t.key(KeyCode::Tab).await; // checklist → confirm
    t.key(KeyCode::Tab).await; // → note
    t.key(KeyCode::Tab).await; // → choices
    t.key(KeyCode::Enter).await; // no button chosen: nothing
    assert!(t.app.gate().is_some());
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    let g = t.app.gate().unwrap();
    assert_eq!(
        g.message.as_deref(),
        Some("tick every checklist item first (space)")
    );
    t.key(KeyCode::Char(' ')).await; // tick the item
    t.key(KeyCode::Tab).await; // → confirm
    t.key(KeyCode::Tab).await; // → note
    t.type_text("backup 14:02").await;
    t.key(KeyCode::Tab).await; // → choices
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    let g = t.app.gate().unwrap();
    assert_eq!(g.message.as_deref(), Some("type `production` to approve"));
    t.type_text("producti").await;
    snap!("destructive_gate_typing", t.screen(160, 45));
    t.type_text("on").await;
    t.key(KeyCode::Enter).await; // leave the field
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides

    t.until("the smoke test fails", |a| {
        a.gate()
            .is_some_and(|g| g.request.kind == tollgate::engine::GateKind::Failed)
    })
    .await;
    let screen = t.screen(160, 45);
    assert!(screen.contains("HTTP 503"), "{screen}");
    snap!("failed_step", screen);

    // The failure dialog and the failed mark are drawn in the theme's colours, exactly.
    let theme = Theme::builtin("dark").unwrap();
    let b = t.buffer(160, 45);
    let (x, y) = find(&b, "STEP FAILED").unwrap();
    assert_eq!(b[(x, y)].fg, theme.step_failed.fg.unwrap());
    t.gate_seen();
    t.key(KeyCode::Char('s')).await; // skip: allowed for this step
    t.key(KeyCode::Enter).await; // the chosen button decides
    let outcome = t.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Succeeded));
}

#[tokio::test]
async fn gate_colours_are_the_themes() {
    for theme_name in Theme::builtin_names() {
        let mut t = Tui::start(DEPLOY, theme_name);
        t.until("the gate", |a| a.gate().is_some()).await;
        let theme = Theme::builtin(theme_name).unwrap();
        let b = t.buffer(160, 45);
        let (x, y) = find(&b, "type `production` to approve").unwrap();
        assert_eq!(b[(x, y)].style().fg, theme.destructive.fg, "{theme_name}");
        let (x, y) = find(&b, " PRODUCTION ").unwrap();
        assert_eq!(
            b[(x, y)].style().bg,
            theme.banner_production.bg,
            "{theme_name}"
        );
        snap!(format!("theme_{theme_name}"), t.screen(160, 45));
        t.key(KeyCode::Char('q')).await;
    }
}

#[tokio::test]
async fn help_overlay_and_search() {
    let yaml = r#"
name: logs
phases:
  - id: p
    steps:
      - id: chatty
        run: |
          i=1
          while [ $i -le 300 ]; do echo "line $i"; i=$((i+1)); done
          echo "error: disk full"
          i=1
          while [ $i -le 50 ]; do echo "tail $i"; i=$((i+1)); done
"#;
    let mut t = Tui::start(yaml, "dark");
    t.until("the run ends", |a| {
        matches!(a.state(), RunState::Finished(_))
    })
    .await;
    t.key(KeyCode::Char('?')).await;
    assert!(t.app.shows_help());
    snap!("help", t.screen(120, 40));
    t.key(KeyCode::Esc).await;
    assert!(!t.app.shows_help());

    t.key(KeyCode::Char('/')).await;
    t.type_text("disk full").await;
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.search().current, Some(300));
    let screen = t.screen(120, 40);
    assert!(screen.contains("error: disk full"), "{screen}");
    snap!("search", screen);
    let b = t.buffer(120, 40);
    let (_, out_y) = find(&b, "output: chatty").unwrap();
    let (x, y) = find_from(&b, "disk full", out_y + 1).unwrap();
    let theme = Theme::builtin("dark").unwrap();
    assert_eq!(b[(x, y)].fg, theme.search_match.fg.unwrap_or(b[(x, y)].fg));
    // The current match is underlined (the others are not).
    assert!(
        b[(x, y)]
            .modifier
            .contains(ratatui::style::Modifier::UNDERLINED)
    );

    // The only match: n and N go around to it again.
    t.key(KeyCode::Char('n')).await;
    assert!(!t.app.search().not_found);
    assert_eq!(t.app.search().current, Some(300));
    t.key(KeyCode::Char('N')).await;
    assert_eq!(t.app.search().current, Some(300));
    t.key(KeyCode::Char('w')).await;
    assert!(t.app.wraps());
    t.key(KeyCode::Char('q')).await;
}

#[tokio::test]
async fn keys_typed_before_a_gate_never_answer_it() {
    let yaml = r#"
name: early keys
phases:
  - id: p
    gate: true
    steps:
      - { id: s, run: "true" }
"#;
    let mut t = Tui::start(yaml, "dark");
    t.until("the gate", |a| a.gate().is_some()).await;
    // Within the guard time after opening: ignored.
    t.key(KeyCode::Char('a')).await;
    assert!(t.app.gate().is_some());
    // Not focused: ignored.
    t.gate_seen();
    t.app.on_input(TermEvent::FocusLost);
    t.key(KeyCode::Char('a')).await;
    assert!(t.app.gate().is_some());
    t.app.on_input(TermEvent::FocusGained);
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    t.until("the run ends", |a| {
        matches!(a.state(), RunState::Finished(_))
    })
    .await;
    assert_eq!(t.app.step_status("s"), StepStatus::Succeeded);
}

#[tokio::test]
async fn ctrl_c_asks_before_aborting_a_running_step() {
    let yaml = r#"
name: long
phases:
  - id: p
    steps:
      - id: wait
        run: |
          echo started
          sleep 300
"#;
    let mut t = Tui::start(yaml, "dark");
    t.until("output", |a| {
        a.step("wait").is_some_and(|s| !s.output.is_empty())
    })
    .await;
    t.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL).await;
    assert!(t.app.confirm().is_some());
    snap!("ctrl_c_confirm", t.screen(120, 30));
    t.key(KeyCode::Char('n')).await;
    assert!(t.app.confirm().is_none());
    t.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL).await;
    t.key(KeyCode::Char('y')).await;
    t.until("aborted", |a| {
        matches!(a.state(), RunState::Finished(RunStatus::Aborted))
    })
    .await;
}

#[tokio::test]
async fn the_real_loop_runs_on_a_test_backend() {
    let yaml = r#"
name: loop
phases:
  - id: p
    gate: true
    steps:
      - { id: s, run: "echo done" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), yaml);
    let runbook = spec.runbook.clone();
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let handle = tokio::spawn(
        Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx).run(),
    );
    let mut app = App::new(Config {
        gate_guard: Duration::ZERO,
        ..Config::new(runbook, "run-1", "t@h", Theme::builtin("dark").unwrap())
    });
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let (keys, input) = futures::channel::mpsc::unbounded();
    let jpath = journal::journal_path(&dir.path().join("state"), "run-1");
    let feeder = tokio::spawn(async move {
        // Like a person: press `a` then Enter until the gate is decided (a key that arrives
        // before the dialog is on screen is dropped, as it must be), then `q` once the run has
        // finished.
        let key = |c| {
            Ok(TermEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )))
        };
        let journal = || std::fs::read_to_string(&jpath).unwrap_or_default();
        while !journal().contains("gate_decided") {
            if journal().contains("gate_reached") {
                let _ = keys.unbounded_send(key('a'));
                let _ = keys.unbounded_send(Ok(TermEvent::Key(KeyEvent::new(
                    KeyCode::Enter,
                    KeyModifiers::NONE,
                ))));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while !journal().contains("run_finished") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // `q` quits a finished run at once; if the loop has not shown the end yet, it asks
        // first, and `y` answers.
        let _ = keys.unbounded_send(key('q'));
        let _ = keys.unbounded_send(key('y'));
        keys
    });
    let exit = tokio::time::timeout(
        DEADLINE,
        tollgate::ui::run_loop(
            &mut terminal,
            &mut app,
            ev_rx,
            input,
            cmd_tx,
            futures::stream::pending(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(exit, tollgate::ui::Exit::Quit);
    let _ = feeder.await;
    // The loop drew real frames into the backend.
    assert!(find(terminal.backend().buffer(), "loop").is_some());
    assert_eq!(
        handle.await.unwrap().unwrap(),
        Outcome::Finished(RunStatus::Succeeded)
    );
}

#[tokio::test]
async fn running_step_with_live_output() {
    let yaml = r#"
name: live
targets: { environment: staging }
phases:
  - id: build
    title: Build
    steps:
      - id: compile
        title: Compile
        run: |
          for m in api worker web; do echo "compiling $m"; done
          printf '\033[33mwarning:\033[0m unused import\n'
          while [ ! -f "$runbook_dir/go" ]; do sleep 0.01; done
      - id: package
        run: echo packed
"#;
    let mut t = Tui::start(yaml, "dark");
    t.until("live output", |a| {
        a.step("compile").is_some_and(|s| s.output.len() >= 4)
    })
    .await;
    let screen = t.screen(140, 30);
    assert!(screen.contains("▶ compile"), "{screen}");
    snap!("running_with_output", screen);
    // The line keeps the command's own colour for its first word.
    let b = t.buffer(140, 30);
    let (_, out_y) = find(&b, "output: compile").unwrap();
    let (x, y) = find_from(&b, "warning:", out_y).unwrap();
    assert_eq!(b[(x, y)].fg, ratatui::style::Color::Yellow);
    let (x, y) = find(&b, "▶ compile").unwrap();
    let theme = Theme::builtin("dark").unwrap();
    assert_eq!(b[(x, y)].fg, theme.step_running.fg.unwrap());
    std::fs::write(t._dir.path().join("go"), "").unwrap();
    t.until("the run ends", |a| {
        matches!(a.state(), RunState::Finished(_))
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_step_after_resume_offers_its_choices() {
    use tollgate::engine::journal::Record;
    let yaml = r#"
name: resumed
phases:
  - id: p
    steps:
      - { id: one, run: "true" }
      - { id: two, run: "true" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), yaml);
    // The run as it started, with this runbook: a resume with another must be accepted first.
    spec.journal
        .append(Record::RunStarted {
            run_id: "run-1".into(),
            runbook: spec.runbook_path.display().to_string(),
            runbook_name: "resumed".into(),
            digest: spec.digest.clone(),
            vars: Default::default(),
            who: "t@h".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: None,
            carried: None,
        })
        .unwrap();
    spec.journal
        .append(Record::StepStarted {
            step: "one".into(),
            attempt: 1,
            attempts: None,
            command: None,
        })
        .unwrap();
    let mut t = Tui::resumed(spec, dir);
    t.until("the interrupted dialog", |a| a.gate().is_some())
        .await;
    let screen = t.screen(120, 30);
    assert!(screen.contains("STEP INTERRUPTED"), "{screen}");
    assert!(
        screen.contains("[t] retry") && screen.contains("[m] mark-done"),
        "{screen}"
    );
    assert!(screen.contains("! one"), "{screen}");
    snap!("interrupted_after_resume", screen);
    t.gate_seen();
    t.key(KeyCode::Char('m')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    assert_eq!(t.finish().await, Outcome::Finished(RunStatus::Succeeded));
}

#[tokio::test]
async fn the_banner_shows_the_aws_account_and_region() {
    let mut t = Tui::start(DEPLOY, "dark");
    let banner = |screen: &str| screen.lines().nth(1).unwrap_or_default().to_string();
    // No AWS in the run: nothing about it.
    assert!(!banner(&t.screen(160, 45)).contains("aws"));
    // The same run with AWS in it: the banner names the runbook's account until it is pinned.
    let runbook = t.app.runbook().clone();
    let theme = Theme::builtin("dark").unwrap();
    t.app = App::new(Config {
        aws: true,
        ..Config::new(runbook, "run-1", "tester@host", theme)
    });
    let line = banner(&t.screen(160, 45));
    assert!(
        line.contains("· aws 123456789012/us-east-1 (not pinned yet) "),
        "{line}"
    );
    t.app.on_aws_pin("123456789012".into(), "us-east-1".into());
    let screen = t.screen(160, 45);
    let line = banner(&screen);
    assert!(line.contains("· aws 123456789012/us-east-1 "), "{line}");
    assert!(!line.contains("not pinned"), "{line}");
    assert!(
        t.app
            .recent()
            .back()
            .is_some_and(|e| e.ends_with("aws account 123456789012 region us-east-1")),
        "{:?}",
        t.app.recent()
    );
    snap!("aws_pinned", screen);
    // A runbook with AWS steps and no `targets.aws`: nothing to show until pinned.
    assert_eq!(AwsBanner::new(None).text(), "not pinned yet");
}

/// Stands in for the AWS executor: keeps the value typed at the prompt, and echoes it back as a
/// careless command would.
struct Keeper(std::sync::Mutex<Vec<String>>);

impl Executor for Keeper {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        _cancel: tokio::sync::watch::Receiver<bool>,
    ) -> BoxFuture<'a, tollgate::exec::Outcome> {
        Box::pin(async move {
            let call = match &job.work {
                tollgate::exec::Work::Aws(c) => Some(c),
                _ => None,
            };
            let typed = call
                .and_then(|c| {
                    c.secret_values
                        .iter()
                        .find(|(n, _)| n == tollgate::exec::TYPED)
                })
                .map(|(_, v)| v.0.clone())
                .unwrap_or_default();
            sink.send(Stream::Stdout, format!("stored {typed}\n")).await;
            self.0.lock().unwrap().push(typed);
            tollgate::exec::Outcome {
                exit_code: Some(0),
                ..Default::default()
            }
        })
    }
}

const TYPED_SECRET: &str = r#"
name: typed secret
targets:
  aws: { account: "123456789012", region: us-east-1 }
phases:
  - id: p
    steps:
      - id: store
        title: Store the new token
        run:
          secrets.put: { id: app/token, prompt: "The new API token" }
"#;

#[tokio::test]
async fn a_masked_prompt_shows_bullets_only_and_hands_the_value_to_the_step() {
    let typed = "hunter2-Zq9-typed";
    let keeper = Arc::new(Keeper(Default::default()));
    let mut t = Tui::start_with(TYPED_SECRET, "dark", keeper.clone());
    t.until("the prompt", |a| a.prompt().is_some()).await;
    let screen = t.screen(120, 30);
    assert!(screen.contains("SECRET VALUE"), "{screen}");
    assert!(screen.contains("The new API token"), "{screen}");
    assert!(screen.contains("waiting for a value"), "{screen}");
    // A key typed before the dialog could be read is not part of the value.
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    assert_eq!(t.app.prompt().unwrap().typed_len(), 0);
    t.gate_seen();
    t.type_text(typed).await;
    t.key(KeyCode::Backspace).await;
    t.type_text("d").await;
    let screen = t.screen(120, 30);
    let bullets = "•".repeat(typed.chars().count());
    assert!(screen.contains(&format!("value: {bullets}▏")), "{screen}");
    assert!(screen.contains("17 characters"), "{screen}");
    assert!(!screen.contains(typed), "{screen}");
    // Neither the screen nor any state's debug text holds the value.
    assert!(!format!("{:?}", t.app.prompt()).contains(typed));
    snap!("value_prompt", screen);
    t.key(KeyCode::Enter).await;
    assert!(t.app.prompt().is_none());
    t.until("the run ends", |a| {
        matches!(a.state(), RunState::Finished(_))
    })
    .await;
    assert_eq!(*keeper.0.lock().unwrap(), [typed.to_string()]);
    assert_eq!(t.app.step_status("store"), StepStatus::Succeeded);
    // The step echoed the value: what arrived was masked.
    let screen = t.screen(120, 30);
    assert!(screen.contains("stored ••••••"), "{screen}");
    assert!(!screen.contains(typed), "{screen}");
}

#[tokio::test]
async fn esc_at_a_masked_prompt_fails_the_step_and_stores_nothing() {
    let keeper = Arc::new(Keeper(Default::default()));
    let mut t = Tui::start_with(TYPED_SECRET, "dark", keeper.clone());
    t.until("the prompt", |a| a.prompt().is_some()).await;
    t.gate_seen();
    t.type_text("half-typed").await;
    // Pasted text is typed too, without its final line end.
    t.app.on_input(TermEvent::Paste("-more\r\n".into()));
    assert_eq!(t.app.prompt().unwrap().typed_len(), 15);
    t.key(KeyCode::Esc).await;
    assert!(t.app.prompt().is_none());
    t.until("the failure dialog", |a| a.gate().is_some()).await;
    let screen = t.screen(160, 45);
    assert!(
        screen.contains(
            "secrets.put app/token: no value was typed (Esc at the prompt); nothing was stored"
        ),
        "{screen}"
    );
    assert!(!screen.contains("half-typed"), "{screen}");
    assert_eq!(t.app.step_status("store"), StepStatus::Failed);
    // Retry asks again.
    t.gate_seen();
    t.key(KeyCode::Char('t')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    t.until("the prompt again", |a| a.prompt().is_some()).await;
    t.gate_seen();
    t.type_text("second-try-value").await;
    t.key(KeyCode::Enter).await;
    assert_eq!(t.finish().await, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(*keeper.0.lock().unwrap(), ["second-try-value".to_string()]);
}

#[tokio::test]
async fn no_word_typed_by_mistake_decides_a_gate() {
    let yaml = r#"
name: typed words
targets: { environment: prod }
phases:
  - id: p
    gate: { destructive: true }
    steps:
      - { id: s, run: "true" }
"#;
    let mut t = Tui::start(yaml, "dark");
    t.until("the gate", |a| a.gate().is_some()).await;
    t.gate_seen();
    // The word field first: `a`, then Enter leaves it for the buttons...
    t.key(KeyCode::Char('a')).await;
    t.key(KeyCode::Enter).await;
    // ...and the rest of the word, typed there, neither approves nor rejects (`r` is reject's
    // key): it goes back into the field.
    t.type_text("prod").await;
    let g = t.app.gate().expect("the gate is still open");
    assert_eq!(g.typed, "aprod");
    // At the buttons (word → note → buttons), every choice key only chooses; none decides
    // without Enter.
    t.key(KeyCode::Tab).await;
    t.key(KeyCode::Tab).await;
    for c in ['a', 'r'] {
        t.key(KeyCode::Char(c)).await;
        assert!(t.app.gate().is_some(), "`{c}` decided the gate");
    }
    t.key(KeyCode::Char('r')).await;
    t.key(KeyCode::Enter).await;
    let outcome = t.finish().await;
    assert_eq!(outcome, Outcome::Finished(RunStatus::Rejected));
}

#[tokio::test]
async fn an_interrupted_step_with_survivors_offers_kill_or_wait_first() {
    use std::os::unix::process::CommandExt;
    use tollgate::engine::journal::Record;
    use tollgate::exec::procs;
    let yaml = r#"
name: resumed
phases:
  - id: p
    steps:
      - { id: one, run: "true" }
"#;
    // What the killed attempt left running: a process in the group the journal recorded.
    let mut survivor = std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = survivor.id() as i32;
    let proc = procs::ProcStart {
        pgid: pid,
        pid,
        start_ticks: procs::start_ticks(pid).unwrap(),
        boot_id: procs::boot_id(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path(), yaml);
    spec.journal
        .append(Record::RunStarted {
            run_id: "run-1".into(),
            runbook: spec.runbook_path.display().to_string(),
            runbook_name: "resumed".into(),
            digest: spec.digest.clone(),
            vars: Default::default(),
            who: "t@h".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: None,
            carried: None,
        })
        .unwrap();
    spec.journal
        .append(Record::StepStarted {
            step: "one".into(),
            attempt: 1,
            attempts: None,
            command: None,
        })
        .unwrap();
    spec.journal
        .append(Record::StepProcess {
            step: "one".into(),
            pgid: proc.pgid,
            pid: proc.pid,
            start_ticks: proc.start_ticks,
            boot_id: proc.boot_id.clone(),
        })
        .unwrap();
    let path = spec.journal.path().to_path_buf();
    let mut t = Tui::resumed(spec, dir);
    t.until("the survivors dialog", |a| a.gate().is_some())
        .await;
    let screen = t.screen(160, 40);
    assert!(
        screen.contains("[k] kill-survivors") && screen.contains("[w] wait"),
        "{screen}"
    );
    assert!(!screen.contains("[t] retry"), "{screen}");
    assert!(
        screen.contains(&format!("pid {pid} `sleep 30`")),
        "{screen}"
    );
    t.gate_seen();
    t.key(KeyCode::Char('k')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    // Then the usual choice, once nothing of the first attempt runs.
    t.until("the interrupted dialog", |a| {
        a.gate().is_some_and(|g| {
            g.request
                .choices
                .contains(&tollgate::protocol::Choice::Retry)
        })
    })
    .await;
    assert!(procs::survivors(&proc).is_empty());
    let _ = survivor.wait();
    // The choice is a decision in the journal, by who made it, via the interface.
    let lines = journal::read_lines(&path).unwrap().0;
    assert!(lines.iter().any(|l| matches!(
        &l.record,
        Record::GateDecided { choice: tollgate::protocol::Choice::KillSurvivors, via, .. } if via == "interface"
    )));
    t.gate_seen();
    t.key(KeyCode::Char('m')).await;
    t.key(KeyCode::Enter).await; // the chosen button decides
    assert_eq!(t.finish().await, Outcome::Finished(RunStatus::Succeeded));
}

#[tokio::test]
async fn a_captured_value_holding_a_secret_is_masked_in_the_events_and_the_step_header() {
    let yaml = r#"
name: captures
variables:
  pw: { secret: true }
phases:
  - id: p
    steps:
      - id: print
        run: 'echo "token=$pw"'
        capture: [{ var: captok, regex: 'token=(\S+)' }]
      - id: show
        title: 'using {{ captok }}'
        run: 'echo "got {{ captok }}"'
"#;
    let mut t = Tui::start_full(
        yaml,
        "dark",
        Arc::new(tollgate::exec::shell::Shell),
        &[("pw", "hunter2")],
    );
    t.until("the run ends", |a| {
        matches!(a.state(), RunState::Finished(_))
    })
    .await;
    let screen = t.screen(160, 45);
    assert!(
        screen.contains("captured captok = ••••••"),
        "the events pane says what was captured, masked:\n{screen}"
    );
    assert!(screen.contains("using ••••••"), "{screen}");
    // The last step stays selected: its header (the command filled in) and its output.
    assert!(screen.contains("got ••••••"), "{screen}");
    assert!(!screen.to_lowercase().contains("hunter2"), "{screen}");
}

/// `P` switches the presenter theme on live (the banner says SHARED, the colours are the
/// presenter theme's) and off again (the theme the run started with, no mark).
#[tokio::test]
async fn p_switches_the_presenter_theme_and_the_shared_mark() {
    let mut t = Tui::start(DEPLOY, "dark");
    t.until("the gate", |a| a.gate().is_some()).await;
    // Out of the dialog's way: Esc hides it, the keys are the main ones.
    t.gate_seen();
    t.key(KeyCode::Esc).await;
    let banner_bg = |b: &Buffer, theme: &Theme| {
        let (x, y) = find(b, " PRODUCTION ").unwrap();
        assert_eq!(b[(x, y)].style().bg, theme.banner_production.bg);
    };
    let dark = Theme::builtin("dark").unwrap();
    let presenter = Theme::builtin("presenter").unwrap();
    let b = t.buffer(160, 45);
    assert!(find(&b, " SHARED ").is_none());
    banner_bg(&b, &dark);
    t.key(KeyCode::Char('P')).await;
    let b = t.buffer(160, 45);
    let (_, y) = find(&b, " SHARED ").expect("the SHARED mark");
    assert_eq!(y, 0, "on the banner's first line");
    banner_bg(&b, &presenter);
    t.key(KeyCode::Char('P')).await;
    let b = t.buffer(160, 45);
    assert!(find(&b, " SHARED ").is_none());
    banner_bg(&b, &dark);
}

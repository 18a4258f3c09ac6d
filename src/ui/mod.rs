//! The terminal interface: another view of the engine's events. It is started with [`run`],
//! from a [`Config`]. State lives in [`app::App`], drawing in [`render`], and the loop here ties
//! the engine, the keyboard and the screen together, drawing only when something changed and at
//! most 60 times a second.

pub mod ansi;
pub mod app;
pub mod cluster;
pub mod config;
pub mod contrast;
pub mod dialogs;
pub mod field;
pub mod fit;
pub mod form;
pub mod input;
pub mod keys;
pub mod launcher;
pub mod logs_pane;
pub mod output;
pub mod pods_pane;
pub mod render;
pub mod state;
pub mod theme;

use std::io;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::crossterm::event::Event as TermEvent;
use ratatui::{Frame, Terminal};
use tokio::sync::{mpsc, watch};

use crate::protocol::{Command, Event};
use app::{Action, App};
pub use config::{ClusterPanes, Config, REHEARSAL, Rehearsal};

/// At most this often a frame is drawn (60 per second).
pub const FRAME: Duration = Duration::from_micros(16_667);

/// Engine events applied in one go, at most, and for at most this long: under a flood of
/// output, keys and frames still get their turn every few milliseconds.
const BATCH: usize = 512;
const BATCH_TIME: Duration = Duration::from_millis(4);

/// How the loop ended.
#[derive(Debug, PartialEq)]
pub enum Exit {
    /// The operator quit.
    Quit,
    /// A termination signal arrived.
    Signal,
    /// The run failed and the operator chose to open the runbook its failure path leads to
    /// (its name in `links`): the caller starts it, following the failed run.
    Follow(String),
}

/// The engine's side of the interface: its events in, the operator's commands out.
pub struct Channels {
    pub events: mpsc::Receiver<Event>,
    pub commands: mpsc::Sender<Command>,
}

/// Starts the interface for a run and runs it until the operator quits (after the run ends, or
/// leaving it resumable) or a signal arrives. The feeds' panes are shown only when `config` asks
/// for them (`aws`, `cluster`).
pub async fn run<B, I>(
    terminal: &mut Terminal<B>,
    config: Config,
    channels: Channels,
    input: I,
    signals: impl Stream<Item = ()> + Unpin,
    feeds: Feeds,
) -> io::Result<Exit>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let mut app = App::new(config);
    run_loop_with(
        terminal,
        &mut app,
        channels.events,
        input,
        channels.commands,
        signals,
        feeds,
    )
    .await
}

/// Draws one frame of `app`, and keeps where the panes went (for mouse clicks).
pub fn draw(app: &mut App, frame: &mut Frame) {
    app.areas = render::render(app, frame);
}

/// Runs the interface until the operator quits (after the run ends, or leaving it resumable).
/// Generic over the backend and the input stream so tests drive the real loop.
pub async fn run_loop<B, I>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    engine: mpsc::Receiver<Event>,
    input: I,
    commands: mpsc::Sender<Command>,
    signals: impl Stream<Item = ()> + Unpin,
) -> io::Result<Exit>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    run_loop_with(
        terminal,
        app,
        engine,
        input,
        commands,
        signals,
        Feeds::default(),
    )
    .await
}

/// What the interface shows besides the engine's events.
#[derive(Default)]
pub struct Feeds {
    /// The pods and logs panes (shown when the config's `cluster` is set).
    pub cluster: Option<(crate::live::Link, mpsc::Receiver<crate::live::ClusterMsg>)>,
    /// The AWS account and region once pinned, for the banner (shown when the config's `aws`
    /// is set).
    pub aws: Option<watch::Receiver<Option<crate::target::account::AccountPin>>>,
    /// The real terminal's bell and title, told when a gate opens and when it is decided.
    pub attention: Option<Attention>,
    /// The recording (`--record`): a marker at each gate, once the frame showing it is drawn.
    pub cast: Option<crate::record::cast::Cast>,
}

/// Draws a person to an open gate: the terminal bell and the title `◆ gate: ID — tollgate`,
/// back to the normal title (`base`: a rehearsal's, else none) once it is decided.
#[derive(Clone, Debug, Default)]
pub struct Attention {
    pub base: Option<String>,
}

impl Attention {
    /// The title while gate `id` is open (`REHEARSAL` kept first in a rehearsal).
    pub fn gate_title(&self, id: &str) -> String {
        match self.base {
            Some(_) => format!("{REHEARSAL} · ◆ gate: {id} — tollgate"),
            None => format!("◆ gate: {id} — tollgate"),
        }
    }

    /// What `ev` changes: `Some(Some(id))` a gate opened, `Some(None)` it was decided.
    pub fn heed(ev: &Event) -> Option<Option<String>> {
        match ev {
            Event::GateReached(g) => Some(Some(g.id.clone())),
            Event::GateDecided { .. } => Some(None),
            _ => None,
        }
    }

    /// Rings the bell for an opened gate and sets the title the way `change` says.
    fn tell(&self, out: &mut impl io::Write, change: Option<&str>) -> io::Result<()> {
        match change {
            Some(id) => {
                out.write_all(b"\x07")?;
                term::show_title(out, Some(&self.gate_title(id)))
            }
            None => term::show_title(out, self.base.as_deref()),
        }
    }
}

/// [`run_loop`] with the pods, logs and banner fed by `feeds`.
pub async fn run_loop_with<B, I>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut engine: mpsc::Receiver<Event>,
    mut input: I,
    commands: mpsc::Sender<Command>,
    mut signals: impl Stream<Item = ()> + Unpin,
    feeds: Feeds,
) -> io::Result<Exit>
where
    B: Backend,
    B::Error: std::error::Error + Send + Sync + 'static,
    I: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (mut link, mut cluster_rx) = match feeds.cluster {
        Some((l, rx)) => (Some(l), Some(rx)),
        None => (None, None),
    };
    let mut aws_pin = feeds.aws;
    let attention = feeds.attention;
    let cast = feeds.cast;
    // A gate opened since the last frame: marked in the recording once it is on screen.
    let mut mark: Option<String> = None;
    if let Some(rx) = aws_pin.as_mut()
        && let Some(p) = rx.borrow_and_update().clone()
    {
        app.on_aws_pin(p.account, p.region);
    }
    let mut engine_open = true;
    let mut last_draw: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if app.dirty {
            let due = last_draw.is_none_or(|t| t.elapsed() >= FRAME);
            if due {
                app.set_clock(Instant::now());
                terminal.draw(|f| draw(app, f)).map_err(io::Error::other)?;
                app.dirty = false;
                last_draw = Some(Instant::now());
                if let (Some(c), Some(m)) = (cast.as_ref(), mark.take()) {
                    c.marker(&m);
                }
            }
        }
        if let Some(link) = link.as_mut() {
            for req in app.take_cluster_requests() {
                link.handle(req);
            }
        }
        let next_draw = last_draw.map_or_else(Instant::now, |t| t + FRAME);
        tokio::select! {
            ev = engine.recv(), if engine_open => match ev {
                Some(ev) => {
                    // Events are timed by the clock frames are drawn by (the end of the run).
                    app.set_clock(Instant::now());
                    let opens_gate =
                        matches!(ev, Event::GateReached(_) | Event::ValueRequested(_));
                    let mut heeded = Attention::heed(&ev);
                    app.on_engine(ev);
                    let mut n = 0;
                    let batch_start = Instant::now();
                    while n < BATCH && batch_start.elapsed() < BATCH_TIME {
                        match engine.try_recv() {
                            Ok(ev) => {
                                let gate = matches!(
                                    ev,
                                    Event::GateReached(_) | Event::ValueRequested(_)
                                );
                                if let Some(h) = Attention::heed(&ev) {
                                    heeded = Some(h);
                                }
                                app.on_engine(ev);
                                if gate {
                                    flush_input(&mut input).await;
                                }
                                n += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    if let Some(Some(id)) = &heeded {
                        mark = Some(format!("gate: {id}"));
                    }
                    if let (Some(a), Some(change)) = (attention.as_ref(), heeded) {
                        let mut out = io::stdout();
                        let _ = a.tell(&mut out, change.as_deref());
                        let _ = io::Write::flush(&mut out);
                    }
                    // Gates the command line's flags decided (`--approve`).
                    for cmd in app.take_commands() {
                        let _ = commands.send(cmd).await;
                    }
                    if opens_gate {
                        // Keys typed before the gate was on screen never answer it.
                        flush_input(&mut input).await;
                    }
                }
                None => {
                    engine_open = false;
                    app.dirty = true;
                    if let Some(name) = app.take_follow() {
                        return Ok(Exit::Follow(name));
                    }
                }
            },
            key = input.next() => match key {
                Some(Ok(ev)) => {
                    for action in app.on_input(ev) {
                        match action {
                            Action::Send(cmd) => {
                                let _ = commands.send(cmd).await;
                            }
                            Action::Quit => {
                                return Ok(match app.take_follow() {
                                    Some(name) => Exit::Follow(name),
                                    None => Exit::Quit,
                                });
                            }
                        }
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(Exit::Quit),
            },
            Some(msg) = async {
                match cluster_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                app.on_cluster(msg);
                // A log flood arrives in many messages: take what is waiting, within the batch.
                let batch_start = Instant::now();
                let mut n = 0;
                while n < BATCH && batch_start.elapsed() < BATCH_TIME {
                    match cluster_rx.as_mut().map(|rx| rx.try_recv()) {
                        Some(Ok(m)) => app.on_cluster(m),
                        _ => break,
                    }
                    n += 1;
                }
            }
            changed = async {
                match aws_pin.as_mut() {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            } => match changed {
                Ok(()) => {
                    let pin = aws_pin.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                    if let Some(p) = pin {
                        app.on_aws_pin(p.account, p.region);
                    }
                }
                // The target is gone (the run is over): nothing more will be pinned.
                Err(_) => aws_pin = None,
            },
            Some(()) = signals.next() => {
                let _ = commands.send(Command::Abort).await;
                return Ok(Exit::Signal);
            }
            _ = tick.tick() => {
                if matches!(app.state, app::RunState::Running) {
                    app.dirty = true;
                }
            }
            _ = tokio::time::sleep_until(next_draw.into()), if app.dirty => {}
        }
    }
}

/// Drops input events already waiting. Polled with the loop's own waker: a stream that is
/// polled with a no-op waker may keep that waker (crossterm's does, until its next event), and
/// the next key would then wait for some other wake-up (the 1 s tick) before it is read.
async fn flush_input<I: Stream<Item = io::Result<TermEvent>> + Unpin>(input: &mut I) {
    std::future::poll_fn(|cx| {
        while let std::task::Poll::Ready(Some(_)) = input.poll_next_unpin(cx) {}
        std::task::Poll::Ready(())
    })
    .await
}

/// The real terminal: raw mode, alternate screen, mouse and focus reporting; restored on drop,
/// on panic, and on every exit path.
pub mod term {
    use std::io::{self, Write};

    use ratatui::Terminal;
    use ratatui::backend::CrosstermBackend;
    use ratatui::crossterm::{cursor, event, execute, terminal};

    pub use crate::record::cast::{Cast, Tee};

    pub type Tui = Terminal<CrosstermBackend<io::BufWriter<Tee<io::Stdout>>>>;

    /// Whether [`enter_titled`] set the terminal's title (restored on exit).
    static TITLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Saves the terminal's title on its stack (xterm's `CSI 22 ; 0 t`) and sets `title`.
    pub fn set_title(out: &mut impl Write, title: &str) -> io::Result<()> {
        // No control character reaches the terminal: a name with an escape in it cannot end the
        // title early and send a sequence of its own.
        let title: String = title.chars().filter(|c| !c.is_control()).collect();
        write!(out, "\x1b[22;0t")?;
        execute!(out, terminal::SetTitle(title))
    }

    /// Shows `title` (saving the terminal's own title first, once), or with none takes the
    /// terminal's own title back: how a gate's title comes and goes.
    pub fn show_title(out: &mut impl Write, title: Option<&str>) -> io::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        match title {
            Some(t) if TITLED.load(SeqCst) => {
                let t: String = t.chars().filter(|c| !c.is_control()).collect();
                execute!(out, terminal::SetTitle(t))
            }
            Some(t) => {
                set_title(out, t)?;
                TITLED.store(true, SeqCst);
                Ok(())
            }
            None if TITLED.swap(false, SeqCst) => clear_title(out),
            None => Ok(()),
        }
    }

    /// Clears the title [`set_title`] set and takes the saved one back off the stack (`CSI 23 ;
    /// 0 t`): a terminal without the stack is left with an empty title, never the run's.
    pub fn clear_title(out: &mut impl Write) -> io::Result<()> {
        execute!(out, terminal::SetTitle(""))?;
        write!(out, "\x1b[23;0t")?;
        out.flush()
    }

    pub fn restore() {
        let _ = terminal::disable_raw_mode();
        let mut out = io::stdout();
        if TITLED.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = clear_title(&mut out);
        }
        let _ = execute!(
            out,
            event::DisableMouseCapture,
            event::DisableFocusChange,
            event::DisableBracketedPaste,
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = out.flush();
    }

    /// Restores the terminal when dropped.
    pub struct Guard;

    impl Drop for Guard {
        fn drop(&mut self) {
            restore();
        }
    }

    pub fn enter() -> io::Result<(Tui, Guard)> {
        enter_titled(None, None)
    }

    /// [`enter`], setting the terminal's title to `title` when given (a rehearsal's, from
    /// [`crate::ui::Config::title`]) until the terminal is restored, and recording every frame
    /// into `cast` when given (`--record`).
    pub fn enter_titled(title: Option<&str>, cast: Option<Cast>) -> io::Result<(Tui, Guard)> {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            prev(info);
        }));
        terminal::enable_raw_mode()?;
        let guard = Guard;
        execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            event::EnableMouseCapture,
            event::EnableFocusChange,
            event::EnableBracketedPaste,
            cursor::Hide
        )?;
        if let Some(title) = title {
            set_title(&mut io::stdout(), title)?;
            TITLED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // A frame goes out in one write (ratatui flushes after each draw), so a terminal
        // never shows half of one.
        let out = io::BufWriter::with_capacity(1 << 20, Tee::new(io::stdout(), cast));
        let t = Terminal::new(CrosstermBackend::new(out))?;
        Ok((t, guard))
    }
}

#[cfg(test)]
mod attention_tests {
    use super::*;

    /// A gate opened rings the bell and titles the terminal with it; decided, the terminal's own
    /// title comes back (a rehearsal's title, REHEARSAL first, stays).
    #[test]
    fn a_gate_rings_and_titles_the_terminal_until_decided() {
        let plain = Attention { base: None };
        let gate = Event::GateReached(crate::protocol::GateRequest {
            id: "deploy".into(),
            kind: crate::protocol::GateKind::Phase,
            title: "Deploy".into(),
            message: None,
            destructive: false,
            confirm: None,
            commands: vec![],
            checklist: vec![],
            choices: vec![],
            production: false,
            error: None,
            follow: None,
            approvals: 1,
        });
        let change = Attention::heed(&gate).expect("a gate changes the title");
        let mut out = Vec::new();
        plain.tell(&mut out, change.as_deref()).unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(shown.starts_with('\x07'), "{shown:?}");
        assert!(shown.contains("\x1b[22;0t"), "{shown:?}");
        assert!(shown.contains("◆ gate: deploy — tollgate"), "{shown:?}");
        let decided = Event::GateDecided {
            gate: "deploy".into(),
            choice: crate::protocol::Choice::Approve,
            who: "a@h".into(),
            via: "terminal".into(),
            checklist: vec![],
        };
        let mut out = Vec::new();
        plain
            .tell(&mut out, Attention::heed(&decided).unwrap().as_deref())
            .unwrap();
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("\x1b[23;0t") && !shown.starts_with('\x07'),
            "{shown:?}"
        );
        assert_eq!(Attention::heed(&Event::Note("n".into())), None);
        let rehearsal = Attention {
            base: Some(format!("{REHEARSAL} · rb · tollgate")),
        };
        assert_eq!(
            rehearsal.gate_title("deploy"),
            "REHEARSAL · ◆ gate: deploy — tollgate"
        );
    }
}

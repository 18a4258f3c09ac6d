//! A run followed from other terminals (`tollgate follow`): the share tap. It sits between the
//! engine and the driver's view, owns the run's socket (`STATE/runs/ID/follow.sock`), sends
//! each follower a `hello`, everything so far, then every event as it comes; it takes followers'
//! asks (to drive, a decision, handing the keys back), says who watches, and hands the keys
//! over. A follower too slow to keep up never slows the driver: its queue is bounded, and on
//! overflow it is told and sent the whole state again.
//!
//! With `--listen ADDR` it also serves TCP: a connection's first line must carry the token the
//! driver was shown once (compared in constant time), else it is refused and closed. Nothing
//! names a TCP peer (no credentials cross a TCP socket), so such a follower is `guest@IP` and
//! only watches: it never decides a gate, counts for a two-person gate or takes the keys.

pub mod log;
pub mod peer;
pub mod wire;

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::protocol::{Command, Decision, Event, GateRequest};
use wire::{FromFollower, Hello, ToFollower};

/// The socket's name in the run's folder.
pub const SOCKET: &str = "follow.sock";

/// Lines queued for one follower before it counts as fallen behind.
pub const QUEUE: usize = 4096;

/// How a decision a follower makes is recorded (`via`).
pub const VIA_FOLLOWER: &str = "follower";

/// What the share tap is started with.
pub struct Options {
    /// The socket to serve: `STATE/runs/ID/follow.sock`.
    pub socket: PathBuf,
    /// The `hello` every follower reads (its `you` filled for each).
    pub hello: Hello,
    /// This machine's name, for followers' `name@host`.
    pub host: String,
    /// The driver's view is headless: the keys are never handed over.
    pub headless: bool,
    /// `--share-group`: the group that may follow (gid), else only the driver's user.
    pub group: Option<u32>,
    /// With a group: the folders its members pass through to the socket (the run's folder,
    /// `runs/`, the state folder), given that group and made searchable by it (g+x, never g+r).
    pub reach: Vec<PathBuf>,
    /// `--listen ADDR`: a TCP address to serve too, for followers with the token.
    pub listen: Option<String>,
}

/// How long a TCP peer has to send its token.
const TOKEN_WAIT: Duration = Duration::from_secs(10);

/// A connected follower's two directions, whatever carries them.
type ReadSide = Box<dyn AsyncRead + Send + Unpin>;
type WriteSide = Box<dyn AsyncWrite + Send + Unpin>;

/// A follower that joined: its stream, who it is, whether it only watches.
struct Joined {
    read: ReadSide,
    write: WriteSide,
    who: String,
    watch_only: bool,
}

/// The tapped channels: events on to the view, the view's commands in.
pub struct Shared {
    pub events: mpsc::Receiver<Event>,
    pub commands: mpsc::Sender<Command>,
    /// The tap, for the caller to spawn.
    pub task: futures::future::BoxFuture<'static, ()>,
}

/// Who is at the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    Driver,
    Follower(u64),
}

struct Follower {
    id: u64,
    who: String,
    tx: mpsc::Sender<Arc<str>>,
    /// Its queue overflowed: nothing more is queued until it is sent the state again.
    lagged: bool,
    wake: Arc<Notify>,
    /// Joined over `--listen`: it is shown the run and can do nothing to it.
    watch_only: bool,
}

/// The whole state again, and the fresh queue that follows it.
type Resent = (Vec<Arc<str>>, mpsc::Receiver<Arc<str>>);

enum Input {
    Joined(Joined),
    Said(u64, FromFollower),
    Left(u64),
    /// A follower that fell behind asks for the whole state and a fresh queue.
    Resync(u64, oneshot::Sender<Resent>),
}

/// The run's socket, bound, before anything is tapped.
pub struct Bound {
    opts: Options,
    listener: UnixListener,
    /// `--listen`: the TCP listener and its token.
    tcp: Option<(TcpListener, String)>,
}

impl Bound {
    /// Where `--listen` serves (the port chosen when it asked for 0) and its token.
    pub fn listening(&self) -> Option<(std::net::SocketAddr, &str)> {
        let (l, token) = self.tcp.as_ref()?;
        Some((l.local_addr().ok()?, token.as_str()))
    }
}

/// Binds the run's socket (0600; with a group, 0660 and that group). Must be called on a Tokio
/// runtime.
pub fn bind(opts: Options) -> io::Result<Bound> {
    if let Some(gid) = opts.group {
        for dir in &opts.reach {
            searchable_by(dir, gid)?;
        }
    }
    let listener = bind_at(&opts.socket, opts.group)?;
    let tcp = match &opts.listen {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("--listen {addr}: {e}")))?;
            l.set_nonblocking(true)?;
            Some((TcpListener::from_std(l)?, token()?))
        }
        None => None,
    };
    Ok(Bound {
        opts,
        listener,
        tcp,
    })
}

/// A fresh token: 32 bytes from the kernel's random source, as hex.
fn token() -> io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `given` is `token`, in time that does not depend on where they differ.
fn same_token(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, t) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ t);
    }
    diff == 0
}

/// A TCP peer's first line: the token, else it is told so and closed. Watches as `guest@IP`.
async fn admit(stream: tokio::net::TcpStream, token: Arc<str>) -> Option<Joined> {
    let peer = stream.peer_addr().ok()?;
    let (read, mut write) = stream.into_split();
    let mut r = BufReader::new(read);
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        TOKEN_WAIT,
        (&mut r).take(wire::MAX_LINE).read_until(b'\n', &mut buf),
    )
    .await;
    let ok = matches!(read, Ok(Ok(n)) if n > 0)
        && matches!(
            serde_json::from_slice::<FromFollower>(&buf),
            Ok(FromFollower::Token { token: given }) if same_token(&given, &token)
        );
    if !ok {
        let no = ToFollower::Refused {
            reason: "the token is wrong or missing".into(),
        };
        let _ = write.write_all(wire::line(&no).as_bytes()).await;
        let _ = write.shutdown().await;
        return None;
    }
    Some(Joined {
        read: Box::new(r),
        write: Box::new(write),
        who: format!("guest@{}", peer.ip()),
        watch_only: true,
    })
}

/// Starts the tap on a bound socket: the engine's events in, the view's out; the view's
/// commands in, the engine's out.
pub fn start(
    bound: Bound,
    engine_events: mpsc::Receiver<Event>,
    engine_commands: mpsc::Sender<Command>,
) -> Shared {
    let Bound {
        opts,
        listener,
        tcp,
    } = bound;
    // A few events ahead only: a deep queue here would hide a slow view's back-pressure from
    // the step's output reader (as the record tap's AHEAD says).
    let (view_tx, view_rx) = mpsc::channel(16);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (in_tx, in_rx) = mpsc::channel(256);
    // Commands reach the engine in order, and waiting for the engine never holds the tap.
    let (fwd_tx, mut fwd_rx) = mpsc::unbounded_channel::<Command>();
    tokio::spawn(async move {
        while let Some(c) = fwd_rx.recv().await {
            if engine_commands.send(c).await.is_err() {
                break;
            }
        }
    });
    let host = opts.host.clone();
    let driver = opts.hello.driver.clone();
    let accept_tx = in_tx.clone();
    let accepting = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // No credentials, no follower.
            let Ok(cred) = stream.peer_cred() else {
                continue;
            };
            // The driver's own user in another terminal is the same person as the driver: named
            // as the driver is, so that it can never be a two-person gate's second approver.
            // SAFETY: getuid never fails.
            let who = if cred.uid() == unsafe { libc::getuid() } {
                driver.clone()
            } else {
                peer::identity(cred.uid(), &host)
            };
            let (read, write) = stream.into_split();
            let joined = Joined {
                read: Box::new(read),
                write: Box::new(write),
                who,
                watch_only: false,
            };
            if accept_tx.send(Input::Joined(joined)).await.is_err() {
                break;
            }
        }
    });
    let listening = tcp.map(|(l, token)| {
        let token: Arc<str> = Arc::from(token);
        let accept_tx = in_tx.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                let (token, accept_tx) = (token.clone(), accept_tx.clone());
                // Each peer's token is waited for on its own: a silent one holds up no other.
                tokio::spawn(async move {
                    if let Some(j) = admit(stream, token).await {
                        let _ = accept_tx.send(Input::Joined(j)).await;
                    }
                });
            }
        })
    });
    let tap = Tap {
        hello: opts.hello,
        headless: opts.headless,
        log: log::Log::new(),
        followers: Vec::new(),
        holder: Holder::Driver,
        asked: None,
        next_id: 1,
        open_gate: None,
        view: view_tx,
        engine: Some(fwd_tx),
        inputs: in_tx,
        writers: Vec::new(),
    };
    let socket = opts.socket;
    let task = Box::pin(async move {
        let writers = tap.run(engine_events, cmd_rx, in_rx).await;
        accepting.abort();
        if let Some(l) = listening {
            l.abort();
        }
        let _ = std::fs::remove_file(&socket);
        // What was queued for followers goes out (the run's end among it), for a moment.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            for w in writers {
                let _ = w.await;
            }
        })
        .await;
    });
    Shared {
        events: view_rx,
        commands: cmd_tx,
        task,
    }
}

/// Gives `dir` the group `gid` and lets that group search it (`g+x`); nothing else changes.
fn searchable_by(dir: &std::path::Path, gid: u32) -> io::Result<()> {
    std::os::unix::fs::chown(dir, None, Some(gid))
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    std::fs::set_permissions(
        dir,
        std::fs::Permissions::from_mode((mode | 0o010) & 0o7777),
    )
}

/// The socket, made reachable by the driver's user only (0600), or by `group` too (0660).
fn bind_at(path: &std::path::Path, group: Option<u32>) -> io::Result<UnixListener> {
    // A socket left by a run that was killed: nothing serves it.
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let mode = match group {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid))?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

struct Tap {
    hello: Hello,
    headless: bool,
    log: log::Log,
    followers: Vec<Follower>,
    holder: Holder,
    /// Someone asked for the keys: who (`None`: the driver), and their name.
    asked: Option<(Holder, String)>,
    next_id: u64,
    open_gate: Option<GateRequest>,
    view: mpsc::Sender<Event>,
    engine: Option<mpsc::UnboundedSender<Command>>,
    inputs: mpsc::Sender<Input>,
    writers: Vec<JoinHandle<()>>,
}

impl Tap {
    async fn run(
        mut self,
        mut engine: mpsc::Receiver<Event>,
        mut commands: mpsc::Receiver<Command>,
        mut inputs: mpsc::Receiver<Input>,
    ) -> Vec<JoinHandle<()>> {
        let mut commands_open = true;
        loop {
            tokio::select! {
                ev = engine.recv() => match ev {
                    Some(ev) => {
                        self.publish(&ev);
                        if self.view.send(ev).await.is_err() {
                            // The view is gone: the engine sees its channel close.
                            break;
                        }
                    }
                    None => break,
                },
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(c) => self.on_view(c).await,
                    None => {
                        // The view is gone: the engine sees no one can decide.
                        commands_open = false;
                        self.engine = None;
                    }
                },
                Some(input) = inputs.recv() => self.on_input(input).await,
            }
        }
        self.followers.clear();
        std::mem::take(&mut self.writers)
    }

    fn forward(&self, c: Command) {
        if let Some(e) = &self.engine {
            let _ = e.send(c);
        }
    }

    /// An event of the engine: kept for late joiners, queued for every follower.
    fn publish(&mut self, ev: &Event) {
        match ev {
            Event::GateReached(req) => self.open_gate = Some(req.clone()),
            Event::GateDecided { gate, .. }
                if self.open_gate.as_ref().is_some_and(|g| g.id == *gate) =>
            {
                self.open_gate = None
            }
            Event::RunPaused { .. } | Event::RunFinished { .. } => self.open_gate = None,
            _ => {}
        }
        // Made into a line only when someone follows now; a late joiner's lines are made then.
        if self.followers.is_empty() {
            self.log.push(ev, None);
            return;
        }
        let text: Arc<str> = Arc::from(wire::line(&ToFollower::Event { event: ev.clone() }));
        self.log.push(ev, Some(text.clone()));
        for f in &mut self.followers {
            queue(f, text.clone());
        }
    }

    /// An event for one follower (`Some(id)`) or the driver's view (`None`), never kept.
    async fn tell(&mut self, to: Holder, ev: Event) {
        match to {
            Holder::Driver => {
                let _ = self.view.send(ev).await;
            }
            Holder::Follower(id) => {
                let text: Arc<str> = Arc::from(wire::line(&ToFollower::Event { event: ev }));
                if let Some(f) = self.followers.iter_mut().find(|f| f.id == id) {
                    queue(f, text);
                }
            }
        }
    }

    fn name_of(&self, h: Holder) -> String {
        match h {
            Holder::Driver => self.hello.driver.clone(),
            Holder::Follower(id) => self
                .followers
                .iter()
                .find(|f| f.id == id)
                .map_or_else(String::new, |f| f.who.clone()),
        }
    }

    /// Whether the open gate takes approvals from more than one person: then any follower's
    /// decision goes to the engine, which counts it (a gate's `approvals`, when the protocol
    /// has it; 1 for an ordinary gate).
    fn two_person(&self, gate: &str) -> bool {
        self.open_gate.as_ref().is_some_and(|g| {
            g.id == gate
                && serde_json::to_value(g)
                    .ok()
                    .and_then(|v| v.get("approvals").and_then(|a| a.as_u64()))
                    .is_some_and(|n| n >= 2)
        })
    }

    async fn on_view(&mut self, c: Command) {
        match c {
            Command::Decide(d) => {
                if self.holder == Holder::Driver || self.two_person(&d.gate) {
                    self.forward(Command::Decide(d));
                } else {
                    let reason = format!(
                        "{} is at the keys (D asks to drive)",
                        self.name_of(self.holder)
                    );
                    self.tell(Holder::Driver, refused(&d, reason)).await;
                }
            }
            Command::AskDrive => {
                if let Holder::Follower(h) = self.holder {
                    let me = self.hello.driver.clone();
                    self.asked = Some((Holder::Driver, me.clone()));
                    self.tell(Holder::Follower(h), Event::DriveRequested { who: me })
                        .await;
                }
            }
            Command::AnswerDrive { accept, .. } if self.holder == Holder::Driver => {
                self.answer(accept).await
            }
            // Only the share tap says who drives and who watches.
            Command::AnswerDrive { .. }
            | Command::Release
            | Command::Drive { .. }
            | Command::Watching { .. } => {}
            other => self.forward(other),
        }
    }

    async fn on_input(&mut self, input: Input) {
        match input {
            Input::Joined(j) => self.join(j).await,
            Input::Said(id, msg) => self.on_follower(id, msg).await,
            Input::Left(id) => self.leave(id).await,
            Input::Resync(id, reply) => {
                let Some(i) = self.followers.iter().position(|f| f.id == id) else {
                    return;
                };
                let mut state = self.log.snapshot();
                state.extend(self.extras(Holder::Follower(id)));
                let (tx, rx) = mpsc::channel(QUEUE);
                let f = &mut self.followers[i];
                f.tx = tx;
                f.lagged = false;
                let _ = reply.send((state, rx));
            }
        }
    }

    /// What a follower's view needs besides the run's events: who watches, who drives, whether
    /// it is at the keys.
    fn extras(&self, me: Holder) -> Vec<Arc<str>> {
        let mut out = vec![Event::Watchers {
            names: self.watchers(),
        }];
        if self.holder == me {
            out.push(Event::Keys { held: true });
        }
        out.into_iter()
            .map(|event| Arc::from(wire::line(&ToFollower::Event { event })))
            .collect()
    }

    fn watchers(&self) -> Vec<String> {
        self.followers.iter().map(|f| f.who.clone()).collect()
    }

    async fn join(&mut self, joined: Joined) {
        let Joined {
            read,
            write,
            who,
            watch_only,
        } = joined;
        let id = self.next_id;
        self.next_id += 1;
        let hello = Hello {
            you: who.clone(),
            driver: self.name_of(self.holder),
            ..self.hello.clone()
        };
        let first: Vec<Arc<str>> = self.log.snapshot();
        let (tx, rx) = mpsc::channel(QUEUE);
        let wake = Arc::new(Notify::new());
        self.followers.push(Follower {
            id,
            who,
            tx,
            lagged: false,
            wake: wake.clone(),
            watch_only,
        });
        let hello = wire::line(&ToFollower::Hello(hello));
        let inputs = self.inputs.clone();
        self.writers.push(tokio::spawn(write_to(
            write,
            hello,
            first,
            rx,
            wake,
            id,
            inputs.clone(),
        )));
        tokio::spawn(read_from(read, id, inputs));
        self.watching().await;
    }

    async fn leave(&mut self, id: u64) {
        let Some(i) = self.followers.iter().position(|f| f.id == id) else {
            return;
        };
        self.followers.remove(i);
        if matches!(self.asked, Some((Holder::Follower(a), _)) if a == id) {
            self.asked = None;
        }
        // A follower at the keys that leaves gives them back to the driver.
        if self.holder == Holder::Follower(id) {
            self.hand_to(Holder::Driver).await;
        }
        self.watching().await;
    }

    /// Tells every view who watches now, and the engine (journaled).
    async fn watching(&mut self) {
        let names = self.watchers();
        self.forward(Command::Watching {
            names: names.clone(),
        });
        let ev = Event::Watchers { names };
        let text: Arc<str> = Arc::from(wire::line(&ToFollower::Event { event: ev.clone() }));
        for f in &mut self.followers {
            queue(f, text.clone());
        }
        let _ = self.view.send(ev).await;
    }

    async fn on_follower(&mut self, id: u64, msg: FromFollower) {
        let me = Holder::Follower(id);
        let who = self.name_of(me);
        let watch_only = self.followers.iter().any(|f| f.id == id && f.watch_only);
        if watch_only {
            let why = format!(
                "{who} follows over --listen and only watches: no one is named over TCP (ssh to the driver's machine and run tollgate follow there to decide or drive)"
            );
            match msg {
                FromFollower::Decide { decision } => {
                    self.tell(me, refused(&decision, why)).await;
                }
                FromFollower::AskDrive => self.tell(me, Event::Note(why)).await,
                _ => {}
            }
            return;
        }
        match msg {
            FromFollower::Decide { mut decision } => {
                // Who decided is who is at the other end of the socket, whatever it said.
                decision.who = who;
                decision.via = VIA_FOLLOWER.into();
                if self.holder == me || self.two_person(&decision.gate) {
                    self.forward(Command::Decide(decision));
                } else {
                    let reason = format!(
                        "{} is at the keys (D asks to drive)",
                        self.name_of(self.holder)
                    );
                    self.tell(me, refused(&decision, reason)).await;
                }
            }
            FromFollower::AskDrive if self.headless => {
                let note = "the driver runs headless: the keys cannot be handed over".to_string();
                self.tell(me, Event::Note(note)).await;
            }
            FromFollower::AskDrive if self.holder == me => {}
            FromFollower::AskDrive => {
                self.asked = Some((me, who.clone()));
                self.tell(self.holder, Event::DriveRequested { who }).await;
            }
            FromFollower::AnswerDrive { accept } if self.holder == me => self.answer(accept).await,
            FromFollower::AnswerDrive { .. } => {}
            FromFollower::Release if self.holder == me => self.hand_to(Holder::Driver).await,
            FromFollower::Release => {}
            // Only a TCP peer's first line; said again, nothing.
            FromFollower::Token { .. } => {}
        }
    }

    /// The one at the keys answered the last request for them.
    async fn answer(&mut self, accept: bool) {
        let Some((to, _)) = self.asked.take() else {
            return;
        };
        if accept {
            self.hand_to(to).await;
        } else {
            let note = format!("{} kept the keys", self.name_of(self.holder));
            self.tell(to, Event::Note(note)).await;
        }
    }

    async fn hand_to(&mut self, to: Holder) {
        let from = self.holder;
        if from == to {
            return;
        }
        self.holder = to;
        self.forward(Command::Drive {
            who: self.name_of(to),
        });
        self.tell(from, Event::Keys { held: false }).await;
        self.tell(to, Event::Keys { held: true }).await;
    }
}

fn refused(d: &Decision, reason: String) -> Event {
    Event::DecisionRefused {
        gate: d.gate.clone(),
        reason,
    }
}

/// Queues a line for a follower; one that cannot take it is marked fallen behind and woken to
/// ask for the whole state again.
fn queue(f: &mut Follower, text: Arc<str>) {
    if f.lagged {
        return;
    }
    match f.tx.try_send(text) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            f.lagged = true;
            f.wake.notify_one();
        }
        // It left; its reader says so.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

async fn write_to(
    mut w: WriteSide,
    hello: String,
    first: Vec<Arc<str>>,
    mut rx: mpsc::Receiver<Arc<str>>,
    wake: Arc<Notify>,
    id: u64,
    inputs: mpsc::Sender<Input>,
) {
    let mut pending: VecDeque<Arc<str>> = first.into();
    if w.write_all(hello.as_bytes()).await.is_err() {
        return;
    }
    loop {
        while let Some(l) = pending.pop_front() {
            if w.write_all(l.as_bytes()).await.is_err() {
                return;
            }
        }
        tokio::select! {
            biased;
            _ = wake.notified() => {
                let (tx, reply) = oneshot::channel();
                if inputs.send(Input::Resync(id, tx)).await.is_err() {
                    return;
                }
                let Ok((state, fresh)) = reply.await else { return };
                rx = fresh;
                let resent = wire::line(&ToFollower::Event { event: Event::Resent });
                pending.push_back(Arc::from(resent));
                pending.extend(state);
            }
            l = rx.recv() => match l {
                Some(l) => pending.push_back(l),
                None => {
                    let _ = w.shutdown().await;
                    return;
                }
            },
        }
    }
}

async fn read_from(read: ReadSide, id: u64, inputs: mpsc::Sender<Input>) {
    let mut r = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut r)
            .take(wire::MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) if buf.last() != Some(&b'\n') => break,
            Ok(_) => {}
        }
        // A line that is not a known ask is ignored: a follower can do nothing else.
        if let Ok(msg) = serde_json::from_slice::<FromFollower>(&buf)
            && inputs.send(Input::Said(id, msg)).await.is_err()
        {
            return;
        }
    }
    let _ = inputs.send(Input::Left(id)).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::unix::OwnedReadHalf;

    use super::*;
    use crate::protocol::{Choice, GateKind, Stream};
    use tokio::net::UnixStream;

    const WAIT: Duration = Duration::from_secs(20);

    struct Rig {
        _dir: tempfile::TempDir,
        socket: PathBuf,
        engine: mpsc::Sender<Event>,
        commands: mpsc::Receiver<Command>,
        view: Shared,
        /// `--listen`: where, and the token.
        tcp: Option<(std::net::SocketAddr, String)>,
    }

    fn rig(headless: bool) -> Rig {
        rig_on(headless, None)
    }

    fn rig_on(headless: bool, listen: Option<&str>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(SOCKET);
        let (engine, events) = mpsc::channel(1024);
        let (cmd_tx, commands) = mpsc::channel(16);
        let hello = rig_hello();
        let bound = bind(Options {
            socket: socket.clone(),
            hello,
            host: "box".into(),
            headless,
            group: None,
            reach: vec![],
            listen: listen.map(str::to_string),
        })
        .unwrap();
        let tcp = bound.listening().map(|(a, t)| (a, t.to_string()));
        let mut view = start(bound, events, cmd_tx);
        tokio::spawn(std::mem::replace(&mut view.task, Box::pin(async {})));
        Rig {
            _dir: dir,
            socket,
            engine,
            commands,
            view,
            tcp,
        }
    }

    fn rig_hello() -> Hello {
        Hello {
            run_id: "r1".into(),
            runbook_path: "/x/rb.yaml".into(),
            runbook: "name: rb\n".into(),
            digest: "d".into(),
            vars: [("env".to_string(), "prod".to_string())].into(),
            driver: "dee@box".into(),
            you: String::new(),
            theme: "dark".into(),
        }
    }

    struct Client {
        lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
        write: tokio::net::unix::OwnedWriteHalf,
    }

    impl Client {
        async fn connect(socket: &std::path::Path) -> (Client, Hello) {
            let s = UnixStream::connect(socket).await.unwrap();
            let (r, write) = s.into_split();
            let mut c = Client {
                lines: BufReader::new(r).lines(),
                write,
            };
            match c.next().await {
                ToFollower::Hello(h) => (c, h),
                other => panic!("no hello first: {other:?}"),
            }
        }

        async fn next(&mut self) -> ToFollower {
            let l = tokio::time::timeout(WAIT, self.lines.next_line())
                .await
                .expect("a line in time")
                .unwrap()
                .expect("the socket open");
            serde_json::from_str(&l).unwrap()
        }

        /// The next event that `pick` takes, skipping others.
        async fn until<T>(&mut self, pick: impl Fn(Event) -> Option<T>) -> T {
            loop {
                if let ToFollower::Event { event } = self.next().await
                    && let Some(t) = pick(event)
                {
                    return t;
                }
            }
        }

        async fn say(&mut self, raw: &str) {
            self.write.write_all(raw.as_bytes()).await.unwrap();
            self.write.write_all(b"\n").await.unwrap();
        }
    }

    async fn command(rx: &mut mpsc::Receiver<Command>, pick: impl Fn(&Command) -> bool) -> Command {
        loop {
            let c = tokio::time::timeout(WAIT, rx.recv())
                .await
                .expect("a command in time")
                .expect("the channel open");
            if pick(&c) {
                return c;
            }
        }
    }

    async fn view_event<T>(rx: &mut mpsc::Receiver<Event>, pick: impl Fn(Event) -> Option<T>) -> T {
        loop {
            let e = tokio::time::timeout(WAIT, rx.recv())
                .await
                .expect("an event in time")
                .expect("the channel open");
            if let Some(t) = pick(e) {
                return t;
            }
        }
    }

    fn gate(id: &str) -> Event {
        Event::GateReached(GateRequest {
            id: id.into(),
            kind: GateKind::Phase,
            title: String::new(),
            message: None,
            destructive: false,
            confirm: None,
            commands: vec![],
            checklist: vec![],
            choices: vec![Choice::Approve, Choice::Reject],
            production: false,
            error: None,
            follow: None,
            approvals: 1,
        })
    }

    fn decide_line(who: &str) -> String {
        format!(
            r#"{{"type":"decide","decision":{{"gate":"ship","choice":"approve","who":"{who}","via":"terminal","note":null,"typed":null}}}}"#
        )
    }

    /// The socket is the driver's alone; with a group, the group's too (0660), and the folders
    /// on the way searchable by the group, never readable.
    #[tokio::test]
    async fn the_socket_is_private_unless_a_group_shares_it() {
        let r = rig(false);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&r.socket), 0o600);
        drop(r);

        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("runs/r1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The user's own group: a group it may give its files.
        let gid = std::fs::metadata(dir.path()).unwrap().gid();
        let socket = run.join(SOCKET);
        let bound = bind(Options {
            socket: socket.clone(),
            hello: rig_hello(),
            host: "box".into(),
            headless: false,
            group: Some(gid),
            reach: vec![run.clone()],
            listen: None,
        })
        .unwrap();
        assert_eq!(mode(&socket), 0o660);
        assert_eq!(std::fs::metadata(&socket).unwrap().gid(), gid);
        assert_eq!(mode(&run), 0o710);
        drop(bound);
    }

    /// The wire's shapes: `{"type": …}` lines both ways.
    #[test]
    fn messages_are_json_lines_tagged_by_type() {
        assert_eq!(
            wire::line(&FromFollower::AskDrive),
            "{\"type\":\"ask_drive\"}\n"
        );
        assert_eq!(
            serde_json::from_str::<FromFollower>(r#"{"type":"answer_drive","accept":true}"#)
                .unwrap(),
            FromFollower::AnswerDrive { accept: true }
        );
        let ev = ToFollower::Event {
            event: Event::Watchers {
                names: vec!["ana@box".into()],
            },
        };
        let l = wire::line(&ev);
        assert_eq!(
            l,
            "{\"type\":\"event\",\"event\":{\"watchers\":{\"names\":[\"ana@box\"]}}}\n"
        );
        assert_eq!(serde_json::from_str::<ToFollower>(&l).unwrap(), ev);
    }

    /// A follower is who the socket says, whatever its decision claims: not at the keys its
    /// decision is refused (the engine never sees it); handed the keys, it reaches the engine
    /// stamped with the follower's name and `via: follower`.
    #[tokio::test]
    async fn a_follower_cannot_name_itself_nor_decide_without_the_keys() {
        let mut r = rig(false);
        // The test's own user follows: the same person as the driver, named as the driver is.
        let me = "dee@box".to_string();
        r.engine.send(gate("ship")).await.unwrap();
        let (mut c, hello) = Client::connect(&r.socket).await;
        assert_eq!(hello.you, me);
        assert_eq!(hello.driver, "dee@box");
        assert_eq!(hello.vars.get("env").map(String::as_str), Some("prod"));
        // The gate, sent before it joined.
        c.until(|e| matches!(e, Event::GateReached(_)).then_some(()))
            .await;
        // Joining is told to the engine and the driver's view.
        let names = command(&mut r.commands, |c| matches!(c, Command::Watching { .. })).await;
        assert_eq!(
            names,
            Command::Watching {
                names: vec![me.clone()]
            }
        );

        c.say(&decide_line("mallory@elsewhere")).await;
        let reason = c
            .until(|e| match e {
                Event::DecisionRefused { reason, .. } => Some(reason),
                _ => None,
            })
            .await;
        assert_eq!(reason, "dee@box is at the keys (D asks to drive)");

        // Asked, the driver's view accepts; the engine is told who drives.
        c.say(r#"{"type":"ask_drive"}"#).await;
        let asked = view_event(&mut r.view.events, |e| match e {
            Event::DriveRequested { who } => Some(who),
            _ => None,
        })
        .await;
        assert_eq!(asked, me);
        r.view
            .commands
            .send(Command::AnswerDrive {
                who: asked,
                accept: true,
            })
            .await
            .unwrap();
        let drive = command(&mut r.commands, |c| matches!(c, Command::Drive { .. })).await;
        assert_eq!(drive, Command::Drive { who: me.clone() });
        c.until(|e| (e == Event::Keys { held: true }).then_some(()))
            .await;
        view_event(&mut r.view.events, |e| {
            (e == Event::Keys { held: false }).then_some(())
        })
        .await;

        c.say(&decide_line("mallory@elsewhere")).await;
        let Command::Decide(d) =
            command(&mut r.commands, |c| matches!(c, Command::Decide(_))).await
        else {
            unreachable!()
        };
        assert_eq!(
            (d.who.as_str(), d.via.as_str()),
            (me.as_str(), VIA_FOLLOWER)
        );

        // The driver's own view is refused now, and gets the keys back when the follower goes.
        r.view
            .commands
            .send(Command::Decide(Decision {
                gate: "ship".into(),
                choice: Choice::Reject,
                who: "dee@box".into(),
                via: "interface".into(),
                note: None,
                typed: None,
                checklist: vec![],
            }))
            .await
            .unwrap();
        let reason = view_event(&mut r.view.events, |e| match e {
            Event::DecisionRefused { reason, .. } => Some(reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, format!("{me} is at the keys (D asks to drive)"));
        drop(c);
        let back = command(&mut r.commands, |c| matches!(c, Command::Drive { .. })).await;
        assert_eq!(
            back,
            Command::Drive {
                who: "dee@box".into()
            }
        );
        view_event(&mut r.view.events, |e| {
            (e == Event::Keys { held: true }).then_some(())
        })
        .await;
    }

    /// The driver, having handed the keys over, asks for them back the same way: the follower
    /// at the keys is asked and accepts; a refusal is told to the one who asked.
    #[tokio::test]
    async fn the_driver_asks_back_and_the_follower_at_the_keys_answers() {
        let mut r = rig(false);
        let (mut c, hello) = Client::connect(&r.socket).await;
        c.say(r#"{"type":"ask_drive"}"#).await;
        let asked = view_event(&mut r.view.events, |e| match e {
            Event::DriveRequested { who } => Some(who),
            _ => None,
        })
        .await;
        r.view
            .commands
            .send(Command::AnswerDrive {
                who: asked,
                accept: true,
            })
            .await
            .unwrap();
        c.until(|e| (e == Event::Keys { held: true }).then_some(()))
            .await;
        // Asked back: refused first, then accepted.
        for accept in [false, true] {
            r.view.commands.send(Command::AskDrive).await.unwrap();
            let who = c
                .until(|e| match e {
                    Event::DriveRequested { who } => Some(who),
                    _ => None,
                })
                .await;
            assert_eq!(who, "dee@box");
            c.say(&format!(r#"{{"type":"answer_drive","accept":{accept}}}"#))
                .await;
            if !accept {
                let note = view_event(&mut r.view.events, |e| match e {
                    Event::Note(n) => Some(n),
                    _ => None,
                })
                .await;
                assert_eq!(note, format!("{} kept the keys", hello.you));
            }
        }
        let drives: Vec<Command> = [
            command(&mut r.commands, |c| matches!(c, Command::Drive { .. })).await,
            command(&mut r.commands, |c| matches!(c, Command::Drive { .. })).await,
        ]
        .into();
        assert_eq!(
            drives,
            vec![
                Command::Drive {
                    who: hello.you.clone()
                },
                Command::Drive {
                    who: "dee@box".into()
                }
            ]
        );
        view_event(&mut r.view.events, |e| {
            (e == Event::Keys { held: true }).then_some(())
        })
        .await;
    }

    /// A headless driver never hands the keys over, and says so.
    #[tokio::test]
    async fn a_headless_driver_refuses_handover() {
        let mut r = rig(true);
        let (mut c, _) = Client::connect(&r.socket).await;
        c.say(r#"{"type":"ask_drive"}"#).await;
        let note = c
            .until(|e| match e {
                Event::Note(n) => Some(n),
                _ => None,
            })
            .await;
        assert_eq!(
            note,
            "the driver runs headless: the keys cannot be handed over"
        );
        r.engine.send(Event::Note("after".into())).await.unwrap();
        // Nothing but the watchers reached the engine.
        let c2 = command(&mut r.commands, |_| true).await;
        assert!(matches!(c2, Command::Watching { .. }), "{c2:?}");
        assert!(r.commands.try_recv().is_err());
    }

    /// A follower that does not read never holds the driver back: the view gets every event
    /// at once; the follower, once it reads, is told it fell behind and is sent the whole run
    /// again, each line once and in order, then what follows live.
    #[tokio::test]
    async fn a_follower_too_slow_is_sent_the_state_again_and_never_slows_the_driver() {
        let mut r = rig(false);
        let (mut c, _) = Client::connect(&r.socket).await;
        let n = QUEUE * 4;
        let line = "x".repeat(200);
        let out = move |i: usize| Event::Output {
            step: "s".into(),
            stream: Stream::Stdout,
            text: format!("{i} {line}\n").into(),
        };
        let view = &mut r.view.events;
        let engine = r.engine.clone();
        let feed = tokio::spawn(async move {
            for i in 0..n {
                engine.send(out(i)).await.unwrap();
            }
            engine.send(Event::Note("last".into())).await.unwrap();
        });
        // The driver's view gets all of them while the follower reads nothing.
        let mut seen = 0;
        loop {
            let e = tokio::time::timeout(WAIT, view.recv())
                .await
                .unwrap()
                .unwrap();
            match e {
                Event::Output { .. } => seen += 1,
                Event::Note(n) if n == "last" => break,
                _ => {}
            }
        }
        assert_eq!(seen, n);
        feed.await.unwrap();
        // Now the follower reads: a `resent`, then every line from the first, once, in order.
        let mut since_resent: Vec<usize> = Vec::new();
        let mut resent = 0;
        loop {
            match c.next().await {
                ToFollower::Event {
                    event: Event::Resent,
                } => {
                    resent += 1;
                    since_resent.clear();
                }
                ToFollower::Event {
                    event: Event::Output { text, .. },
                } => since_resent.push(text.split(' ').next().unwrap().parse().unwrap()),
                ToFollower::Event {
                    event: Event::Note(n),
                } if n == "last" => break,
                _ => {}
            }
        }
        assert!(resent >= 1, "the follower was never told it fell behind");
        assert_eq!(since_resent, (0..n).collect::<Vec<_>>());
    }

    /// A TCP peer (`--listen`): its first line as given, then what it reads, line by line.
    async fn tcp_peer(
        at: std::net::SocketAddr,
        first: &str,
    ) -> (
        tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
        tokio::net::tcp::OwnedWriteHalf,
    ) {
        let s = tokio::net::TcpStream::connect(at).await.unwrap();
        let (r, mut w) = s.into_split();
        w.write_all(first.as_bytes()).await.unwrap();
        w.write_all(b"\n").await.unwrap();
        (BufReader::new(r).lines(), w)
    }

    async fn tcp_next(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    ) -> Option<ToFollower> {
        let l = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()?;
        Some(serde_json::from_str(&l).unwrap())
    }

    /// `--listen`: a TCP peer without the token is told so and closed; with it, it is named
    /// `guest@IP` (nothing it says names it), sees the run, and only watches: its decision is
    /// refused and its ask to drive answered with a note, neither reaching the engine.
    #[tokio::test]
    async fn a_tcp_follower_needs_the_token_and_only_watches() {
        let mut r = rig_on(true, Some("127.0.0.1:0"));
        let (at, token) = r.tcp.clone().expect("listening");
        assert_eq!(at.ip().to_string(), "127.0.0.1");
        assert_eq!(token.len(), 64, "{token}");
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
        // A unix follower is unaffected: the socket is still served.
        let (_unix, _) = Client::connect(&r.socket).await;

        let wrong = format!(r#"{{"type":"token","token":"{}"}}"#, "0".repeat(64));
        let near = format!(r#"{{"type":"token","token":"{}"}}"#, &token[..63]);
        for first in [
            wrong.as_str(),
            near.as_str(),
            r#"{"type":"ask_drive"}"#,
            "hello",
        ] {
            let (mut lines, _w) = tcp_peer(at, first).await;
            match tcp_next(&mut lines).await {
                Some(ToFollower::Refused { reason }) => {
                    assert!(reason.contains("token"), "{reason}")
                }
                other => panic!("{first}: not refused: {other:?}"),
            }
            assert_eq!(tcp_next(&mut lines).await, None, "{first}: left open");
        }

        let first = format!(r#"{{"type":"token","token":"{token}"}}"#);
        let (mut lines, mut w) = tcp_peer(at, &first).await;
        match tcp_next(&mut lines).await {
            Some(ToFollower::Hello(h)) => {
                assert_eq!(h.you, "guest@127.0.0.1");
                assert_eq!(h.run_id, "r1");
            }
            other => panic!("no hello: {other:?}"),
        }
        let mut view = r.view.events;
        let names = view_event(&mut view, |e| match e {
            Event::Watchers { names } if names.len() == 2 => Some(names),
            _ => None,
        })
        .await;
        assert!(names.contains(&"guest@127.0.0.1".to_string()), "{names:?}");

        r.engine.send(gate("ship")).await.unwrap();
        loop {
            match tcp_next(&mut lines).await {
                Some(ToFollower::Event {
                    event: Event::GateReached(g),
                }) if g.id == "ship" => break,
                Some(_) => continue,
                None => panic!("closed before the gate"),
            }
        }
        let decide = format!("{}\n", decide_line("dee@box"));
        w.write_all(decide.as_bytes()).await.unwrap();
        let reason = loop {
            match tcp_next(&mut lines).await {
                Some(ToFollower::Event {
                    event: Event::DecisionRefused { gate, reason },
                }) if gate == "ship" => break reason,
                Some(_) => continue,
                None => panic!("closed before the refusal"),
            }
        };
        assert!(reason.contains("only watches"), "{reason}");
        w.write_all(wire::line(&FromFollower::AskDrive).as_bytes())
            .await
            .unwrap();
        let note = loop {
            match tcp_next(&mut lines).await {
                Some(ToFollower::Event {
                    event: Event::Note(n),
                }) if n.contains("only watches") => break n,
                Some(_) => continue,
                None => panic!("closed before the note"),
            }
        };
        assert!(note.contains("ssh"), "{note}");
        while let Ok(c) = r.commands.try_recv() {
            assert!(
                !matches!(c, Command::Decide(_) | Command::Drive { .. }),
                "a watcher's ask reached the engine: {c:?}"
            );
        }
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("abcd", "abc"));
        assert!(!same_token("", "abc"));
    }
}

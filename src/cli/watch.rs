//! `tollgate follow`: a run another terminal drives, shown in this one. The run's socket gives a
//! `hello`, everything so far and every event as it comes; the same interface shows them, with
//! its own layout, scroll, search and theme, read-only until the driver hands over the keys.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::mpsc;

use super::exit;
use super::interface;
use super::run::runtime;
use crate::engine::journal;
use crate::engine::variables::Vars;
use crate::protocol::{Command, Event};
use crate::runbook;
use crate::share::SOCKET;
use crate::share::wire::{self, FromFollower, Hello, ToFollower};
use crate::ui;

/// How long the `hello` may take.
const HELLO_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn follow(
    state_dir: &Path,
    run_id: Option<String>,
    socket: Option<PathBuf>,
    theme: Option<String>,
    scrollback: usize,
) -> i32 {
    let socket = match socket {
        Some(s) => s,
        None => match which(state_dir, run_id.as_deref()) {
            Ok(s) => s,
            Err(code) => return code,
        },
    };
    let rt = runtime();
    let code = rt.block_on(follow_at(state_dir, &socket, theme, scrollback));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// `tollgate follow --connect ADDR`: a run served with `--listen`, over TCP, watching only.
pub(super) fn follow_tcp(
    state_dir: &Path,
    addr: &str,
    theme: Option<String>,
    scrollback: usize,
) -> i32 {
    let Ok(at) = addr.parse::<std::net::SocketAddr>() else {
        eprintln!("tollgate: --connect {addr}: not an address (IP:PORT)");
        return exit::USAGE;
    };
    let token = match std::env::var("TOLLGATE_FOLLOW_TOKEN") {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            use std::io::IsTerminal;
            if !std::io::stdin().is_terminal() {
                eprintln!(
                    "tollgate: --connect {addr}: no token (set TOLLGATE_FOLLOW_TOKEN to the one the driver was shown)"
                );
                return exit::USAGE;
            }
            eprint!("token for {addr}: ");
            match crate::headless::read_hidden() {
                Some(t) if !t.trim().is_empty() => t.trim().to_string(),
                _ => {
                    eprintln!("tollgate: --connect {addr}: no token given");
                    return exit::USAGE;
                }
            }
        }
    };
    let rt = runtime();
    let code = rt.block_on(async {
        let stream = match TcpStream::connect(at).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tollgate: cannot follow the run at {addr}: {e}");
                return exit::STATE;
            }
        };
        let (read, mut write) = stream.into_split();
        let first = wire::line(&FromFollower::Token { token });
        if let Err(e) = write.write_all(first.as_bytes()).await {
            eprintln!("tollgate: cannot follow the run at {addr}: {e}");
            return exit::STATE;
        }
        follow_on(
            state_dir,
            addr,
            Box::new(read),
            Box::new(write),
            theme,
            scrollback,
        )
        .await
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The socket of the run to follow: the one named, else the only one there is.
fn which(state_dir: &Path, run_id: Option<&str>) -> Result<PathBuf, i32> {
    if let Some(id) = run_id {
        if id.is_empty() || safe_name(id) != id {
            eprintln!("tollgate: `{id}` is not a run id (letters, digits, - and _)");
            return Err(exit::USAGE);
        }
        let p = socket_of(state_dir, id);
        if !p.exists() {
            eprintln!(
                "tollgate: run `{id}` cannot be followed: no one is running it now (no {})",
                p.display()
            );
            return Err(exit::STATE);
        }
        return Ok(p);
    }
    let live = followable(state_dir);
    match live.as_slice() {
        [] => {
            eprintln!(
                "tollgate: no run to follow in {} (a run can be followed while it runs)",
                state_dir.display()
            );
            Err(exit::STATE)
        }
        [(_, p)] => Ok(p.clone()),
        many => {
            eprintln!("tollgate: several runs can be followed; name one:");
            for (id, _) in many {
                eprintln!("  tollgate follow {id}");
            }
            Err(exit::USAGE)
        }
    }
}

fn socket_of(state_dir: &Path, run_id: &str) -> PathBuf {
    journal::journal_path(state_dir, run_id)
        .parent()
        .map_or_else(|| PathBuf::from(SOCKET), |d| d.join(SOCKET))
}

/// Runs whose socket is there (removed when a run ends), newest first.
pub(super) fn followable(state_dir: &Path) -> Vec<(String, PathBuf)> {
    use std::os::unix::fs::FileTypeExt;
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(state_dir.join("runs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().into_string().ok()?;
            let p = e.path().join(SOCKET);
            let socket = std::fs::symlink_metadata(&p).ok()?.file_type().is_socket();
            socket.then_some((id, p))
        })
        .collect();
    out.sort();
    out.reverse();
    out
}

async fn follow_at(
    state_dir: &Path,
    socket: &Path,
    theme: Option<String>,
    scrollback: usize,
) -> i32 {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "tollgate: cannot follow the run at {}: {e} (its driver has gone?)",
                socket.display()
            );
            return exit::STATE;
        }
    };
    let (read, write) = stream.into_split();
    let at = socket.display().to_string();
    follow_on(
        state_dir,
        &at,
        Box::new(read),
        Box::new(write),
        theme,
        scrollback,
    )
    .await
}

/// Follows the run at the other end of `read` and `write` (`at` names it in messages): its
/// `hello`, then its events in the interface, and the follower's asks out.
async fn follow_on(
    state_dir: &Path,
    at: &str,
    read: Box<dyn AsyncRead + Send + Unpin>,
    mut write: Box<dyn AsyncWrite + Send + Unpin>,
    theme: Option<String>,
    scrollback: usize,
) -> i32 {
    let mut lines = BufReader::new(read).lines();
    let hello = match tokio::time::timeout(HELLO_WAIT, lines.next_line()).await {
        Ok(Ok(Some(l))) => match serde_json::from_str::<ToFollower>(&l) {
            Ok(ToFollower::Hello(h)) => h,
            Ok(ToFollower::Refused { reason }) => {
                eprintln!("tollgate: the run at {at} refused to be followed: {reason}");
                return exit::STATE;
            }
            _ => {
                eprintln!("tollgate: {at} did not say hello as a run does");
                return exit::STATE;
            }
        },
        Ok(Ok(None)) | Ok(Err(_)) => {
            eprintln!("tollgate: the run at {at} closed at once");
            return exit::STATE;
        }
        Err(_) => {
            eprintln!(
                "tollgate: the run at {at} said nothing for {}s",
                HELLO_WAIT.as_secs()
            );
            return exit::STATE;
        }
    };
    let theme = match interface::theme(theme.as_deref().unwrap_or(&hello.theme)) {
        Ok(t) => t,
        // The driver's theme may be one of the driver's own files: the default then.
        Err(_) if theme.is_none() => match interface::theme("dark") {
            Ok(t) => t,
            Err(e) => {
                eprintln!("tollgate: {e}");
                return exit::USAGE;
            }
        },
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::USAGE;
        }
    };
    let config = config_of(state_dir, &hello, theme, scrollback);

    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(16);
    // The run's events in, until the driver's process ends.
    let reader = tokio::spawn(async move {
        let mut ended = false;
        while let Ok(Some(l)) = lines.next_line().await {
            let Ok(ToFollower::Event { event }) = serde_json::from_str::<ToFollower>(&l) else {
                continue;
            };
            match &event {
                Event::RunFinished { .. } | Event::RunPaused { .. } => ended = true,
                Event::RunStarted { .. } | Event::Resent => ended = false,
                _ => {}
            }
            if ev_tx.send(event).await.is_err() {
                return;
            }
        }
        // The socket closes when the run ends, or when the driver's tollgate does.
        let why = if ended {
            "following stopped: the run has ended (q quits)"
        } else {
            "following stopped: the driver's tollgate ended (q quits)"
        };
        let _ = ev_tx.send(Event::Note(why.into())).await;
        if !ended {
            let _ = ev_tx
                .send(Event::RunPaused {
                    reason: "the driver's tollgate ended".into(),
                })
                .await;
        }
    });
    // The follower's asks out: a decision, to drive, an answer, the keys back.
    let writer = tokio::spawn(async move {
        while let Some(c) = cmd_rx.recv().await {
            let msg = match c {
                Command::Decide(decision) => FromFollower::Decide { decision },
                Command::AskDrive => FromFollower::AskDrive,
                Command::AnswerDrive { accept, .. } => FromFollower::AnswerDrive { accept },
                Command::Release => FromFollower::Release,
                // A follower never aborts nor pauses another's run.
                _ => continue,
            };
            if write.write_all(wire::line(&msg).as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let channels = ui::Channels {
        events: ev_rx,
        commands: cmd_tx,
    };
    let shown = interface::show(config, channels, None, None, None).await;
    reader.abort();
    writer.abort();
    match shown {
        Ok(_) => exit::OK,
        Err(e) => {
            eprintln!("tollgate: the interface failed: {e}");
            exit::FAILED
        }
    }
}

/// The interface for a followed run: the runbook from the driver's text (read from its path
/// when that is the same file, which keeps its includes), its variables, the follower's name.
fn config_of(
    state_dir: &Path,
    hello: &Hello,
    theme: ui::theme::Theme,
    scrollback: usize,
) -> ui::Config {
    let path = PathBuf::from(&hello.runbook_path);
    let loaded = runbook::load(&path)
        .ok()
        .filter(|l| l.digest == hello.digest)
        .or_else(|| {
            // Another user's runbook: its text, written where this user keeps runs.
            let dir = state_dir.join("follow");
            let copy = dir.join(format!("{}.yaml", safe_name(&hello.run_id)));
            journal::create_private_dir(&dir).ok()?;
            journal::write_private(&copy, &hello.runbook).ok()?;
            runbook::load(&copy).ok()
        });
    let runbook = loaded.map(|l| l.runbook).unwrap_or_default();
    let mut vars = Vars::default();
    for (k, v) in &hello.vars {
        vars.set(k, v.clone(), false);
    }
    vars.set("run_id", hello.run_id.clone(), false);
    ui::Config {
        scrollback: scrollback.max(100),
        vars,
        follower: true,
        driver: Some(hello.driver.clone()),
        ..ui::Config::new(
            std::sync::Arc::new(runbook),
            hello.run_id.clone(),
            hello.you.clone(),
            theme,
        )
    }
}

/// A run id as a file name: letters, digits, `-` and `_` only.
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

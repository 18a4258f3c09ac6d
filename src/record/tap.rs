//! The record tap: the engine's events on their way to the views (first after the engine, in
//! `cli/run.rs` `start_engine`), forwarded unchanged and in order, and a copy of each handed to
//! a writer thread that keeps the steps' output in the run's folder ([`super::output::Keeper`])
//! and writes the event stream for `--events`. The disk is kept off the events' path: the copies
//! are handed over in batches (all the events ready at once, up to 256 KiB of output; one wake-up
//! of the writer per batch), at most [`QUEUE`] batches waiting; no event is dropped (a writer
//! slower than the step's output holds the step back, as a slow view does, rather than grow
//! memory). Output waits in the keeper and is written, and what was kept flushed, when a step
//! starts and ends, at a gate, a prompt, a pause and the run's end, so a reader then finds all
//! of it, and at least every [`output::WRITE_WITHIN`] between (the writer wakes for that with
//! no event).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use serde::Serialize;
use tokio::sync::mpsc;

use super::output::{self, Keeper};
use crate::protocol::Event;

/// How many events the tap passes on ahead of the next stage.
pub const AHEAD: usize = 16;

/// How many batches of events may wait for the writer.
pub const QUEUE: usize = 2;

/// Where `--events` writes: a file, or standard output (`-`). One for the whole command, so that
/// a run that follows a failed one appends to the same stream.
#[derive(Clone)]
pub struct EventsOut {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    stdout: bool,
}

impl std::fmt::Debug for EventsOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.stdout {
            "EventsOut(-)"
        } else {
            "EventsOut(file)"
        })
    }
}

impl EventsOut {
    /// `-` is standard output; any other path a file made (or emptied) owner-only.
    pub fn open(path: &Path) -> io::Result<EventsOut> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path.as_os_str() == "-" {
            return Ok(EventsOut {
                out: Arc::new(Mutex::new(Box::new(io::stdout()))),
                stdout: true,
            });
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        if f.metadata()?.is_file() {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(EventsOut {
            out: Arc::new(Mutex::new(Box::new(f))),
            stdout: false,
        })
    }

    /// Whether the stream goes to standard output.
    pub fn is_stdout(&self) -> bool {
        self.stdout
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| io::Error::other("the events stream failed earlier"))?;
        out.write_all(bytes)?;
        out.flush()
    }
}

/// One line of the event stream: when the tap saw the event, and the event as serde writes it.
#[derive(Serialize)]
struct Line<'a> {
    at: String,
    event: &'a Event,
}

/// What a run records beside its journal.
pub struct Recorder {
    /// The run's folder (`STATE/runs/ID`): its output is kept in `output/` there.
    pub run_dir: PathBuf,
    /// `--events`.
    pub events: Option<EventsOut>,
}

type Stamped = (Event, Option<chrono::DateTime<chrono::Utc>>);

impl Recorder {
    /// Wraps the engine's event channel: every event reaches the returned receiver unchanged and
    /// in order, and is recorded (a note added when recording fails, once). The tap is the
    /// returned future, for the caller to spawn; it ends when the events
    /// have ended and everything was written and flushed.
    pub fn tap(
        self,
        mut engine: mpsc::Receiver<Event>,
    ) -> (mpsc::Receiver<Event>, BoxFuture<'static, ()>) {
        // Small, so the engine's channel stays the one that fills: a step's output pump reads on
        // only while few chunks wait there, and a tap that took them all into a larger channel
        // would let memory grow with a slow view.
        let (next_tx, next_rx) = mpsc::channel(AHEAD);
        let (write_tx, write_rx) = mpsc::channel::<Vec<Stamped>>(QUEUE);
        let (problem_tx, mut problem_rx) = mpsc::unbounded_channel::<String>();
        let stamp = self.events.is_some();
        let run_dir = self.run_dir;
        let events = self.events;
        let writer =
            tokio::task::spawn_blocking(move || write(&run_dir, events, write_rx, problem_tx));
        let tap = Box::pin(async move {
            let mut write_tx = Some(write_tx);
            // Events for the writer, handed over a batch at a time: when no more are ready, at
            // a point where what was kept must be readable, or when the batch is large. One
            // wake-up of the writer per batch, not per event.
            let mut batch: Vec<Stamped> = Vec::new();
            let mut bytes = 0;
            loop {
                let ev = match engine.try_recv() {
                    Ok(ev) => ev,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        hand_over(&mut write_tx, &mut batch, &mut bytes).await;
                        match engine.recv().await {
                            Some(ev) => ev,
                            None => break,
                        }
                    }
                };
                if write_tx.is_some() && (stamp || kept(&ev)) {
                    let at = stamp.then(chrono::Utc::now);
                    if let Event::Output { text, .. } = &ev {
                        bytes += text.len();
                    }
                    let now = flush_point(&ev);
                    batch.push((ev.clone(), at));
                    if now || bytes >= BATCH_BYTES {
                        hand_over(&mut write_tx, &mut batch, &mut bytes).await;
                    }
                }
                while let Ok(p) = problem_rx.try_recv() {
                    if next_tx.send(Event::Note(p)).await.is_err() {
                        break;
                    }
                }
                if next_tx.send(ev).await.is_err() {
                    // The view is gone: the engine sees its channel close, as without the tap.
                    break;
                }
            }
            hand_over(&mut write_tx, &mut batch, &mut bytes).await;
            drop(write_tx);
            let _ = writer.await;
        });
        (next_rx, tap)
    }
}

/// Output bytes that make a batch large enough to hand over at once.
const BATCH_BYTES: usize = 256 << 10;

/// Gives the writer the batch (none when the writer stopped on an error: it said why).
async fn hand_over(
    write_tx: &mut Option<mpsc::Sender<Vec<Stamped>>>,
    batch: &mut Vec<Stamped>,
    bytes: &mut usize,
) {
    if batch.is_empty() {
        return;
    }
    let full = std::mem::take(batch);
    *bytes = 0;
    if let Some(tx) = write_tx.as_ref()
        && tx.send(full).await.is_err()
    {
        *write_tx = None;
    }
}

/// Where what was kept must be readable: a step's start and end, a gate, a prompt, the run's
/// pause or end.
fn flush_point(ev: &Event) -> bool {
    matches!(
        ev,
        Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::GateReached(_)
            | Event::ValueRequested(_)
            | Event::RunPaused { .. }
            | Event::RunFinished { .. }
    )
}

/// Whether the keeper needs to see an event: output, where attempts start, and where what was
/// kept is made readable.
fn kept(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Output { .. }
            | Event::StepStarted { .. }
            | Event::StepFinished { .. }
            | Event::GateReached(_)
            | Event::ValueRequested(_)
            | Event::RunPaused { .. }
            | Event::RunFinished { .. }
    )
}

/// `op` on the keeper, if output is still kept; when it fails, the view is told once and output
/// is no longer kept.
fn keep(
    keeper: &mut Option<Keeper>,
    problems: &mpsc::UnboundedSender<String>,
    shown: &Path,
    op: impl FnOnce(&mut Keeper) -> io::Result<()>,
) {
    if let Some(k) = keeper.as_mut()
        && let Err(e) = op(k)
    {
        let _ = problems.send(format!(
            "output is no longer kept in {}: {e}",
            shown.display()
        ));
        *keeper = None;
    }
}

/// The writer thread: keeps output and writes the event stream until the tap closes the queue.
fn write(
    run_dir: &Path,
    events: Option<EventsOut>,
    mut queue: mpsc::Receiver<Vec<Stamped>>,
    problems: mpsc::UnboundedSender<String>,
) {
    let shown = output::dir(run_dir);
    let mut keeper = match Keeper::new(run_dir) {
        Ok(k) => Some(k),
        Err(e) => {
            let _ = problems.send(format!("output is not kept in {}: {e}", shown.display()));
            None
        }
    };
    let mut events = events;
    let mut batch: Vec<u8> = Vec::with_capacity(64 << 10);
    let runtime = tokio::runtime::Handle::current();
    loop {
        // Output that has waited long enough is written (see `output`'s page), also when no
        // event comes to wake the writer.
        let due = keeper.as_ref().and_then(Keeper::due);
        if due.is_some_and(|due| due <= Instant::now()) {
            keep(&mut keeper, &problems, &shown, Keeper::flush);
            continue;
        }
        let next = match due {
            None => queue.blocking_recv(),
            Some(due) => {
                let wait = due.saturating_duration_since(Instant::now());
                match runtime.block_on(tokio::time::timeout(wait, queue.recv())) {
                    Ok(next) => next,
                    Err(_) => continue,
                }
            }
        };
        let Some(events_batch) = next else {
            break;
        };
        let last = events_batch.len();
        for (i, (ev, at)) in events_batch.into_iter().enumerate() {
            keep(&mut keeper, &problems, &shown, |k| match &ev {
                Event::Output { step, stream, text } => k.lines(step, *stream, text.clone()),
                Event::StepStarted { step, attempt, .. } => {
                    k.attempt(step, *attempt).and_then(|()| k.flush())
                }
                Event::StepFinished { .. }
                | Event::GateReached(_)
                | Event::ValueRequested(_)
                | Event::RunPaused { .. }
                | Event::RunFinished { .. } => k.flush(),
                _ => Ok(()),
            });
            if let (Some(out), Some(at)) = (events.as_ref(), at) {
                let line = Line {
                    at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    event: &ev,
                };
                let mut done = serde_json::to_writer(&mut batch, &line).map_err(io::Error::other);
                batch.push(b'\n');
                // Written (and flushed) when no event waits, or the batch is large.
                if done.is_ok() && ((i + 1 == last && queue.is_empty()) || batch.len() >= 64 << 10)
                {
                    done = out.write(&batch);
                    batch.clear();
                }
                if let Err(e) = done {
                    let _ = problems.send(format!("the events stream stopped: {e}"));
                    events = None;
                }
            }
        }
    }
    if let Some(k) = keeper.as_mut()
        && let Err(e) = k.flush()
    {
        tracing::warn!("output not kept in {}: {e}", shown.display());
    }
    if let Some(out) = events
        && !batch.is_empty()
        && let Err(e) = out.write(&batch)
    {
        tracing::warn!("the events stream stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Stream;

    /// Output that came after the last flush point is written within [`output::WRITE_WITHIN`]
    /// though no other event comes to wake the writer (a step printing, then quiet for long).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn output_is_written_within_its_wait_with_no_event_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (tx, rx) = mpsc::channel(16);
        let recorder = Recorder {
            run_dir: dir.path().to_path_buf(),
            events: None,
        };
        let (mut view, tap) = recorder.tap(rx);
        let tap = tokio::spawn(tap);
        for ev in [
            Event::StepStarted {
                step: "s".into(),
                title: "s".into(),
                attempt: 1,
                attempts: 1,
                command: "echo".into(),
            },
            Event::Output {
                step: "s".into(),
                stream: Stream::Stdout,
                text: "printed\n".into(),
            },
        ] {
            tx.send(ev.clone()).await.expect("send");
            assert_eq!(view.recv().await, Some(ev));
        }
        let deadline = std::time::Instant::now() + output::WRITE_WITHIN * 10;
        loop {
            let kept = output::read(dir.path(), "s").expect("read");
            if kept
                .as_ref()
                .is_some_and(|k| k.lines.len() == 1 && k.lines[0].text == "printed")
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not written: {kept:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(tx);
        assert_eq!(view.recv().await, None);
        tap.await.expect("tap");
    }
}

//! What every step executor shares: the outcome of an attempt, the sink its output goes to, the
//! line writer native steps use, the context core each family's step wraps ([`StepIo`]), and the
//! one race of work against the step's deadline and the operator's abort ([`until_stop`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::protocol::{Event, Masker, OutputLine, Secret, Stream};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    /// Could not start, or broke while running.
    pub error: Option<String>,
    pub stdout: String,
    pub stdout_truncated: bool,
    /// What the step changed, journaled for undo (each family's `Change`, as JSON).
    pub changes: Vec<serde_json::Value>,
    /// Secret variables the step sets (`secrets.get`, `ecr.login`): the engine adds each value to the mask
    /// before anything else is shown, and journals only that it was set.
    pub secrets: Vec<(String, Secret)>,
}

impl Outcome {
    /// An attempt that could not be made, for this reason.
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            error: Some(error.into()),
            ..Outcome::default()
        }
    }
}

/// Where a running step's output goes: masked, in chunks of whole lines, as engine events.
#[derive(Clone)]
pub struct OutputSink {
    pub step: String,
    pub events: mpsc::Sender<Event>,
    pub masker: Masker,
    /// Hold stdout back (the step captures a secret from it): the engine shows it, masked,
    /// once the value is known.
    pub hold_stdout: bool,
    /// The last lines shown, masked: what the journal keeps of a failed step's output.
    pub last: LastLines,
}

/// The last [`LastLines::KEEP`] lines a step showed (masked as shown), each cut to
/// [`LastLines::WIDTH`] characters, shared by the sink's clones.
#[derive(Clone, Debug, Default)]
pub struct LastLines(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<OutputLine>>>);

impl LastLines {
    pub const KEEP: usize = 5;
    pub const WIDTH: usize = 500;

    /// Keeps the last lines of a chunk of whole lines.
    pub fn push(&self, stream: Stream, text: &str) {
        let Ok(mut last) = self.0.lock() else {
            return;
        };
        // From the end: a chunk may hold many lines, and only the last few matter.
        let mut lines: Vec<&str> = text.split_terminator('\n').rev().take(Self::KEEP).collect();
        lines.reverse();
        for line in lines {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if last.len() == Self::KEEP {
                last.pop_front();
            }
            let mut text: String = line.chars().take(Self::WIDTH).collect();
            if text.len() < line.len() {
                text.push('…');
            }
            last.push_back(OutputLine { stream, text });
        }
    }

    /// The lines kept, oldest first; none are kept after.
    pub fn take(&self) -> Vec<OutputLine> {
        self.0
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default()
    }
}

impl OutputSink {
    /// Sends whole lines of output, masked: one copy, into the event's shared text.
    pub async fn send(&self, stream: Stream, text: impl AsRef<str>) {
        if self.hold_stdout && stream == Stream::Stdout {
            return;
        }
        let text: std::sync::Arc<str> = std::sync::Arc::from(&*self.masker.mask(text.as_ref()));
        self.last.push(stream, &text);
        // A view that has gone away does not stop the step.
        let _ = self
            .events
            .send(Event::Output {
                step: self.step.clone(),
                stream,
                text,
            })
            .await;
    }
}

/// Keeps what a step printed, up to `keep` bytes, for `expect` and `capture`; says when it had to
/// stop keeping. Shell steps and native steps keep their output through this one rule. Bytes are
/// kept as they came (a line shown in pieces is kept whole), and stop at the first that do not fit.
#[derive(Default)]
pub struct Kept {
    keep: usize,
    text: Vec<u8>,
    truncated: bool,
}

impl Kept {
    pub fn new(keep: usize) -> Kept {
        Kept {
            keep,
            ..Kept::default()
        }
    }

    pub fn push(&mut self, text: &str) {
        self.push_bytes(text.as_bytes());
    }

    pub fn push_bytes(&mut self, bytes: &[u8]) {
        if self.keep == 0 || self.truncated || bytes.is_empty() {
            return;
        }
        if self.text.len() + bytes.len() <= self.keep {
            self.text.extend_from_slice(bytes);
        } else {
            self.truncated = true;
        }
    }

    /// What was kept, and whether some was not.
    pub fn finish(self) -> (String, bool) {
        let text = match String::from_utf8(self.text) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        (text, self.truncated)
    }
}

/// What a native step (kube, AWS, docker) writes: progress lines, shown only, and output lines,
/// shown and kept (up to `keep` bytes) for `expect` and `capture`.
pub struct Lines<'a> {
    pub sink: &'a OutputSink,
    kept: Kept,
}

impl<'a> Lines<'a> {
    pub fn new(sink: &'a OutputSink, keep: usize) -> Lines<'a> {
        Lines {
            sink,
            kept: Kept::new(keep),
        }
    }

    /// Shows a line of progress (not part of stdout).
    pub async fn say(&self, line: impl Into<String>) {
        let mut l = line.into();
        l.push('\n');
        self.sink.send(Stream::Stderr, l).await;
    }

    /// Writes a line of output: shown, and kept for `expect` and `capture`.
    pub async fn out(&mut self, line: impl Into<String>) {
        let mut l = line.into();
        l.push('\n');
        self.kept.push(&l);
        self.sink.send(Stream::Stdout, l).await;
    }

    /// Moves what was kept into `o`.
    pub fn finish(&mut self, o: &mut Outcome) {
        let (stdout, truncated) = std::mem::take(&mut self.kept).finish();
        o.stdout = stdout;
        o.stdout_truncated = truncated;
    }
}

/// The context core of a native step, which each family's step context wraps (and derefs to):
/// where its lines go, what it changed, and when its time runs out.
pub struct StepIo<'a> {
    pub lines: Lines<'a>,
    /// What the action changed, in order, as journaled.
    pub changes: Vec<serde_json::Value>,
    /// When the step's timeout (if any) runs out: long waits stop here and say why.
    pub deadline: Option<Instant>,
}

impl<'a> StepIo<'a> {
    pub fn new(sink: &'a OutputSink, keep: usize, timeout: Option<Duration>) -> StepIo<'a> {
        StepIo {
            lines: Lines::new(sink, keep),
            changes: Vec::new(),
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    /// Shows a line of progress (not part of stdout).
    pub async fn say(&self, line: impl Into<String>) {
        self.lines.say(line).await;
    }

    /// Writes a line of output: shown, and kept for `expect` and `capture`.
    pub async fn out(&mut self, line: impl Into<String>) {
        self.lines.out(line).await;
    }

    /// Says where the step's work is, in a few words (e.g. `canary 25 % · step 3/8`): the views
    /// show the newest beside the step; not output.
    pub async fn progress(&self, text: impl Into<String>) {
        let sink = self.lines.sink;
        let text = sink.masker.mask(&text.into()).into_owned();
        let _ = sink
            .events
            .send(Event::StepProgress {
                step: sink.step.clone(),
                text,
            })
            .await;
    }

    /// Records a change (journaled by the engine when the step ends, whatever its outcome).
    pub fn changed(&mut self, change: impl Serialize) {
        self.changes
            .push(serde_json::to_value(change).unwrap_or_default());
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Moves what was kept and changed into `o`.
    pub fn finish(&mut self, o: &mut Outcome) {
        self.lines.finish(o);
        o.changes = std::mem::take(&mut self.changes);
    }
}

/// Why work was stopped before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The deadline passed.
    Deadline,
    /// The operator aborted (or the view went away).
    Cancelled,
}

impl Stop {
    /// Marks `o` as timed out or cancelled.
    pub fn mark(self, o: &mut Outcome) {
        match self {
            Stop::Deadline => o.timed_out = true,
            Stop::Cancelled => o.cancelled = true,
        }
    }
}

/// Polls `work` until it finishes, `deadline` passes, or `cancel` turns true (only when
/// `cancellable`: work that stops itself cleanly on an abort watches `cancel` on its own). On a
/// stop, `work` is left unfinished: the caller drops it (native steps) or finishes it after
/// stopping what it waits for (a shell step's process group).
pub async fn until_stop<F: Future + Unpin>(
    work: &mut F,
    deadline: Option<Instant>,
    cancel: &mut watch::Receiver<bool>,
    cancellable: bool,
) -> Result<F::Output, Stop> {
    let passed = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(passed);
    loop {
        tokio::select! {
            done = &mut *work => return Ok(done),
            _ = &mut passed => return Err(Stop::Deadline),
            changed = cancel.changed(), if cancellable => {
                if changed.is_err() || *cancel.borrow() {
                    return Err(Stop::Cancelled);
                }
            }
        }
    }
}

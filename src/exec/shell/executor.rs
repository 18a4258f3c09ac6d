//! Shell steps: a script run by an interpreter in its own process group, output streamed in
//! chunks of whole lines, the whole group killed on timeout, abort, or when the step ends.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::watch;

use super::call::ShellCall;
use super::hold;
use super::readbuf::ReadBuf;
use crate::exec::job::{Executor, Job, JobCommon, Work};
use crate::exec::step::{BoxFuture, Kept, Outcome, OutputSink, until_stop};
use crate::protocol::Stream;

/// How long a group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// Read size; output is forwarded in chunks of whole lines of about this size.
const CHUNK: usize = 64 * 1024;
/// The longest line passed on whole to masking and the views; a longer one is shown in pieces
/// (kept whole for `expect` and `capture`).
pub const LINE_MAX: usize = 1024 * 1024;
/// Ends each piece of a line longer than [`LINE_MAX`] but the last.
pub const CONTINUED: char = '⏎';
/// Size asked for the stdout pipe.
const PIPE_SIZE: i32 = 1024 * 1024;
/// How many chunks may wait for the view before a pump stops reading.
const QUEUED: usize = 16;

#[derive(Default)]
pub struct Shell;

impl Executor for Shell {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match &job.work {
                Work::Shell(work) => run(&job.common, work, sink, cancel).await,
                _ => Outcome::failed("not a shell step"),
            }
        })
    }
}

fn signal_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill with a negative pid signals the process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

async fn run(
    job: &JobCommon,
    work: &ShellCall,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let interp: Vec<String> = if work.interpreter.is_empty() {
        super::DEFAULT_INTERPRETER
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        work.interpreter.clone()
    };
    let mut cmd = Command::new(&interp[0]);
    cmd.args(&interp[1..])
        .arg(&work.script)
        .current_dir(&job.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    match &job.environment {
        Some(env) => env.apply(&mut cmd, &job.env),
        None => {
            cmd.envs(job.env.iter().map(|(k, v)| (k, v)));
        }
    }
    // SAFETY: prctl is async-signal-safe; it makes the interpreter die with tollgate, so a
    // killed tollgate does not leave a step running unwatched.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    // Held until the engine has journaled it, so a resumed run knows what to look for.
    let mut keeper = None;
    let spawned = match &job.started {
        Some(report) => hold::spawn(cmd, report.clone()).await.map(|(c, k)| {
            keeper = Some(k);
            c
        }),
        None => cmd.spawn(),
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                error: Some(format!("cannot start `{}`: {e}", interp[0])),
                ..Outcome::default()
            };
        }
    };
    let pgid = child.id().map_or(0, |p| p as i32);
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    {
        use std::os::fd::AsRawFd;
        // A roomier pipe lets a fast producer run ahead in larger writes, so output is read in
        // fewer, larger chunks. Best effort: the kernel may cap or refuse it.
        // SAFETY: fcntl on a pipe descriptor we own.
        unsafe {
            libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
        }
    }
    let keep = job.keep_stdout;
    let out_task = pump(stdout, Stream::Stdout, sink.clone(), keep);
    let err_task = pump(stderr, Stream::Stderr, sink.clone(), 0);
    let readers = async { tokio::join!(out_task, err_task) };
    tokio::pin!(readers);

    let mut outcome = Outcome::default();
    let deadline = job.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut kept: Option<(String, bool)> = None;
    let status = {
        // The process ends, its output read as it comes (kept when the readers finish first).
        let ended = async {
            loop {
                tokio::select! {
                    status = child.wait() => break status,
                    r = &mut readers, if kept.is_none() => { kept = Some(r.0); }
                }
            }
        };
        tokio::pin!(ended);
        match until_stop(&mut ended, deadline, &mut cancel, true).await {
            Ok(status) => status,
            Err(stop) => {
                stop.mark(&mut outcome);
                // SIGTERM to the group, then SIGKILL if it has not gone after the grace period.
                signal_group(pgid, libc::SIGTERM);
                match tokio::time::timeout(GRACE, &mut ended).await {
                    Ok(status) => status,
                    Err(_) => {
                        signal_group(pgid, libc::SIGKILL);
                        ended.await
                    }
                }
            }
        }
    };
    // Whatever the step left behind in its group goes with it.
    signal_group(pgid, libc::SIGKILL);
    if kept.is_none() {
        // A descendant that escaped the group could hold the pipes open; do not wait forever.
        kept = tokio::time::timeout(GRACE, &mut readers)
            .await
            .ok()
            .map(|r| r.0);
    }
    drop(keeper);
    let (stdout, truncated) = kept.unwrap_or_default();
    outcome.stdout = stdout;
    outcome.stdout_truncated = truncated;
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            outcome.exit_code = s.code();
            outcome.signal = s.signal();
        }
        Err(e) => outcome.error = Some(format!("waiting for the step: {e}")),
    }
    outcome
}

/// Forwards a pipe in chunks of whole lines; returns what it kept of it (up to `keep` bytes).
/// A line longer than [`LINE_MAX`] is shown in pieces of at most that size, each but the last
/// ending in [`CONTINUED`]; no piece ends inside a secret, and what is kept is the line whole.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    sink: OutputSink,
    keep: usize,
) -> (String, bool) {
    let mut buf = ReadBuf::with_capacity(CHUNK * 2);
    let mut kept = Kept::new(keep);
    let text = |bytes: &[u8]| -> String {
        // The strict check is much faster on valid (the usual) input; both give the same text.
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    };
    // How much of a long line must be in hand past a cut, so a secret across it is seen whole.
    let ahead = sink.masker.longest();
    loop {
        // Read on only while the view is at most QUEUED chunks behind. The event channel is
        // bounded in events, not bytes: a view slower than the step (a big output to a file,
        // a slow terminal) would otherwise let its whole capacity of chunks pile up, and
        // memory grow with the output. Held back here, the step blocks on its full pipe, as
        // it does when the channel is full. The permits are only counted, and dropped at once.
        let room = sink.events.max_capacity().saturating_sub(QUEUED);
        if room > 0 && sink.events.capacity() < room {
            let _ = sink.events.reserve_many(room).await;
        }
        let start = buf.len();
        // Into the buffer's spare room, not zeroed first: at most CHUNK bytes.
        buf.reserve(CHUNK);
        let n = pipe
            .read_buf(&mut bytes::BufMut::limit(buf.spare(), CHUNK))
            .await
            .unwrap_or_default();
        kept.push_bytes(&buf[start..]);
        if n == 0 {
            if !buf.is_empty() {
                kept.push_bytes(b"\n");
                buf.push(b'\n');
                // What is left has no line end but the one just added: a long line's last
                // pieces, cut as the line ends here.
                let mut end = buf.len() - 1;
                while end > LINE_MAX {
                    let cut = piece_end(&buf, LINE_MAX, &sink.masker);
                    sink.send(stream, continued(text(&buf[..cut]))).await;
                    buf.consume(cut);
                    end = buf.len() - 1;
                }
                sink.send(stream, text(&buf)).await;
            }
            return kept.finish();
        }
        // The carried part has no line end: only the new bytes can hold one, and only a line
        // begun in the carried part can be longer than a read.
        let mut first = None;
        if buf.len() > LINE_MAX {
            first = buf[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| start + i);
            loop {
                let end = first.unwrap_or(buf.len());
                if end <= LINE_MAX || (first.is_none() && buf.len() < LINE_MAX + ahead) {
                    break;
                }
                let cut = piece_end(&buf[..end], LINE_MAX, &sink.masker);
                sink.send(stream, continued(text(&buf[..cut]))).await;
                buf.consume(cut);
                first = first.map(|f| f - cut);
            }
            if first.is_none() {
                continue;
            }
        }
        let from = if first.is_some() {
            0
        } else {
            start.min(buf.len())
        };
        let Some(last) = buf[from..].iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let cut = from + last + 1;
        match std::str::from_utf8(&buf[..cut]) {
            Ok(chunk) => sink.send(stream, chunk).await,
            Err(_) => {
                sink.send(stream, String::from_utf8_lossy(&buf[..cut]))
                    .await
            }
        }
        buf.consume(cut);
    }
}

/// Where the piece of an over-long line at the start of `line` ends: at `at` or before, on a
/// character boundary, not inside a secret.
fn piece_end(line: &[u8], at: usize, masker: &crate::protocol::Masker) -> usize {
    let mut cut = masker.cut_at(line, at).clamp(1, line.len());
    // Back to the start of a UTF-8 character (at most three continuation bytes).
    let floor = cut.saturating_sub(3).max(1);
    while cut > floor && cut < line.len() && (line[cut] & 0xc0) == 0x80 {
        cut -= 1;
    }
    cut
}

/// A piece of a line that goes on in the next one: marked so.
fn continued(mut piece: String) -> String {
    piece.push(CONTINUED);
    piece.push('\n');
    piece
}

//! Each step's output, masked as it was shown, kept in the run's folder: `RUN/output/STEP.out`
//! (and, once that grows past half the step's bound, the older half in `STEP.old.out`).
//!
//! A file is a sequence of frames, each a JSON header line, some followed by text:
//! `{"o":LEN}` then LEN bytes of stdout (whole lines, each ending in `\n`), `{"e":LEN}` the same
//! of stderr, `{"attempt":N}` where attempt N of the step starts, `{"dropped":N}` how many of the
//! step's lines were not kept so far (the newest such header counts). The text is stored as it
//! came, not escaped: keeping costs a copy, not an encoding, on the way to the disk.
//!
//! Per step at most [`STEP_BYTES`], oldest dropped first and counted; a run at most
//! [`RUN_BYTES`], after which lines are counted, not kept.
//!
//! Output is written late: it waits in memory (the chunks the events already hold, not a copy)
//! until a step starts or ends, a gate or a prompt, the run's pause or end, or it has waited
//! [`WRITE_WITHIN`]. What a step's bound would drop before then is counted and never written, so
//! a step that prints far more than its bound costs the disk only what is kept.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::protocol::{OutputLine, Stream};

/// The most one step keeps (both segments).
pub const STEP_BYTES: u64 = 8 << 20;
/// The most one run keeps (all steps).
pub const RUN_BYTES: u64 = 256 << 20;
/// The longest output waits in memory before it is written.
pub const WRITE_WITHIN: Duration = Duration::from_secs(1);

/// A frame's header line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Head {
    #[serde(rename = "o")]
    Out(u64),
    #[serde(rename = "e")]
    Err(u64),
    #[serde(rename = "attempt")]
    Attempt(u32),
    #[serde(rename = "dropped")]
    Dropped(u64),
}

impl Head {
    fn line(self) -> String {
        match self {
            Head::Out(n) => format!("{{\"o\":{n}}}\n"),
            Head::Err(n) => format!("{{\"e\":{n}}}\n"),
            Head::Attempt(n) => format!("{{\"attempt\":{n}}}\n"),
            Head::Dropped(n) => format!("{{\"dropped\":{n}}}\n"),
        }
    }
}

/// What a step's kept output holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    /// The lines kept, oldest first (without their line ends).
    pub lines: Vec<OutputLine>,
    /// How many older lines were dropped to keep within the bounds.
    pub dropped: u64,
    /// The attempts whose output is here, in order.
    pub attempts: Vec<u32>,
}

/// Text a step printed, as it was kept: whole lines of one stream, each ending in `\n`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub stream: Stream,
    pub text: String,
}

/// A step's kept output, attempt by attempt (for a resumed run's history).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attempts {
    /// How many of the step's lines were not kept.
    pub dropped: u64,
    /// Each attempt whose start or output is kept, in order: its number (`None` for output whose
    /// attempt's start was dropped with older lines) and its text.
    pub attempts: Vec<(Option<u32>, Vec<Chunk>)>,
}

/// The folder of a run's kept output.
pub fn dir(run_dir: &Path) -> PathBuf {
    run_dir.join("output")
}

fn current(run_dir: &Path, step: &str) -> PathBuf {
    dir(run_dir).join(format!("{}.out", file_name(step)))
}

fn older(run_dir: &Path, step: &str) -> PathBuf {
    dir(run_dir).join(format!("{}.old.out", file_name(step)))
}

/// A step id as a file name. Runbook ids are already safe (lowercase letters, digits, `-`, `_`,
/// `.`, not starting with `.`); anything else is spelled out byte by byte, so no id can name a
/// file outside the folder or another step's.
fn file_name(step: &str) -> String {
    let plain = step
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && step.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !step.ends_with(".old")
        && step.len() <= 200;
    if plain {
        return step.to_string();
    }
    let mut name = String::from("%");
    for b in step.bytes().take(100) {
        name.push_str(&format!("{b:02x}"));
    }
    name
}

/// Reads the frames of a step's files, older first, until the end or a frame cut short by a
/// crash; `false` when neither file exists.
fn frames(run_dir: &Path, step: &str, mut each: impl FnMut(Head, &[u8])) -> io::Result<bool> {
    let mut any = false;
    for path in [older(run_dir, step), current(run_dir, step)] {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        any = true;
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut text = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 || buf.last() != Some(&b'\n') {
                break;
            }
            // Not a header this module wrote: the rest cannot be framed, so it is not read.
            let Ok(head) = serde_json::from_slice::<Head>(&buf) else {
                break;
            };
            text.clear();
            if let Head::Out(n) | Head::Err(n) = head {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > (STEP_BYTES as usize) * 2 {
                    break;
                }
                (&mut reader).take(n as u64).read_to_end(&mut text)?;
                if text.len() < n {
                    break;
                }
            }
            each(head, &text);
        }
    }
    Ok(any)
}

/// A step's kept output, `None` when nothing was kept for it (a run from before output was
/// kept, or a step that never started). A frame cut short by a crash is ignored.
pub fn read(run_dir: &Path, step: &str) -> io::Result<Option<Kept>> {
    let mut kept = Kept::default();
    let any = frames(run_dir, step, |head, text| match head {
        Head::Out(_) | Head::Err(_) => {
            let stream = if matches!(head, Head::Out(_)) {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            for line in String::from_utf8_lossy(text).split_terminator('\n') {
                kept.lines.push(OutputLine {
                    stream,
                    text: line.to_string(),
                });
            }
        }
        Head::Attempt(n) => kept.attempts.push(n),
        Head::Dropped(n) => kept.dropped = n,
    })?;
    Ok(any.then_some(kept))
}

/// A step's kept output split where its attempts start, `None` when nothing was kept for it.
pub fn read_attempts(run_dir: &Path, step: &str) -> io::Result<Option<Attempts>> {
    let mut kept = Attempts::default();
    let any = frames(run_dir, step, |head, text| match head {
        Head::Out(_) | Head::Err(_) => {
            let stream = if matches!(head, Head::Out(_)) {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            if kept.attempts.is_empty() {
                kept.attempts.push((None, Vec::new()));
            }
            let chunks = &mut kept.attempts.last_mut().expect("pushed above").1;
            let text = String::from_utf8_lossy(text);
            match chunks.last_mut() {
                // Frames of one stream in a row are one chunk, up to a size a view takes in
                // one piece.
                Some(c) if c.stream == stream && c.text.len() + text.len() <= 1 << 20 => {
                    c.text.push_str(&text)
                }
                _ => chunks.push(Chunk {
                    stream,
                    text: text.into_owned(),
                }),
            }
        }
        Head::Attempt(n) => kept.attempts.push((Some(n), Vec::new())),
        Head::Dropped(n) => kept.dropped = n,
    })?;
    Ok(any.then_some(kept))
}

/// Writes steps' output into a run's folder. Buffered: [`Keeper::flush`] makes what was written
/// readable.
pub struct Keeper {
    run_dir: PathBuf,
    files: HashMap<String, StepFile>,
    /// Output not written yet, oldest first, of every step (in the order it came).
    pending: VecDeque<Pending>,
    /// Bytes of each step's output waiting in `pending`.
    pending_bytes: HashMap<String, u64>,
    /// When the oldest output waiting came.
    pending_since: Option<Instant>,
    /// Bytes in the run's output folder.
    total: u64,
    /// The bounds: [`STEP_BYTES`] and [`RUN_BYTES`] (smaller in tests).
    step_bytes: u64,
    run_bytes: u64,
}

/// Output waiting to be written: a chunk of whole lines, as the event carried it.
struct Pending {
    step: String,
    stream: Stream,
    text: Arc<str>,
}

impl Pending {
    /// The chunk's lines (a last line without its `\n` counts).
    fn lines(&self) -> u64 {
        let bytes = self.text.as_bytes();
        memchr::memchr_iter(b'\n', bytes).count() as u64 + u64::from(bytes.last() != Some(&b'\n'))
    }

    /// Its bytes in a file: the text (with a line end added if it had none) and a header.
    fn size(&self) -> u64 {
        self.text.len() as u64 + u64::from(!self.text.ends_with('\n')) + HEAD_BYTES
    }
}

/// Bytes of an output frame's header, at most (`{"o":` and 20 digits, `}` and `\n`).
const HEAD_BYTES: u64 = 27;

struct StepFile {
    out: BufWriter<File>,
    /// Bytes in the current segment.
    bytes: u64,
    /// Lines in the current segment.
    lines: u64,
    /// Lines not kept so far (dropped with an older segment, or past the run's bound).
    dropped: u64,
    /// The count of lines not kept that the files say.
    told: u64,
    /// Lines and bytes in the older segment.
    older_lines: u64,
    older_bytes: u64,
    /// Output waiting was dropped since the last write: what the files hold is older than
    /// lines already not kept, so it goes too when the waiting output is written.
    overtaken: bool,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl Keeper {
    /// Keeps output in `run_dir/output/` (made owner-only). A resumed run's earlier sessions'
    /// output counts against the run's bound.
    pub fn new(run_dir: &Path) -> io::Result<Keeper> {
        let out = dir(run_dir);
        // Owner-only (0700), as the run's folder is.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&out)?;
        let total = fs::read_dir(&out)?
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        Ok(Keeper {
            run_dir: run_dir.to_path_buf(),
            files: HashMap::new(),
            pending: VecDeque::new(),
            pending_bytes: HashMap::new(),
            pending_since: None,
            total,
            step_bytes: STEP_BYTES,
            run_bytes: RUN_BYTES,
        })
    }

    #[cfg(test)]
    fn bounded(mut self, step_bytes: u64, run_bytes: u64) -> Keeper {
        self.step_bytes = step_bytes;
        self.run_bytes = run_bytes;
        self
    }

    fn file(&mut self, step: &str) -> io::Result<&mut StepFile> {
        if !self.files.contains_key(step) {
            let path = current(&self.run_dir, step);
            // A resumed run appends to what the earlier sessions kept.
            let (bytes, lines, dropped) = counts(&path).unwrap_or_default();
            let (older_bytes, older_lines, _) =
                counts(&older(&self.run_dir, step)).unwrap_or_default();
            let f = StepFile {
                out: BufWriter::with_capacity(64 << 10, open_append(&path)?),
                bytes,
                lines,
                dropped,
                told: dropped,
                older_lines,
                older_bytes,
                overtaken: false,
            };
            self.files.insert(step.to_string(), f);
        }
        Ok(self.files.get_mut(step).expect("inserted above"))
    }

    /// Writes one frame: its header, then `text` (`lines` lines).
    fn frame(&mut self, step: &str, head: Head, text: &[u8], lines: u64) -> io::Result<()> {
        let head_line = head.line();
        let len = (head_line.len() + text.len()) as u64;
        let run_dir = self.run_dir.clone();
        let mut total = self.total;
        let (step_bytes, run_bytes) = (self.step_bytes, self.run_bytes);
        let f = self.file(step)?;
        if f.bytes + len > step_bytes / 2 && f.lines > 0 {
            // The current segment becomes the older one; the older one's lines are dropped.
            f.out.flush()?;
            f.dropped += f.older_lines;
            total -= f.older_bytes.min(total);
            fs::rename(current(&run_dir, step), older(&run_dir, step))?;
            f.older_lines = f.lines;
            f.older_bytes = f.bytes;
            f.out = BufWriter::with_capacity(64 << 10, open_append(&current(&run_dir, step))?);
            f.bytes = 0;
            f.lines = 0;
            if f.dropped > 0 {
                let d = Head::Dropped(f.dropped).line();
                f.out.write_all(d.as_bytes())?;
                f.bytes += d.len() as u64;
                total += d.len() as u64;
                f.told = f.dropped;
            }
        }
        if total + len > run_bytes {
            f.dropped += lines;
            self.total = total;
            return Ok(());
        }
        f.out.write_all(head_line.as_bytes())?;
        f.out.write_all(text)?;
        f.bytes += len;
        f.lines += lines;
        self.total = total + len;
        Ok(())
    }

    /// Attempt `attempt` of `step` starts (after the output that came before it).
    pub fn attempt(&mut self, step: &str, attempt: u32) -> io::Result<()> {
        self.write_pending()?;
        self.frame(step, Head::Attempt(attempt), &[], 0)
    }

    /// Lines of `step`'s output (each ending in `\n`, as [`crate::protocol::Event::Output`]
    /// carries them; a last line without one gets one). They wait to be written (see the
    /// module's page); the step's oldest waiting output past its bound is dropped and counted.
    pub fn lines(
        &mut self,
        step: &str,
        stream: Stream,
        text: impl Into<Arc<str>>,
    ) -> io::Result<()> {
        let text = text.into();
        if text.is_empty() {
            return Ok(());
        }
        let chunk = Pending {
            step: step.to_string(),
            stream,
            text,
        };
        let size = chunk.size();
        if !self.pending_bytes.contains_key(step) {
            self.pending_bytes.insert(step.to_string(), 0);
        }
        let waiting = self.pending_bytes.get_mut(step).expect("inserted above");
        *waiting += size;
        // What waits is written into the step's segments, which hold half its bound each: of
        // more than one segment's worth, the oldest would be dropped as soon as it was written.
        let mut over = waiting.saturating_sub(self.step_bytes / 2);
        self.pending.push_back(chunk);
        self.pending_since.get_or_insert_with(Instant::now);
        // More than that is waiting: the step's oldest is dropped now, unwritten.
        while over > 0 {
            let Some(at) = self.pending.iter().position(|p| p.step == step) else {
                break;
            };
            if at + 1 == self.pending.len() {
                // Its newest is kept, whatever its size: the files' own bound applies to it.
                break;
            }
            let old = self.pending.remove(at).expect("found above");
            let size = old.size();
            let lines = old.lines();
            let f = self.file(step)?;
            f.dropped += lines;
            f.overtaken = true;
            if let Some(b) = self.pending_bytes.get_mut(step) {
                *b -= size;
            }
            over = over.saturating_sub(size);
        }
        // Many steps' output waiting at once (steps running side by side): written now.
        let all: u64 = self.pending_bytes.values().sum();
        if all > self.step_bytes.saturating_mul(4) {
            self.write_pending()?;
        }
        Ok(())
    }

    /// When the output waiting should be written ([`WRITE_WITHIN`] after the oldest came),
    /// `None` when none waits.
    pub fn due(&self) -> Option<Instant> {
        self.pending_since.map(|t| t + WRITE_WITHIN)
    }

    /// Writes the output waiting, in the order it came. A step that dropped some of it first
    /// drops what its files hold (older still), so that what is kept is always its newest lines.
    fn write_pending(&mut self) -> io::Result<()> {
        self.pending_since = None;
        self.pending_bytes.clear();
        for (step, f) in &mut self.files {
            if !std::mem::take(&mut f.overtaken) {
                continue;
            }
            f.out.flush()?;
            f.dropped += f.lines + f.older_lines;
            self.total = self.total.saturating_sub(f.bytes + f.older_bytes);
            match fs::remove_file(older(&self.run_dir, step)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            // Appended to from its new end.
            f.out.get_ref().set_len(0)?;
            f.bytes = 0;
            f.lines = 0;
            f.older_lines = 0;
            f.older_bytes = 0;
            f.told = 0;
        }
        while let Some(chunk) = self.pending.pop_front() {
            let bytes = chunk.text.as_bytes();
            let lines = chunk.lines();
            let owned;
            let bytes = if bytes.last() == Some(&b'\n') {
                bytes
            } else {
                owned = [bytes, b"\n"].concat();
                &owned[..]
            };
            let head = match chunk.stream {
                Stream::Stdout => Head::Out(bytes.len() as u64),
                Stream::Stderr => Head::Err(bytes.len() as u64),
            };
            self.frame(&chunk.step, head, bytes, lines)?;
        }
        Ok(())
    }

    /// Writes the output waiting and makes everything so far readable by [`read`], with the
    /// count of lines not kept.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        for f in self.files.values_mut() {
            if f.dropped != f.told {
                let d = Head::Dropped(f.dropped).line();
                f.out.write_all(d.as_bytes())?;
                f.bytes += d.len() as u64;
                self.total += d.len() as u64;
                f.told = f.dropped;
            }
            f.out.flush()?;
        }
        Ok(())
    }
}

/// Bytes of whole frames, output lines and the count of lines not kept of a segment. A frame
/// cut short by a crash is cut off the file, so that what is appended after it reads.
fn counts(path: &Path) -> io::Result<(u64, u64, u64)> {
    let mut all = Vec::new();
    File::open(path)?.read_to_end(&mut all)?;
    let mut lines = 0;
    let mut dropped = 0;
    let mut at = 0;
    while let Some(end) = all[at..].iter().position(|&b| b == b'\n') {
        let Ok(head) = serde_json::from_slice::<Head>(&all[at..at + end]) else {
            break;
        };
        let mut next = at + end + 1;
        match head {
            Head::Out(n) | Head::Err(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if all.len() - next < n {
                    break;
                }
                lines += all[next..next + n].iter().filter(|&&b| b == b'\n').count() as u64;
                next += n;
            }
            Head::Dropped(n) => dropped = n,
            Head::Attempt(_) => {}
        }
        at = next;
    }
    if at < all.len() {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(at as u64)?;
    }
    Ok((at as u64, lines, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_lines_read_back_and_the_oldest_are_dropped_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut k = Keeper::new(dir.path()).expect("keeper");
        k.attempt("build", 1).expect("attempt");
        k.lines("build", Stream::Stdout, "one\ntwo\n")
            .expect("lines");
        k.lines("build", Stream::Stderr, "oops\n").expect("lines");
        k.flush().expect("flush");
        let kept = read(dir.path(), "build").expect("read").expect("kept");
        assert_eq!(kept.attempts, vec![1]);
        assert_eq!(kept.dropped, 0);
        let texts: Vec<&str> = kept.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "oops"]);
        assert_eq!(kept.lines[2].stream, Stream::Stderr);
        assert_eq!(read(dir.path(), "other").expect("read"), None);

        // Far past the step's bound: what is kept stays within it, ends with the newest line,
        // and counts every line it dropped.
        let line = "x".repeat(1000);
        let n = (STEP_BYTES / 1000) * 3;
        for i in 0..n {
            k.lines("big", Stream::Stdout, format!("{i} {line}\n"))
                .expect("lines");
        }
        k.flush().expect("flush");
        let kept = read(dir.path(), "big").expect("read").expect("kept");
        let on_disk: u64 = [older(dir.path(), "big"), current(dir.path(), "big")]
            .iter()
            .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        assert!(on_disk <= STEP_BYTES, "{on_disk} bytes kept");
        assert_eq!(kept.dropped + kept.lines.len() as u64, n);
        assert!(
            kept.lines
                .last()
                .expect("a line")
                .text
                .starts_with(&format!("{} ", n - 1))
        );
        // The other step's output is untouched by this one's bound.
        let build = read(dir.path(), "build").expect("read").expect("kept");
        assert_eq!(build.lines.len(), 3);
    }

    #[test]
    fn a_run_past_its_bound_counts_the_lines_it_no_longer_keeps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut k = Keeper::new(dir.path())
            .expect("keeper")
            .bounded(1 << 20, 5000);
        // Each call a frame of 110 bytes (its 10-byte header and the line).
        let line = format!("{}\n", "y".repeat(99));
        for step in ["a", "b", "c"] {
            k.attempt(step, 1).expect("attempt");
            for _ in 0..40 {
                k.lines(step, Stream::Stdout, line.as_str()).expect("lines");
            }
        }
        k.flush().expect("flush");
        let on_disk: u64 = fs::read_dir(super::dir(dir.path()))
            .expect("dir")
            .flatten()
            .map(|e| e.metadata().expect("meta").len())
            .sum();
        // Within the run's bound, but for the lines that say how many were dropped.
        assert!(on_disk <= 5000 + 2 * 15, "{on_disk} bytes kept");
        let counts = |step| {
            let kept = read(dir.path(), step).expect("read").expect("kept");
            (kept.lines.len() as u64, kept.dropped)
        };
        assert_eq!(counts("a"), (40, 0));
        assert_eq!(counts("b"), (5, 35));
        assert_eq!(counts("c"), (0, 40));
    }

    #[test]
    fn a_frame_cut_short_by_a_crash_is_ignored_and_what_a_resumed_run_appends_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut k = Keeper::new(dir.path()).expect("keeper");
        k.attempt("s", 1).expect("attempt");
        k.lines("s", Stream::Stdout, "before\n").expect("lines");
        k.flush().expect("flush");
        drop(k);
        // The crash: a frame's header and half its text.
        let mut f = open_append(&current(dir.path(), "s")).expect("open");
        f.write_all(b"{\"o\":100}\nhalf a li").expect("write");
        drop(f);
        let kept = read(dir.path(), "s").expect("read").expect("kept");
        assert_eq!(kept.lines.len(), 1);

        let mut k = Keeper::new(dir.path()).expect("keeper");
        k.attempt("s", 2).expect("attempt");
        k.lines("s", Stream::Stderr, "after\nno end")
            .expect("lines");
        k.flush().expect("flush");
        let kept = read(dir.path(), "s").expect("read").expect("kept");
        let texts: Vec<&str> = kept.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["before", "after", "no end"]);
        assert_eq!(kept.attempts, [1, 2]);
        let parts = read_attempts(dir.path(), "s").expect("read").expect("kept");
        assert_eq!(parts.attempts.len(), 2);
        assert_eq!(parts.attempts[1].0, Some(2));
        assert_eq!(parts.attempts[1].1[0].text, "after\nno end\n");
    }

    /// Output waits until a flush point: nothing of it is on disk before, and of a step that
    /// printed far past its bound meanwhile only what is kept is ever written; every line not
    /// kept is counted, and a later attempt's start comes after the earlier attempt's output.
    #[test]
    fn waiting_output_is_written_at_a_flush_point_and_only_what_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut k = Keeper::new(dir.path())
            .expect("keeper")
            .bounded(4000, 1 << 20);
        k.attempt("s", 1).expect("attempt");
        k.lines("s", Stream::Stdout, "early\n").expect("lines");
        k.flush().expect("flush");
        assert_eq!(k.due(), None);
        let on_disk = || fs::metadata(current(dir.path(), "s")).map_or(0, |m| m.len());
        let before = on_disk();
        // 100 lines of 100 bytes: 10,000 bytes, 2.5 times the step's bound.
        for i in 0..100 {
            k.lines("s", Stream::Stdout, format!("{i:>99}\n"))
                .expect("lines");
        }
        assert!(k.due().is_some());
        assert_eq!(on_disk(), before, "written before a flush point");
        k.attempt("s", 2).expect("attempt");
        k.lines("s", Stream::Stderr, "second\n").expect("lines");
        k.flush().expect("flush");
        assert_eq!(k.due(), None);
        let kept = read(dir.path(), "s").expect("read").expect("kept");
        // At most half the bound waited (a segment's worth): the rest was never written.
        let first: Vec<&str> = kept.lines[..kept.lines.len() - 1]
            .iter()
            .map(|l| l.text.trim_start())
            .collect();
        assert!(!first.is_empty() && first.len() < 20, "{first:?}");
        assert_eq!(first.last(), Some(&"99"));
        // The line written before is older than those dropped: it went with them, so what is
        // kept is the newest lines, in one run.
        assert!(kept.lines.iter().all(|l| l.text != "early"));
        assert_eq!(kept.dropped + kept.lines.len() as u64, 102);
        assert_eq!(kept.attempts, [2]);
        let parts = read_attempts(dir.path(), "s").expect("read").expect("kept");
        assert_eq!(parts.attempts[0].0, None);
        assert_eq!(parts.attempts[1].0, Some(2));
        assert_eq!(parts.attempts[1].1[0].text, "second\n");
        let older = fs::metadata(older(dir.path(), "s")).map_or(0, |m| m.len());
        assert!(
            on_disk() + older <= 4000,
            "{} bytes kept",
            on_disk() + older
        );
    }

    #[test]
    fn step_ids_that_are_not_plain_names_stay_in_the_folder() {
        assert_eq!(file_name("deploy-web_1.2"), "deploy-web_1.2");
        for id in ["../x", "a/b", ".hidden", "", "x.old", "UP"] {
            let name = file_name(id);
            assert!(name.starts_with('%') && !name.contains('/'), "{id}: {name}");
        }
        assert_ne!(file_name("x.old"), file_name("x"));
    }
}

//! The headless view: plain, timestamped, line-prefixed output, and gates answered from the
//! terminal or from `--approve` flags. Only another consumer of the engine's events.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};

use tokio::sync::mpsc;

use crate::protocol::approvals::VIA_SCRIPT;
pub use crate::protocol::approvals::{Approvals, approval};
use crate::protocol::{
    Choice, Command, Deadline, Decision, Event, GateKind, GateRequest, Secret, StepStatus, Stream,
    ValueRequest, short_duration,
};
use crate::text;

/// Writes events as lines: `HH:MM:SS.mmm <mark> <text>`; output lines as
/// `HH:MM:SS.mmm <step> | line` (stderr: `<step> ! line`). Colours are kept and every other
/// control sequence dropped ([`text::terminal_safe`]), in output and in every value printed,
/// unless `raw`.
pub struct Printer<W: Write> {
    out: io::BufWriter<W>,
    /// Pass output on as it is (`--raw-output`).
    raw: bool,
    /// The terminal modes raw output turned on, to turn off at the end.
    modes: Modes,
    /// A rehearsal against stand-ins: every line's prefix says `REHEARSAL`.
    rehearsal: bool,
    /// The run's deadline, once the run has started, and how much of it has been told.
    deadline: Option<(Deadline, chrono::DateTime<chrono::Utc>)>,
    deadline_told: DeadlineTold,
    /// The runbook the failure path led to (`on_failure: {runbook: NAME}`), once it did.
    follow: Option<String>,
    /// The recording (`--record`), marked at each gate.
    cast: Option<crate::record::cast::Cast>,
    /// The buffer output lines are built in, kept from chunk to chunk: a fresh one each time
    /// costs an allocation and its page faults.
    scratch: Vec<u8>,
}

/// What the headless view has said of the deadline so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum DeadlineTold {
    #[default]
    Nothing,
    /// `deadline: 48m left of 4h`: the last fifth began.
    LastFifth,
    /// `deadline passed (4h)`.
    Passed,
}

/// The word every line of a rehearsal carries after its time.
pub const REHEARSAL: &str = "REHEARSAL";

/// The DEC private modes raw output set (`ESC [ ? N h`) and reset (`… l`), as they stand.
#[derive(Default)]
struct Modes {
    /// Mode number and whether it is now away from its usual state.
    changed: Vec<(u32, bool)>,
    coloured: bool,
}

/// Modes a program may leave changed, and the state a terminal usually has them in: mouse
/// reporting, focus events, bracketed paste, the alternate screen and application keys off; the
/// cursor shown.
const USUAL_MODES: &[(u32, bool)] = &[
    (1, false),
    (9, false),
    (25, true),
    (47, false),
    (1000, false),
    (1001, false),
    (1002, false),
    (1003, false),
    (1004, false),
    (1005, false),
    (1006, false),
    (1015, false),
    (1047, false),
    (1049, false),
    (2004, false),
];

impl Modes {
    /// Notes the mode changes in raw output.
    fn scan(&mut self, text: &[u8]) {
        if text.contains(&b'\x1b') && text.windows(2).any(|w| w == b"\x1b[") {
            self.coloured = true;
        }
        let mut rest = text;
        while let Some(at) = rest.windows(3).position(|w| w == b"\x1b[?") {
            rest = &rest[at + 3..];
            let end = rest
                .iter()
                .position(|c| !(c.is_ascii_digit() || *c == b';'))
                .unwrap_or(rest.len());
            let on = match rest.get(end) {
                Some(b'h') => true,
                Some(b'l') => false,
                _ => continue,
            };
            for n in std::str::from_utf8(&rest[..end]).unwrap_or("").split(';') {
                let Ok(n) = n.parse::<u32>() else { continue };
                let Some((_, usual)) = USUAL_MODES.iter().find(|(m, _)| *m == n) else {
                    continue;
                };
                match self.changed.iter_mut().find(|(m, _)| *m == n) {
                    Some(m) => m.1 = on != *usual,
                    None => self.changed.push((n, on != *usual)),
                }
            }
        }
    }

    /// What puts the modes back, and the colours.
    fn restore(&self) -> String {
        let mut s = String::new();
        for (n, changed) in self.changed.iter().rev() {
            if *changed {
                let usual = USUAL_MODES.iter().any(|(m, u)| m == n && *u);
                s.push_str(&format!("\x1b[?{n}{}", if usual { 'h' } else { 'l' }));
            }
        }
        if self.coloured {
            s.push_str("\x1b[0m");
        }
        s
    }
}

/// The largest line buffer a printer keeps between chunks (a chunk of 64 KiB of short lines
/// makes some 200 KiB).
const SCRATCH_KEPT: usize = 1 << 20;

/// The prefix of a line is copied as a block of this size when it fits one.
const PREFIX_BLOCK: usize = 32;

/// Each line of `text` (whole lines: a final `\n` ends the last line rather than starting an
/// empty one, as `split_terminator`) after `prefix`, into `out` from its start (grown as
/// needed); how many bytes that is. With `check`, `None` when the text has a byte that a
/// terminal must not get as it is (as [`text::is_terminal_safe`] sees it), found in the same
/// pass that finds the line ends.
///
/// Steps can print millions of short lines, so this makes no call per line: one pass over the
/// text finds line ends (and bad bytes) 64 bytes at a time, as bit masks; a second copies the
/// lines, the prefix and short lines as fixed-size blocks whose spill-over the next copy
/// overwrites (the buffer has room past its end, cut off at the end). The buffer is reused as it
/// is: every byte up to the end is written before it is read, so it is not cleared.
fn prefixed(prefix: &[u8], text: &[u8], out: &mut Vec<u8>, check: bool) -> Option<usize> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let n = body.len();
    // The line ends, a mask per 64 bytes (the last block's short tail padded with spaces).
    let mut masks: Vec<u64> = Vec::with_capacity(n.div_ceil(64));
    let mut bad = false;
    let blocks = body.chunks_exact(64);
    let tail = blocks.remainder();
    for block in blocks {
        let (mask, b) = scan_block(block.try_into().expect("64 bytes"));
        masks.push(mask);
        bad |= b;
    }
    if !tail.is_empty() {
        let mut block = [b' '; 64];
        block[..tail.len()].copy_from_slice(tail);
        let (mask, b) = scan_block(&block);
        masks.push(mask);
        bad |= b;
    }
    if check && bad {
        return None;
    }
    let lines = 1 + masks.iter().map(|m| m.count_ones() as usize).sum::<usize>();
    let plen = prefix.len();
    let size = lines * plen + n + 1;
    if out.len() < size + PREFIX_BLOCK {
        out.resize(size + PREFIX_BLOCK, 0);
    }
    let block = (plen <= PREFIX_BLOCK).then(|| {
        let mut b = [0u8; PREFIX_BLOCK];
        b[..plen].copy_from_slice(prefix);
        b
    });
    let block = block.as_ref();
    let dst = out.as_mut_ptr();
    let (mut pos, mut start) = (0, 0);
    // SAFETY: `out` holds `size + PREFIX_BLOCK` bytes, and `size` is what the lines, their
    // prefixes and line ends take: each `put_line` writes within that (see there), and reads
    // the body's line and at most the body's own bytes.
    unsafe {
        for (k, &mask) in masks.iter().enumerate() {
            let mut hits = mask;
            while hits != 0 {
                let end = k * 64 + hits.trailing_zeros() as usize;
                pos = put_line(dst, pos, prefix, block, body, start, end);
                start = end + 1;
                hits &= hits - 1;
            }
        }
        pos = put_line(dst, pos, prefix, block, body, start, n);
    }
    debug_assert_eq!(pos, size);
    Some(size)
}

/// Writes the line of `body` from `start` to `end` (its `\n`, or the body's end) at `pos`,
/// after the prefix, and its `\n`; where the next line goes. The prefix (its block when it fits
/// one) and a short line are copied as fixed-size blocks: what spills past them the next copy
/// overwrites. Inlined into the loop, so that `pos` and `start` stay in registers; no bounds
/// checks, which were a third of the loop's instructions.
///
/// # Safety
///
/// `out` has room for this line, its prefix and `\n` from `pos`, and [`PREFIX_BLOCK`] bytes
/// more past them (the spill of a block: a block is at most that long); `start <= end <=
/// body.len()`.
#[inline(always)]
unsafe fn put_line(
    out: *mut u8,
    pos: usize,
    prefix: &[u8],
    block: Option<&[u8; PREFIX_BLOCK]>,
    body: &[u8],
    start: usize,
    end: usize,
) -> usize {
    const LINE_BLOCK: usize = 16;
    const { assert!(LINE_BLOCK <= PREFIX_BLOCK) };
    debug_assert!(start <= end && end <= body.len());
    // SAFETY: the caller's room; a block is copied whole only when it fits the spill room, and
    // the body is read within its length.
    unsafe {
        let at = out.add(pos);
        match block {
            Some(b) => std::ptr::copy_nonoverlapping(b.as_ptr(), at, PREFIX_BLOCK),
            None => std::ptr::copy_nonoverlapping(prefix.as_ptr(), at, prefix.len()),
        }
        let at = at.add(prefix.len());
        let len = end - start;
        let from = body.as_ptr().add(start);
        if len <= LINE_BLOCK && start + LINE_BLOCK <= body.len() {
            std::ptr::copy_nonoverlapping(from, at, LINE_BLOCK);
        } else {
            std::ptr::copy_nonoverlapping(from, at, len);
        }
        *at.add(len) = b'\n';
        pos + prefix.len() + len + 1
    }
}

/// The line ends of 64 bytes (bit i: byte i is `\n`), and whether one of them is a byte
/// [`text::is_terminal_safe`] turns away (a control but `\n` and `\t`, DEL, or `0xC2`).
#[cfg(target_arch = "x86_64")]
fn scan_block(block: &[u8; 64]) -> (u64, bool) {
    use std::arch::x86_64::{
        __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
    };
    // SAFETY: SSE2 is part of every x86_64 CPU; each load reads the 16 bytes of `part`, and
    // needs no alignment.
    unsafe {
        let newline = _mm_set1_epi8(b'\n' as i8);
        let tab = _mm_set1_epi8(b'\t' as i8);
        let last_control = _mm_set1_epi8(0x1f);
        let del = _mm_set1_epi8(0x7f);
        let c2 = _mm_set1_epi8(0xc2_u8 as i8);
        let mut mask = 0u64;
        let mut bad = _mm_setzero_si128();
        for (k, part) in block.chunks_exact(16).enumerate() {
            let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
            let is_newline = _mm_cmpeq_epi8(v, newline);
            mask |= u64::from(_mm_movemask_epi8(is_newline) as u16) << (16 * k);
            // A byte at most 0x1F: the smaller of it and 0x1F is itself.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);
            let allowed = _mm_or_si128(is_newline, _mm_cmpeq_epi8(v, tab));
            bad = _mm_or_si128(bad, _mm_andnot_si128(allowed, control));
            bad = _mm_or_si128(
                bad,
                _mm_or_si128(_mm_cmpeq_epi8(v, del), _mm_cmpeq_epi8(v, c2)),
            );
        }
        (mask, _mm_movemask_epi8(bad) != 0)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn scan_block(block: &[u8; 64]) -> (u64, bool) {
    scan_block_plain(block)
}

/// [`scan_block`] a byte at a time: where there is no vector version, and to test it against.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scan_block_plain(block: &[u8; 64]) -> (u64, bool) {
    let mut mask = 0u64;
    for (i, &c) in block.iter().enumerate() {
        mask |= u64::from(c == b'\n') << i;
    }
    (mask, !text::is_terminal_safe(block))
}

/// `step ID succeeded in 1.2s (exit 0): error`, as a step's end is said.
fn step_finished(
    step: &str,
    status: StepStatus,
    exit_code: Option<i32>,
    duration: std::time::Duration,
    error: Option<&str>,
) -> String {
    let mut text = format!(
        "step {step} {} in {:.1}s",
        status.word(),
        duration.as_secs_f64()
    );
    if let Some(c) = exit_code {
        text.push_str(&format!(" (exit {c})"));
    }
    if let Some(e) = error {
        text.push_str(&format!(": {e}"));
    }
    text
}

fn stamp() -> String {
    chrono::Local::now().format("%H:%M:%S%.3f").to_string()
}

impl<W: Write> Printer<W> {
    pub fn new(out: W) -> Self {
        Printer {
            out: io::BufWriter::with_capacity(64 * 1024, out),
            raw: false,
            modes: Modes::default(),
            rehearsal: false,
            deadline: None,
            deadline_told: DeadlineTold::Nothing,
            follow: None,
            cast: None,
            scratch: Vec::new(),
        }
    }

    /// Marks each gate in `cast`, the recording the output is written to (`--record`).
    pub fn recording(mut self, cast: Option<crate::record::cast::Cast>) -> Self {
        self.cast = cast;
        self
    }

    /// The runbook the run's failure path led to (its name in `links`), if it led to one.
    pub fn follow(&self) -> Option<&str> {
        self.follow.as_deref()
    }

    /// Says, once each, that the last fifth of the run's deadline has begun and that the
    /// deadline has passed, as of `now`. Blocks nothing: a deadline tells, it never stops a run.
    pub fn deadline_tick(&mut self, now: chrono::DateTime<chrono::Utc>) -> io::Result<()> {
        let Some((d, started)) = &self.deadline else {
            return Ok(());
        };
        if self.deadline_told == DeadlineTold::Passed {
            return Ok(());
        }
        let elapsed = now
            .signed_duration_since(*started)
            .to_std()
            .unwrap_or_default();
        let total = short_duration(d.duration());
        let (told, text) = match d.left(elapsed) {
            Err(_) => (DeadlineTold::Passed, format!("deadline passed ({total})")),
            Ok(left) if d.warning(elapsed) => (
                DeadlineTold::LastFifth,
                format!("deadline: {} left of {total}", short_duration(left)),
            ),
            Ok(_) => return Ok(()),
        };
        if told <= self.deadline_told {
            return Ok(());
        }
        self.deadline_told = told;
        self.line("!!", &text)
    }

    /// A rehearsal against stand-ins (`tollgate rehearse`): every line, events and output alike,
    /// starts `HH:MM:SS.mmm REHEARSAL …`, so no line of it reads as a real run's.
    pub fn rehearsal(mut self, rehearsal: bool) -> Self {
        self.rehearsal = rehearsal;
        self
    }

    /// The lines a rehearsal opens with, before the run's: where its sandbox cluster is and how
    /// to look at it with kubectl from another terminal, then each stand-in (`name`, address).
    pub fn rehearsal_opening(
        &mut self,
        cluster_url: &str,
        kubeconfig: &std::path::Path,
        standins: &[(&str, &str)],
    ) -> io::Result<()> {
        self.line(
            "==",
            &format!(
                "rehearsal: Kubernetes sandbox at {cluster_url}; export KUBECONFIG={}",
                kubeconfig.display()
            ),
        )?;
        for (name, addr) in standins {
            self.line("==", &format!("rehearsal: {name} stand-in at {addr}"))?;
        }
        self.out.flush()
    }

    /// The start of every line: the time, and `REHEARSAL` in a rehearsal.
    fn stamp(&self) -> String {
        if self.rehearsal {
            format!("{} {REHEARSAL}", stamp())
        } else {
            stamp()
        }
    }

    /// Output passed on as it is, escape sequences and all (`--raw-output`).
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// Puts back the terminal modes that raw output changed and left so (mouse reporting,
    /// bracketed paste, the alternate screen, a hidden cursor, …), and the colours.
    pub fn restore_terminal(&mut self) -> io::Result<()> {
        let restore = self.modes.restore();
        self.modes = Modes::default();
        if !restore.is_empty() {
            self.out.write_all(restore.as_bytes())?;
        }
        self.out.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn line(&mut self, mark: &str, text: &str) -> io::Result<()> {
        let text = if self.raw {
            Cow::Borrowed(text)
        } else {
            text::terminal_safe(text)
        };
        // Every line of a text that has several (a captured value, a long error) carries the
        // prefix: no line of a rehearsal's output reads as a real run's.
        let stamp = self.stamp();
        for l in text.split('\n') {
            writeln!(self.out, "{stamp} {mark} {l}")?;
        }
        Ok(())
    }

    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        self.shown(ev)?;
        if let (Some(cast), Event::GateReached(req)) = (&self.cast, ev) {
            // Marked once the gate's lines are out.
            self.out.flush()?;
            cast.marker(&format!("gate: {}", req.id));
        }
        Ok(())
    }

    fn shown(&mut self, ev: &Event) -> io::Result<()> {
        match ev {
            Event::Output { step, stream, text } => {
                if text.is_empty() {
                    return Ok(());
                }
                let step = if self.raw {
                    self.modes.scan(text.as_bytes());
                    Cow::Borrowed(step.as_str())
                } else {
                    text::terminal_safe(step)
                };
                let sep: &[u8] = if *stream == Stream::Stderr {
                    b" ! "
                } else {
                    b" | "
                };
                let mut prefix = self.stamp().into_bytes();
                prefix.push(b' ');
                prefix.extend_from_slice(step.as_bytes());
                prefix.extend_from_slice(sep);
                let mut out = std::mem::take(&mut self.scratch);
                // Raw output goes as it came; otherwise a chunk with a byte a terminal must not
                // get as it is (rare) is made safe first, and then needs no check.
                let size = match prefixed(&prefix, text.as_bytes(), &mut out, !self.raw) {
                    Some(size) => size,
                    None => {
                        let safe = text::terminal_safe(text);
                        if safe.is_empty() {
                            self.scratch = out;
                            return Ok(());
                        }
                        prefixed(&prefix, safe.as_bytes(), &mut out, false)
                            .expect("not checked")
                    }
                };
                let written = self.out.write_all(&out[..size]);
                // Kept for the next chunk, unless an unusually large one made it large.
                if out.capacity() <= SCRATCH_KEPT {
                    self.scratch = out;
                }
                written
            }
            Event::RunStarted {
                run_id,
                runbook,
                resumed,
                deadline,
            } => {
                let verb = if *resumed { "resumed" } else { "started" };
                self.line("==", &format!("run {run_id} {verb}: {runbook}"))?;
                // A start that cannot be read (a hand-edited journal) counts from now.
                self.deadline = deadline.clone().map(|d| {
                    let at = chrono::DateTime::parse_from_rfc3339(&d.started_at)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .unwrap_or_else(|_| chrono::Utc::now());
                    (d, at)
                });
                self.deadline_tick(chrono::Utc::now())
            }
            Event::PhaseStarted { phase, title } => {
                self.line("==", &format!("phase {phase}: {title}"))
            }
            Event::PhaseFinished { phase, status } => {
                self.line("==", &format!("phase {phase} {}", status.word()))
            }
            Event::GateReached(req) => {
                let what = match req.kind {
                    GateKind::Phase => "gate before phase",
                    GateKind::Step => "gate before step",
                    GateKind::Interrupted => "interrupted step",
                    GateKind::Failed => "failed step",
                    GateKind::RunbookChanged => "changed runbook",
                };
                let mut text = format!("{what} {}", req.id);
                if !req.title.is_empty() {
                    text.push_str(&format!(": {}", req.title));
                }
                if req.production {
                    text.push_str(" [PRODUCTION]");
                }
                if req.destructive {
                    text.push_str(" [DESTRUCTIVE]");
                }
                if req.approvals > 1 {
                    text.push_str(&format!(" [{} PEOPLE]", req.approvals));
                }
                self.line("??", &text)?;
                if let Some(m) = &req.message {
                    self.line("??", &format!("  {m}"))?;
                }
                if let Some(e) = &req.error {
                    self.line("??", &format!("  error: {e}"))?;
                }
                for item in &req.checklist {
                    self.line("??", &format!("  [ ] {}", item.text))?;
                }
                for c in req.commands.iter().filter(|c| !c.is_empty()) {
                    for l in c.lines() {
                        self.line("??", &format!("  $ {l}"))?;
                    }
                }
                Ok(())
            }
            Event::ValueRequested(req) => self.line(
                "??",
                &format!(
                    "step {} asks for a value, typed at a prompt and not shown: {} ({})",
                    req.step, req.prompt, req.purpose
                ),
            ),
            Event::GateDecided {
                gate,
                choice,
                who,
                via,
                ..
            } => self.line(
                "??",
                &format!("gate {gate}: {} by {who} via {via}", choice.word()),
            ),
            Event::DecisionRefused { gate, reason } => {
                self.line("??", &format!("decision for {gate} refused: {reason}"))
            }
            Event::ApprovalCounted {
                gate,
                who,
                via,
                have,
                need,
            } => self.line(
                "??",
                &format!(
                    "gate {gate}: approved by {who} via {via} ({have} of {need}); waiting for another person's approval (`tollgate follow`)"
                ),
            ),
            Event::StepStarted {
                step,
                title,
                attempt,
                attempts,
                command,
            } => {
                let of = if *attempts > 1 {
                    format!(" (attempt {attempt}/{attempts})")
                } else {
                    String::new()
                };
                self.line(">>", &format!("step {step}{of}: {title}"))?;
                for l in command.lines() {
                    self.line(">>", &format!("  $ {l}"))?;
                }
                Ok(())
            }
            Event::StepFinished {
                step,
                status,
                exit_code,
                duration,
                error,
            } => {
                let mark = if *status == StepStatus::Failed {
                    "!!"
                } else {
                    "<<"
                };
                let text = step_finished(step, *status, *exit_code, *duration, error.as_deref());
                self.line(mark, &text)
            }
            Event::RetryScheduled {
                step,
                next_attempt,
                delay,
            } => self.line(
                "..",
                &format!(
                    "step {step}: attempt {next_attempt} in {:.1}s",
                    delay.as_secs_f64()
                ),
            ),
            Event::VarCaptured { name, shown } => {
                self.line("..", &format!("captured {name} = {shown}"))
            }
            Event::Note(n) => self.line("..", n),
            Event::FollowRunbook { name, command } => {
                self.follow = Some(name.clone());
                self.line("..", &format!("follow the runbook `{name}`: {command}"))
            }
            Event::RunPaused { reason } => self.line("==", &format!("run paused: {reason}")),
            Event::RunFinished { status } => self.line("==", &format!("run {}", status.word())),
            Event::History(h) => self.history(h),
            // Headless printed the output when it ran; the summary says what each step did.
            Event::OutputNotKept { .. } => Ok(()),
            // The step prints its progress as lines too; the short form is for the interface.
            Event::StepProgress { .. } => Ok(()),
            Event::Watchers { names } if names.is_empty() => {
                self.line("..", "no one follows the run from another terminal now")
            }
            Event::Watchers { names } => {
                self.line("..", &format!("watching: {}", names.join(", ")))
            }
            Event::DriverChanged { who } => self.line("..", &format!("{who} is at the keys")),
            // A headless run is never handed over: the share tap refuses, and says so.
            Event::DriveRequested { .. } | Event::Keys { .. } | Event::Resent => Ok(()),
        }
    }

    /// A resumed run's earlier sessions in short: when the run started, then one line per step
    /// that finished, at the time it did, with how many lines its output kept (and, for a step
    /// that failed, its last few lines), not the output itself.
    fn history(&mut self, h: &crate::protocol::History) -> io::Result<()> {
        /// How many of a failed step's last lines are shown.
        const LAST: usize = 5;
        let finished = h
            .entries
            .iter()
            .filter(|p| matches!(p.event, Event::StepFinished { .. }))
            .count();
        self.line(
            "==",
            &format!(
                "before this session: run started {}, {finished} step{} finished",
                local_time(&h.started_at, "%Y-%m-%d %H:%M:%S"),
                if finished == 1 { "" } else { "s" }
            ),
        )?;
        // Each step's latest attempt: lines kept, lines not kept, the last few.
        let mut printed: std::collections::HashMap<&str, (u64, u64, VecDeque<&str>)> =
            Default::default();
        for p in &h.entries {
            match &p.event {
                Event::StepStarted { step, .. } => {
                    printed.insert(step, Default::default());
                }
                Event::Output { step, text, .. } => {
                    let e = printed.entry(step).or_default();
                    if let Some(n) = crate::protocol::not_kept_count(text) {
                        e.1 += n;
                        continue;
                    }
                    for l in text.lines() {
                        e.0 += 1;
                        if e.2.len() == LAST {
                            e.2.pop_front();
                        }
                        e.2.push_back(l);
                    }
                }
                Event::StepFinished {
                    step,
                    status,
                    exit_code,
                    duration,
                    error,
                } => {
                    let text = format!(
                        "earlier, at {}: {}",
                        local_time(&p.at, "%H:%M:%S"),
                        step_finished(step, *status, *exit_code, *duration, error.as_deref())
                    );
                    self.line("==", &text)?;
                    if let Some(out) = printed.remove(step.as_str()) {
                        self.kept_summary(step, "", &out, *status == StepStatus::Failed)?;
                    }
                }
                _ => {}
            }
        }
        // Steps that were running when the earlier session stopped.
        let mut open: Vec<_> = printed.into_iter().collect();
        open.sort_by_key(|(s, _)| *s);
        for (step, out) in open {
            self.kept_summary(step, " (interrupted)", &out, true)?;
        }
        Ok(())
    }

    /// How much of an earlier attempt's output was kept; its last lines when `last`.
    fn kept_summary(
        &mut self,
        step: &str,
        what: &str,
        (lines, dropped, tail): &(u64, u64, VecDeque<&str>),
        last: bool,
    ) -> io::Result<()> {
        if *lines == 0 && *dropped == 0 {
            return Ok(());
        }
        let mut text = format!(
            "earlier output of step {step}{what}: {lines} line{} kept",
            if *lines == 1 { "" } else { "s" }
        );
        if *dropped > 0 {
            text.push_str(&format!(", {dropped} earlier not kept"));
        }
        if last && !tail.is_empty() {
            text.push_str(", the last:");
        }
        self.line("==", &text)?;
        if last {
            for l in tail {
                self.line("==", &format!("  {l}"))?;
            }
        }
        Ok(())
    }
}

/// An RFC 3339 time in local time, as `format` (as it is if it is not one).
fn local_time(at: &str, format: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&chrono::Local).format(format).to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// Asks on the terminal. Runs on a blocking thread.
fn ask(req: &GateRequest, who: &str) -> Option<Decision> {
    let mut err = io::stderr();
    let stdin = io::stdin();
    let words: Vec<&str> = req.choices.iter().map(|c| c.word()).collect();
    loop {
        let _ = write!(err, "{} — {}? ", req.id, words.join(" / "));
        let _ = err.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).ok()? == 0 {
            return None;
        }
        let answer = line.trim().to_ascii_lowercase();
        let choice = req.choices.iter().copied().find(|c| {
            let w = c.word();
            answer == w
                || (answer.len() == 1
                    && w.starts_with(&answer)
                    && *c != Choice::Rollback
                    && *c != Choice::Reject)
                || (answer == "rb" && *c == Choice::Rollback)
                || (answer == "n" && *c == Choice::Reject)
        });
        let Some(choice) = choice else {
            let _ = writeln!(err, "  answer one of: {}", words.join(", "));
            continue;
        };
        let mut typed = None;
        if choice == Choice::Approve && req.destructive {
            let word = req.confirm.clone().unwrap_or_default();
            let _ = write!(err, "  destructive: type `{word}` to approve: ");
            let _ = err.flush();
            let mut t = String::new();
            if stdin.lock().read_line(&mut t).ok()? == 0 {
                return None;
            }
            if t.trim() != word {
                let _ = writeln!(err, "  that is not `{word}`; the gate stays closed");
                continue;
            }
            typed = Some(t.trim().to_string());
        }
        // Approving confirms the checklist, item by item.
        let mut checklist = Vec::new();
        if choice == Choice::Approve {
            for item in &req.checklist {
                let _ = write!(err, "  [ ] {} — done? (yes/no): ", item.text);
                let _ = err.flush();
                let mut t = String::new();
                if stdin.lock().read_line(&mut t).ok()? == 0 {
                    return None;
                }
                checklist.push(matches!(
                    t.trim().to_ascii_lowercase().as_str(),
                    "y" | "yes"
                ));
            }
            if checklist.iter().any(|c| !c) {
                let _ = writeln!(err, "  not every item is done; the gate stays closed");
                continue;
            }
        }
        let _ = write!(err, "  note (optional): ");
        let _ = err.flush();
        let mut note = String::new();
        let _ = stdin.lock().read_line(&mut note);
        let note = note.trim();
        return Some(Decision {
            gate: req.id.clone(),
            choice,
            who: who.to_string(),
            via: "terminal".into(),
            note: (!note.is_empty()).then(|| note.to_string()),
            typed,
            checklist,
        });
    }
}

/// The echo of the terminal on stdin, off until dropped.
pub struct NoEcho {
    saved: Option<libc::termios>,
}

impl NoEcho {
    pub fn start() -> NoEcho {
        let fd = libc::STDIN_FILENO;
        // SAFETY: termios calls on stdin with a zeroed struct filled by tcgetattr.
        let mut term: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
            return NoEcho { saved: None };
        }
        let saved = term;
        term.c_lflag &= !libc::ECHO;
        // SAFETY: as above, with the struct tcgetattr filled.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
        NoEcho { saved: Some(saved) }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores what tcgetattr returned.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}

/// Reads a line from stdin without echo; `None` at the end of input.
pub fn read_hidden() -> Option<String> {
    let quiet = NoEcho::start();
    let line = read_line();
    drop(quiet);
    eprintln!();
    line
}

/// A line from stdin without its line end; `None` at the end of input.
fn read_line() -> Option<String> {
    let mut s = String::new();
    match io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
    }
}

/// The reason a prompt cannot be answered without a terminal.
pub const NO_TERMINAL: &str = "needs a value typed at a prompt; no terminal";

/// Asks on the terminal for a value without echo: the value, or why there is none. Ctrl-C
/// aborts the step; the echo is back on whatever happens.
async fn ask_value(req: &ValueRequest) -> Option<Result<Secret, String>> {
    // The echo goes off before the prompt shows, so nothing typed after it is echoed.
    let quiet = NoEcho::start();
    let mut err = io::stderr();
    let _ = write!(err, "{} (typed, not shown): ", req.prompt);
    let _ = err.flush();
    let reading = tokio::task::spawn_blocking(read_line);
    let answer = tokio::select! {
        line = reading => Some(match line.ok().flatten() {
            Some(v) => Ok(Secret(v)),
            None => Err("no value was typed (end of input); nothing was stored".to_string()),
        }),
        _ = tokio::signal::ctrl_c() => None,
    };
    drop(quiet);
    let _ = writeln!(err);
    answer
}

/// How long the printer waits for more output before writing what it has.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

/// Consumes events until the engine is done; answers gates. Ctrl-C or SIGTERM aborts the
/// running step (the run stays resumable).
/// A signal that stops a headless run: Ctrl-C, SIGTERM, or SIGHUP (the terminal gone).
#[derive(Clone, Copy)]
enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    /// What the run says of it; nothing for a hang-up, with no terminal left to say it on.
    fn word(self) -> Option<&'static str> {
        match self {
            Stop::Interrupt => Some("interrupted"),
            Stop::Terminate => Some("terminated"),
            Stop::Hangup => None,
        }
    }
}

/// The next stopping signal.
async fn stop(
    term: &mut tokio::signal::unix::Signal,
    hup: &mut tokio::signal::unix::Signal,
) -> Stop {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Stop::Interrupt,
        _ = term.recv() => Stop::Terminate,
        _ = hup.recv() => Stop::Hangup,
    }
}

pub async fn drive<W: Write>(
    mut events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    mut approvals: Approvals,
    printer: &mut Printer<W>,
) -> io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let interactive = approvals.interactive && io::stdin().is_terminal();
    // Output that cannot be written (a closed pipe) does not stop the engine: events are still
    // consumed and gates answered; the journal and audit log keep the record.
    let mut out = Out {
        printer,
        failed: None,
    };
    // The gate the flags just decided, until the engine says what it made of it.
    let mut flagged: Option<String> = None;
    // The gate open now, for the approvals that follow its first.
    let mut open: Option<crate::protocol::GateRequest> = None;
    // The deadline is looked at with every event and, when none comes, every second.
    let mut deadline_tick = tokio::time::interval(std::time::Duration::from_secs(1));
    deadline_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ev = match events.try_recv() {
            Ok(ev) => ev,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                // A step in full flow leaves the queue empty for moments only: wait a little
                // for more before writing, so output goes out in large writes; a quiet step's
                // lines still appear within a few milliseconds.
                if let Ok(Some(ev)) = tokio::time::timeout(LINGER, events.recv()).await {
                    ev
                } else {
                    out.run(|p| p.flush());
                    tokio::select! {
                        ev = events.recv() => match ev {
                            Some(ev) => ev,
                            None => break,
                        },
                        s = stop(&mut term, &mut hup) => {
                            if let Some(w) = s.word() {
                                out.run(|p| p.line("!!", &format!("{w}: aborting the running step")));
                            }
                            let _ = commands.send(Command::Abort).await;
                            continue;
                        }
                        _ = deadline_tick.tick() => {
                            out.run(|p| p.deadline_tick(chrono::Utc::now()));
                            continue;
                        }
                    }
                }
            }
        };
        out.run(|p| p.event(&ev));
        out.run(|p| p.deadline_tick(chrono::Utc::now()));
        if let Event::ValueRequested(req) = &ev {
            out.run(|p| p.flush());
            let value = if let Some(v) = approvals.value_for(&req.step) {
                // A rehearsal's script answers it (a made-up value, never shown).
                out.run(|p| {
                    p.line(
                        "??",
                        &format!("step {}: value given by the rehearsal script", req.step),
                    )
                });
                Ok(v)
            } else if interactive {
                // A signal at the prompt aborts the step, as it does while a step runs; the
                // prompt is dropped, and the echo back on.
                let asked = tokio::select! {
                    answer = ask_value(req) => answer,
                    _ = term.recv() => None,
                    _ = hup.recv() => None,
                };
                match asked {
                    Some(v) => v,
                    None => {
                        out.run(|p| p.line("!!", "interrupted at the prompt: aborting"));
                        let _ = commands.send(Command::Abort).await;
                        continue;
                    }
                }
            } else {
                Err(NO_TERMINAL.to_string())
            };
            let _ = commands
                .send(Command::Value {
                    step: req.step.clone(),
                    value,
                })
                .await;
            continue;
        }
        // A decision the flags gave and the engine refused (a wrong confirmation word): no one
        // here can give another, so the run stops at the gate, resumable.
        if let Event::DecisionRefused { gate, reason } = &ev
            && flagged.as_deref() == Some(gate.as_str())
        {
            flagged = None;
            let _ = commands
                .send(Command::Pause(format!("gate `{gate}`: {reason}")))
                .await;
            continue;
        }
        // A gate that needs several people: the script's next approver, if it lists one; a
        // script (asking nobody) that lists none stops there, resumable.
        if let Event::ApprovalCounted {
            gate, have, need, ..
        } = &ev
            && let Some(req) = open.as_ref().filter(|r| r.id == *gate)
        {
            match approvals.next_approval(req, *have) {
                Some(d) => {
                    let _ = commands.send(Command::Decide(d)).await;
                }
                None if approvals.scripted.contains_key(gate) => {
                    let _ = commands
                        .send(Command::Pause(format!(
                            "gate `{gate}` needs {need} people's approval and the decisions file gives {have}: list them in its `approvers:`"
                        )))
                        .await;
                }
                None => {}
            }
            continue;
        }
        if let Event::GateReached(req) = &ev {
            open = Some(req.clone());
            out.run(|p| p.flush());
            flagged = None;
            let decision = match approvals.decide_once(req) {
                Some(d) => {
                    flagged = Some(req.id.clone());
                    Some(d)
                }
                None if interactive => {
                    let req = req.clone();
                    let who = approvals.who.clone();
                    let asking = tokio::task::spawn_blocking(move || ask(&req, &who));
                    // Ctrl-C at a prompt aborts the run (recorded at the gate), as it does
                    // while a step runs.
                    tokio::select! {
                        answer = asking => answer.ok().flatten(),
                        _ = tokio::signal::ctrl_c() => {
                            eprintln!();
                            out.run(|p| p.line("!!", "interrupted at the gate: aborting"));
                            let _ = commands.send(Command::Abort).await;
                            continue;
                        }
                    }
                }
                None => None,
            };
            // A script's time to think (`after`), spent as a person's would be: the run waits
            // at the gate; an interrupt still aborts it.
            if let Some(d) = decision.as_ref().filter(|d| d.via == VIA_SCRIPT)
                && let Some(wait) = approvals.script_waits(&d.gate)
            {
                out.run(|p| {
                    p.line(
                        "??",
                        &format!(
                            "gate {}: the rehearsal script decides after {:.1}s",
                            d.gate,
                            wait.as_secs_f64()
                        ),
                    )
                });
                out.run(|p| p.flush());
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    s = stop(&mut term, &mut hup) => {
                        if let Some(w) = s.word() {
                            out.run(|p| p.line("!!", &format!("{w} at the gate: aborting")));
                        }
                        let _ = commands.send(Command::Abort).await;
                        continue;
                    }
                }
            }
            let cmd = match decision {
                Some(d) => Command::Decide(d),
                None => {
                    let hint = approvals.hint(req);
                    Command::Pause(format!(
                        "gate `{}` needs a decision and no one can be asked here; resume with {hint}",
                        req.id
                    ))
                }
            };
            let _ = commands.send(cmd).await;
        }
    }
    match out.failed.take() {
        Some(e) => Err(e),
        None => out.printer.flush(),
    }
}

struct Out<'a, W: Write> {
    printer: &'a mut Printer<W>,
    failed: Option<io::Error>,
}

impl<W: Write> Out<'_, W> {
    fn run(&mut self, f: impl FnOnce(&mut Printer<W>) -> io::Result<()>) {
        if self.failed.is_none()
            && let Err(e) = f(self.printer)
        {
            self.failed = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small generator, so that the cases are the same on every run.
    fn bytes(seed: &mut u64, n: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                alphabet[(*seed >> 33) as usize % alphabet.len()]
            })
            .collect()
    }

    /// Every line after the prefix and ending in `\n`, whatever the lengths of the lines (on
    /// both sides of the 16-byte block, the last ones near the body's end) and of the prefix (on
    /// both sides of [`PREFIX_BLOCK`]), in a buffer reused from a longer chunk.
    #[test]
    fn prefixed_lines_are_the_lines_after_the_prefix() {
        let every: Vec<u8> = (0..=255).collect();
        let next = |seed: &mut u64| bytes(seed, 1, &every)[0] as usize;
        let mut seed = 3;
        let mut out = vec![b'#'; 1 << 16];
        for round in 0..3000 {
            let plen = [0, 1, 19, 31, 32, 33, 70][round % 7];
            let prefix = bytes(&mut seed, plen, b"0123456789:. |");
            let mut text = Vec::new();
            let lines = 1 + next(&mut seed) % 40;
            for _ in 0..lines {
                let len = next(&mut seed) % 40;
                text.extend(bytes(
                    &mut seed,
                    len,
                    b"abcdefghijklmnopqrstuvwxyz0123456789 ",
                ));
                text.push(b'\n');
            }
            if round % 3 == 0 {
                text.pop();
            }
            let body = text.strip_suffix(b"\n").unwrap_or(&text);
            let mut want = Vec::new();
            for line in body.split(|&b| b == b'\n') {
                want.extend_from_slice(&prefix);
                want.extend_from_slice(line);
                want.push(b'\n');
            }
            let size = prefixed(&prefix, &text, &mut out, true).expect("plain text");
            assert_eq!(&out[..size], &want[..], "round {round}");
        }
        let size = prefixed(b"p ", b"", &mut out, true).expect("empty");
        assert_eq!(&out[..size], b"p \n");
    }

    /// The vector scan finds the same line ends and the same bad bytes as the plain one.
    #[test]
    fn the_block_scan_agrees_with_the_plain_one() {
        let mut seed = 11;
        let every: Vec<u8> = (0..=255).collect();
        let mostly_text = b"abcdefghij0123456789 \n\n\t\x1b\x7f\xc2\x80\x1f\x20\xff";
        for round in 0..5000 {
            let alphabet: &[u8] = if round % 2 == 0 { &every } else { mostly_text };
            let block: [u8; 64] = bytes(&mut seed, 64, alphabet).try_into().expect("64");
            assert_eq!(scan_block(&block), scan_block_plain(&block), "{block:?}");
        }
        let mut plain = [b'a'; 64];
        assert_eq!(scan_block(&plain), (0, false));
        plain[63] = b'\n';
        plain[0] = b'\t';
        assert_eq!(scan_block(&plain), (1 << 63, false));
        plain[5] = b'\r';
        assert_eq!(scan_block(&plain), (1 << 63, true));
    }

    /// Text with controls, escapes and `0xC2` (a C1 control, or the first byte of `·`) among
    /// plain lines of every length: the printer's lines are those of the text made terminal
    /// safe, each after the prefix; raw output goes as it came.
    #[test]
    fn output_with_controls_is_made_safe_before_it_is_prefixed() {
        use crate::protocol::Event;
        let mut seed = 5;
        let pieces: &[&str] = &[
            "plain",
            "\x1b[31mred\x1b[0m",
            "\x1b]0;title\x07",
            "a\rb",
            "tab\there",
            "·",
            "\u{9b}2J",
            "\x07",
            "\x7f",
            "",
        ];
        for round in 0..400 {
            let mut text = String::new();
            for _ in 0..1 + bytes(&mut seed, 1, &[0, 1, 2, 3, 4, 5, 6, 7])[0] as usize * 5 {
                let i = bytes(&mut seed, 1, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])[0] as usize;
                let len = bytes(&mut seed, 1, &[0, 3, 15, 16, 17, 63, 64, 65, 130])[0] as usize;
                text.push_str(pieces[i]);
                text.push_str(&"x".repeat(len));
                if round % 3 != 0 || i.is_multiple_of(2) {
                    text.push('\n');
                }
            }
            for raw in [false, true] {
                let mut out = Vec::new();
                {
                    let mut p = Printer::new(&mut out).raw(raw);
                    p.event(&Event::Output {
                        step: "s".into(),
                        stream: Stream::Stdout,
                        text: text.as_str().into(),
                    })
                    .expect("event");
                    p.flush().expect("flush");
                }
                let shown = if raw {
                    Cow::Borrowed(text.as_str())
                } else {
                    text::terminal_safe(&text)
                };
                // A chunk with nothing to show (all of it controls) prints no line.
                let want: Vec<String> = Some(&shown)
                    .filter(|s| !s.is_empty())
                    .into_iter()
                    .flat_map(|s| s.strip_suffix('\n').unwrap_or(s).split('\n'))
                    .map(|l| format!("s | {l}"))
                    .collect();
                let got = String::from_utf8(out).expect("utf-8");
                // Raw output may end by restoring what it changed; only the lines are compared.
                let got: Vec<&str> = got
                    .split('\n')
                    .filter(|l| {
                        l.len() >= 13 && l.as_bytes()[2] == b':' && l[13..].starts_with("s | ")
                    })
                    .map(|l| &l[13..])
                    .collect();
                assert_eq!(got, want, "round {round}, raw {raw}: {text:?}");
            }
        }
    }
}

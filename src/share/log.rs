//! The run so far, for a follower that joins late (or fell behind): every event that passed
//! through the share tap, as the line sent for it, in order. Output is bounded per step and per
//! run as the kept output is; the oldest lines go first, and a late joiner is told how many.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::wire::{ToFollower, line};
use crate::protocol::Event;

/// Output kept per step: what the kept output always holds of a step (one of its two segments;
/// see `record::output`), so a late joiner sees no less than a resumed run or a report. And per
/// run.
pub const STEP_BYTES: usize = 4 << 20;
pub const RUN_BYTES: usize = 256 << 20;

/// An event kept, and the line sent for it, made when a follower first needs it: with no one
/// following, an event costs a copy, not its JSON.
struct Kept {
    event: Event,
    line: std::sync::OnceLock<Arc<str>>,
}

impl Kept {
    fn line(&self) -> Arc<str> {
        self.line
            .get_or_init(|| {
                Arc::from(line(&ToFollower::Event {
                    event: self.event.clone(),
                }))
            })
            .clone()
    }
}

#[derive(Default)]
pub struct Log {
    /// Each event; `None` once dropped (old output over the bounds).
    entries: Vec<Option<Kept>>,
    /// Output entries, oldest first: (index, step, bytes, lines). Lines are counted as the
    /// entry comes (its text is then in the cache), for the note when it is dropped.
    output: VecDeque<(usize, String, usize, u64)>,
    per_step: BTreeMap<String, usize>,
    total: usize,
    step_bytes: usize,
    run_bytes: usize,
    /// Lines of output dropped, per step.
    dropped: BTreeMap<String, u64>,
}

impl Log {
    pub fn new() -> Log {
        Log::bounded(STEP_BYTES, RUN_BYTES)
    }

    pub fn bounded(step_bytes: usize, run_bytes: usize) -> Log {
        Log {
            step_bytes,
            run_bytes,
            ..Log::default()
        }
    }

    /// Keeps `ev`, with the line sent for it when it was sent to someone.
    pub fn push(&mut self, ev: &Event, sent: Option<Arc<str>>) {
        let i = self.entries.len();
        let kept = Kept {
            event: ev.clone(),
            line: std::sync::OnceLock::new(),
        };
        if let Some(l) = sent {
            let _ = kept.line.set(l);
        }
        self.entries.push(Some(kept));
        let Event::Output { step, text, .. } = ev else {
            return;
        };
        let n = text.len();
        let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count().max(1) as u64;
        self.output.push_back((i, step.clone(), n, lines));
        *self.per_step.entry(step.clone()).or_default() += n;
        self.total += n;
        // The step's own oldest first, then the run's.
        while self.per_step.get(step).copied().unwrap_or(0) > self.step_bytes {
            let Some(pos) = self.output.iter().position(|(_, s, _, _)| s == step) else {
                break;
            };
            self.drop_at(pos);
        }
        while self.total > self.run_bytes && !self.output.is_empty() {
            self.drop_at(0);
        }
    }

    fn drop_at(&mut self, pos: usize) {
        let Some((i, step, n, lines)) = self.output.remove(pos) else {
            return;
        };
        self.entries[i] = None;
        *self.dropped.entry(step.clone()).or_default() += lines;
        if let Some(b) = self.per_step.get_mut(&step) {
            *b -= n;
        }
        self.total -= n;
    }

    /// Every line kept, in order, a note first when output was dropped.
    pub fn snapshot(&self) -> Vec<Arc<str>> {
        let mut out = Vec::with_capacity(self.entries.len() + 1);
        if !self.dropped.is_empty() {
            let parts: Vec<String> = self
                .dropped
                .iter()
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            let note = Event::Note(format!(
                "the oldest lines of output were not kept for late joiners ({})",
                parts.join(", ")
            ));
            out.push(Arc::from(line(&ToFollower::Event { event: note })));
        }
        out.extend(self.entries.iter().flatten().map(Kept::line));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Stream;

    fn out(step: &str, text: &str) -> Event {
        Event::Output {
            step: step.into(),
            stream: Stream::Stdout,
            text: text.into(),
        }
    }

    fn push(log: &mut Log, ev: Event) {
        log.push(&ev, None);
    }

    fn events(log: &Log) -> Vec<Event> {
        log.snapshot()
            .iter()
            .map(|l| match serde_json::from_str(l).unwrap() {
                ToFollower::Event { event } => event,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// A late joiner gets every event in order, each line once.
    #[test]
    fn the_snapshot_is_every_event_in_order() {
        let mut log = Log::new();
        push(&mut log, Event::Note("a".into()));
        push(&mut log, out("s", "1\n2\n"));
        push(&mut log, out("s", "3\n"));
        assert_eq!(
            events(&log),
            vec![Event::Note("a".into()), out("s", "1\n2\n"), out("s", "3\n")]
        );
    }

    /// Over a step's bound its oldest output goes first (other steps' and other events stay),
    /// and the snapshot says how many lines were dropped.
    #[test]
    fn a_step_over_its_bound_drops_its_oldest_output() {
        let mut log = Log::bounded(8, 1000);
        push(&mut log, out("a", "a1\n"));
        push(&mut log, out("b", "b1\nb2\n"));
        push(&mut log, Event::Note("n".into()));
        push(&mut log, out("b", "b3\nb4\n"));
        let got = events(&log);
        assert_eq!(
            got[1..],
            [
                out("a", "a1\n"),
                Event::Note("n".into()),
                out("b", "b3\nb4\n")
            ]
        );
        assert_eq!(
            got[0],
            Event::Note("the oldest lines of output were not kept for late joiners (b: 2)".into())
        );
        let mut log = Log::bounded(100, 7);
        push(&mut log, out("a", "a1\n"));
        push(&mut log, out("b", "b1\nb2\n"));
        assert_eq!(events(&log)[1..], [out("b", "b1\nb2\n")]);
    }
}

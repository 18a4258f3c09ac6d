//! A step's output as a bounded ring of lines.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::exec::Stream;

#[derive(Clone, Debug, PartialEq)]
pub struct OutLine {
    pub stream: Stream,
    /// `HH:MM:SS.mmm` when the chunk holding the line arrived (shared by the chunk's lines).
    pub at: Arc<str>,
    /// The line as the command printed it, ANSI sequences included.
    pub text: String,
}

/// The newest `cap` lines of a step's output; older lines are dropped and counted.
#[derive(Clone, Debug)]
pub struct OutputBuffer {
    lines: VecDeque<OutLine>,
    cap: usize,
    dropped: u64,
}

impl OutputBuffer {
    pub fn new(cap: usize) -> Self {
        OutputBuffer {
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Appends every line of a chunk (whole lines, each ending in `\n`).
    pub fn push_chunk(&mut self, stream: Stream, at: &Arc<str>, chunk: &str) {
        // Like `split_terminator('\n')`, which for short lines spends more on its searcher than
        // on the line.
        let mut rest = chunk;
        while !rest.is_empty() {
            let (line, next) = match rest.bytes().position(|b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            rest = next;
            let text = line.strip_suffix('\r').unwrap_or(line);
            if self.lines.len() == self.cap {
                // The oldest line's strings are reused for the newest: no allocation per line
                // once the buffer is full.
                let mut old = self.lines.pop_front().expect("full");
                self.dropped += 1;
                old.stream = stream;
                old.at = at.clone();
                old.text.clear();
                old.text.push_str(text);
                self.lines.push_back(old);
            } else {
                self.lines.push_back(OutLine {
                    stream,
                    at: at.clone(),
                    text: text.to_string(),
                });
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&OutLine> {
        self.lines.get(i)
    }

    /// Lines dropped from the front to stay within the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &OutLine> + ExactSizeIterator {
        self.lines.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines() {
        let mut b = OutputBuffer::new(3);
        let t: Arc<str> = Arc::from("t");
        b.push_chunk(Stream::Stdout, &t, "1\n2\n");
        b.push_chunk(Stream::Stderr, &t, "3\n4\r\n");
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 1);
        let texts: Vec<&str> = b.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, vec!["2", "3", "4"]);
        assert_eq!(b.get(2).unwrap().stream, Stream::Stderr);
    }
}

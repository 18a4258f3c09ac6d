//! A step's output: the newest lines, kept as the chunks they arrived in.
//!
//! A chunk is stored once, as received, with the offsets of its lines; nothing is allocated or
//! copied per line, so a step printing millions of lines costs the interface little more than
//! finding the line ends. The oldest lines are dropped (whole chunks at a time, once every line
//! of a chunk is dropped) to stay within the cap.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::protocol::Stream;

/// One line, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutLine<'a> {
    pub stream: Stream,
    /// `HH:MM:SS.mmm` when the chunk holding the line arrived.
    pub at: &'a str,
    /// The line as the command printed it, ANSI sequences included, without its line end.
    pub text: &'a str,
}

#[derive(Clone, Debug)]
struct Chunk {
    stream: Stream,
    at: Arc<str>,
    text: String,
    /// Where each line starts; a line ends one byte (the `\n`) before the next one starts.
    starts: Vec<u32>,
    /// The absolute number of the chunk's first line.
    first: u64,
}

impl Chunk {
    fn lines(&self) -> usize {
        self.starts.len()
    }

    fn line(&self, k: usize) -> OutLine<'_> {
        let start = self.starts[k] as usize;
        let end = self
            .starts
            .get(k + 1)
            .map_or(self.text.len(), |&s| s as usize)
            - 1;
        let text = &self.text[start..end];
        OutLine {
            stream: self.stream,
            at: &self.at,
            text: text.strip_suffix('\r').unwrap_or(text),
        }
    }
}

/// The newest `cap` lines of a step's output; older lines are dropped and counted.
#[derive(Clone, Debug)]
pub struct OutputBuffer {
    chunks: VecDeque<Chunk>,
    cap: usize,
    /// Lines dropped so far: the absolute number of the oldest line kept.
    dropped: u64,
    /// Absolute number of the next line to arrive.
    next: u64,
}

impl OutputBuffer {
    pub fn new(cap: usize) -> Self {
        OutputBuffer {
            chunks: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
            next: 0,
        }
    }

    /// Appends every line of a chunk (whole lines, each ending in `\n`).
    pub fn push_chunk(&mut self, stream: Stream, at: &Arc<str>, chunk: &str) {
        if chunk.is_empty() {
            return;
        }
        let mut text = chunk.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if text.len() > u32::MAX as usize {
            // Never happens with the engine's chunks (64 KiB); keep the newest part.
            let cut = text.len() - (u32::MAX as usize / 2);
            let cut = (cut..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            text.drain(..cut);
        }
        let mut starts = Vec::with_capacity(text.len() / 8 + 1);
        starts.push(0u32);
        let bytes = text.as_bytes();
        for (i, &b) in bytes[..bytes.len() - 1].iter().enumerate() {
            if b == b'\n' {
                starts.push(i as u32 + 1);
            }
        }
        let n = starts.len() as u64;
        self.chunks.push_back(Chunk {
            stream,
            at: at.clone(),
            text,
            starts,
            first: self.next,
        });
        self.next += n;
        let excess = (self.next - self.dropped).saturating_sub(self.cap as u64);
        self.dropped += excess;
        while let Some(front) = self.chunks.front() {
            if front.first + front.lines() as u64 <= self.dropped {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn len(&self) -> usize {
        (self.next - self.dropped) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Line `i` of those kept (0 is the oldest).
    pub fn get(&self, i: usize) -> Option<OutLine<'_>> {
        if i >= self.len() {
            return None;
        }
        let abs = self.dropped + i as u64;
        let c = self
            .chunks
            .partition_point(|c| c.first + c.lines() as u64 <= abs);
        let chunk = self.chunks.get(c)?;
        Some(chunk.line((abs - chunk.first) as usize))
    }

    /// Lines dropped from the front to stay within the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn iter(&self) -> impl Iterator<Item = OutLine<'_>> {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}

/// Cuts text into rows at most `w` columns wide, between words where it can, inside a word
/// longer than a row.
pub fn wrap_words(text: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let width = |s: &str| ratatui::text::Span::raw(s).width();
    let mut rows = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0;
    for (k, word) in text.split(' ').enumerate() {
        let ww = width(word);
        if k > 0 && cur_w + 1 + ww <= w {
            cur.push(' ');
            cur.push_str(word);
            cur_w += 1 + ww;
            continue;
        }
        if k > 0 {
            rows.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        for c in word.chars() {
            let cw = width(c.encode_utf8(&mut [0; 4]));
            if cur_w + cw > w && cur_w > 0 {
                rows.push(std::mem::take(&mut cur));
                cur_w = 0;
            }
            cur.push(c);
            cur_w += cw;
        }
    }
    rows.push(cur);
    rows
}

/// How many rows a text takes cut by characters at `w` columns, as a terminal wraps it (and
/// as the output pane draws a line wrapped).
pub fn char_rows(text: &str, w: usize) -> usize {
    let w = w.max(1);
    let mut rows = 1;
    let mut cur = 0;
    for (i, c) in text.char_indices() {
        let cw = ratatui::text::Span::raw(&text[i..i + c.len_utf8()]).width();
        if cur + cw > w && cur > 0 {
            rows += 1;
            cur = 0;
        }
        cur += cw;
    }
    rows
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
        let texts: Vec<&str> = b.iter().map(|l| l.text).collect();
        assert_eq!(texts, vec!["2", "3", "4"]);
        assert_eq!(b.get(2).unwrap().stream, Stream::Stderr);
        assert_eq!(b.get(3), None);
    }

    #[test]
    fn drops_whole_chunks_and_keeps_empty_lines() {
        let mut b = OutputBuffer::new(4);
        let t: Arc<str> = Arc::from("t");
        for k in 0..10 {
            b.push_chunk(Stream::Stdout, &t, &format!("a{k}\n\nb{k}\n"));
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.dropped(), 26);
        let texts: Vec<&str> = b.iter().map(|l| l.text).collect();
        assert_eq!(texts, vec!["b8", "a9", "", "b9"]);
        assert!(b.chunks.len() <= 2);
    }
}

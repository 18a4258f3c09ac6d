//! The buffer a step's pipe is read into, placed half a page away from the pipe's own pages.
//!
//! A pipe's data sits in whole pages, from their start; reading copies it into the buffer with
//! `rep movsb`. When the place a read lands is a few bytes past the start of a page, the copy's
//! stores sit just ahead of its loads within a page (4 KiB aliasing) and it runs at less than
//! half its speed: `bench/pipe_read_offset.sh` read 256 MB in 170 ms into page offset 16
//! (8 to 24 alike), in 79 ms into offset 2,048. glibc gives a buffer of 128 KiB or more a mapping
//! of its own, its bytes 16 into a page: a step's reads all landed there. Here the bytes start
//! [`PLACE`] bytes into a page, whatever the allocator gives, and stay there as read bytes are
//! taken from the front.

use std::ops::Deref;

/// Where in a page the buffer's bytes start.
const PLACE: usize = 2048;
const PAGE: usize = 4096;

/// Bytes read and not yet taken, in `mem[head..]`; `mem[..head]` is padding that places them.
pub struct ReadBuf {
    mem: Vec<u8>,
    head: usize,
}

impl ReadBuf {
    /// Room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ReadBuf {
        let mut b = ReadBuf {
            mem: Vec::with_capacity(capacity + PAGE),
            head: 0,
        };
        b.place();
        b
    }

    /// Padding so that the bytes start at [`PLACE`] within a page (moving them if needed).
    fn place(&mut self) {
        let at = (self.mem.as_ptr() as usize).wrapping_add(self.head) % PAGE;
        if at == PLACE {
            return;
        }
        let want = (self.head + PLACE + PAGE - at) % PAGE;
        let len = self.len();
        if want > self.head {
            let grow = want - self.head;
            self.mem.resize(self.mem.len() + grow, 0);
            self.mem.copy_within(self.head..self.head + len, want);
        } else {
            self.mem.copy_within(self.head..self.head + len, want);
            self.mem.truncate(want + len);
        }
        self.head = want;
    }

    /// Room for at least `more` bytes past the end; placed again if the memory moved.
    pub fn reserve(&mut self, more: usize) {
        let before = self.mem.as_ptr();
        // Spare room for the padding a move may need, so placing never reallocates.
        self.mem.reserve(more + PAGE);
        if self.mem.as_ptr() != before {
            self.place();
        }
    }

    /// Where reads append: the memory behind the bytes (append only).
    pub fn spare(&mut self) -> &mut Vec<u8> {
        &mut self.mem
    }

    pub fn push(&mut self, b: u8) {
        self.reserve(1);
        self.mem.push(b);
    }

    /// Takes the first `n` bytes away; the rest moves to the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        let end = self.mem.len();
        self.mem.copy_within(self.head + n..end, self.head);
        self.mem.truncate(end - n);
    }
}

impl Deref for ReadBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.mem[self.head..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(b: &ReadBuf) -> bool {
        (b.as_ptr() as usize) % PAGE == PLACE
    }

    /// Appends, front removals and growth past the capacity keep the same bytes as a plain
    /// vector, and the bytes start at [`PLACE`] in a page throughout.
    #[test]
    fn holds_what_a_vector_would_and_stays_placed() {
        let mut b = ReadBuf::with_capacity(1000);
        let mut model: Vec<u8> = Vec::new();
        assert!(placed(&b));
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for round in 0..2_000 {
            match next(3) {
                0 => {
                    let n = next(if round % 100 == 0 { 20_000 } else { 700 });
                    b.reserve(n);
                    let bytes: Vec<u8> = (0..n).map(|i| (i + round) as u8).collect();
                    b.spare().extend_from_slice(&bytes);
                    model.extend_from_slice(&bytes);
                }
                1 => {
                    let n = next(model.len() + 1);
                    b.consume(n);
                    model.drain(..n);
                }
                _ => {
                    b.push(b'\n');
                    model.push(b'\n');
                }
            }
            assert_eq!(&b[..], &model[..], "round {round}");
            assert!(placed(&b), "round {round}");
        }
    }
}

//! A response on its way to the client: the head, chunk framing and small body frames copied
//! into the write buffer, and larger body frames held as they came (no copy), all written
//! together by one vectored write when the stream takes them.

use bytes::{Buf, Bytes};
use std::io::IoSlice;

/// Body frames held at most before they are written.
const HELD: usize = 4;
/// Smaller frames are copied into the write buffer: an entry of a vectored write costs the
/// kernel about what copying a few hundred bytes costs.
const HOLD_MIN: usize = 1024;

/// The bytes of a response not yet written, in order: `buf` first, then the held frames.
pub(super) struct Outgoing {
    /// The head and copied bytes; written from `at`.
    pub buf: Vec<u8>,
    at: usize,
    held: [Bytes; HELD],
    /// Frames in `held`.
    count: usize,
    /// Whether frames may be held: the stream writes vectored.
    vectored: bool,
}

impl Outgoing {
    /// `buf` (a write buffer from the free list); frames are held only when `vectored`.
    pub fn new(buf: Vec<u8>, vectored: bool) -> Self {
        Outgoing {
            buf,
            at: 0,
            held: Default::default(),
            count: 0,
            vectored,
        }
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.buf.len() - self.at
            + self.held[..self.count]
                .iter()
                .map(Bytes::len)
                .sum::<usize>()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether body bytes can go behind what waits without a write first: no frame is held, or
    /// (`holdable`) there is room to hold another.
    pub fn has_room(&self, holdable: bool) -> bool {
        self.count == 0 || (holdable && self.count < HELD)
    }

    /// Adds body bytes (the caller made room, see [`Self::has_room`]): held when large enough
    /// and the stream writes vectored, or when frames are held already (order is kept); else
    /// copied. Only a body that needs nothing written behind each frame (no chunk framing)
    /// may be `holdable`.
    pub fn push<D: Buf>(&mut self, mut data: D, holdable: bool) {
        let len = data.remaining();
        if holdable && self.vectored && (self.count > 0 || len >= HOLD_MIN) {
            self.held[self.count] = data.copy_to_bytes(len);
            self.count += 1;
            return;
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            self.buf.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
    }

    /// What is left to write, as slices for a vectored write.
    pub fn slices(&self) -> ([IoSlice<'_>; HELD + 1], usize) {
        let mut slices = [IoSlice::new(&[]); HELD + 1];
        let mut n = 0;
        if self.at < self.buf.len() {
            slices[0] = IoSlice::new(&self.buf[self.at..]);
            n = 1;
        }
        for frame in &self.held[..self.count] {
            if !frame.is_empty() {
                slices[n] = IoSlice::new(frame);
                n += 1;
            }
        }
        (slices, n)
    }

    /// `n` bytes were written.
    pub fn advance(&mut self, mut n: usize) {
        let from_buf = n.min(self.buf.len() - self.at);
        self.at += from_buf;
        n -= from_buf;
        for frame in &mut self.held[..self.count] {
            let k = n.min(frame.len());
            frame.advance(k);
            n -= k;
        }
        if self.is_empty() {
            self.clear();
        }
    }

    /// Forgets what waits (all of it written).
    fn clear(&mut self) {
        self.buf.clear();
        self.at = 0;
        for frame in &mut self.held[..self.count] {
            *frame = Bytes::new();
        }
        self.count = 0;
    }

    /// The write buffer, to go back to the free list.
    pub fn into_buf(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(out: &Outgoing) -> Vec<u8> {
        let (slices, n) = out.slices();
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn bytes_go_out_in_order_whether_copied_or_held() {
        let mut out = Outgoing::new(b"HEAD".to_vec(), true);
        out.push(Bytes::from_static(b"small"), true);
        out.push(Bytes::from(vec![b'x'; HOLD_MIN]), true);
        out.push(Bytes::from_static(b"tail"), true);
        let mut want = b"HEADsmall".to_vec();
        want.extend(std::iter::repeat_n(b'x', HOLD_MIN));
        want.extend_from_slice(b"tail");
        assert_eq!(written(&out), want);
        assert_eq!(out.len(), want.len());
        assert!(out.has_room(true) && !out.has_room(false));
        // A partial write moves across the buffer and into the held frames.
        out.advance(7);
        assert_eq!(written(&out), want[7..]);
        out.advance(want.len() - 7 - 2);
        assert_eq!(written(&out), b"il");
        out.advance(2);
        assert!(out.is_empty() && out.has_room(false));
        assert!(out.buf.is_empty());
    }

    #[test]
    fn nothing_is_held_without_vectored_writes_or_when_not_holdable() {
        let big = || Bytes::from(vec![b'y'; HOLD_MIN * 2]);
        for (vectored, holdable) in [(false, true), (true, false)] {
            let mut out = Outgoing::new(Vec::new(), vectored);
            out.push(big(), holdable);
            assert_eq!(out.slices().1, 1);
            assert_eq!(out.buf.len(), HOLD_MIN * 2);
        }
    }

    #[test]
    fn at_most_four_frames_are_held() {
        let mut out = Outgoing::new(Vec::new(), true);
        for _ in 0..HELD {
            assert!(out.has_room(true));
            out.push(Bytes::from(vec![0; HOLD_MIN]), true);
        }
        assert!(!out.has_room(true));
    }
}

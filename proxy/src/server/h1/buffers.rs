//! Per-worker free lists of connection buffers. A keep-alive connection holds no buffer while
//! it waits for its next request: it takes one when bytes arrive and gives it back once a head
//! is parsed and nothing is left in it, as nginx frees its header buffer between requests.

use std::cell::RefCell;

/// Size of a read or write buffer as taken from the free list. A head larger than this grows
/// its buffer (up to the head limit); a grown buffer is freed, not kept.
pub const BUF_SIZE: usize = 4096;

/// Buffers kept per worker thread: enough for the requests one worker has in progress at once
/// in the common case; beyond it buffers are allocated and freed.
const KEPT: usize = 64;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer of `BUF_SIZE` capacity: from this worker's free list, or new.
pub fn take() -> Vec<u8> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// Gives `buf` back to this worker's free list (a grown one, or one over the list's size, is
/// freed).
pub fn give(mut buf: Vec<u8>) {
    if buf.capacity() != BUF_SIZE {
        return;
    }
    buf.clear();
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEPT {
            f.push(buf);
        }
    });
}

/// A connection's read buffer: bytes read but not yet used, in a buffer that is present only
/// while it holds some.
#[derive(Debug, Default)]
pub struct ReadBuf {
    buf: Option<Vec<u8>>,
    start: usize,
}

impl ReadBuf {
    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[][..], |b| &b[self.start..])
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.data().is_empty()
    }

    /// Marks `n` buffered bytes as used; an emptied buffer goes back to the free list.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.buf.as_ref().is_some_and(|b| self.start >= b.len()) {
            self.release();
        }
    }

    /// Gives the buffer back if nothing is left in it.
    pub fn release(&mut self) {
        if self.is_empty() {
            if let Some(b) = self.buf.take() {
                give(b);
            }
            self.start = 0;
        }
    }

    /// Room to read into, growing the buffer up to `max` bytes held. Empty when `max` bytes are
    /// already buffered.
    pub fn spare(&mut self, max: usize) -> &mut Vec<u8> {
        let buf = self.buf.get_or_insert_with(take);
        if self.start > 0 && (buf.len() == buf.capacity() || self.start == buf.len()) {
            buf.drain(..self.start);
            self.start = 0;
        }
        let held = buf.len() - self.start;
        if buf.len() == buf.capacity() && held < max {
            buf.reserve((held.max(BUF_SIZE)).min(max - held));
        }
        buf
    }

    /// Reads from `io` into the buffer (at most `max` bytes held). With nothing to read yet,
    /// an empty buffer goes back to the free list: an idle connection holds none.
    pub fn poll_fill<I: tokio::io::AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut std::task::Context<'_>,
        max: usize,
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let buf = self.spare(max);
        let len = buf.len();
        let room = buf.capacity() - len;
        if room == 0 {
            return Poll::Ready(Err(std::io::Error::other("buffer full")));
        }
        buf.resize(len + room, 0);
        let mut rb = tokio::io::ReadBuf::new(&mut buf[len..]);
        let polled = std::pin::Pin::new(io).poll_read(cx, &mut rb);
        let n = match &polled {
            Poll::Ready(Ok(())) => rb.filled().len(),
            _ => 0,
        };
        buf.truncate(len + n);
        match polled {
            Poll::Ready(Ok(())) => {
                if n == 0 {
                    self.release();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => {
                self.release();
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                self.release();
                Poll::Pending
            }
        }
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            give(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_buffer_goes_back_and_is_reused() {
        let mut r = ReadBuf::default();
        r.spare(1024).extend_from_slice(b"abc");
        let ptr = r.data().as_ptr();
        r.consume(3);
        assert!(r.buf.is_none(), "an emptied buffer is given back");
        r.spare(1024).push(b'x');
        assert_eq!(r.data().as_ptr(), ptr, "the same buffer comes from the free list");
    }

    #[test]
    fn a_buffer_grows_to_the_limit_and_no_further() {
        let mut r = ReadBuf::default();
        let b = r.spare(10_000);
        b.resize(b.capacity(), b'a');
        let b = r.spare(10_000);
        assert!(b.capacity() > BUF_SIZE);
        assert!(b.capacity() < 2 * 10_000);
    }
}

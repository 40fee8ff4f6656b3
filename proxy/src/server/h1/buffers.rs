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

/// Most bytes a write buffer may have grown to and still be kept for the next response.
const WRITE_KEPT: usize = 64 * 1024;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_WRITE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_MAPS: RefCell<Vec<http::HeaderMap>> = const { RefCell::new(Vec::new()) };
    static BLOCK: RefCell<Option<bytes::BytesMut>> = const { RefCell::new(None) };
}

/// Size of the per-worker block parsed heads and small body reads are copied into.
const BLOCK_SIZE: usize = 8 * 1024;

/// Copies larger than this get an allocation of their own.
const BLOCK_MAX: usize = 2 * 1024;

/// `src` as shared bytes, copied into this worker's current block: heads and small bodies cost
/// no allocation of their own (a block is allocated every few requests and freed once nothing
/// cut from it is held). Values sliced from the result share its block, as a head's values
/// share hyper's read buffer.
pub fn copy_shared(src: &[u8]) -> bytes::Bytes {
    if src.len() > BLOCK_MAX {
        return bytes::Bytes::copy_from_slice(src);
    }
    BLOCK.with(|b| {
        let mut b = b.borrow_mut();
        let block = match b.as_mut() {
            Some(block) if block.capacity() >= src.len() => block,
            _ => b.insert(bytes::BytesMut::with_capacity(BLOCK_SIZE)),
        };
        block.extend_from_slice(src);
        block.split().freeze()
    })
}

/// Shared bytes written by `write` into this worker's current block, as [`copy_shared`] copies
/// them (no allocation of their own), when they are no more than `max` (more are written into
/// a buffer of their own, as is all of a `max` over [`BLOCK_MAX`]). `write` must not cut
/// shared bytes itself. Also returns what `write` returned.
pub fn write_shared<R>(
    max: usize,
    write: impl FnOnce(&mut bytes::BytesMut) -> R,
) -> (bytes::Bytes, R) {
    if max > BLOCK_MAX {
        let mut own = bytes::BytesMut::with_capacity(max);
        let r = write(&mut own);
        return (own.freeze(), r);
    }
    BLOCK.with(|b| {
        let mut b = b.borrow_mut();
        let block = match b.as_mut() {
            Some(block) if block.capacity() >= max => block,
            _ => b.insert(bytes::BytesMut::with_capacity(BLOCK_SIZE)),
        };
        let r = write(block);
        (block.split().freeze(), r)
    })
}

/// Most fields a header map may have room for and still be kept for the next request.
const MAP_KEPT: usize = 128;

/// An empty header map with room for `fields`: a response's map given back to this worker's
/// free list (a request's head reuses it, as its fields are about as many), or new.
pub fn take_map(fields: usize) -> http::HeaderMap {
    let mut map = FREE_MAPS.with(|f| f.borrow_mut().pop()).unwrap_or_default();
    // Room for what the stack adds upstream (forwarding headers, `Via`, trace context).
    map.reserve(fields + 8);
    map
}

/// Gives a header map back for a later request (emptied; a very large one is freed).
pub fn give_map(mut map: http::HeaderMap) {
    // One with no room (a response whose fields all went as wire lines) is worth nothing.
    if map.capacity() > MAP_KEPT || map.capacity() == 0 {
        return;
    }
    map.clear();
    FREE_MAPS.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEPT {
            f.push(map);
        }
    });
}

/// An empty write buffer (at least `BUF_SIZE` of capacity): from this worker's free list, or
/// new.
pub fn take_write() -> Vec<u8> {
    FREE_WRITE
        .with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// Gives a write buffer back (one grown past 64 KiB is freed).
pub fn give_write(mut buf: Vec<u8>) {
    if buf.capacity() > WRITE_KEPT {
        return;
    }
    buf.clear();
    FREE_WRITE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEPT {
            f.push(buf);
        }
    });
}

/// A buffer of `BUF_SIZE` bytes (initialised once, when first allocated): from this worker's
/// free list, or new.
pub fn take() -> Vec<u8> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; BUF_SIZE])
}

/// Gives `buf` back to this worker's free list (a grown one, or one over the list's size, is
/// freed).
pub fn give(buf: Vec<u8>) {
    if buf.len() != BUF_SIZE {
        return;
    }
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEPT {
            f.push(buf);
        }
    });
}

/// A connection's read buffer: bytes read but not yet used (`start..end` of a buffer that is
/// present only while it holds some). The buffer's bytes are all initialised, so reads go
/// straight into it without zeroing it again.
#[derive(Debug, Default)]
pub struct ReadBuf {
    buf: Option<Vec<u8>>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// A read buffer holding `bytes` (none taken for no bytes).
    pub fn holding(bytes: &[u8]) -> Self {
        let mut rbuf = ReadBuf::default();
        if !bytes.is_empty() {
            let buf = rbuf.buf.insert(take());
            buf[..bytes.len()].copy_from_slice(bytes);
            rbuf.end = bytes.len();
        }
        rbuf
    }

    /// The bytes read and not yet consumed.
    pub fn data(&self) -> &[u8] {
        self.buf
            .as_ref()
            .map_or(&[][..], |b| &b[self.start..self.end])
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` buffered bytes as used; an emptied buffer goes back to the free list.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        self.release();
    }

    /// Gives the buffer back if nothing is left in it.
    pub fn release(&mut self) {
        if self.start == self.end {
            if let Some(b) = self.buf.take() {
                give(b);
            }
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into, growing the buffer up to `max` bytes held. Empty when `max` bytes are
    /// already buffered.
    pub fn spare(&mut self, max: usize) -> &mut [u8] {
        let buf = self.buf.get_or_insert_with(take);
        if self.start > 0 && self.end == buf.len() {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let held = self.end - self.start;
        if self.end == buf.len() && held < max {
            let grown = (buf.len() * 2).min(max.max(buf.len()));
            buf.resize(grown, 0);
        }
        &mut buf[self.end..]
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
        if self.buf.is_none() {
            return self.poll_fill_empty(io, cx);
        }
        let room = self.spare(max);
        if room.is_empty() {
            return Poll::Ready(Err(std::io::Error::other("buffer full")));
        }
        let mut rb = tokio::io::ReadBuf::new(room);
        let polled = std::pin::Pin::new(io).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        match polled {
            Poll::Ready(Ok(())) => {
                self.end += n;
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

impl ReadBuf {
    /// A read with nothing buffered goes to the stack first: most such reads find nothing yet
    /// (a keep-alive connection between requests, a client watched for closing while its
    /// response is awaited), and then no buffer is taken from the free list and given back.
    /// What a read brings is copied into a buffer taken then.
    fn poll_fill_empty<I: tokio::io::AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut room = [std::mem::MaybeUninit::<u8>::uninit(); BUF_SIZE];
        let mut rb = tokio::io::ReadBuf::uninit(&mut room);
        std::task::ready!(std::pin::Pin::new(io).poll_read(cx, &mut rb))?;
        let got = rb.filled();
        if !got.is_empty() {
            let buf = self.buf.insert(take());
            buf[..got.len()].copy_from_slice(got);
            (self.start, self.end) = (0, got.len());
        }
        std::task::Poll::Ready(Ok(got.len()))
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
        r.spare(1024)[..3].copy_from_slice(b"abc");
        r.end += 3;
        assert_eq!(r.data(), b"abc");
        let ptr = r.data().as_ptr();
        r.consume(3);
        assert!(r.buf.is_none(), "an emptied buffer is given back");
        r.spare(1024)[0] = b'x';
        r.end += 1;
        assert_eq!(
            r.data().as_ptr(),
            ptr,
            "the same buffer comes from the free list"
        );
    }

    #[test]
    fn copies_share_a_block_until_it_is_full() {
        let a = copy_shared(b"GET / HTTP/1.1\r\n\r\n");
        let b = copy_shared(b"abc");
        assert_eq!(&a[..], b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(&b[..], b"abc");
        assert_eq!(
            b.as_ptr() as usize,
            a.as_ptr() as usize + a.len(),
            "the second copy follows the first in the same block"
        );
        let big = copy_shared(&[7; BLOCK_MAX + 1]);
        assert_eq!(big.len(), BLOCK_MAX + 1);
        for _ in 0..BLOCK_SIZE / BLOCK_MAX + 1 {
            let c = copy_shared(&[1; BLOCK_MAX]);
            assert!(c.iter().all(|x| *x == 1));
        }
        assert_eq!(
            &a[..],
            b"GET / HTTP/1.1\r\n\r\n",
            "a held copy outlives its block's turn"
        );
    }

    #[test]
    fn a_read_that_finds_nothing_holds_no_buffer() {
        use std::task::{Context, Poll, Waker};
        use tokio::io::AsyncWrite;
        let (mut client, mut server) = tokio::io::duplex(64);
        let mut cx = Context::from_waker(Waker::noop());
        let mut r = ReadBuf::default();
        assert!(r.poll_fill(&mut server, &mut cx, 1024).is_pending());
        assert!(r.buf.is_none(), "no buffer is held while nothing came");
        let sent = std::pin::Pin::new(&mut client).poll_write(&mut cx, b"abc");
        assert!(matches!(sent, Poll::Ready(Ok(3))));
        assert!(matches!(
            r.poll_fill(&mut server, &mut cx, 1024),
            Poll::Ready(Ok(3))
        ));
        assert_eq!(r.data(), b"abc");
        let sent = std::pin::Pin::new(&mut client).poll_write(&mut cx, b"de");
        assert!(matches!(sent, Poll::Ready(Ok(2))));
        assert!(matches!(
            r.poll_fill(&mut server, &mut cx, 1024),
            Poll::Ready(Ok(2))
        ));
        assert_eq!(r.data(), b"abcde", "later reads go behind what is held");
        drop(client);
        assert!(matches!(
            r.poll_fill(&mut server, &mut cx, 1024),
            Poll::Ready(Ok(0))
        ));
        assert_eq!(r.data(), b"abcde");
    }

    #[test]
    fn a_buffer_grows_to_the_limit_and_no_further() {
        let mut r = ReadBuf::default();
        let n = r.spare(10_000).len();
        assert_eq!(n, BUF_SIZE);
        r.end += n;
        let n = r.spare(10_000).len();
        r.end += n;
        assert_eq!(r.data().len(), 2 * BUF_SIZE);
        let n = r.spare(10_000).len();
        r.end += n;
        assert_eq!(r.data().len(), 10_000);
        assert!(r.spare(10_000).is_empty());
    }
}

//! The relay between two plain TCP sockets (an uninspected CONNECT tunnel, a transparent
//! connection): on Linux, bulk data is spliced socket → pipe → socket, so its bytes stay in the
//! kernel; small messages, and all data where splice is not available, are read into a buffer
//! and written out.
//!
//! Both directions run on the relay's one task, driven by the sockets' readiness; each moves
//! one chunk at a time (read, then written out whole before the next read), as the copy loop
//! does. The idle timeout, the stalled-writer timeout, the half-close (a side's end shuts the
//! other side's write half) and the byte counts are the copy loop's ([`super::relay`]).

#[cfg(target_os = "linux")]
use super::pipe::{self, Pipe};
use crate::server::conn::ConnActivity;
use crate::server::h1::Rewind;
use crate::server::sniff::Replay;
use crate::server::stall::WriteStall;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::future::{poll_fn, Future};
use std::io;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// The client's side of a relay: its socket, and bytes already read from it that the
/// destination gets first.
pub struct TcpSide {
    pub(super) tcp: TcpStream,
    pub(super) pending: Vec<u8>,
    /// A write to the client that waits this long fails the relay (the listener's
    /// stalled-client limit), and the connection's activity is told.
    pub(super) stall: Option<(Duration, Arc<ConnActivity>)>,
}

impl TcpSide {
    /// `tcp`, whose bytes `pending` (read from it already) go first.
    pub fn new(tcp: TcpStream, pending: Vec<u8>) -> Self {
        TcpSide {
            tcp,
            pending,
            stall: None,
        }
    }
}

/// The client connection under an upgraded (CONNECT) request, when it is a plain TCP socket
/// served by this crate's HTTP/1.1 server (native or hyper's): its socket, with every byte read
/// from it and not yet handed out (hyper's, the native server's and the protocol sniff's, in
/// that order). Any other connection (TLS, HTTP/2) is given back.
pub fn upgraded_tcp(
    upgraded: hyper::upgrade::Upgraded,
) -> Result<TcpSide, hyper::upgrade::Upgraded> {
    type Stalled = WriteStall<TcpStream>;
    let (read_buf, rewound, replay) = match upgraded.downcast::<TokioIo<Rewind<Replay<Stalled>>>>()
    {
        Ok(parts) => {
            let (rewound, replay) = parts.io.into_inner().into_parts();
            (parts.read_buf, rewound, replay)
        }
        Err(upgraded) => match upgraded.downcast::<TokioIo<Replay<Stalled>>>() {
            Ok(parts) => (parts.read_buf, Bytes::new(), parts.io.into_inner()),
            Err(upgraded) => return Err(upgraded),
        },
    };
    let (sniffed, stalled) = replay.into_parts();
    let (tcp, limit, activity) = stalled.into_parts();
    let mut pending = Vec::new();
    for bytes in [&read_buf[..], &rewound[..], &sniffed[..]] {
        pending.extend_from_slice(bytes);
    }
    Ok(TcpSide {
        tcp,
        pending,
        stall: Some((limit, activity)),
    })
}

/// Relays both ways until both sides have closed, or nothing moved for `idle` (a peer that
/// stops reading counts as idle too). Returns the bytes sent by the client (its pending bytes
/// included) and by the upstream.
pub async fn relay_tcp(
    client: TcpSide,
    upstream: TcpStream,
    idle: Duration,
) -> io::Result<(u64, u64)> {
    relay_sockets(client, upstream, idle, cfg!(target_os = "linux")).await
}

/// [`relay_tcp`]; `splice` false copies through buffers.
async fn relay_sockets(
    client: TcpSide,
    mut upstream: TcpStream,
    idle: Duration,
    splice: bool,
) -> io::Result<(u64, u64)> {
    let TcpSide {
        tcp: client,
        pending,
        stall,
    } = client;
    if !pending.is_empty() {
        timeout(idle, upstream.write_all(&pending))
            .await
            .map_err(|_| stalled())??;
    }
    let client_limit = stall.as_ref().map_or(idle, |(limit, _)| (*limit).min(idle));
    let mut up = Flow::new(idle, splice);
    let mut down = Flow::new(client_limit, splice);
    // One timer for the whole relay, moved only when it fires, as in the copy loop.
    let mut last = Instant::now();
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(quiet);
    poll_fn(|cx| {
        let before = up.moved + down.moved;
        let to_upstream = up.poll(&client, &upstream, cx);
        let to_client = down.poll(&upstream, &client, cx);
        if up.moved + down.moved != before {
            last = Instant::now();
        }
        match (to_upstream, to_client) {
            (Poll::Ready(Err(e)), _) | (_, Poll::Ready(Err(e))) => return Poll::Ready(Err(e)),
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => return Poll::Ready(Ok(())),
            _ => {}
        }
        // A write that just began to wait is due before the idle time: the timer comes forward
        // (moved only then, not per chunk).
        for due in [up.stuck_due(), down.stuck_due()].into_iter().flatten() {
            if due < quiet.deadline() {
                quiet.as_mut().reset(due);
            }
        }
        while quiet.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if up.stuck(now) {
                return Poll::Ready(Err(stalled()));
            }
            if down.stuck(now) {
                return Poll::Ready(Err(match &stall {
                    Some((limit, activity)) if *limit < idle => {
                        activity.stalled();
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the client read nothing for {limit:?}"),
                        )
                    }
                    _ => stalled(),
                }));
            }
            let idle_at = last + idle;
            if idle_at <= now {
                return Poll::Ready(Ok(()));
            }
            let due = [up.stuck_due(), down.stuck_due()]
                .into_iter()
                .flatten()
                .fold(idle_at, Instant::min);
            quiet.as_mut().reset(due);
        }
        Poll::Pending
    })
    .await?;
    Ok((pending.len() as u64 + up.moved, down.moved))
}

fn stalled() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "peer stopped reading")
}

/// Bytes read at a time into a buffer. (64 KiB reads cost more CPU per byte relayed on
/// loopback than 32 KiB ones: see BENCHMARKS.md, "Bodies and egress".)
const BUF: usize = 32 * 1024;

/// A spliced chunk shorter than this sends the flow back to buffers: for small chunks, two
/// splices and the pipe cost more than copying (see BENCHMARKS.md, "Tunnels: splice").
const SPLICE_MIN: usize = BUF / 2;

/// One direction of the relay: from a socket, through a buffer or a pipe, to the other socket.
///
/// A flow copies through a buffer until a read fills it (bulk data is waiting), then splices
/// through a pipe until a splice moves less than [`SPLICE_MIN`]: request-response traffic of
/// small messages stays on the cheaper copy, bulk transfers never enter user space.
struct Flow {
    /// Allocated at the first copied chunk.
    buffer: Option<Box<[u8]>>,
    /// Where the current chunk's unwritten bytes start in the buffer.
    at: usize,
    /// Held only while a chunk is in it.
    #[cfg(target_os = "linux")]
    pipe: Option<Pipe>,
    /// Whether the current chunk is in the pipe (else in the buffer).
    piped: bool,
    /// Bytes of the current chunk not yet written.
    held: usize,
    /// Bytes written, all chunks together.
    moved: u64,
    /// Whether the source may send more (it has not ended or failed).
    open: bool,
    /// The end was passed on (the destination's write half shut).
    done: bool,
    /// Whether chunks may be spliced (false once splice turned out not to be available).
    splice: bool,
    /// Whether the next chunk is spliced: the last read filled the buffer, or the last splice
    /// moved at least [`SPLICE_MIN`].
    bulk: bool,
    /// Since when the destination has taken none of the current chunk.
    stuck_since: Option<Instant>,
    /// How long the destination may take none.
    limit: Duration,
}

impl Flow {
    fn new(limit: Duration, splice: bool) -> Self {
        Flow {
            buffer: None,
            at: 0,
            #[cfg(target_os = "linux")]
            pipe: None,
            piped: false,
            held: 0,
            moved: 0,
            open: true,
            done: false,
            splice,
            bulk: false,
            stuck_since: None,
            limit,
        }
    }

    /// Moves chunks from `from` to `to` until neither is ready; ready once `from` has ended
    /// and the end was passed on, or with the error of a write to `to`.
    fn poll(
        &mut self,
        from: &TcpStream,
        to: &TcpStream,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.held > 0 {
                ready!(self.poll_write(to, cx))?;
                continue;
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if !self.open {
                // The source ended (or failed): the destination's write half closes, as the
                // copy loop's shutdown does.
                let _ = rustix::net::shutdown(to, rustix::net::Shutdown::Write);
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_read(from, cx));
        }
    }

    /// Reads the next chunk: `held` is its length, or the source is no longer open (its end,
    /// or an error, as the copy loop treats both).
    fn poll_read(&mut self, from: &TcpStream, cx: &mut Context<'_>) -> Poll<()> {
        if ready!(from.poll_read_ready(cx)).is_err() {
            self.open = false;
            return Poll::Ready(());
        }
        #[cfg(target_os = "linux")]
        if self.splice && self.bulk {
            self.read_piped(from);
            return Poll::Ready(());
        }
        let buf = self
            .buffer
            .get_or_insert_with(|| vec![0u8; BUF].into_boxed_slice());
        self.at = 0;
        self.piped = false;
        match from.try_read(buf) {
            Ok(0) => self.open = false,
            Ok(n) => {
                self.held = n;
                self.bulk = n == BUF;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.open = false,
        }
        Poll::Ready(())
    }

    /// Splices the next chunk into a pipe.
    #[cfg(target_os = "linux")]
    fn read_piped(&mut self, from: &TcpStream) {
        let pipe = match self.pipe.take().map_or_else(Pipe::take, Ok) {
            Ok(pipe) => pipe,
            Err(_) => {
                // No pipe now (out of descriptors, or none on this system): copy.
                self.bulk = false;
                return;
            }
        };
        self.piped = true;
        match from.try_io(Interest::READABLE, || pipe.fill(from)) {
            Ok(0) => self.open = false,
            Ok(n) => {
                self.held = n;
                self.bulk = n >= SPLICE_MIN;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Nothing was moved: the next chunk is copied.
            Err(e) if pipe::unsupported(&e) => self.splice = false,
            Err(_) => self.open = false,
        }
        if self.held > 0 {
            self.pipe = Some(pipe);
        } else {
            pipe.give();
        }
    }

    /// Writes the current chunk out, as far as `to` takes it now.
    fn poll_write(&mut self, to: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match to.poll_write_ready(cx) {
            Poll::Pending => {
                self.stuck_since.get_or_insert_with(Instant::now);
                return Poll::Pending;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {}
        }
        let held = self.held;
        let written = self.write(to, held);
        match written {
            Ok(0) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                self.held -= n.min(held);
                self.moved += n as u64;
                self.stuck_since = None;
                #[cfg(target_os = "linux")]
                if self.held == 0 {
                    // Written whole: the pipe goes back to the worker's free list.
                    if let Some(pipe) = self.pipe.take() {
                        pipe.give();
                    }
                }
                Poll::Ready(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// One write of up to `held` bytes of the current chunk to `to`.
    fn write(&mut self, to: &TcpStream, held: usize) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.piped {
            let Some(pipe) = self.pipe.as_ref() else {
                return Err(io::Error::other("spliced chunk without its pipe"));
            };
            return to.try_io(Interest::WRITABLE, || pipe.drain(to, held));
        }
        let at = self.at;
        match self.buffer.as_deref().and_then(|b| b.get(at..at + held)) {
            Some(chunk) => to.try_write(chunk).inspect(|n| self.at += n),
            None => Err(io::Error::other("copied chunk outside its buffer")),
        }
    }

    /// Whether the destination has taken nothing for the limit.
    fn stuck(&self, now: Instant) -> bool {
        self.stuck_due().is_some_and(|due| due <= now)
    }

    fn stuck_due(&self) -> Option<Instant> {
        self.stuck_since.map(|since| since + self.limit)
    }
}

#[cfg(test)]
mod tests;

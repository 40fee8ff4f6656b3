//! Telling HTTP/2 (prior knowledge or after ALPN, both open with the connection preface) from
//! HTTP/1.x by a connection's first bytes, and replaying those bytes to the server that takes
//! the connection. Knowing the protocol before the server is built lets each connection hold
//! only the state of the one protocol it speaks.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Every HTTP/2 connection starts with these bytes (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a connection opened with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.0 or HTTP/1.1.
    H1,
    /// HTTP/2.
    H2,
}

/// Reads until the first bytes either are the HTTP/2 preface or cannot be. `None` when the
/// client closed first.
pub async fn sniff<I: AsyncRead + Unpin>(mut io: I) -> io::Result<Option<(Proto, Replay<I>)>> {
    let mut head = [0u8; 24];
    let mut len = 0;
    let proto = loop {
        let n = io.read(&mut head[len..]).await?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
        if head[..len] != PREFACE[..len] {
            break Proto::H1;
        }
        if len == PREFACE.len() {
            break Proto::H2;
        }
    };
    Ok(Some((
        proto,
        Replay {
            head,
            pos: 0,
            len: len as u8,
            io,
        },
    )))
}

/// A stream whose first bytes, already read, are handed out again before the rest.
#[derive(Debug)]
pub struct Replay<I> {
    head: [u8; 24],
    pos: u8,
    len: u8,
    io: I,
}

impl<I> Replay<I> {
    /// The sniffed bytes not yet handed out again, and the stream.
    pub fn into_parts(self) -> (Vec<u8>, I) {
        let rest = self.pending().to_vec();
        (rest, self.io)
    }

    /// The sniffed bytes not yet handed out again.
    pub fn pending(&self) -> &[u8] {
        &self.head[usize::from(self.pos)..usize::from(self.len)]
    }

    /// The stream, its sniffed bytes left out (the caller took them with [`Self::pending`]).
    pub fn into_inner(self) -> I {
        self.io
    }

    /// `io` as a stream with nothing left to replay: what a server that took the sniffed bytes
    /// itself hands on, so that the stream has the same type whichever server read it first.
    pub fn spent(io: I) -> Self {
        Replay {
            head: [0; 24],
            pos: 0,
            len: 0,
            io,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Replay<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.len {
            let rest = &self.head[usize::from(self.pos)..usize::from(self.len)];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.pos += n as u8;
            // Hand over what else has arrived in the same read, so the server sees the
            // request as the client sent it, not cut after the sniffed bytes (a cut head
            // makes hyper grow its read buffer to twice the size for good).
            // Nothing more yet, the end or an error: the next read sees it again.
            if self.pos == self.len && buf.remaining() > 0 {
                let _ = Pin::new(&mut self.io).poll_read(cx, buf);
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Replay<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;

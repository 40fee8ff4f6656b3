//! A client connection whose writes make no progress: the client stopped reading. The
//! wrapper fails the connection's I/O once a write has waited for the limit, so a client
//! that never reads cannot hold its connection, and the upstream behind it, forever.

use super::ConnActivity;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Wraps a connection's I/O; writes that wait longer than `limit` fail with `TimedOut`.
pub(super) struct WriteStall<I> {
    io: I,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
    activity: Arc<ConnActivity>,
}

impl<I> WriteStall<I> {
    /// `activity` is told when the limit strikes (the call's record says why it ended).
    pub(super) fn new(io: I, limit: Duration, activity: Arc<ConnActivity>) -> Self {
        WriteStall {
            io,
            limit,
            timer: None,
            armed: false,
            activity,
        }
    }

    /// The stream, the limit and the connection's activity (to be told when a write to the
    /// stream, made without this wrapper, waits for the limit).
    pub(super) fn into_parts(self) -> (I, Duration, Arc<ConnActivity>) {
        (self.io, self.limit, self.activity)
    }

    fn check<T>(
        &mut self,
        polled: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.armed = false;
            return polled;
        }
        if !self.armed {
            let deadline = tokio::time::Instant::now() + self.limit;
            match self.timer.as_mut() {
                Some(t) => t.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        let expired = self
            .timer
            .as_mut()
            .is_some_and(|t| std::future::Future::poll(t.as_mut(), cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        self.activity.stalled();
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {:?}", self.limit),
        )))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteStall<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteStall<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.check(polled, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.check(polled, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.check(polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.check(polled, cx)
    }
}

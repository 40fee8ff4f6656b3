//! One HTTP/1.1 connection served natively: heads read into a buffer taken only while bytes
//! are waiting, bodies read as their consumer asks, responses framed and written from one
//! reused buffer, requests served in order (pipelined ones wait in the read buffer).
//! Upgrades and CONNECT go to hyper with the bytes read so far.

use super::body::{NativeBody, ServerBody, Source};
use super::buffers::{self, ReadBuf};
use super::chunked::{Decoder, Step};
use super::encode::{self, BodyFraming, Exchange};
use super::fields::HeadFields;
use super::head::{self, Framing, Head, HeadError};
use super::out::Outgoing;
use crate::server::conn::{ConnCtx, ConnLimits, ConnService};
use crate::server::sniff::Replay;
use crate::server::BoxError;
use bytes::{Buf, Bytes};
use http::{Method, Request, Response, Version};
use http_body::{Body, Frame};
use hyper::service::Service;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// Most bytes one read of a request body takes (the read buffer's size).
const BODY_READ: usize = buffers::BUF_SIZE;
/// Buffered response bytes that are written out before more are added.
const WRITE_HIGH: usize = 16 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How far the current request's body has been read.
#[derive(Debug)]
enum BodyState {
    /// Read to its end (or there was none).
    Done,
    /// This many bytes still to read.
    Length(u64),
    /// Chunked, being decoded.
    Chunked(Decoder),
    /// Failed (malformed, or the client went away): the connection cannot go on.
    Failed,
}

/// The connection's stream and read state, shared by the connection's task and the body of
/// the request being read.
struct Wire<I> {
    io: I,
    rbuf: ReadBuf,
    body: BodyState,
    /// The request whose body may read now.
    generation: u64,
    /// Bytes of a `100 Continue` already written, while one is owed before the body is read.
    continue_at: Option<usize>,
}

struct Link<I>(Mutex<Wire<I>>);

#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the client closed the connection before the request body ended")]
    Incomplete,
    #[error("malformed chunked body: {0}")]
    Chunked(#[from] super::chunked::ChunkError),
    #[error("the request body is no longer readable")]
    Gone,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Wire<I> {
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut must_read = false;
        loop {
            match self.body {
                BodyState::Done => return Poll::Ready(None),
                BodyState::Failed => return Poll::Ready(Some(Err(BodyError::Gone.into()))),
                _ => {}
            }
            if let Some(at) = self.continue_at {
                if let Err(e) = ready!(self.poll_continue(cx, at)) {
                    self.body = BodyState::Failed;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
            if must_read || self.rbuf.is_empty() {
                match ready!(self.rbuf.poll_fill(&mut self.io, cx, BODY_READ)) {
                    Ok(0) => {
                        self.body = BodyState::Failed;
                        return Poll::Ready(Some(Err(BodyError::Incomplete.into())));
                    }
                    Ok(_) => must_read = false,
                    Err(e) => {
                        self.body = BodyState::Failed;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
            }
            let data = self.rbuf.data();
            match &mut self.body {
                BodyState::Length(rem) => {
                    let n = data.len().min(usize::try_from(*rem).unwrap_or(usize::MAX));
                    let bytes = Bytes::copy_from_slice(&data[..n]);
                    *rem -= n as u64;
                    if *rem == 0 {
                        self.body = BodyState::Done;
                    }
                    self.rbuf.consume(n);
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                BodyState::Chunked(d) => match d.decode(data) {
                    Ok((used, Step::Data(n))) => {
                        let bytes = Bytes::copy_from_slice(&data[used - n..used]);
                        self.rbuf.consume(used);
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    Ok((used, Step::NeedMore)) => {
                        self.rbuf.consume(used);
                        must_read = true;
                    }
                    Ok((used, Step::Done(trailers))) => {
                        self.rbuf.consume(used);
                        self.body = BodyState::Done;
                        return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                    }
                    Err(e) => {
                        self.body = BodyState::Failed;
                        return Poll::Ready(Some(Err(BodyError::Chunked(e).into())));
                    }
                },
                BodyState::Done | BodyState::Failed => {}
            }
        }
    }

    /// Writes the owed `100 Continue`.
    fn poll_continue(&mut self, cx: &mut Context<'_>, mut at: usize) -> Poll<io::Result<()>> {
        while at < CONTINUE.len() {
            let n = ready!(std::pin::Pin::new(&mut self.io).poll_write(cx, &CONTINUE[at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            at += n;
            self.continue_at = Some(at);
        }
        ready!(std::pin::Pin::new(&mut self.io).poll_flush(cx))?;
        self.continue_at = None;
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send> Source for Link<I> {
    fn poll_frame(
        &self,
        generation: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Ok(mut wire) = self.0.lock() else {
            return Poll::Ready(Some(Err(BodyError::Gone.into())));
        };
        if wire.generation != generation {
            return Poll::Ready(Some(Err(BodyError::Gone.into())));
        }
        wire.poll_body(cx)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> Link<I> {
    fn with<R>(&self, f: impl FnOnce(&mut Wire<I>) -> R) -> Option<R> {
        self.0.lock().ok().map(|mut w| f(&mut w))
    }

    fn poll_fill(&self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        self.with(|w| w.rbuf.poll_fill(&mut w.io, cx, max))
            .unwrap_or_else(|| Poll::Ready(Err(io::Error::other("connection state lost"))))
    }

    /// Ready when the client has closed (or failed) the connection. Watched only while the
    /// current request's body is read to its end (before that, the body reads the stream);
    /// bytes that arrive meanwhile (a pipelined request) stay buffered, up to `max`.
    fn poll_closed(&self, cx: &mut Context<'_>, max: usize) -> Poll<()> {
        let Ok(mut w) = self.0.lock() else {
            return Poll::Ready(());
        };
        if !matches!(w.body, BodyState::Done) || w.rbuf.data().len() >= max {
            return Poll::Pending;
        }
        let w = &mut *w;
        loop {
            match ready!(w.rbuf.poll_fill(&mut w.io, cx, max)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) if w.rbuf.data().len() >= max => return Poll::Pending,
                Ok(_) => {}
            }
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.with(|w| std::pin::Pin::new(&mut w.io).poll_write(cx, buf))
            .unwrap_or_else(|| Poll::Ready(Err(io::Error::other("connection state lost"))))
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|w| std::pin::Pin::new(&mut w.io).poll_flush(cx))
            .unwrap_or_else(|| Poll::Ready(Err(io::Error::other("connection state lost"))))
    }

    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|w| std::pin::Pin::new(&mut w.io).poll_shutdown(cx))
            .unwrap_or(Poll::Ready(Ok(())))
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.with(|w| std::pin::Pin::new(&mut w.io).poll_write_vectored(cx, bufs))
            .unwrap_or_else(|| Poll::Ready(Err(io::Error::other("connection state lost"))))
    }

    fn is_write_vectored(&self) -> bool {
        self.with(|w| w.io.is_write_vectored()).unwrap_or(false)
    }

    /// Writes all of `out` (one vectored write when it holds frames and the stream takes it
    /// whole) and flushes; `out` is left empty.
    async fn write_out(&self, out: &mut Outgoing) -> io::Result<()> {
        while !out.is_empty() {
            let n = poll_fn(|cx| {
                let (slices, n) = out.slices();
                if n == 1 {
                    self.poll_write(cx, &slices[0])
                } else {
                    self.poll_write_vectored(cx, &slices[..n])
                }
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            out.advance(n);
        }
        poll_fn(|cx| self.poll_flush(cx)).await
    }
}

/// What waiting for the next request found. Not boxed: it is returned once per request, and a
/// box would be an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(Head, usize),
    Refuse(super::HeadRefused),
    Close,
}

/// Serves HTTP/1.1 on `ctx.io` natively until the client closes, the connection idles out, a
/// response closes it, or the drain ends it (see the drain in [`crate::server::conn`]).
///
/// The stream goes straight into the state it shares with the request bodies: the
/// connection's future holds a pointer to it, not a second copy. The bytes the protocol sniff
/// read go into the read buffer, and the stream is read without the sniff's replay after them
/// (one layer less on every read); an upgrade hands it on wrapped again ([`hand_off`]).
pub fn serve<I, S, Rb>(ctx: ConnCtx<Replay<I>, S>) -> impl Future<Output = ()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    let (replay, rest) = ctx.take_io();
    let rbuf = ReadBuf::holding(replay.pending());
    let io = replay.into_inner();
    let link = Arc::new(Link(Mutex::new(Wire {
        io,
        rbuf,
        body: BodyState::Done,
        generation: 0,
        continue_at: None,
    })));
    run(rest.with_io(link))
}

/// The connection's loop: one request after another. Not an `async fn`: an `async fn` moves
/// each argument into a local of its body and keeps room for both, so the context would take
/// room twice in the connection's future (136 bytes more); the `async move` block uses the
/// context it captured in place.
#[allow(clippy::manual_async_fn)]
fn run<I, S, Rb>(ctx: ConnCtx<Arc<Link<I>>, S>) -> impl Future<Output = ()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    async move {
        let max_head = ctx.limits.max_head_bytes.max(8192);
        let mut idle = pin!(idle_watch(&ctx.limits, ctx.shutdown.clone()));
        let refused = loop {
            // No `.await` in this match: the matched `Next` (a whole head) would keep its room
            // in the connection's future across it, beside the wait for the next head.
            let (head, len) = match next_head(&ctx, idle.as_mut(), max_head).await {
                Next::Head(head, len) => (head, len),
                Next::Close => return,
                Next::Refuse(why) => break why,
            };
            if head.upgrade {
                // The connection changes protocol after the response: hyper serves it from this
                // request on, with the bytes read so far replayed.
                drop(head);
                // Boxed: rare, and hyper's connection state is large.
                let hyper = Box::pin(hand_off(ctx));
                hyper.await;
                return;
            }
            // Built outside this future: a local borrowed here (as a request being filled in is)
            // keeps its room in the future across every later `.await`.
            let Some((req, keep_alive)) = request::<I, Rb>(&ctx.io, head, len) else {
                return;
            };
            // The request's part of the connection's state (the call's future, the response being
            // written) is boxed for the request's length: the connection's own future, which an
            // idle connection keeps, stays the size of its wait for the next head.
            // Built in its box (see `in_box`), not copied into it.
            let slot = Box::new_uninit();
            let exchanging = crate::server::in_box(
                slot,
                exchange(
                    &ctx.io,
                    &ctx.service,
                    req,
                    keep_alive,
                    &ctx.shutdown,
                    max_head,
                ),
            );
            if !exchanging.await {
                return;
            }
            // The next request starts where this one's body ends: unread body bytes leave the
            // connection at an unknown place, so it closes.
            let body_done = ctx
                .io
                .with(|w| matches!(w.body, BodyState::Done))
                .unwrap_or(false);
            if !body_done {
                close(&ctx.io).await;
                return;
            }
        };
        // Boxed: rare, and the connection's future need not be sized for it. Every boxed stage
        // is boxed in a statement of its own: the unboxed future, a temporary of the statement,
        // would otherwise keep its room in this future across the `.await`.
        let refusing = Box::pin(refuse(&ctx.io, (ctx.limits.refuse)(refused)));
        refusing.await;
    }
}

/// The request `head` (`len` bytes of the read buffer) starts, with its body set up to be
/// read from the connection, and whether the connection may be kept alive after it.
fn request<I, Rb>(link: &Arc<Link<I>>, head: Head, len: usize) -> Option<(Request<Rb>, bool)>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
{
    let Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
        upgrade: _,
    } = head;
    let body = begin_body(link, len, framing, expect_continue);
    let body = Rb::from_native(body)?;
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Some((req, keep_alive))
}

/// Serves one request: waits for the service's response (watching for the client closing once
/// the request body is read), then writes it. Returns whether the connection may go on.
async fn exchange<I, S, B, Rb>(
    link: &Link<I>,
    service: &S,
    req: Request<Rb>,
    keep_alive: bool,
    shutdown: &watch::Receiver<bool>,
    max_head: usize,
) -> bool
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: Service<Request<Rb>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body + HeadFields,
    B::Error: Into<BoxError>,
{
    let head_request = req.method() == Method::HEAD;
    let version = req.version();
    let resp = {
        let mut fut = pin!(service.call(req));
        poll_fn(|cx| {
            if let Poll::Ready(r) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            link.poll_closed(cx, max_head).map(|()| None)
        })
        .await
    };
    let resp = match resp {
        Some(Ok(resp)) => resp,
        Some(Err(e)) => {
            tracing::debug!(error = %e.into(), "service failed");
            return false;
        }
        None => {
            tracing::debug!("client closed the connection before the response");
            return false;
        }
    };
    let draining = *shutdown.borrow();
    let x = Exchange {
        head_request,
        version,
        keep_alive: keep_alive && !draining,
        body_len: None,
    };
    match respond(link, resp, x).await {
        Ok(true) => {}
        Ok(false) => {
            close(link).await;
            return false;
        }
        Err(e) => {
            tracing::debug!(error = %e, "response not delivered");
            return false;
        }
    }
    true
}

/// Marks the head's bytes read and sets up the request's body.
fn begin_body<I>(link: &Arc<Link<I>>, len: usize, framing: Framing, expect: bool) -> NativeBody
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = match framing {
        Framing::Length(0) => BodyState::Done,
        Framing::Length(n) => BodyState::Length(n),
        Framing::Chunked => BodyState::Chunked(Decoder::default()),
    };
    let has_body = !matches!(state, BodyState::Done);
    let generation = link
        .with(|w| {
            w.rbuf.consume(len);
            w.generation += 1;
            w.body = state;
            // The client waits for `100 Continue` only when it has sent none of the body.
            w.continue_at = (expect && has_body && w.rbuf.is_empty()).then_some(0);
            w.generation
        })
        .unwrap_or(0);
    if !has_body {
        return NativeBody::empty();
    }
    let length = match framing {
        Framing::Length(n) => Some(n),
        Framing::Chunked => None,
    };
    NativeBody::new(link.clone(), generation, length)
}

/// Waits for the next request head: without a buffer while the connection idles (closed after
/// the idle timeout, or the drain's grace), then within the header-read timeout once its
/// first bytes came.
async fn next_head<I, S, D>(
    ctx: &ConnCtx<Arc<Link<I>>, S>,
    mut idle: Pin<&mut IdleWatch<D>>,
    max_head: usize,
) -> Next
where
    I: AsyncRead + AsyncWrite + Unpin,
    D: Future<Output = ()>,
{
    let link = &*ctx.io;
    let buffered = link.with(|w| !w.rbuf.is_empty()).unwrap_or(false);
    if !buffered {
        match wait_for_bytes(ctx, idle.as_mut(), max_head).await {
            Some(Ok(n)) if n > 0 => {}
            _ => return Next::Close,
        }
    }
    // Most heads come whole in one read. For one that does not, the idle timer serves as the
    // header-read timer (the connection's future keeps room for one timer, not two), and is
    // set back once the head is complete.
    let idle = idle.project();
    let mut timer = idle.timer;
    let mut idle_at = None;
    loop {
        // A complete head is returned from here: no parsed head is kept across the read below.
        match parse_buffered(link, max_head, ctx.limits.max_head_bytes) {
            Some(Next::Head(head, len)) => {
                if let Some(at) = idle_at {
                    timer.as_mut().reset(at);
                }
                return Next::Head(head, len);
            }
            Some(other) => return other,
            None => {}
        }
        if idle_at.is_none() {
            idle_at = Some(timer.deadline());
            let header_read = tokio::time::Instant::now() + ctx.limits.header_read_timeout;
            timer.as_mut().reset(header_read);
            // Set again: polled again before the connection next waits idle.
            *idle.armed = false;
        }
        let read = poll_fn(|cx| match link.poll_fill(cx, max_head) {
            Poll::Ready(read) => Poll::Ready(Some(read)),
            Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
        })
        .await;
        match read {
            Some(Ok(n)) if n > 0 => {}
            Some(_) => return Next::Close,
            None => {
                tracing::debug!("no complete request head within the header read timeout");
                return Next::Close;
            }
        }
    }
}

/// The head at the start of what is buffered, as [`next_head`] returns it; `None` while it is
/// not complete.
fn parse_buffered<I: AsyncRead + AsyncWrite + Unpin>(
    link: &Link<I>,
    max_head: usize,
    limit: usize,
) -> Option<Next> {
    let parsed = link.with(|w| {
        let data = w.rbuf.data();
        match head::parse(data) {
            Ok(None) if data.len() >= max_head => Err(HeadError::TooLarge),
            other => other,
        }
    });
    match parsed {
        None => Some(Next::Close),
        Some(Ok(Some((head, len)))) => Some(Next::Head(head, len)),
        Some(Ok(None)) => None,
        Some(Err(HeadError::Malformed(why))) => {
            Some(Next::Refuse(super::HeadRefused::Malformed(why)))
        }
        Some(Err(HeadError::TooLarge)) => Some(Next::Refuse(super::HeadRefused::TooLarge(limit))),
    }
}

pin_project_lite::pin_project! {
    /// What an idle connection waits on beside its next bytes: one timer, serving both the idle
    /// timeout and, once the drain has begun, the drain's idle grace, and the drain's signal.
    /// Both are set up once for the connection, not for each request: when the timer fires,
    /// the connection's activity tells whether it has stayed idle that long (it was busy
    /// meanwhile, or a response body is still being recorded), else it is set again, so a busy
    /// connection's timer fires about once an idle timeout.
    struct IdleWatch<D> {
        #[pin]
        timer: tokio::time::Sleep,
        #[pin]
        drain: D,
        // The drain's signal has been polled: its waiter is registered and wakes this
        // connection's task (the one task that polls the connection's future) when it comes.
        watched: bool,
        // The drain has begun (the signal, once ready, is not polled again).
        draining: bool,
        // The timer has been polled since it was last set: it holds this connection's task's
        // waker until it fires, so it is polled again only once it has fired (or been set).
        armed: bool,
    }
}

/// The connection's [`IdleWatch`], its timer first set an idle timeout from now.
fn idle_watch(
    limits: &ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) -> IdleWatch<impl Future<Output = ()>> {
    IdleWatch {
        timer: tokio::time::sleep(limits.idle_timeout),
        // Ready once the drain has begun, or its sender is gone (which stops the connection as
        // a drain does).
        drain: async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    return;
                }
            }
        },
        watched: false,
        draining: false,
        armed: false,
    }
}

/// An idle connection's wait for the first bytes of its next request, the drain's signal and
/// its idle timer ([`IdleWatch`]). `None` when the connection is to close without a response.
async fn wait_for_bytes<I, S, D>(
    ctx: &ConnCtx<Arc<Link<I>>, S>,
    mut idle: Pin<&mut IdleWatch<D>>,
    max_head: usize,
) -> Option<io::Result<usize>>
where
    I: AsyncRead + AsyncWrite + Unpin,
    D: Future<Output = ()>,
{
    let limits = &ctx.limits;
    poll_fn(|cx| {
        if let Poll::Ready(read) = ctx.io.poll_fill(cx, max_head) {
            return Poll::Ready(Some(read));
        }
        let mut idle = idle.as_mut().project();
        // Once watched, the signal is polled again only when it has changed (or its sender is
        // gone): its waiter stays registered meanwhile.
        let look = !*idle.watched || ctx.shutdown.has_changed().unwrap_or(true);
        if !*idle.draining && look {
            *idle.watched = true;
            if idle.drain.as_mut().poll(cx).is_ready() {
                *idle.draining = true;
                idle.timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + limits.drain_idle_grace);
                *idle.armed = false;
            }
        }
        let wait = if *idle.draining {
            limits.drain_idle_grace
        } else {
            limits.idle_timeout
        };
        loop {
            if *idle.armed && !idle.timer.is_elapsed() {
                return Poll::Pending;
            }
            // Armed only when the poll registers this task: a poll refused for want of
            // scheduling budget registers nothing (the task is merely polled again), so the
            // timer must be polled again then.
            *idle.armed = tokio::task::coop::has_budget_remaining();
            ready!(idle.timer.as_mut().poll(cx));
            match ctx.activity.idle_check(wait) {
                Some(at) => {
                    idle.timer.as_mut().reset(at);
                    *idle.armed = false;
                }
                None => {
                    if !*idle.draining {
                        tracing::debug!("closing idle connection");
                    }
                    return Poll::Ready(None);
                }
            }
        }
    })
    .await
}

/// Answers a head that cannot be served (the listener's answer, e.g. a JSON reason) and
/// closes.
async fn refuse<I: AsyncRead + AsyncWrite + Unpin>(
    link: &Link<I>,
    resp: Response<http_body_util::Full<Bytes>>,
) {
    let x = Exchange {
        head_request: false,
        version: Version::HTTP_11,
        keep_alive: false,
        body_len: None,
    };
    if respond(link, resp, x).await.is_ok() {
        close(link).await;
        linger(link).await;
    }
}

/// After answering and closing the write side, reads (and drops) what the client is still
/// sending, for a short while: closing with unread bytes would reset the connection, and the
/// client could lose the answer.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(link: &Link<I>) {
    const MOST: usize = 256 * 1024;
    let mut dropped = 0;
    let discard = |w: &mut Wire<I>| {
        let len = w.rbuf.data().len();
        w.rbuf.consume(len);
    };
    link.with(discard);
    let drain = async {
        while dropped < MOST {
            match poll_fn(|cx| link.poll_fill(cx, BODY_READ)).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    dropped += n;
                    link.with(discard);
                }
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
}

/// Closes the connection's write side (TLS: with its close notification).
async fn close<I: AsyncRead + AsyncWrite + Unpin>(link: &Link<I>) {
    let _ = poll_fn(|cx| link.poll_shutdown(cx)).await;
}

/// Writes one response: its head (framed for its body) and its body. Returns whether the
/// connection stays open.
async fn respond<I, B>(link: &Link<I>, resp: Response<B>, mut x: Exchange) -> io::Result<bool>
where
    I: AsyncRead + AsyncWrite + Unpin,
    B: Body + HeadFields,
    B::Error: Into<BoxError>,
{
    let (mut parts, mut body) = resp.into_parts();
    x.body_len = body.size_hint().exact();
    let mut buf = buffers::take_write();
    let wire = body.take_wire_fields();
    let (framing, keep_alive) = encode::head(&mut buf, parts.status, &mut parts.headers, wire, x);
    // Frames are held rather than copied only where nothing is written behind each (no chunk
    // framing) and the stream writes vectored.
    let holdable = matches!(framing, BodyFraming::Length(_) | BodyFraming::Close);
    let mut out = Outgoing::new(buf, holdable && link.is_write_vectored());
    // The response's map serves a later request's head.
    buffers::give_map(std::mem::take(&mut parts.headers));
    drop(parts);
    let mut body = pin!(body);
    let mut sent: u64 = 0;
    if framing != BodyFraming::None && !body.is_end_stream() {
        let mut trailers = None;
        loop {
            // Take what the body has ready; write out what is buffered before waiting.
            let ready = poll_fn(|cx| match body.as_mut().poll_frame(cx) {
                Poll::Pending => Poll::Ready(None),
                Poll::Ready(f) => Poll::Ready(Some(f)),
            })
            .await;
            let frame = match ready {
                Some(f) => f,
                None => {
                    link.write_out(&mut out).await?;
                    poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                }
            };
            let frame = match frame {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    // What was sent cannot be framed as complete: the connection is cut.
                    return Err(io::Error::other(e.into()));
                }
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                    }
                    continue;
                }
            };
            let len = data.remaining();
            if len == 0 {
                continue;
            }
            sent += len as u64;
            match framing {
                BodyFraming::Length(n) if sent > n => {
                    return Err(io::Error::other("response body longer than its length"));
                }
                _ => {}
            }
            if !out.has_room(holdable) {
                link.write_out(&mut out).await?;
            }
            if framing == BodyFraming::Chunked {
                encode::chunk_size(&mut out.buf, len);
            }
            out.push(data, holdable);
            if framing == BodyFraming::Chunked {
                out.buf.extend_from_slice(b"\r\n");
            }
            if out.len() >= WRITE_HIGH {
                link.write_out(&mut out).await?;
            }
        }
        if framing == BodyFraming::Chunked {
            // Chunked bodies hold no frame: the buffer is the end of what waits.
            let buf = &mut out.buf;
            buf.extend_from_slice(b"0\r\n");
            for (name, value) in trailers.iter().flatten() {
                buf.extend_from_slice(name.as_str().as_bytes());
                buf.extend_from_slice(b": ");
                buf.extend_from_slice(value.as_bytes());
                buf.extend_from_slice(b"\r\n");
            }
            buf.extend_from_slice(b"\r\n");
        }
    }
    if let BodyFraming::Length(n) = framing {
        if sent < n && framing != BodyFraming::None {
            link.write_out(&mut out).await?;
            return Err(io::Error::other("response body shorter than its length"));
        }
    }
    link.write_out(&mut out).await?;
    buffers::give_write(out.into_buf());
    Ok(keep_alive && framing != BodyFraming::Close)
}

/// Hands the connection to hyper's HTTP/1.1 server (upgrades, CONNECT), replaying the bytes
/// read and not yet used.
async fn hand_off<I, S, Rb>(ctx: ConnCtx<Arc<Link<I>>, S>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    let (link, rest) = ctx.take_io();
    let Ok(link) = Arc::try_unwrap(link) else {
        return;
    };
    let Ok(wire) = link.0.into_inner() else {
        return;
    };
    let Wire { io, rbuf, .. } = wire;
    let io = Rewind {
        pre: Bytes::copy_from_slice(rbuf.data()),
        io: Replay::spent(io),
    };
    drop(rbuf);
    crate::server::conn::serve_hyper_h1(rest.with_io(io)).await;
}

/// A stream whose first bytes were already read: they are handed out again first.
pub(in crate::server) struct Rewind<I> {
    pre: Bytes,
    io: I,
}

impl<I> Rewind<I> {
    /// The bytes not yet handed out again, and the stream.
    pub(in crate::server) fn into_parts(self) -> (Bytes, I) {
        (self.pre, self.io)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            let pre = self.pre.split_to(n);
            buf.put_slice(&pre);
            return Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

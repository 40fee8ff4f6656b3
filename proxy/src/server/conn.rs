//! One client connection: HTTP/1.1 (with upgrades) or HTTP/2 (h2c by prior knowledge), told
//! apart by the first bytes, closed after an idle period with no request in flight, and
//! drained on shutdown without cutting a request the client has already sent.
//!
//! The drain: an HTTP/2 connection gets GOAWAY (its open streams finish). An HTTP/1.1
//! connection keeps serving: the request in flight, or the next one the client sends, is
//! answered with `Connection: close` and the connection closes after that response. Only a
//! connection that stays idle for the drain's idle grace is closed without a response, so a
//! client that sent a request just as the drain began still gets its answer.

use super::h1::{HeadFields, ServerBody};
use super::sniff::{sniff, Proto, Replay};
use super::stall::WriteStall;
use super::BoxError;
use super::ConnTicket;
use futures_util::future::Either;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;

/// A service a connection's server can run: it takes requests with the stack's body `Rb` and
/// answers with a body any of the servers can write; its futures run on the connection's own
/// task or (HTTP/2) on a task of their own. Every service of this shape is one.
pub trait ConnService<Rb>:
    Service<
        Request<Rb>,
        Response = Response<Self::Body>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Send
    + 'static
{
    /// The response body (which may carry its head's fields, see [`HeadFields`]).
    type Body: http_body::Body<Data: Send, Error: Into<BoxError>> + HeadFields + Send + 'static;
}

impl<S, Rb, B> ConnService<Rb> for S
where
    S: Service<Request<Rb>, Response = Response<B>, Error: Into<BoxError>, Future: Send + 'static>
        + Send
        + 'static,
    B: http_body::Body<Data: Send, Error: Into<BoxError>> + HeadFields + Send + 'static,
{
    type Body = B;
}

/// Per-connection limits, read from the config in force when the connection was accepted.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Time to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Close after this long with no request in flight.
    pub idle_timeout: Duration,
    /// Largest request head hyper will buffer (HTTP/1) or accept (HTTP/2 header list).
    pub max_head_bytes: usize,
    /// A write to the client that waits this long (the client stopped reading) fails the
    /// connection.
    pub write_stall_timeout: Duration,
    /// During the drain, an HTTP/1.1 connection that sends no request for this long is closed.
    pub drain_idle_grace: Duration,
    /// Which server serves HTTP/1.x (the native one only for services that take
    /// [`super::RequestBody`]).
    pub http1: crate::server::Http1Server,
    /// The answer to a request head the native server refuses (the listener's error format).
    pub refuse: fn(super::HeadRefused) -> Response<http_body_util::Full<bytes::Bytes>>,
}

/// Requests in flight on one connection, and since when it has had none: the idle timer runs
/// only while there are none, and counts from when the last one ended.
/// It also holds the connection's place in its listener's [`ConnTracker`]: a tunnel or
/// response body that outlives the HTTP connection keeps the connection counted (for the
/// connection cap and the drain) until it ends too.
///
/// Nothing is woken when a request starts or ends: a connection's timer, when it fires, looks
/// here whether the connection is still idle, and if not sets itself again.
#[derive(Debug)]
pub struct ConnActivity {
    inflight: AtomicUsize,
    /// When the last request ended, in nanoseconds after `opened`.
    idle_since: AtomicU64,
    opened: Instant,
    stalled: AtomicBool,
    _ticket: Option<ConnTicket>,
}

impl Default for ConnActivity {
    fn default() -> Self {
        ConnActivity {
            inflight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            opened: Instant::now(),
            stalled: AtomicBool::new(false),
            _ticket: None,
        }
    }
}

impl ConnActivity {
    /// Activity of a connection counted by `ticket`'s tracker.
    pub fn tracked(ticket: ConnTicket) -> Self {
        ConnActivity {
            _ticket: Some(ticket),
            ..ConnActivity::default()
        }
    }

    /// Whether the connection was cut because the client stopped reading.
    pub fn write_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    /// The connection was cut because the client stopped reading.
    pub(super) fn stalled(&self) {
        self.stalled.store(true, Ordering::Release);
    }

    /// A request began (a request counted twice, by the connection and by its record, is
    /// idle only once both have ended).
    pub fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
    }

    /// A request (its response body, or its upgraded tunnel) ended. The last one in flight
    /// notes the time first, so a timer that sees none in flight sees when the last ended.
    pub fn request_finished(&self) {
        let last = self.inflight.load(Ordering::Acquire) == 1;
        if last {
            self.note_idle();
        }
        if self.inflight.fetch_sub(1, Ordering::AcqRel) == 1 && !last {
            // Another request ended at the same moment; this one turned out to be the last.
            self.note_idle();
        }
    }

    fn note_idle(&self) {
        let ns = self.opened.elapsed().as_nanos();
        self.idle_since
            .store(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Counts one request in flight until the returned guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.request_started();
        InFlight(self.clone())
    }

    /// For a timer set `timeout` or longer ago that fires now: `None` when the connection has
    /// had no request in flight for `timeout`, else when to look again.
    pub(super) fn idle_check(&self, timeout: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.inflight.load(Ordering::Acquire) > 0 {
            return Some(now + timeout);
        }
        let since = Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
        let idle_at = self.opened + since + timeout;
        (idle_at > now).then_some(idle_at)
    }

    /// Returns once the connection has had no request in flight for `timeout` (counted from
    /// this call at the earliest).
    pub(super) async fn idle(&self, timeout: Duration) {
        let mut timer = std::pin::pin!(tokio::time::sleep(timeout));
        loop {
            timer.as_mut().await;
            match self.idle_check(timeout) {
                None => return,
                Some(at) => timer.as_mut().reset(at),
            }
        }
    }
}

/// One request in flight on a connection, from [`ConnActivity::begin`].
#[derive(Debug)]
pub struct InFlight(Arc<ConnActivity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// What a connection's server runs with: its stream, the service, the limits in force when it
/// was accepted, its activity, and the drain's signal (true once the drain has begun). Each
/// stage takes it whole, with the stream as that stage sees it (sniffed, or shared with the
/// request bodies).
pub struct ConnCtx<I, S> {
    /// The stream.
    pub io: I,
    /// The service requests go to.
    pub service: S,
    /// The connection's limits.
    pub limits: ConnLimits,
    /// Requests in flight (the idle timer) and the connection's place in its tracker.
    pub activity: Arc<ConnActivity>,
    /// Turns true when the drain begins.
    pub shutdown: watch::Receiver<bool>,
}

impl<I, S> ConnCtx<I, S> {
    /// The stream, and the rest of the context to hand on with the stream the next stage sees.
    pub(super) fn take_io(self) -> (I, ConnCtx<(), S>) {
        let ConnCtx {
            io,
            service,
            limits,
            activity,
            shutdown,
        } = self;
        let rest = ConnCtx {
            io: (),
            service,
            limits,
            activity,
            shutdown,
        };
        (io, rest)
    }
}

impl<S> ConnCtx<(), S> {
    /// The context with `io` as its stream.
    pub(super) fn with_io<I>(self, io: I) -> ConnCtx<I, S> {
        ConnCtx {
            io,
            service: self.service,
            limits: self.limits,
            activity: self.activity,
            shutdown: self.shutdown,
        }
    }
}

impl<I> ConnCtx<I, ()> {
    /// The context with `service` as its service.
    pub fn serving<S>(self, service: S) -> ConnCtx<I, S> {
        ConnCtx {
            io: self.io,
            service,
            limits: self.limits,
            activity: self.activity,
            shutdown: self.shutdown,
        }
    }
}

/// Serves HTTP on `ctx.io` until the client closes, the connection idles out, or
/// `ctx.shutdown` turns true and the connection is drained (see the module's documentation).
///
/// The first bytes tell HTTP/2 (its preface) from HTTP/1.x; the connection then holds only
/// the server state of its own protocol (an idle HTTP/1.1 keep-alive connection is a few
/// hundred bytes of future). Waiting for them counts against `header_read_timeout` and the
/// idle timeout.
///
/// Not an `async fn`: one keeps room for its arguments for its whole life, beside the state of
/// the server that took them over. Here the server's future takes the place of the wait for
/// the first bytes and of what was kept for it.
pub fn serve_connection<I, S, Rb>(ctx: ConnCtx<I, S>) -> impl Future<Output = ()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    let (io, rest) = ctx.take_io();
    // Boxed: the wait for the first bytes holds its own timers and the drain's; its state is
    // freed once they come, so it does not size the task of a connection that then idles.
    let first = Box::pin(first_bytes(
        io,
        rest.limits,
        rest.activity.clone(),
        rest.shutdown.clone(),
    ));
    first.then(move |found| {
        let Some((proto, io)) = found else {
            return Either::Left(std::future::ready(()));
        };
        let native = rest.limits.http1 == crate::server::Http1Server::Native;
        let ctx = rest.with_io(io);
        Either::Right(match proto {
            Proto::H1 if Rb::NATIVE && native => Either::Left(super::h1::serve(ctx)),
            // Boxed: hyper's HTTP/1.1 connection state would otherwise size every connection's
            // task; an HTTP/2 connection's state is large, and rare next to HTTP/1.1's.
            Proto::H1 => Either::Right(Either::Left(Box::pin(serve_hyper_h1(ctx)))),
            Proto::H2 => Either::Right(Either::Right(Box::pin(serve_h2(ctx)))),
        })
    })
}

/// HTTP/2 served by hyper until the client closes, the connection idles out, or the drain
/// ends it (GOAWAY; open streams finish).
async fn serve_h2<I, S, Rb>(ctx: ConnCtx<I, S>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    let limits = ctx.limits;
    // The streams run on this task, each watched for a client that takes nothing of its
    // response.
    let exec = super::StreamExecutor::new(limits.write_stall_timeout);
    let conn = hyper::server::conn::http2::Builder::new(exec.clone())
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .serve_connection(TokioIo::new(ctx.io), DateLiteral(MapBody::new(ctx.service)));
    let conn = std::pin::pin!(exec.run(conn));
    drive(
        conn,
        |c| c.conn().graceful_shutdown(),
        Drain::Now,
        limits,
        &ctx.activity,
        ctx.shutdown,
    )
    .await;
}

/// Waits for a connection's first bytes and tells its protocol by them; `None` when the
/// connection is to close (the client closed it or sent nothing within the header-read
/// timeout, it stayed idle, or the drain's grace passed with nothing sent).
async fn first_bytes<I>(
    io: I,
    limits: ConnLimits,
    activity: Arc<ConnActivity>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<(Proto, Replay<WriteStall<I>>)>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let io = WriteStall::new(io, limits.write_stall_timeout, activity.clone());
    let sniffing = tokio::time::timeout(limits.header_read_timeout, sniff(io));
    tokio::pin!(sniffing);
    let sniffed = tokio::select! {
        r = &mut sniffing => r,
        _ = super::stopped(&mut shutdown) => {
            // Draining: the client may have sent its first request already; it gets an
            // answer if its first bytes come within the idle grace.
            match tokio::time::timeout(limits.drain_idle_grace, sniffing).await {
                Ok(r) => r,
                Err(_) => return None,
            }
        }
        _ = activity.idle(limits.idle_timeout) => {
            tracing::debug!("closing idle connection");
            return None;
        }
    };
    match sniffed {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "connection ended before its first request");
            None
        }
        Err(_) => {
            tracing::debug!("no request within the header read timeout");
            None
        }
    }
}

/// HTTP/1.x served by hyper (with upgrades) until the client closes, the connection idles
/// out, or the drain ends it.
pub(super) async fn serve_hyper_h1<I, S, Rb>(ctx: ConnCtx<I, S>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Rb: ServerBody,
    S: ConnService<Rb>,
{
    let limits = ctx.limits;
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .half_close(false)
        .serve_connection(
            TokioIo::new(ctx.io),
            CloseWhenDraining {
                inner: MapBody::new(ctx.service),
                draining: ctx.shutdown.clone(),
            },
        )
        .with_upgrades();
    tokio::pin!(conn);
    let drain = Drain::WhenIdleFor(limits.drain_idle_grace);
    drive(
        conn,
        |c| c.graceful_shutdown(),
        drain,
        limits,
        &ctx.activity,
        ctx.shutdown,
    )
    .await;
}

/// A service on the stack's request body type, served by hyper: the fields a response's body
/// carries go into its header map, which is what hyper writes.
struct MapBody<S, Rb>(S, std::marker::PhantomData<fn(Rb)>);

impl<S, Rb> MapBody<S, Rb> {
    fn new(inner: S) -> Self {
        MapBody(inner, std::marker::PhantomData)
    }
}

impl<S, Rb, B> Service<Request<Incoming>> for MapBody<S, Rb>
where
    S: Service<Request<Rb>, Response = Response<B>>,
    Rb: ServerBody,
    B: HeadFields,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<S::Future, fn(Response<B>) -> Response<B>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        use futures_util::TryFutureExt;
        let into_map: fn(Response<B>) -> Response<B> = super::h1::into_map;
        self.0.call(req.map(Rb::from_hyper)).map_ok(into_map)
    }
}

/// An HTTP/2 service whose responses' `Date` is sent as an HPACK literal never indexed.
///
/// The value changes once a second, and the `h2` crate's encoder keeps every value it indexed
/// in a chain it searches from the oldest: on a long-lived connection each response compared
/// its `Date` with every earlier second still in the 4 KiB table (up to about sixty) before it
/// found its own. As a literal it costs about twenty bytes more on the wire per response and
/// no search; the other headers that repeat (`Server`, `Content-Type`, `Via`) stay indexed.
struct DateLiteral<S>(S);

impl<S, B> Service<Request<Incoming>> for DateLiteral<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Finishing<S::Future, DateNeverIndexed>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        Finishing {
            fut: self.0.call(req),
            finish: DateNeverIndexed,
        }
    }
}

/// An HTTP/1.1 service whose responses say `Connection: close` once the drain has begun;
/// hyper then closes the connection after writing the response.
struct CloseWhenDraining<S> {
    inner: S,
    draining: watch::Receiver<bool>,
}

impl<S, B> Service<Request<Incoming>> for CloseWhenDraining<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Finishing<S::Future, CloseIfDraining>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        // A tunnel's connection is the tunnel: it is not closed after the response head.
        let tunnel = req.method() == hyper::Method::CONNECT;
        Finishing {
            fut: self.inner.call(req),
            finish: CloseIfDraining {
                draining: self.draining.clone(),
                tunnel,
            },
        }
    }
}

/// What a service wrapper changes in each response head its inner service answers.
pub trait Finish {
    /// Changes `resp` before the server writes it.
    fn finish<B>(&self, resp: &mut Response<B>);
}

/// [`DateLiteral`]'s change: the `Date` value marked sensitive.
pub struct DateNeverIndexed;

impl Finish for DateNeverIndexed {
    fn finish<B>(&self, resp: &mut Response<B>) {
        if let Some(date) = resp.headers_mut().get_mut(hyper::header::DATE) {
            date.set_sensitive(true);
        }
    }
}

/// [`CloseWhenDraining`]'s change: `Connection: close` once the drain has begun, except on a
/// tunnel or an upgrade.
pub struct CloseIfDraining {
    draining: watch::Receiver<bool>,
    tunnel: bool,
}

impl Finish for CloseIfDraining {
    fn finish<B>(&self, resp: &mut Response<B>) {
        let upgrade = resp.status() == hyper::StatusCode::SWITCHING_PROTOCOLS;
        if *self.draining.borrow() && !self.tunnel && !upgrade {
            resp.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
        }
    }
}

pin_project_lite::pin_project! {
    /// A response on its way through a wrapper that changes its head ([`Finish`]): the inner
    /// service's future, not boxed again (the inner future is the request's one allocation).
    pub struct Finishing<F, T> {
        #[pin]
        fut: F,
        finish: T,
    }
}

impl<F, T, B, E> Future for Finishing<F, T>
where
    F: Future<Output = Result<Response<B>, E>>,
    T: Finish,
{
    type Output = F::Output;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut resp = std::task::ready!(this.fut.poll(cx))?;
        this.finish.finish(&mut resp);
        std::task::Poll::Ready(Ok(resp))
    }
}

/// When a connection's graceful close is asked for once the drain begins.
#[derive(Clone, Copy, Debug)]
enum Drain {
    /// At once: the protocol announces it (HTTP/2 GOAWAY) and open streams finish.
    Now,
    /// HTTP/1.1: only after the grace with no request in flight; until then each response
    /// carries `Connection: close` (see [`CloseWhenDraining`]).
    WhenIdleFor(Duration),
}

/// Runs a connection until it ends, closing it gracefully when drained or when idle.
async fn drive<C, E>(
    mut conn: Pin<&mut C>,
    close: fn(Pin<&mut C>),
    drain: Drain,
    limits: ConnLimits,
    activity: &ConnActivity,
    mut shutdown: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), E>> + ?Sized,
    E: std::fmt::Display,
{
    let draining = *shutdown.borrow();
    if !draining {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = super::stopped(&mut shutdown) => {}
            _ = activity.idle(limits.idle_timeout) => {
                tracing::debug!("closing idle connection");
                close(conn.as_mut());
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with an error while closing");
                }
                return;
            }
        }
    }
    if let Drain::WhenIdleFor(grace) = drain {
        // Closing an idle HTTP/1.1 connection now would lose a request already on its way;
        // instead the next request is answered, with `Connection: close`.
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = activity.idle(grace) => {}
        }
    }
    close(conn.as_mut());
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error while closing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_timer_counts_from_the_last_request_end() {
        let activity = Arc::new(ConnActivity::default());
        let hour = Duration::from_secs(3600);
        // Idle since it opened: a zero timeout has passed.
        assert_eq!(activity.idle_check(Duration::ZERO), None);
        let first = activity.begin();
        let second = activity.begin();
        // Requests in flight: never idle, whatever the timeout; look again a timeout later.
        assert!(activity.idle_check(Duration::ZERO).is_some());
        drop(first);
        assert!(activity.idle_check(Duration::ZERO).is_some());
        let ended = Instant::now();
        drop(second);
        assert_eq!(activity.idle_check(Duration::ZERO), None);
        // The next look is a whole timeout after the last request ended, not after it opened.
        let again = activity.idle_check(hour).expect("not idle for an hour yet");
        assert!(again >= ended + hour);
    }
}

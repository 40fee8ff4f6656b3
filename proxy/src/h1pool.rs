//! Upstream HTTP/1 connections driven by the task of the call that uses them, and the keep-alive
//! pool that holds them between calls.
//!
//! A [`Conn`] is Sightline's own HTTP/1.1 client connection (`native.rs`, framed by
//! [`response`]), or, with `runtime.upstream_http1: hyper`, a hyper client connection's two
//! halves kept together: the sender of requests and the connection future that reads and
//! writes the socket. No task of its own runs it: the call that checks it out gives it the
//! request ([`Conn::start`]) and polls it until the response head arrives ([`Conn::sent_by`]),
//! then the response body ([`UpstreamBody`]) owns it and polls it while the body is read.
//! When the body ends cleanly and the connection can take another request, it goes back to
//! its [`Pool`]; every other ending (an error, a client gone mid-body, a stall cut off) drops
//! it, which closes it. So a call crosses no task boundary on the way upstream and
//! back, and nothing is spawned per connection or per request.
//!
//! The pool is sharded by worker thread: a worker checks connections in and out of its own
//! shard, whose lock no other worker normally takes. On checkout, a connection idle for longer
//! than the idle timeout, or one the upstream closed while it sat idle (seen by polling it once
//! without waiting), is dropped and the next one tried; at most a bounded number stay idle.

use crate::server::{BoxError, HeadFields, WireFields};
use crate::wire::next_hop::NextHop;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::time::Sleep;

/// The socket of an upstream connection: TCP, or TLS over TCP.
pub type Io = hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

mod native;
pub mod response;
mod stream;
#[cfg(test)]
mod tests;

/// What a request body sent on a pooled connection must be.
pub trait RequestBody: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static {}

impl<B> RequestBody for B where B: Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static
{}

/// Which client speaks HTTP/1.1 to upstreams (`runtime.upstream_http1`). Upgrades and
/// HTTP/2 upstreams go through hyper's pooled client either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Http1Client {
    /// Sightline's own HTTP/1.1 framing over httparse: no buffer held by an idle connection.
    #[default]
    Native,
    /// hyper's HTTP/1.1 client connection.
    Hyper,
}

/// One upstream HTTP/1 connection, polled by whoever holds it.
pub struct Conn<B: RequestBody> {
    kind: Kind<B>,
    /// Until when it may stay idle in its pool (set as it goes idle).
    idle_until: Instant,
    /// Fires by the deadline of the exchange under way ([`Conn::sent_by`]): one timer for the
    /// connection's life, set earlier or later only as it needs.
    timer: Option<Pin<Box<Sleep>>>,
}

// The whole `Conn` is boxed once, so the variants' sizes cost nothing when it moves.
#[allow(clippy::large_enum_variant)]
enum Kind<B: RequestBody> {
    /// hyper's request sender and connection future.
    Hyper {
        send: SendRequest<B>,
        conn: Connection<Io, B>,
        /// The connection future has finished: the connection is closed (or failed).
        closed: bool,
        /// The response to the request under way, until it has come.
        response: Option<HyperResponse<B>>,
    },
    /// Sightline's own.
    Native(native::NativeConn<B>),
}

impl<B: RequestBody> std::fmt::Debug for Conn<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Hyper { closed, .. } => f
                .debug_struct("Conn")
                .field("closed", closed)
                .finish_non_exhaustive(),
            Kind::Native(n) => n.fmt(f),
        }
    }
}

/// Why a request sent on a connection got no response head.
#[derive(Debug)]
pub struct SendError<B> {
    /// The request, when the upstream took none of it: it may go on another connection.
    /// Boxed: this is the rare case, and every result of an exchange would otherwise have
    /// room for a whole request.
    pub unsent: Option<Box<Request<B>>>,
    /// What failed.
    pub error: BoxError,
}

/// A response head's body as it comes off a connection, with the head's fields when they came
/// as the wire carried them ([`response::Fields::Wire`]).
pub struct Received(Source, Option<WireFields>);

enum Source {
    Hyper(Incoming),
    Native,
}

impl<B: RequestBody> Conn<B> {
    /// Starts HTTP/1.1 on a connected socket with hyper's client. Boxed once here, so that
    /// checking the connection in and out of the pool moves a pointer, never its state.
    pub async fn handshake(io: Io) -> hyper::Result<Box<Self>> {
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await?;
        Ok(Box::new(Conn {
            kind: Kind::Hyper {
                send,
                conn,
                closed: false,
                response: None,
            },
            idle_until: Instant::now(),
            timer: None,
        }))
    }

    /// Starts HTTP/1.1 on a connected socket with Sightline's own client, accepting response
    /// heads up to `max_head` bytes.
    pub fn native(io: Io, max_head: usize) -> Box<Self> {
        Box::new(Conn {
            kind: Kind::Native(native::NativeConn::new(io, max_head)),
            idle_until: Instant::now(),
            timer: None,
        })
    }

    /// Moves a hyper connection on (writes the request and its body, reads the response) as
    /// far as it goes without waiting. A native connection moves as its body is read.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Kind::Hyper { conn, closed, .. } = &mut self.kind {
            if !*closed && Pin::new(conn).poll(cx).is_ready() {
                *closed = true;
            }
        }
    }

    /// Whether the connection can take another request now: polled once without waiting (so
    /// that a close by the upstream, or the end of the last exchange, is taken in), then asked.
    fn reusable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(Waker::noop()));
        match &mut self.kind {
            Kind::Hyper { send, closed, .. } => !*closed && send.is_ready(),
            Kind::Native(n) => n.reusable(),
        }
    }

    /// Whether the exchange just over left the connection ready for another request; it is
    /// polled only when it has not told so already.
    fn ready_again(&mut self) -> bool {
        match &mut self.kind {
            Kind::Hyper { send, closed, .. } => !*closed && (send.is_ready() || self.reusable()),
            Kind::Native(n) => n.ready_again(),
        }
    }

    /// Starts an exchange: the request, with the fields `hop` adds, is taken at once (natively,
    /// its head written into the connection's buffer and its body taken; with hyper, the fields
    /// added to its map and the request handed to the connection), so that nothing waiting for
    /// the answer ([`Conn::sent_by`]) holds a request. An error means none of it can go, on this
    /// connection or another: its `Content-Length` is not a number.
    pub fn start(&mut self, mut req: Request<B>, hop: NextHop) -> Result<(), BoxError> {
        match &mut self.kind {
            Kind::Native(n) => n.start(req, hop).map_err(Into::into),
            Kind::Hyper { send, response, .. } => {
                hop.apply(req.headers_mut());
                // Boxed: hyper's future holds the request until the connection takes it, and
                // this client is the older path.
                *response = Some(Box::pin(send.try_send_request(req)));
                Ok(())
            }
        }
    }

    /// Drives the connection until the response head to the request [`Conn::start`] gave it
    /// has arrived, or `deadline` has passed (`None`). An error that carries the request back
    /// means the upstream took none of it: with hyper, none of it was written; natively, the
    /// connection closed or broke before any byte of a response and none of the request body
    /// had been taken. It may be sent again on another connection.
    ///
    /// The deadline is kept by the connection's own timer, which is not set again for each
    /// exchange: it is moved only when it would fire after the new deadline (the first
    /// exchange, or a shorter timeout). One left set for an earlier exchange's deadline (the
    /// usual case, one exchange after another) fires early, once, and is then set to the
    /// deadline under way ([`SentBy`]): a busy connection's timer is set about once a timeout,
    /// and an exchange reads no clock and computes nothing for it. While the connection idles,
    /// the timer may fire once and wake the task of the call that used it last, which finds
    /// nothing to do.
    ///
    /// The returned future is a few words: it holds no request, only the connection's parts.
    pub fn sent_by(&mut self, deadline: tokio::time::Instant) -> SentBy<'_, B> {
        if let Some(timer) = self.timer.as_mut().filter(|t| t.deadline() > deadline) {
            timer.as_mut().reset(deadline);
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        let sending = Sending(match &mut self.kind {
            Kind::Native(n) => Step::Native(n),
            Kind::Hyper {
                response,
                conn,
                closed,
                ..
            } => Step::Hyper {
                response,
                conn,
                closed,
            },
        });
        SentBy {
            sending,
            timer: timer.as_mut(),
            deadline,
        }
    }
}

/// What one attempt of an exchange on a connection gives: the response head, or why none came.
pub type Sent<B> = Result<Response<Received>, SendError<B>>;

/// What [`exchange`] gives: the response head, and the connection its body comes over.
pub type Exchanged<B> = (Response<Received>, Box<Conn<B>>);

/// An exchange under way on a connection, and its deadline: the future [`Conn::sent_by`]
/// returns.
pub struct SentBy<'c, B: RequestBody> {
    sending: Sending<'c, B>,
    timer: Pin<&'c mut Sleep>,
    deadline: tokio::time::Instant,
}

impl<B: RequestBody> Future for SentBy<'_, B> {
    type Output = Option<Sent<B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(sent) = Pin::new(&mut this.sending).poll(cx) {
            return Poll::Ready(Some(sent));
        }
        loop {
            std::task::ready!(this.timer.as_mut().poll(cx));
            // Fired: past the deadline, unless the timer was still set for an earlier one.
            if this.timer.deadline() >= this.deadline {
                return Poll::Ready(None);
            }
            this.timer.as_mut().reset(this.deadline);
        }
    }
}

/// An exchange under way on a connection.
struct Sending<'c, B: RequestBody>(Step<'c, B>);

/// hyper's response future, as [`Sending`] keeps it.
type HyperResponse<B> = Pin<
    Box<
        dyn Future<
                Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<B>>>,
            > + Send,
    >,
>;

enum Step<'c, B: RequestBody> {
    /// Writing the request and reading the response head.
    Native(&'c mut native::NativeConn<B>),
    /// hyper's connection future, polled first, and its response.
    Hyper {
        response: &'c mut Option<HyperResponse<B>>,
        conn: &'c mut Connection<Io, B>,
        closed: &'c mut bool,
    },
}

impl<B: RequestBody> Future for Sending<'_, B> {
    type Output = Sent<B>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Step::Native(n) => match std::task::ready!(n.poll_response(cx)) {
                Ok(resp) => Poll::Ready(Ok(resp.map(|wire| Received(Source::Native, wire)))),
                Err(e) => Poll::Ready(Err(SendError {
                    unsent: n.take_unsent(&e).map(Box::new),
                    error: Box::new(e),
                })),
            },
            Step::Hyper {
                response,
                conn,
                closed,
            } => {
                // The connection first: it takes the request, writes it and reads what came;
                // then the response is looked at, so nothing waits for another wake-up.
                if !**closed && Pin::new(&mut **conn).poll(cx).is_ready() {
                    **closed = true;
                }
                let Some(pending) = (**response).as_mut() else {
                    return Poll::Ready(Err(SendError {
                        unsent: None,
                        error: "no request was started on the connection".into(),
                    }));
                };
                let answer = std::task::ready!(pending.as_mut().poll(cx));
                **response = None;
                Poll::Ready(match answer {
                    Ok(resp) => Ok(resp.map(|b| Received(Source::Hyper(b), None))),
                    Err(mut e) => Err(SendError {
                        unsent: e.take_message().map(Box::new),
                        error: Box::new(e.into_error()),
                    }),
                })
            }
        }
    }
}

/// How [`exchange`] reaches an upstream when no idle connection serves, and what its
/// failures become.
pub trait Dial<B: RequestBody> {
    /// What a failed exchange becomes.
    type Error;

    /// A new connection.
    fn connect(&self) -> impl Future<Output = Result<Box<Conn<B>>, Self::Error>> + Send;

    /// Waits for the answer to the request started on `conn` ([`Conn::sent_by`]), within
    /// whatever bound the caller sets.
    fn send<'c>(
        &'c self,
        conn: &'c mut Conn<B>,
    ) -> impl Future<Output = Result<Sent<B>, Self::Error>> + Send + 'c;

    /// The error of an exchange that got no response head and is not tried again.
    fn failed(&self, error: BoxError) -> Self::Error;
}

/// One exchange over a connection idle in `pool` (when there is one), else over a new one from
/// `dial`. A request that a reused connection gave back (the upstream closed it before any byte
/// of an answer, with none of the request body taken: the race with its keep-alive timeout)
/// goes once more, on a new connection; nothing sent on a new connection is tried again.
/// Returns the response head and the connection its body comes over. `hop` names the fields
/// the request gains on the way ([`NextHop::none`]: none); `now` is when the exchange begins
/// (the caller has read the clock already), for the idle connections' age.
///
/// An idle connection is checked out and takes the request here, before the future is built,
/// so the future holds no request: the layers above move it while they build theirs, and a
/// request is hundreds of bytes. Only a request that waits for a new connection is kept, boxed
/// (that path makes a connection, and allocates anyway).
#[allow(clippy::manual_async_fn)]
pub fn exchange<'a, B, D>(
    pool: Option<&'a Pool<B>>,
    dial: D,
    mut req: Request<B>,
    hop: NextHop,
    now: Instant,
) -> impl Future<Output = Result<Exchanged<B>, D::Error>> + Send + 'a
where
    B: RequestBody,
    D: Dial<B> + Send + Sync + 'a,
{
    // A request sent again, or first on a new connection, has the fields in its map already.
    let map_answer = hop.map_answer;
    let mut next = match pool.and_then(|p| p.checkout(now)) {
        Some(mut conn) => {
            let started = conn.start(req, hop);
            Next::Started(conn, started)
        }
        None => {
            hop.apply(req.headers_mut());
            Next::Connect(Box::new(req))
        }
    };
    async move {
        let mut reused = matches!(next, Next::Started(..));
        loop {
            let mut conn = match next {
                Next::Started(conn, Ok(())) => conn,
                Next::Started(_, Err(error)) => return Err(dial.failed(error)),
                Next::Connect(req) => {
                    // Boxed: connecting (and a TLS handshake) is the rare path, and its future
                    // is kilobytes that every call's future would otherwise carry and copy.
                    let mut conn = Box::pin(dial.connect()).await?;
                    if let Err(error) = conn.start(*req, NextHop::none_answered(map_answer)) {
                        return Err(dial.failed(error));
                    }
                    conn
                }
            };
            match dial.send(&mut conn).await? {
                Ok(resp) => return Ok((resp, conn)),
                Err(e) => match e.unsent {
                    Some(unsent) if reused => {
                        next = Next::Connect(unsent);
                        reused = false;
                    }
                    _ => return Err(dial.failed(e.error)),
                },
            }
        }
    }
}

/// What an exchange does next: wait for the answer on a connection that took the request (or
/// refused it), or make a connection for the request first.
enum Next<B: RequestBody> {
    Started(Box<Conn<B>>, Result<(), BoxError>),
    Connect(Box<Request<B>>),
}

/// Idle connections to one upstream address.
pub struct Pool<B: RequestBody> {
    /// One per worker thread (at most [`MAX_SHARDS`]), each with its own bound.
    shards: Box<[Shard<B>]>,
    idle_timeout: Duration,
}

struct Shard<B: RequestBody> {
    /// Most recently used last: checkout takes the newest, expiry drops from the front.
    idle: Mutex<VecDeque<Box<Conn<B>>>>,
    max: usize,
}

impl<B: RequestBody> std::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("shards", &self.shards.len())
            .field("idle", &self.idle())
            .finish_non_exhaustive()
    }
}

/// Most shards a pool has (one per worker thread, up to this).
pub const MAX_SHARDS: usize = 16;

/// The number of the worker thread running this code, for picking its shard.
fn worker_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Relaxed);
    }
    INDEX.with(|i| *i)
}

impl<B: RequestBody> Pool<B> {
    /// A pool keeping at most `max_idle` idle connections in all (split among the shards of
    /// the current runtime's workers), each for at most `idle_timeout`.
    /// Built inside a runtime, a task of that runtime also drops expired connections while no
    /// call comes to do it.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Arc<Self> {
        // Any longer is forever, and an instant that far ahead could not be counted.
        let idle_timeout = idle_timeout.min(IDLE_FOREVER);
        let runtime = tokio::runtime::Handle::try_current().ok();
        let workers = match &runtime {
            Some(rt) => rt.metrics().num_workers(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let n = workers.min(MAX_SHARDS).min(max_idle).max(1);
        let shards = (0..n)
            .map(|i| Shard {
                idle: Mutex::new(VecDeque::new()),
                // `max_idle` split as evenly as it goes: the first `max_idle % n` get one more.
                max: max_idle / n + usize::from(i < max_idle % n),
            })
            .collect();
        let pool = Arc::new(Pool {
            shards,
            idle_timeout,
        });
        if let Some(rt) = runtime.filter(|_| max_idle > 0) {
            rt.spawn(sweep(Arc::downgrade(&pool)));
        }
        pool
    }

    /// Drops the idle connections past the idle timeout, in every shard.
    fn drop_expired(&self) {
        let now = Instant::now();
        for shard in &self.shards {
            let mut idle = shard.idle.lock().unwrap_or_else(PoisonError::into_inner);
            idle.retain(|c| now < c.idle_until);
        }
    }

    fn shard(&self) -> &Shard<B> {
        &self.shards[worker_index() % self.shards.len()]
    }

    /// An idle connection ready for a request at `now`, if this worker has one. Connections
    /// past the idle timeout, and ones closed while idle, are dropped on the way.
    pub fn checkout(&self, now: Instant) -> Option<Box<Conn<B>>> {
        let shard = self.shard();
        loop {
            let mut conn = shard
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_back()?;
            if now < conn.idle_until && conn.reusable() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for a later call, unless this worker already keeps as many as it may.
    /// Connections of this worker past the idle timeout are dropped first.
    fn checkin(&self, mut conn: Box<Conn<B>>) {
        let shard = self.shard();
        let now = Instant::now();
        conn.idle_until = now + self.idle_timeout;
        let mut idle = shard.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while idle.front().is_some_and(|c| c.idle_until <= now) {
            idle.pop_front();
        }
        if idle.len() < shard.max {
            idle.push_back(conn);
        }
    }

    /// Idle connections kept now, across all workers.
    pub fn idle(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.idle.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// Drops a pool's expired connections every half idle timeout, until the pool is gone: an
/// upstream is not left holding connections nobody will use once traffic stops.
async fn sweep<B: RequestBody>(pool: std::sync::Weak<Pool<B>>) {
    let Some(period) = pool.upgrade().map(|p| (p.idle_timeout / 2).max(SWEEP_MIN)) else {
        return;
    };
    loop {
        tokio::time::sleep(period).await;
        match pool.upgrade() {
            Some(pool) => pool.drop_expired(),
            None => return,
        }
    }
}

/// The longest idle timeout a pool counts (a century): any longer is the same.
const IDLE_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The shortest pause between two sweeps of a pool.
const SWEEP_MIN: Duration = Duration::from_millis(50);

/// A connection lent to one call, and the pool it returns to (none: it closes after the call).
struct Lease<B: RequestBody> {
    conn: Box<Conn<B>>,
    pool: Option<Arc<Pool<B>>>,
}

/// An upstream's response body. When it came over a pooled connection, it owns that connection
/// and drives it while the body is read; a body that ends cleanly returns it to its pool.
pub struct UpstreamBody<B: RequestBody> {
    body: Source,
    /// The head's fields, when they came as the wire carried them: the server that writes the
    /// head takes them ([`HeadFields`]).
    wire: Option<WireFields>,
    lease: Option<Lease<B>>,
    /// A native body failed: it ends with that error.
    failed: bool,
}

impl<B: RequestBody> std::fmt::Debug for UpstreamBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("pooled", &self.lease.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: RequestBody> From<Incoming> for UpstreamBody<B> {
    /// A body whose connection someone else drives.
    fn from(body: Incoming) -> Self {
        UpstreamBody {
            body: Source::Hyper(body),
            wire: None,
            lease: None,
            failed: false,
        }
    }
}

impl<B: RequestBody> UpstreamBody<B> {
    /// The body of a response that came over `conn`, lent from `pool`. An empty body is over
    /// already, and so is the connection's part in this call.
    pub fn pooled(body: Received, conn: Box<Conn<B>>, pool: Arc<Pool<B>>) -> Self {
        let mut out = UpstreamBody {
            body: body.0,
            wire: body.1,
            lease: Some(Lease {
                conn,
                pool: Some(pool),
            }),
            failed: false,
        };
        if out.is_end_stream() {
            out.release();
        }
        out
    }

    /// The body of a response that came over `conn`, used for this call only: the body
    /// drives it, and it closes when the body ends.
    pub fn single(body: Received, conn: Box<Conn<B>>) -> Self {
        UpstreamBody {
            body: body.0,
            wire: body.1,
            lease: Some(Lease { conn, pool: None }),
            failed: false,
        }
    }

    /// The body has ended cleanly: its connection goes back to the pool if it can take
    /// another request, else it is closed.
    fn release(&mut self) {
        if let Some(mut lease) = self.lease.take() {
            if let Some(pool) = lease.pool.take() {
                if lease.conn.ready_again() {
                    pool.checkin(lease.conn);
                }
            }
        }
    }

    /// Whether the response's head came without the fields that never cross a hop: the
    /// native client's parser leaves them out ([`response::ResponseHead::fields`]); hyper's
    /// heads come whole.
    pub fn hop_by_hop_removed(&self) -> bool {
        matches!(self.body, Source::Native)
    }

    fn native(&mut self) -> Option<&mut native::NativeConn<B>> {
        match &mut self.lease.as_mut()?.conn.kind {
            Kind::Native(n) => Some(n),
            Kind::Hyper { .. } => None,
        }
    }
}

impl<B: RequestBody> UpstreamBody<B> {
    /// The head's fields, when they came as the wire carried them.
    pub fn wire_fields_mut(&mut self) -> Option<&mut WireFields> {
        self.wire.as_mut()
    }
}

impl<B: RequestBody> HeadFields for UpstreamBody<B> {
    fn take_wire_fields(&mut self) -> Option<WireFields> {
        self.wire.take()
    }
}

impl<B: RequestBody> Body for UpstreamBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = match &mut this.body {
            Source::Hyper(body) => {
                if let Some(lease) = &mut this.lease {
                    lease.conn.drive(cx);
                }
                Pin::new(body).poll_frame(cx).map_err(Into::into)
            }
            Source::Native if this.failed => return Poll::Ready(None),
            Source::Native => match this.native() {
                Some(conn) => conn.poll_body(cx).map_err(Into::into),
                None => Poll::Ready(None),
            },
        };
        match &polled {
            // A body of known length is over with its last byte: the server may not ask
            // again, so the connection is released now.
            Poll::Ready(Some(Ok(_))) if this.is_end_stream() => this.release(),
            Poll::Ready(None) => this.release(),
            // Broken off mid-body: the connection cannot be trusted with another request.
            Poll::Ready(Some(Err(_))) => {
                this.lease = None;
                this.failed = true;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Source::Hyper(body) => body.is_end_stream(),
            Source::Native => match self.lease.as_ref().map(|l| &l.conn.kind) {
                Some(Kind::Native(n)) => n.body_done(),
                _ => true,
            },
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Source::Hyper(body) => body.size_hint(),
            Source::Native => match self.lease.as_ref().map(|l| &l.conn.kind) {
                Some(Kind::Native(n)) => match n.body_remaining() {
                    Some(left) => SizeHint::with_exact(left),
                    None => SizeHint::default(),
                },
                _ => SizeHint::with_exact(0),
            },
        }
    }
}

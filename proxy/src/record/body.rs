//! Bodies that count their bytes, and the guard that turns a call into a record when its
//! response is over: at the end of the body, or when the client goes away, whichever is first.

use super::{CallRecord, DropToken, RecordSink, ServiceCounters};
use crate::clock::Mono;
use crate::server::BoxError;
use crate::server::ConnActivity;
use crate::server::RequestBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The request body stopped because it passed `limits.max_request_body`.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {0} bytes")]
pub struct BodyLimitExceeded(pub u64);

/// The client's request body broke off or was malformed (a bad chunk size, a cut-off
/// message): the client's fault, not the upstream's.
#[derive(Debug, thiserror::Error)]
#[error("request body from the client failed: {0}")]
pub struct ClientBodyFailed(#[source] pub BoxError);

/// The client's request body moved no byte for `limits.body_idle_timeout`: the client's
/// fault, answered 408 when no response has started.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the request body from the client for {0:?}")]
pub struct ClientBodyTimeout(pub Duration);

/// The upstream's (or destination's) response body moved no byte for
/// `limits.body_idle_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the response body for {0:?}")]
pub struct UpstreamBodyTimeout(pub Duration);

/// Cuts off a body whose source has sent nothing for a while. Runs only while the source
/// has nothing to give: time a consumer takes between polls is not counted.
#[derive(Debug)]
struct IdleTimer {
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl IdleTimer {
    fn new(limit: Duration) -> Self {
        IdleTimer {
            limit,
            sleep: None,
            armed: false,
        }
    }

    /// The source gave something: the next wait starts afresh.
    fn progress(&mut self) {
        self.armed = false;
    }

    /// The source has nothing yet: ready once it has had nothing for the limit.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            let deadline = tokio::time::Instant::now() + self.limit;
            match self.sleep.as_mut() {
                Some(s) => s.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        match self.sleep.as_mut() {
            Some(s) => std::future::Future::poll(s.as_mut(), cx),
            None => Poll::Pending,
        }
    }
}

/// The request body bytes a call read from the client, shared by its guard and its body (or
/// relay), with whether the body is waiting on the client: one allocation per call for both.
/// Reads as the byte count (`fetch_add`, `load`).
#[derive(Clone, Debug, Default)]
pub struct BytesIn(Arc<BodyShared>);

#[derive(Debug, Default)]
struct BodyShared {
    bytes: AtomicU64,
    waiting: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for BytesIn {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0.bytes
    }
}

/// Whether a request body is waiting on the client: its last poll found no data from the
/// client yet, and the body has not ended. A timeout that strikes then is the client's.
#[derive(Clone, Debug, Default)]
pub struct ClientSending(Option<BytesIn>);

impl ClientSending {
    /// True while the body waits on bytes the client has not sent.
    pub fn waiting(&self) -> bool {
        self.0.as_ref().is_some_and(|b| b.0.waiting.load(Relaxed))
    }

    fn set(&self, waiting: bool) {
        if let Some(b) = &self.0 {
            b.0.waiting.store(waiting, Relaxed);
        }
    }
}

/// A client's request body on its way upstream: counts bytes, enforces the size limit and
/// the idle timeout while streaming, and tells whether it is waiting on the client.
#[derive(Debug)]
pub struct CountingBody {
    inner: Option<RequestBody>,
    /// `None` for a body that had ended before it was sent: nothing to count.
    count: Option<BytesIn>,
    limit: Option<u64>,
    idle: Option<IdleTimer>,
    sending: ClientSending,
}

impl CountingBody {
    /// Wraps `inner`; bytes are added to `count`.
    pub fn new(inner: impl Into<RequestBody>, count: BytesIn, limit: Option<u64>) -> Self {
        CountingBody {
            inner: Some(inner.into()),
            sending: ClientSending(Some(count.clone())),
            count: Some(count),
            limit,
            idle: None,
        }
    }

    /// An empty body (for upgrade requests, whose bytes flow after the 101).
    pub fn empty(count: BytesIn) -> Self {
        CountingBody {
            inner: None,
            sending: ClientSending(Some(count.clone())),
            count: Some(count),
            limit: None,
            idle: None,
        }
    }

    /// `inner`, a body that has ended already (a request without one): there is nothing to
    /// count or to wait for, so no counter is made.
    pub fn ended(inner: impl Into<RequestBody>) -> Self {
        CountingBody {
            inner: Some(inner.into()),
            count: None,
            limit: None,
            idle: None,
            sending: ClientSending(None),
        }
    }

    /// Fails the body with [`ClientBodyTimeout`] when the client sends nothing for `limit`.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle = Some(IdleTimer::new(limit));
        self
    }

    /// Whether the body is waiting on the client, readable while the body is sent.
    pub fn client_sending(&self) -> ClientSending {
        self.sending.clone()
    }
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        this.sending.set(polled.is_pending());
        if polled.is_pending() {
            if let Some(idle) = this.idle.as_mut() {
                if idle.poll_expired(cx).is_ready() {
                    let limit = idle.limit;
                    this.inner = None;
                    this.sending.set(false);
                    return Poll::Ready(Some(Err(Box::new(ClientBodyTimeout(limit)))));
                }
            }
        } else if let Some(idle) = this.idle.as_mut() {
            idle.progress();
        }
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    let total = self
                        .count
                        .as_ref()
                        .map_or(n, |c| c.fetch_add(n, Relaxed) + n);
                    if let Some(limit) = self.limit {
                        if total > limit {
                            self.inner = None;
                            return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded(limit)))));
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(ClientBodyFailed(e))))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// Holds a call's record until the call is over, then hands it to the recorder exactly once.
/// The record is allocated once, shared-ready: the guard is its only owner until it is handed
/// over, then the queue, the recorder task and the recent calls pass the pointer, not the
/// record's few hundred bytes.
///
/// The call is timed on the monotonic clock ([`Mono`]): one reading as the guard starts, one as
/// it ends (and one when the upstream's response head arrives); the recorder dates the record
/// by the wall clock later.
#[derive(Debug)]
pub struct CallGuard {
    rec: Option<Arc<CallRecord>>,
    started: Mono,
    recorder: Arc<dyn RecordSink>,
    counters: Arc<ServiceCounters>,
    /// Made when first asked for: a call that sends no request body needs none.
    bytes_in: Option<BytesIn>,
    activity: Arc<ConnActivity>,
    complete: bool,
    held: Option<DropToken>,
}

impl CallGuard {
    /// Starts a call, now, with its record (the guard's alone, as [`CallRecord::begin`] made
    /// it): the connection counts one more request in flight until the guard drops.
    pub fn start(
        mut rec: Arc<CallRecord>,
        recorder: Arc<dyn RecordSink>,
        counters: Arc<ServiceCounters>,
        activity: Arc<ConnActivity>,
    ) -> Self {
        activity.request_started();
        let started = Mono::now();
        // The record is the guard's alone here (no copy is made); were it shared, it would be
        // copied rather than left undated.
        Arc::make_mut(&mut rec).arrived = Some(started);
        CallGuard {
            rec: Some(rec),
            started,
            recorder,
            counters,
            bytes_in: None,
            activity,
            complete: false,
            held: None,
        }
    }

    /// Holds `held` (a concurrency slot) until the call ends.
    pub fn hold(&mut self, held: impl Send + Sync + 'static) {
        self.held = Some(DropToken::new(held));
    }

    /// The record being filled in. Always present until the guard drops.
    pub fn rec(&mut self) -> Option<&mut CallRecord> {
        self.rec.as_mut().and_then(Arc::get_mut)
    }

    /// The counter of request body bytes, shared with the [`CountingBody`].
    pub fn bytes_in(&mut self) -> BytesIn {
        self.bytes_in.get_or_insert_default().clone()
    }

    /// Time since the call started.
    pub fn elapsed(&self) -> Duration {
        Mono::now().since(self.started)
    }

    /// Counts the call against this service's counters instead of the unrouted ones.
    pub fn set_counters(&mut self, counters: Arc<ServiceCounters>) {
        self.counters = counters;
    }

    /// Marks the response as fully delivered.
    pub fn complete(&mut self) {
        self.complete = true;
    }

    fn add_out(&mut self, n: u64) {
        if let Some(rec) = self.rec() {
            rec.bytes_out += n;
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(mut shared) = self.rec.take() {
            // The guard is the record's only owner until here, so this always finishes it;
            // were it shared, it would still be counted and recorded as it stands.
            if let Some(rec) = Arc::get_mut(&mut shared) {
                self.finish(rec);
            }
            self.recorder.record(&self.counters, shared);
        }
        self.activity.request_finished();
    }
}

impl CallGuard {
    /// The record's last fields, as the call ends.
    fn finish(&self, rec: &mut CallRecord) {
        rec.duration = Mono::now().since(self.started);
        rec.bytes_in = self.bytes_in.as_ref().map_or(0, |b| b.load(Relaxed));
        if !self.complete && rec.error.is_none() && self.activity.write_stalled() {
            rec.error = Some("downstream_stalled");
            rec.reason = "the client stopped reading the response".into();
        } else if !self.complete && rec.error.is_none() {
            rec.error = Some("downstream_aborted");
            rec.reason = if rec.status.is_some() {
                "the client went away before the response ended".into()
            } else {
                // The request future was dropped: the client left while we waited.
                "the client went away before a response".into()
            };
        }
    }
}

/// What the client receives: the upstream's body or the proxy's own.
#[derive(Debug)]
pub enum ResponseBody {
    /// Streamed from the upstream.
    Upstream(crate::h1pool::UpstreamBody<CountingBody>),
    /// Generated by the proxy (errors, upgrades).
    Local(Full<Bytes>),
}

/// A response body that counts bytes to the client and finishes its call's record.
#[derive(Debug)]
pub struct RecordedBody {
    inner: ResponseBody,
    guard: Option<CallGuard>,
    idle: Option<IdleTimer>,
    /// On HTTP/2: tells the stream's watch when the body waits for the client.
    clock: Option<Arc<crate::server::StreamClock>>,
}

impl RecordedBody {
    /// Wraps `inner`; `guard` finishes when the body ends or is dropped.
    pub fn new(inner: ResponseBody, guard: Option<CallGuard>) -> Self {
        let empty = match &inner {
            ResponseBody::Upstream(b) => b.is_end_stream(),
            ResponseBody::Local(b) => b.is_end_stream(),
        };
        // An empty body is over with the headers; any other waits for its client from now.
        let clock = if empty {
            None
        } else {
            crate::server::current_stream_clock()
        };
        if let Some(c) = &clock {
            c.waiting_on_client();
        }
        RecordedBody {
            inner,
            guard,
            idle: None,
            clock,
        }
    }

    /// Fails the body with [`UpstreamBodyTimeout`] when the upstream sends nothing for
    /// `limit`; the client's connection (HTTP/1.1) or stream (HTTP/2) is then cut, and the
    /// upstream connection is released.
    pub fn idle_timeout(mut self, limit: Duration) -> Self {
        self.idle = Some(IdleTimer::new(limit));
        self
    }

    fn finish(&mut self) {
        if let Some(mut g) = self.guard.take() {
            g.complete();
        }
    }
}

impl Drop for RecordedBody {
    fn drop(&mut self) {
        if self.clock.as_ref().is_some_and(|c| c.was_cut()) {
            if let Some(rec) = self.guard.as_mut().and_then(|g| g.rec()) {
                if rec.error.is_none() {
                    rec.error = Some("downstream_stalled");
                    rec.reason = "the client stopped taking the response".into();
                }
            }
        }
        // hyper may never poll a body that is empty from the start.
        if self.is_end_stream() {
            self.finish();
        }
    }
}

impl crate::server::HeadFields for RecordedBody {
    fn take_wire_fields(&mut self) -> Option<crate::server::WireFields> {
        match &mut self.inner {
            ResponseBody::Upstream(b) => crate::server::HeadFields::take_wire_fields(b),
            ResponseBody::Local(_) => None,
        }
    }
}

impl Body for RecordedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(c) = &this.clock {
            c.asked();
        }
        let polled: Poll<Option<Result<Frame<Bytes>, BoxError>>> = match &mut this.inner {
            ResponseBody::Upstream(b) => match Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(ClientBodyFailed(e))))),
                Poll::Ready(Some(Ok(f))) => {
                    if let Some(idle) = this.idle.as_mut() {
                        idle.progress();
                    }
                    Poll::Ready(Some(Ok(f)))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => match this.idle.as_mut().map(|i| (i.limit, i.poll_expired(cx))) {
                    Some((limit, Poll::Ready(()))) => {
                        if let Some(rec) = this.guard.as_mut().and_then(|g| g.rec()) {
                            rec.error = Some("upstream_body_timeout");
                            rec.reason = format!(
                                "upstream response body stalled: {}",
                                UpstreamBodyTimeout(limit)
                            );
                        }
                        this.guard.take();
                        // Dropping the upstream body releases its connection.
                        this.inner = ResponseBody::Local(Full::default());
                        return Poll::Ready(Some(Err(Box::new(UpstreamBodyTimeout(limit)))));
                    }
                    _ => Poll::Pending,
                },
            },
            ResponseBody::Local(b) => match Pin::new(b).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(c) = &self.clock {
                    c.waiting_on_client();
                }
                if let (Some(data), Some(g)) = (frame.data_ref(), self.guard.as_mut()) {
                    g.add_out(data.len() as u64);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(rec) = self.guard.as_mut().and_then(|g| g.rec()) {
                    rec.error = Some("upstream_body_failed");
                    rec.reason = format!("upstream response body failed: {e}");
                }
                self.guard.take();
            }
            Poll::Ready(None) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            ResponseBody::Upstream(b) => b.is_end_stream(),
            ResponseBody::Local(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            ResponseBody::Upstream(b) => b.size_hint(),
            ResponseBody::Local(b) => b.size_hint(),
        }
    }
}

//! One client connection: hyper auto (HTTP/1.1 and HTTP/2, h2c by prior knowledge) with
//! upgrades, closed gracefully on shutdown or after an idle period with no request in flight.

use super::ConnTicket;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};

/// Per-connection limits, read from the config in force when the connection was accepted.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Time to receive a request's headers.
    pub header_read_timeout: Duration,
    /// Close after this long with no request in flight.
    pub idle_timeout: Duration,
    /// Largest request head hyper will buffer (HTTP/1) or accept (HTTP/2 header list).
    pub max_head_bytes: usize,
}

/// Requests in flight on one connection; the idle timer runs only while there are none.
/// It also holds the connection's place in its listener's [`ConnTracker`]: a tunnel or
/// response body that outlives the HTTP connection keeps the connection counted (for the
/// connection cap and the drain) until it ends too.
#[derive(Debug, Default)]
pub struct ConnActivity {
    inflight: AtomicUsize,
    changed: Notify,
    _ticket: Option<ConnTicket>,
}

impl ConnActivity {
    /// Activity of a connection counted by `ticket`'s tracker.
    pub fn tracked(ticket: ConnTicket) -> Self {
        ConnActivity {
            _ticket: Some(ticket),
            ..ConnActivity::default()
        }
    }

    /// A request began.
    pub fn request_started(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// A request (its response body, or its upgraded tunnel) ended.
    pub fn request_finished(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// Returns once the connection has had no request in flight for `timeout`.
    async fn idle(&self, timeout: Duration) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inflight.load(Ordering::Acquire) == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(timeout) => {
                        if self.inflight.load(Ordering::Acquire) == 0 {
                            return;
                        }
                    }
                    _ = notified => {}
                }
            } else {
                notified.await;
            }
        }
    }
}

/// Serves HTTP on `io` until the client closes, the connection idles out, or `shutdown`
/// turns true (then in-flight requests finish and the connection closes).
pub async fn serve_connection<I, S, B>(
    io: I,
    service: S,
    limits: ConnLimits,
    activity: &ConnActivity,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .half_close(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    if *shutdown.borrow() {
        conn.as_mut().graceful_shutdown();
    }
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
        }
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error while closing");
    }
}

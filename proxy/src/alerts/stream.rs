//! The server-sent-events stream of alert changes for the dashboard: `event: alert` and
//! `data: <alert JSON>` per change, a comment every 15 seconds to keep proxies from closing
//! an idle stream. A subscriber too slow to keep up skips what it missed (counted).

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Changes buffered per subscriber before it lags.
pub const BUFFER: usize = 1024;
const KEEPALIVE: Duration = Duration::from_secs(15);

/// One SSE frame for an alert's JSON.
pub fn frame(json: &str) -> Bytes {
    Bytes::from(format!("event: alert\ndata: {json}\n\n"))
}

struct Sub {
    rx: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    lagged: Arc<AtomicU64>,
    started: bool,
}

/// The response body of `GET /api/alerts/stream`; it ends when Sightline stops.
pub fn body(
    rx: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    lagged: Arc<AtomicU64>,
) -> UnsyncBoxBody<Bytes, Infallible> {
    let sub = Sub {
        rx,
        stop,
        lagged,
        started: false,
    };
    let stream = futures_util::stream::unfold(sub, |mut s| async move {
        if !s.started {
            s.started = true;
            return Some((
                Ok(Frame::data(Bytes::from_static(
                    b"retry: 2000\n: connected\n\n",
                ))),
                s,
            ));
        }
        loop {
            if *s.stop.borrow() {
                return None;
            }
            let next = tokio::select! {
                r = tokio::time::timeout(KEEPALIVE, s.rx.recv()) => r,
                _ = s.stop.changed() => return None,
            };
            match next {
                Err(_) => {
                    return Some((Ok(Frame::data(Bytes::from_static(b": keepalive\n\n"))), s))
                }
                Ok(Ok(json)) => return Some((Ok(Frame::data(frame(&json))), s)),
                Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                    s.lagged.fetch_add(n, Relaxed);
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

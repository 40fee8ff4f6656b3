//! Request bodies: the one type the stacks take from either HTTP/1.1 server ([`RequestBody`]),
//! and the native server's body, read from the connection only when the consumer asks for
//! more (backpressure: nothing is read ahead of the upstream).

use crate::server::BoxError;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The source a native body reads from: its connection, for as long as the body is the
/// connection's current one.
pub(super) trait Source: Send + Sync {
    /// The next frame of the body of request `generation`.
    fn poll_frame(
        &self,
        generation: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>>;
}

/// A request body read by the native HTTP/1.1 server.
pub struct NativeBody {
    source: Option<Arc<dyn Source>>,
    generation: u64,
    /// Bytes still to come when the length is known.
    remaining: Option<u64>,
}

impl std::fmt::Debug for NativeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeBody")
            .field("generation", &self.generation)
            .field("remaining", &self.remaining)
            .field("ended", &self.source.is_none())
            .finish()
    }
}

impl NativeBody {
    /// A body with no bytes.
    pub(super) fn empty() -> Self {
        NativeBody {
            source: None,
            generation: 0,
            remaining: Some(0),
        }
    }

    /// The body of request `generation` on `source`; `length` when it is known.
    pub(super) fn new(source: Arc<dyn Source>, generation: u64, length: Option<u64>) -> Self {
        NativeBody {
            source: Some(source),
            generation,
            remaining: length,
        }
    }
}

impl Body for NativeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(source) = self.source.as_ref() else {
            return Poll::Ready(None);
        };
        let polled = source.poll_frame(self.generation, cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(rem)) = (frame.data_ref(), self.remaining.as_mut()) {
                    *rem = rem.saturating_sub(data.len() as u64);
                }
            }
            Poll::Ready(_) => self.source = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.source.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.remaining, &self.source) {
            (_, None) => SizeHint::with_exact(0),
            (Some(n), _) => SizeHint::with_exact(n),
            (None, _) => SizeHint::default(),
        }
    }
}

/// A request body from either HTTP/1.1 server (and hyper's HTTP/2 one).
#[derive(Debug)]
pub enum RequestBody {
    /// Read by hyper.
    Hyper(Incoming),
    /// Read by the native HTTP/1.1 server.
    Native(NativeBody),
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        RequestBody::Hyper(body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            RequestBody::Native(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Hyper(b) => b.is_end_stream(),
            RequestBody::Native(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Hyper(b) => b.size_hint(),
            RequestBody::Native(b) => b.size_hint(),
        }
    }
}

/// A request body type a server can hand to its service: hyper's, and (for the stacks that
/// take [`RequestBody`]) the native server's.
pub trait ServerBody: Send + 'static {
    /// Whether the native HTTP/1.1 server can serve a service taking this body.
    const NATIVE: bool;
    /// From hyper's body.
    fn from_hyper(body: Incoming) -> Self;
    /// From the native server's body (`None` when [`ServerBody::NATIVE`] is false).
    fn from_native(body: NativeBody) -> Option<Self>
    where
        Self: Sized;
}

impl ServerBody for Incoming {
    const NATIVE: bool = false;
    fn from_hyper(body: Incoming) -> Self {
        body
    }
    fn from_native(_: NativeBody) -> Option<Self> {
        None
    }
}

impl ServerBody for RequestBody {
    const NATIVE: bool = true;
    fn from_hyper(body: Incoming) -> Self {
        RequestBody::Hyper(body)
    }
    fn from_native(body: NativeBody) -> Option<Self> {
        Some(RequestBody::Native(body))
    }
}

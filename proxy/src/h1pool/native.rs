//! Sightline's own HTTP/1.1 client connection: the request head written from a per-worker
//! buffer, the request body streamed as it comes (never read ahead of the socket), the response
//! head parsed strictly ([`super::response`]) and its body framed and read on demand. Nothing
//! runs unless the call holding the connection polls it, and an idle connection holds no
//! buffer: the read buffer goes back to the worker's free list whenever nothing is buffered,
//! the write buffer once the request is written.

use super::response::{self, Decoder, Fields, ResponseError, ResponseHead, Step};
use super::stream::Stream;
use super::{Io, RequestBody};
use crate::server::h1::buffers::{self, ReadBuf};
use crate::server::{BoxError, WireFields};
use crate::wire::next_hop::NextHop;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Request, Response};
use http_body::Frame;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// Most request body bytes copied into the write buffer behind the head (or a chunk's size
/// line) to go out in one write; a larger frame is written from its own bytes.
const COALESCE: usize = 8 * 1024;

/// How a native exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The upstream's response broke the protocol or was cut off.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// Reading from or writing to the upstream failed.
    #[error("upstream connection failed: {0}")]
    Io(#[source] std::io::Error),
    /// The request body (the client's) failed; the cause says how.
    #[error("request body failed")]
    RequestBody(#[source] BoxError),
    /// The request body had more or fewer bytes than its `Content-Length`.
    #[error("request body does not match its Content-Length")]
    RequestLength,
}

/// Bodies of known length with more than this left are read straight into a buffer of their
/// own rather than through the connection's read buffer.
const DIRECT_MIN: u64 = buffers::BUF_SIZE as u64;
/// The most read into one such buffer (one frame).
const DIRECT_MAX: usize = 64 * 1024;

/// How the rest of the request body goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sending {
    /// Exactly this many bytes more.
    Length(u64),
    /// Chunked; `open` when the last chunk's data still wants its CRLF.
    Chunked { open: bool },
}

/// One upstream HTTP/1.1 connection speaking Sightline's own framing.
pub struct NativeConn<B: RequestBody> {
    io: Stream,
    read: ReadBuf,
    /// Largest response head accepted.
    max_head: usize,
    /// Bytes to write, from `out_pos`; no capacity while nothing is being written.
    out: Vec<u8>,
    out_pos: usize,
    /// A body frame being written after `out`.
    data: Bytes,
    /// The request body still to send, and how.
    body: Option<B>,
    sending: Sending,
    /// Everything written has been flushed.
    flushed: bool,
    /// Writing failed: nothing more is sent, and the connection is not reused.
    write_failed: Option<std::io::Error>,
    /// The request was HEAD.
    head_request: bool,
    /// The answer's fields go into a map ([`NextHop::map_answer`]).
    map_answer: bool,
    /// The current response's body.
    response: Decoder,
    /// A buffer a large body of known length is read into directly (kept while a read waits).
    direct: Option<BytesMut>,
    /// Both sides let the connection carry another exchange after this one.
    keep_alive: bool,
    /// The request's head (and its body, when that was empty), kept until the response's
    /// first byte: a request the upstream gave no byte of answer can be rebuilt to go again.
    resend: Option<(http::request::Parts, NextHop, Option<B>)>,
    /// Some of the request body has been taken to be sent: it cannot go again.
    body_started: bool,
}

impl<B: RequestBody> std::fmt::Debug for NativeConn<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeConn")
            .field("response", &self.response)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl<B: RequestBody> NativeConn<B> {
    /// A connection over `io`, accepting response heads up to `max_head` bytes.
    pub fn new(io: Io, max_head: usize) -> Self {
        NativeConn {
            io: Stream::from(io),
            read: ReadBuf::default(),
            max_head,
            out: Vec::new(),
            out_pos: 0,
            data: Bytes::new(),
            body: None,
            sending: Sending::Length(0),
            flushed: true,
            write_failed: None,
            head_request: false,
            map_answer: false,
            response: Decoder::Done,
            direct: None,
            keep_alive: true,
            resend: None,
            body_started: false,
        }
    }

    /// Whether the last exchange is over and left the connection fit for another: the
    /// response read to its end, the request written to its end, nothing more buffered,
    /// and neither side asked to close.
    pub fn ready_again(&self) -> bool {
        self.keep_alive && self.response.is_done() && self.request_written() && self.read.is_empty()
    }

    /// Whether an idle connection can take a request now: the last exchange is over and the
    /// upstream has neither closed it nor sent anything since (seen by one read that does not
    /// wait).
    pub fn reusable(&mut self) -> bool {
        self.ready_again() && self.io.quiet()
    }

    fn request_written(&self) -> bool {
        self.write_failed.is_none()
            && self.body.is_none()
            && self.out_pos == self.out.len()
            && self.data.is_empty()
            && self.flushed
    }

    /// Writes the request [`Self::start`] took and reads until the response head
    /// (informational responses skipped). The request body goes on being sent while the
    /// response body is read. The head's fields come as the wire carried them (the response's
    /// header map left for what the proxy adds), or in the header map when the proxy changes
    /// any of them ([`response::Fields`]).
    pub fn poll_response(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Response<Option<WireFields>>, NativeError>> {
        self.poll_write(cx)?;
        let head = std::task::ready!(self.poll_head(cx))?;
        let mut resp = Response::new(None);
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        match head.fields {
            Fields::Map(map) => *resp.headers_mut() = map,
            Fields::Wire(wire) => *resp.body_mut() = Some(wire),
        }
        self.keep_alive &= head.keep_alive;
        self.response = Decoder::new(head.framing);
        Poll::Ready(Ok(resp))
    }

    /// Writes the request head, with the fields `hop` adds, into the write buffer and takes
    /// the body: the exchange starts, and [`Self::poll_response`] carries it on.
    pub fn start(&mut self, req: Request<B>, hop: NextHop) -> Result<(), NativeError> {
        let (parts, body) = req.into_parts();
        self.head_request = parts.method == Method::HEAD;
        self.map_answer = hop.map_answer;
        let mut out = buffers::take_write();
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b' ');
        match parts.uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() => out.extend_from_slice(pq.as_str().as_bytes()),
            _ => out.push(b'/'),
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        // The fields that frame the body or close the connection are noted as the head is
        // written: one pass over the map, no lookups.
        let (mut length, mut chunked, mut close) = (None, false, false);
        hop.write_fields(&parts.headers, &mut out, |name, value| {
            if *name == header::CONTENT_LENGTH {
                // The first, as a lookup would find it.
                length = length.or(Some(value));
            } else if *name == header::TRANSFER_ENCODING {
                chunked = true;
            } else if *name == header::CONNECTION {
                close |= names_close(value);
            }
        });
        self.keep_alive = !close;
        let length = match length {
            Some(v) => Some(
                crate::server::h1::head::content_length(v.as_bytes())
                    .ok_or(NativeError::RequestLength)?,
            ),
            None => None,
        };
        self.sending = if let Some(n) = length.filter(|_| !chunked) {
            Sending::Length(n)
        } else if chunked {
            Sending::Chunked { open: false }
        } else if body.is_end_stream() {
            if matches!(parts.method, Method::POST | Method::PUT | Method::PATCH) {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
            Sending::Length(0)
        } else if let Some(n) = body.size_hint().exact() {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            Sending::Length(n)
        } else {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            Sending::Chunked { open: false }
        };
        out.extend_from_slice(b"\r\n");
        self.out = out;
        self.out_pos = 0;
        self.flushed = false;
        self.body_started = false;
        let empty = if body.is_end_stream() && self.sending == Sending::Length(0) {
            self.body = None;
            Some(body)
        } else {
            self.body = Some(body);
            None
        };
        self.resend = Some((parts, hop, empty));
        // Until the head comes, the exchange is not over: the connection is not ready again.
        self.response = Decoder::Length(u64::MAX);
        Ok(())
    }

    /// Takes request body frames into the write buffer (small ones) or `data` (a large one)
    /// while there is room and the body has them ready. Returns whether the body is waiting.
    fn pull_body(&mut self, cx: &mut Context<'_>) -> Result<bool, NativeError> {
        while self.data.is_empty() && self.out.len() - self.out_pos < COALESCE {
            let Some(body) = self.body.as_mut() else {
                return Ok(false);
            };
            let polled = Pin::new(body).poll_frame(cx);
            if polled.is_ready() {
                self.body_started = true;
            }
            let frame = match polled {
                Poll::Pending => return Ok(true),
                Poll::Ready(Some(Err(e))) => {
                    self.body = None;
                    return Err(NativeError::RequestBody(e.into()));
                }
                Poll::Ready(None) => {
                    self.body = None;
                    self.finish_body(None)?;
                    return Ok(false);
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    // Trailers end the body; only the chunked coding can carry them.
                    self.body = None;
                    self.finish_body(frame.into_trailers().ok())?;
                    return Ok(false);
                }
            };
            if data.is_empty() {
                continue;
            }
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
            }
            match &mut self.sending {
                Sending::Length(left) => {
                    if data.len() as u64 > *left {
                        self.body = None;
                        return Err(NativeError::RequestLength);
                    }
                    *left -= data.len() as u64;
                }
                Sending::Chunked { open } => {
                    if *open {
                        self.out.extend_from_slice(b"\r\n");
                    }
                    *open = true;
                    use std::io::Write;
                    let _ = write!(self.out, "{:x}\r\n", data.len());
                }
            }
            if data.len() <= COALESCE {
                self.out.extend_from_slice(&data);
            } else {
                self.data = data;
            }
        }
        Ok(false)
    }

    /// The request body ended (with `trailers`, if any): the chunked coding's last chunk, or
    /// a check that the length was met.
    fn finish_body(&mut self, trailers: Option<HeaderMap>) -> Result<(), NativeError> {
        match self.sending {
            Sending::Length(0) => Ok(()),
            Sending::Length(_) => Err(NativeError::RequestLength),
            Sending::Chunked { open } => {
                if self.out_pos == self.out.len() {
                    self.out.clear();
                    self.out_pos = 0;
                }
                if open {
                    self.out.extend_from_slice(b"\r\n");
                }
                self.out.extend_from_slice(b"0\r\n");
                for (name, value) in trailers.iter().flatten() {
                    self.out.extend_from_slice(name.as_str().as_bytes());
                    self.out.extend_from_slice(b": ");
                    self.out.extend_from_slice(value.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                }
                self.out.extend_from_slice(b"\r\n");
                self.sending = Sending::Length(0);
                Ok(())
            }
        }
    }

    /// Writes as much of the request as the socket and the body allow without waiting. A
    /// failed write stops the writing (the response may still come); a failed request body
    /// fails the exchange.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Result<(), NativeError> {
        if self.write_failed.is_some() {
            return Ok(());
        }
        loop {
            let body_waits = self.pull_body(cx)?;
            match self.poll_out(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    self.write_failed = Some(e);
                    if self.body_started {
                        self.body = None;
                    }
                    self.data = Bytes::new();
                    return Ok(());
                }
                Poll::Pending => return Ok(()),
            }
            if self.body.is_some() && !body_waits {
                continue;
            }
            // All written for now: flushed (for TLS), and the buffer given back once the
            // request is over.
            if !self.flushed {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.flushed = self.body.is_none(),
                    Poll::Ready(Err(e)) => {
                        self.write_failed = Some(e);
                        if self.body_started {
                            self.body = None;
                        }
                        return Ok(());
                    }
                    Poll::Pending => return Ok(()),
                }
            }
            if self.body.is_none() && self.out.capacity() > 0 {
                buffers::give_write(std::mem::take(&mut self.out));
                self.out_pos = 0;
            }
            return Ok(());
        }
    }

    /// Writes the buffered bytes, then the pending frame.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        while !self.data.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.data))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            let _ = self.data.split_to(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads until a final response head is complete.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<ResponseHead, NativeError>> {
        loop {
            if !self.read.is_empty() {
                if let Some((head, len)) = response::parse(
                    self.read.data(),
                    self.head_request,
                    self.max_head,
                    self.map_answer,
                )? {
                    self.read.consume(len);
                    if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                        return Poll::Ready(Err(ResponseError::UnexpectedSwitch.into()));
                    }
                    if head.status.is_informational() {
                        continue;
                    }
                    return Poll::Ready(Ok(head));
                }
            }
            match std::task::ready!(self.read.poll_fill(&mut self.io, cx, self.max_head)) {
                Ok(0) => {
                    return Poll::Ready(Err(match self.write_failed.take() {
                        Some(e) => NativeError::Io(e),
                        None => ResponseError::ClosedBeforeHead.into(),
                    }))
                }
                // A byte of response came: the upstream took the request, whose header map
                // goes back to the worker's free list for a later head.
                Ok(_) => {
                    if let Some((parts, _, _)) = self.resend.take() {
                        buffers::give_map(parts.headers);
                    }
                }
                Err(e) => return Poll::Ready(Err(NativeError::Io(e))),
            }
        }
    }

    /// The next frame of the response body; the request body goes on being written meanwhile.
    pub fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, NativeError>>> {
        if let Err(e) = self.poll_write(cx) {
            self.keep_alive = false;
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            if self.response.is_done() {
                return Poll::Ready(None);
            }
            let data = self.read.data();
            let (n, step) = match self.response.decode(data) {
                Ok(v) => v,
                Err(e) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(e.into())));
                }
            };
            match step {
                Step::Data(len) => {
                    let bytes = buffers::copy_shared(&data[n - len..n]);
                    self.read.consume(n);
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Step::Done(trailers) => {
                    self.read.consume(n);
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                }
                Step::NeedMore => self.read.consume(n),
            }
            if let Some(frame) = std::task::ready!(self.poll_direct(cx)) {
                return Poll::Ready(Some(frame));
            }
            match std::task::ready!(self.read.poll_fill(&mut self.io, cx, self.max_head)) {
                Ok(0) => {
                    // A close ends only a close-delimited body; any other is cut short.
                    self.keep_alive = false;
                    if let Err(e) = self.response.closed() {
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(NativeError::Io(e))));
                }
            }
        }
    }

    /// After `send` failed with `error`: the request again, when it may go on another
    /// connection. That is when the method is idempotent (RFC 9110, 9.2.2: a POST or PATCH may
    /// have taken effect even though no answer came), the connection closed or broke before
    /// any byte of a response came, and none of the request body had been taken (an empty
    /// body counts as none).
    /// Whether the connection was worth the risk (a reused one) is the caller's to judge.
    pub fn take_unsent(&mut self, error: &NativeError) -> Option<Request<B>> {
        let gone = matches!(
            error,
            NativeError::Io(_) | NativeError::Response(ResponseError::ClosedBeforeHead)
        );
        let (mut parts, hop, empty) = self
            .resend
            .take()
            .filter(|(parts, _, _)| gone && parts.method.is_idempotent())?;
        let body = match empty {
            Some(body) => body,
            None if !self.body_started => self.body.take()?,
            None => return None,
        };
        self.keep_alive = false;
        // The request goes again whole, with the fields this hop added in its map.
        hop.apply(&mut parts.headers);
        Some(Request::from_parts(parts, body))
    }

    /// Reads the next part of a large body of known length straight into a buffer of its own,
    /// which becomes the frame as it is (no copy, one read for up to [`DIRECT_MAX`] bytes
    /// instead of one per read buffer). `Ready(None)` when the body is not such a one or
    /// nothing is buffered before it: the caller reads through the read buffer then.
    fn poll_direct(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, NativeError>>> {
        let left = match self.response.remaining() {
            Some(left) if left > DIRECT_MIN && self.read.is_empty() => left,
            _ => return Poll::Ready(None),
        };
        let room = left.min(DIRECT_MAX as u64) as usize;
        // Read into the buffer's spare room: it is never zeroed first.
        let buf = self
            .direct
            .get_or_insert_with(|| BytesMut::with_capacity(room));
        let read = {
            let reading = std::pin::pin!(tokio::io::AsyncReadExt::read_buf(&mut self.io, buf));
            std::task::ready!(reading.poll(cx))
        };
        let mut buf = self.direct.take().unwrap_or_default();
        let n = buf.len();
        if let Err(e) = read {
            self.keep_alive = false;
            return Poll::Ready(Some(Err(NativeError::Io(e))));
        }
        if n == 0 {
            // Cut short: a body of known length never ends with the connection.
            self.keep_alive = false;
            return Poll::Ready(match self.response.closed() {
                Err(e) => Some(Err(e.into())),
                Ok(()) => None,
            });
        }
        buf.truncate(n);
        match self.response.decode(&buf) {
            Ok((_, Step::Data(len))) if len == n => {
                Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
            }
            Ok(_) => {
                self.keep_alive = false;
                Poll::Ready(Some(Err(NativeError::Io(std::io::Error::other(
                    "body bytes read past their length",
                )))))
            }
            Err(e) => {
                self.keep_alive = false;
                Poll::Ready(Some(Err(e.into())))
            }
        }
    }

    /// Whether the response body has ended.
    pub fn body_done(&self) -> bool {
        self.response.is_done()
    }

    /// Response body bytes still to come, when known.
    pub fn body_remaining(&self) -> Option<u64> {
        self.response.remaining()
    }
}

/// Whether a `Connection` field's value names `close`.
fn names_close(value: &http::HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

//! Upstream response heads and bodies as the native HTTP/1.1 client reads them: the head parsed
//! strictly with httparse (no obsolete line folding, no space before a field's colon, no
//! control characters, HTTP/1.0 and 1.1 only, at most [`MAX_HEADERS`] fields and a bounded
//! size), the body framed by RFC 9112 §6.3. Anything ambiguous (two lengths, a length beside
//! a transfer coding, a coding that does not end in `chunked`) is refused, so no byte of one
//! response can be read as part of another.

use crate::server::h1::buffers;
use crate::server::h1::chunked::{self, ChunkError};
use crate::server::h1::field_name;
use crate::server::h1::head::{self, Field, FramingFields, MAX_HEADERS};
use crate::server::WireFields;
use crate::wire::headers::{hop_only, names_hop_only, strip_for_next_hop};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to HEAD, 1xx, 204 and 304.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    /// The fields to pass on: without the hop-by-hop ones (and those `Connection` names), and
    /// without the proxy's own error header, as [`strip_for_next_hop`] leaves a head.
    /// How the body is framed and whether the connection stays open is read before, into
    /// `framing` and `keep_alive`.
    pub fields: Fields,
    pub framing: Framing,
    /// The upstream lets the connection carry another request after this response.
    pub keep_alive: bool,
}

/// The fields of a response head that are passed on.
#[derive(Debug)]
pub enum Fields {
    /// As the wire carries them, for a head the proxy changes no field of: no field it sets
    /// on responses, no `TE`, no `Connection` naming other fields, and a status that may have
    /// a body (see [`wire_fields`]). Most heads.
    Wire(WireFields),
    /// Read into a header map, for the proxy to change.
    Map(HeaderMap),
}

impl Fields {
    /// The fields in a header map.
    pub fn into_map(self) -> HeaderMap {
        match self {
            Fields::Map(map) => map,
            Fields::Wire(wire) => {
                let mut map = HeaderMap::new();
                wire.into_map(&mut map);
                map
            }
        }
    }
}

/// Why an upstream's response is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("malformed response head from the upstream: {0}")]
    Malformed(&'static str),
    #[error("upstream response head larger than {0} bytes or with too many fields")]
    TooLarge(usize),
    #[error("malformed chunked response body from the upstream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("the upstream closed the connection before the response head")]
    ClosedBeforeHead,
    #[error("the upstream closed the connection before the response body ended")]
    ClosedMidBody,
    #[error("the upstream answered 101 to a request that asked for no upgrade")]
    UnexpectedSwitch,
}

/// Parses one response head at the start of `buf`, for a request that was HEAD when
/// `head_request`. `Ok(None)`: not complete yet (and no longer than `max` bytes so far). On
/// success, also returns the head's length in bytes. The fields are kept as wire lines where
/// they can be, or go into a map when `map` (the client reads them from one: writing lines
/// first would only add a second pass).
pub fn parse(
    buf: &[u8],
    head_request: bool,
    max: usize,
    map: bool,
) -> Result<Option<(ResponseHead, usize)>, ResponseError> {
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= max => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(ResponseError::TooLarge(max))
        }
        Ok(httparse::Status::Partial) if buf.len() >= max => {
            return Err(ResponseError::TooLarge(max))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ResponseError::Malformed(reason(e))),
    };
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(ResponseError::Malformed("invalid status code"))?;
    let version = match resp.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let wire = if map {
        None
    } else {
        wire_fields(resp.headers, status, version)?
    };
    let (fields, framing_fields) = match wire {
        Some((wire, framing)) => (Fields::Wire(wire), framing),
        None => {
            let (map, framing) = map_fields(&buf[..len], resp.headers, version)?;
            (Fields::Map(map), framing)
        }
    };
    let no_body = head::has_no_body(status, head_request);
    let mut keep_alive = framing_fields.keep_alive(version);
    let framing = match (framing_fields.chunked, framing_fields.length) {
        (Some(_), Some(_)) => {
            return Err(ResponseError::Malformed(
                "Content-Length with Transfer-Encoding",
            ))
        }
        (Some(false), None) => {
            return Err(ResponseError::Malformed(
                "Transfer-Encoding not ending in chunked",
            ))
        }
        _ if no_body => Framing::None,
        (Some(true), None) => Framing::Chunked,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::Close,
    };
    if framing == Framing::Close {
        keep_alive = false;
    }
    let head = ResponseHead {
        status,
        version,
        fields,
        framing,
        keep_alive,
    };
    Ok(Some((head, len)))
}

/// The fields to pass on as the wire carries them (`name: value` lines, names in lower case),
/// with what they say of the framing; `None` when the head goes into a header map instead: a
/// status that has no body (whose length the encoder drops), or a field the proxy sets on
/// responses ([`crate::wire::set_in_responses`]), `TE` (`trailers` may stay), or a
/// `Connection` naming other fields (which go too). The same fields are refused, and left
/// out, as [`map_fields`] refuses and leaves out: the names and values are as httparse
/// checked them, which is what a header map accepts.
fn wire_fields(
    fields: &[httparse::Header<'_>],
    status: StatusCode,
    version: Version,
) -> Result<Option<(WireFields, FramingFields)>, ResponseError> {
    if head::never_has_body(status) {
        return Ok(None);
    }
    // A line is at most one byte longer than the field it came from (`name:value`), and the
    // fields with their line ends are no longer than the head.
    let head: usize = fields
        .iter()
        .map(|f| f.name.len() + f.value.len() + 5)
        .sum();
    let (lines, read) = buffers::write_shared(head, |lines| wire_lines(fields, version, lines));
    Ok(read?.map(|(framing, date)| (WireFields::new(lines, framing.length, date), framing)))
}

/// Writes the lines of [`wire_fields`] into `lines`; returns what the framing fields say and
/// whether a `Date` is among the lines, or `None` when the head goes into a header map.
fn wire_lines(
    fields: &[httparse::Header<'_>],
    version: Version,
    lines: &mut bytes::BytesMut,
) -> Result<Option<(FramingFields, bool)>, ResponseError> {
    let mut framing = FramingFields::default();
    let mut date = false;
    for f in fields {
        let name = f.name.as_bytes();
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(ResponseError::Malformed("invalid header name"));
        }
        let note = |framing: &mut FramingFields, name: &HeaderName| {
            framing
                .note(name, f.value, version)
                .map_err(ResponseError::Malformed)
        };
        let spelled = match name_kind(name) {
            Name::Passed(spelled) => spelled,
            Name::ContentLength => match note(&mut framing, &header::CONTENT_LENGTH)? {
                Field::Repeated => continue,
                Field::Keep => Some("content-length"),
            },
            Name::TransferEncoding => {
                note(&mut framing, &header::TRANSFER_ENCODING)?;
                continue;
            }
            Name::Connection => {
                note(&mut framing, &header::CONNECTION)?;
                if names_others(f.value) {
                    return Ok(None);
                }
                continue;
            }
            Name::HopOnly => continue,
            Name::Te | Name::SetByProxy => return Ok(None),
        };
        match spelled {
            Some(known) => {
                date |= known == "date";
                lines.extend_from_slice(known.as_bytes());
            }
            None => {
                let at = lines.len();
                lines.extend_from_slice(name);
                lines[at..].make_ascii_lowercase();
            }
        }
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(f.value);
        lines.extend_from_slice(b"\r\n");
    }
    Ok(Some((framing, date)))
}

/// What the wire form does with a field, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    /// Read for the framing, and passed on.
    ContentLength,
    /// Read for the framing; never crosses a hop.
    TransferEncoding,
    /// Read for the connection's fate; never crosses a hop, and what it names goes too.
    Connection,
    /// `TE`, of which `trailers` may stay.
    Te,
    /// Any other field that never crosses a hop ([`names_hop_only`]).
    HopOnly,
    /// A field the proxy sets on responses ([`crate::wire::set_in_responses`]).
    SetByProxy,
    /// Passed on; with its spelling in lower case when it is one of the names most responses
    /// carry.
    Passed(Option<&'static str>),
}

/// What a field's name (any case) is to the wire form: compared, as bytes, with the names of
/// its length only; no name is made.
fn name_kind(raw: &[u8]) -> Name {
    let is = |name: &str| name.as_bytes().eq_ignore_ascii_case(raw);
    let passed = |names: &[&'static str]| Name::Passed(names.iter().copied().find(|n| is(n)));
    match raw.len() {
        2 if is("te") => Name::Te,
        3 if is("via") => Name::SetByProxy,
        4 => passed(&["date", "etag", "vary"]),
        6 => passed(&["server"]),
        7 if is("trailer") || is("upgrade") => Name::HopOnly,
        7 => passed(&["expires"]),
        8 => passed(&["location"]),
        9 if is("ratelimit") => Name::SetByProxy,
        10 if is("connection") => Name::Connection,
        10 if is("keep-alive") => Name::HopOnly,
        10 => passed(&["set-cookie"]),
        12 if is("x-request-id") => Name::SetByProxy,
        12 => passed(&["content-type"]),
        13 => passed(&["last-modified", "cache-control", "accept-ranges"]),
        14 if is("content-length") => Name::ContentLength,
        15 if is("sightline-error") => Name::HopOnly,
        16 if is("proxy-connection") => Name::HopOnly,
        16 if is("ratelimit-policy") => Name::SetByProxy,
        16 => passed(&["content-encoding"]),
        17 if is("transfer-encoding") => Name::TransferEncoding,
        18 if is("proxy-authenticate") => Name::HopOnly,
        19 if is("proxy-authorization") => Name::HopOnly,
        _ => Name::Passed(None),
    }
}

/// Longest field name a header map takes.
const MAX_NAME: usize = (1 << 16) - 1;

/// The fields to pass on in a header map, with what they say of the framing. `head` is the
/// head's bytes, which the fields are slices of.
fn map_fields(
    head: &[u8],
    fields: &[httparse::Header<'_>],
    version: Version,
) -> Result<(HeaderMap, FramingFields), ResponseError> {
    // One copy of the head: every value is a slice of it.
    let raw = buffers::copy_shared(head);
    let base = head.as_ptr() as usize;
    // From the worker's free list: the server gives it back once the head is written.
    let mut headers = buffers::take_map(fields.len());
    let mut framing_fields = FramingFields::default();
    // Fields that never cross a hop are left out here rather than added and removed again
    // ([`ResponseHead::fields`]). The few that need the whole head to be judged (a
    // `Connection` naming other fields, `TE`) are kept, and the head then goes through the
    // general removal once.
    let mut strip = false;
    for f in fields {
        let name =
            field_name(f.name.as_bytes()).ok_or(ResponseError::Malformed("invalid header name"))?;
        match framing_fields.note(&name, f.value, version) {
            Err(reason) => return Err(ResponseError::Malformed(reason)),
            Ok(Field::Repeated) => continue,
            Ok(Field::Keep) => {}
        }
        if hop_only(&name) {
            if name != header::TE && !(name == header::CONNECTION && names_others(f.value)) {
                continue;
            }
            strip = true;
        }
        let start = f.value.as_ptr() as usize - base;
        let value = HeaderValue::from_maybe_shared(raw.slice(start..start + f.value.len()))
            .map_err(|_| ResponseError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    if strip {
        strip_for_next_hop(&mut headers, false);
    }
    Ok((headers, framing_fields))
}

/// Whether a `Connection` value names any field beside the ones that never cross a hop anyway
/// (whose fields are left out by name). `close` counts: a field could be called that.
fn names_others(value: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .any(|t| !names_hop_only(t))
}

/// The reason given for each parse error.
fn reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

/// What one step of decoding a body found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More input is needed.
    NeedMore,
    /// This many bytes of body data end the input consumed.
    Data(usize),
    /// The body ended; its trailer fields, if it had any.
    Done(Option<HeaderMap>),
}

/// Decoding state of one response body.
#[derive(Debug)]
pub enum Decoder {
    /// Bytes still to come.
    Length(u64),
    Chunked(chunked::Decoder),
    /// Until the connection closes.
    Close,
    /// Ended.
    Done,
}

impl Decoder {
    /// The decoder for a body framed by `framing`.
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::None | Framing::Length(0) => Decoder::Done,
            Framing::Length(n) => Decoder::Length(n),
            Framing::Chunked => Decoder::Chunked(chunked::Decoder::default()),
            Framing::Close => Decoder::Close,
        }
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        matches!(self, Decoder::Done)
    }

    /// Bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Decoder::Length(n) => Some(*n),
            Decoder::Done => Some(0),
            _ => None,
        }
    }

    /// Decodes from `input`: how many bytes were consumed and what was found. Body data found
    /// is the last `n` bytes consumed (`Step::Data(n)`).
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Step), ResponseError> {
        match self {
            Decoder::Done => Ok((0, Step::Done(None))),
            Decoder::Length(left) => {
                if input.is_empty() {
                    return Ok((0, Step::NeedMore));
                }
                let n = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                if *left == 0 {
                    *self = Decoder::Done;
                }
                Ok((n, Step::Data(n)))
            }
            Decoder::Close if input.is_empty() => Ok((0, Step::NeedMore)),
            Decoder::Close => Ok((input.len(), Step::Data(input.len()))),
            Decoder::Chunked(d) => {
                let (n, step) = d.decode(input)?;
                Ok(match step {
                    chunked::Step::NeedMore => (n, Step::NeedMore),
                    chunked::Step::Data(len) => (n, Step::Data(len)),
                    chunked::Step::Done(trailers) => {
                        *self = Decoder::Done;
                        (n, Step::Done(trailers))
                    }
                })
            }
        }
    }

    /// The connection closed: the end of a close-delimited body, else a body cut short.
    pub fn closed(&mut self) -> Result<(), ResponseError> {
        match self {
            Decoder::Close | Decoder::Done => {
                *self = Decoder::Done;
                Ok(())
            }
            _ => Err(ResponseError::ClosedMidBody),
        }
    }
}

/// A whole response (head and body) read from `input`, for tests and the fuzz target.
#[derive(Debug, PartialEq, Eq)]
pub struct Whole {
    pub status: u16,
    pub framing: Framing,
    pub keep_alive: bool,
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
    /// Bytes of `input` the response took (with `closed`: all of them).
    pub used: usize,
}

/// Reads one response (informational ones skipped) from `input`, which the upstream ends by
/// closing the connection when `closed`. `Ok(None)`: more input is needed.
pub fn read_whole(
    input: &[u8],
    head_request: bool,
    max: usize,
    closed: bool,
) -> Result<Option<Whole>, ResponseError> {
    let mut at = 0;
    let head = loop {
        match parse(&input[at..], head_request, max, false)? {
            None if closed => return Err(ResponseError::ClosedBeforeHead),
            None => return Ok(None),
            Some((head, len)) => {
                at += len;
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(ResponseError::UnexpectedSwitch);
                }
                if !head.status.is_informational() {
                    break head;
                }
            }
        }
    };
    let mut d = Decoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        let (n, step) = d.decode(&input[at..])?;
        match step {
            Step::Data(len) => body.extend_from_slice(&input[at + n - len..at + n]),
            Step::Done(trailers) => {
                return Ok(Some(Whole {
                    status: head.status.as_u16(),
                    framing: head.framing,
                    keep_alive: head.keep_alive,
                    body,
                    trailers,
                    used: at + n,
                }))
            }
            Step::NeedMore if closed => {
                d.closed()?;
                return Ok(Some(Whole {
                    status: head.status.as_u16(),
                    framing: head.framing,
                    keep_alive: head.keep_alive,
                    body,
                    trailers: None,
                    used: at + n,
                }));
            }
            Step::NeedMore => return Ok(None),
        }
        at += n;
    }
}

/// Reads `raw` as a connection gets it in reads ending at `cuts`, then closed: the head parsed
/// once complete, the body decoded from what each read leaves (for tests and the fuzz target:
/// it must read as [`read_whole`] reads the same bytes at once).
pub fn read_in_parts(
    raw: &[u8],
    cuts: &[usize],
    head_request: bool,
    max: usize,
) -> Result<Option<Whole>, ResponseError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut ends = cuts.iter().copied().chain([raw.len()]);
    let mut feed = |buf: &mut Vec<u8>| -> bool {
        match ends.next() {
            Some(end) if end >= fed => {
                buf.extend_from_slice(&raw[fed..end]);
                fed = end;
                true
            }
            Some(_) => true,
            None => false,
        }
    };
    let head = loop {
        match parse(&buf, head_request, max, false)? {
            Some((head, len)) => {
                buf.drain(..len);
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(ResponseError::UnexpectedSwitch);
                }
                if head.status.is_informational() {
                    continue;
                }
                break head;
            }
            None => {
                if !feed(&mut buf) {
                    return Err(ResponseError::ClosedBeforeHead);
                }
            }
        }
    };
    let mut d = Decoder::new(head.framing);
    let mut body = Vec::new();
    loop {
        let (n, step) = d.decode(&buf)?;
        match step {
            Step::Data(len) => {
                body.extend_from_slice(&buf[n - len..n]);
                buf.drain(..n);
            }
            Step::Done(trailers) => {
                return Ok(Some(Whole {
                    status: head.status.as_u16(),
                    framing: head.framing,
                    keep_alive: head.keep_alive,
                    body,
                    trailers,
                    used: 0,
                }))
            }
            Step::NeedMore => {
                buf.drain(..n);
                if !feed(&mut buf) {
                    d.closed()?;
                    return Ok(Some(Whole {
                        status: head.status.as_u16(),
                        framing: head.framing,
                        keep_alive: head.keep_alive,
                        body,
                        trailers: None,
                        used: 0,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

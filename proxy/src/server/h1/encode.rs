//! Response heads as written to the client: the status line, the header fields, and the
//! framing the body needs (its length, chunked, or the connection's close), with `Date` added
//! when absent.

use super::fields::WireFields;
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Version};
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body is sent (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client and a body of unknown length).
    Close,
}

/// What the head encoder needs to know about the request and the response body.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// The request was HEAD.
    pub head_request: bool,
    /// The request's HTTP version.
    pub version: Version,
    /// The connection may stay open after this response (before the response's own say).
    pub keep_alive: bool,
    /// The body's exact length when it knows it.
    pub body_len: Option<u64>,
}

/// Writes the response head into `out`: the fields of `wire` (as they are), then those of
/// `headers`. Returns the body's framing and whether the connection stays open after the
/// response.
pub fn head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &mut HeaderMap,
    wire: Option<WireFields>,
    x: Exchange,
) -> (BodyFraming, bool) {
    let bodiless = super::head::never_has_body(status);
    // A length such a status cannot carry is removed from a map: the fields go into one.
    let wire = match wire {
        Some(w) if bodiless && w.length().is_some() => {
            w.into_map(headers);
            None
        }
        w => w,
    };
    let mut fields = Fields::of(headers);
    if let Some(w) = &wire {
        fields.date |= w.has_date();
        if fields.length.is_none() {
            fields.length = w.length().map(Some);
        }
    }
    let mut keep_alive = x.keep_alive && !fields.close;
    let no_body = super::head::has_no_body(status, x.head_request);
    let framing = if bodiless {
        if fields.length.is_some() {
            headers.remove(header::CONTENT_LENGTH);
        }
        if fields.transfer_encoding {
            headers.remove(header::TRANSFER_ENCODING);
        }
        BodyFraming::None
    } else if fields.transfer_encoding {
        if fields.length.is_some() {
            headers.remove(header::CONTENT_LENGTH);
        }
        if x.version == Version::HTTP_11 {
            add(
                headers,
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
            BodyFraming::Chunked
        } else {
            headers.remove(header::TRANSFER_ENCODING);
            BodyFraming::Close
        }
    } else if let Some(Some(n)) = fields.length {
        BodyFraming::Length(n)
    } else if no_body {
        BodyFraming::None
    } else if let Some(n) = x.body_len {
        add(headers, header::CONTENT_LENGTH, HeaderValue::from(n));
        BodyFraming::Length(n)
    } else if x.version == Version::HTTP_11 {
        add(
            headers,
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        BodyFraming::Chunked
    } else {
        BodyFraming::Close
    };
    let framing = if no_body { BodyFraming::None } else { framing };
    if framing == BodyFraming::Close {
        keep_alive = false;
    }
    if !keep_alive {
        if !fields.close {
            add(
                headers,
                header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
    } else if x.version == Version::HTTP_10 && !fields.keep_alive {
        add(
            headers,
            header::CONNECTION,
            HeaderValue::from_static("keep-alive"),
        );
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(w) = &wire {
        w.write_to(out);
    }
    for (name, value) in headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !fields.date {
        out.extend_from_slice(b"date: ");
        date(out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    (framing, keep_alive)
}

/// Sets a field the encoder adds. A map with no room (a response whose fields came as wire
/// lines) takes one from the worker's free list first, as the map it would have had.
fn add(headers: &mut HeaderMap, name: header::HeaderName, value: HeaderValue) {
    if headers.capacity() == 0 {
        *headers = super::buffers::take_map(0);
    }
    headers.insert(name, value);
}

/// What the encoder reads of a response's fields, found in one pass over them instead of a
/// lookup for each (the framing steps above change none of `Connection` and `Date`).
#[derive(Debug, Default)]
struct Fields {
    /// `Connection` names `close`.
    close: bool,
    /// `Connection` names `keep-alive`.
    keep_alive: bool,
    /// A `Transfer-Encoding` field is present.
    transfer_encoding: bool,
    /// A `Content-Length` field is present: its first value, when valid.
    length: Option<Option<u64>>,
    /// A `Date` field is present.
    date: bool,
}

impl Fields {
    fn of(headers: &HeaderMap) -> Self {
        let mut f = Fields::default();
        for (name, value) in headers.iter() {
            if name == header::CONTENT_LENGTH {
                f.length
                    .get_or_insert_with(|| super::head::content_length(value.as_bytes()));
            } else if name == header::DATE {
                f.date = true;
            } else if name == header::TRANSFER_ENCODING {
                f.transfer_encoding = true;
            } else if name == header::CONNECTION {
                for t in value.as_bytes().split(|b| *b == b',') {
                    let t = t.trim_ascii();
                    f.close |= t.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        f
    }
}

thread_local! {
    /// The `Date` value of the current second, rendered once per second per worker.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
}

/// Appends the current time as an HTTP date.
fn date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let text = httpdate::fmt_http_date(now);
            if text.len() == 29 {
                d.1.copy_from_slice(text.as_bytes());
                d.0 = secs;
            }
        }
        out.extend_from_slice(&d.1);
    });
}

/// Appends a chunk's size line.
pub fn chunk_size(out: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    let _ = write!(out, "{len:x}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(version: Version, body_len: Option<u64>) -> Exchange {
        Exchange {
            head_request: false,
            version,
            keep_alive: true,
            body_len,
        }
    }

    fn encode(status: u16, fields: &[(&str, &str)], x: Exchange) -> (String, BodyFraming, bool) {
        let mut h = HeaderMap::new();
        for (k, v) in fields {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut out = Vec::new();
        let (f, keep) = head(
            &mut out,
            StatusCode::from_u16(status).unwrap(),
            &mut h,
            None,
            x,
        );
        (String::from_utf8(out).unwrap(), f, keep)
    }

    #[test]
    fn a_known_length_is_sent_as_content_length() {
        let (text, f, keep) = encode(200, &[("x-a", "1")], x(Version::HTTP_11, Some(5)));
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 5\r\ndate: "));
        assert!(text.ends_with("GMT\r\n\r\n"), "{text}");
        assert_eq!((f, keep), (BodyFraming::Length(5), true));
    }

    #[test]
    fn an_unknown_length_is_chunked_or_closes_for_http10() {
        let (text, f, _) = encode(201, &[], x(Version::HTTP_11, None));
        assert!(text.starts_with("HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n"));
        assert_eq!(f, BodyFraming::Chunked);
        let (text, f, keep) = encode(200, &[], x(Version::HTTP_10, None));
        assert!(text.contains("connection: close\r\n"), "{text}");
        assert_eq!((f, keep), (BodyFraming::Close, false));
        let (text, _, keep) = encode(200, &[], x(Version::HTTP_10, Some(1)));
        assert!(text.contains("connection: keep-alive\r\n"), "{text}");
        assert!(keep);
    }

    #[test]
    fn head_204_and_304_send_no_body() {
        let mut head_x = x(Version::HTTP_11, Some(0));
        head_x.head_request = true;
        let (text, f, _) = encode(200, &[("content-length", "10")], head_x);
        assert!(text.contains("content-length: 10\r\n"));
        assert_eq!(f, BodyFraming::None);
        let (text, f, _) = encode(204, &[("content-length", "0")], x(Version::HTTP_11, None));
        assert!(!text.contains("content-length"), "{text}");
        assert_eq!(f, BodyFraming::None);
        let (_, f, _) = encode(304, &[("etag", "\"a\"")], x(Version::HTTP_11, None));
        assert_eq!(f, BodyFraming::None);
    }

    #[test]
    fn connection_close_from_either_side_closes() {
        let mut closing = x(Version::HTTP_11, Some(0));
        closing.keep_alive = false;
        let (text, _, keep) = encode(200, &[], closing);
        assert!(text.contains("connection: close\r\n"));
        assert!(!keep);
        let (text, _, keep) = encode(
            400,
            &[("connection", "close")],
            x(Version::HTTP_11, Some(0)),
        );
        assert_eq!(text.matches("connection").count(), 1, "{text}");
        assert!(!keep);
    }

    #[test]
    fn a_transfer_coding_wins_over_a_length_and_a_date_is_not_repeated() {
        let fields = [("content-length", "5"), ("transfer-encoding", "gzip")];
        let (text, f, _) = encode(200, &fields, x(Version::HTTP_11, None));
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
        assert_eq!(f, BodyFraming::Chunked);
        let fields = [("date", "Sat, 05 Dec 2026 08:00:00 GMT")];
        let (text, f, _) = encode(200, &fields, x(Version::HTTP_11, Some(2)));
        assert_eq!(text.matches("date: ").count(), 1, "{text}");
        assert_eq!(f, BodyFraming::Length(2));
    }

    #[test]
    fn wire_fields_go_first_as_they_are_and_frame_the_body() {
        let lines = bytes::Bytes::from_static(b"server: s\r\ncontent-length: 2\r\ndate: d\r\n");
        let wire = WireFields::new(lines, Some(2), true);
        let mut h = HeaderMap::new();
        h.insert(header::VIA, HeaderValue::from_static("1.1 sightline"));
        let mut out = Vec::new();
        let (f, keep) = head(
            &mut out,
            StatusCode::OK,
            &mut h,
            Some(wire),
            x(Version::HTTP_11, None),
        );
        let want = "HTTP/1.1 200 OK\r\nserver: s\r\ncontent-length: 2\r\ndate: d\r\nvia: 1.1 sightline\r\n\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!((f, keep), (BodyFraming::Length(2), true));
        // A status without a body loses the length, and only that.
        let lines = bytes::Bytes::from_static(b"content-length: 0\r\nx-a: 1\r\n");
        let wire = WireFields::new(lines, Some(0), false);
        let mut out = Vec::new();
        let status = StatusCode::NO_CONTENT;
        let (f, _) = head(
            &mut out,
            status,
            &mut HeaderMap::new(),
            Some(wire),
            x(Version::HTTP_11, None),
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 204 No Content\r\nx-a: 1\r\ndate: "),
            "{text}"
        );
        assert_eq!(f, BodyFraming::None);
    }

    #[test]
    fn chunk_sizes_are_hex() {
        let mut out = Vec::new();
        chunk_size(&mut out, 255);
        assert_eq!(out, b"ff\r\n");
    }
}

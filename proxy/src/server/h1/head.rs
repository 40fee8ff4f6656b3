//! Request heads: parsed strictly (httparse's request rules: no obsolete line folding, no space
//! before a field's colon, no control characters in values, HTTP/1.0 and 1.1 only) and framed
//! by the rules of RFC 9112 §6.3, which are the rules hyper's server applies too.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};

/// The most header fields a request head may carry.
pub const MAX_HEADERS: usize = 100;

/// How a request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head and what the connection needs to know about it.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection may serve another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1: the body comes once it is asked for.
    pub expect_continue: bool,
    /// An upgrade (`Upgrade` on HTTP/1.1) or a tunnel (`CONNECT`): the connection changes hands.
    pub upgrade: bool,
}

/// Why a head is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed: answered 400 with the reason.
    Malformed(&'static str),
    /// More header fields, or more bytes, than allowed: answered 431.
    TooLarge,
}

/// Parses one request head at the start of `buf`. `Ok(None)`: the head is not complete yet.
/// On success, also returns the head's length in bytes.
pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Malformed(reason(e))),
    };
    // One copy of the head: the target and every value are slices of it.
    let raw = super::buffers::copy_shared(&buf[..len]);
    let base = buf.as_ptr() as usize;
    let slice = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        raw.slice(start..start + part.len())
    };
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let target = slice(req.path.unwrap_or("").as_bytes());
    let uri = Uri::from_maybe_shared(target)
        .map_err(|_| HeadError::Malformed("invalid request target"))?;
    let mut headers = super::buffers::take_map(req.headers.len());
    let mut framing_fields = FramingFields::default();
    let mut expect_continue = false;
    let mut upgrade = method == Method::CONNECT;
    for f in req.headers.iter() {
        let name = HeaderName::from_bytes(f.name.as_bytes())
            .map_err(|_| HeadError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(slice(f.value))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        match framing_fields.note(&name, f.value, version) {
            Err(reason) => return Err(HeadError::Malformed(reason)),
            Ok(Field::Repeated) => continue,
            Ok(Field::Keep) => {}
        }
        if name == header::EXPECT {
            expect_continue = version == Version::HTTP_11
                && f.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if name == header::UPGRADE {
            upgrade |= version == Version::HTTP_11;
        }
        headers.append(name, value);
    }
    let mut keep_alive = framing_fields.keep_alive(version);
    let framing = match framing_fields.chunked {
        Some(false) => return Err(HeadError::Malformed("unsupported Transfer-Encoding")),
        Some(true) => {
            if framing_fields.length.is_some() {
                // Both: the chunks frame the body, the length goes, and the connection closes
                // after the answer (RFC 9112 §6.3), so nothing behind the body is read.
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
            }
            Framing::Chunked
        }
        None => Framing::Length(framing_fields.length.unwrap_or(0)),
    };
    let head = Head {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
    };
    Ok(Some((head, len)))
}

/// What a head's framing fields (`Transfer-Encoding`, `Content-Length`, `Connection`) say,
/// gathered field by field; requests and upstream responses are framed by the same rules.
#[derive(Debug, Default)]
pub(crate) struct FramingFields {
    /// The `Content-Length`, every occurrence agreeing.
    pub length: Option<u64>,
    /// `Transfer-Encoding` was sent: whether its last coding is `chunked`.
    pub chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
}

/// What to do with a field once [`FramingFields::note`] has read it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// Keep it in the head.
    Keep,
    /// A `Content-Length` repeating the one already kept: leave it out.
    Repeated,
}

impl FramingFields {
    /// Reads one field of a head of `version`; any other field is kept as it is. Errors with
    /// the reason the head is refused: a transfer coding on HTTP/1.0, an invalid length, or
    /// lengths that disagree.
    pub(crate) fn note(
        &mut self,
        name: &HeaderName,
        value: &[u8],
        version: Version,
    ) -> Result<Field, &'static str> {
        if name == header::TRANSFER_ENCODING {
            if version == Version::HTTP_10 {
                return Err("Transfer-Encoding on HTTP/1.0");
            }
            // Several fields make one list: the last coding named is what counts.
            self.chunked = Some(last_coding_is_chunked(value));
        } else if name == header::CONTENT_LENGTH {
            let n = content_length(value).ok_or("invalid Content-Length")?;
            match self.length {
                Some(prev) if prev != n => return Err("conflicting Content-Length"),
                Some(_) => return Ok(Field::Repeated),
                None => self.length = Some(n),
            }
        } else if name == header::CONNECTION {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        Ok(Field::Keep)
    }

    /// Whether the connection may carry another message, by the version and `Connection`.
    pub(crate) fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::HTTP_10 => self.keep_alive && !self.close,
            _ => !self.close,
        }
    }
}

/// Whether the last transfer coding named is `chunked` (the only one the body can be framed by).
fn last_coding_is_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// A status whose response never has a body, nor a length or transfer coding for one: 1xx
/// and 204 (RFC 9110 §8.6, RFC 9112 §6.1).
pub fn never_has_body(status: http::StatusCode) -> bool {
    status.is_informational() || status == http::StatusCode::NO_CONTENT
}

/// A response with no body: to HEAD (`head_request`), a status that never has one, or 304
/// (whose length, if any, is the one a GET would have had).
pub fn has_no_body(status: http::StatusCode, head_request: bool) -> bool {
    head_request || never_has_body(status) || status == http::StatusCode::NOT_MODIFIED
}

/// A `Content-Length` value: digits only; a list is accepted only when every item is the same.
pub fn content_length(value: &[u8]) -> Option<u64> {
    let mut found: Option<u64> = None;
    for item in value.split(|b| *b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || item.len() > 19 {
            return None;
        }
        // Read digit by digit: 19 digits never overflow, and this runs for every head that
        // has a length (a string conversion and `parse` cost several times more).
        let mut n: u64 = 0;
        for &b in item {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u64::from(b - b'0');
        }
        match found {
            Some(prev) if prev != n => return None,
            _ => found = Some(n),
        }
    }
    found
}

/// The reason given for each parse error.
fn reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid request line",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &[u8]) -> Head {
        match parse(raw) {
            Ok(Some((head, len))) => {
                assert!(len <= raw.len());
                head
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    fn err(raw: &[u8]) -> HeadError {
        match parse(raw) {
            Err(e) => e,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn a_complete_head_is_parsed_with_its_framing_and_length() {
        let raw = b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET";
        let (head, len) = parse(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 6);
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri, "/a?b=1");
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["host"], "x");
        assert_eq!(head.framing, Framing::Length(3));
        assert!(head.keep_alive && !head.expect_continue && !head.upgrade);
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GE").unwrap().is_none());
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: te, x\r\n\r\n").keep_alive);
    }

    #[test]
    fn chunked_wins_over_a_length_and_closes_the_connection() {
        let h = ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.keep_alive);
        assert!(!h.headers.contains_key("content-length"));
        let h = ok(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        let cases: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 40\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for raw in cases {
            assert!(
                matches!(err(raw), HeadError::Malformed(_)),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let same =
            ok(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4, 4\r\n\r\n");
        assert_eq!(same.framing, Framing::Length(4));
        assert_eq!(same.headers.get_all("content-length").iter().count(), 1);
    }

    #[test]
    fn malformed_lines_are_refused() {
        let cases: &[&[u8]] = &[
            b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n",
            b"G@T /a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a HTTP/9.9\r\nHost: x\r\n\r\n",
        ];
        for raw in cases {
            assert!(
                matches!(err(raw), HeadError::Malformed(_)),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn too_many_fields_are_too_large() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(err(&raw), HeadError::TooLarge);
    }

    #[test]
    fn upgrades_tunnels_and_expectations_are_noticed() {
        assert!(
            ok(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
                .upgrade
        );
        assert!(!ok(b"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n").upgrade);
        assert!(ok(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").upgrade);
        assert!(
            ok(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn content_lengths_are_digits_and_agreeing_lists_only() {
        assert_eq!(content_length(b"0"), Some(0));
        assert_eq!(content_length(b" 42 "), Some(42));
        assert_eq!(content_length(b"7, 7,7"), Some(7));
        assert_eq!(
            content_length(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        for bad in [
            &b""[..],
            b"7, 8",
            b"+1",
            b"-1",
            b"1e3",
            b"0x10",
            b"1 2",
            b"10000000000000000000",
            b"7,",
            b"\xd9\xa3",
        ] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bare_lf_line_ends_are_read_as_hyper_reads_them() {
        let h = ok(b"GET /a HTTP/1.1\nHost: x\n\n");
        assert_eq!(h.headers["host"], "x");
    }
}

//! W3C trace context (`traceparent`, `tracestate`): continue the caller's trace or start one,
//! and pass it on with this hop as the parent. B3 headers ([`b3`]) are accepted as an option.
//! `baggage` and a continued trace's `tracestate` pass through untouched.

pub mod b3;
mod scope;

pub use scope::{in_call, CallFormat, CallIds, RequestId};

use http::header::HeaderName;
use http::HeaderMap;

/// The W3C trace context's header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The trace context of one proxied call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The 16-byte trace id, shared by every hop of the trace.
    pub trace_id: [u8; 16],
    /// The caller's span id, when the request carried a valid `traceparent`.
    pub parent_id: Option<[u8; 8]>,
    /// This hop's span id, sent upstream as the parent.
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// Continues the trace in `traceparent` when it is valid, else starts a sampled one.
    pub fn from_header(traceparent: Option<&[u8]>) -> Self {
        let span_id = random_nonzero::<8>();
        match traceparent.and_then(parse) {
            Some((trace_id, parent, flags)) => TraceContext {
                trace_id,
                parent_id: Some(parent),
                span_id,
                flags,
            },
            None => TraceContext {
                trace_id: random_nonzero::<16>(),
                parent_id: None,
                span_id,
                flags: 1,
            },
        }
    }

    /// Reads a request's trace context: `traceparent` when valid, else (with `b3` on) the B3
    /// single `b3` header or the multi `X-B3-*` headers, else a new sampled trace.
    pub fn from_headers(h: &HeaderMap, b3: bool) -> Self {
        let tp = h.get(TRACEPARENT).map(|v| v.as_bytes());
        let t = TraceContext::from_header(tp);
        if t.parent_id.is_some() || !b3 {
            return t;
        }
        match b3::parse(h) {
            Some((trace_id, parent, sampled)) => TraceContext {
                trace_id,
                parent_id: Some(parent),
                span_id: t.span_id,
                flags: u8::from(sampled),
            },
            None => t,
        }
    }

    /// Sets the headers sent upstream: `traceparent` with this hop as the parent, and the rest
    /// as [`TraceContext::pass_on`] leaves it.
    pub fn propagate(&self, h: &mut HeaderMap) {
        self.pass_on(h);
        if let Some(v) = self.traceparent() {
            h.insert(TRACEPARENT, v);
        }
    }

    /// The `traceparent` value sent upstream, as a header value. Cut from this worker's block
    /// of shared bytes: no allocation of its own.
    pub fn traceparent(&self) -> Option<http::HeaderValue> {
        let value = crate::server::h1::buffers::copy_shared(&self.header_bytes());
        http::HeaderValue::from_maybe_shared(value).ok()
    }

    /// The trace headers sent upstream but `traceparent`, which the caller adds ([`TRACEPARENT`]
    /// with [`TraceContext::header_bytes`]): the caller's `traceparent` is removed; a
    /// `tracestate` is dropped when the trace was restarted (it belonged to another trace); B3
    /// headers the caller sent are rewritten to the same context.
    pub fn pass_on(&self, h: &mut HeaderMap) {
        // One pass over the names instead of a lookup for each: most requests carry none of
        // these.
        let (mut parent, mut state, mut b3) = (false, false, b3::Present::default());
        for k in h.keys() {
            parent |= *k == TRACEPARENT;
            state |= *k == TRACESTATE;
            b3.note(k);
        }
        if parent {
            h.remove(TRACEPARENT);
        }
        if state && self.parent_id.is_none() {
            h.remove(TRACESTATE);
        }
        b3::rewrite(h, self, b3);
    }

    /// The `traceparent` value to send upstream: this hop as the parent.
    pub fn header_value(&self) -> String {
        String::from_utf8(self.header_bytes().to_vec()).unwrap_or_default()
    }

    /// [`TraceContext::header_value`] without an allocation: `00-<trace>-<span>-<flags>`.
    pub fn header_bytes(&self) -> [u8; 55] {
        let mut out = [b'-'; 55];
        out[..2].copy_from_slice(b"00");
        hex_into(&self.trace_id, &mut out[3..35]);
        hex_into(&self.span_id, &mut out[36..52]);
        hex_into(&[self.flags], &mut out[53..55]);
        out
    }

    /// The log span of a call: every line logged while the call is served carries its trace
    /// id, span id and request id. At the error level so that every level that logs anything
    /// keeps it; target `sightline::call`, so `--log info,sightline::call=off` turns it off.
    pub fn log_span(&self, request_id: &str) -> tracing::Span {
        tracing::error_span!(
            target: "sightline::call",
            "call",
            trace_id = %Hex(&self.trace_id),
            span_id = %Hex(&self.span_id),
            request_id = %request_id
        )
    }

    /// What the log lines of a call served by [`in_call`] carry: the same trace id, span id
    /// and request id as [`TraceContext::log_span`], at a fraction of the cost.
    pub fn log_ids(&self, request_id: &RequestId) -> CallIds {
        CallIds::new(self.trace_id, self.span_id, *request_id)
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
}

/// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids and version `ff` are invalid. Later
/// versions are accepted when their first four fields have the version-00 shape.
fn parse(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let mut parts = s.split('-');
    let version = parts.next()?;
    let (trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    u8::from_str_radix(version, 16).ok()?;
    let trace_id: [u8; 16] = unhex(trace)?;
    let parent: [u8; 8] = unhex(parent)?;
    let flags: [u8; 1] = unhex(flags)?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace_id, parent, flags[0]))
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex of `bytes` (a table lookup: this runs for every call).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the lowercase hex of `bytes` into `out`, which holds twice as many bytes.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// Formats bytes as lowercase hex without building a string first (log fields).
pub struct Hex<'a>(pub &'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 64];
        for chunk in self.0.chunks(32) {
            let out = &mut buf[..chunk.len() * 2];
            hex_into(chunk, out);
            f.write_str(std::str::from_utf8(out).map_err(|_| std::fmt::Error)?)?;
        }
        Ok(())
    }
}

fn random_nonzero<const N: usize>() -> [u8; N] {
    loop {
        let mut out = [0u8; N];
        fastrand::fill(&mut out);
        if out != [0; N] {
            return out;
        }
    }
}

/// A new request id: 16 hex digits.
pub fn request_id() -> String {
    hex(&fastrand::u64(1..).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_trace() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t = TraceContext::from_header(Some(tp));
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            t.parent_id,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        let out = t.header_value();
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(out.ends_with("-01"));
        assert_ne!(
            &out[36..52],
            "00f067aa0ba902b7",
            "the upstream hop gets a new parent id"
        );
    }

    #[test]
    fn invalid_headers_start_a_new_trace() {
        let bad: [&[u8]; 7] = [
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"garbage",
        ];
        for b in bad {
            let t = TraceContext::from_header(Some(b));
            assert_eq!(t.parent_id, None, "{}", String::from_utf8_lossy(b));
            assert_eq!(t.flags, 1);
        }
        let v = TraceContext::from_header(None).header_value();
        assert_eq!(v.len(), 55);
    }

    #[test]
    fn future_versions_are_read_by_their_first_fields() {
        let t = TraceContext::from_header(Some(
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-later",
        ));
        assert!(t.parent_id.is_some());
        assert_eq!(t.flags, 0);
    }
}

//! B3 propagation (Zipkin): the single `b3` header `{trace}-{span}[-{sampled}[-{parent}]]` and
//! the multi headers `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`. 64-bit trace
//! ids are widened to 128 bits with leading zeros.

use super::{hex, TraceContext};
use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

const B3: HeaderName = HeaderName::from_static("b3");
const B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");

/// The trace id, the caller's span id and whether it is sampled, from B3 headers.
pub fn parse(h: &HeaderMap) -> Option<([u8; 16], [u8; 8], bool)> {
    if let Some(v) = h.get("b3").and_then(|v| v.to_str().ok()) {
        let mut parts = v.trim().split('-');
        let trace = trace_id(parts.next()?)?;
        let span = span_id(parts.next()?)?;
        let sampled = !matches!(parts.next(), Some("0"));
        return Some((trace, span, sampled));
    }
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let trace = trace_id(get("x-b3-traceid")?)?;
    let span = span_id(get("x-b3-spanid")?)?;
    let sampled =
        get("x-b3-flags") == Some("1") || !matches!(get("x-b3-sampled"), Some("0" | "false"));
    Some((trace, span, sampled))
}

fn trace_id(s: &str) -> Option<[u8; 16]> {
    let id: [u8; 16] = match s.len() {
        32 => unhex(s)?,
        16 => {
            let low: [u8; 8] = unhex(s)?;
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&low);
            id
        }
        _ => return None,
    };
    (id != [0; 16]).then_some(id)
}

fn span_id(s: &str) -> Option<[u8; 8]> {
    let id: [u8; 8] = unhex(s)?;
    (id != [0; 8]).then_some(id)
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    super::unhex(&s.to_ascii_lowercase())
}

/// Which B3 forms a request carries, noted name by name.
#[derive(Clone, Copy, Debug, Default)]
pub struct Present {
    single: bool,
    multi: bool,
}

impl Present {
    /// Notes one header name of the request.
    pub fn note(&mut self, name: &HeaderName) {
        self.single |= *name == B3;
        self.multi |= *name == B3_TRACE_ID;
    }
}

/// Rewrites whichever B3 form the caller sent (`present`, as noted from `h`) so the upstream
/// sees this hop as the parent.
pub fn rewrite(h: &mut HeaderMap, t: &TraceContext, present: Present) {
    let sampled = if t.flags & 1 == 1 { "1" } else { "0" };
    if present.single {
        let v = format!("{}-{}-{sampled}", hex(&t.trace_id), hex(&t.span_id));
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(B3, v);
        }
    }
    if present.multi {
        for (name, value) in [
            ("x-b3-traceid", hex(&t.trace_id)),
            ("x-b3-spanid", hex(&t.span_id)),
            ("x-b3-sampled", sampled.to_owned()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        match t.parent_id {
            Some(p) => {
                if let Ok(v) = HeaderValue::from_str(&hex(&p)) {
                    h.insert("x-b3-parentspanid", v);
                }
            }
            None => {
                h.remove("x-b3-parentspanid");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn single_and_multi_headers_continue_the_trace() {
        let h = headers(&[(
            "b3",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
        )]);
        let t = TraceContext::from_headers(&h, true);
        assert_eq!(t.trace_id_hex(), "80f198ee56343ba864fe8b2a57d3eff7");
        assert_eq!(
            t.parent_id.map(|p| hex(&p)).as_deref(),
            Some("e457b5a2e4d86bd1")
        );
        assert_eq!(t.flags, 1);

        let h = headers(&[
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
            ("x-b3-sampled", "0"),
        ]);
        let t = TraceContext::from_headers(&h, true);
        assert_eq!(t.trace_id_hex(), "0000000000000000a3ce929d0e0e4736");
        assert_eq!(t.flags, 0);
        let mut out = h.clone();
        t.propagate(&mut out);
        assert_eq!(out["x-b3-parentspanid"], "00f067aa0ba902b7");
        assert_eq!(out["x-b3-spanid"], hex(&t.span_id).as_str());
        assert!(out["traceparent"].to_str().unwrap().ends_with("-00"));
    }

    #[test]
    fn b3_is_ignored_unless_enabled_and_traceparent_wins() {
        let h = headers(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]);
        assert_eq!(TraceContext::from_headers(&h, false).parent_id, None);
        let h = headers(&[
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        let t = TraceContext::from_headers(&h, true);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "0-1",
            "zz-yy",
            "00000000000000000000000000000000-e457b5a2e4d86bd1",
        ] {
            let t = TraceContext::from_headers(&headers(&[("b3", bad)]), true);
            assert_eq!(t.parent_id, None, "{bad}");
        }
    }

    #[test]
    fn a_restarted_trace_drops_the_foreign_tracestate() {
        let mut h = headers(&[
            ("traceparent", "garbage"),
            ("tracestate", "vendor=1"),
            ("baggage", "k=v"),
        ]);
        let t = TraceContext::from_headers(&h, false);
        t.propagate(&mut h);
        assert!(h.get("tracestate").is_none());
        assert_eq!(h["baggage"], "k=v");
        let mut h = headers(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "vendor=1"),
        ]);
        TraceContext::from_headers(&h, false).propagate(&mut h);
        assert_eq!(h["tracestate"], "vendor=1");
    }
}

//! The fields a request gains for the next hop (`Host`, the forwarding headers, `Via`,
//! `traceparent`, `x-request-id`), kept beside the client's header map rather than written
//! into it. The map is cleared once of what must not pass and of every field these replace;
//! then Sightline's own HTTP/1.1 client writes the map's fields and these as it writes the
//! head, with no insert into the map (each would hash the name and could grow the map), and
//! every other client (hyper's HTTP/1.1 and HTTP/2 clients) gets them added to the map
//! ([`NextHop::apply`]): both send the same fields.

use super::headers::{self, Forwarding, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use crate::trace::{TraceContext, TRACEPARENT};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// Where the `Host` sent comes from.
#[derive(Clone, Debug, Default)]
pub enum HostField {
    /// The map's own `Host`, as it is.
    #[default]
    Map,
    /// This value, in place of any the map has.
    Set(HeaderValue),
    /// None: the map has none, and the request names no authority of its own.
    Absent,
}

/// What the request for the next hop adds to the client's header fields (after
/// [`NextHop::inbound`] took out of the map what must not pass). [`NextHop::none`] adds
/// nothing.
#[derive(Debug, Default)]
pub struct NextHop {
    /// The `Host` sent.
    pub host: HostField,
    forwarded: Option<Forwarded>,
    via: Option<HeaderValue>,
    trace: Option<TraceContext>,
    request_id: Option<HeaderValue>,
    /// The client reads the answer's fields from a header map (an HTTP/2 client): the native
    /// client parses the upstream's head into one directly instead of into wire lines.
    pub map_answer: bool,
}

/// The forwarding headers added.
#[derive(Debug)]
struct Forwarded {
    /// `X-Forwarded-For` (none: left out, as an address that is no header value).
    forwarded_for: Option<HeaderValue>,
    /// `X-Forwarded-Proto` is `https`.
    tls: bool,
    /// `X-Forwarded-Host` carries the `Host` sent.
    host: bool,
}

/// What the inbound stack knows of a request when it rewrites it for its upstream.
#[derive(Debug)]
pub struct Inbound<'a> {
    /// The request upgrades its protocol: `Upgrade` and `Connection: upgrade` stay.
    pub upgrade: bool,
    /// Who sent it.
    pub forwarding: Forwarding<'a>,
    /// The normalised authority asked for (`host[:port]`), empty when none.
    pub authority: &'a str,
    /// The client's HTTP version, for `Via`.
    pub version: Version,
    /// The call's trace context, this hop as the parent.
    pub trace: &'a TraceContext,
    /// The request id's header value.
    pub request_id: Option<HeaderValue>,
}

/// The names of the fields [`NextHop`] adds but `Host`: the client's own are taken out of the
/// map.
const ADDED: [HeaderName; 5] = [
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    header::VIA,
    super::REQUEST_ID,
];
/// `Via`'s and the request id's places in [`ADDED`].
const VIA: usize = 3;
const ID: usize = 4;

impl NextHop {
    /// Adds nothing: the map goes as it is.
    pub fn none() -> Self {
        NextHop::default()
    }

    /// Adds nothing, for a client that reads the answer's fields from a map when `map_answer`.
    pub fn none_answered(map_answer: bool) -> Self {
        NextHop {
            map_answer,
            ..NextHop::default()
        }
    }

    /// The rewrite of an inbound request's fields `h` for the upstream. Taken out of `h`: what
    /// never crosses a hop ([`headers::strip_for_next_hop`]), the forwarding headers a peer
    /// that is no trusted proxy may not send ([`headers::forwarded_for`]), the trace headers
    /// [`TraceContext::pass_on`] replaces, and the client's own fields of the names added
    /// (`Via` joins their values). The `Host` sent is the normalised authority: the
    /// client's when it is a single one spelled so, else a new value (the client's then go
    /// unsent).
    pub fn inbound(h: &mut HeaderMap, r: Inbound<'_>) -> Self {
        headers::strip_for_next_hop(h, r.upgrade);
        let forwarded_for = headers::forwarded_for(h, &r.forwarding);
        // One pass over the fields: the `Host` lines and the added names present (most
        // requests carry none of these).
        let (mut hosts, mut host_kept, mut present) = (0, false, 0u8);
        for (k, v) in h.iter() {
            if *k == header::HOST {
                hosts += 1;
                host_kept = v.as_bytes() == r.authority.as_bytes();
            } else if let Some(i) = ADDED.iter().position(|n| n == k) {
                present |= 1 << i;
            }
        }
        // A `Via` that cannot be joined stays as it is, and this hop's is not added.
        let via_present = present & (1 << VIA) != 0;
        let prior = via_present.then(|| h.get_all(header::VIA));
        let via = headers::via_value(prior.into_iter().flatten(), r.version);
        let keep = (u8::from(via.is_none()) << VIA) | (u8::from(r.request_id.is_none()) << ID);
        for (i, name) in ADDED.iter().enumerate() {
            if present & !keep & (1 << i) != 0 {
                h.remove(name);
            }
        }
        let host = if r.authority.is_empty() {
            None
        } else if hosts == 1 && host_kept {
            Some(HostField::Map)
        } else {
            HeaderValue::from_str(r.authority).ok().map(HostField::Set)
        };
        let host = host.unwrap_or_else(|| {
            if hosts > 0 {
                h.remove(header::HOST);
            }
            HostField::Absent
        });
        r.trace.pass_on(h);
        NextHop {
            forwarded: Some(Forwarded {
                forwarded_for,
                tls: r.forwarding.tls,
                host: !matches!(host, HostField::Absent),
            }),
            host,
            via,
            trace: Some(*r.trace),
            request_id: r.request_id,
            map_answer: r.version == Version::HTTP_2,
        }
    }

    /// Adds the fields to `h`, for a client that writes the map itself.
    pub fn apply(self, h: &mut HeaderMap) {
        if let HostField::Set(v) = self.host {
            h.insert(header::HOST, v);
        }
        if let Some(f) = self.forwarded {
            if let Some(v) = f.forwarded_for {
                h.insert(X_FORWARDED_FOR, v);
            }
            h.insert(X_FORWARDED_PROTO, headers::forwarded_proto(f.tls));
            if let Some(v) = f.host.then(|| h.get(header::HOST).cloned()).flatten() {
                h.insert(X_FORWARDED_HOST, v);
            }
        }
        if let Some(v) = self.via {
            h.insert(header::VIA, v);
        }
        if let Some(v) = self.trace.and_then(|t| t.traceparent()) {
            h.insert(TRACEPARENT, v);
        }
        if let Some(v) = self.request_id {
            h.insert(super::REQUEST_ID, v);
        }
    }

    /// Writes the fields of an HTTP/1.1 head: the `Host` this sets first (in place of the
    /// map's), the map's fields in its order, then the added ones in the order
    /// [`NextHop::apply`] adds them. `note` sees each of the map's fields written.
    pub fn write_fields<'h>(
        &self,
        h: &'h HeaderMap,
        out: &mut Vec<u8>,
        mut note: impl FnMut(&'h HeaderName, &'h HeaderValue),
    ) {
        let set_host = match &self.host {
            HostField::Set(v) => {
                field(out, b"host", v.as_bytes());
                Some(v)
            }
            HostField::Map | HostField::Absent => None,
        };
        // The `Host` sent, which `X-Forwarded-Host` repeats.
        let mut host = set_host;
        for (name, value) in h {
            if *name == header::HOST {
                if set_host.is_some() {
                    continue;
                }
                host = host.or(Some(value));
            }
            note(name, value);
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if let Some(f) = &self.forwarded {
            if let Some(v) = &f.forwarded_for {
                field(out, b"x-forwarded-for", v.as_bytes());
            }
            let proto: &[u8] = if f.tls { b"https" } else { b"http" };
            field(out, b"x-forwarded-proto", proto);
            if let Some(v) = host.filter(|_| f.host) {
                field(out, b"x-forwarded-host", v.as_bytes());
            }
        }
        if let Some(v) = &self.via {
            field(out, b"via", v.as_bytes());
        }
        if let Some(t) = &self.trace {
            field(out, b"traceparent", &t.header_bytes());
        }
        if let Some(v) = &self.request_id {
            field(out, b"x-request-id", v.as_bytes());
        }
    }
}

/// Writes one field line of an HTTP/1.1 head.
fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::super::headers::tests::map;
    use super::*;

    fn fwd(peer: &str, trusted: bool, tls: bool) -> Forwarding<'static> {
        Forwarding {
            peer: peer.parse().unwrap(),
            trusted,
            client_header: None,
            tls,
        }
    }

    /// The request's fields rewritten as the native client writes them and as the map the other
    /// clients write: the two must hold the same lines (order aside). Returns the map.
    fn rewrite(h: HeaderMap, forwarding: Forwarding<'_>, authority: &str) -> HeaderMap {
        let trace = TraceContext::from_headers(&h, false);
        let mut h = h;
        let hop = NextHop::inbound(
            &mut h,
            Inbound {
                upgrade: false,
                forwarding,
                authority,
                version: Version::HTTP_11,
                trace: &trace,
                request_id: Some(HeaderValue::from_static("0123456789abcdef")),
            },
        );
        let mut out = Vec::new();
        let mut noted = 0;
        hop.write_fields(&h, &mut out, |_, _| noted += 1);
        let mut applied = h.clone();
        hop.apply(&mut applied);
        let mut written: Vec<String> = String::from_utf8(out)
            .unwrap()
            .split_terminator("\r\n")
            .map(str::to_owned)
            .collect();
        let mut expected: Vec<String> = applied
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        written.sort();
        expected.sort();
        assert_eq!(written, expected);
        assert!(noted <= h.len());
        applied
    }

    #[test]
    fn a_trusted_proxy_has_the_peer_appended() {
        let h = map(&[
            ("host", "api.example"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=10.0.0.1"),
            ("via", "1.1 edge"),
        ]);
        let h = rewrite(h, fwd("192.0.2.7", true, false), "api.example");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h.get_all("x-forwarded-proto").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example");
        assert_eq!(h["forwarded"], "for=10.0.0.1");
        assert_eq!(h["via"], "1.1 edge, 1.1 sightline");
    }

    #[test]
    fn every_via_line_of_the_client_is_joined_before_this_hop() {
        let h = map(&[("host", "api.example"), ("via", "1.0 a"), ("via", "1.1 b")]);
        let h = rewrite(h, fwd("192.0.2.7", false, false), "api.example");
        let via: Vec<_> = h.get_all("via").iter().collect();
        assert_eq!(via, ["1.0 a, 1.1 b, 1.1 sightline"]);
    }

    #[test]
    fn any_other_peer_loses_its_forwarding_claims() {
        let h = map(&[
            ("host", "API.example"),
            ("host", "other.example"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=10.0.0.1;host=evil.example"),
            ("x-real-ip", "10.0.0.1"),
            ("true-client-ip", "10.0.0.1"),
            ("x-client", "10.0.0.3"),
            ("x-request-id", "forged"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("x-kept", "yes"),
        ]);
        let custom = HeaderName::from_static("x-client");
        let mut f = fwd("192.0.2.7", false, true);
        f.client_header = Some(&custom);
        let h = rewrite(h, f, "api.example");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h.get_all("host").iter().count(), 1);
        assert_eq!(h["host"], "api.example");
        assert_eq!(h["x-forwarded-host"], "api.example");
        assert_eq!(h["x-request-id"], "0123456789abcdef");
        let tp = h["traceparent"].to_str().unwrap();
        assert!(
            tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{tp}"
        );
        for gone in ["forwarded", "x-real-ip", "true-client-ip", "x-client"] {
            assert!(h.get(gone).is_none(), "{gone} passed: {h:?}");
        }
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn without_an_authority_no_host_goes_from_the_client() {
        let h = rewrite(
            map(&[("x-kept", "yes")]),
            fwd("192.0.2.7", false, false),
            "",
        );
        assert!(h.get("host").is_none(), "{h:?}");
        assert!(h.get("x-forwarded-host").is_none(), "{h:?}");
        assert_eq!(h["via"], "1.1 sightline");
    }

    #[test]
    fn addresses_are_written_as_text() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "127.0.0.1",
            "::1",
            "2001:db8::7",
        ] {
            let h = rewrite(HeaderMap::new(), fwd(ip, false, true), "a");
            assert_eq!(h["x-forwarded-for"], ip);
            assert_eq!(h["x-forwarded-proto"], "https");
        }
    }

    #[test]
    fn each_peer_gets_its_own_address_when_peers_alternate() {
        // The last address's value is reused: a different peer never gets it.
        for ip in [
            "192.0.2.1",
            "192.0.2.1",
            "192.0.2.2",
            "::1",
            "192.0.2.1",
            "::1",
        ] {
            let h = rewrite(HeaderMap::new(), fwd(ip, false, false), "a");
            assert_eq!(h["x-forwarded-for"], ip);
        }
    }
}

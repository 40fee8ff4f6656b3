//! Header rewriting between client and upstream: hop-by-hop removal, the forwarding headers,
//! `Via`, and removal of the proxy's own error header from upstream responses.

use super::ERROR_HEADER;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1). Names, not
/// strings, so removing them needs no parsing on every call. A constant, not a static: the
/// compiler folds the comparisons with its known names (measured: a static doubled the cost
/// of the pass over the names).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Whether the request asks for a protocol upgrade (`Connection: upgrade` plus `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    // Most requests ask for none: one lookup decides.
    if !headers.contains_key(header::UPGRADE) {
        return false;
    }
    // `h2c` is never relayed: an upstream that switched would speak HTTP/2 straight to the
    // client through the tunnel, past routing and recording. Its headers are then stripped
    // as hop-by-hop and the request goes on as plain HTTP/1.1.
    let h2c = headers
        .get_all(header::UPGRADE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
    !h2c && headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Whether a field called `name` never crosses a hop, whatever the message: a hop-by-hop
/// header, `Upgrade` or the proxy's own error header. Outside an upgrade,
/// [`strip_for_next_hop`] removes every one of them (keeping only `TE: trailers`), besides the
/// fields `Connection` names. Compared name by name: a pass over a constant array would build
/// and drop the array at every call, and this runs for every field of every upstream response.
pub fn hop_only(name: &HeaderName) -> bool {
    *name == header::CONNECTION
        || *name == header::TRANSFER_ENCODING
        || *name == header::TE
        || *name == header::TRAILER
        || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::UPGRADE
        || HOP_ONLY_OTHERS.contains(&name.as_str())
}

/// The names [`hop_only`] is true of that are no standard names.
const HOP_ONLY_OTHERS: [&str; 3] = ["keep-alive", "proxy-connection", "sightline-error"];

/// The names [`hop_only`] is true of, as text.
pub(crate) const HOP_ONLY_NAMES: [&str; 10] = [
    "connection",
    "transfer-encoding",
    "te",
    "trailer",
    "proxy-authenticate",
    "proxy-authorization",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "sightline-error",
];

/// Whether `token` (of a `Connection` value, any case) is the name of a field that never
/// crosses a hop ([`hop_only`]). Compared as bytes: no name is parsed.
pub fn names_hop_only(token: &[u8]) -> bool {
    HOP_ONLY_NAMES
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(token))
}

/// Removes what never crosses a hop: the hop-by-hop headers, any header named in `Connection`,
/// and the proxy's own error header (so neither side can pass its answers off as Sightline's).
/// For an upgrade, `Upgrade` and `Connection: upgrade` stay so the next hop can switch
/// protocols. `TE: trailers` stays (gRPC needs it end to end).
pub fn strip_for_next_hop(headers: &mut HeaderMap, upgrade: bool) {
    // One pass over the names finds the ones present (most messages carry none, or only
    // `Connection`), instead of a lookup for each name that could be there. Bit i is
    // `HOP_BY_HOP[i]`, then `Upgrade` and the error header: nothing is copied or allocated.
    const UPGRADE_BIT: u16 = 1 << 8;
    const ERROR_BIT: u16 = 1 << 9;
    let mut present = 0u16;
    for k in headers.keys() {
        if *k == header::UPGRADE {
            present |= UPGRADE_BIT;
        } else if *k == ERROR_HEADER {
            present |= ERROR_BIT;
        } else if let Some(i) = HOP_BY_HOP.iter().position(|h| h == k) {
            present |= 1 << i;
        }
    }
    if present == 0 && !upgrade {
        return;
    }
    let has = |name: &HeaderName| {
        HOP_BY_HOP
            .iter()
            .position(|h| h == name)
            .is_some_and(|i| present & (1 << i) != 0)
    };
    let te_trailers = has(&header::TE)
        && headers
            .get(header::TE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
            });
    if has(&header::CONNECTION) {
        for name in named_in_connection(headers) {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if present & ERROR_BIT != 0 {
        headers.remove(ERROR_HEADER);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if present & UPGRADE_BIT != 0 {
        headers.remove(header::UPGRADE);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// The headers present that `Connection` names, other than the ones [`strip_for_next_hop`]
/// handles by itself (the hop-by-hop names, `Upgrade`, the error header): in most messages it
/// names only `keep-alive`, `close` or `upgrade`, so nothing is looked up or allocated. A name
/// is matched against the names present, not parsed.
fn named_in_connection(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut named = Vec::new();
    let tokens = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter(|v| v.to_str().is_ok())
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty());
    for token in tokens {
        if names_hop_only(token) {
            continue;
        }
        for k in headers.keys() {
            if k.as_str().as_bytes().eq_ignore_ascii_case(token) && !named.contains(k) {
                named.push(k.clone());
            }
        }
    }
    named
}

/// Headers through which a client could claim an address, a scheme or a host of its own.
/// Only a trusted proxy may pass them on; from any other peer they are dropped. A static: as a
/// constant the array was built and dropped again for every name compared.
static CLIENT_CLAIMS: [HeaderName; 12] = [
    header::FORWARDED,
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-original-forwarded-for"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-forwarded-server"),
];

/// Who sent the request, as the forwarding headers describe it.
#[derive(Clone, Copy, Debug)]
pub struct Forwarding<'a> {
    /// The peer's address (canonical: IPv4-mapped IPv6 as IPv4).
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy, whose forwarding headers are believed.
    pub trusted: bool,
    /// A further header naming the client (`clients.forwarded_header`), when not XFF.
    pub client_header: Option<&'a HeaderName>,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// The `X-Forwarded-For` to send (none when it cannot be a header value). From a trusted proxy
/// it is the `X-Forwarded-For` it sent with the peer appended, and its other forwarding headers
/// pass; from any other peer it is the peer alone, and every forwarding header the client sent
/// is removed from `headers`. The client's own `X-Forwarded-For`, `-Proto` and `-Host` are the
/// caller's to replace.
pub fn forwarded_for(headers: &mut HeaderMap, f: &Forwarding<'_>) -> Option<HeaderValue> {
    let value = if f.trusted {
        let prior: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if prior.is_empty() {
            ip_value(f.peer)
        } else {
            HeaderValue::from_str(&format!("{}, {}", prior.join(", "), f.peer))
        }
    } else {
        // One pass over the names: most requests carry none of these.
        let mut present: Vec<HeaderName> = Vec::new();
        for k in headers.keys() {
            let claim = CLIENT_CLAIMS.contains(k) || f.client_header == Some(k);
            if claim && !present.contains(k) {
                present.push(k.clone());
            }
        }
        for name in present {
            headers.remove(name);
        }
        ip_value(f.peer)
    };
    value.ok()
}

/// `X-Forwarded-Proto` for a connection with TLS or without.
pub fn forwarded_proto(tls: bool) -> HeaderValue {
    HeaderValue::from_static(if tls { "https" } else { "http" })
}

/// The names of the forwarding headers the proxy sets.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// See [`X_FORWARDED_FOR`].
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// An address as a header value. The last one built is kept per thread and shared (a
/// reference count, no allocation): a connection's requests, and most clients', come one after
/// another from the same address.
fn ip_value(ip: IpAddr) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        if let Some((seen, value)) = last.as_ref() {
            if *seen == ip {
                return Ok(value.clone());
            }
        }
        let value = format_ip(ip)?;
        *last = Some((ip, value.clone()));
        Ok(value)
    })
}

/// An address as a header value, built: IPv4 written by hand (this runs for every call, and the
/// formatting machinery costs more than the rest of the header rewrite).
fn format_ip(ip: IpAddr) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string());
    };
    let mut buf = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    HeaderValue::from_bytes(&buf[..len])
}

/// Appends this hop to `Via`.
pub fn append_via(headers: &mut HeaderMap, version: http::Version) {
    // One lookup: most messages come without a `Via` and get this hop's alone.
    match headers.entry(header::VIA) {
        header::Entry::Vacant(e) => {
            e.insert(this_hop(version).1);
        }
        header::Entry::Occupied(mut e) => {
            if let Some(v) = via_value(e.iter(), version) {
                e.insert(v);
            }
        }
    }
}

/// The `Via` that goes on after the `prior` values (every `Via` line, in order), joined, with
/// this hop, of a message of `version`, appended; none when the joined value is no header
/// value (the prior ones then stay). Prior values of which one is not text are replaced by
/// this hop's.
pub fn via_value<'a>(
    prior: impl IntoIterator<Item = &'a HeaderValue>,
    version: http::Version,
) -> Option<HeaderValue> {
    let (text, value) = this_hop(version);
    let mut joined = String::new();
    for v in prior {
        let Ok(v) = v.to_str() else {
            return Some(value);
        };
        joined.push_str(v);
        joined.push_str(", ");
    }
    if joined.is_empty() {
        return Some(value);
    }
    joined.push_str(text);
    HeaderValue::from_str(&joined).ok()
}

/// This hop in `Via`, for a message of `version`: as text and as a header value.
pub(crate) fn this_hop(version: http::Version) -> (&'static str, HeaderValue) {
    // Values made at compile time: one made from a `&str` at run time is checked byte by byte.
    const fn hop(text: &'static str) -> (&'static str, HeaderValue) {
        (text, HeaderValue::from_static(text))
    }
    const VIA_2: (&str, HeaderValue) = hop("2 sightline");
    const VIA_10: (&str, HeaderValue) = hop("1.0 sightline");
    const VIA_11: (&str, HeaderValue) = hop("1.1 sightline");
    match version {
        http::Version::HTTP_2 => VIA_2,
        http::Version::HTTP_10 => VIA_10,
        _ => VIA_11,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A map of `pairs`, in order (a name repeated is appended).
    pub(in crate::wire) fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_names_that_never_cross_a_hop_agree_with_the_removal() {
        let mut all: Vec<HeaderName> = HOP_BY_HOP.to_vec();
        all.extend([header::UPGRADE, ERROR_HEADER]);
        assert_eq!(all.len(), HOP_ONLY_NAMES.len());
        for name in &all {
            assert!(hop_only(name), "{name}");
            assert!(names_hop_only(name.as_str().as_bytes()), "{name}");
            assert!(
                names_hop_only(name.as_str().to_uppercase().as_bytes()),
                "{name}"
            );
            let mut h = map(&[(name.as_str(), "x"), ("x-kept", "1")]);
            strip_for_next_hop(&mut h, false);
            assert!(!h.contains_key(name) || *name == header::TE, "{name}");
        }
        for other in [
            "host",
            "x-kept",
            "via",
            "content-length",
            "keep-alivex",
            "t",
        ] {
            let name = HeaderName::from_static(other);
            assert!(!hop_only(&name), "{other}");
            assert!(!names_hop_only(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers, deflate"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        strip_for_next_hop(&mut h, false);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["x-kept"], "yes");
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn every_connection_value_names_headers_that_go() {
        let long = format!("{}, X-Far", "x-pad, ".repeat(30));
        let mut h = map(&[
            ("connection", "X-One ,te"),
            ("connection", &long),
            ("x-one", "1"),
            ("x-far", "2"),
            ("x-pad", "3"),
            ("te", "trailers"),
            ("x-kept", "yes"),
        ]);
        strip_for_next_hop(&mut h, false);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept", "te"], "{h:?}");
        assert_eq!(
            h["te"], "trailers",
            "TE: trailers stays even when Connection names it"
        );
    }

    #[test]
    fn the_error_header_never_crosses_and_named_headers_match_in_any_case() {
        let mut h = map(&[
            ("connection", "Close, X-Secret"),
            ("close", "1"),
            ("x-secret", "2"),
            ("sightline-error", "forged"),
            ("x-kept", "yes"),
        ]);
        strip_for_next_hop(&mut h, false);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept"], "{h:?}");
        let mut h = map(&[("sightline-error", "forged"), ("x-kept", "yes")]);
        strip_for_next_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn a_connection_value_that_is_not_text_names_nothing() {
        let mut h = HeaderMap::new();
        h.append(
            header::CONNECTION,
            HeaderValue::from_bytes(b"x-secret, caf\xe9").unwrap(),
        );
        h.append("x-secret", HeaderValue::from_static("1"));
        strip_for_next_hop(&mut h, false);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-secret"], "{h:?}");
    }

    #[test]
    fn via_that_is_not_text_is_replaced_by_this_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            header::VIA,
            HeaderValue::from_bytes(b"1.1 caf\xe9").unwrap(),
        );
        append_via(&mut h, http::Version::HTTP_10);
        assert_eq!(h["via"], "1.0 sightline");
        let mut h = HeaderMap::new();
        append_via(&mut h, http::Version::HTTP_2);
        assert_eq!(h["via"], "2 sightline");
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_for_next_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(!is_upgrade(&map(&[("upgrade", "websocket")])));
    }

    #[test]
    fn every_via_line_is_kept_and_this_hop_follows_them() {
        let mut h = map(&[("via", "1.0 a"), ("x-other", "1"), ("via", "1.1 b, 2 c")]);
        append_via(&mut h, http::Version::HTTP_11);
        let lines: Vec<_> = h.get_all(header::VIA).iter().collect();
        assert_eq!(lines, ["1.0 a, 1.1 b, 2 c, 1.1 sightline"]);
    }

    #[test]
    fn each_hop_is_appended_to_via() {
        let mut h = HeaderMap::new();
        append_via(&mut h, http::Version::HTTP_11);
        append_via(&mut h, http::Version::HTTP_2);
        assert_eq!(h["via"], "1.1 sightline, 2 sightline");
    }

    #[test]
    fn headers_without_hop_by_hop_names_stay_as_they_are() {
        let mut h = map(&[("x-kept", "yes"), ("te", "trailers")]);
        strip_for_next_hop(&mut h, false);
        assert_eq!(h.len(), 2, "{h:?}");
    }
}

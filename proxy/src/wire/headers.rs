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
    /// The normalised authority the client asked for (`host[:port]`) as a header value, when
    /// there is one.
    pub host: Option<&'a HeaderValue>,
}

/// Sets `X-Forwarded-For`, `-Proto` and `-Host`. From a trusted proxy the peer is appended to
/// the `X-Forwarded-For` it sent and its other forwarding headers pass; from any other peer
/// every forwarding header the client sent is dropped and `X-Forwarded-For` is the peer alone.
pub fn set_forwarded(headers: &mut HeaderMap, f: Forwarding<'_>) {
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
    match value {
        Ok(v) => {
            headers.insert(X_FORWARDED_FOR, v);
        }
        Err(_) => {
            headers.remove(X_FORWARDED_FOR);
        }
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if f.tls { "https" } else { "http" }),
    );
    match f.host {
        Some(v) => {
            headers.insert(X_FORWARDED_HOST, v.clone());
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

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
    // Values made at compile time: one made from a `&str` at run time is checked byte by byte.
    const fn hop(text: &'static str) -> (&'static str, HeaderValue) {
        (text, HeaderValue::from_static(text))
    }
    const VIA_2: (&str, HeaderValue) = hop("2 sightline");
    const VIA_10: (&str, HeaderValue) = hop("1.0 sightline");
    const VIA_11: (&str, HeaderValue) = hop("1.1 sightline");
    let (text, value) = match version {
        http::Version::HTTP_2 => VIA_2,
        http::Version::HTTP_10 => VIA_10,
        _ => VIA_11,
    };
    // One lookup: most messages come without a `Via` and get this hop's alone.
    match headers.entry(header::VIA) {
        header::Entry::Vacant(e) => {
            e.insert(value);
        }
        header::Entry::Occupied(mut e) => {
            let value = match e.get().to_str() {
                Ok(prior) => HeaderValue::from_str(&format!("{prior}, {text}")),
                Err(_) => Ok(value),
            };
            if let Ok(v) = value {
                e.insert(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
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

    fn fwd<'a>(
        peer: &str,
        trusted: bool,
        tls: bool,
        host: Option<&'a HeaderValue>,
    ) -> Forwarding<'a> {
        Forwarding {
            peer: peer.parse().unwrap(),
            trusted,
            client_header: None,
            tls,
            host,
        }
    }

    #[test]
    fn a_trusted_proxy_has_the_peer_appended() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=10.0.0.1"),
        ]);
        let host = HeaderValue::from_static("api.example");
        set_forwarded(&mut h, fwd("192.0.2.7", true, false, Some(&host)));
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example");
        assert_eq!(h["forwarded"], "for=10.0.0.1");
        append_via(&mut h, http::Version::HTTP_11);
        append_via(&mut h, http::Version::HTTP_2);
        assert_eq!(h["via"], "1.1 sightline, 2 sightline");
    }

    #[test]
    fn any_other_peer_loses_its_forwarding_claims() {
        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=10.0.0.1;host=evil.example"),
            ("x-real-ip", "10.0.0.1"),
            ("true-client-ip", "10.0.0.1"),
            ("x-client", "10.0.0.3"),
            ("x-kept", "yes"),
        ]);
        let custom = HeaderName::from_static("x-client");
        let mut f = fwd("192.0.2.7", false, true, None);
        f.client_header = Some(&custom);
        set_forwarded(&mut h, f);
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        for gone in [
            "x-forwarded-host",
            "forwarded",
            "x-real-ip",
            "true-client-ip",
            "x-client",
        ] {
            assert!(h.get(gone).is_none(), "{gone} passed: {h:?}");
        }
        assert_eq!(h["x-kept"], "yes");
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
            let mut h = HeaderMap::new();
            set_forwarded(&mut h, fwd(ip, false, true, None));
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
            let mut h = HeaderMap::new();
            set_forwarded(&mut h, fwd(ip, false, false, None));
            assert_eq!(h["x-forwarded-for"], ip);
        }
    }

    #[test]
    fn headers_without_hop_by_hop_names_stay_as_they_are() {
        let mut h = map(&[("x-kept", "yes"), ("te", "trailers")]);
        strip_for_next_hop(&mut h, false);
        assert_eq!(h.len(), 2, "{h:?}");
    }
}

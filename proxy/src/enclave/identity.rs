//! Who is calling out: a client certificate, else `Proxy-Authorization` credentials, else the
//! source network, else unknown.

use super::EgressRuntime;
use crate::errors::ProxyError;
use base64::Engine;
use http::HeaderMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The calling service, or `None` for an unknown internal caller (shadow IT, recorded as
/// `unknown:<ip>`). Wrong credentials are an error (407), never a fallback to the address.
/// A certificate identity maps through `egress.identities`; an unmapped one is its own name.
pub fn identify(
    rt: &EgressRuntime,
    peer: IpAddr,
    cert_identity: Option<&str>,
    headers: &HeaderMap,
) -> Result<Option<Arc<str>>, ProxyError> {
    if let Some(id) = cert_identity {
        return Ok(Some(
            rt.identities
                .get(id)
                .cloned()
                .unwrap_or_else(|| Arc::from(id)),
        ));
    }
    if let Some(v) = headers.get(http::header::PROXY_AUTHORIZATION) {
        let (service, token) =
            basic(v.as_bytes()).ok_or(ProxyError::ProxyAuth("malformed Proxy-Authorization"))?;
        return match rt.credentials.get(service.as_str()) {
            Some((name, want)) if constant_time_eq(want.as_bytes(), token.as_bytes()) => {
                Ok(Some(name.clone()))
            }
            _ => Err(ProxyError::ProxyAuth("unknown service or wrong token")),
        };
    }
    Ok(source_service(rt, peer))
}

/// The service behind the caller of an inbound call, if it is one: a certificate identity
/// listed in `egress.identities`, else (without a certificate) the source network. Callers
/// that are not services (clients) are `None`.
pub fn caller_service(
    rt: &EgressRuntime,
    peer: IpAddr,
    cert_identity: Option<&str>,
) -> Option<Arc<str>> {
    match cert_identity {
        Some(id) => rt.identities.get(id).cloned(),
        None => source_service(rt, peer),
    }
}

/// The service of the most specific source network containing `peer` (IPv4-mapped IPv6 peers
/// judged as IPv4).
fn source_service(rt: &EgressRuntime, peer: IpAddr) -> Option<Arc<str>> {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    rt.sources
        .iter()
        .find(|(net, _)| net.contains(&peer))
        .map(|(_, name)| name.clone())
}

/// `Basic base64(service:token)`.
fn basic(value: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("orders:s3cret:with:colons")
        );
        assert_eq!(
            basic(v.as_bytes()),
            Some(("orders".into(), "s3cret:with:colons".into()))
        );
        assert_eq!(basic(b"Bearer abc"), None);
        assert_eq!(basic(b"Basic !!!"), None);
    }
}

//! Message framing checks hyper's parser leaves to the application: requests whose length or
//! target two HTTP implementations could read differently are refused before routing, so the
//! upstream only ever sees requests framed one way (RFC 9112 §3.2, §6.1, §6.3).

use crate::errors::ProxyError;
use http::{header, HeaderMap, Method, Uri, Version};

/// Refuses ambiguous framing and malformed targets with a 400.
pub fn check(
    version: Version,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), ProxyError> {
    if version == Version::HTTP_11 || version == Version::HTTP_10 {
        check_length(headers)?;
    }
    if version == Version::HTTP_11 {
        match headers.get_all(header::HOST).iter().count() {
            0 => return Err(ProxyError::BadRequest("HTTP/1.1 request without Host")),
            1 => {}
            _ => return Err(ProxyError::BadRequest("more than one Host header")),
        }
    }
    check_target(method, uri)
}

/// A transfer coding other than one `chunked` is how request smuggling starts: refuse rather
/// than guess what the next hop makes of it. (`Content-Length` beside `Transfer-Encoding`
/// never gets here: the parser drops it, frames by the chunks and closes the connection after
/// the response, as RFC 9112 §6.3 asks.)
fn check_length(headers: &HeaderMap) -> Result<(), ProxyError> {
    let mut codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|t| t.trim_ascii());
    let Some(first) = codings.next() else {
        return Ok(());
    };
    if !first.eq_ignore_ascii_case(b"chunked") || codings.next().is_some() {
        return Err(ProxyError::BadRequest(
            "unsupported Transfer-Encoding (only a single chunked)",
        ));
    }
    Ok(())
}

/// Origin-form (`/path`) or absolute-form targets only; `*` only for OPTIONS. Authority-form
/// belongs to CONNECT, which the inbound listener does not serve.
fn check_target(method: &Method, uri: &Uri) -> Result<(), ProxyError> {
    if uri.path() == "*" {
        return if method == Method::OPTIONS {
            Ok(())
        } else {
            Err(ProxyError::BadRequest("asterisk target outside OPTIONS"))
        };
    }
    if !uri.path().starts_with('/') || (uri.scheme().is_none() && uri.authority().is_some()) {
        return Err(ProxyError::BadRequest("request target is not a path"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Fields<'_>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn framing_table() {
        let ok = Ok(());
        let bad = |m: &'static str| Err(ProxyError::BadRequest(m));
        let te_bad = bad("unsupported Transfer-Encoding (only a single chunked)");
        let cases: Vec<(Fields<'_>, Result<(), ProxyError>)> = vec![
            (&[("host", "a")], ok.clone()),
            (&[("host", "a"), ("content-length", "3")], ok.clone()),
            (
                &[("host", "a"), ("transfer-encoding", "chunked")],
                ok.clone(),
            ),
            (
                &[("host", "a"), ("transfer-encoding", "Chunked")],
                ok.clone(),
            ),
            (
                &[("host", "a"), ("transfer-encoding", "chunked, chunked")],
                te_bad.clone(),
            ),
            (
                &[
                    ("host", "a"),
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                te_bad.clone(),
            ),
            (
                &[("host", "a"), ("transfer-encoding", "gzip, chunked")],
                te_bad.clone(),
            ),
            (&[("host", "a"), ("transfer-encoding", "identity")], te_bad),
            (&[], bad("HTTP/1.1 request without Host")),
            (
                &[("host", "a"), ("host", "b")],
                bad("more than one Host header"),
            ),
        ];
        let uri: Uri = "/x".parse().unwrap();
        for (h, want) in cases {
            assert_eq!(
                check(Version::HTTP_11, &Method::POST, &uri, &headers(h)),
                want,
                "{h:?}"
            );
        }
    }

    #[test]
    fn h2_requests_need_no_host_header() {
        let uri: Uri = "https://a/x".parse().unwrap();
        assert_eq!(
            check(Version::HTTP_2, &Method::GET, &uri, &HeaderMap::new()),
            Ok(())
        );
    }

    #[test]
    fn targets() {
        let h = headers(&[("host", "a")]);
        let cases = [
            (Method::GET, "/a", true),
            (Method::GET, "http://a/b", true),
            (Method::OPTIONS, "*", true),
            (Method::GET, "*", false),
            (Method::GET, "a", false),
            (Method::GET, "a:80", false),
        ];
        for (m, t, ok) in cases {
            let uri: Uri = t.parse().unwrap();
            assert_eq!(check(Version::HTTP_11, &m, &uri, &h).is_ok(), ok, "{m} {t}");
        }
    }
}

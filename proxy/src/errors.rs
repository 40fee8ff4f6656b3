//! Why the proxy answered a request itself, and the one rescue point that turns each cause into
//! a status, a small JSON body and the `sightline-error` header.

pub mod exit;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use std::time::Duration;

pub use crate::wire::ERROR_HEADER;

/// A cause for the proxy to answer instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No route matches the host and path.
    #[error("no route matches this host and path")]
    NoRoute,
    /// The request is malformed in a way the HTTP parser let through.
    #[error("malformed request: {0}")]
    BadRequest(&'static str),
    /// Request headers larger than the limit.
    #[error("request headers exceed {0} bytes")]
    HeadersTooLarge(usize),
    /// Request target longer than the limit.
    #[error("request target exceeds {0} bytes")]
    UriTooLong(usize),
    /// Request body larger than the limit.
    #[error("request body exceeds {0} bytes")]
    BodyTooLarge(u64),
    /// A rate or concurrency limit refused the call.
    #[error("rate limit exceeded")]
    Limited {
        /// When the client may try again.
        retry_after: Option<Duration>,
    },
    /// The client is banned (failed logins, scanning) or its address is listed.
    #[error("{0}")]
    ClientBlocked(String),
    /// The concurrency limit is reached and this client is shed.
    #[error("overloaded: too many requests in flight")]
    Overloaded,
    /// The fleet's shared limits cannot be reached and `fleet.fail` is `closed`.
    #[error("shared rate limits unavailable: the fleet's Redis does not answer")]
    SharedLimitsDown,
    /// Every upstream of the service is ejected.
    #[error("no healthy upstream for service {0}")]
    NoHealthyUpstream(String),
    /// The proxy is draining and takes no new requests.
    #[error("shutting down")]
    ShuttingDown,
    /// The upstream refused or reset the connection.
    #[error("upstream connection failed: {0}")]
    UpstreamConnect(String),
    /// The upstream did not accept the connection in time.
    #[error("upstream connect timed out after {0:?}")]
    UpstreamConnectTimeout(Duration),
    /// The upstream accepted but did not answer in time.
    #[error("upstream did not respond within {0:?}")]
    UpstreamTimeout(Duration),
    /// The client was still sending its request body when the time ran out: at
    /// `request_timeout`, or after `body_idle_timeout` without a byte.
    #[error("the client did not send its request body in time ({0:?})")]
    ClientTimeout(Duration),
    /// The upstream broke the exchange (reset, malformed response).
    #[error("upstream failed: {0}")]
    Upstream(String),
    /// Egress: the caller's `Proxy-Authorization` is missing parts or wrong.
    #[error("proxy authentication failed: {0}")]
    ProxyAuth(&'static str),
    /// Egress: the enclave policy refused the destination.
    #[error("egress blocked: {0}")]
    EgressBlocked(String),
    /// Egress: the destination's TLS certificate did not verify for the name asked for (or its
    /// TLS handshake failed) in an inspected tunnel.
    #[error("destination TLS failed: {0}")]
    UpstreamTls(String),
    /// Egress: the destination name did not resolve.
    #[error("{0}")]
    Resolve(String),
}

impl ProxyError {
    /// The status sent to the client.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::ClientBlocked(_) => StatusCode::FORBIDDEN,
            ProxyError::Overloaded | ProxyError::SharedLimitsDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::NoHealthyUpstream(_) | ProxyError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::UpstreamConnect(_)
            | ProxyError::Upstream(_)
            | ProxyError::UpstreamTls(_) => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamConnectTimeout(_) | ProxyError::UpstreamTimeout(_) => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ProxyError::ClientTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::ProxyAuth(_) => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            ProxyError::EgressBlocked(_) => StatusCode::FORBIDDEN,
            ProxyError::Resolve(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// A stable machine-readable name: the `error` field and the `sightline-error` header.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::NoRoute => "no_route",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::HeadersTooLarge(_) => "headers_too_large",
            ProxyError::UriTooLong(_) => "uri_too_long",
            ProxyError::BodyTooLarge(_) => "body_too_large",
            ProxyError::Limited { .. } => "rate_limited",
            ProxyError::ClientBlocked(_) => "client_blocked",
            ProxyError::Overloaded => "overloaded",
            ProxyError::SharedLimitsDown => "shared_limits_unavailable",
            ProxyError::NoHealthyUpstream(_) => "no_healthy_upstream",
            ProxyError::ShuttingDown => "shutting_down",
            ProxyError::UpstreamConnect(_) => "upstream_connect_failed",
            ProxyError::UpstreamConnectTimeout(_) => "upstream_connect_timeout",
            ProxyError::UpstreamTimeout(_) => "upstream_timeout",
            ProxyError::Upstream(_) => "upstream_failed",
            ProxyError::ClientTimeout(_) => "client_timeout",
            ProxyError::UpstreamTls(_) => "upstream_tls",
            ProxyError::ProxyAuth(_) => "proxy_auth_required",
            ProxyError::EgressBlocked(_) => "egress_blocked",
            ProxyError::Resolve(_) => "dns_failed",
        }
    }

    /// Who caused this failure. Only [`Fault::Upstream`] counts toward an upstream's
    /// ejection; the others say nothing about its health.
    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::UpstreamConnect(_)
            | ProxyError::UpstreamConnectTimeout(_)
            | ProxyError::UpstreamTimeout(_)
            | ProxyError::Upstream(_)
            | ProxyError::UpstreamTls(_)
            | ProxyError::Resolve(_) => Fault::Upstream,
            ProxyError::BadRequest(_)
            | ProxyError::HeadersTooLarge(_)
            | ProxyError::UriTooLong(_)
            | ProxyError::BodyTooLarge(_)
            | ProxyError::ClientTimeout(_)
            | ProxyError::NoRoute
            | ProxyError::ProxyAuth(_) => Fault::Client,
            ProxyError::Limited { .. }
            | ProxyError::ClientBlocked(_)
            | ProxyError::Overloaded
            | ProxyError::SharedLimitsDown
            | ProxyError::NoHealthyUpstream(_)
            | ProxyError::ShuttingDown
            | ProxyError::EgressBlocked(_) => Fault::Proxy,
        }
    }
}

/// Who caused a failed call: the upstream (or destination), the client, or the proxy's own
/// decision. Like a local-origin error in other proxies' outlier detection, a client's fault
/// (a slow or broken request body) never counts against the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The upstream refused, reset, broke the exchange or did not answer in time.
    Upstream,
    /// The client sent something wrong, too large, or too slowly.
    Client,
    /// The proxy refused the call by its own rules.
    Proxy,
}

/// What a finished exchange says about an upstream's health, for passive ejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// The upstream answered (any status but 502, 503 or 504): its failure count resets.
    Answered,
    /// The upstream failed: counts toward ejection.
    Failed,
    /// The call failed for a reason that is not the upstream's: the count is left alone.
    NotJudged,
}

impl Health {
    /// The verdict for an upstream's response status.
    pub fn of_status(status: StatusCode) -> Health {
        match status.as_u16() {
            502..=504 => Health::Failed,
            _ => Health::Answered,
        }
    }

    /// The verdict for a failed exchange.
    pub fn of_error(err: &ProxyError) -> Health {
        match err.fault() {
            Fault::Upstream => Health::Failed,
            Fault::Client | Fault::Proxy => Health::NotJudged,
        }
    }
}

/// The one place that turns a cause into the client's response.
pub fn rescue(err: &ProxyError, request_id: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "error": err.code(),
        "reason": err.to_string(),
        "request_id": request_id,
    });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = err.status();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(ERROR_HEADER, HeaderValue::from_static(err.code()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::wire::set_request_id(h, request_id);
    if let ProxyError::Limited {
        retry_after: Some(after),
    } = err
    {
        let secs = crate::wire::retry_after_secs(*after);
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    if matches!(err, ProxyError::Overloaded | ProxyError::SharedLimitsDown) {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if matches!(err, ProxyError::ShuttingDown) {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The one answer path both stacks send their own answers through: [`rescue`]'s response,
/// with `Proxy-Authenticate` when a caller must authenticate to the egress proxy, the rate
/// headers of the limit that applied (`rate`), and `Connection: close` when the connection
/// cannot be trusted with another request (`close`).
pub fn answer(
    err: &ProxyError,
    request_id: &str,
    rate: impl FnOnce(&mut HeaderMap),
    close: bool,
) -> Response<Full<Bytes>> {
    let mut resp = rescue(err, request_id);
    let h = resp.headers_mut();
    if matches!(err, ProxyError::ProxyAuth(_)) {
        h.insert(
            header::PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sightline\""),
        );
    }
    rate(h);
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_maps_to_its_status_with_a_json_body() {
        let d = Duration::from_secs(1);
        let cases = [
            (ProxyError::BadRequest("x"), 400),
            (ProxyError::NoRoute, 404),
            (ProxyError::BodyTooLarge(1), 413),
            (ProxyError::UriTooLong(1), 414),
            (
                ProxyError::Limited {
                    retry_after: Some(d),
                },
                429,
            ),
            (ProxyError::HeadersTooLarge(1), 431),
            (ProxyError::UpstreamConnect("refused".into()), 502),
            (ProxyError::Upstream("reset".into()), 502),
            (ProxyError::UpstreamTls("unknown issuer".into()), 502),
            (ProxyError::NoHealthyUpstream("s".into()), 503),
            (ProxyError::ShuttingDown, 503),
            (ProxyError::UpstreamConnectTimeout(d), 504),
            (ProxyError::UpstreamTimeout(d), 504),
            (ProxyError::ClientTimeout(d), 408),
            (ProxyError::ProxyAuth("x"), 407),
            (ProxyError::EgressBlocked("metadata".into()), 403),
            (ProxyError::Resolve("nx".into()), 502),
            (ProxyError::ClientBlocked("banned".into()), 403),
            (ProxyError::Overloaded, 503),
        ];
        for (err, status) in cases {
            let resp = rescue(&err, "req-1");
            assert_eq!(resp.status().as_u16(), status, "{err}");
            assert_eq!(resp.headers()[ERROR_HEADER], err.code());
            assert_eq!(resp.headers()["x-request-id"], "req-1");
            let body = {
                use http_body_util::BodyExt;
                use std::future::Future;
                let mut f = std::pin::pin!(resp.into_body().collect());
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match f.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(Ok(c)) => c.to_bytes(),
                    _ => panic!("full body not ready"),
                }
            };
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"], err.code());
            assert_eq!(v["request_id"], "req-1");
            assert!(!v["reason"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn only_the_upstreams_own_failures_count_against_it() {
        let d = Duration::from_secs(1);
        assert_eq!(
            Health::of_error(&ProxyError::UpstreamTimeout(d)),
            Health::Failed
        );
        assert_eq!(
            Health::of_error(&ProxyError::UpstreamConnect("refused".into())),
            Health::Failed
        );
        for client in [
            ProxyError::ClientTimeout(d),
            ProxyError::BadRequest("request body malformed or cut off"),
            ProxyError::BodyTooLarge(1),
        ] {
            assert_eq!(client.fault(), Fault::Client, "{client}");
            assert_eq!(Health::of_error(&client), Health::NotJudged, "{client}");
        }
        assert_eq!(Health::of_status(StatusCode::BAD_GATEWAY), Health::Failed);
        assert_eq!(Health::of_status(StatusCode::NOT_FOUND), Health::Answered);
    }

    #[test]
    fn rate_limit_says_when_to_retry() {
        let resp = rescue(
            &ProxyError::Limited {
                retry_after: Some(Duration::from_secs(7)),
            },
            "r",
        );
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        let resp = rescue(
            &ProxyError::Limited {
                retry_after: Some(Duration::from_millis(1_200)),
            },
            "r",
        );
        assert_eq!(resp.headers()[header::RETRY_AFTER], "2", "rounded up");
    }

    #[test]
    fn answers_carry_the_authentication_challenge_the_close_and_the_rate_headers() {
        let auth = answer(&ProxyError::ProxyAuth("x"), "r", |_| {}, false);
        assert_eq!(
            auth.headers()[header::PROXY_AUTHENTICATE],
            "Basic realm=\"sightline\""
        );
        assert!(!auth.headers().contains_key(header::CONNECTION));
        let rate = |h: &mut HeaderMap| {
            h.insert("ratelimit", HeaderValue::from_static("\"client\";r=0;t=3"));
        };
        let bad = answer(&ProxyError::BadRequest("x"), "r", rate, true);
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.headers()[header::CONNECTION], "close");
        assert_eq!(bad.headers()["ratelimit"], "\"client\";r=0;t=3");
        assert!(!bad.headers().contains_key(header::PROXY_AUTHENTICATE));
    }
}

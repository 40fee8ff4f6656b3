//! Admin access control: loopback-only by default, a token when configured.
//!
//! With a token, API clients send `Authorization: Bearer <token>`; the dashboard logs in once
//! (`POST /api/login`) and then carries an HttpOnly, SameSite=Strict session cookie naming a
//! random server-side session ([`Sessions`]) that ends at its lifetime, at logout, or when the
//! token changes; `Secure` when the admin listener speaks TLS. State changes are POST only,
//! and a POST that does not carry the bearer token must also carry the [`CSRF_HEADER`] header
//! (which a cross-site form cannot set and a cross-site script cannot send without a CORS
//! preflight this server never grants) and, when the browser names one, an `Origin` matching
//! the `Host`.
//!
//! Without a token every request is authorised, so the `Host` must name this listener as
//! only this machine can reach it: `localhost` or a loopback address, at the listener's port.
//! A page on another site that makes its name resolve to 127.0.0.1 (DNS rebinding) sends its
//! own name as `Host` and is answered 421.

mod sessions;

use http::{header, HeaderMap, HeaderValue, Request};
pub use sessions::{Sessions, MAX_SESSIONS};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name of the session cookie.
pub const COOKIE: &str = "sightline_session";
/// The header every cookie-authenticated or tokenless POST must carry.
pub const CSRF_HEADER: &str = "x-sightline-request";
/// How long a login lasts unless configured.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How admin requests are authorised.
#[derive(Clone, Debug, Default)]
pub struct AdminAuth {
    /// When set, every request except health checks and the static UI files must carry the
    /// token, as a bearer token or through the session cookie.
    pub token: Option<String>,
    /// The admin listener's port. Without a token, a request naming a host (`Host` or the
    /// HTTP/2 authority) is answered only when it names `localhost` or a loopback address at
    /// this port (when `None`, at any port).
    pub listen_port: Option<u16>,
    /// The connection is TLS: cookies are `Secure`, and a `Host` without a port means 443.
    pub tls: bool,
    /// The dashboard's sessions (shared by every connection of the listener).
    pub sessions: Arc<Sessions>,
    /// How long a login lasts; zero means [`DEFAULT_SESSION_LIFETIME`].
    pub session_lifetime: Duration,
}

/// How a request proved itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// No token is configured (the listener is on loopback).
    Open,
    /// `Authorization: Bearer` with the token.
    Bearer,
    /// The session cookie set by a login.
    Cookie,
}

impl AdminAuth {
    /// Whether a request with these headers may proceed.
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        self.credential(headers).is_some()
    }

    /// What the request carries, if it is enough.
    pub(crate) fn credential(&self, headers: &HeaderMap) -> Option<Credential> {
        let Some(token) = &self.token else {
            return Some(Credential::Open);
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), token.as_bytes())) {
            return Some(Credential::Bearer);
        }
        let now = Instant::now();
        session_ids(headers)
            .any(|id| self.sessions.check(id, token, now))
            .then_some(Credential::Cookie)
    }

    /// Why the request is not for this listener, if it is not: without a token, a `Host` (or
    /// HTTP/2 authority) other than `localhost` or a loopback address at the listener's port.
    pub fn misdirected<B>(&self, req: &Request<B>) -> Option<&'static str> {
        if self.token.is_some() {
            return None;
        }
        // Both the Host header and an authority in the target (HTTP/2, or an absolute-form
        // target) must name this listener. No host at all is no browser's request, so no
        // other site's page sent it.
        let header_ok = req
            .headers()
            .get_all(header::HOST)
            .iter()
            .all(|h| h.to_str().is_ok_and(|h| self.is_local_authority(h)));
        let target_ok = req
            .uri()
            .authority()
            .is_none_or(|a| self.is_local_authority(a.as_str()));
        (!(header_ok && target_ok)).then_some(
            "without admin.token the admin listener answers only requests addressed to localhost or a loopback address at its port",
        )
    }

    fn is_local_authority(&self, authority: &str) -> bool {
        let (host, port) = split_authority(authority);
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(p) => p,
                Err(_) => return false,
            },
            None if self.tls => 443,
            None => 80,
        };
        if self.listen_port.is_some_and(|l| l != port) {
            return false;
        }
        if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
            return true;
        }
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        literal.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
    }

    /// Whether `given` is the configured token (always true when none is configured).
    pub(crate) fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_none_or(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
    }

    fn lifetime(&self) -> Duration {
        if self.session_lifetime.is_zero() {
            DEFAULT_SESSION_LIFETIME
        } else {
            self.session_lifetime
        }
    }

    /// Opens a session and returns the `Set-Cookie` value of a successful login, when a token
    /// is configured.
    pub(crate) fn login_cookie(&self) -> Option<HeaderValue> {
        let token = self.token.as_ref()?;
        let lifetime = self.lifetime();
        let id = self.sessions.open(token, lifetime, Instant::now())?;
        let v = format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            lifetime.as_secs(),
            if self.tls { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&v).ok()
    }

    /// Ends the sessions the request's cookies name.
    pub(crate) fn end_sessions(&self, headers: &HeaderMap) {
        for id in session_ids(headers) {
            self.sessions.revoke(id);
        }
    }

    /// The `Set-Cookie` value that clears the session cookie.
    pub(crate) fn clear_cookie(&self) -> HeaderValue {
        if self.tls {
            HeaderValue::from_static(
                "sightline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
            )
        } else {
            HeaderValue::from_static(
                "sightline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            )
        }
    }
}

/// The values of every session cookie the request carries.
fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// `host` and `port` of an authority (`[::1]:9900`, `localhost:9900`, `127.0.0.1`).
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.rsplit_once("]:") {
            Some((h, p)) => (&authority[..h.len() + 1], Some(p)),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

/// Why a state-changing request is refused as a possible cross-site request, if it is.
pub(crate) fn cross_site(headers: &HeaderMap, credential: Credential) -> Option<&'static str> {
    if credential == Credential::Bearer {
        return None;
    }
    if headers.get(CSRF_HEADER).is_none() {
        return Some("a POST from the dashboard must carry the x-sightline-request header");
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some("the request's Origin is not this dashboard"),
    }
}

/// Compares without an early exit, so the time taken does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;

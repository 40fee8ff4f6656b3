//! Admin access control: loopback-only by default, a token when configured.
//!
//! With a token, API clients send `Authorization: Bearer <token>`; the dashboard logs in once
//! (`POST /api/login`) and then carries an HttpOnly, SameSite=Strict session cookie. State
//! changes are POST only, and a POST that does not carry the bearer token must also carry the
//! [`CSRF_HEADER`] header (which a cross-site form cannot set and a cross-site script cannot
//! send without a CORS preflight this server never grants) and, when the browser names one, an
//! `Origin` matching the `Host`.

use http::{header, HeaderMap, HeaderValue};

/// The name of the session cookie.
pub const COOKIE: &str = "sightline_session";
/// The header every cookie-authenticated or tokenless POST must carry.
pub const CSRF_HEADER: &str = "x-sightline-request";
/// How long a login lasts, seconds.
const SESSION_SECS: u64 = 12 * 3600;

/// How admin requests are authorised.
#[derive(Clone, Debug, Default)]
pub struct AdminAuth {
    /// When set, every request except health checks and the static UI files must carry the
    /// token, as a bearer token or through the session cookie.
    pub token: Option<String>,
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
        let session = session_value(token);
        let cookie_ok = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && constant_time_eq(v.as_bytes(), session.as_bytes()));
        cookie_ok.then_some(Credential::Cookie)
    }

    /// Whether `given` is the configured token (always true when none is configured).
    pub(crate) fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_none_or(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
    }

    /// The `Set-Cookie` value of a successful login, when a token is configured.
    pub(crate) fn login_cookie(&self) -> Option<HeaderValue> {
        let token = self.token.as_ref()?;
        let v = format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}",
            session_value(token)
        );
        HeaderValue::from_str(&v).ok()
    }
}

/// The `Set-Cookie` value that ends a session.
pub(crate) fn logout_cookie() -> HeaderValue {
    HeaderValue::from_static("sightline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
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

/// The cookie's value: the token in hex, so any token fits a cookie.
fn session_value(token: &str) -> String {
    token.bytes().map(|b| format!("{b:02x}")).collect()
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

//! Routes as the client protections name them: `POST /login`, `/api/search`.

use http::Method;
use serde::{de, Deserialize, Deserializer};

/// A route as protections name it: an optional method and a path, matched like route prefixes
/// (whole segments): `POST /login`, `/api/search`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Only this method, when given.
    pub method: Option<Method>,
    /// The path or whole-segment path prefix.
    pub path: String,
}

impl RouteSpec {
    /// Parses `POST /login` or `/login`.
    pub fn parse(s: &str) -> Option<RouteSpec> {
        let s = s.trim();
        let (method, path) = match s.split_once(char::is_whitespace) {
            Some((m, p)) => (Some(Method::from_bytes(m.as_bytes()).ok()?), p.trim()),
            None => (None, s),
        };
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return None;
        }
        Some(RouteSpec {
            method,
            path: path.to_owned(),
        })
    }

    /// Whether a request (normalised path) falls under this route.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let p = self.path.trim_end_matches('/');
        p.is_empty()
            || path == p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// `POST /login` or `/login`.
    pub fn label(&self) -> String {
        match &self.method {
            Some(m) => format!("{m} {}", self.path),
            None => self.path.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for RouteSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RouteSpec::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid route {s:?}; write a path such as /login, optionally after a method: \"POST /login\""
            ))
        })
    }
}

super::super::values::text_schema!(
    RouteSpec,
    "RouteSpec",
    "A route: an optional method and a path, such as \"POST /login\" or /api/search."
);

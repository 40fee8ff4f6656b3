//! The rate headers of an admitted or limited call: `RateLimit-Policy` and `RateLimit` of the
//! limit closest to refusing, as the IETF draft writes them. (`Retry-After` on a 429 comes from
//! the refusal's cause, `ProxyError::Limited`.)

use http::{HeaderMap, HeaderValue};
use sightline_policy::clients::{Passed, Rate, Throttled};

/// The `RateLimit-Policy` and `RateLimit` header values of the limit closest to refusing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    pub(super) name: &'static str,
    pub(super) limit: u32,
    pub(super) window: u64,
    pub(super) remaining: u32,
    pub(super) reset: u64,
}

use crate::wire::retry_after_secs as ceil_secs;

impl RateHeaders {
    /// The headers of limit `name` (`rate`) that let a call through.
    pub(super) fn passed(name: &'static str, rate: &Rate, p: Passed) -> Self {
        RateHeaders {
            name,
            limit: rate.burst,
            window: rate.window_secs(),
            remaining: p.remaining,
            reset: ceil_secs(p.reset),
        }
    }

    /// The headers of limit `name` (`rate`) that refused a call.
    pub(super) fn throttled(name: &'static str, rate: &Rate, t: Throttled) -> Self {
        RateHeaders {
            name,
            limit: rate.burst,
            window: rate.window_secs(),
            remaining: 0,
            reset: ceil_secs(t.retry_after).max(1),
        }
    }

    /// Adds `RateLimit-Policy` and `RateLimit` (structured fields, as the IETF draft writes
    /// them: `"name";q=LIMIT;w=WINDOW` and `"name";r=REMAINING;t=SECONDS`).
    pub fn apply(&self, h: &mut HeaderMap) {
        let policy = format!("\"{}\";q={};w={}", self.name, self.limit, self.window);
        let now = format!("\"{}\";r={};t={}", self.name, self.remaining, self.reset);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&now) {
            h.insert("ratelimit", v);
        }
    }

    /// Whichever of the two has fewer calls left (`self` on a tie).
    pub(super) fn tighter(self, other: Option<RateHeaders>) -> RateHeaders {
        match other {
            Some(o) if o.remaining < self.remaining => o,
            _ => self,
        }
    }
}

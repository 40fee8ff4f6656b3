//! Admin access control: loopback-only by default, a bearer token when configured.

use http::HeaderMap;

/// How admin requests are authorised.
#[derive(Clone, Debug, Default)]
pub struct AdminAuth {
    /// When set, every request except health checks must carry `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl AdminAuth {
    /// Whether a request with these headers may proceed.
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
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
mod tests {
    use super::*;

    #[test]
    fn token_is_required_when_configured() {
        let auth = AdminAuth {
            token: Some("s3cret".into()),
        };
        let mut h = HeaderMap::new();
        assert!(!auth.permits(&h));
        h.insert("authorization", "Bearer wrong!".parse().unwrap());
        assert!(!auth.permits(&h));
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(auth.permits(&h));
        assert!(AdminAuth::default().permits(&HeaderMap::new()));
    }
}

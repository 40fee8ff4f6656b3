//! Scalar config values that validate themselves while the file is read.

use serde::{de, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration written as `500ms`, `10s`, `2m`, `1h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
            de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. 500ms, 10s, 2m"
            ))
        })
    }
}

/// A size in bytes: a number, or with a unit `16KiB`, `1MiB`, `2GiB` (also `kb`, `mb`, `gb`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 65536, 64KiB or 1MiB")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).ok_or_else(|| {
                    E::custom(format!(
                        "invalid size {v:?}; write e.g. 65536, 64KiB or 1MiB"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// An upstream address `host:port` (IP or DNS name, port required).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Authority(pub String);

impl<'de> Deserialize<'de> for Authority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bad = |why: &str| de::Error::custom(format!("invalid upstream {s:?}: {why}"));
        if s.contains("://") {
            return Err(bad(
                "write host:port without a scheme; use `tls:` for HTTPS upstreams",
            ));
        }
        let auth: http::uri::Authority = s.parse().map_err(|_| bad("not a host:port"))?;
        if auth.port_u16().is_none() {
            return Err(bad("a port is required"));
        }
        if auth.as_str().contains('@') {
            return Err(bad("credentials are not allowed in an upstream address"));
        }
        Ok(Authority(auth.as_str().to_owned()))
    }
}

/// A route's path prefix: starts with `/`, no query or fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathPrefix(pub String);

impl Default for PathPrefix {
    fn default() -> Self {
        PathPrefix("/".into())
    }
}

impl<'de> Deserialize<'de> for PathPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if !s.starts_with('/') || s.contains(['?', '#']) || s.chars().any(char::is_whitespace) {
            return Err(de::Error::custom(format!(
                "invalid path_prefix {s:?}: must start with / and hold no query, fragment or spaces"
            )));
        }
        Ok(PathPrefix(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1 MiB"), Some(1 << 20));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}

/// A JSON Schema for a value written as a string (or, with `integer`, a number too).
macro_rules! text_schema {
    ($ty:ty, $name:literal, $description:literal $(, $also:literal)?) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": ["string" $(, $also)?],
                    "description": $description,
                })
            }
        }
    };
}
pub(crate) use text_schema;

text_schema!(
    Dur,
    "Duration",
    "A duration: a number and a unit, such as 500ms, 30s, 5m, 1h or 7d."
);
text_schema!(
    ByteSize,
    "ByteSize",
    "A size in bytes: a number, or with a unit such as 64KiB, 10MiB or 1GB.",
    "integer"
);
text_schema!(
    Authority,
    "Authority",
    "An upstream as host:port (a name or an IP address; IPv6 in brackets)."
);
text_schema!(
    PathPrefix,
    "PathPrefix",
    "A path prefix starting with '/', matched on whole segments."
);

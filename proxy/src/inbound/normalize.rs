//! Path canonicalisation before routing. One canonical form is what routing, the client
//! protections, route templates and the upstream all see, so no spelling of a path reaches the
//! service while slipping past a rule written for it:
//!
//! - percent-encoded unreserved characters are decoded, other escapes written in uppercase
//!   hex (RFC 3986 §6.2.2): `/%6cogin` is `/login`;
//! - `%2F` and `%5C` (an encoded `/` or `\`) are refused, decoded or kept
//!   ([`EscapedSlashes`]);
//! - `;` parameters are stripped from each segment, kept or refused ([`PathParams`]):
//!   `/login;jsessionid=1` is `/login`, and `/..;/admin` is `/admin`;
//! - repeated slashes are merged (`merge_slashes`): `//login` is `/login`;
//! - dot segments are removed (RFC 3986 §5.2.4): `/public/../admin` is `/admin`.
//!
//! Case folding belongs to a route (`ignore_case`), so it is applied after routing.

use crate::config::{EscapedSlashes, PathParams, PathRules};
use crate::errors::ProxyError;
use std::borrow::Cow;

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical form of `path` under `rules` (borrowed when already canonical), or a 400 for
/// a path the rules refuse.
pub fn normalize_path<'a>(path: &'a str, rules: &PathRules) -> Result<Cow<'a, str>, ProxyError> {
    let found = Marks::of(path);
    if found.params && rules.params == PathParams::Reject {
        return Err(ProxyError::BadRequest(
            "path parameters (;) are not accepted",
        ));
    }
    let needs_segments = (found.params && rules.params == PathParams::Strip)
        || (rules.merge_slashes && found.double_slash)
        || found.dot_segment;
    if !found.escapes && !needs_segments {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = if found.escapes {
        Cow::Owned(decode(path, rules.escaped_slashes)?)
    } else {
        Cow::Borrowed(path)
    };
    Ok(Cow::Owned(canonical_segments(&decoded, rules)))
}

/// What in a path canonicalisation may act on, found in one pass over its bytes (this runs
/// for every request, and most paths have none of it).
#[derive(Debug, Default, PartialEq, Eq)]
struct Marks {
    /// A `%`.
    escapes: bool,
    /// A `;`.
    params: bool,
    /// A `//`.
    double_slash: bool,
    /// A `.` or `..` segment.
    dot_segment: bool,
}

impl Marks {
    fn of(path: &str) -> Marks {
        let b = path.as_bytes();
        let mut found = Marks::default();
        let mut segment = 0;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'%' => found.escapes = true,
                b';' => found.params = true,
                b'/' => {
                    found.double_slash |= i > 0 && segment == i;
                    found.dot_segment |= is_dot_segment(&b[segment..i]);
                    segment = i + 1;
                }
                _ => {}
            }
        }
        found.dot_segment |= is_dot_segment(&b[segment..]);
        found
    }
}

fn is_dot_segment(s: &[u8]) -> bool {
    s == b"." || s == b".."
}

/// Decodes unreserved characters (and, with [`EscapedSlashes::Decode`], `%2F` and `%5C` to
/// `/`); other escapes stay, in uppercase hex.
fn decode(path: &str, slashes: EscapedSlashes) -> Result<String, ProxyError> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = h << 4 | l;
                if unreserved(c) {
                    out.push(c);
                } else if c == b'/' || c == b'\\' {
                    match slashes {
                        EscapedSlashes::Reject => {
                            return Err(ProxyError::BadRequest(
                                "encoded slash (%2F or %5C) in the path",
                            ))
                        }
                        EscapedSlashes::Decode => out.push(b'/'),
                        EscapedSlashes::Keep => {
                            out.extend_from_slice(if c == b'/' { b"%2F" } else { b"%5C" })
                        }
                    }
                } else {
                    // Keep the escape, with uppercase hex as RFC 3986 recommends.
                    const HEX: &[u8; 16] = b"0123456789ABCDEF";
                    out.extend_from_slice(&[
                        b'%',
                        HEX[usize::from(c >> 4)],
                        HEX[usize::from(c & 15)],
                    ]);
                }
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII was decoded, so the bytes stay valid UTF-8.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Strips `;` parameters, merges slashes and removes dot segments (RFC 3986 §5.2.4) in one pass
/// over the segments; the result always starts with `/`. Parameters go first, so `..;x` is a
/// dot segment, as servers that strip them read it.
fn canonical_segments(path: &str, rules: &PathRules) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, raw) in segments.iter().enumerate() {
        let seg = match (rules.params, raw.split_once(';')) {
            (PathParams::Strip, Some((s, _))) => s,
            _ => raw,
        };
        match seg {
            "" if rules.merge_slashes && i != last => {}
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str, rules: &PathRules) -> Result<String, ProxyError> {
        normalize_path(raw, rules).map(Cow::into_owned)
    }

    #[test]
    fn dot_segments_and_encodings() {
        let cases = [
            ("/a/b", "/a/b"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/%7Euser/%41", "/~user/A"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%zz", "/a%zz"),
            ("/trailing%", "/trailing%"),
            ("/trailing%4", "/trailing%4"),
            ("/", "/"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                norm(raw, &PathRules::default()).as_deref(),
                Ok(want),
                "{raw}"
            );
        }
    }

    #[test]
    fn every_spelling_of_login_is_login_by_default() {
        let d = PathRules::default();
        for raw in [
            "/login",
            "//login",
            "///login",
            "/./login",
            "/%6cogin",
            "/login;jsessionid=1",
            "/;x/login",
            "/x/..;/login",
            "/x/%2e%2e;y/login",
            "/x//../login",
        ] {
            assert_eq!(norm(raw, &d).as_deref(), Ok("/login"), "{raw}");
        }
        assert_eq!(norm("/login/", &d).as_deref(), Ok("/login/"));
        assert_eq!(norm("/a//b//", &d).as_deref(), Ok("/a/b/"));
        assert_eq!(norm("/a/b;v=1/c;d", &d).as_deref(), Ok("/a/b/c"));
    }

    #[test]
    fn escaped_slashes_are_refused_decoded_or_kept() {
        let mut r = PathRules::default();
        for raw in [
            "/api%2Flogin",
            "/api%2flogin",
            "/api%5Clogin",
            "/a/..%2F..%2Fadmin",
        ] {
            assert!(norm(raw, &r).is_err(), "{raw}");
        }
        r.escaped_slashes = EscapedSlashes::Decode;
        assert_eq!(norm("/api%2Flogin", &r).as_deref(), Ok("/api/login"));
        assert_eq!(norm("/api%5clogin", &r).as_deref(), Ok("/api/login"));
        assert_eq!(norm("/a/..%2F..%2Fadmin", &r).as_deref(), Ok("/admin"));
        r.escaped_slashes = EscapedSlashes::Keep;
        assert_eq!(norm("/api%2flogin", &r).as_deref(), Ok("/api%2Flogin"));
    }

    #[test]
    fn params_and_slashes_can_be_left_alone_or_refused() {
        let keep = PathRules {
            merge_slashes: false,
            params: PathParams::Keep,
            escaped_slashes: EscapedSlashes::Keep,
        };
        assert_eq!(norm("//login;a=1", &keep).as_deref(), Ok("//login;a=1"));
        assert_eq!(norm("/a//../b", &keep).as_deref(), Ok("/a/b"));
        let reject = PathRules {
            params: PathParams::Reject,
            ..PathRules::default()
        };
        assert!(norm("/login;a=1", &reject).is_err());
        assert_eq!(norm("/login", &reject).as_deref(), Ok("/login"));
    }

    /// The one pass finds what the plain searches find.
    #[test]
    fn the_one_pass_finds_what_the_searches_find() {
        for raw in [
            "/",
            "",
            "//",
            "/a",
            "/a/",
            "/.",
            "/..",
            "/...",
            "/./",
            "/a/.",
            "/a/..",
            "/a/.b",
            "/a//b",
            "a//",
            "/a;b",
            "/a%20",
            "/%",
            "/a/b;c/./d",
            ".",
            "..",
            "a/../b",
        ] {
            let want = Marks {
                escapes: raw.contains('%'),
                params: raw.contains(';'),
                double_slash: raw.contains("//"),
                dot_segment: raw.split('/').any(|s| s == "." || s == ".."),
            };
            assert_eq!(Marks::of(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn a_canonical_path_is_borrowed() {
        assert!(matches!(
            normalize_path("/api/v1/orders", &PathRules::default()),
            Ok(Cow::Borrowed(_))
        ));
    }
}

//! Request-level rule matching: methods and path patterns, judged on one HTTP request (plain
//! egress, or inside an inspected tunnel), never on the CONNECT that opens a tunnel.
//!
//! Paths are compared in a canonical form so a deny on `/admin` is not side-stepped by
//! `/%61dmin`, `//admin` or `/x/../admin`: percent escapes decoded, empty and `.` segments
//! dropped, `..` resolved, the query ignored.

/// One request as rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method, as sent (methods are case-sensitive).
    pub method: &'a str,
    /// The request target's path (a query is ignored).
    pub path: &'a str,
}

/// A path pattern: a prefix of whole segments, where a `{name}` segment stands for any one
/// segment (`/v1/charges`, `/v1/customers/{id}/cards`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathPattern {
    segments: Vec<Segment>,
    text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    Any,
}

/// Why a path pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathPatternError {
    /// It does not start with `/`.
    #[error("a path pattern starts with /")]
    NotAbsolute,
    /// A segment is `{...}` around something else, or holds a brace elsewhere.
    #[error("a segment is either literal or a whole {{name}}")]
    BadSegment,
}

impl std::str::FromStr for PathPattern {
    type Err = PathPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with('/') {
            return Err(PathPatternError::NotAbsolute);
        }
        let mut segments = Vec::new();
        for seg in canonical_segments(s) {
            let whole = seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2;
            if whole && !seg[1..seg.len() - 1].contains(['{', '}']) {
                segments.push(Segment::Any);
            } else if seg.contains(['{', '}']) {
                return Err(PathPatternError::BadSegment);
            } else {
                segments.push(Segment::Literal(seg));
            }
        }
        Ok(PathPattern {
            segments,
            text: s.to_owned(),
        })
    }
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PathPattern {
    /// Whether `path` (raw, as sent) starts with this pattern's segments.
    pub fn matches(&self, path: &str) -> bool {
        let segs = canonical_segments(path);
        segs.len() >= self.segments.len()
            && self.segments.iter().zip(&segs).all(|(p, s)| match p {
                Segment::Any => true,
                Segment::Literal(l) => l == s,
            })
    }
}

/// The path's segments after decoding escapes and resolving `.`, `..` and empty segments.
/// The query (from the first `?`) and a fragment are ignored.
pub fn canonical_segments(path: &str) -> Vec<String> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path);
    let mut out: Vec<String> = Vec::new();
    // Escaped slashes and backslashes separate segments as some servers treat them.
    for seg in decoded.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.to_owned()),
        }
    }
    out
}

/// Decodes `%XX` escapes (repeatedly, so a double escape cannot hide a segment); invalid escapes
/// stay as they are. Bytes that are not UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let mut cur = s.to_owned();
    // A few rounds are enough for any escape depth a server would also undo.
    for _ in 0..4 {
        let b = cur.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        let mut changed = false;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    out.push(h << 4 | l);
                    i += 3;
                    changed = true;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        cur = String::from_utf8_lossy(&out).into_owned();
        if !changed {
            break;
        }
    }
    cur
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_match_whole_segments_in_canonical_form() {
        let admin = p("/admin");
        for (path, want) in [
            ("/admin", true),
            ("/admin/users", true),
            ("/admin?x=1", true),
            ("/administrator", false),
            ("/v1/admin", false),
            ("/%61dmin/users", true),
            ("/%2561dmin", true),
            ("//admin", true),
            ("/x/../admin", true),
            ("/./admin/", true),
            ("/%2fadmin", true),
            ("/\\admin", true),
            ("/admi", false),
            ("/", false),
        ] {
            assert_eq!(admin.matches(path), want, "{path}");
        }
    }

    #[test]
    fn templates_stand_for_one_segment() {
        let t = p("/v1/customers/{id}/cards");
        assert!(t.matches("/v1/customers/42/cards"));
        assert!(t.matches("/v1/customers/42/cards/7"));
        assert!(!t.matches("/v1/customers/cards"));
        assert!(!t.matches("/v1/customers/42/charges"));
        assert!(p("/").matches("/anything"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(
            "admin".parse::<PathPattern>(),
            Err(PathPatternError::NotAbsolute)
        );
        assert_eq!(
            "/a{b}".parse::<PathPattern>(),
            Err(PathPatternError::BadSegment)
        );
        assert_eq!(
            "/{a{b}}".parse::<PathPattern>(),
            Err(PathPatternError::BadSegment)
        );
    }

    #[test]
    fn truncated_escapes_stay() {
        assert_eq!(canonical_segments("/a%2"), vec!["a%2"]);
        assert_eq!(canonical_segments("/a%zz"), vec!["a%zz"]);
    }
}

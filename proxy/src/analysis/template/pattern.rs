//! Declared route templates (`/users/{id}`, `/files/{name}.{ext}`, `/static/{path*}`): parsing
//! and matching against raw paths.

use super::TemplateError;
use std::cmp::Reverse;

/// A parsed declared template.
#[derive(Debug)]
pub(super) struct Pattern {
    segments: Vec<Segment>,
    /// Ends in `{name*}`, which takes one or more further segments.
    wildcard: bool,
    params: usize,
    literal_len: usize,
}

#[derive(Debug)]
enum Segment {
    Literal(Box<str>),
    Param,
    /// Literal text and params in one segment, such as `{name}.{ext}`.
    Mixed(Vec<Glob>),
}

/// One step of a mixed segment: a literal byte, or a param's first byte and then any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Glob {
    Byte(u8),
    One,
    Many,
}

/// How specific a pattern is; smaller sorts first: no wildcard, fewer params, more segments,
/// more literal text.
pub(super) type Rank = (bool, usize, Reverse<usize>, Reverse<usize>);

impl Pattern {
    /// Parses a template and returns it with its normalized text (empty segments dropped).
    pub(super) fn parse(template: &str) -> Result<(Pattern, String), TemplateError> {
        let invalid = |reason| TemplateError::InvalidTemplate {
            template: template.to_owned(),
            reason,
        };
        if !template.starts_with('/') {
            return Err(invalid("must start with `/`"));
        }
        let mut pattern = Pattern {
            segments: Vec::new(),
            wildcard: false,
            params: 0,
            literal_len: 0,
        };
        let mut text = String::with_capacity(template.len());
        for raw in template.split('/').filter(|s| !s.is_empty()) {
            if pattern.wildcard {
                return Err(invalid("`{name*}` must be the last segment"));
            }
            text.push('/');
            text.push_str(raw);
            let segment = parse_segment(raw).map_err(invalid)?;
            match segment {
                Parsed::Wildcard => {
                    pattern.wildcard = true;
                    pattern.params += 1;
                    continue;
                }
                Parsed::Segment(Segment::Literal(ref l)) => pattern.literal_len += l.len(),
                Parsed::Segment(Segment::Param) => pattern.params += 1,
                Parsed::Segment(Segment::Mixed(ref globs)) => {
                    pattern.params += globs.iter().filter(|g| **g == Glob::One).count();
                    pattern.literal_len +=
                        globs.iter().filter(|g| matches!(g, Glob::Byte(_))).count();
                }
            }
            if let Parsed::Segment(segment) = segment {
                pattern.segments.push(segment);
            }
        }
        if text.is_empty() {
            text.push('/');
        }
        Ok((pattern, text))
    }

    /// How specific this pattern is (see [`Rank`]).
    pub(super) fn rank(&self) -> Rank {
        (
            self.wildcard,
            self.params,
            Reverse(self.segments.len()),
            Reverse(self.literal_len),
        )
    }

    /// Whether a raw path (no query) matches.
    pub(super) fn matches(&self, path: &str) -> bool {
        let mut raw = path.split('/').filter(|s| !s.is_empty());
        for segment in &self.segments {
            let Some(value) = raw.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Literal(l) => **l == *value,
                Segment::Param => true,
                Segment::Mixed(globs) => glob_match(globs, value.as_bytes()),
            };
            if !ok {
                return false;
            }
        }
        match raw.next() {
            Some(_) => self.wildcard,
            None => !self.wildcard,
        }
    }
}

enum Parsed {
    Segment(Segment),
    Wildcard,
}

fn parse_segment(raw: &str) -> Result<Parsed, &'static str> {
    if !raw.contains(['{', '}']) {
        return Ok(Parsed::Segment(Segment::Literal(raw.into())));
    }
    if let Some(name) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        if let Some(name) = name.strip_suffix('*') {
            return param_name(name).map(|()| Parsed::Wildcard);
        }
        if !name.contains(['{', '}']) {
            return param_name(name).map(|()| Parsed::Segment(Segment::Param));
        }
    }
    let mut globs = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let (name, tail) = after.split_once('}').ok_or("unclosed `{`")?;
            param_name(name)?;
            if globs.last() == Some(&Glob::Many) {
                return Err("two params must be separated by literal text");
            }
            globs.extend([Glob::One, Glob::Many]);
            rest = tail;
        } else {
            let end = rest.find(['{', '}']).unwrap_or(rest.len());
            if rest[end..].starts_with('}') {
                return Err("`}` without `{`");
            }
            globs.extend(rest[..end].bytes().map(Glob::Byte));
            rest = &rest[end..];
        }
    }
    Ok(Parsed::Segment(Segment::Mixed(globs)))
}

fn param_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("empty param name")
    } else if name.contains(['{', '}', '*']) {
        Err("param names cannot contain `{`, `}` or `*`")
    } else {
        Ok(())
    }
}

/// Wildcard matching with one backtrack point: linear-ish, so hostile segments cannot make it
/// explode.
fn glob_match(globs: &[Glob], s: &[u8]) -> bool {
    let (mut g, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match globs.get(g) {
            Some(Glob::Byte(b)) if *b == s[i] => (g, i) = (g + 1, i + 1),
            Some(Glob::One) => (g, i) = (g + 1, i + 1),
            Some(Glob::Many) => {
                star = Some((g, i));
                g += 1;
            }
            _ => match star {
                Some((sg, si)) => {
                    star = Some((sg, si + 1));
                    (g, i) = (sg + 1, si + 1);
                }
                None => return false,
            },
        }
    }
    globs[g.min(globs.len())..].iter().all(|x| *x == Glob::Many)
}

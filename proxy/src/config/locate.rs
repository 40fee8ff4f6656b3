//! Finds the line of a key path (`inbound.routes[2].service`) in block-style YAML text, so that
//! errors found after parsing (a route naming an unknown service) still point at a line.

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Builds a path from `a.b[2].c`.
pub(crate) fn path(dotted: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in dotted.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_owned()));
            }
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                if let Ok(n) = rest[1..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = &rest[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest.to_owned()));
        }
    }
    out
}

struct Line<'a> {
    no: usize,
    /// Column where the content starts after any `- ` markers.
    indent: usize,
    /// Column of the first `- ` marker, if the line starts a sequence item.
    dash: Option<usize>,
    content: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut content = trimmed;
        let mut dash = None;
        while let Some(rest) = content
            .strip_prefix("- ")
            .or_else(|| content.strip_prefix('-').filter(|r| r.is_empty()))
        {
            dash.get_or_insert(indent);
            let inner = rest.trim_start();
            indent += content.len() - inner.len();
            content = inner;
        }
        out.push(Line {
            no: i + 1,
            indent,
            dash,
            content,
        });
    }
    out
}

fn key_of(content: &str) -> Option<&str> {
    let (k, _) = content.split_once(':')?;
    Some(k.trim().trim_matches(|c| c == '"' || c == '\''))
}

/// The 1-based line of the deepest part of `path` that can be found.
pub(crate) fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let ls = lines(text);
    let (mut lo, mut hi) = (0usize, ls.len());
    let mut parent: isize = -1;
    let mut found = None;
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let hit = (lo..hi).find(|&i| {
                    ls[i].indent as isize > parent && key_of(ls[i].content) == Some(k.as_str())
                });
                match hit {
                    Some(i) => {
                        found = Some(ls[i].no);
                        let ind = ls[i].indent;
                        let end = (i + 1..hi)
                            .find(|&j| ls[j].indent <= ind && ls[j].dash.is_none_or(|d| d <= ind))
                            .unwrap_or(hi);
                        lo = i + 1;
                        hi = end;
                        parent = ind as isize;
                    }
                    // A flow mapping on the parent's line (`{ a: 1 }`): the line is the answer.
                    None => return found,
                }
            }
            Seg::Index(n) => {
                let items: Vec<usize> = (lo..hi)
                    .filter(|&i| ls[i].dash.is_some_and(|d| d as isize >= parent))
                    .collect();
                let Some(&first) = items.first() else {
                    return found;
                };
                let col = ls[first].dash;
                let same: Vec<usize> = items.into_iter().filter(|&i| ls[i].dash == col).collect();
                let Some(&i) = same.get(*n) else {
                    return found;
                };
                found = Some(ls[i].no);
                let end = same.iter().find(|&&j| j > i).copied().unwrap_or(hi);
                // The item's own first key lives on its dash line.
                lo = i;
                hi = end;
                parent = col.map_or(parent, |c| c as isize);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
version: 1
# comment
inbound:
  listen: 127.0.0.1:8080
  routes:
    - host: a.example
      path_prefix: /a
      service: alpha
    - { path_prefix: /b, service: beta }
    -
      service: gamma
services:
  alpha:
    upstreams: [127.0.0.1:1]
  beta:
    upstreams:
      - 127.0.0.1:2
";

    fn at(p: &str) -> Option<usize> {
        locate(DOC, &path(p))
    }

    #[test]
    fn finds_keys_and_items() {
        assert_eq!(at("version"), Some(1));
        assert_eq!(at("inbound.listen"), Some(4));
        assert_eq!(at("inbound.routes"), Some(5));
        assert_eq!(at("inbound.routes[0]"), Some(6));
        assert_eq!(at("inbound.routes[0].service"), Some(8));
        assert_eq!(at("inbound.routes[1].service"), Some(9));
        assert_eq!(at("inbound.routes[2].service"), Some(11));
        assert_eq!(at("services.beta.upstreams[0]"), Some(17));
        assert_eq!(at("services.alpha.upstreams[0]"), Some(14));
    }

    #[test]
    fn missing_parts_fall_back_to_the_deepest_found() {
        assert_eq!(at("services.alpha.nothing"), Some(13));
        assert_eq!(at("nowhere"), None);
    }

    #[test]
    fn path_parsing() {
        assert_eq!(
            path("a.b[2].c"),
            vec![
                Seg::Key("a".into()),
                Seg::Key("b".into()),
                Seg::Index(2),
                Seg::Key("c".into())
            ]
        );
    }
}

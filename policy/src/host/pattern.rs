//! Host patterns for egress rules: `api.stripe.com`, `*.example.com`, `ec2.*.amazonaws.com`.

use super::{ipv4, normalise_name, parse_host, Host, HostError};
use std::fmt;
use std::str::FromStr;

/// A pattern over host names, normalised like hosts (lowercase, punycode, no trailing dot).
///
/// - `api.stripe.com` matches exactly that name.
/// - `*.example.com` (a leading label of just `*`) matches any name one or more labels deeper,
///   but not `example.com` itself.
/// - Any other `*` matches within one label only: `ec2.*.amazonaws.com` matches
///   `ec2.us-east-1.amazonaws.com` but not `ec2.a.b.amazonaws.com`; `api-*.example.com`
///   matches `api-eu.example.com`.
///
/// Patterns never match IP addresses; rules name addresses with CIDRs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// The normalised pattern, as displayed.
    text: String,
    /// Whether a leading `*.` was given: the name must have more labels than `labels`.
    deeper: bool,
    /// The remaining labels, each a literal or a one-label glob.
    labels: Vec<String>,
}

impl HostPattern {
    /// Whether `host` is a name this pattern covers. Names compare ASCII case-insensitively.
    pub fn matches(&self, host: &Host) -> bool {
        let Host::Name(name) = host else {
            return false;
        };
        let count = name.split('.').count();
        let fits = if self.deeper {
            count > self.labels.len()
        } else {
            count == self.labels.len()
        };
        fits && name
            .rsplit('.')
            .zip(self.labels.iter().rev())
            .all(|(label, pattern)| glob(pattern.as_bytes(), label.as_bytes()))
    }
}

impl FromStr for HostPattern {
    type Err = HostError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        if !s.contains('*') {
            return match parse_host(s)? {
                Host::Name(name) => Ok(HostPattern {
                    labels: name.split('.').map(str::to_owned).collect(),
                    text: name,
                    deeper: false,
                }),
                Host::Ip(_) => Err(HostError::PatternIsAddress),
            };
        }
        let text = normalise_name(s, true)?;
        let mut labels: Vec<String> = text.split('.').map(str::to_owned).collect();
        if labels
            .iter()
            .any(|l| l.starts_with("xn--") && l.contains('*'))
        {
            return Err(HostError::WildcardInIdn);
        }
        // A pattern ending in a number would stand for addresses (`10.*.0.1`), not names.
        let last = labels.last().map_or("", String::as_str);
        if last != "*" && ipv4::is_numeric_label(&last.replace('*', "0")) {
            return Err(HostError::PatternIsAddress);
        }
        let deeper = labels.first().is_some_and(|l| l == "*");
        if deeper {
            labels.remove(0);
        }
        Ok(HostPattern {
            text,
            deeper,
            labels,
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Matches `text` against `pattern`, where `*` stands for any run of characters (ASCII
/// case-insensitive). Iterative with one backtrack point, so it is linear in practice.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests;

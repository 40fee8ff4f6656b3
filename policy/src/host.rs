//! Hosts as a caller names them: parsed, normalised, and told apart from IP addresses.
//!
//! Normalising once here means every later comparison (rules, patterns, records) is a plain
//! string or address comparison: lowercase, no trailing dot, punycode for IDNs, and every
//! numeric IPv4 form a C resolver accepts turned into an address.

mod error;
mod ipv4;
mod pattern;

pub use error::HostError;
pub use pattern::HostPattern;

use idna::AsciiDenyList;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// A destination host: an IP address literal or a normalised DNS name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An address literal, as written (an IPv4-mapped IPv6 address stays IPv6).
    Ip(IpAddr),
    /// A lowercase ASCII name (punycode for IDNs) without a trailing dot.
    Name(String),
}

impl Host {
    /// The address, when the host is an address literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }

    /// The name, when the host is a name.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Ip(_) => None,
            Host::Name(name) => Some(name),
        }
    }
}

/// Written as in a URL authority: IPv6 in brackets, so `format!("{host}:{port}")` is valid.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl FromStr for Host {
    type Err = HostError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_host(s)
    }
}

/// Parses and normalises a host: trims, strips IPv6 brackets, lowercases, removes one trailing
/// dot, converts IDNs to punycode, and reads numeric IPv4 forms (`2130706433`, `0x7f.1`,
/// `0177.0.0.1`, `127.1`) as addresses. A name whose last label is a number is an error.
pub fn parse_host(raw: &str) -> Result<Host, HostError> {
    parse_trimmed(raw.trim())
}

/// Parses `host:port`, `[v6]:port` or a bare `host` (which gets `default_port`). Ports are
/// 1..=65535; an IPv6 address needs brackets here.
pub fn parse_authority(raw: &str, default_port: u16) -> Result<(Host, u16), HostError> {
    let (host, port) = parse_host_port(raw)?;
    match port {
        Some(port) => Ok((host, port)),
        None if default_port != 0 => Ok((host, default_port)),
        None => Err(HostError::InvalidPort),
    }
}

/// Parses `host:port`, `[v6]:port` or a bare `host`, saying whether a port was given. This is
/// the whole of an HTTP `Host` or `:authority`: anything else (userinfo, a path, a fragment,
/// an empty port) is an error.
pub fn parse_host_port(raw: &str) -> Result<(Host, Option<u16>), HostError> {
    let s = raw.trim();
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(HostError::InvalidIpv6)?;
        let (host, rest) = s.split_at(end + 1);
        if rest.is_empty() {
            (host, None)
        } else {
            (
                host,
                Some(rest.strip_prefix(':').ok_or(HostError::InvalidPort)?),
            )
        }
    } else {
        match s.split_once(':') {
            Some((_, port)) if port.contains(':') => return Err(HostError::InvalidIpv6),
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let host = parse_trimmed(host)?;
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

fn parse_port(port: &str) -> Result<u16, HostError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::InvalidPort);
    }
    port.parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or(HostError::InvalidPort)
}

fn parse_trimmed(s: &str) -> Result<Host, HostError> {
    if s.is_empty() {
        return Err(HostError::Empty);
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(HostError::InvalidIpv6)?;
        return parse_ipv6(inner);
    }
    if s.matches(':').count() > 1 {
        return parse_ipv6(s);
    }
    let name = normalise_name(s, false)?;
    match ipv4::parse_numeric(&name)? {
        Some(v4) => Ok(Host::Ip(IpAddr::V4(v4))),
        None => Ok(Host::Name(name)),
    }
}

fn parse_ipv6(s: &str) -> Result<Host, HostError> {
    s.parse::<Ipv6Addr>()
        .map(|v6| Host::Ip(IpAddr::V6(v6)))
        .map_err(|_| HostError::InvalidIpv6)
}

/// Lowercases (punycode for IDNs), checks characters, drops one trailing dot and checks label
/// and name lengths. With `wildcards`, `*` is accepted as a character.
pub(crate) fn normalise_name(s: &str, wildcards: bool) -> Result<String, HostError> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || (wildcards && c == '*')
    };
    // Report a bad ASCII character as such, even when the rest of the name is an IDN.
    if let Some(c) = s.chars().find(|&c| c.is_ascii() && !allowed(c)) {
        return Err(HostError::InvalidChar(c));
    }
    let lower = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii_cow(s.as_bytes(), AsciiDenyList::URL)
            .map_err(|_| HostError::InvalidIdn)?
            .into_owned()
    };
    // IDN mapping can produce new ASCII (fullwidth letters and dots, for instance).
    if let Some(c) = lower
        .chars()
        .find(|&c| !allowed(c) || c.is_ascii_uppercase())
    {
        return Err(HostError::InvalidChar(c));
    }
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::NameTooLong);
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong);
        }
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests;

//! Why a host, authority or host pattern was refused.

use std::fmt;

/// A host, `host:port` or host pattern that cannot be used; the message names the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// Nothing left after trimming.
    Empty,
    /// A character no host name may contain (`@`, `/`, `%`, a space, ...).
    InvalidChar(char),
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LabelTooLong,
    /// A name longer than 253 bytes.
    NameTooLong,
    /// An internationalised name that cannot be converted to punycode.
    InvalidIdn,
    /// A numeric host (last label a number) that is not a valid IPv4 address in any of the
    /// forms C resolvers accept, e.g. `1.2.3.999`.
    InvalidIpv4,
    /// Brackets or colons, but not a valid IPv6 address (zone ids are refused too).
    InvalidIpv6,
    /// A port that is missing, not a number, or outside 1..=65535.
    InvalidPort,
    /// A host pattern that is an IP address; address rules take CIDRs.
    PatternIsAddress,
    /// A wildcard inside an internationalised label, which punycode would scramble.
    WildcardInIdn,
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Empty => f.write_str("empty host"),
            HostError::InvalidChar(c) => write!(f, "invalid character {c:?} in host"),
            HostError::EmptyLabel => f.write_str("empty label in host name"),
            HostError::LabelTooLong => f.write_str("host name label longer than 63 bytes"),
            HostError::NameTooLong => f.write_str("host name longer than 253 bytes"),
            HostError::InvalidIdn => f.write_str("invalid internationalised host name"),
            HostError::InvalidIpv4 => {
                f.write_str("numeric host is not a valid IPv4 address (malformed or out of range)")
            }
            HostError::InvalidIpv6 => f.write_str("invalid IPv6 address"),
            HostError::InvalidPort => f.write_str("port must be a number from 1 to 65535"),
            HostError::PatternIsAddress => {
                f.write_str("host pattern is an IP address; use a CIDR for addresses")
            }
            HostError::WildcardInIdn => {
                f.write_str("wildcard inside an internationalised label is not supported")
            }
        }
    }
}

impl std::error::Error for HostError {}

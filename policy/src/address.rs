//! Special-purpose address classification: loopback, private, link-local, metadata and friends.
//!
//! IPv6 forms that carry an IPv4 address (mapped, compatible, SIIT, NAT64, 6to4, Teredo) are
//! judged by the IPv4 address inside, so `::ffff:169.254.169.254` is as link-local as
//! `169.254.169.254`.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address a destination is; everything but [`AddressClass::Public`] is special.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressClass {
    /// An ordinary, globally routable address.
    Public,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `0.0.0.0/8` ("this network"), `::`.
    Unspecified,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `169.254.0.0/16` (cloud metadata lives here), `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, RFC 6598: `100.64.0.0/10`.
    SharedCgnat,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// The limited broadcast address `255.255.255.255`.
    Broadcast,
    /// Reserved or not globally routable: `240.0.0.0/4`, `192.0.0.0/24`, `198.18.0.0/15`,
    /// `192.88.99.0/24`, and IPv6 outside `2000::/3` or in IETF-only blocks.
    Reserved,
    /// Documentation: `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
}

impl AddressClass {
    /// The kebab-case name used in records, reasons and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::SharedCgnat => "shared-cgnat",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Reserved => "reserved",
            AddressClass::Documentation => "documentation",
            AddressClass::UniqueLocal => "unique-local",
        }
    }

    /// Whether the class is anything but public: such destinations must be named to be reached.
    pub const fn is_special(self) -> bool {
        !matches!(self, AddressClass::Public)
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Special IPv4 ranges; the most specific range containing an address wins.
const V4_RANGES: &[(Ipv4Addr, u8, AddressClass)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, AddressClass::Unspecified),
    (Ipv4Addr::new(10, 0, 0, 0), 8, AddressClass::Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, AddressClass::SharedCgnat),
    (Ipv4Addr::new(127, 0, 0, 0), 8, AddressClass::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, AddressClass::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, AddressClass::Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, AddressClass::Reserved),
    (Ipv4Addr::new(192, 0, 2, 0), 24, AddressClass::Documentation),
    // Deprecated 6to4 relay anycast (RFC 7526).
    (Ipv4Addr::new(192, 88, 99, 0), 24, AddressClass::Reserved),
    (Ipv4Addr::new(192, 168, 0, 0), 16, AddressClass::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, AddressClass::Reserved),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        AddressClass::Documentation,
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        AddressClass::Documentation,
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, AddressClass::Multicast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, AddressClass::Reserved),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        AddressClass::Broadcast,
    ),
];

/// Special IPv6 ranges, applied after [`effective_ip`] has unwrapped any embedded IPv4.
const V6_RANGES: &[(Ipv6Addr, u8, AddressClass)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, AddressClass::Unspecified),
    (Ipv6Addr::LOCALHOST, 128, AddressClass::Loopback),
    // Only 2000::/3 is allocated for global unicast; the rest is reserved (this covers
    // 100::/64 discard-only and the local-use NAT64 prefix 64:ff9b:1::/48, whose embedding
    // is not fixed).
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        3,
        AddressClass::Reserved,
    ),
    (
        Ipv6Addr::new(0x4000, 0, 0, 0, 0, 0, 0, 0),
        2,
        AddressClass::Reserved,
    ),
    (
        Ipv6Addr::new(0x8000, 0, 0, 0, 0, 0, 0, 0),
        1,
        AddressClass::Reserved,
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        AddressClass::UniqueLocal,
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        AddressClass::LinkLocal,
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        AddressClass::Multicast,
    ),
    // Benchmarking (RFC 5180) and the deprecated ORCHID block (RFC 4843).
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        AddressClass::Reserved,
    ),
    (
        Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0),
        28,
        AddressClass::Reserved,
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        AddressClass::Documentation,
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        AddressClass::Documentation,
    ),
];

/// The class of `ip`, judged by the IPv4 address it carries when it carries one.
pub fn classify(ip: IpAddr) -> AddressClass {
    lookup(effective_ip(ip)).map_or(AddressClass::Public, |(_, class)| class)
}

/// The most specific special-purpose range containing `ip` (after [`effective_ip`]), or `None`
/// for a public address. Used to tell whether a configured network really names a special
/// address or merely happens to cover it (`0.0.0.0/0` names nothing special).
pub fn special_range(ip: IpAddr) -> Option<IpNet> {
    lookup(effective_ip(ip)).map(|(net, _)| net)
}

/// The address `ip` really reaches: the IPv4 address inside an IPv6 form that carries one,
/// else `ip` itself.
///
/// Unwrapped forms: IPv4-mapped `::ffff:0:0/96`, IPv4-translated (SIIT) `::ffff:0:0:0/96`,
/// IPv4-compatible `::/96` (but not `::` and `::1`), NAT64 `64:ff9b::/96`, 6to4 `2002::/16`
/// (bits 16..48) and Teredo `2001::/32` (the client address, last 32 bits inverted).
pub fn effective_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    const MAPPED: u128 = 0xffff;
    const TRANSLATED: u128 = 0xffff_0000;
    const NAT64: u128 = 0x0064_ff9b_0000_0000_0000_0000;
    let bits = v6.to_bits();
    let top96 = bits >> 32;
    // The casts truncate on purpose: each form keeps its IPv4 in 32 bits of the address.
    let v4 = if matches!(top96, MAPPED | TRANSLATED | NAT64) || (top96 == 0 && bits > 1) {
        bits as u32
    } else if bits >> 112 == 0x2002 {
        (bits >> 80) as u32
    } else if bits >> 96 == 0x2001_0000 {
        !(bits as u32)
    } else {
        return None;
    };
    Some(Ipv4Addr::from(v4))
}

fn lookup(ip: IpAddr) -> Option<(IpNet, AddressClass)> {
    match ip {
        IpAddr::V4(v4) => {
            let bits = v4.to_bits();
            let (net, len, class) = V4_RANGES
                .iter()
                .filter(|(net, len, _)| bits & mask32(*len) == net.to_bits())
                .max_by_key(|(_, len, _)| *len)?;
            Ipv4Net::new(*net, *len)
                .ok()
                .map(|n| (IpNet::V4(n), *class))
        }
        IpAddr::V6(v6) => {
            let bits = v6.to_bits();
            let (net, len, class) = V6_RANGES
                .iter()
                .filter(|(net, len, _)| bits & mask128(*len) == net.to_bits())
                .max_by_key(|(_, len, _)| *len)?;
            Ipv6Net::new(*net, *len)
                .ok()
                .map(|n| (IpNet::V6(n), *class))
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests;

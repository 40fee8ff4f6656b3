//! Who a client is, strongest evidence first: a verified client certificate, an API key (only
//! its hash is kept), a named client network, else its address. A forwarding header names the
//! address only when the connection comes from a trusted proxy; IPv6 addresses are grouped by
//! prefix so one host cannot rotate through its /64 around a limit.

use ipnet::{IpNet, Ipv6Net};
use std::net::IpAddr;
use std::sync::Arc;

/// What the identity rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// A verified client certificate.
    Certificate,
    /// An API key header the proxy could not verify: only claimed, so it never earns more
    /// than the address it comes from.
    ApiKey,
    /// An API key found in the configured list of key hashes: a real identity.
    VerifiedKey,
    /// A configured client network.
    Named,
    /// Only the (grouped) address.
    Address,
}

impl ClientKind {
    /// `certificate`, `api_key`, `verified_key`, `named`, `address`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientKind::Certificate => "certificate",
            ClientKind::ApiKey => "api_key",
            ClientKind::VerifiedKey => "verified_key",
            ClientKind::Named => "named",
            ClientKind::Address => "address",
        }
    }
}

/// A client as every protection keys it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientId {
    /// What the identity rests on.
    pub kind: ClientKind,
    /// The id: certificate identity, `key:<hash>`, network name, or address (`2001:db8::/64`).
    pub id: Arc<str>,
    /// The (grouped) address the call came from, whatever the id.
    pub address: Arc<str>,
}

impl ClientId {
    /// Whether the client is identified by something it cannot invent (a certificate, a
    /// verified API key, a named network): known clients keep service when anonymous ones are
    /// shed. A claimed API key is anonymous here, like a bare address.
    pub fn known(&self) -> bool {
        !matches!(self.kind, ClientKind::Address | ClientKind::ApiKey)
    }

    /// Whether the identity is a claimed API key, which is also charged to its address.
    pub fn claimed(&self) -> bool {
        self.kind == ClientKind::ApiKey
    }

    /// Whom failures and bans are counted against. An API key is only claimed (the proxy does
    /// not verify it), so a client inventing keys could start afresh with each: for API-key
    /// clients failures, scans and bans follow the address. Certificates and named networks
    /// are not chosen by the client and keep their own id.
    pub fn accountable(&self) -> &Arc<str> {
        match self.kind {
            ClientKind::ApiKey => &self.address,
            _ => &self.id,
        }
    }
}

/// The client's address as limits count it: IPv4 as is, IPv6 as its `/prefix` network.
pub fn group_ip(ip: IpAddr, v6_prefix: u8) -> String {
    match crate::network::canonical(ip) {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) if v6_prefix >= 128 => a.to_string(),
        IpAddr::V6(a) => match Ipv6Net::new(a, v6_prefix) {
            Ok(n) => n.trunc().to_string(),
            Err(_) => a.to_string(),
        },
    }
}

/// The client address behind trusted proxies: the peer itself unless it is trusted; then the
/// right-most address in `forwarded` (an `X-Forwarded-For` value) that is not a trusted proxy.
/// IPv4-mapped IPv6 addresses come back as IPv4.
pub fn forwarded_client(peer: IpAddr, forwarded: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| {
        let ip = crate::network::canonical(*ip);
        trusted.iter().any(|n| n.contains(&ip))
    };
    let peer = crate::network::canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(value) = forwarded else { return peer };
    let mut last = peer;
    for part in value.rsplit(',') {
        let Some(ip) = parse_forwarded_addr(part.trim()).map(crate::network::canonical) else {
            // An unparsable hop: trust stops here.
            return last;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        last = ip;
    }
    last
}

/// `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1`, `[2001:db8::1]:567`.
fn parse_forwarded_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

/// Decides the identity. `named` must be most specific first; `api_key` is the key's hash
/// (already hashed) and whether it was verified.
pub fn identify(
    certificate: Option<&str>,
    api_key: Option<(&str, bool)>,
    addr: IpAddr,
    named: &[(IpNet, Arc<str>)],
    v6_prefix: u8,
) -> ClientId {
    let address: Arc<str> = group_ip(addr, v6_prefix).into();
    if let Some(c) = certificate {
        return ClientId {
            kind: ClientKind::Certificate,
            id: c.into(),
            address,
        };
    }
    if let Some((h, verified)) = api_key {
        return ClientId {
            kind: if verified {
                ClientKind::VerifiedKey
            } else {
                ClientKind::ApiKey
            },
            id: format!("key:{h}").into(),
            address,
        };
    }
    let canon = crate::network::canonical(addr);
    if let Some((_, name)) = named.iter().find(|(n, _)| n.contains(&canon)) {
        return ClientId {
            kind: ClientKind::Named,
            id: name.clone(),
            address,
        };
    }
    ClientId {
        kind: ClientKind::Address,
        id: address.clone(),
        address,
    }
}

#[cfg(test)]
mod tests;

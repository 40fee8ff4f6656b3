//! The `dns:` section: how egress resolves names (servers, a static table, the timeout).

use super::context::Convert;
use super::file::DnsFile;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Name resolution for egress.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// DNS servers (`ip:port`); empty means the system's resolver configuration.
    pub servers: Vec<SocketAddr>,
    /// A static table consulted first (tests, air-gapped sites).
    pub hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Time allowed for one lookup.
    pub timeout: Duration,
}

/// Checks the section.
pub(super) fn convert(raw: DnsFile, cx: &mut Convert<'_>) -> DnsConfig {
    let mut hosts = BTreeMap::new();
    for (name, ips) in raw.hosts {
        match sightline_policy::parse_host(&name) {
            Ok(sightline_policy::Host::Name(n)) => {
                if ips.is_empty() {
                    cx.issue(&format!("dns.hosts.{name}"), "give at least one address");
                }
                hosts.insert(n, ips);
            }
            Ok(sightline_policy::Host::Ip(_)) => cx.issue(
                &format!("dns.hosts.{name}"),
                "the key must be a host name, not an address",
            ),
            Err(e) => cx.issue(
                &format!("dns.hosts.{name}"),
                format!("invalid host name: {e}"),
            ),
        }
    }
    if raw.timeout.is_some_and(|d| d.0.is_zero()) {
        cx.issue("dns.timeout", "must be greater than zero");
    }
    DnsConfig {
        servers: raw.servers,
        hosts,
        timeout: raw.timeout.map_or(Duration::from_secs(2), |d| d.0),
    }
}

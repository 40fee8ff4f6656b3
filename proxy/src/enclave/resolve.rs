//! Resolving destination names once: the static hosts table first, then DNS. The addresses
//! returned are the only ones the egress proxy will check and dial (DNS-rebinding safe).

use crate::config::DnsConfig;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use sightline_policy::Host;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Most addresses checked for one name; a huge answer cannot make a call expensive.
const MAX_ADDRESSES: usize = 16;

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot resolve {host}: {reason}")]
pub struct ResolveError {
    /// The name.
    pub host: String,
    /// Why.
    pub reason: String,
}

/// The egress resolver.
pub struct Resolver {
    hosts: BTreeMap<String, Vec<IpAddr>>,
    dns: Result<TokioResolver, String>,
    timeout: Duration,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("hosts", &self.hosts.len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for `config`: its servers, or the system's configuration when none are given.
    pub fn new(config: &DnsConfig) -> Self {
        let mut opts = ResolverOpts::default();
        opts.timeout = config.timeout;
        opts.attempts = 2;
        let dns = if config.servers.is_empty() {
            TokioResolver::builder_tokio()
                .map(|b| b.with_options(opts))
                .and_then(|b| b.build())
                .map_err(|e| format!("system resolver: {e}"))
        } else {
            let servers = config
                .servers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
            .with_options(opts)
            .build()
            .map_err(|e| format!("resolver: {e}"))
        };
        Resolver {
            hosts: config.hosts.clone(),
            dns,
            timeout: config.timeout,
        }
    }

    /// Every address of `host` (an address resolves to itself), at most 16.
    pub async fn resolve(&self, host: &Host) -> Result<Vec<IpAddr>, ResolveError> {
        let name = match host {
            Host::Ip(ip) => return Ok(vec![*ip]),
            Host::Name(n) => n,
        };
        let err = |reason: String| ResolveError {
            host: name.clone(),
            reason,
        };
        if let Some(ips) = self.hosts.get(name) {
            return Ok(ips.iter().take(MAX_ADDRESSES).copied().collect());
        }
        let dns = self.dns.as_ref().map_err(|e| err(e.clone()))?;
        // Absolute name: no search domains are tried.
        let fqdn = format!("{name}.");
        let lookup = tokio::time::timeout(self.timeout * 2, dns.lookup_ip(fqdn.as_str()))
            .await
            .map_err(|_| err("timed out".into()))?
            .map_err(|e| err(e.to_string()))?;
        let ips: Vec<IpAddr> = lookup.iter().take(MAX_ADDRESSES).collect();
        if ips.is_empty() {
            return Err(err("no addresses".into()));
        }
        Ok(ips)
    }
}

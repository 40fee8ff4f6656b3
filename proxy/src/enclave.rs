//! The egress policy in force for one config: the enclave (with the proxy's own listeners as
//! forbidden destinations), the resolver ([`resolve`]), who a caller is ([`identity`]: source
//! networks, credentials, certificate identities), and the inspection CA with its leaf cache
//! ([`Inspector`]). The egress stack judges calls with it; the inbound stack asks it which
//! service a caller is.

pub mod identity;
mod inspector;
pub mod resolve;

pub use inspector::Inspector;

use crate::config::{Config, EgressConfig};
use crate::record::{Counters, Direction, ServiceCounters};
use resolve::Resolver;
use sightline_policy::Enclave;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything egress needs from one config.
pub struct EgressRuntime {
    /// The enclave policy (with the proxy's own listeners as forbidden destinations).
    pub enclave: Enclave,
    /// The resolver.
    pub resolver: Resolver,
    /// Source networks, most specific first.
    pub sources: Vec<(ipnet::IpNet, Arc<str>)>,
    /// Credentials by service name: (name, token).
    pub credentials: HashMap<String, (Arc<str>, String)>,
    /// Client-certificate identities and the service each one is.
    pub identities: HashMap<String, Arc<str>>,
    /// TLS on the egress listener, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    counters: HashMap<Arc<str>, Arc<ServiceCounters>>,
    unknown: Arc<ServiceCounters>,
    /// Time to connect to a destination.
    pub connect_timeout: Duration,
    /// Idle time after which a tunnel is closed.
    pub idle_timeout: Duration,
    /// Time for a forwarded request's response headers (`limits.request_timeout`).
    pub request_timeout: Duration,
    /// Time a forwarded body may move no byte (`limits.body_idle_timeout`).
    pub body_idle_timeout: Duration,
    /// The HTTP/1.1 client of forwarded requests (`runtime.upstream_http1`).
    pub upstream_http1: crate::h1pool::Http1Client,
    /// The largest response head a destination may send.
    pub max_response_head: usize,
    /// Time from a tunnel client's first byte for its TLS ClientHello to be whole
    /// (`limits.header_read_timeout`).
    pub hello_timeout: Duration,
    /// TLS inspection of listed destinations, when configured.
    pub inspector: Option<Inspector>,
    /// Keep-alive connections of forwarded requests, per checked destination.
    pub forward_pools: crate::upstream::forward_pool::ForwardPools,
}

impl std::fmt::Debug for EgressRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressRuntime")
            .field("enclave", &self.enclave)
            .field("sources", &self.sources)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

pub use crate::record::UNKNOWN_SOURCE;

impl EgressRuntime {
    /// Builds the egress side of `config`; `own` are the proxy's bound listener addresses.
    pub fn build(
        config: &Config,
        egress: &EgressConfig,
        own: &[SocketAddr],
        counters: &Counters,
        tls: Option<tokio_rustls::TlsAcceptor>,
        inspector: Option<Inspector>,
    ) -> Self {
        let mut sources: Vec<(ipnet::IpNet, Arc<str>)> = egress
            .sources
            .iter()
            .map(|(n, s)| (*n, Arc::from(s.as_str())))
            .collect();
        sources.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        let credentials: HashMap<String, (Arc<str>, String)> = egress
            .credentials
            .iter()
            .map(|(s, t)| (s.clone(), (Arc::from(s.as_str()), t.clone())))
            .collect();
        let identities: HashMap<String, Arc<str>> = egress
            .identities
            .iter()
            .map(|(id, s)| (id.clone(), Arc::from(s.as_str())))
            .collect();
        let names = sources
            .iter()
            .map(|(_, s)| s.clone())
            .chain(credentials.values().map(|(s, _)| s.clone()))
            .chain(identities.values().cloned());
        let service_counters = names
            .map(|s| {
                let c = counters.service(Direction::Egress, &s);
                (s, c)
            })
            .collect();
        EgressRuntime {
            enclave: config.enclave.policy(own),
            resolver: Resolver::new(&config.dns),
            sources,
            credentials,
            identities,
            tls,
            counters: service_counters,
            unknown: counters.service(Direction::Egress, UNKNOWN_SOURCE),
            connect_timeout: egress.connect_timeout,
            idle_timeout: egress.idle_timeout,
            request_timeout: config.limits.request_timeout,
            body_idle_timeout: config.limits.body_idle_timeout,
            upstream_http1: config.runtime.upstream_http1,
            max_response_head: crate::upstream::response_head_limit(&config.limits),
            hello_timeout: config.limits.header_read_timeout,
            inspector,
            forward_pools: crate::upstream::forward_pool::ForwardPools::new(
                config.limits.upstream_max_idle,
                config.limits.idle_timeout,
            ),
        }
    }

    /// The counters of a source service; unknown sources share one set.
    pub fn counters_for(&self, service: Option<&Arc<str>>) -> Arc<ServiceCounters> {
        service
            .and_then(|s| self.counters.get(s))
            .cloned()
            .unwrap_or_else(|| self.unknown.clone())
    }

    /// The counters of calls from unidentified sources.
    pub fn unknown_counters(&self) -> Arc<ServiceCounters> {
        self.unknown.clone()
    }
}

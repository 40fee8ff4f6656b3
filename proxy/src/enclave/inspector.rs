//! The inspection CA and its leaf cache: which destinations are inspected, the leaves shown to
//! clients for them, and the TLS client that verifies the destinations.

use sightline_certs::rustls;
use sightline_certs::LeafCache;
use sightline_policy::{Host, HostPattern};
use std::sync::Arc;

/// What inspection needs: which hosts, the CA's leaves, and the TLS client for destinations.
pub struct Inspector {
    hosts: Vec<HostPattern>,
    /// Leaves for inspected names, signed by the inspection CA.
    pub(crate) leaves: LeafCache,
    /// The TLS client for destinations (their certificates always verified).
    pub(crate) upstream: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl Inspector {
    /// Loads the CA pair (checked: key matches, CA usage, key private to its owner) and the
    /// roots destinations are verified against.
    pub fn load(config: &crate::config::InspectConfig) -> Result<Self, sightline_certs::TlsError> {
        let ca = sightline_certs::InspectCa::load(&config.ca_cert, &config.ca_key)?;
        let upstream = sightline_certs::client_config(config.upstream_ca.as_deref(), &[])?;
        Ok(Inspector {
            hosts: config.hosts.clone(),
            leaves: LeafCache::new(ca, sightline_certs::LEAF_CACHE, sightline_certs::LEAF_REUSE),
            upstream: Arc::new(upstream),
        })
    }

    /// Whether a CONNECT to `host` is inspected. Only names are: an address has no name to
    /// verify the destination's certificate against.
    pub fn covers(&self, host: &Host) -> bool {
        matches!(host, Host::Name(_)) && self.hosts.iter().any(|p| p.matches(host))
    }
}

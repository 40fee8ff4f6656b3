//! Keep-alive connections of forwarded requests, one [`Pool`] per destination: the address
//! that was dialed (the one the enclave checked for that request), the host asked for and the
//! port (the scheme is always `http`; TLS goes through CONNECT). A request is judged in full
//! (resolution, enclave, request rules) before a connection is chosen, and is only ever given
//! one to the address its own judgement chose: a name that now resolves elsewhere, or a
//! destination the enclave now refuses, never gets a connection opened for an earlier call.
//! A reload builds a new runtime and with it new, empty pools.
//!
//! The destinations are the callers' choice, so their number is bounded: past
//! [`MAX_DESTINATIONS`] a new destination takes the place of one with nothing pooled, and,
//! when every one has connections waiting, is not pooled (its connection closes after the
//! call).

use crate::h1pool::Pool;
use crate::record::CountingBody;
use sightline_policy::Host;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Most destinations with a pool at once.
pub const MAX_DESTINATIONS: usize = 256;

/// The idle connections of one destination.
pub type ForwardPool = Pool<CountingBody>;

/// The pools of the hosts dialed at one address (few hosts share an address).
type HostPools = Vec<(Host, Arc<ForwardPool>)>;

/// The pools of forwarded requests' destinations.
pub struct ForwardPools {
    /// By dialed address, then by host.
    pools: Mutex<HashMap<SocketAddr, HostPools>>,
    /// Idle connections kept per destination (`limits.upstream_max_idle`).
    max_idle: usize,
    /// Time an idle connection is kept (`limits.idle_timeout`).
    idle_timeout: Duration,
}

impl std::fmt::Debug for ForwardPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardPools")
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl ForwardPools {
    /// No pool yet; each destination's keeps at most `max_idle` connections, each for at most
    /// `idle_timeout`.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        ForwardPools {
            pools: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
        }
    }

    /// The pool of `host` dialed at `addr`, made when first asked for; `None` when no pool may
    /// be kept for it (no idle connection is allowed, or every destination slot holds
    /// connections).
    pub fn get(&self, addr: SocketAddr, host: &Host) -> Option<Arc<ForwardPool>> {
        if self.max_idle == 0 {
            return None;
        }
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hosts) = pools.get(&addr) {
            if let Some((_, pool)) = hosts.iter().find(|(h, _)| h == host) {
                return Some(pool.clone());
            }
        }
        if pools.values().map(Vec::len).sum::<usize>() >= MAX_DESTINATIONS {
            // Room is made by forgetting destinations with nothing pooled and no call using
            // their pool.
            for hosts in pools.values_mut() {
                hosts.retain(|(_, p)| Arc::strong_count(p) > 1 || p.idle() > 0);
            }
            pools.retain(|_, hosts| !hosts.is_empty());
            if pools.values().map(Vec::len).sum::<usize>() >= MAX_DESTINATIONS {
                return None;
            }
        }
        let pool = Pool::new(self.max_idle, self.idle_timeout);
        pools
            .entry(addr)
            .or_default()
            .push((host.clone(), pool.clone()));
        Some(pool)
    }

    /// Destinations with a pool now.
    #[cfg(test)]
    fn destinations(&self) -> usize {
        let pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        pools.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Host {
        Host::Name(s.to_owned())
    }

    #[tokio::test]
    async fn a_pool_is_per_address_and_host() {
        let pools = ForwardPools::new(4, Duration::from_secs(10));
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let p = pools.get(a, &name("api.test")).unwrap();
        assert!(Arc::ptr_eq(&p, &pools.get(a, &name("api.test")).unwrap()));
        assert!(!Arc::ptr_eq(&p, &pools.get(b, &name("api.test")).unwrap()));
        assert!(!Arc::ptr_eq(
            &p,
            &pools.get(a, &name("other.test")).unwrap()
        ));
        let port: SocketAddr = "127.0.0.1:81".parse().unwrap();
        assert!(!Arc::ptr_eq(
            &p,
            &pools.get(port, &name("api.test")).unwrap()
        ));
        assert_eq!(pools.destinations(), 4);
    }

    #[tokio::test]
    async fn destinations_are_bounded_and_unused_ones_make_room() {
        let pools = ForwardPools::new(4, Duration::from_secs(10));
        let held: Vec<_> = (0..MAX_DESTINATIONS)
            .map(|i| {
                let addr = SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16));
                pools.get(addr, &name("api.test")).unwrap()
            })
            .collect();
        let next: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(
            pools.get(next, &name("api.test")).is_none(),
            "every slot is in use"
        );
        drop(held);
        assert!(pools.get(next, &name("api.test")).is_some());
        assert_eq!(pools.destinations(), 1);
    }

    #[test]
    fn no_pool_when_no_idle_connection_is_allowed() {
        let pools = ForwardPools::new(0, Duration::from_secs(10));
        assert!(pools
            .get("127.0.0.1:80".parse().unwrap(), &name("a"))
            .is_none());
    }
}

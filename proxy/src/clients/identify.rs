//! Who the client of a request is: a verified certificate identity, an API key (verified
//! against the configured hashes, else only claimed: charged to its address too, a few per
//! address), a named network, else the address (the one a trusted proxy forwarded, when the
//! peer is one).

use super::ClientGuard;
use crate::config::clients::ClientsConfig;
use http::HeaderMap;
use sightline_policy::clients::{forwarded_client, group_ip, identify, ClientId};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

/// The client's address: the peer, or behind a trusted proxy the address it forwarded.
pub(super) fn client_addr(cfg: &ClientsConfig, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if cfg.trusted_proxies.is_empty() {
        return sightline_policy::canonical(peer);
    }
    let values: Vec<&str> = headers
        .get_all(&cfg.forwarded_header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = values.join(",");
    let forwarded = (!values.is_empty()).then_some(joined.as_str());
    forwarded_client(peer, forwarded, &cfg.trusted_proxies)
}

/// An API key as kept: the first 16 bytes of its SHA-256, in hex. The key itself is never
/// stored or shown.
pub fn hash_api_key(key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    crate::trace::hex(&digest.as_ref()[..16])
}

impl ClientGuard {
    /// Who the client is. An API key in the configured hashes is a verified identity; any
    /// other key is only claimed, and an address may claim at most `api_keys.per_address`
    /// distinct keys within `api_keys.within`: calls with further keys are the address's own.
    pub fn identify(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        certificate: Option<&str>,
        headers: &HeaderMap,
    ) -> ClientId {
        let addr = client_addr(cfg, peer, headers);
        let key = match (certificate, &cfg.api_key_header) {
            (None, Some(h)) => headers.get(h).filter(|v| !v.is_empty()),
            _ => None,
        };
        let key = key.and_then(|v| {
            let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
            let digest: &[u8] = digest.as_ref();
            let hash = crate::trace::hex(&digest[..16]);
            if <[u8; 32]>::try_from(digest).is_ok_and(|d| cfg.api_keys.verified.contains(&d)) {
                return Some((hash, true));
            }
            self.claim_key(cfg, addr, self.hasher.hash_one(digest))
                .then_some((hash, false))
        });
        identify(
            certificate,
            key.as_ref().map(|(h, verified)| (h.as_str(), *verified)),
            addr,
            &cfg.named,
            cfg.ipv6_prefix,
        )
    }

    /// Whether the address `addr` may use one more (or this already seen) unverified key.
    fn claim_key(&self, cfg: &ClientsConfig, addr: IpAddr, key: u64) -> bool {
        let now = self.now();
        let within = sightline_policy::clients::micros(cfg.api_keys.within);
        let address: Arc<str> = group_ip(addr, cfg.ipv6_prefix).into();
        self.keys.with(&address, Vec::new, |seen| {
            seen.retain(|(_, at)| now.saturating_sub(*at) < within);
            if let Some(entry) = seen.iter_mut().find(|(k, _)| *k == key) {
                entry.1 = now;
                true
            } else if seen.len() < cfg.api_keys.per_address {
                seen.push((key, now));
                true
            } else {
                false
            }
        })
    }

    /// The client's address when a trusted proxy forwarded the request, `None` when the client
    /// is the peer.
    pub fn forwarded_for(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
        Some(client_addr(cfg, peer, headers)).filter(|a| *a != peer)
    }
}

//! The accept phase: connection-level checks on a new inbound connection, before TLS or HTTP
//! (allow list → exempt; deny list → closed; a banned address with `bans.action: close` →
//! closed; the per-address connection cap), and the same list checks judged again per request
//! on the address a trusted proxy forwarded.

use super::identify::client_addr;
use super::table::Table;
use super::{ClientGuard, Protection};
use crate::config::clients::{BanAction, ClientsConfig};
use http::HeaderMap;
use sightline_policy::clients::group_ip;
use sightline_policy::Mode;
use std::net::IpAddr;
use std::sync::Arc;

/// What the accept phase decided about a new connection.
#[derive(Debug)]
pub enum Accept {
    /// Close it now.
    Refuse(Protection),
    /// Serve it.
    Serve(ConnFlags),
}

/// What the accept phase learned about a connection, for each of its requests.
#[derive(Debug, Default)]
pub struct ConnFlags {
    /// On an allow list: every protection is skipped.
    pub exempt: bool,
    /// On a deny list in report mode: each call is reported.
    pub listed: bool,
    /// A client behind a trusted proxy whose forwarded address is on a deny list in enforce
    /// mode: each call is refused (the proxy's connection stays open).
    pub denied: bool,
    /// Held while the connection is open.
    pub slot: Option<ConnSlot>,
}

/// A connection's place under its address's cap.
#[derive(Debug)]
pub struct ConnSlot {
    table: Arc<Table<Arc<str>, usize>>,
    key: Arc<str>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let (mut shard, hash) = self.table.shard_hashed(&self.key);
        let empty = shard.get_mut_hashed(hash, &self.key).is_some_and(|n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        if empty {
            shard.remove_hashed(hash, &self.key);
        }
    }
}

impl ClientGuard {
    /// The accept phase for a connection from `peer`.
    pub fn accept(&self, cfg: &ClientsConfig, peer: IpAddr) -> Accept {
        if !cfg.enabled {
            return Accept::Serve(ConnFlags::default());
        }
        let lists = self.lists.load();
        if lists.allow.contains(peer) {
            return Accept::Serve(ConnFlags {
                exempt: true,
                ..ConnFlags::default()
            });
        }
        let mut flags = ConnFlags::default();
        if lists.deny.contains(peer) {
            if cfg.modes.lists == Mode::Enforce {
                self.count(&self.stats.blocked, Protection::DenyList);
                return Accept::Refuse(Protection::DenyList);
            }
            flags.listed = true;
        }
        let key: Arc<str> = group_ip(peer, cfg.ipv6_prefix).into();
        if cfg.ban_action == BanAction::Close && self.active_ban(&key, self.now()).is_some() {
            self.count(&self.stats.blocked, Protection::Ban);
            return Accept::Refuse(Protection::Ban);
        }
        if let (Some(cap), false) = (cfg.per_ip_connections, cfg.trusted_proxy(peer)) {
            match self.take_conn_slot(cfg, cap, key) {
                Ok(slot) => flags.slot = Some(slot),
                Err(refused) => return refused,
            }
        }
        Accept::Serve(flags)
    }

    /// One more connection from the (grouped) address `key`: refused past `cap` in enforce
    /// mode, reported in report mode.
    fn take_conn_slot(
        &self,
        cfg: &ClientsConfig,
        cap: usize,
        key: Arc<str>,
    ) -> Result<ConnSlot, Accept> {
        let over = self.conns.with(
            &key,
            || 0,
            |n| {
                *n += 1;
                *n > cap
            },
        );
        let slot = ConnSlot {
            table: self.conns.clone(),
            key,
        };
        if over {
            if cfg.modes.connections == Mode::Enforce {
                self.count(&self.stats.blocked, Protection::Connections);
                return Err(Accept::Refuse(Protection::Connections));
            }
            self.count(&self.stats.reported, Protection::Connections);
        }
        Ok(slot)
    }

    /// The allow and deny lists judged on the client of one request, when a trusted proxy
    /// forwarded it: the proxy's own connection may well be allow-listed, but what counts is
    /// the address behind it. `None` when the client is the peer (the connection's flags hold).
    pub fn forwarded_flags(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Option<ConnFlags> {
        if !cfg.enabled || !cfg.trusted_proxy(peer) {
            return None;
        }
        let addr = client_addr(cfg, peer, headers);
        if addr == sightline_policy::canonical(peer) {
            return None;
        }
        let lists = self.lists.load();
        let deny = lists.deny.contains(addr);
        Some(ConnFlags {
            exempt: lists.allow.contains(addr),
            listed: deny && cfg.modes.lists != Mode::Enforce,
            denied: deny && cfg.modes.lists == Mode::Enforce,
            slot: None,
        })
    }
}

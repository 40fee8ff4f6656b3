//! The client guard: the inbound phase that decides, before routing, whether a client may be
//! served. It runs on the data path and never waits: every table is a capped, sharded map
//! behind short std mutexes, never held across an await (`table.rs`). Its phases, in order:
//!
//! 1. accept (`accept.rs`, [`ClientGuard::accept`], per connection, before TLS or HTTP):
//!    allow list → exempt; deny list → closed; a banned address with `bans.action: close` →
//!    closed; per-address cap;
//! 2. identify (`identify.rs`, [`ClientGuard::identify`]): certificate, API key (verified
//!    against the configured hashes, else only claimed: charged to its address too, a few per
//!    address), named network, else address;
//! 3. admit (`admit.rs`, [`ClientGuard::admit`]): deny list behind a trusted proxy and ban →
//!    403; per-client, per-client-route and global GCRA rates → 429 with `Retry-After` and
//!    rate headers (`rate_headers.rs`); concurrency (anonymous clients shed first) → 503;
//! 4. observe (`observe.rs`, [`ClientGuard::observe`], after the response status is known):
//!    failed logins (`observe/logins.rs`) and scanning (`observe/scanning.rs`) ban with
//!    escalation (`bans.rs`: set, lifted, persisted); credential stuffing
//!    (`observe/stuffing.rs`), uncommon endpoints and unusual hours (`observe/endpoint.rs`,
//!    `hours.rs`), surges and floods
//!    (`observe/meters.rs` over `meter.rs`) are signals on the record (`mark.rs`), raised as
//!    events by the recorder.
//!
//! Around them: each client's entry (`entry.rs`), the protections and their counters
//! (`protection.rs`), the list files and their reload (`lists.rs`), and what the admin API
//! shows (`views.rs`).

mod accept;
mod admit;
mod bans;
mod entry;
mod hours;
mod identify;
mod lists;
mod meter;
pub mod metrics;
mod observe;
mod protection;
mod rate_headers;
mod shared;
mod table;
mod views;

pub use crate::record::{ClientMark, ClientSignal};
pub use accept::{Accept, ConnFlags, ConnSlot};
pub use admit::{Admitted, Permit, Refused};
pub use identify::hash_api_key;
pub use lists::{check_lists, ListFileError, Lists};
pub use protection::{GuardStats, Protection};
pub use rate_headers::RateHeaders;
pub use shared::{Pending, Scope, SharedProtections, WindowEvent};
pub use views::{BanView, ClientView};

use crate::config::clients::ClientsConfig;
use arc_swap::ArcSwap;
use entry::ClientState;
use sightline_policy::clients::{Ban, Clock, DistinctWindow, Micros, RateState};
use std::hash::RandomState;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use table::Table;

/// Most endpoints metered for surges and floods.
const MAX_ENDPOINTS: usize = 10_000;

/// The client guard's state, kept across reloads (the config in force is passed to each call).
#[derive(Debug)]
pub struct ClientGuard {
    clock: Arc<dyn Clock>,
    clients: Table<Arc<str>, ClientState>,
    route_rates: Table<(Arc<str>, usize), RateState>,
    bans: Table<Arc<str>, Ban>,
    conns: Arc<Table<Arc<str>, usize>>,
    /// Per (grouped) address: the unverified API keys it used lately (a hash and when).
    keys: Table<Arc<str>, Vec<(u64, Micros)>>,
    endpoints: Table<Arc<str>, meter::Meter>,
    global_rate: Mutex<RateState>,
    global_meter: Mutex<meter::Meter>,
    stuffing: Mutex<Vec<DistinctWindow>>,
    inflight: Arc<AtomicUsize>,
    lists: ArcSwap<Lists>,
    store: Option<crate::store::Store>,
    /// The fleet's shared limits and bans, when `fleet.redis` is set.
    fleet: std::sync::OnceLock<Arc<dyn SharedProtections>>,
    /// Signals of the fleet's windows (a ban, credential stuffing), decided after the call
    /// that filled them had gone: they ride on the next call observed.
    fleet_signals: shared::Later,
    hasher: RandomState,
    /// Counters for `/metrics`.
    pub stats: GuardStats,
}

impl ClientGuard {
    /// A guard for `config` with `clock`, writing bans to `store` and starting from the bans
    /// a previous run left.
    pub fn new(
        config: &ClientsConfig,
        clock: Arc<dyn Clock>,
        store: Option<crate::store::Store>,
        restored: Vec<(String, Ban)>,
    ) -> Self {
        let lists = Lists::load(&config.deny_lists, &config.allow_lists).unwrap_or_default();
        let guard = ClientGuard {
            clock,
            clients: Table::new(config.max_clients),
            route_rates: Table::new(config.max_clients),
            bans: Table::new(config.max_bans),
            conns: Arc::new(Table::new(config.max_clients)),
            keys: Table::new(config.max_clients),
            endpoints: Table::new(MAX_ENDPOINTS),
            global_rate: Mutex::new(RateState::default()),
            global_meter: Mutex::new(meter::Meter::default()),
            stuffing: Mutex::new(Vec::new()),
            inflight: Arc::new(AtomicUsize::new(0)),
            lists: ArcSwap::from_pointee(lists),
            store,
            fleet: std::sync::OnceLock::new(),
            fleet_signals: shared::Later::default(),
            hasher: RandomState::new(),
            stats: GuardStats::default(),
        };
        guard.restore_bans(restored);
        guard
    }

    /// Now, by the guard's clock.
    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    /// Requests in flight under the concurrency limit.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }

    /// Sizes, caps and evictions of each client-keyed table: (name, len, cap, evictions).
    pub fn tables(&self) -> [(&'static str, usize, usize, u64); 6] {
        [
            (
                "clients",
                self.clients.len(),
                self.clients.cap(),
                self.clients.evictions(),
            ),
            (
                "route_rates",
                self.route_rates.len(),
                self.route_rates.cap(),
                self.route_rates.evictions(),
            ),
            (
                "bans",
                self.bans.len(),
                self.bans.cap(),
                self.bans.evictions(),
            ),
            (
                "connections",
                self.conns.len(),
                self.conns.cap(),
                self.conns.evictions(),
            ),
            (
                "endpoints",
                self.endpoints.len(),
                self.endpoints.cap(),
                self.endpoints.evictions(),
            ),
            (
                "api_keys",
                self.keys.len(),
                self.keys.cap(),
                self.keys.evictions(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests;

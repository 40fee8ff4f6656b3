//! Which protection acted, and the guard's counters of what each did, for records, events and
//! `/metrics`.

use super::ClientGuard;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Which protection acted, as records, events and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    /// The per-client rate.
    RatePerClient,
    /// A per-client rate on one route.
    RatePerRoute,
    /// The rate over all clients.
    RateGlobal,
    /// The concurrency limit.
    Concurrency,
    /// A ban (failed logins, scanning).
    Ban,
    /// A deny list.
    DenyList,
    /// The per-address connection cap.
    Connections,
}

impl Protection {
    /// Every protection, for metrics.
    pub const ALL: [Protection; 7] = [
        Protection::RatePerClient,
        Protection::RatePerRoute,
        Protection::RateGlobal,
        Protection::Concurrency,
        Protection::Ban,
        Protection::DenyList,
        Protection::Connections,
    ];

    /// `rate_per_client`, `rate_per_route`, `rate_global`, `concurrency`, `ban`, `deny_list`,
    /// `connections`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protection::RatePerClient => "rate_per_client",
            Protection::RatePerRoute => "rate_per_route",
            Protection::RateGlobal => "rate_global",
            Protection::Concurrency => "concurrency",
            Protection::Ban => "ban",
            Protection::DenyList => "deny_list",
            Protection::Connections => "connections",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Per protection: calls refused with 429/503.
    pub limited: [AtomicU64; 7],
    /// Per protection: calls or connections refused with 403 or a close.
    pub blocked: [AtomicU64; 7],
    /// Per protection: calls let through in report mode.
    pub reported: [AtomicU64; 7],
    /// Bans started, by failed logins.
    pub bans_logins: AtomicU64,
    /// Bans started, by scanning.
    pub bans_scanning: AtomicU64,
    /// Bans lifted through the admin API.
    pub bans_lifted: AtomicU64,
    /// List files re-read after a change.
    pub list_reloads: AtomicU64,
    /// List files that failed to read or parse (the previous lists stay).
    pub list_reload_failures: AtomicU64,
}

impl ClientGuard {
    /// Counts one action of `p` in `counters` (`limited`, `blocked` or `reported`).
    pub(super) fn count(&self, counters: &[AtomicU64; 7], p: Protection) {
        counters[p.index()].fetch_add(1, Relaxed);
    }
}

//! The checked protections of the `clients:` section: route limits, login and scanning rules,
//! the concurrency limit, the report-only detectors' thresholds and the modes.

use super::RouteSpec;
use sightline_policy::clients::{Escalation, Rate};
use sightline_policy::Mode;
use std::time::Duration;

/// What a banned client gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BanAction {
    /// 403 with a JSON reason.
    #[default]
    Forbid,
    /// The connection is closed without an answer.
    Close,
}

/// One route's limit per client.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteLimit {
    /// The route.
    pub route: RouteSpec,
    /// Its rate per client.
    pub rate: Rate,
}

/// A login route and when its failures ban.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginRule {
    /// The route.
    pub route: RouteSpec,
    /// Failures that ban.
    pub failures: u32,
    /// Within this window.
    pub within: Duration,
    /// Statuses that count as a failure.
    pub statuses: Vec<u16>,
    /// Ban lengths.
    pub escalation: Escalation,
}

/// Scanning: many distinct missing paths from one client.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanRule {
    /// Distinct 404/405 paths that make a scan.
    pub distinct_paths: u32,
    /// Within this window.
    pub within: Duration,
    /// Ban lengths, when a scan bans.
    pub ban: Option<Escalation>,
}

/// The global concurrency limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concurrency {
    /// Requests in flight at most.
    pub max: usize,
    /// Share of `max` anonymous clients may fill; the rest is kept for known clients.
    pub anonymous_share: f64,
}

/// Report-only detectors' thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watch {
    /// Credential stuffing: failures from this many distinct clients on one login route…
    pub stuffing_clients: u32,
    /// …within this window.
    pub stuffing_within: Duration,
    /// A known client's endpoints are learned over its first this many calls.
    pub known_after: u64,
    /// A rare endpoint called by this many clients in a minute is a surge.
    pub surge_clients: u32,
    /// An endpoint with at most this many calls per hour (on average) is rare.
    pub rare_per_hour: u32,
    /// A minute with this many times the usual traffic is a flood…
    pub flood_factor: f64,
    /// …when it has at least this many calls.
    pub flood_min_per_minute: u64,
}

/// Enforce or report, per protection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// Rate limits.
    pub rate: Mode,
    /// Per-address connection caps.
    pub connections: Mode,
    /// The concurrency limit.
    pub concurrency: Mode,
    /// Failed-login bans.
    pub logins: Mode,
    /// Scanning bans.
    pub scanning: Mode,
    /// Deny lists.
    pub lists: Mode,
}

//! The `clients:` section: who a client is, rate limits, connection and concurrency caps,
//! failed-login and scanning bans, deny and allow lists, and whether each protection enforces
//! or only reports. Read as file structs (`file`; values that can be checked alone carry their
//! line), then converted and cross-checked (`check`) into [`ClientsConfig`].

mod check;
mod file;
mod keys;
mod route;
mod rules;

pub(crate) use file::ClientsFile;
pub use keys::{read_key_hashes, ApiKeys};
pub use route::RouteSpec;
pub use rules::{BanAction, Concurrency, LoginRule, Modes, RouteLimit, ScanRule, Watch};

use super::context::Convert;
use http::HeaderName;
use ipnet::IpNet;
use sightline_policy::clients::Rate;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The checked `clients:` section. The default protects nothing and costs nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientsConfig {
    /// Whether the section was given at all.
    pub enabled: bool,
    /// Header carrying an API key (only its hash is kept).
    pub api_key_header: Option<HeaderName>,
    /// Verified keys and the per-address cap on unverified ones.
    pub api_keys: ApiKeys,
    /// Header naming the client behind a trusted proxy.
    pub forwarded_header: HeaderName,
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// IPv6 clients are grouped by this prefix length.
    pub ipv6_prefix: u8,
    /// Named client networks, most specific first.
    pub named: Vec<(IpNet, Arc<str>)>,
    /// Cap on every client-keyed table.
    pub max_clients: usize,
    /// Rate per client.
    pub per_client: Option<Rate>,
    /// Rate over all clients.
    pub global: Option<Rate>,
    /// Rates per client on given routes.
    pub routes: Vec<RouteLimit>,
    /// Open connections per (grouped) address.
    pub per_ip_connections: Option<usize>,
    /// Requests in flight.
    pub concurrency: Option<Concurrency>,
    /// Login routes.
    pub logins: Vec<LoginRule>,
    /// What a banned client gets.
    pub ban_action: BanAction,
    /// Bans kept (current and remembered strikes).
    pub max_bans: usize,
    /// Scanning detection.
    pub scanning: Option<ScanRule>,
    /// Report-only detectors.
    pub watch: Watch,
    /// Deny-list files.
    pub deny_lists: Vec<PathBuf>,
    /// Allow-list files (exempt from every protection).
    pub allow_lists: Vec<PathBuf>,
    /// Enforce or report per protection.
    pub modes: Modes,
}

impl Default for ClientsConfig {
    fn default() -> Self {
        ClientsConfig {
            enabled: false,
            api_key_header: None,
            api_keys: ApiKeys::default(),
            forwarded_header: HeaderName::from_static("x-forwarded-for"),
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
            named: Vec::new(),
            max_clients: 100_000,
            per_client: None,
            global: None,
            routes: Vec::new(),
            per_ip_connections: None,
            concurrency: None,
            logins: Vec::new(),
            ban_action: BanAction::Forbid,
            max_bans: 100_000,
            scanning: None,
            watch: Watch {
                stuffing_clients: 10,
                stuffing_within: Duration::from_secs(300),
                known_after: 100,
                surge_clients: 10,
                rare_per_hour: 5,
                flood_factor: 10.0,
                flood_min_per_minute: 600,
            },
            deny_lists: Vec::new(),
            allow_lists: Vec::new(),
            modes: Modes::default(),
        }
    }
}

impl ClientsConfig {
    /// Whether `peer` is a trusted proxy (an IPv4-mapped IPv6 peer is judged as IPv4).
    pub fn trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        let peer = sightline_policy::canonical(peer);
        self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

/// Checks and converts the section; without it nothing is protected.
pub(super) fn convert(raw: Option<ClientsFile>, cx: &mut Convert<'_>) -> ClientsConfig {
    let Some(raw) = raw else {
        return ClientsConfig::default();
    };
    let d = ClientsConfig::default();
    let (api_key_header, api_keys) = check::api_keys(raw.api_key_header, raw.api_keys, cx);
    let forwarded_header = check::header(cx, "clients.forwarded_header", raw.forwarded_header)
        .unwrap_or(d.forwarded_header.clone());
    let ipv6_prefix = raw.ipv6_prefix.unwrap_or(64);
    if !(16..=128).contains(&ipv6_prefix) {
        cx.issue("clients.ipv6_prefix", "a prefix length from 16 to 128");
    }
    let named = check::named(raw.named, cx);
    let max_clients = raw.max_clients.unwrap_or(d.max_clients);
    if max_clients == 0 {
        cx.issue("clients.max_clients", "must be at least 1");
    }
    let (per_client, global, routes) = check::rates(raw.rate, cx);
    let per_ip_connections = raw.connections.map(|c| c.per_ip);
    if per_ip_connections == Some(0) {
        cx.issue("clients.connections.per_ip", "must be at least 1");
    }
    let concurrency = check::concurrency(raw.concurrency, cx);
    let forget = raw.bans.forget.map_or(Duration::from_secs(86_400), |d| d.0);
    let logins = check::logins(raw.logins, forget, cx);
    let watch = check::watch(&raw.stuffing, &raw.uncommon, &raw.floods, cx);
    ClientsConfig {
        enabled: true,
        api_key_header,
        api_keys,
        forwarded_header,
        trusted_proxies: raw
            .trusted_proxies
            .into_iter()
            .map(check::canonical_net)
            .collect(),
        ipv6_prefix,
        named,
        max_clients: max_clients.max(1),
        per_client,
        global,
        routes,
        per_ip_connections,
        concurrency,
        logins,
        ban_action: match raw.bans.action {
            Some(file::BanActionFile::Close) => BanAction::Close,
            _ => BanAction::Forbid,
        },
        max_bans: raw.bans.max_bans.unwrap_or(d.max_bans).max(1),
        scanning: check::scanning(raw.scanning, forget),
        watch,
        deny_lists: raw.deny_lists.into_iter().map(|p| cx.resolve(p)).collect(),
        allow_lists: raw.allow_lists.into_iter().map(|p| cx.resolve(p)).collect(),
        modes: check::modes(raw.modes),
    }
}

#[cfg(test)]
mod tests;

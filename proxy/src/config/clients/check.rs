//! Converting the `clients:` section piece by piece, in file order: identity (API keys,
//! headers, named networks), rates, caps, logins, scanning, the report-only detectors, modes.

use super::super::context::{valid_name, Convert, NAME_RULE};
use super::super::file::ModeFile;
use super::file::{
    ApiKeysFile, ConcurrencyFile, FloodsFile, LoginFile, NamedFile, RateFile, ScanningFile,
    StuffingFile, UncommonFile,
};
use super::{
    read_key_hashes, ApiKeys, ClientsConfig, Concurrency, LoginRule, Modes, RouteLimit, ScanRule,
    Watch,
};
use http::HeaderName;
use ipnet::IpNet;
use sightline_policy::clients::{Escalation, Rate};
use sightline_policy::Mode;
use std::sync::Arc;
use std::time::Duration;

/// The header named at `key`, when given and valid.
pub(super) fn header(cx: &mut Convert<'_>, key: &str, v: Option<String>) -> Option<HeaderName> {
    let v = v?;
    match HeaderName::from_bytes(v.trim().as_bytes()) {
        Ok(h) => Some(h),
        Err(_) => {
            cx.issue(key, format!("{v:?} is not a header name"));
            None
        }
    }
}

/// `clients.api_key_header` and `clients.api_keys`.
pub(super) fn api_keys(
    header_name: Option<String>,
    raw: ApiKeysFile,
    cx: &mut Convert<'_>,
) -> (Option<HeaderName>, ApiKeys) {
    let d = ApiKeys::default();
    let api_key_header = header(cx, "clients.api_key_header", header_name);
    let mut api_keys = ApiKeys {
        per_address: raw.per_address.unwrap_or(d.per_address),
        within: raw.within.map_or(d.within, |w| w.0),
        ..ApiKeys::default()
    };
    if api_keys.per_address == 0 {
        cx.issue("clients.api_keys.per_address", "must be at least 1");
    }
    if let Some(file) = raw.hashes.map(|p| cx.resolve(p)) {
        if api_key_header.is_none() {
            cx.issue(
                "clients.api_keys.hashes",
                "needs clients.api_key_header to name the header carrying the key",
            );
        }
        match read_key_hashes(&file) {
            Ok(set) => api_keys.verified = Arc::new(set),
            Err(e) => cx.issue("clients.api_keys.hashes", e),
        }
        api_keys.hashes_file = Some(file);
    }
    (api_key_header, api_keys)
}

/// `clients.named`, most specific first.
pub(super) fn named(raw: Vec<NamedFile>, cx: &mut Convert<'_>) -> Vec<(IpNet, Arc<str>)> {
    let mut named = Vec::new();
    for (i, n) in raw.into_iter().enumerate() {
        if !valid_name(&n.name) {
            cx.issue(&format!("clients.named[{i}].name"), NAME_RULE);
        }
        named.push((canonical_net(n.cidr), Arc::<str>::from(n.name)));
    }
    named.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
    named
}

/// `clients.rate`: per client, over all clients, and per route.
pub(super) fn rates(
    raw: RateFile,
    cx: &mut Convert<'_>,
) -> (Option<Rate>, Option<Rate>, Vec<RouteLimit>) {
    let per_client = raw
        .per_client
        .as_ref()
        .and_then(|r| r.with_burst(raw.burst));
    if raw.burst == Some(0) {
        cx.issue("clients.rate.burst", "must be at least 1");
    }
    let global = raw
        .global
        .as_ref()
        .and_then(|r| r.with_burst(raw.global_burst));
    if raw.global_burst == Some(0) {
        cx.issue("clients.rate.global_burst", "must be at least 1");
    }
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        match r.rate.with_burst(r.burst) {
            Some(rate) => routes.push(RouteLimit {
                route: r.route,
                rate,
            }),
            None => cx.issue(
                &format!("clients.rate.routes[{i}].burst"),
                "must be at least 1",
            ),
        }
    }
    (per_client, global, routes)
}

/// `clients.concurrency`.
pub(super) fn concurrency(
    raw: Option<ConcurrencyFile>,
    cx: &mut Convert<'_>,
) -> Option<Concurrency> {
    let c = raw.map(|c| Concurrency {
        max: c.max,
        anonymous_share: c.anonymous_share.unwrap_or(0.8),
    })?;
    if c.max == 0 {
        cx.issue("clients.concurrency.max", "must be at least 1");
    }
    if !(c.anonymous_share > 0.0 && c.anonymous_share <= 1.0) {
        cx.issue(
            "clients.concurrency.anonymous_share",
            "a share above 0 and at most 1",
        );
    }
    Some(c)
}

/// `clients.logins`; a ban's strikes are forgotten after `forget`.
pub(super) fn logins(
    raw: Vec<LoginFile>,
    forget: Duration,
    cx: &mut Convert<'_>,
) -> Vec<LoginRule> {
    let mut logins = Vec::new();
    for (i, l) in raw.into_iter().enumerate() {
        let key = format!("clients.logins[{i}]");
        let failures = l.failures.unwrap_or(5);
        if failures == 0 {
            cx.issue(&format!("{key}.failures"), "must be at least 1");
        }
        let base = l.ban.map_or(Duration::from_secs(600), |d| d.0);
        let max = l.max_ban.map_or(Duration::from_secs(86_400), |d| d.0);
        if max < base {
            cx.issue(&format!("{key}.max_ban"), "must be at least the ban");
        }
        let statuses = if l.statuses.is_empty() {
            vec![401, 403]
        } else {
            l.statuses
        };
        if statuses.iter().any(|s| !(100..=599).contains(s)) {
            cx.issue(&format!("{key}.statuses"), "HTTP statuses from 100 to 599");
        }
        logins.push(LoginRule {
            route: l.route,
            failures,
            within: l.within.map_or(Duration::from_secs(60), |d| d.0),
            statuses,
            escalation: Escalation {
                base,
                factor: l.escalation.unwrap_or(2).max(1),
                max,
                forget,
            },
        });
    }
    logins
}

/// `clients.scanning`; a ban's strikes are forgotten after `forget`.
pub(super) fn scanning(raw: Option<ScanningFile>, forget: Duration) -> Option<ScanRule> {
    raw.map(|s| ScanRule {
        distinct_paths: s.distinct_paths.unwrap_or(20).max(2),
        within: s.within.map_or(Duration::from_secs(60), |d| d.0),
        ban: s.ban.map(|b| Escalation {
            base: b.0,
            factor: 2,
            max: Duration::from_secs(86_400).max(b.0),
            forget,
        }),
    })
}

/// The report-only detectors: `clients.stuffing`, `clients.uncommon` and `clients.floods`.
pub(super) fn watch(
    stuffing: &StuffingFile,
    uncommon: &UncommonFile,
    floods: &FloodsFile,
    cx: &mut Convert<'_>,
) -> Watch {
    let dw = ClientsConfig::default().watch;
    let watch = Watch {
        stuffing_clients: stuffing.clients.unwrap_or(dw.stuffing_clients).max(2),
        stuffing_within: stuffing.within.map_or(dw.stuffing_within, |d| d.0),
        known_after: uncommon.known_after.unwrap_or(dw.known_after),
        surge_clients: uncommon.surge_clients.unwrap_or(dw.surge_clients).max(2),
        rare_per_hour: uncommon.rare_per_hour.unwrap_or(dw.rare_per_hour),
        flood_factor: floods.factor.unwrap_or(dw.flood_factor),
        flood_min_per_minute: floods.min_per_minute.unwrap_or(dw.flood_min_per_minute),
    };
    if !(watch.flood_factor > 1.0 && watch.flood_factor.is_finite()) {
        cx.issue("clients.floods.factor", "a factor above 1");
    }
    watch
}

/// `clients.modes`: enforce unless `report`.
pub(super) fn modes(m: super::file::ModesFile) -> Modes {
    let mode = |m: Option<ModeFile>| match m {
        Some(ModeFile::Report) => Mode::Report,
        _ => Mode::Enforce,
    };
    Modes {
        rate: mode(m.rate),
        connections: mode(m.connections),
        concurrency: mode(m.concurrency),
        logins: mode(m.logins),
        scanning: mode(m.scanning),
        lists: mode(m.lists),
    }
}

/// A network as peers are compared with it: host bits cleared, and an IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) written as the IPv4 network it covers (`10.0.0.0/8`), since peers
/// arrive as IPv4.
pub(super) fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

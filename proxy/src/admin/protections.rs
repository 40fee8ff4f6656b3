//! The `clients` part of `GET /api/policy`: how callers are identified and every client
//! protection in force, one row each, as the config says it (never an API key).

use crate::config::clients::{BanAction, ClientsConfig, RouteSpec};
use sightline_dashboard::views::{
    BanPolicy, ClientsPolicy, IdentityPolicy, NamedNetwork, ProtectionRow,
};
use sightline_policy::clients::Escalation;
use std::time::Duration;

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn route(r: &RouteSpec) -> String {
    match &r.method {
        Some(m) => format!("{m} {}", r.path),
        None => r.path.clone(),
    }
}

fn bans(e: &Escalation) -> String {
    if e.factor > 1 {
        format!(
            "ban {}, x{} per strike, at most {}",
            human(e.base),
            e.factor,
            human(e.max)
        )
    } else {
        format!("ban {}", human(e.base))
    }
}

fn row(protection: &str, setting: String, mode: &str) -> ProtectionRow {
    ProtectionRow {
        protection: protection.into(),
        setting,
        mode: mode.into(),
    }
}

/// The identification rules and one row per protection: `{protection, setting, mode}`, where
/// mode is `enforce`, `report` or `report only` (detectors that never refuse a call).
pub(super) fn view(c: &ClientsConfig) -> ClientsPolicy {
    let m = &c.modes;
    let mut rows = Vec::new();
    if let Some(r) = &c.per_client {
        rows.push(row("rate per client", r.to_string(), m.rate.as_str()));
    }
    if let Some(r) = &c.global {
        rows.push(row("rate over all clients", r.to_string(), m.rate.as_str()));
    }
    for r in &c.routes {
        let setting = format!("{}: {} per client", route(&r.route), r.rate);
        rows.push(row("route rate", setting, m.rate.as_str()));
    }
    if let Some(n) = c.per_ip_connections {
        let setting = format!("{n} open connections per address");
        rows.push(row("connections", setting, m.connections.as_str()));
    }
    if let Some(k) = &c.concurrency {
        let setting = format!(
            "{} requests in flight, {:.0}% for anonymous clients",
            k.max,
            k.anonymous_share * 100.0
        );
        rows.push(row("concurrency", setting, m.concurrency.as_str()));
    }
    for l in &c.logins {
        let statuses: Vec<String> = l.statuses.iter().map(ToString::to_string).collect();
        let setting = format!(
            "{}: {} failures ({}) within {}, {}",
            route(&l.route),
            l.failures,
            statuses.join(", "),
            human(l.within),
            bans(&l.escalation)
        );
        rows.push(row("failed logins", setting, m.logins.as_str()));
    }
    if let Some(s) = &c.scanning {
        let then = s.ban.as_ref().map_or_else(|| "event only".to_owned(), bans);
        let setting = format!(
            "{} distinct 404/405 paths within {}, {then}",
            s.distinct_paths,
            human(s.within)
        );
        rows.push(row("scanning", setting, m.scanning.as_str()));
    }
    for f in &c.deny_lists {
        let setting = format!("refused at accept: {}", f.display());
        rows.push(row("deny list", setting, m.lists.as_str()));
    }
    for f in &c.allow_lists {
        let setting = format!("exempt from every protection: {}", f.display());
        rows.push(row("allow list", setting, "enforce"));
    }
    if c.enabled {
        let w = &c.watch;
        let only = "report only";
        let stuffing = format!(
            "failed logins on one route from {} clients within {}",
            w.stuffing_clients,
            human(w.stuffing_within)
        );
        rows.push(row("credential stuffing", stuffing, only));
        let uncommon = format!(
            "a known client (after {} calls) on a new endpoint; a rare endpoint (at most {}/h) called by {} clients in a minute",
            w.known_after, w.rare_per_hour, w.surge_clients
        );
        rows.push(row("uncommon usage", uncommon, only));
        let flood = format!(
            "a minute with {}x the usual calls and at least {}",
            w.flood_factor, w.flood_min_per_minute
        );
        rows.push(row("floods", flood, only));
    }
    ClientsPolicy {
        enabled: c.enabled,
        identity: IdentityPolicy {
            api_key_header: c.api_key_header.as_ref().map(ToString::to_string),
            forwarded_header: c.forwarded_header.to_string(),
            trusted_proxies: c.trusted_proxies.iter().map(ToString::to_string).collect(),
            named: c
                .named
                .iter()
                .map(|(net, name)| NamedNetwork {
                    cidr: net.to_string(),
                    name: name.to_string(),
                })
                .collect(),
            ipv6_prefix: c.ipv6_prefix,
        },
        bans: BanPolicy {
            action: match c.ban_action {
                BanAction::Forbid => "forbid",
                BanAction::Close => "close",
            }
            .into(),
        },
        protections: rows,
    }
}

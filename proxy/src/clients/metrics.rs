//! The client guard's part of `/metrics`: actions per protection, bans, lists, table sizes
//! and evictions.

use super::{ClientGuard, Protection};
use crate::metrics::{Kind, Writer};
use std::sync::atomic::Ordering::Relaxed;

/// The families of protection actions, each with every (protection, action) count above 0.
/// The second is the name the telemetry registry reserves for them; it also carries the bans
/// started and lifted: one family that answers "what did the protections do".
const ACTION_FAMILIES: [(&str, &str); 2] = [
    (
        "sightline_client_actions_total",
        "Calls and connections acted on by a client protection: limited (429/503), blocked (403 or closed), reported (report mode).",
    ),
    (
        "sightline_protection_actions_total",
        "Client-protection actions (limits applied, bans started and lifted) by protection and action.",
    ),
];

/// Writes the client guard's families; `event_evictions` is the recorder's count of
/// (client, cause) pairs evicted from its event aggregation table.
pub fn render(w: &mut Writer, g: &ClientGuard, event_evictions: u64) {
    let s = &g.stats;
    let mut actions = Vec::new();
    for p in Protection::ALL {
        let i = p as usize;
        for (action, v) in [
            ("limited", &s.limited[i]),
            ("blocked", &s.blocked[i]),
            ("reported", &s.reported[i]),
        ] {
            let n = v.load(Relaxed);
            if n > 0 {
                actions.push((p.as_str(), action, n));
            }
        }
    }
    for (name, help) in ACTION_FAMILIES {
        w.family(name, Kind::Counter, help);
        for (protection, action, n) in &actions {
            w.sample(name, &[("protection", *protection), ("action", action)], n);
        }
    }
    let (name, _) = ACTION_FAMILIES[1];
    let banned = s.bans_logins.load(Relaxed) + s.bans_scanning.load(Relaxed);
    w.sample(name, &[("protection", "ban"), ("action", "banned")], banned)
        .sample(
            name,
            &[("protection", "ban"), ("action", "lifted")],
            s.bans_lifted.load(Relaxed),
        );
    let name = "sightline_client_bans_total";
    w.family(name, Kind::Counter, "Bans started, by reason.")
        .sample(
            name,
            &[("reason", "failed_logins")],
            s.bans_logins.load(Relaxed),
        )
        .sample(
            name,
            &[("reason", "scanning")],
            s.bans_scanning.load(Relaxed),
        );
    scalars(w, g, event_evictions);
    tables(w, g);
}

/// The families of one unlabelled sample.
fn scalars(w: &mut Writer, g: &ClientGuard, event_evictions: u64) {
    let s = &g.stats;
    let scalars = [
        (
            "sightline_client_bans_active",
            Kind::Gauge,
            "Clients banned now.",
            g.bans().len() as u64,
        ),
        (
            "sightline_client_bans_lifted_total",
            Kind::Counter,
            "Bans lifted through the admin API.",
            s.bans_lifted.load(Relaxed),
        ),
        (
            "sightline_client_list_reloads_total",
            Kind::Counter,
            "Deny/allow list reloads after a file changed.",
            s.list_reloads.load(Relaxed),
        ),
        (
            "sightline_client_list_reload_failures_total",
            Kind::Counter,
            "List files that failed to read or parse (the previous lists stayed).",
            s.list_reload_failures.load(Relaxed),
        ),
        (
            "sightline_client_event_evictions_total",
            Kind::Counter,
            "(client, cause) pairs evicted from the event aggregation table (cap reached).",
            event_evictions,
        ),
        (
            "sightline_client_inflight",
            Kind::Gauge,
            "Requests in flight under the concurrency limit.",
            g.inflight() as u64,
        ),
    ];
    for (name, kind, help, value) in scalars {
        w.single(name, kind, help, value);
    }
}

/// The lists in force and the client-keyed tables: entries, caps and evictions.
fn tables(w: &mut Writer, g: &ClientGuard) {
    let (deny, allow) = g.lists().entries();
    let name = "sightline_client_list_entries";
    w.family(name, Kind::Gauge, "Networks on the lists in force.")
        .sample(name, &[("list", "deny")], deny)
        .sample(name, &[("list", "allow")], allow);
    let tables = g.tables();
    let columns: [(&str, Kind, &str, Column); 3] = [
        (
            "sightline_client_table_entries",
            Kind::Gauge,
            "Entries in each client-keyed table.",
            |&(_, len, _, _)| len as u64,
        ),
        (
            "sightline_client_table_capacity",
            Kind::Gauge,
            "Cap of each client-keyed table.",
            |&(_, _, cap, _)| cap as u64,
        ),
        (
            "sightline_client_table_evictions_total",
            Kind::Counter,
            "Entries evicted from each client-keyed table to stay under its cap.",
            |&(_, _, _, evicted)| evicted,
        ),
    ];
    for (name, kind, help, column) in columns {
        w.family(name, kind, help);
        for row in &tables {
            w.sample(name, &[("table", row.0)], column(row));
        }
    }
}

/// One figure of a table row (name, entries, cap, evictions).
type Column = fn(&(&'static str, usize, usize, u64)) -> u64;

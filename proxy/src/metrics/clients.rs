//! The client guard's metrics: actions per protection, bans, lists, table sizes and evictions.

use super::family;
use crate::clients::{ClientGuard, Protection};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Appends the client guard's families.
pub(super) fn render(out: &mut String, g: &ClientGuard, event_evictions: u64) {
    let s = &g.stats;
    family(
        out,
        "sightline_client_actions_total",
        "counter",
        "Calls and connections acted on by a client protection: limited (429/503), blocked (403 or closed), reported (report mode).",
    );
    for p in Protection::ALL {
        let i = p as usize;
        for (action, v) in [
            ("limited", &s.limited[i]),
            ("blocked", &s.blocked[i]),
            ("reported", &s.reported[i]),
        ] {
            let n = v.load(Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "sightline_client_actions_total{{protection=\"{}\",action=\"{action}\"}} {n}",
                    p.as_str()
                );
            }
        }
    }
    // The same actions under the name the telemetry registry reserves for them, with the bans
    // started and lifted: one family that answers "what did the protections do".
    family(
        out,
        "sightline_protection_actions_total",
        "counter",
        "Client-protection actions (limits applied, bans started and lifted) by protection and action.",
    );
    for p in Protection::ALL {
        let i = p as usize;
        for (action, v) in [
            ("limited", &s.limited[i]),
            ("blocked", &s.blocked[i]),
            ("reported", &s.reported[i]),
        ] {
            let n = v.load(Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "sightline_protection_actions_total{{protection=\"{}\",action=\"{action}\"}} {n}",
                    p.as_str()
                );
            }
        }
    }
    let banned = s.bans_logins.load(Relaxed) + s.bans_scanning.load(Relaxed);
    let lifted = s.bans_lifted.load(Relaxed);
    let _ = writeln!(
        out,
        "sightline_protection_actions_total{{protection=\"ban\",action=\"banned\"}} {banned}"
    );
    let _ = writeln!(
        out,
        "sightline_protection_actions_total{{protection=\"ban\",action=\"lifted\"}} {lifted}"
    );
    family(
        out,
        "sightline_client_bans_total",
        "counter",
        "Bans started, by reason.",
    );
    let _ = writeln!(
        out,
        "sightline_client_bans_total{{reason=\"failed_logins\"}} {}",
        s.bans_logins.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "sightline_client_bans_total{{reason=\"scanning\"}} {}",
        s.bans_scanning.load(Relaxed)
    );
    let scalars = [
        (
            "sightline_client_bans_active",
            "gauge",
            "Clients banned now.",
            g.bans().len() as u64,
        ),
        (
            "sightline_client_bans_lifted_total",
            "counter",
            "Bans lifted through the admin API.",
            s.bans_lifted.load(Relaxed),
        ),
        (
            "sightline_client_list_reloads_total",
            "counter",
            "Deny/allow list reloads after a file changed.",
            s.list_reloads.load(Relaxed),
        ),
        (
            "sightline_client_list_reload_failures_total",
            "counter",
            "List files that failed to read or parse (the previous lists stayed).",
            s.list_reload_failures.load(Relaxed),
        ),
        (
            "sightline_client_event_evictions_total",
            "counter",
            "(client, cause) pairs evicted from the event aggregation table (cap reached).",
            event_evictions,
        ),
        (
            "sightline_client_inflight",
            "gauge",
            "Requests in flight under the concurrency limit.",
            g.inflight() as u64,
        ),
    ];
    for (name, kind, help, value) in scalars {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    let (deny, allow) = g.lists().entries();
    family(
        out,
        "sightline_client_list_entries",
        "gauge",
        "Networks on the lists in force.",
    );
    let _ = writeln!(out, "sightline_client_list_entries{{list=\"deny\"}} {deny}");
    let _ = writeln!(
        out,
        "sightline_client_list_entries{{list=\"allow\"}} {allow}"
    );
    let tables = g.tables();
    family(
        out,
        "sightline_client_table_entries",
        "gauge",
        "Entries in each client-keyed table.",
    );
    for (name, len, _, _) in tables {
        let _ = writeln!(
            out,
            "sightline_client_table_entries{{table=\"{name}\"}} {len}"
        );
    }
    family(
        out,
        "sightline_client_table_capacity",
        "gauge",
        "Cap of each client-keyed table.",
    );
    for (name, _, cap, _) in tables {
        let _ = writeln!(
            out,
            "sightline_client_table_capacity{{table=\"{name}\"}} {cap}"
        );
    }
    family(
        out,
        "sightline_client_table_evictions_total",
        "counter",
        "Entries evicted from each client-keyed table to stay under its cap.",
    );
    for (name, _, _, ev) in tables {
        let _ = writeln!(
            out,
            "sightline_client_table_evictions_total{{table=\"{name}\"}} {ev}"
        );
    }
}

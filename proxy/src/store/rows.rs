//! Stored rows as the analysis and the client guard take them back, for either back-end (the
//! embedded SQLite store and a fleet's PostgreSQL): one mapping, whatever the driver.

use crate::analysis::engine::Finding;
use crate::analysis::graph::{Node, NodeKind};
use sightline_policy::clients::Ban;

/// A node kind as stored.
pub(crate) fn kind_str(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Service => "service",
        NodeKind::Client => "client",
        NodeKind::InternalUnknown => "internal-unknown",
        NodeKind::External => "external",
        NodeKind::Internet => "internet",
    }
}

/// A stored node kind (an unknown one reads as external).
pub(crate) fn kind_from(s: &str) -> NodeKind {
    match s {
        "service" => NodeKind::Service,
        "client" => NodeKind::Client,
        "internal-unknown" => NodeKind::InternalUnknown,
        "internet" => NodeKind::Internet,
        _ => NodeKind::External,
    }
}

fn unsigned(v: i64) -> u64 {
    v.max(0) as u64
}

/// A `nodes` row: id, kind, label, first and last seen.
pub(crate) fn node(id: String, kind: &str, label: String, first_seen: i64, last_seen: i64) -> Node {
    Node {
        id: id.into(),
        kind: kind_from(kind),
        label: label.into(),
        first_seen: unsigned(first_seen),
        last_seen: unsigned(last_seen),
    }
}

/// A `findings` row: id, at, kind, subject and the evidence's JSON (unreadable: null).
pub(crate) fn finding(id: i64, at: i64, kind: String, subject: String, evidence: &str) -> Finding {
    Finding {
        id: unsigned(id),
        at: unsigned(at),
        kind,
        subject,
        evidence: serde_json::from_str(evidence).unwrap_or_default(),
    }
}

/// A `bans` row: reason, since, until and strikes (at least one).
pub(crate) fn ban(reason: String, since: i64, until: i64, strikes: i64) -> Ban {
    Ban {
        reason,
        since: unsigned(since),
        until: unsigned(until),
        strikes: strikes.clamp(1, i64::from(u32::MAX)) as u32,
    }
}

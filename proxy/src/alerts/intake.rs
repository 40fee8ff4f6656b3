//! Turning what the proxy notices into alert signals: each security [`Event`] with the record
//! that raised it, each analysis [`Finding`], and Sightline's own faults.
//!
//! An event maps by its `kind()` name to the alert kind of the same name, so a new event
//! variant only needs a kind name that [`Kind::parse`] knows. Its subject and evidence come
//! from the record: egress events are about `source -> destination`, unknown sources about the
//! address, inbound (client) events about the client.

use super::model::{Kind, Signal};
use crate::analysis::engine::Finding;
use crate::record::events::Event;
use crate::record::{CallRecord, Direction};

fn millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The node id of a record's caller, as the graph names it.
fn source_node(rec: &CallRecord) -> String {
    match (rec.direction, &rec.service, &rec.source_identity) {
        (Direction::Egress, Some(s), _) => format!("service:{s}"),
        (Direction::Egress, None, _) => format!("internal-unknown:{}", rec.source_addr.ip()),
        (Direction::Inbound, _, _) if rec.caller_service.is_some() => {
            format!(
                "service:{}",
                rec.caller_service.as_deref().unwrap_or_default()
            )
        }
        (Direction::Inbound, _, Some(id)) => format!("client:{id}"),
        (Direction::Inbound, _, None) => format!("client:{}", rec.source_addr.ip()),
    }
}

/// The node id of what a record called.
fn destination_node(rec: &CallRecord) -> Option<String> {
    match rec.direction {
        Direction::Egress if rec.inside == Some(true) => {
            Some(format!("internal-unknown:{}", rec.host))
        }
        Direction::Egress => Some(format!("external:{}", rec.host)),
        Direction::Inbound => rec.service.as_ref().map(|s| format!("service:{s}")),
    }
}

/// The signal for a security event; `None` when no alert kind has the event's name.
pub fn event(event: &Event, rec: &CallRecord) -> Option<Signal> {
    let kind = Kind::parse(event.kind())?;
    let source = rec.source_label();
    let destination = rec.destination_label();
    let subject = match (kind, rec.direction) {
        (Kind::UnknownEgressSource, _) => source.clone(),
        (_, Direction::Egress) => format!("{source} -> {destination}"),
        // A client protection's event is about the client it names (behind a trusted proxy,
        // the address the proxy forwarded; for a ban, who is banned), not the peer.
        (_, Direction::Inbound) => event
            .client()
            .or(rec.client.client.as_deref())
            .map_or_else(|| source.clone(), str::to_owned),
    };
    let group = match (kind, rec.direction) {
        (Kind::UnknownEgressSource, _) => subject
            .strip_prefix("unknown:")
            .and_then(network_of)
            .map(|n| format!("unknown:{n}")),
        (_, Direction::Egress) => Some(format!("{source} -> *")),
        (_, Direction::Inbound) => network_of(&subject),
    };
    let mut nodes = vec![source_node(rec)];
    nodes.extend(destination_node(rec));
    let mut summary = format!("{}: {subject}", kind.as_str().replace('_', " "));
    if !rec.reason.is_empty() {
        summary.push_str(&format!(" ({})", rec.reason));
    }
    let evidence = serde_json::json!({
        "request_id": rec.request_id.as_str(),
        "direction": rec.direction.as_str(),
        "source": source,
        "source_addr": rec.source_addr.to_string(),
        "destination": destination,
        "method": rec.method.as_str(),
        "host": rec.host,
        "path": rec.path,
        "sni": rec.sni,
        "status": rec.status,
        "decision": rec.decision.as_str(),
        "reason": rec.reason,
        "event": event.fields(),
    });
    Some(Signal {
        kind,
        subject,
        summary,
        evidence,
        nodes,
        at: millis(rec.start),
        count: 1,
        group,
    })
}

/// The network an address subject belongs to (a /24 for IPv4, a /64 for IPv6), naming the
/// alert that stands for many addresses of it; `None` when the subject is not an address
/// (a client identity or key).
fn network_of(subject: &str) -> Option<String> {
    let ip: std::net::IpAddr = subject
        .parse()
        .or_else(|_| subject.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()?;
    let net = match ip {
        std::net::IpAddr::V4(v4) => ipnet::IpNet::V4(ipnet::Ipv4Net::new(v4, 24).ok()?.trunc()),
        std::net::IpAddr::V6(v6) => ipnet::IpNet::V6(ipnet::Ipv6Net::new(v6, 64).ok()?.trunc()),
    };
    Some(net.to_string())
}

/// The group of a finding's subject: the caller of an edge (`from -> *`) or the node of an
/// endpoint (`node *`); `None` for a node.
fn finding_group(kind: Kind, subject: &str) -> Option<String> {
    match kind {
        Kind::NewService | Kind::NewExternalDestination => None,
        _ => {
            if let Some((from, _)) = subject.split_once(" -> ") {
                Some(format!("{from} -> *"))
            } else {
                let (node, _) = subject.split_once(' ')?;
                Some(format!("{node} *"))
            }
        }
    }
}

/// The alert kind of a finding.
fn finding_kind(f: &Finding) -> Option<Kind> {
    Some(match f.kind.as_str() {
        "new_node" if f.evidence["node_kind"] == "external" => Kind::NewExternalDestination,
        "new_node" => Kind::NewService,
        "new_edge" => Kind::NewEdge,
        "new_endpoint" => Kind::NewEndpoint,
        "shadow_endpoint" => Kind::ShadowEndpoint,
        "rate_spike" | "rate_drop" => Kind::RateAnomaly,
        "error_surge" => Kind::ErrorAnomaly,
        "latency_degradation" => Kind::LatencyAnomaly,
        other => return Kind::parse(other),
    })
}

/// Whether a token of a finding's subject is a graph node id.
fn is_node(token: &str) -> bool {
    token == "internet"
        || ["service:", "client:", "internal-unknown:", "external:"]
            .iter()
            .any(|p| token.starts_with(p))
}

/// The subject of the inventory digest: one alert per learning period.
pub const INVENTORY_SUBJECT: &str = "learning period";

/// The signal counting a first sighting into the inventory digest, when the baseline of the
/// node it extends still learns: while baselines learn, what appears is the inventory, not
/// something to act on one by one. One digest stands for every node of a learning period (it
/// lists each node, edge and endpoint that appeared); the next opens once it resolves after
/// the quiet period. `None` for anything else.
fn inventory(kind: Kind, f: &Finding) -> Option<Signal> {
    let first_sighting = matches!(
        kind,
        Kind::NewService | Kind::NewEdge | Kind::NewEndpoint | Kind::NewExternalDestination
    );
    if !first_sighting || f.evidence["learning"] != true {
        return None;
    }
    let owner = f.evidence["owner"].as_str()?.to_owned();
    let item = serde_json::json!({
        "kind": kind.as_str(),
        "subject": f.subject,
        "node": owner,
        "finding_id": f.id,
    });
    let what = kind.as_str().replace('_', " ");
    Some(Signal {
        kind: Kind::Inventory,
        summary: format!("inventory: {what} {}", f.subject),
        evidence: serde_json::json!({ "appeared": [item], "learning": true }),
        // The digest touches no node of its own: it must not join every node's incident.
        nodes: Vec::new(),
        subject: INVENTORY_SUBJECT.to_owned(),
        at: f.at.saturating_mul(1000),
        count: 1,
        group: None,
    })
}

/// The signal for an analysis finding; `None` for a kind no alert has.
pub fn finding(f: &Finding) -> Option<Signal> {
    let kind = finding_kind(f)?;
    if let Some(s) = inventory(kind, f) {
        return Some(s);
    }
    let nodes: Vec<String> = f
        .subject
        .split_whitespace()
        .filter(|t| is_node(t))
        .map(str::to_owned)
        .collect();
    let summary = match kind {
        Kind::RateAnomaly | Kind::ErrorAnomaly | Kind::LatencyAnomaly => {
            let (observed, expected) = observed_expected(&f.evidence);
            format!(
                "{}: {} (observed {observed}, expected {expected})",
                f.kind.replace('_', " "),
                f.subject,
            )
        }
        _ => format!("{}: {}", kind.as_str().replace('_', " "), f.subject),
    };
    let mut evidence = f.evidence.clone();
    if let Some(o) = evidence.as_object_mut() {
        o.insert("finding".into(), f.kind.clone().into());
        o.insert("finding_id".into(), f.id.into());
    }
    Some(Signal {
        kind,
        subject: f.subject.clone(),
        summary,
        evidence,
        nodes,
        at: f.at.saturating_mul(1000),
        count: 1,
        group: finding_group(kind, &f.subject),
    })
}

/// A number rounded to about three significant digits, without trailing zeros.
fn rounded(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// An anomaly's observed and expected values as people read them, in one unit: a rate per
/// second (or per minute when under one a second) from calls per step, an error ratio as a
/// percentage, latency in milliseconds.
pub(crate) fn observed_expected(evidence: &serde_json::Value) -> (String, String) {
    let value = |k: &str| evidence[k].as_f64();
    let (Some(observed), Some(expected)) = (value("observed"), value("expected")) else {
        return (
            evidence["observed"].to_string(),
            evidence["expected"].to_string(),
        );
    };
    let show = |scale: f64, unit: &str| {
        (
            format!("{}{unit}", rounded(observed * scale)),
            format!("{}{unit}", rounded(expected * scale)),
        )
    };
    match evidence["signal"].as_str() {
        Some("error_ratio") => show(100.0, "%"),
        Some("latency") => show(1.0, " ms"),
        Some("rate") => {
            let step = value("step_seconds").filter(|s| *s > 0.0).unwrap_or(60.0);
            if observed.max(expected) / step >= 1.0 {
                show(1.0 / step, "/s")
            } else {
                show(60.0 / step, "/min")
            }
        }
        _ => show(1.0, ""),
    }
}

/// A fault of Sightline itself, counted `count` times since the last one.
pub fn fault(kind: Kind, subject: &str, count: u64, detail: serde_json::Value) -> Signal {
    Signal {
        kind,
        subject: subject.to_owned(),
        summary: format!("{}: {subject}", kind.as_str().replace('_', " ")),
        evidence: detail,
        nodes: vec![format!("sightline:{subject}")],
        at: millis(std::time::SystemTime::now()),
        count,
        group: None,
    }
}

//! Conversions into the dashboard crate's typed views: alerts and incidents, graph edges,
//! endpoint stats and findings, and this instance's fleet status (shared store, instances,
//! shared protections).

use super::AdminView;
use crate::clock::{self, rfc3339};
use sightline_dashboard::views::{self, AlertView, IncidentView};
use std::sync::atomic::Ordering;

/// This instance's place in its fleet: the shared store's state and the instances' heartbeats.
impl AdminView {
    /// The fleet this instance belongs to: its shared store and instances (PostgreSQL) and
    /// the state of its shared protections' back-end (Redis).
    pub(super) fn fleet_status(&self) -> Option<views::FleetStatus> {
        let active = self.shared.active();
        let cfg = active.config.fleet.as_ref()?;
        let mut status = match &self.shared.postgres {
            Some(pg) => postgres_status(pg, self.shared.recorder.store()),
            None => views::FleetStatus {
                instance: cfg.instance.clone(),
                backends: Vec::new(),
                postgres: None,
                instances: Vec::new(),
                detection_leader: false,
            },
        };
        if let Some(f) = self.shared.clients.fleet() {
            status.backends.push(f.status());
        }
        Some(status)
    }
}

fn postgres_status(
    pg: &crate::fleet::postgres::Postgres,
    store: Option<&crate::store::Store>,
) -> views::FleetStatus {
    let health = pg.health();
    let count = |f: fn(&crate::store::StoreStats) -> &std::sync::atomic::AtomicU64| {
        store.map_or(0, |s| f(&s.stats).load(Ordering::Relaxed))
    };
    views::FleetStatus {
        instance: pg.instance().to_owned(),
        backends: Vec::new(),
        postgres: Some(views::BackendStatus {
            state: health.state.into(),
            error: health.error,
            pending: count(|s| &s.pending),
            dropped: count(|s| &s.dropped),
        }),
        instances: pg
            .view()
            .instances
            .iter()
            .map(|i| views::InstanceStatus {
                instance: i.name.clone(),
                version: i.version.clone(),
                admin: i.admin.clone(),
                last_heartbeat: rfc3339(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(i.last_heartbeat),
                ),
                alive: i.alive,
            })
            .collect(),
        detection_leader: pg.detection().is_some_and(|d| d.is_leader()),
    }
}

/// The service whose egress source network (the most specific one) holds `ip`.
pub(super) fn source_service(
    sources: &[(ipnet::IpNet, String)],
    ip: std::net::IpAddr,
) -> Option<String> {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    sources
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|(_, name)| name.clone())
}

/// A silence as the API shows it, `now` in unix milliseconds.
pub fn silence_view(s: &crate::alerts::model::Silence, now: u64) -> views::SilenceView {
    views::SilenceView {
        id: s.id,
        kind: s.kind.as_str().into(),
        subject: s.subject.clone(),
        until: rfc3339(clock::from_millis(s.until)),
        reason: s.reason.clone(),
        created: rfc3339(clock::from_millis(s.created)),
        active: now < s.until,
    }
}

/// An alert as the API, the alert stream and the sinks show it.
pub fn alert_view(a: &crate::alerts::model::Alert) -> AlertView {
    use crate::alerts::model::Severity;
    AlertView {
        id: a.id,
        kind: a.kind.as_str().into(),
        severity: match a.severity {
            Severity::Info => views::Severity::Info,
            Severity::Low => views::Severity::Low,
            Severity::Medium => views::Severity::Medium,
            Severity::High => views::Severity::High,
            Severity::Critical => views::Severity::Critical,
        },
        state: state_view(a.state),
        subject: a.subject.clone(),
        summary: a.summary.clone(),
        count: a.count,
        first_seen: rfc3339(clock::from_millis(a.first_seen)),
        last_seen: rfc3339(clock::from_millis(a.last_seen)),
        evidence: a.evidence.clone(),
        snoozed_until: a
            .snoozed_until
            .filter(|_| a.state == crate::alerts::model::State::Resolved)
            .map(|t| rfc3339(clock::from_millis(t))),
        incident: a.incident,
        silenced_by: a.silenced_by,
        nodes: a.nodes.clone(),
        delivery: a
            .delivery
            .iter()
            .map(|(name, d)| {
                let status = match d.status() {
                    "delivered" => views::DeliveryStatus::Delivered,
                    "failed" => views::DeliveryStatus::Failed,
                    _ => views::DeliveryStatus::Pending,
                };
                (name.clone(), status)
            })
            .collect(),
        instance: None,
    }
}

pub(crate) fn node_kind(k: crate::analysis::graph::NodeKind) -> views::NodeKind {
    k.view()
}

pub(super) fn stats_view(s: &crate::analysis::graph::EndpointStats) -> views::EndpointStats {
    views::EndpointStats {
        method: s.method.clone(),
        template: s.template.clone(),
        count: s.count,
        rate: s.rate,
        ratio_4xx: s.ratio_4xx,
        ratio_5xx: s.ratio_5xx,
        latency_ms: views::Quantiles {
            p50: s.latency_ms.p50,
            p90: s.latency_ms.p90,
            p99: s.latency_ms.p99,
        },
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        blocked: s.blocked,
        reported: s.reported,
        first_seen: s.first_seen,
        last_seen: s.last_seen,
        samples: s
            .samples
            .iter()
            .map(|p| views::PathSample {
                path: p.path.clone(),
                last_seen: p.last_seen,
            })
            .collect(),
    }
}

pub(super) fn edge_view(e: &crate::analysis::graph::EdgeView) -> views::Edge {
    views::Edge {
        from: e.from.clone(),
        to: e.to.clone(),
        first_seen: e.first_seen,
        last_seen: e.last_seen,
        total: stats_view(&e.total),
        endpoints: e.endpoints.iter().map(stats_view).collect(),
    }
}

pub(super) fn finding_view(f: &crate::analysis::engine::Finding) -> views::Finding {
    views::Finding {
        id: f.id,
        kind: f.kind.clone(),
        subject: f.subject.clone(),
        at: f.at,
        evidence: f.evidence.clone(),
        instance: None,
    }
}

/// An incident as the API shows it.
pub fn incident_view(i: &crate::alerts::model::Incident) -> IncidentView {
    IncidentView {
        id: i.id,
        root: i.root.clone(),
        state: state_view(i.state),
        alerts: i.alerts.clone(),
        first_seen: rfc3339(clock::from_millis(i.first_seen)),
        last_seen: rfc3339(clock::from_millis(i.last_seen)),
        instance: None,
    }
}

fn state_view(s: crate::alerts::model::State) -> views::AlertState {
    use crate::alerts::model::State;
    match s {
        State::Open => views::AlertState::Open,
        State::Acknowledged => views::AlertState::Acknowledged,
        State::Resolved => views::AlertState::Resolved,
    }
}

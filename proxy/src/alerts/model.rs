//! The alert model: kinds with their default severities, states, the alert and the incident,
//! and the JSON the admin API shows for them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an alert is about. Names are the security-event and finding kinds they come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An egress call refused by the enclave policy.
    EgressBlocked,
    /// An egress call let through with an objection (report mode, SNI mismatch).
    EgressReported,
    /// Egress from an address no source rule or credential names.
    UnknownEgressSource,
    /// A node (service, client, internal caller) seen for the first time.
    NewService,
    /// A caller-to-callee edge seen for the first time.
    NewEdge,
    /// An endpoint seen for the first time.
    NewEndpoint,
    /// A destination outside the enclave seen for the first time.
    NewExternalDestination,
    /// An endpoint served but absent from its OpenAPI document.
    ShadowEndpoint,
    /// Call rate far above or below its baseline.
    RateAnomaly,
    /// Error ratio far above its baseline.
    ErrorAnomaly,
    /// Latency far above its baseline.
    LatencyAnomaly,
    /// A client held to its rate limit.
    ClientLimited,
    /// A client banned.
    ClientBanned,
    /// A client probing many paths that do not exist.
    Scanning,
    /// A client using the API in a way its peers do not.
    UncommonUsage,
    /// Many failed logins across accounts.
    CredentialStuffing,
    /// A burst of calls far beyond any limit.
    Flood,
    /// Sightline's own store failing to write.
    StoreFailing,
    /// An alert sink failing to deliver.
    SinkFailing,
    /// Records or alert signals dropped because a queue was full.
    DroppedRecords,
    /// A fleet back-end (Redis) failing: shared protections run on the fail mode.
    FleetBackendFailing,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 21] = [
        Kind::EgressBlocked,
        Kind::EgressReported,
        Kind::UnknownEgressSource,
        Kind::NewService,
        Kind::NewEdge,
        Kind::NewEndpoint,
        Kind::NewExternalDestination,
        Kind::ShadowEndpoint,
        Kind::RateAnomaly,
        Kind::ErrorAnomaly,
        Kind::LatencyAnomaly,
        Kind::ClientLimited,
        Kind::ClientBanned,
        Kind::Scanning,
        Kind::UncommonUsage,
        Kind::CredentialStuffing,
        Kind::Flood,
        Kind::StoreFailing,
        Kind::SinkFailing,
        Kind::DroppedRecords,
        Kind::FleetBackendFailing,
    ];

    /// The kind's name, as in config, API and sinks.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::EgressBlocked => "egress_blocked",
            Kind::EgressReported => "egress_reported",
            Kind::UnknownEgressSource => "unknown_egress_source",
            Kind::NewService => "new_service",
            Kind::NewEdge => "new_edge",
            Kind::NewEndpoint => "new_endpoint",
            Kind::NewExternalDestination => "new_external_destination",
            Kind::ShadowEndpoint => "shadow_endpoint",
            Kind::RateAnomaly => "rate_anomaly",
            Kind::ErrorAnomaly => "error_anomaly",
            Kind::LatencyAnomaly => "latency_anomaly",
            Kind::ClientLimited => "client_limited",
            Kind::ClientBanned => "client_banned",
            Kind::Scanning => "scanning",
            Kind::UncommonUsage => "uncommon_usage",
            Kind::CredentialStuffing => "credential_stuffing",
            Kind::Flood => "flood",
            Kind::StoreFailing => "store_failing",
            Kind::SinkFailing => "sink_failing",
            Kind::DroppedRecords => "dropped_records",
            Kind::FleetBackendFailing => "fleet_backend_failing",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The severity unless the config says otherwise.
    pub const fn default_severity(self) -> Severity {
        match self {
            Kind::NewService | Kind::NewEdge | Kind::NewEndpoint => Severity::Info,
            Kind::NewExternalDestination | Kind::ClientLimited | Kind::UncommonUsage => {
                Severity::Low
            }
            Kind::EgressReported
            | Kind::UnknownEgressSource
            | Kind::ShadowEndpoint
            | Kind::RateAnomaly
            | Kind::LatencyAnomaly
            | Kind::ClientBanned
            | Kind::Scanning
            | Kind::DroppedRecords => Severity::Medium,
            Kind::EgressBlocked
            | Kind::ErrorAnomaly
            | Kind::CredentialStuffing
            | Kind::Flood
            | Kind::StoreFailing
            | Kind::SinkFailing
            | Kind::FleetBackendFailing => Severity::High,
        }
    }

    /// Sightline's own faults, which are not about traffic.
    pub const fn is_fault(self) -> bool {
        matches!(
            self,
            Kind::StoreFailing
                | Kind::SinkFailing
                | Kind::DroppedRecords
                | Kind::FleetBackendFailing
        )
    }
}

/// How urgent an alert is, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Look today.
    Medium,
    /// Look now.
    High,
    /// Wake someone.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The severity's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity with this name.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Firing, nobody has looked.
    Open,
    /// Someone has looked; repeats still count.
    Acknowledged,
    /// Over: resolved by hand or after the quiet period.
    Resolved,
}

impl State {
    /// The state's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    /// The state with this name.
    pub fn parse(name: &str) -> Option<State> {
        [State::Open, State::Acknowledged, State::Resolved]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One sink's progress with one alert.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The alert version the sink should have.
    pub wanted: u64,
    /// The alert version the sink has confirmed.
    pub done: u64,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The last failure, for operators.
    pub error: Option<String>,
}

impl Delivery {
    /// `pending`, `delivered` or `failed`, as the API shows it.
    pub fn status(&self) -> &'static str {
        if self.done >= self.wanted {
            "delivered"
        } else if self.failures > 0 {
            "failed"
        } else {
            "pending"
        }
    }

    /// Whether the sink still owes this alert a delivery.
    pub fn owed(&self) -> bool {
        self.done < self.wanted
    }
}

/// One alert: every repeat of the same kind and subject while it is not resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Increasing id.
    pub id: u64,
    /// What it is about.
    pub kind: Kind,
    /// How urgent.
    pub severity: Severity,
    /// Open, acknowledged or resolved.
    pub state: State,
    /// The thing it is about: a node, an edge, a source, a sink.
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Repeats counted while not resolved.
    pub count: u64,
    /// Unix milliseconds of the first repeat.
    pub first_seen: u64,
    /// Unix milliseconds of the last repeat.
    pub last_seen: u64,
    /// Facts of the latest repeat (observed vs expected, the call, the reason).
    pub evidence: serde_json::Value,
    /// The incident it belongs to.
    pub incident: Option<u64>,
    /// Graph node ids it touches (for grouping).
    pub nodes: Vec<String>,
    /// Bumped each time sinks must hear of it again (opened, resolved).
    pub version: u64,
    /// Per sink name.
    pub delivery: BTreeMap<String, Delivery>,
}

impl Alert {
    /// The alert as the admin API and the webhook show it.
    pub fn to_json(&self) -> serde_json::Value {
        let delivery: serde_json::Map<String, serde_json::Value> = self
            .delivery
            .iter()
            .map(|(name, d)| (name.clone(), d.status().into()))
            .collect();
        serde_json::json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "severity": self.severity.as_str(),
            "state": self.state.as_str(),
            "subject": self.subject,
            "summary": self.summary,
            "count": self.count,
            "first_seen": rfc3339(self.first_seen),
            "last_seen": rfc3339(self.last_seen),
            "evidence": self.evidence,
            "incident": self.incident,
            "nodes": self.nodes,
            "delivery": delivery,
        })
    }
}

/// Related alerts around one root subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Increasing id.
    pub id: u64,
    /// The node most of its alerts touch.
    pub root: String,
    /// Open while any of its alerts is not resolved.
    pub state: State,
    /// Its alerts, oldest first (capped).
    pub alerts: Vec<u64>,
    /// How often each node appears among its alerts (capped).
    pub nodes: BTreeMap<String, u64>,
    /// Unix milliseconds.
    pub first_seen: u64,
    /// Unix milliseconds.
    pub last_seen: u64,
}

impl Incident {
    /// The incident as the admin API shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "root": self.root,
            "state": self.state.as_str(),
            "alerts": self.alerts,
            "first_seen": rfc3339(self.first_seen),
            "last_seen": rfc3339(self.last_seen),
        })
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// One occurrence handed to the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// What it is about.
    pub kind: Kind,
    /// The thing it is about (the dedup key with the kind).
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Facts of this occurrence.
    pub evidence: serde_json::Value,
    /// Graph node ids it touches.
    pub nodes: Vec<String>,
    /// Unix milliseconds.
    pub at: u64,
    /// How many occurrences it stands for (faults are counted in batches).
    pub count: u64,
    /// The subject of the alert that stands for many subjects from the same source (such as
    /// `orders -> *` for `orders -> 203.0.113.7:443`, or a client's network): once a source has
    /// [`crate::alerts::book::MAX_OPEN_PER_GROUP`] alerts of a kind open, its further subjects
    /// count into that one. `None` when the subject has no source to group by.
    pub group: Option<String>,
}

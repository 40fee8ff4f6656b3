//! Alert kinds with their default severities, and the severities: the names the `alerts:`
//! section and the alert API share.

use serde::{Deserialize, Serialize};

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
    /// First sightings (nodes, edges, endpoints) while baselines still learn, counted into one
    /// digest per learning period.
    Inventory,
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
    pub const ALL: [Kind; 22] = [
        Kind::EgressBlocked,
        Kind::EgressReported,
        Kind::UnknownEgressSource,
        Kind::NewService,
        Kind::NewEdge,
        Kind::NewEndpoint,
        Kind::NewExternalDestination,
        Kind::Inventory,
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
            Kind::Inventory => "inventory",
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
            Kind::NewService | Kind::NewEdge | Kind::NewEndpoint | Kind::Inventory => {
                Severity::Info
            }
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

//! Security events derived from records, written as structured log lines (target
//! `sightline::event`) by the recorder task, off the data path: blocked and reported egress
//! calls, and each new unknown egress source (an undeclared internal caller: shadow IT); for
//! inbound clients, what the client guard marked on the record: limited, blocked and reported
//! calls (aggregated per client and cause, with a count), bans, scans, credential stuffing,
//! uncommon endpoints, surges and floods.

use super::{CallRecord, ClientSignal, Direction};
use sightline_policy::clients::CappedMap;
use sightline_policy::Decision;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

/// How many distinct unknown sources are remembered; past that, new ones are counted only.
pub const MAX_UNKNOWN_SOURCES: usize = 10_000;

/// How many (client, cause) pairs are counted for aggregation; past that, the oldest unused
/// pairs are evicted (and counted).
pub const MAX_CLIENT_CAUSES: usize = 10_000;

/// What the recorder remembers to tell new from known.
#[derive(Debug)]
pub struct Events {
    unknown_sources: HashSet<IpAddr>,
    /// Unknown sources not remembered because the set was full.
    pub unknown_overflow: u64,
    causes: CappedMap<(Arc<str>, &'static str, &'static str), u64>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            unknown_sources: HashSet::new(),
            unknown_overflow: 0,
            causes: CappedMap::new(MAX_CLIENT_CAUSES),
        }
    }
}

/// One event, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An egress call refused by the enclave policy.
    EgressBlocked,
    /// An egress call let through with an objection (report mode, SNI mismatch).
    EgressReported,
    /// The first egress call from an address no source rule or credential names.
    UnknownEgressSource,
    /// A client's calls refused with 429/503 by a rate or concurrency limit. Raised for the
    /// 1st, 10th, 100th… call of the same client and protection; `count` is the total so far.
    ClientLimited {
        /// The client id.
        client: String,
        /// `rate_per_client`, `rate_per_route`, `rate_global`, `concurrency`.
        protection: &'static str,
        /// Calls so far.
        count: u64,
    },
    /// A client's calls refused with 403 (a ban). Aggregated like [`Event::ClientLimited`].
    ClientBlocked {
        /// The client id.
        client: String,
        /// `ban`.
        protection: &'static str,
        /// Calls so far.
        count: u64,
    },
    /// A client's calls a protection in report mode would have refused. Aggregated like
    /// [`Event::ClientLimited`].
    ClientReported {
        /// The client id.
        client: String,
        /// The protection.
        protection: &'static str,
        /// Calls so far.
        count: u64,
    },
    /// A client was banned (or would be, in report mode).
    ClientBanned {
        /// The client id.
        client: String,
        /// `failed_logins` or `scanning`.
        reason: &'static str,
        /// Bans in a row.
        strikes: u32,
        /// When the ban ends, RFC 3339.
        until: String,
        /// False in report mode.
        enforced: bool,
    },
    /// One client produced many distinct 404/405 paths within the window.
    ScanningDetected {
        /// The client id.
        client: String,
        /// Distinct paths.
        distinct_paths: u32,
    },
    /// Failed logins from many clients on one login route.
    CredentialStuffing {
        /// The login route, `POST /login`.
        route: String,
        /// Distinct failing clients within the window.
        clients: u32,
    },
    /// A known client called an endpoint it never called before.
    UncommonEndpoint {
        /// The client id.
        client: String,
        /// `METHOD route`.
        endpoint: String,
        /// The hour of the day (UTC) of the call, when the client had never been active at
        /// that hour before.
        unusual_hour: Option<u8>,
    },
    /// A rarely used endpoint suddenly called by many clients.
    EndpointSurge {
        /// `METHOD route`.
        endpoint: String,
        /// Distinct clients within a minute.
        clients: u32,
    },
    /// Traffic far above its usual level, globally or on one endpoint.
    TrafficFlood {
        /// `global` or `METHOD route`.
        scope: String,
        /// Calls this minute when raised.
        per_minute: u64,
        /// The usual calls per minute.
        baseline: u64,
    },
}

impl Event {
    /// The event's kind, as the alert model will name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::EgressBlocked => "egress_blocked",
            Event::EgressReported => "egress_reported",
            Event::UnknownEgressSource => "unknown_egress_source",
            Event::ClientLimited { .. } => "client_limited",
            Event::ClientBlocked { .. } => "client_blocked",
            Event::ClientReported { .. } => "client_reported",
            Event::ClientBanned { .. } => "client_banned",
            Event::ScanningDetected { .. } => "scanning",
            Event::CredentialStuffing { .. } => "credential_stuffing",
            Event::UncommonEndpoint { .. } => "uncommon_usage",
            Event::EndpointSurge { .. } => "uncommon_usage",
            Event::TrafficFlood { .. } => "flood",
        }
    }

    /// The client the event is about, for the client protections' kinds.
    pub fn client(&self) -> Option<&str> {
        match self {
            Event::ClientLimited { client, .. }
            | Event::ClientBlocked { client, .. }
            | Event::ClientReported { client, .. }
            | Event::ClientBanned { client, .. }
            | Event::ScanningDetected { client, .. }
            | Event::UncommonEndpoint { client, .. } => Some(client),
            _ => None,
        }
    }

    /// The event's own fields as JSON (empty for the egress kinds, whose detail is the record).
    pub fn fields(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::EgressBlocked | Event::EgressReported | Event::UnknownEgressSource => json!({}),
            Event::ClientLimited {
                client,
                protection,
                count,
            }
            | Event::ClientBlocked {
                client,
                protection,
                count,
            }
            | Event::ClientReported {
                client,
                protection,
                count,
            } => {
                json!({"client": client, "protection": protection, "count": count})
            }
            Event::ClientBanned {
                client,
                reason,
                strikes,
                until,
                enforced,
            } => json!({
                "client": client, "reason": reason, "strikes": strikes, "until": until,
                "enforced": enforced,
            }),
            Event::ScanningDetected {
                client,
                distinct_paths,
            } => {
                json!({"client": client, "distinct_paths": distinct_paths})
            }
            Event::CredentialStuffing { route, clients } => {
                json!({"route": route, "clients": clients})
            }
            Event::UncommonEndpoint {
                client,
                endpoint,
                unusual_hour,
            } => {
                json!({"client": client, "endpoint": endpoint, "unusual_hour": unusual_hour})
            }
            Event::EndpointSurge { endpoint, clients } => {
                json!({"endpoint": endpoint, "clients": clients})
            }
            Event::TrafficFlood {
                scope,
                per_minute,
                baseline,
            } => {
                json!({"scope": scope, "per_minute": per_minute, "baseline": baseline})
            }
        }
    }
}

impl Events {
    /// The events a record raises.
    pub fn observe(&mut self, rec: &CallRecord) -> Vec<Event> {
        let mut out = Vec::new();
        if rec.direction != Direction::Egress {
            self.observe_client(rec, &mut out);
            return out;
        }
        match rec.decision {
            Decision::Blocked => out.push(Event::EgressBlocked),
            Decision::Reported => out.push(Event::EgressReported),
            _ => {}
        }
        if rec.service.is_none() && rec.error != Some("proxy_auth_required") {
            let ip = rec.source_addr.ip();
            if !self.unknown_sources.contains(&ip) {
                if self.unknown_sources.len() < MAX_UNKNOWN_SOURCES {
                    self.unknown_sources.insert(ip);
                    out.push(Event::UnknownEgressSource);
                } else {
                    self.unknown_overflow += 1;
                }
            }
        }
        out
    }
}

impl Events {
    /// Inbound: what the client guard marked on the record.
    fn observe_client(&mut self, rec: &CallRecord, out: &mut Vec<Event>) {
        let Some(client) = &rec.client.client else {
            return;
        };
        if let Some(protection) = rec.client.protection {
            let kind = match rec.decision {
                Decision::Limited => Some("client_limited"),
                Decision::Blocked => Some("client_blocked"),
                Decision::Reported => Some("client_reported"),
                Decision::Allowed => None,
            };
            if let Some(kind) = kind {
                let n = self.causes.entry(&(client.clone(), kind, protection), || 0);
                *n += 1;
                let count = *n;
                if is_power_of_ten(count) {
                    let client = client.to_string();
                    out.push(match rec.decision {
                        Decision::Limited => Event::ClientLimited {
                            client,
                            protection,
                            count,
                        },
                        Decision::Blocked => Event::ClientBlocked {
                            client,
                            protection,
                            count,
                        },
                        _ => Event::ClientReported {
                            client,
                            protection,
                            count,
                        },
                    });
                }
            }
        }
        for s in &rec.client.signals {
            let client = client.to_string();
            out.push(match s {
                ClientSignal::Banned {
                    client: banned,
                    reason,
                    strikes,
                    until,
                    enforced,
                } => Event::ClientBanned {
                    client: banned.to_string(),
                    reason,
                    strikes: *strikes,
                    until: crate::clock::rfc3339(crate::clock::from_micros(*until)),
                    enforced: *enforced,
                },
                ClientSignal::Scanning { distinct_paths } => Event::ScanningDetected {
                    client,
                    distinct_paths: *distinct_paths,
                },
                ClientSignal::CredentialStuffing { route, clients } => Event::CredentialStuffing {
                    route: route.clone(),
                    clients: *clients,
                },
                ClientSignal::UncommonEndpoint {
                    endpoint,
                    unusual_hour,
                } => Event::UncommonEndpoint {
                    client,
                    endpoint: endpoint.clone(),
                    unusual_hour: *unusual_hour,
                },
                ClientSignal::EndpointSurge { endpoint, clients } => Event::EndpointSurge {
                    endpoint: endpoint.clone(),
                    clients: *clients,
                },
                ClientSignal::Flood {
                    scope,
                    per_minute,
                    baseline,
                } => Event::TrafficFlood {
                    scope: scope.clone(),
                    per_minute: *per_minute,
                    baseline: *baseline,
                },
            });
        }
    }

    /// (client, cause) pairs evicted from the aggregation table.
    pub fn cause_evictions(&self) -> u64 {
        self.causes.evictions()
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Writes an event line.
pub fn log(event: &Event, rec: &CallRecord) {
    tracing::warn!(
        target: "sightline::event",
        kind = event.kind(),
        request_id = %rec.request_id,
        trace_id = %crate::trace::hex(&rec.trace_id),
        source = %rec.source_label(),
        destination = %rec.destination_label(),
        dialed = rec.upstream.as_deref().unwrap_or("-"),
        sni = rec.sni.as_deref().unwrap_or("-"),
        decision = rec.decision.as_str(),
        reason = %rec.reason,
        detail = %event.fields(),
        "{}",
        event.kind()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(ip: [u8; 4], service: Option<&str>, decision: Decision) -> CallRecord {
        CallRecord {
            direction: Direction::Egress,
            source_addr: std::net::SocketAddr::from((ip, 4000)),
            service: service.map(Into::into),
            decision,
            ..CallRecord::sample()
        }
    }

    #[test]
    fn blocked_reported_and_first_unknown_source() {
        let mut ev = Events::default();
        assert_eq!(
            ev.observe(&CallRecord::sample()),
            vec![],
            "inbound calls raise none here"
        );
        assert_eq!(
            ev.observe(&egress([10, 0, 0, 1], Some("orders"), Decision::Allowed)),
            vec![]
        );
        assert_eq!(
            ev.observe(&egress([10, 0, 0, 1], Some("orders"), Decision::Blocked)),
            vec![Event::EgressBlocked]
        );
        assert_eq!(
            ev.observe(&egress([10, 0, 0, 9], None, Decision::Reported)),
            vec![Event::EgressReported, Event::UnknownEgressSource]
        );
        assert_eq!(
            ev.observe(&egress([10, 0, 0, 9], None, Decision::Allowed)),
            vec![],
            "an unknown source is new only once"
        );
    }

    #[test]
    fn the_unknown_source_set_is_capped() {
        let mut ev = Events::default();
        for i in 0..(MAX_UNKNOWN_SOURCES as u32 + 5) {
            let ip = (0x0a00_0000u32 + i).to_be_bytes();
            ev.observe(&egress(ip, None, Decision::Allowed));
        }
        assert_eq!(ev.unknown_sources.len(), MAX_UNKNOWN_SOURCES);
        assert_eq!(ev.unknown_overflow, 5);
    }
}

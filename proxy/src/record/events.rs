//! Security events derived from records, written as structured log lines (target
//! `sightline::event`) by the recorder task, off the data path: blocked and reported egress
//! calls, and each new unknown egress source (an undeclared internal caller: shadow IT).

use super::{CallRecord, Direction};
use sightline_policy::Decision;
use std::collections::HashSet;
use std::net::IpAddr;

/// How many distinct unknown sources are remembered; past that, new ones are counted only.
pub const MAX_UNKNOWN_SOURCES: usize = 10_000;

/// What the recorder remembers to tell new from known.
#[derive(Debug, Default)]
pub struct Events {
    unknown_sources: HashSet<IpAddr>,
    /// Unknown sources not remembered because the set was full.
    pub unknown_overflow: u64,
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
}

impl Event {
    /// The event's kind, as the alert model will name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::EgressBlocked => "egress_blocked",
            Event::EgressReported => "egress_reported",
            Event::UnknownEgressSource => "unknown_egress_source",
        }
    }
}

impl Events {
    /// The events a record raises.
    pub fn observe(&mut self, rec: &CallRecord) -> Vec<Event> {
        let mut out = Vec::new();
        if rec.direction != Direction::Egress {
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

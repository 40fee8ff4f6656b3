//! One finished call as an OpenTelemetry span: SERVER for inbound, CLIENT for egress, with the
//! record's own trace id, span id, parent and times, so the span id is the one the proxy sent
//! upstream in `traceparent`.

use crate::config::Sampler;
use crate::record::{CallRecord, Direction, Protocol};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::borrow::Cow;

/// Whether the call's trace is exported: parent-based samplers follow the caller's sampled
/// flag; otherwise the trace id decides (its last 8 bytes against the ratio), the same way on
/// every hop of the trace.
pub fn sampled(sampler: &Sampler, rec: &CallRecord) -> bool {
    if sampler.parent_based && rec.parent_span_id.is_some() {
        return rec.trace_flags & 1 == 1;
    }
    if sampler.ratio >= 1.0 {
        return true;
    }
    if sampler.ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&rec.trace_id[8..]);
    let x = u64::from_be_bytes(low) >> 1;
    (x as f64) < sampler.ratio * (1u64 << 63) as f64
}

/// The span of `rec`; `template` is the route template the analysis matched, if any.
pub fn build(rec: &CallRecord, template: Option<&str>, scope: &InstrumentationScope) -> SpanData {
    let kind = match rec.direction {
        Direction::Inbound => SpanKind::Server,
        Direction::Egress => SpanKind::Client,
    };
    let method = rec.method.as_str();
    let name = match template {
        Some(t) if !rec.protocol.opaque() => format!("{method} {t}"),
        _ => method.to_owned(),
    };
    let mut a = Vec::with_capacity(24);
    a.push(KeyValue::new("http.request.method", method.to_owned()));
    if let Some(t) = template.filter(|_| !rec.protocol.opaque()) {
        a.push(KeyValue::new("http.route", t.to_owned()));
    }
    if let Some(s) = rec.status {
        a.push(KeyValue::new("http.response.status_code", i64::from(s)));
    }
    let peer_ip = rec.source_addr.ip().to_string();
    match rec.direction {
        Direction::Inbound => {
            a.push(KeyValue::new("url.path", rec.path.clone()));
            a.push(KeyValue::new(
                "url.scheme",
                if rec.tls { "https" } else { "http" },
            ));
            if !rec.host.is_empty() {
                a.push(KeyValue::new("server.address", rec.host.clone()));
            }
            // The client as a trusted proxy forwarded it; else the peer.
            let client = rec
                .client
                .forwarded_for
                .map_or_else(|| peer_ip.clone(), |a| a.to_string());
            a.push(KeyValue::new("client.address", client));
            a.push(KeyValue::new("network.peer.address", peer_ip));
            a.push(KeyValue::new(
                "network.peer.port",
                i64::from(rec.source_addr.port()),
            ));
        }
        Direction::Egress => {
            a.push(KeyValue::new("server.address", rec.host.clone()));
            if let Some(p) = rec.dest_port {
                a.push(KeyValue::new("server.port", i64::from(p)));
            }
            if !rec.protocol.opaque() {
                let port = rec.dest_port.filter(|p| *p != 80);
                let full = match port {
                    Some(p) => format!("http://{}:{p}{}", rec.host, rec.path),
                    None => format!("http://{}{}", rec.host, rec.path),
                };
                a.push(KeyValue::new("url.full", full));
            }
            if let Some(up) = rec.upstream.as_deref() {
                if let Ok(addr) = up.parse::<std::net::SocketAddr>() {
                    a.push(KeyValue::new("network.peer.address", addr.ip().to_string()));
                    a.push(KeyValue::new("network.peer.port", i64::from(addr.port())));
                }
            }
            a.push(KeyValue::new("client.address", peer_ip));
            if let Some(inside) = rec.inside {
                a.push(KeyValue::new(
                    "sightline.enclave",
                    if inside { "inside" } else { "outside" },
                ));
            }
            if let Some(sni) = &rec.sni {
                a.push(KeyValue::new("tls.client.server_name", sni.clone()));
            }
        }
    }
    match rec.protocol {
        Protocol::H1 | Protocol::Upgrade => {
            a.push(KeyValue::new("network.protocol.version", "1.1"));
        }
        Protocol::H2 => a.push(KeyValue::new("network.protocol.version", "2")),
        Protocol::Tunnel | Protocol::Inspected | Protocol::Transparent => {}
    }
    let error_type = error_type(rec, kind.clone());
    if let Some(e) = &error_type {
        a.push(KeyValue::new("error.type", e.clone()));
    }
    a.push(KeyValue::new("http.request.body.size", rec.bytes_in as i64));
    a.push(KeyValue::new(
        "http.response.body.size",
        rec.bytes_out as i64,
    ));
    a.push(KeyValue::new("sightline.direction", rec.direction.as_str()));
    a.push(KeyValue::new("sightline.decision", rec.decision.as_str()));
    if !rec.reason.is_empty() {
        a.push(KeyValue::new("sightline.reason", rec.reason.clone()));
    }
    a.push(KeyValue::new("sightline.source", rec.source_label()));
    if let Some(id) = rec.source_identity.as_deref() {
        a.push(KeyValue::new("sightline.source.identity", id.to_owned()));
    }
    if let Some(s) = rec.service.as_deref() {
        a.push(KeyValue::new("sightline.service", s.to_owned()));
    }
    if let Some(up) = rec.upstream.as_deref() {
        a.push(KeyValue::new("sightline.upstream", up.to_owned()));
    }
    a.push(KeyValue::new(
        "sightline.request_id",
        rec.request_id.to_string(),
    ));
    a.push(KeyValue::new("sightline.protocol", rec.protocol.as_str()));

    let status = match error_type {
        Some(e) => Status::error(e),
        None => Status::Unset,
    };
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(rec.trace_id),
            SpanId::from_bytes(rec.span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: rec
            .parent_span_id
            .map_or(SpanId::INVALID, SpanId::from_bytes),
        parent_span_is_remote: rec.parent_span_id.is_some(),
        span_kind: kind,
        name: Cow::Owned(name),
        start_time: rec.start,
        end_time: rec.start + rec.duration,
        attributes: a,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// `error.type` as the HTTP conventions define it: the proxy's own error code when it has one,
/// else the status code for 5xx (servers) or 4xx and 5xx (clients); blocked calls carry it too.
fn error_type(rec: &CallRecord, kind: SpanKind) -> Option<String> {
    if let Some(e) = rec.error {
        return Some(e.to_owned());
    }
    match (rec.status, kind) {
        (None, _) => Some("no_response".into()),
        (Some(s), _) if s >= 500 => Some(s.to_string()),
        (Some(s), SpanKind::Client) if s >= 400 => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

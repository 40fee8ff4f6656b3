//! The call's JSON view: what the API lists and the store's call log keeps of a call.

use super::CallRecord;
use crate::clock::rfc3339;
use crate::trace::hex;
use sightline_dashboard::CallView;

/// A call as the API (and the store's call log) shows it.
pub fn view(seq: u64, r: &CallRecord) -> CallView {
    CallView {
        id: r.request_id.to_string(),
        seq,
        time: rfc3339(r.start),
        direction: r.direction.as_str().into(),
        source: r.source_label(),
        source_addr: r.source_addr.to_string(),
        destination: r.destination_label(),
        service: r.service.as_deref().map(str::to_owned),
        upstream: r.upstream.as_deref().map(Into::into),
        inside_enclave: r.inside,
        sni: r.sni.clone(),
        method: r.method.to_string(),
        host: r.host.clone(),
        path: r.path.clone(),
        route: r.route.as_deref().unwrap_or("").into(),
        status: r.status.unwrap_or(0),
        duration_ms: r.duration.as_secs_f64() * 1e3,
        upstream_ms: r.upstream_latency.map(|d| d.as_secs_f64() * 1e3),
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        protocol: r.protocol.as_str().into(),
        tls: r.tls,
        decision: r.decision.as_str().into(),
        reason: r.reason.clone(),
        error: r.error.map(Into::into),
        trace_id: hex(&r.trace_id),
        client: r.client.client.as_deref().map(Into::into),
        protection: r.client.protection.map(Into::into),
    }
}

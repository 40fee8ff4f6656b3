//! The call's JSON view: what the API lists and the store's call log keeps of a call.

use super::KeptCall;
use crate::clock::rfc3339;
use crate::trace::hex;
use sightline_dashboard::CallView;

/// A call as the API (and the store's call log) shows it.
pub fn view(seq: u64, r: &KeptCall) -> CallView {
    let (bytes_in, bytes_out) = r.bytes();
    let (client, protection) = r.client();
    CallView {
        id: r.request_id().to_owned(),
        seq,
        time: rfc3339(r.start()),
        direction: r.direction().as_str().into(),
        source: r.source_label(),
        source_addr: r.source_addr().to_string(),
        destination: r.destination_label(),
        service: r.service().map(str::to_owned),
        upstream: r.upstream().map(Into::into),
        inside_enclave: r.inside(),
        sni: r.sni().map(Into::into),
        method: r.method().to_owned(),
        host: r.host().to_owned(),
        path: r.path().to_owned(),
        route: r.route().unwrap_or("").into(),
        status: r.status().unwrap_or(0),
        duration_ms: r.duration().as_secs_f64() * 1e3,
        upstream_ms: r.upstream_latency().map(|d| d.as_secs_f64() * 1e3),
        bytes_in,
        bytes_out,
        protocol: r.protocol().as_str().into(),
        tls: r.tls(),
        decision: r.decision().as_str().into(),
        reason: r.reason().to_owned(),
        error: r.error().map(Into::into),
        trace_id: hex(r.trace_id()),
        client: client.map(Into::into),
        protection: protection.map(Into::into),
    }
}

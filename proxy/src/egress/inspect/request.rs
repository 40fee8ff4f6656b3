//! One request inside an inspected tunnel: judged by the request rules, forwarded to the
//! destination over the tunnel's own TLS connection, and recorded as its own egress call.

use super::{connect_upstream, handshake, Inner, Sender};
use crate::egress::{answer_error, EgressRuntime};
use crate::errors::ProxyError;
use crate::record::{CallGuard, CountingBody, Protocol, RecordedBody, ResponseBody};
use crate::trace::{self, TraceContext};
use http::header::{self, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use sightline_certs::ALPN_H1;
use sightline_policy::{Decision, Host, RequestLine};
use std::sync::Arc;

/// One request inside the tunnel: judged, forwarded, recorded.
pub(super) async fn request(inner: Arc<Inner>, req: Request<Incoming>) -> Response<RecordedBody> {
    let b3 = inner.active.config.telemetry.b3;
    let trace = if req.headers().contains_key("traceparent") {
        TraceContext::from_headers(req.headers(), b3)
    } else {
        // Continue the CONNECT's trace.
        TraceContext::from_header(Some(inner.trace.header_value().as_bytes()))
    };
    let request_id = trace::request_id();
    let max_path = inner.active.config.recording.max_path_bytes;
    let mut rec = inner.template.clone();
    let (path, truncated) = crate::record::cap_path(req.uri().path(), max_path);
    rec.request_id = trace::RequestId::from_text(&request_id);
    rec.trace_id = trace.trace_id;
    rec.span_id = trace.span_id;
    rec.parent_span_id = trace.parent_id;
    rec.trace_flags = trace.flags;
    rec.method = req.method().clone();
    rec.path = path;
    rec.path_truncated = truncated;
    rec.protocol = Protocol::Inspected;
    rec.status = None;
    rec.error = None;
    rec.bytes_in = 0;
    rec.bytes_out = 0;
    rec.decision = Decision::Allowed;
    rec.reason = String::new();
    let mut guard = CallGuard::start(
        Arc::new(rec),
        inner.recorder.clone(),
        inner.counters.clone(),
        inner.activity.clone(),
    );
    let Some(rt) = inner.active.egress.as_ref() else {
        return answer_error(ProxyError::ShuttingDown, guard, &request_id);
    };
    if let Err(e) = crate::inbound::limits(&req, &inner.active.config.limits) {
        return answer_error(e, guard, &request_id);
    }
    if let Err(e) = judge(rt, &inner, &req, &mut guard) {
        return answer_error(e, guard, &request_id);
    }
    let sender = match &inner.upstream {
        Ok(s) => s,
        Err(e) => return answer_error(ProxyError::UpstreamTls(e.clone()), guard, &request_id),
    };
    match forward(sender, req, &inner, &trace, &request_id, &mut guard, rt).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            crate::wire::finish_response_headers(
                &mut parts.version,
                &mut parts.headers,
                parts.status,
                &request_id,
            );
            Response::from_parts(
                parts,
                RecordedBody::new(ResponseBody::Upstream(body.into()), Some(guard)),
            )
        }
        Err(e) => answer_error(e, guard, &request_id),
    }
}

/// The request rules, judged on this request at the tunnel's dialed address.
fn judge(
    rt: &EgressRuntime,
    inner: &Inner,
    req: &Request<Incoming>,
    guard: &mut CallGuard,
) -> Result<(), ProxyError> {
    let line = RequestLine {
        method: req.method().as_str(),
        path: req.uri().path(),
    };
    let service = inner.template.service.as_deref();
    let v = rt.enclave.decide_request(
        service,
        &inner.host,
        inner.addr.ip(),
        inner.addr.port(),
        Some(line),
    );
    match v.decision {
        Decision::Blocked | Decision::Limited => {
            let public = v.public_reason();
            if let Some(rec) = guard.rec() {
                rec.decision = Decision::Blocked;
                rec.reason = format!("{}: {}", inner.addr.ip(), v.reason);
            }
            Err(ProxyError::EgressBlocked(public))
        }
        Decision::Reported => {
            if let Some(rec) = guard.rec() {
                rec.decision = Decision::Reported;
                rec.reason = v.reason;
            }
            Ok(())
        }
        Decision::Allowed => Ok(()),
    }
}

async fn forward(
    sender: &Sender,
    req: Request<Incoming>,
    inner: &Inner,
    trace: &TraceContext,
    request_id: &str,
    guard: &mut CallGuard,
    rt: &EgressRuntime,
) -> Result<Response<Incoming>, ProxyError> {
    let (mut parts, body) = req.into_parts();
    let h = &mut parts.headers;
    crate::wire::headers::strip_for_next_hop(h, false);
    crate::wire::headers::append_via(h, parts.version);
    trace.propagate(h);
    crate::wire::set_request_id(h, request_id);
    let max_body = inner.active.config.limits.max_request_body;
    let body = CountingBody::new(body, guard.bytes_in(), max_body);
    let timeout = rt.request_timeout;
    let sent = match sender {
        Sender::H2(send) => {
            // HTTP/2 needs the scheme and authority; the client sent them (:authority).
            let authority = parts
                .uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .or_else(|| {
                    parts
                        .headers
                        .get(header::HOST)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| inner.host.to_string());
            let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            parts.uri = format!("https://{authority}{pq}")
                .parse()
                .map_err(|_| ProxyError::BadRequest("invalid request target"))?;
            parts.version = Version::HTTP_2;
            parts.headers.remove(header::HOST);
            let mut send = send.clone();
            let req = Request::from_parts(parts, body);
            tokio::time::timeout(timeout, send.send_request(req)).await
        }
        Sender::H1(send) => {
            let pq = parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            if !parts.headers.contains_key(header::HOST) {
                if let Some(a) = parts.uri.authority() {
                    if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                        parts.headers.insert(header::HOST, v);
                    }
                }
            }
            parts.uri = pq
                .parse()
                .map_err(|_| ProxyError::BadRequest("invalid request target"))?;
            parts.version = Version::HTTP_11;
            let req = Request::from_parts(parts, body);
            let mut send = send.lock().await;
            if send.ready().await.is_err() {
                // The destination closed its connection (after a response, or on an error):
                // a new one to the same, already checked, address.
                *send = redial_h1(rt, inner).await?;
            }
            tokio::time::timeout(timeout, send.send_request(req)).await
        }
    };
    let resp = sent
        .map_err(|_| ProxyError::UpstreamTimeout(timeout))?
        .map_err(|e| {
            crate::upstream::request_body_fault(&e)
                .unwrap_or_else(|| ProxyError::Upstream(e.to_string()))
        })?;
    let elapsed = guard.elapsed();
    if let Some(rec) = guard.rec() {
        rec.status = Some(resp.status().as_u16());
        rec.upstream_latency = Some(elapsed);
    }
    Ok(resp)
}

/// A new HTTP/1.1 connection to the tunnel's dialed address, verified as the first one was.
async fn redial_h1(
    rt: &EgressRuntime,
    inner: &Inner,
) -> Result<hyper::client::conn::http1::SendRequest<CountingBody>, ProxyError> {
    let (Some(inspector), Host::Name(name)) = (rt.inspector.as_ref(), &inner.host) else {
        return Err(ProxyError::Upstream(
            "the destination closed the connection".into(),
        ));
    };
    let stream = crate::egress::dial(inner.addr, rt.connect_timeout).await?;
    let h1 = [ALPN_H1.to_vec()];
    let (tls, _) = connect_upstream(inspector, name, stream, &h1, rt.connect_timeout)
        .await
        .map_err(ProxyError::UpstreamTls)?;
    match handshake(tls, None).await.map_err(ProxyError::Upstream)? {
        Sender::H1(send) => Ok(send.into_inner()),
        Sender::H2(_) => Err(ProxyError::Upstream("unexpected HTTP/2".into())),
    }
}

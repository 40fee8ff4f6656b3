//! The inbound stack: clients calling services behind the proxy. Read top to bottom, one request:
//!
//! 1. [`handle`] starts the call's record (request id, trace context) and its guard;
//! 2. the authority is parsed strictly (host and optional port) and the path made canonical
//!    ([`normalize`]: escapes, encoded slashes, `;` parameters, repeated slashes, dot
//!    segments); the [`router`] picks the service by host and path prefix, and the client guard
//!    judges the call on that same path;
//! 3. [`check_limits`] rejects oversized targets, headers and declared bodies;
//! 4. the service's pool picks an upstream (round robin, ejected ones skipped);
//! 5. [`upstream_request`] rewrites headers and streams the body upstream;
//! 6. the response streams back through a [`RecordedBody`], which finishes the record;
//! 7. any error becomes a response at the one rescue point, [`crate::errors::rescue`].

mod framing;
pub(crate) mod headers;
mod normalize;
pub mod router;
mod tunnel;

use crate::errors::{rescue, Health, ProxyError};
use crate::record::{
    CallGuard, CallRecord, CountingBody, Direction, Protocol, RecordedBody, ResponseBody,
};
use crate::runtime::{Active, Shared};
use crate::server::ConnActivity;
use crate::trace::{self, TraceContext};
use crate::upstream::{ServicePool, Upstream};
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use router::Authority;
use sightline_policy::Decision;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// What the proxy knows about the client connection a request arrived on.
#[derive(Debug)]
pub struct ConnInfo {
    /// The client's socket address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The verified client-certificate identity (URI SAN, else DNS SAN, else subject CN).
    pub identity: Option<Arc<str>>,
    /// Requests in flight, for the idle timer.
    pub activity: Arc<ConnActivity>,
    /// What the client guard's accept phase learned (allow/deny list, address slot).
    pub flags: crate::clients::ConnFlags,
}

/// Serves one inbound request. Never fails: every error becomes a response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<RecordedBody> {
    let active = shared.active();
    let h1 = req.version() < Version::HTTP_2;
    let trace = TraceContext::from_headers(req.headers(), active.config.telemetry.b3);
    let request_id = trace::request_id();
    // The authority and the canonical path are worked out once: routing, the client guard,
    // the record and the upstream request all use these.
    let target = request_target(&req, &active.config.inbound.paths);
    let mut record = begin_record(
        &req,
        &conn,
        &trace,
        &request_id,
        active.config.recording.max_path_bytes,
        &match &target {
            Ok((a, _)) => a.host.clone(),
            // Refused, but kept as evidence (shown as data, like every recorded string).
            Err(_) => crate::record::cap_path(raw_authority(&req).unwrap_or(""), MAX_HOST).0,
        },
    );
    record.caller_service = active.egress.as_ref().and_then(|e| {
        crate::egress::identity::caller_service(e, conn.peer.ip(), conn.identity.as_deref())
    });
    let mut guard = CallGuard::start(
        record,
        shared.recorder.clone(),
        active.unrouted.clone(),
        conn.activity.clone(),
    );
    // Routes are looked up before the guard runs, so a route's case folding applies to the
    // protections too; an unrouted call is still limited before it is answered 404.
    let route = target
        .as_ref()
        .ok()
        .and_then(|(a, p)| active.router.route(&a.host, p));
    let path = match (&target, route) {
        (Ok((_, p)), Some(r)) => r.path(p).into_owned(),
        (Ok((_, p)), None) => p.clone(),
        (Err(_), _) => String::new(),
    };
    if path != req.uri().path() && !path.is_empty() {
        if let Some(rec) = guard.rec() {
            let max = active.config.recording.max_path_bytes;
            rec.canonical_path = Some(crate::record::cap_path(&path, max).0);
        }
    }
    let method = req.method().clone();
    let clients = &active.config.clients;
    // A request that fails the framing checks, or whose Host or path is refused, is answered
    // (and its connection closed) by `proxy` before the guard would see it, as the chart in
    // ARCHITECTURE.md draws.
    let framed = framing::check(req.version(), req.method(), req.uri(), req.headers()).is_ok()
        && target.is_ok();
    let client = (clients.enabled && framed).then(|| {
        shared.clients.identify(
            clients,
            conn.peer.ip(),
            conn.identity.as_deref(),
            req.headers(),
        )
    });
    // Behind a trusted proxy the lists judge the forwarded client, not the proxy.
    let forwarded = client.as_ref().and_then(|_| {
        shared
            .clients
            .forwarded_flags(clients, conn.peer.ip(), req.headers())
    });
    let flags = forwarded.as_ref().unwrap_or(&conn.flags);
    let mut rate_headers = None;
    if let Some(c) = &client {
        if let Some(rec) = guard.rec() {
            rec.client.client = Some(c.id.clone());
            rec.client.kind = Some(c.kind.as_str());
            rec.client.forwarded_for =
                shared
                    .clients
                    .forwarded_for(clients, conn.peer.ip(), req.headers());
        }
        match crate::fleet::admit(&shared.clients, clients, flags, c, &method, &path).await {
            Ok(admitted) => {
                if let Some(p) = admitted.permit {
                    guard.hold(p);
                }
                rate_headers = admitted.rate;
                if let (Some((p, why)), Some(rec)) = (admitted.reported, guard.rec()) {
                    rec.decision = Decision::Reported;
                    rec.reason = why;
                    rec.client.protection = Some(p.as_str());
                }
            }
            Err(refused) => {
                let flood = shared.clients.global_flood(clients);
                if let (Some(f), Some(rec)) = (flood, guard.rec()) {
                    rec.client.signals.push(f);
                }
                return refuse(refused, guard, &request_id);
            }
        }
    }
    let span = trace.log_span(&request_id);
    let result = proxy(
        &active,
        &conn,
        req,
        target.map(|(a, _)| (a, path.clone())),
        route,
        &mut guard,
        &trace,
        &request_id,
    )
    .instrument(span)
    .await;
    if let Some(c) = &client {
        let status = match &result {
            Ok(Outcome::Response(r)) | Ok(Outcome::Upgraded(r, _, _)) => r.status().as_u16(),
            Err(e) => e.status().as_u16(),
        };
        let endpoint = guard
            .rec()
            .and_then(|r| r.route.as_ref().map(|route| format!("{method} {route}")));
        let signals = shared.clients.observe(
            clients,
            flags,
            c,
            &method,
            &path,
            status,
            endpoint.as_deref(),
        );
        if let (false, Some(rec)) = (signals.is_empty(), guard.rec()) {
            rec.client.signals = signals;
        }
    }
    match result {
        Ok(Outcome::Response(resp)) => {
            let (mut parts, body) = resp.into_parts();
            finish_response_headers(
                &mut parts.version,
                &mut parts.headers,
                parts.status,
                &request_id,
            );
            if let Some(h) = &rate_headers {
                h.apply(&mut parts.headers);
            }
            Response::from_parts(
                parts,
                RecordedBody::new(ResponseBody::Upstream(body), Some(guard))
                    .idle_timeout(active.config.limits.body_idle_timeout),
            )
        }
        Ok(Outcome::Upgraded(resp, client, upstream)) => {
            let (mut parts, _) = resp.into_parts();
            finish_response_headers(
                &mut parts.version,
                &mut parts.headers,
                parts.status,
                &request_id,
            );
            if let Some(rec) = guard.rec() {
                rec.protocol = Protocol::Upgrade;
            }
            let idle = active.config.limits.idle_timeout;
            tokio::spawn(tunnel::relay(client, upstream, guard, idle));
            Response::from_parts(
                parts,
                RecordedBody::new(ResponseBody::Local(Default::default()), None),
            )
        }
        Err(err) => {
            if let Some(rec) = guard.rec() {
                rec.status = Some(err.status().as_u16());
                rec.error = Some(err.code());
                rec.reason = err.to_string();
                if matches!(err, ProxyError::Limited { .. }) {
                    rec.decision = Decision::Limited;
                }
            }
            let mut resp = rescue(&err, &request_id);
            if let Some(h) = &rate_headers {
                h.apply(resp.headers_mut());
            }
            // After a framing error the rest of the connection cannot be trusted to start
            // at a request boundary: answer, then close.
            if h1 && matches!(err, ProxyError::BadRequest(_)) {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp.map(|b| RecordedBody::new(ResponseBody::Local(b), Some(guard)))
        }
    }
}

/// The answer to a call the client guard refused, before any routing or upstream work.
fn refuse(
    refused: crate::clients::Refused,
    mut guard: CallGuard,
    request_id: &str,
) -> Response<RecordedBody> {
    let err = &refused.error;
    if let Some(rec) = guard.rec() {
        rec.status = Some(err.status().as_u16());
        rec.error = Some(err.code());
        rec.reason = err.to_string();
        rec.decision = refused.decision;
        rec.client.protection = Some(refused.protection.as_str());
    }
    let mut resp = rescue(err, request_id);
    if let Some(h) = &refused.rate {
        h.apply(resp.headers_mut());
    }
    if refused.close {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp.map(|b| RecordedBody::new(ResponseBody::Local(b), Some(guard)))
}

enum Outcome {
    Response(Response<Incoming>),
    Upgraded(
        Response<Incoming>,
        hyper::upgrade::OnUpgrade,
        hyper::upgrade::OnUpgrade,
    ),
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    active: &Active,
    conn: &ConnInfo,
    mut req: Request<Incoming>,
    target: Result<(Authority, String), ProxyError>,
    route: Option<&router::RouteEntry>,
    guard: &mut CallGuard,
    trace: &TraceContext,
    request_id: &str,
) -> Result<Outcome, ProxyError> {
    let limits = &active.config.limits;
    framing::check(req.version(), req.method(), req.uri(), req.headers())?;
    let (authority, path) = target?;
    let route = route.ok_or(ProxyError::NoRoute)?;
    let pool = &route.pool;
    guard.set_counters(pool.counters.clone());
    if let Some(rec) = guard.rec() {
        rec.service = Some(pool.name.clone());
        rec.route = Some(route.label.clone());
    }
    check_limits(&req, limits)?;

    let upstream = pool.pick()?;
    if let Some(rec) = guard.rec() {
        rec.upstream = Some(upstream.authority.clone());
    }

    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let clients = &active.config.clients;
    let forwarding = headers::Forwarding {
        peer: conn.peer.ip(),
        trusted: clients.trusted_proxy(conn.peer.ip()),
        client_header: (clients.forwarded_header != X_FORWARDED_FOR)
            .then_some(&clients.forwarded_header),
        tls: conn.tls,
        host: &authority.header,
    };
    let out = upstream_request(
        &path, req, pool, upstream, forwarding, trace, request_id, guard, limits, upgrade,
    )?;

    let sent = pool
        .send(out, limits.request_timeout, limits.upstream_connect_timeout)
        .await;
    let elapsed = guard.elapsed();
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            pool.report(upstream, Health::of_error(&e));
            return Err(e);
        }
    };
    let status = resp.status();
    pool.report(upstream, Health::of_status(status));
    if let Some(rec) = guard.rec() {
        rec.status = Some(status.as_u16());
        rec.upstream_latency = Some(elapsed);
    }
    match client_upgrade {
        Some(client) if status == StatusCode::SWITCHING_PROTOCOLS => {
            let mut resp = resp;
            let upstream = hyper::upgrade::on(&mut resp);
            Ok(Outcome::Upgraded(resp, client, upstream))
        }
        _ => Ok(Outcome::Response(resp)),
    }
}

/// Rejects requests over the configured sizes before any upstream work.
fn check_limits(req: &Request<Incoming>, limits: &crate::config::Limits) -> Result<(), ProxyError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong(limits.max_uri_bytes));
    }
    let head: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > limits.max_header_bytes {
        return Err(ProxyError::HeadersTooLarge(limits.max_header_bytes));
    }
    if let (Some(max), Some(len)) = (limits.max_request_body, declared_length(req)?) {
        if len > max {
            return Err(ProxyError::BodyTooLarge(max));
        }
    }
    Ok(())
}

fn declared_length(req: &Request<Incoming>) -> Result<Option<u64>, ProxyError> {
    match req.headers().get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or(ProxyError::BadRequest("invalid content-length")),
    }
}

/// The authority the client asked for, strictly parsed, and the canonical path. The
/// authority is the URI's (HTTP/2 `:authority`, absolute-form), else the `Host` header; none
/// at all (HTTP/1.0 without `Host`) routes only to routes for any host.
fn request_target(
    req: &Request<Incoming>,
    paths: &crate::config::PathRules,
) -> Result<(Authority, String), ProxyError> {
    const BAD_HOST: ProxyError =
        ProxyError::BadRequest("invalid Host: a host name or address and an optional port only");
    let given = req.uri().authority().is_some() || req.headers().contains_key(header::HOST);
    let authority = match raw_authority(req) {
        Some(raw) => Authority::parse(raw).map_err(|_| BAD_HOST)?,
        None if given => return Err(BAD_HOST),
        None => Authority::default(),
    };
    let path = normalize::normalize_path(req.uri().path(), paths)?.into_owned();
    Ok((authority, path))
}

/// Longest host kept in a record when the Host was refused.
const MAX_HOST: usize = 255;

/// The authority as the client wrote it: the URI's, else the `Host` header (when it is text).
fn raw_authority(req: &Request<Incoming>) -> Option<&str> {
    match req.uri().authority() {
        Some(a) => Some(a.as_str()),
        None => req.headers().get(header::HOST)?.to_str().ok(),
    }
}

#[allow(clippy::too_many_arguments)]
fn upstream_request(
    path: &str,
    req: Request<Incoming>,
    pool: &ServicePool,
    upstream: &Upstream,
    forwarding: headers::Forwarding<'_>,
    trace: &TraceContext,
    request_id: &str,
    guard: &CallGuard,
    limits: &crate::config::Limits,
    upgrade: bool,
) -> Result<Request<CountingBody>, ProxyError> {
    let (mut parts, body) = req.into_parts();
    // The normalised path is what was routed, so it is what the upstream gets.
    let pq = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    parts.uri = pool.uri(upstream, &pq)?;
    let inbound_version = parts.version;
    parts.version = pool.version();

    let h = &mut parts.headers;
    headers::strip_hop_by_hop(h, upgrade);
    headers::strip_spoofable(h);
    headers::set_forwarded(h, forwarding);
    headers::append_via(h, inbound_version);
    // Only the normalised authority goes upstream, never the client's spelling of it.
    match HeaderValue::from_str(forwarding.host) {
        Ok(v) if !forwarding.host.is_empty() => {
            h.insert(header::HOST, v);
        }
        _ => {
            h.remove(header::HOST);
        }
    }
    trace.propagate(h);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID, v);
    }
    let body = if upgrade {
        CountingBody::empty(guard.bytes_in())
    } else {
        CountingBody::new(body, guard.bytes_in(), limits.max_request_body)
            .idle_timeout(limits.body_idle_timeout)
    };
    Ok(Request::from_parts(parts, body))
}

pub(crate) fn finish_response_headers(
    version: &mut Version,
    h: &mut http::HeaderMap,
    status: StatusCode,
    request_id: &str,
) {
    // The client's connection decides its own version (an HTTP/1.0 upstream stays hidden).
    *version = Version::HTTP_11;
    headers::strip_hop_by_hop(h, status == StatusCode::SWITCHING_PROTOCOLS);
    headers::strip_spoofable(h);
    headers::append_via(h, Version::HTTP_11);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID, v);
    }
}

fn begin_record(
    req: &Request<Incoming>,
    conn: &ConnInfo,
    trace: &TraceContext,
    request_id: &str,
    max_path: usize,
    host: &str,
) -> CallRecord {
    let (path, truncated) = crate::record::cap_path(req.uri().path(), max_path);
    CallRecord {
        request_id: request_id.to_owned(),
        trace_id: trace.trace_id,
        span_id: trace.span_id,
        parent_span_id: trace.parent_id,
        trace_flags: trace.flags,
        start: SystemTime::now(),
        duration: Default::default(),
        upstream_latency: None,
        direction: Direction::Inbound,
        source_addr: conn.peer,
        source_identity: conn.identity.clone(),
        caller_service: None,
        service: None,
        upstream: None,
        dest_port: None,
        inside: None,
        sni: None,
        method: req.method().clone(),
        host: host.to_owned(),
        path,
        path_truncated: truncated,
        canonical_path: None,
        route: None,
        status: None,
        error: None,
        bytes_in: 0,
        bytes_out: 0,
        protocol: if req.version() == Version::HTTP_2 {
            Protocol::H2
        } else {
            Protocol::H1
        },
        tls: conn.tls,
        decision: Decision::Allowed,
        reason: String::new(),
        client: Default::default(),
    }
}

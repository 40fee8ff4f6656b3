//! The inbound stack: clients calling services behind the proxy. [`handle`] runs one request
//! through these phases, in order, over one per-call state ([`Call`]):
//!
//! 1. **begin** ([`begin`]): the record (request id, trace context, caller service) and its
//!    guard; framing checked once ([`framing`]); the authority parsed strictly once (host and
//!    optional port, [`crate::wire::Authority`]) and the path made canonical ([`normalize`]:
//!    escapes, encoded slashes, `;` parameters, repeated slashes, dot segments); the
//!    [`router`] looked up by host and path prefix, whose case folding the guard sees too;
//! 2. **guard** ([`guard`]): the client protections judge the call on that same path (a
//!    request refused by framing or its Host is answered before the guard would see it);
//! 3. **route** ([`route`]): a refused request, or one no route matches, ends here; else the
//!    service and route go into the record;
//! 4. **limits** ([`limits`]): oversized targets, headers and declared bodies are rejected;
//! 5. **forward** ([`forward`]): the service's pool picks an upstream (round robin, ejected
//!    ones skipped), the headers are rewritten and the body streamed upstream;
//! 6. **observe** ([`observe`]): the client protections see the outcome;
//! 7. **respond** ([`respond`]): the response streams back through a [`RecordedBody`], which
//!    finishes the record; an upgrade is relayed; any error becomes a response at the one
//!    answer path, [`crate::errors::answer`].

mod forward;
mod framing;
mod normalize;
use crate::clients::{ConnFlags, RateHeaders, Refused};
use crate::errors::{answer, ProxyError};
use crate::record::{CallGuard, CallRecord, Direction, Protocol, RecordedBody, ResponseBody};
use crate::server::RequestBody;
use crate::state::{Active, Shared};
use crate::trace::{self, TraceContext};
use crate::upstream::router::{self, RouteEntry};
use crate::wire::{raw_authority, Authority};
use forward::{forward, Outcome};
use http::{Method, Request, Response, Version};
use sightline_policy::clients::ClientId;
use sightline_policy::Decision;
use std::sync::Arc;

type ConnInfo = crate::wire::ConnInfo<ConnFlags>;

/// Serves one inbound request. Never fails: every error becomes a response.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<RequestBody>,
) -> Response<RecordedBody> {
    let active = shared.active();
    let mut call = begin(&shared, &active, conn, &req);
    // The guard's future (with a fleet's leases) is built only when the guard runs.
    if guarded(&call) {
        if let Err(refused) = guard(&mut call, &req).await {
            return refuse(call, refused);
        }
    }
    let ids = call.trace.log_ids(&call.request_id);
    // Pinned where it is built: the call scope holds a pointer to it, so the forwarding
    // future (the largest part of the call's) is not copied into the scope and again into
    // the call's future.
    let result = {
        let forwarded = std::pin::pin!(async {
            let route = route(&mut call)?;
            limits(&req, &active.config.limits)?;
            forward(&mut call, route, req)?.await
        });
        trace::in_call(ids, forwarded).await
    };
    observe(&mut call, &result);
    respond(call, result)
}

/// One inbound call in flight: what [`begin`] worked out once, and what later phases add.
struct Call<'a> {
    shared: &'a Shared,
    active: &'a Active,
    conn: Arc<ConnInfo>,
    trace: TraceContext,
    request_id: trace::RequestId,
    /// The request id's header value, once made for the upstream request: the response
    /// shares it.
    request_id_header: Option<http::HeaderValue>,
    guard: CallGuard,
    method: Method,
    /// HTTP/1: after a framing error the connection is closed.
    h1: bool,
    /// The native HTTP/1.1 server answers the client: it writes an upstream's fields as the
    /// wire carried them, with the proxy's own as lines after them.
    native: bool,
    /// Why the request is refused before routing (framing, then its Host or path), if it is.
    refused: Option<ProxyError>,
    /// The authority asked for (empty when refused or absent). Its `host` has gone into the
    /// record once routing used it; `header` is what goes upstream.
    authority: Authority,
    /// The canonical path as the route sees it (empty when refused; taken for the upstream
    /// request when nothing reads it after, see `forward`).
    path: String,
    route: Option<&'a RouteEntry>,
    /// The client as the guard identified it, when the protections are on.
    client: Option<ClientId>,
    /// Behind a trusted proxy: the list flags of the forwarded client.
    forwarded: Option<ConnFlags>,
    /// The rate headers of the limit closest to refusing, for the response.
    rate: Option<RateHeaders>,
}

impl Call<'_> {
    /// The list flags the protections judge by: the forwarded client's, else the connection's.
    fn flags(&self) -> &ConnFlags {
        self.forwarded.as_ref().unwrap_or(&self.conn.flags)
    }
}

/// Starts the call: its record and guard, framing checked, the authority and canonical path
/// worked out, and the route looked up. Routing, the client guard, the record and the
/// upstream request all use these.
fn begin<'a>(
    shared: &'a Shared,
    active: &'a Active,
    conn: Arc<ConnInfo>,
    req: &Request<RequestBody>,
) -> Call<'a> {
    let trace = TraceContext::from_headers(req.headers(), active.config.telemetry.b3);
    let request_id = trace::RequestId::new();
    let max_path = active.config.recording.max_path_bytes;
    let framing = framing::check(req.version(), req.method(), req.uri(), req.headers());
    let target = request_target(req, &active.config.inbound.paths);
    let target_ok = target.is_ok();
    let (mut authority, path, route, refused) = match target {
        Ok((a, p)) => {
            let (route, p) = look_up_route(active, &a, p);
            (a, p, route, framing.err())
        }
        Err(e) => (
            Authority::default(),
            String::new(),
            None,
            framing.err().or(Some(e)),
        ),
    };
    let host = if target_ok {
        // Routing is done with the host: the record takes it rather than a copy.
        std::mem::take(&mut authority.host)
    } else {
        // Refused, but kept as evidence (shown as data, like every recorded string).
        let raw = raw_authority(req.uri(), req.headers()).unwrap_or("");
        crate::record::cap_path(raw, MAX_HOST).0
    };
    let caller = (conn.peer, conn.identity.clone(), conn.tls);
    let record_path = crate::record::cap_path(req.uri().path(), max_path);
    let mut record = CallRecord::begin(
        Direction::Inbound,
        req,
        &trace,
        &request_id,
        caller,
        host,
        record_path,
    );
    // Just built, so the record's only owner: nothing is copied.
    let rec = Arc::make_mut(&mut record);
    rec.caller_service = active.egress.as_ref().and_then(|e| {
        crate::enclave::identity::caller_service(e, conn.peer.ip(), conn.identity.as_deref())
    });
    if path != req.uri().path() && !path.is_empty() {
        rec.canonical_path = Some(crate::record::cap_path(&path, max_path).0);
    }
    let guard = CallGuard::start(
        record,
        shared.recorder.clone(),
        active.unrouted.clone(),
        conn.activity.clone(),
    );
    Call {
        shared,
        active,
        conn,
        trace,
        request_id,
        request_id_header: None,
        guard,
        method: req.method().clone(),
        h1: req.version() < Version::HTTP_2,
        native: matches!(req.body(), RequestBody::Native(_)),
        refused,
        authority,
        path,
        route,
        client: None,
        forwarded: None,
        rate: None,
    }
}

/// Looks the route up before the guard runs, so a route's case folding applies to the
/// protections too (an unrouted call is still limited before it is answered 404). Returns the
/// route and the canonical path as it sees it.
fn look_up_route<'a>(
    active: &'a Active,
    authority: &Authority,
    path: String,
) -> (Option<&'a RouteEntry>, String) {
    let route = active.router.route(&authority.host, &path);
    match route.map(|r| r.path(&path)) {
        // Only a case-folding route changes the path; otherwise it is used as it is.
        Some(std::borrow::Cow::Owned(folded)) => (route, folded),
        _ => (route, path),
    }
}

/// Whether the client guard judges this call: the protections are on and the request was not
/// refused before them.
fn guarded(call: &Call<'_>) -> bool {
    call.active.config.clients.enabled && call.refused.is_none()
}

/// The client guard: identifies the client and admits the call or refuses it. A request that
/// fails the framing checks, or whose Host or path is refused, is answered (and its connection
/// closed) by [`route`] before the guard would see it, as the chart in ARCHITECTURE.md draws.
async fn guard(call: &mut Call<'_>, req: &Request<RequestBody>) -> Result<(), Refused> {
    if !guarded(call) {
        return Ok(());
    }
    let clients = &call.active.config.clients;
    let guards = &call.shared.clients;
    let (peer, headers) = (call.conn.peer.ip(), req.headers());
    let client = guards.identify(clients, peer, call.conn.identity.as_deref(), headers);
    // Behind a trusted proxy the lists judge the forwarded client, not the proxy.
    call.forwarded = guards.forwarded_flags(clients, peer, headers);
    if let Some(rec) = call.guard.rec() {
        rec.client.client = Some(client.id.clone());
        rec.client.kind = Some(client.kind.as_str());
        rec.client.forwarded_for = guards.forwarded_for(clients, peer, headers);
    }
    // With a fleet, the shared limits' leases are made ready first (a bounded wait).
    let admitted = crate::fleet::admit(
        guards,
        clients,
        call.flags(),
        &client,
        &call.method,
        &call.path,
    )
    .await;
    call.client = Some(client);
    let admitted = admitted.inspect_err(|_| {
        let flood = guards.global_flood(clients);
        if let (Some(f), Some(rec)) = (flood, call.guard.rec()) {
            rec.client.signals.push(f);
        }
    })?;
    if let Some(p) = admitted.permit {
        call.guard.hold(p);
    }
    call.rate = admitted.rate;
    if let (Some((p, why)), Some(rec)) = (admitted.reported, call.guard.rec()) {
        rec.decision = Decision::Reported;
        rec.reason = why;
        rec.client.protection = Some(p.as_str());
    }
    Ok(())
}

/// Applies the route: a request refused by its framing, Host or path, or one no route
/// matches, ends here; else the call counts toward the service and its record names it.
fn route<'a>(call: &mut Call<'a>) -> Result<&'a RouteEntry, ProxyError> {
    if let Some(err) = call.refused.take() {
        return Err(err);
    }
    let route = call.route.ok_or(ProxyError::NoRoute)?;
    call.guard.set_counters(route.pool.counters.clone());
    if let Some(rec) = call.guard.rec() {
        rec.service = Some(route.pool.name.clone());
        rec.route = Some(route.label.clone());
    }
    Ok(route)
}

/// Rejects requests over the configured sizes before any upstream work (the egress stack
/// applies the same limits to its requests, inspected ones included).
pub(crate) fn limits<B>(
    req: &Request<B>,
    limits: &crate::config::Limits,
) -> Result<(), ProxyError> {
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

fn declared_length<B>(req: &Request<B>) -> Result<Option<u64>, ProxyError> {
    match req.headers().get(http::header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or(ProxyError::BadRequest("invalid content-length")),
    }
}

/// The answer to a request head the HTTP/1.1 server refused: the one answer path's JSON error
/// (400 `bad_request` with the parser's reason, or 431), then the connection closes.
pub(crate) fn refused_head(
    why: crate::server::HeadRefused,
) -> Response<http_body_util::Full<bytes::Bytes>> {
    let err = match why {
        crate::server::HeadRefused::Malformed(reason) => ProxyError::BadRequest(reason),
        crate::server::HeadRefused::TooLarge(n) => ProxyError::HeadersTooLarge(n),
    };
    let id = crate::trace::RequestId::new();
    crate::errors::answer(&err, id.as_str(), |_| {}, true)
}

/// The client protections see how the call ended (status, endpoint).
fn observe(call: &mut Call<'_>, result: &Result<Outcome, ProxyError>) {
    let Some(client) = &call.client else { return };
    let status = match result {
        Ok(Outcome::Response(r)) | Ok(Outcome::Upgraded(r, _, _)) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    };
    let endpoint = call.guard.rec().and_then(|r| {
        r.route
            .as_ref()
            .map(|route| format!("{} {route}", call.method))
    });
    let signals = call.shared.clients.observe(
        &call.active.config.clients,
        call.flags(),
        client,
        &call.method,
        &call.path,
        status,
        endpoint.as_deref(),
    );
    if let (false, Some(rec)) = (signals.is_empty(), call.guard.rec()) {
        rec.client.signals = signals;
    }
}

/// The response to the client: the upstream's (headers finished, body recorded), the 101 of
/// a relayed upgrade, or the proxy's own answer.
fn respond(mut call: Call<'_>, result: Result<Outcome, ProxyError>) -> Response<RecordedBody> {
    let request_id = &call.request_id;
    match result {
        Ok(Outcome::Response(resp)) => {
            let (mut parts, mut body) = resp.into_parts();
            let h = &mut parts.headers;
            let upgrade = parts.status == http::StatusCode::SWITCHING_PROTOCOLS;
            let strip = (!body.hop_by_hop_removed()).then_some(upgrade);
            let id = match call.request_id_header.take() {
                Some(v) => Some(v),
                None => crate::wire::request_id_value(request_id),
            };
            // Fields kept as wire lines stay so only for the native server; any other writes
            // heads from the map, where they go first.
            match body.wire_fields_mut() {
                Some(wire) if call.native => {
                    crate::wire::finish_wire_fields(&mut parts.version, wire, id.as_ref());
                }
                _ => {
                    if let Some(wire) = crate::server::HeadFields::take_wire_fields(&mut body) {
                        wire.into_map(h);
                    }
                    crate::wire::finish_upstream_headers(&mut parts.version, h, strip, id);
                }
            }
            if let Some(rate) = &call.rate {
                if parts.headers.capacity() == 0 {
                    parts.headers = crate::server::h1::buffers::take_map(2);
                }
                rate.apply(&mut parts.headers);
            }
            let body = RecordedBody::new(ResponseBody::Upstream(body), Some(call.guard))
                .idle_timeout(call.active.config.limits.body_idle_timeout);
            Response::from_parts(parts, body)
        }
        Ok(Outcome::Upgraded(resp, client, upstream)) => {
            let (mut parts, _) = resp.into_parts();
            let h = &mut parts.headers;
            crate::wire::finish_response_headers(&mut parts.version, h, parts.status, request_id);
            if let Some(rec) = call.guard.rec() {
                rec.protocol = Protocol::Upgrade;
            }
            let idle = call.active.config.limits.idle_timeout;
            tokio::spawn(crate::upstream::relay::upgraded(
                client, upstream, call.guard, idle,
            ));
            let body = RecordedBody::new(ResponseBody::Local(Default::default()), None);
            Response::from_parts(parts, body)
        }
        Err(err) => {
            let decision = matches!(err, ProxyError::Limited { .. }).then_some(Decision::Limited);
            // After a framing error the rest of the connection cannot be trusted to start
            // at a request boundary: answer, then close.
            let close = call.h1 && matches!(err, ProxyError::BadRequest(_));
            let rate = call.rate.take();
            fail(call, &err, (decision, None), rate.as_ref(), close)
        }
    }
}

/// The answer to a call the client guard refused, before any routing or upstream work.
fn refuse(mut call: Call<'_>, refused: Refused) -> Response<RecordedBody> {
    // Signals of the fleet's shared windows ride on the next call recorded, refused or not.
    let later = call.shared.clients.take_fleet_signals();
    if let (false, Some(rec)) = (later.is_empty(), call.guard.rec()) {
        rec.client.signals.extend(later);
    }
    let how = (Some(refused.decision), Some(refused.protection.as_str()));
    let rate = refused.rate.as_ref();
    fail(call, &refused.error, how, rate, refused.close)
}

/// Records why the proxy answered (and, when given, the decision and the protection that
/// acted), then answers through the one answer path.
fn fail(
    mut call: Call<'_>,
    err: &ProxyError,
    (decision, protection): (Option<Decision>, Option<&'static str>),
    rate: Option<&RateHeaders>,
    close: bool,
) -> Response<RecordedBody> {
    if let Some(rec) = call.guard.rec() {
        rec.status = Some(err.status().as_u16());
        rec.error = Some(err.code());
        rec.reason = err.to_string();
        if let Some(d) = decision {
            rec.decision = d;
        }
        if protection.is_some() {
            rec.client.protection = protection;
        }
    }
    let rate = |h: &mut http::HeaderMap| {
        if let Some(r) = rate {
            r.apply(h);
        }
    };
    let resp = answer(err, &call.request_id, rate, close);
    resp.map(|b| RecordedBody::new(ResponseBody::Local(b), Some(call.guard)))
}

/// The authority the client asked for, strictly parsed, and the canonical path. The
/// authority is the URI's (HTTP/2 `:authority`, absolute-form), else the `Host` header; none
/// at all (HTTP/1.0 without `Host`) routes only to routes for any host.
fn request_target(
    req: &Request<RequestBody>,
    paths: &crate::config::PathRules,
) -> Result<(Authority, String), ProxyError> {
    const BAD_HOST: ProxyError =
        ProxyError::BadRequest("invalid Host: a host name or address and an optional port only");
    let authority = Authority::of_request(req.uri(), req.headers()).map_err(|_| BAD_HOST)?;
    let path = normalize::normalize_path(req.uri().path(), paths)?.into_owned();
    Ok((authority, path))
}

/// Longest host kept in a record when the Host was refused.
const MAX_HOST: usize = 255;

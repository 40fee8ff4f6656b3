//! The forward phase of the inbound stack: an upstream picked from the routed service's pool,
//! the request rewritten for it (the canonical path, the normalised authority, forwarding
//! headers, `Via`, trace context and request id) and sent, and its health judged by the answer.

use super::Call;
use crate::errors::{Health, ProxyError};
use crate::record::CountingBody;
use crate::server::RequestBody;
use crate::upstream::{ServicePool, Upstream, UpstreamBody};
use crate::wire::headers;
use crate::wire::next_hop::{self, NextHop};
use futures_util::FutureExt;
use http::{Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use std::future::Future;

/// What the upstream answered: a response to stream back, or a 101 whose connection (and the
/// client's) is relayed next.
pub(super) enum Outcome {
    Response(Response<UpstreamBody>),
    Upgraded(Response<UpstreamBody>, OnUpgrade, OnUpgrade),
}

/// Picks an upstream of the routed service and sends the rewritten request; the future
/// reports the upstream's health by the outcome. All the work before the send is done here,
/// before the future is built: the future holds neither request (the client's or the
/// upstream's) and is no `async` block, so nothing of it is moved or kept twice.
pub(super) fn forward<'c, 'a>(
    call: &'c mut Call<'a>,
    route: &'a super::router::RouteEntry,
    mut req: Request<RequestBody>,
) -> Result<impl Future<Output = Result<Outcome, ProxyError>> + Send + use<'c, 'a>, ProxyError> {
    let limits = &call.active.config.limits;
    let (timeout, connect_timeout) = (limits.request_timeout, limits.upstream_connect_timeout);
    let pool = &route.pool;
    let upstream = pool.pick()?;
    if let Some(rec) = call.guard.rec() {
        rec.upstream = Some(upstream.authority.clone());
    }
    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (out, hop) = upstream_request(call, pool, upstream, req, upgrade)?;
    let sending = pool.send(upstream, out, hop, upgrade, timeout, connect_timeout);
    Ok(sending.map(move |sent| {
        let elapsed = call.guard.elapsed();
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                pool.report(upstream, Health::of_error(&e));
                return Err(e);
            }
        };
        let status = resp.status();
        pool.report(upstream, Health::of_status(status));
        if let Some(rec) = call.guard.rec() {
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
    }))
}

/// The request as `upstream` gets it: the routed (canonical) path, the pool's version, the
/// headers rewritten (what must not pass taken out, what this hop adds beside them) and the
/// body counted (empty for an upgrade: its bytes are relayed).
fn upstream_request(
    call: &mut Call<'_>,
    pool: &ServicePool,
    upstream: &Upstream,
    req: Request<RequestBody>,
    upgrade: bool,
) -> Result<(Request<CountingBody>, NextHop), ProxyError> {
    let (mut parts, body) = req.into_parts();
    // The normalised path is what was routed, so it is what the upstream gets. Without a
    // query it goes as it is: copied only when the client protections will judge the
    // outcome by it (`observe`), else nothing reads it after this.
    let pq = match parts.uri.query() {
        Some(q) => {
            let path = &call.path;
            let mut pq = String::with_capacity(path.len() + 1 + q.len());
            pq.push_str(path);
            pq.push('?');
            pq.push_str(q);
            pq
        }
        None if call.client.is_none() => std::mem::take(&mut call.path),
        None => call.path.clone(),
    };
    parts.uri = pool.uri(upstream, pq, upgrade)?;
    let inbound_version = parts.version;
    parts.version = pool.version();

    let clients = &call.active.config.clients;
    let peer = call.conn.peer.ip();
    let request_id = crate::wire::request_id_value(&call.request_id);
    call.request_id_header.clone_from(&request_id);
    let hop = NextHop::inbound(
        &mut parts.headers,
        next_hop::Inbound {
            upgrade,
            forwarding: headers::Forwarding {
                peer,
                trusted: clients.trusted_proxy(peer),
                client_header: (clients.forwarded_header != headers::X_FORWARDED_FOR)
                    .then_some(&clients.forwarded_header),
                tls: call.conn.tls,
            },
            // Only the normalised authority goes upstream, never the client's spelling of it.
            authority: call.authority.header.as_str(),
            version: inbound_version,
            trace: &call.trace,
            request_id,
        },
    );
    let limits = &call.active.config.limits;
    let body = if upgrade {
        CountingBody::empty(call.guard.bytes_in())
    } else if http_body::Body::is_end_stream(&body) {
        CountingBody::ended(body)
    } else {
        CountingBody::new(body, call.guard.bytes_in(), limits.max_request_body)
            .idle_timeout(limits.body_idle_timeout)
    };
    Ok((Request::from_parts(parts, body), hop))
}

//! The egress stack: services calling out through the proxy. [`handle`] runs one request
//! through these phases, in order, over one per-call state ([`Call`]):
//!
//! 1. **begin** ([`begin`]): the call's record and its guard;
//! 2. **identify** ([`identify`]): the source service ([`identity`]: certificate, else
//!    `Proxy-Authorization`, else source network);
//! 3. **destination** ([`destination`]): the authority parsed and normalised (numeric IPv4
//!    forms become addresses);
//! 4. **judge** ([`judge`]): the name resolved once ([`resolve`]) and every address checked
//!    against the enclave policy ([`check`]); a refused call gets 403 (the rule and reason, no
//!    address) and is recorded as blocked (with the address);
//! 5. **connect** ([`connect`]): to exactly the address that was checked ([`dial`]), a forward
//!    request ([`forward`], judged with the request rules too, sent over a kept-alive
//!    connection to that same address and host when one is idle in its [`pool`]), a CONNECT
//!    tunnel ([`tunnel`], which reads the TLS ClientHello's server name before
//!    passing the client's bytes on), or, for a host listed in `egress.inspect.hosts`, an
//!    inspected tunnel ([`inspect`]: TLS terminated with a leaf from the inspection CA, each
//!    request inside judged and recorded);
//! 6. **respond** ([`respond`]): the destination's response, or the tunnel's 200; any error
//!    becomes a response at the one answer path, [`crate::errors::answer`]. The record is
//!    finished when the response body or the tunnel ends.

pub mod inspect;
pub mod sni;
pub mod transparent;
mod tunnel;

pub use crate::enclave::{identity, resolve, EgressRuntime, UNKNOWN_SOURCE};

use crate::errors::{answer, ProxyError};
use crate::record::{
    CallGuard, CallRecord, CountingBody, Direction, Protocol, RecordedBody, ResponseBody,
};
use crate::state::{Active, Shared};
use crate::trace::{self, TraceContext};
use crate::wire::headers;

type ConnInfo = crate::wire::ConnInfo<crate::clients::ConnFlags>;
use crate::h1pool::{self, Conn, Http1Client};
use crate::record::ClientSending;
use crate::server::RequestBody;
use crate::upstream::forward_pool::ForwardPool;
use crate::upstream::UpstreamBody;
use crate::wire::next_hop::NextHop;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Version};
use hyper_util::rt::TokioIo;
use sightline_policy::{Decision, Host};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Serves one egress request (absolute-form or CONNECT). Never fails: errors become responses.
pub async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<RequestBody>,
) -> Response<RecordedBody> {
    let active = shared.active();
    let (guard, trace, request_id) = begin(&shared, &active, &conn, &req);
    let Some(rt) = active.egress.as_ref() else {
        return answer_error(ProxyError::ShuttingDown, guard, &request_id);
    };
    let mut call = Call {
        rt,
        guard,
        trace,
        request_id,
        max_body: active.config.limits.max_request_body,
    };
    let ids = call.trace.log_ids(&call.request_id);
    let result = trace::in_call(ids, async {
        let service = identify(&mut call, &conn, &req)?;
        crate::inbound::limits(&req, &active.config.limits)?;
        let dest = destination(&mut call, &req)?;
        let addr = judge(&mut call, service.as_deref(), &dest, &req).await?;
        connect(&mut call, dest, addr, req).await
    })
    .await;
    respond(call, result, &shared, &active)
}

/// One egress call in flight: the policy in force, the record's guard, the trace context.
struct Call<'a> {
    rt: &'a EgressRuntime,
    guard: CallGuard,
    trace: TraceContext,
    request_id: trace::RequestId,
    /// `limits.max_request_body`, enforced on a forwarded request's body as it streams.
    max_body: Option<u64>,
}

/// Starts the call: its record and guard, counted as an unknown source until identified.
fn begin(
    shared: &Shared,
    active: &Active,
    conn: &ConnInfo,
    req: &Request<RequestBody>,
) -> (CallGuard, TraceContext, trace::RequestId) {
    let trace = TraceContext::from_headers(req.headers(), active.config.telemetry.b3);
    let request_id = trace::RequestId::new();
    let path = if req.method() == Method::CONNECT {
        (String::new(), false)
    } else {
        crate::record::cap_path(req.uri().path(), active.config.recording.max_path_bytes)
    };
    let host = req.uri().host().unwrap_or("").to_ascii_lowercase();
    let caller = (conn.peer, conn.identity.clone(), conn.tls);
    let record = CallRecord::begin(
        Direction::Egress,
        req,
        &trace,
        &request_id,
        caller,
        host,
        path,
    );
    let counters = match &active.egress {
        Some(rt) => rt.unknown_counters(),
        None => active.unrouted.clone(),
    };
    let guard = CallGuard::start(
        record,
        shared.recorder.clone(),
        counters,
        conn.activity.clone(),
    );
    (guard, trace, request_id)
}

/// Who is calling out ([`identity`]); the call counts toward that service.
fn identify(
    call: &mut Call<'_>,
    conn: &ConnInfo,
    req: &Request<RequestBody>,
) -> Result<Option<Arc<str>>, ProxyError> {
    let rt = call.rt;
    let service = identity::identify(rt, conn.peer.ip(), conn.identity.as_deref(), req.headers())?;
    call.guard.set_counters(rt.counters_for(service.as_ref()));
    if let Some(rec) = call.guard.rec() {
        rec.service = service.clone();
    }
    Ok(service)
}

/// Where the call goes: the destination host (numeric IPv4 forms as addresses) and port.
struct Destination {
    host: Host,
    port: u16,
    /// The authority as asked for, sent on as `Host` by a forward request.
    authority: String,
    /// A CONNECT tunnel, not a forward request.
    connect: bool,
}

/// Parses and normalises the destination authority.
fn destination(call: &mut Call<'_>, req: &Request<RequestBody>) -> Result<Destination, ProxyError> {
    let connect = req.method() == Method::CONNECT;
    let authority = req
        .uri()
        .authority()
        .ok_or(ProxyError::BadRequest(
            "egress requests need an absolute URI or CONNECT host:port",
        ))?
        .as_str()
        .to_owned();
    if !connect && req.uri().scheme() != Some(&http::uri::Scheme::HTTP) {
        return Err(ProxyError::BadRequest(
            "only http:// is forwarded; use CONNECT for TLS",
        ));
    }
    let default_port = if connect { 443 } else { 80 };
    let (host, port) = sightline_policy::parse_authority(&authority, default_port)
        .map_err(|_| ProxyError::BadRequest("invalid destination host"))?;
    if let Some(rec) = call.guard.rec() {
        rec.host = host.to_string();
        rec.dest_port = Some(port);
    }
    Ok(Destination {
        host,
        port,
        authority,
        connect,
    })
}

/// Resolves the name once and checks every address against the enclave policy; returns the
/// address to dial, the one that was checked.
async fn judge(
    call: &mut Call<'_>,
    service: Option<&str>,
    dest: &Destination,
    req: &Request<RequestBody>,
) -> Result<SocketAddr, ProxyError> {
    let ips = call
        .rt
        .resolver
        .resolve(&dest.host)
        .await
        .map_err(|e| ProxyError::Resolve(e.to_string()))?;
    // A forward request is judged with the request rules too; a CONNECT on its own (request
    // rules are judged per request inside an inspected tunnel).
    let line = (!dest.connect).then(|| sightline_policy::RequestLine {
        method: req.method().as_str(),
        path: req.uri().path(),
    });
    let (host, port) = (&dest.host, dest.port);
    let ip = check(call.rt, service, host, &ips, port, line, &mut call.guard)?;
    let addr = SocketAddr::new(ip, port);
    if let Some(rec) = call.guard.rec() {
        rec.upstream = Some(Arc::from(addr.to_string()));
    }
    Ok(addr)
}

/// What the dialed destination carries next.
enum Outcome {
    Response(Response<UpstreamBody>),
    Tunnel(hyper::upgrade::OnUpgrade, TcpStream, Host),
    Inspect(hyper::upgrade::OnUpgrade, TcpStream, Host, SocketAddr),
}

/// A CONNECT becomes a tunnel (inspected when its host is listed) to the dialed address; a
/// forward request is sent.
async fn connect(
    call: &mut Call<'_>,
    dest: Destination,
    addr: SocketAddr,
    mut req: Request<RequestBody>,
) -> Result<Outcome, ProxyError> {
    if !dest.connect {
        let resp = forward(call, req, &dest, addr).await?;
        return Ok(Outcome::Response(resp));
    }
    let stream = dial(addr, call.rt.connect_timeout).await?;
    if let Some(rec) = call.guard.rec() {
        rec.protocol = Protocol::Tunnel;
        rec.status = Some(200);
    }
    let upgrade = hyper::upgrade::on(&mut req);
    if call
        .rt
        .inspector
        .as_ref()
        .is_some_and(|i| i.covers(&dest.host))
    {
        return Ok(Outcome::Inspect(upgrade, stream, dest.host, addr));
    }
    Ok(Outcome::Tunnel(upgrade, stream, dest.host))
}

/// The response to the caller: the destination's, the 200 of a tunnel (relayed, or inspected)
/// or the proxy's own answer.
fn respond(
    call: Call<'_>,
    result: Result<Outcome, ProxyError>,
    shared: &Shared,
    active: &Arc<Active>,
) -> Response<RecordedBody> {
    let Call {
        rt,
        guard,
        trace,
        request_id,
        ..
    } = call;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => return answer_error(err, guard, &request_id),
    };
    match outcome {
        Outcome::Response(resp) => {
            let (mut parts, body) = resp.into_parts();
            let h = &mut parts.headers;
            crate::wire::finish_response_headers(&mut parts.version, h, parts.status, &request_id);
            let body = RecordedBody::new(ResponseBody::Upstream(body), Some(guard))
                .idle_timeout(rt.body_idle_timeout);
            return Response::from_parts(parts, body);
        }
        Outcome::Inspect(upgrade, stream, host, addr) => {
            let client = inspect::ClientSide::Connect(upgrade);
            tokio::spawn(inspect::serve(
                client,
                inspect::Tunnel {
                    stream,
                    host,
                    addr,
                    guard,
                    trace,
                    active: active.clone(),
                    recorder: shared.recorder.clone(),
                    drain: shared.drain.subscribe(),
                },
            ));
        }
        Outcome::Tunnel(upgrade, stream, host) => {
            let limits = tunnel::TunnelTimeouts {
                idle: rt.idle_timeout,
                hello: rt.hello_timeout,
            };
            tokio::spawn(tunnel::relay(upgrade, stream, host, guard, limits));
        }
    }
    let mut resp = Response::new(RecordedBody::new(
        ResponseBody::Local(Default::default()),
        None,
    ));
    crate::wire::set_request_id(resp.headers_mut(), &request_id);
    resp
}

/// Records why the proxy answered (a refusal's detail, with the address, is already in the
/// record; the answer carries no address), then answers through the one answer path.
fn answer_error(err: ProxyError, mut guard: CallGuard, request_id: &str) -> Response<RecordedBody> {
    if let Some(rec) = guard.rec() {
        rec.status = Some(err.status().as_u16());
        rec.error = Some(err.code());
        if let ProxyError::EgressBlocked(_) = &err {
            rec.decision = Decision::Blocked;
            if rec.reason.is_empty() {
                rec.reason = err.to_string();
            }
        } else {
            rec.reason = err.to_string();
        }
    }
    let resp = answer(&err, request_id, |_| {}, false);
    resp.map(|b| RecordedBody::new(ResponseBody::Local(b), Some(guard)))
}

/// Checks every resolved address; all must pass. Returns the address to dial.
///
/// A refusal's detail, with the address it judged, goes to the record; the caller is told the
/// rule and reason only, so a 403 never reveals what a name resolved to.
fn check(
    rt: &EgressRuntime,
    service: Option<&str>,
    host: &Host,
    ips: &[IpAddr],
    port: u16,
    request: Option<sightline_policy::RequestLine<'_>>,
    guard: &mut CallGuard,
) -> Result<IpAddr, ProxyError> {
    let mut reported: Option<String> = None;
    let mut inside = true;
    for ip in ips {
        let refusal = if loops_back(&rt.enclave.own_addrs, *ip, port) {
            let detail =
                format!("{ip}: destination is Sightline's own listener (an address of this host)");
            let public = "destination is Sightline's own listener".to_owned();
            Some((rt.enclave.is_inside(*ip), detail, public))
        } else {
            let v = rt.enclave.decide_request(service, host, *ip, port, request);
            inside &= v.inside;
            match v.decision {
                Decision::Blocked | Decision::Limited => {
                    Some((v.inside, format!("{ip}: {}", v.reason), v.public_reason()))
                }
                Decision::Reported => {
                    reported.get_or_insert(v.reason);
                    None
                }
                Decision::Allowed => None,
            }
        };
        if let Some((inside, detail, public)) = refusal {
            if let Some(rec) = guard.rec() {
                rec.inside = Some(inside);
                rec.upstream = Some(Arc::from(SocketAddr::new(*ip, port).to_string()));
                rec.decision = Decision::Blocked;
                rec.reason = detail;
            }
            return Err(ProxyError::EgressBlocked(public));
        }
    }
    let ip = *ips
        .first()
        .ok_or_else(|| ProxyError::Resolve(format!("{host}: no addresses")))?;
    if let Some(rec) = guard.rec() {
        rec.inside = Some(inside);
        if let Some(reason) = reported {
            rec.decision = Decision::Reported;
            rec.reason = reason;
        }
    }
    Ok(ip)
}

/// Whether `ip:port` reaches one of the proxy's own wildcard listeners through an address of
/// this host (the policy already refuses loopback and the listeners' exact addresses). An
/// address is local exactly when a socket can bind to it; the check only runs for the port of
/// a wildcard listener.
fn loops_back(own: &[SocketAddr], ip: IpAddr, port: u16) -> bool {
    // Multicast and broadcast bind on Linux too; the policy refuses them anyway.
    let unicast = match ip {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    };
    unicast
        && own
            .iter()
            .any(|own| own.port() == port && own.ip().is_unspecified())
        && std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

async fn dial(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ProxyError> {
    // A refused connection is tried again, as the inbound stack's upstream connections are
    // (`upstream::REFUSED_RETRY_DELAYS`); always the same, checked address.
    let mut delays = crate::upstream::REFUSED_RETRY_DELAYS.iter();
    loop {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ProxyError::UpstreamConnectTimeout(timeout)),
            Ok(Err(e)) => match delays.next() {
                Some(delay) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep(*delay).await;
                }
                _ => return Err(ProxyError::UpstreamConnect(e.to_string())),
            },
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
        }
    }
}

/// Sends an absolute-form request in origin form to the checked address `addr`.
async fn forward(
    call: &mut Call<'_>,
    req: Request<RequestBody>,
    dest: &Destination,
    addr: SocketAddr,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let max_body = call.max_body;
    let idle = call.rt.body_idle_timeout;
    let (trace, request_id, guard) = (&call.trace, &call.request_id, &mut call.guard);
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    parts.uri = pq
        .parse()
        .map_err(|_| ProxyError::BadRequest("invalid request target"))?;
    let inbound_version = parts.version;
    parts.version = Version::HTTP_11;
    let h = &mut parts.headers;
    headers::strip_for_next_hop(h, false);
    headers::append_via(h, inbound_version);
    if let Ok(v) = HeaderValue::from_str(&dest.authority) {
        h.insert(header::HOST, v);
    }
    trace.propagate(h);
    crate::wire::set_request_id(h, request_id);
    let body =
        crate::record::CountingBody::new(body, guard.bytes_in(), max_body).idle_timeout(idle);
    let req = Request::from_parts(parts, body);
    let pool = call.rt.forward_pools.get(addr, &dest.host);
    let resp = send(call.rt, pool.as_ref(), addr, req).await?;
    let elapsed = call.guard.elapsed();
    if let Some(rec) = call.guard.rec() {
        rec.status = Some(resp.status().as_u16());
        rec.upstream_latency = Some(elapsed);
    }
    Ok(resp)
}

/// One exchange with `addr` over a connection idle in `pool`, else a new one, retried once on
/// a new connection to the same address as [`h1pool::exchange`] says. Each attempt has the
/// request timeout for its response head.
fn send<'a>(
    rt: &'a EgressRuntime,
    pool: Option<&'a Arc<ForwardPool>>,
    addr: SocketAddr,
    req: Request<CountingBody>,
) -> impl Future<Output = Result<Response<UpstreamBody>, ProxyError>> + Send + 'a {
    use futures_util::future::FutureExt;
    let dial = ForwardDial {
        rt,
        addr,
        sending: req.body().client_sending(),
    };
    let now = std::time::Instant::now();
    h1pool::exchange(pool.map(|p| &**p), dial, req, NextHop::none(), now).map(move |sent| {
        let (resp, conn) = sent?;
        Ok(resp.map(|body| match pool {
            Some(pool) => UpstreamBody::pooled(body, conn, pool.clone()),
            None => UpstreamBody::single(body, conn),
        }))
    })
}

/// How [`h1pool::exchange`] reaches a checked address.
struct ForwardDial<'a> {
    rt: &'a EgressRuntime,
    addr: SocketAddr,
    /// Whether the client is still sending, for naming a timeout's cause.
    sending: ClientSending,
}

impl h1pool::Dial<CountingBody> for ForwardDial<'_> {
    type Error = ProxyError;

    fn connect(&self) -> impl Future<Output = Result<Box<Conn<CountingBody>>, ProxyError>> + Send {
        open(self.rt, self.addr)
    }

    fn send<'c>(
        &'c self,
        conn: &'c mut Conn<CountingBody>,
    ) -> impl Future<Output = Result<h1pool::Sent<CountingBody>, ProxyError>> + Send + 'c {
        use futures_util::future::FutureExt;
        let (timeout, sending) = (self.rt.request_timeout, &self.sending);
        conn.sent_by(tokio::time::Instant::now() + timeout)
            .map(move |sent| sent.ok_or_else(|| crate::upstream::timed_out(timeout, sending)))
    }

    fn failed(&self, error: crate::server::BoxError) -> ProxyError {
        crate::upstream::request_body_fault(&*error)
            .unwrap_or_else(|| ProxyError::Upstream(error.to_string()))
    }
}

/// A new HTTP/1.1 connection to `addr`, with the client `runtime.upstream_http1` names.
async fn open(rt: &EgressRuntime, addr: SocketAddr) -> Result<Box<Conn<CountingBody>>, ProxyError> {
    let stream = dial(addr, rt.connect_timeout).await?;
    let io = hyper_rustls::MaybeHttpsStream::Http(TokioIo::new(stream));
    match rt.upstream_http1 {
        Http1Client::Native => Ok(Conn::native(io, rt.max_response_head)),
        Http1Client::Hyper => Conn::handshake(io)
            .await
            .map_err(|e| ProxyError::Upstream(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_loop_back_only_on_a_wildcard_listeners_port() {
        let own: Vec<SocketAddr> = vec![
            "0.0.0.0:3128".parse().unwrap(),
            "127.0.0.1:9900".parse().unwrap(),
        ];
        assert!(loops_back(&own, "127.0.0.3".parse().unwrap(), 3128));
        assert!(!loops_back(&own, "127.0.0.3".parse().unwrap(), 3129));
        // Binding to an address this host does not have fails without sending anything.
        assert!(!loops_back(&own, "192.0.2.1".parse().unwrap(), 3128));
        assert!(
            !loops_back(&own, "127.0.0.3".parse().unwrap(), 9900),
            "exact listeners are the policy's job"
        );
    }
}

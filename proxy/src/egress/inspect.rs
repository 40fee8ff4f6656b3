//! An inspected CONNECT tunnel: the enclave has allowed the dialed address and the 200 is sent;
//! from there, in order:
//!
//! 1. the client's ClientHello is read (server name, ALPN offers);
//! 2. Sightline's own TLS to the dialed address is opened, offering the client's ALPN
//!    protocols and always verifying the destination's certificate for the CONNECT host
//!    (`egress.inspect.upstream_ca`, else the system's roots);
//! 3. the client's handshake is completed with a leaf for the CONNECT host signed by the
//!    inspection CA, offering only the protocol the destination chose (ALPN passed through);
//! 4. HTTP/1.1 or HTTP/2 is served inside: each request is judged by the request rules
//!    (`methods`, `paths`), forwarded, and recorded as its own egress call (`inspected`).
//!
//! A destination whose TLS fails gets no request: every request inside is answered 502
//! `upstream_tls` and recorded. A client that refuses the leaf (it does not trust the CA) ends
//! the tunnel with the failure on the CONNECT's record.

use super::{answer_error, EgressRuntime};
pub use crate::enclave::Inspector;
use crate::errors::ProxyError;
use crate::record::{
    CallGuard, CallRecord, CountingBody, Protocol, RecordedBody, Recorder, ResponseBody,
    ServiceCounters,
};
use crate::runtime::Active;
use crate::server::{serve_connection, ConnActivity, ConnLimits};
use crate::trace::{self, TraceContext};
use http::header::{self, HeaderValue};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sightline_certs::rustls;
use sightline_certs::{ALPN_H1, ALPN_H2};
use sightline_policy::{Decision, Host, RequestLine};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// One inspected tunnel, as `handle` hands it over.
pub(super) struct Tunnel {
    pub upgrade: OnUpgrade,
    pub stream: TcpStream,
    pub host: Host,
    pub addr: SocketAddr,
    pub guard: CallGuard,
    pub trace: TraceContext,
    pub active: Arc<Active>,
    pub recorder: Arc<Recorder>,
}

/// What each request inside the tunnel shares.
struct Inner {
    activity: Arc<ConnActivity>,
    active: Arc<Active>,
    recorder: Arc<Recorder>,
    counters: Arc<ServiceCounters>,
    /// The CONNECT's record: source, service, destination fields are copied from it.
    template: CallRecord,
    trace: TraceContext,
    host: Host,
    addr: SocketAddr,
    upstream: Result<Sender, String>,
}

enum Sender {
    H1(Mutex<hyper::client::conn::http1::SendRequest<CountingBody>>),
    H2(hyper::client::conn::http2::SendRequest<CountingBody>),
}

pub(super) async fn serve(t: Tunnel) {
    let Tunnel {
        upgrade,
        stream,
        host,
        addr,
        mut guard,
        trace,
        active,
        recorder,
    } = t;
    let Some(rt) = active.egress.as_ref() else {
        return;
    };
    let Some(inspector) = rt.inspector.as_ref() else {
        return;
    };
    let fail = |guard: &mut CallGuard, code: &'static str, reason: String| {
        if let Some(rec) = guard.rec() {
            rec.error = Some(code);
            rec.reason = if rec.reason.is_empty() {
                reason
            } else {
                format!("{}; {reason}", rec.reason)
            };
        }
    };
    let client = match upgrade.await {
        Ok(u) => TokioIo::new(u),
        Err(e) => return fail(&mut guard, "tunnel_failed", format!("CONNECT upgrade: {e}")),
    };
    let Host::Name(name) = &host else { return };
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), client);
    let start = match tokio::time::timeout(rt.hello_timeout, acceptor).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return fail(
                &mut guard,
                "client_tls",
                format!("no readable TLS ClientHello: {e}"),
            )
        }
        Err(_) => {
            return fail(
                &mut guard,
                "client_tls",
                format!("no TLS ClientHello within {:?}", rt.hello_timeout),
            )
        }
    };
    let hello = start.client_hello();
    let sni = hello.server_name().map(str::to_owned);
    let offered: Vec<Vec<u8>> = hello
        .alpn()
        .map(|it| {
            it.filter(|p| *p == ALPN_H2 || *p == ALPN_H1)
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default();
    super::tunnel::note_sni(&mut guard, &host, sni);

    // The destination first: its ALPN choice is what the client is offered.
    let upstream = connect_upstream(inspector, name, stream, &offered, rt.connect_timeout).await;
    let (sender, chosen) = match upstream {
        Ok((tls, alpn)) => match handshake(tls, alpn.as_deref()).await {
            Ok(s) => (Ok(s), alpn),
            Err(e) => (Err(e), None),
        },
        Err(e) => (Err(e), None),
    };
    // With no protocol chosen by the destination, HTTP/1.1 if the client offered it.
    let alpn = match chosen {
        Some(p) => vec![p],
        None if offered.iter().any(|p| p == ALPN_H1) => vec![ALPN_H1.to_vec()],
        None => Vec::new(),
    };
    let leaf = match inspector.leaves.leaf(name) {
        Ok(l) => l,
        Err(e) => return fail(&mut guard, "inspect_failed", format!("minting a leaf: {e}")),
    };
    let mut server = match rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneLeaf(leaf))),
        Err(e) => return fail(&mut guard, "inspect_failed", e.to_string()),
    };
    server.alpn_protocols = alpn;
    let client =
        match tokio::time::timeout(rt.hello_timeout, start.into_stream(Arc::new(server))).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return fail(
                    &mut guard,
                    "client_tls",
                    format!(
                        "the client's TLS handshake with the inspection certificate failed \
                     (does it trust the inspection CA?): {e}"
                    ),
                )
            }
            Err(_) => {
                return fail(
                    &mut guard,
                    "client_tls",
                    format!(
                        "the client's TLS handshake took over {:?}",
                        rt.hello_timeout
                    ),
                )
            }
        };
    if let Err(e) = &sender {
        if let Some(rec) = guard.rec() {
            rec.reason = format!("destination TLS failed: {e}");
            rec.error = Some("upstream_tls");
        }
    }
    let template = guard.rec().map(|r| r.clone());
    let Some(template) = template else { return };
    let service = template.service.clone();
    // The inner connection has its own activity, so it idles out after egress.idle_timeout
    // with no request in flight; the CONNECT's record keeps the egress connection counted.
    let activity = Arc::new(ConnActivity::default());
    let inner = Arc::new(Inner {
        activity: activity.clone(),
        counters: rt.counters_for(service.as_ref()),
        active: active.clone(),
        recorder,
        template,
        trace,
        host: host.clone(),
        addr,
        upstream: sender,
    });
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let inner = inner.clone();
        async move { Ok::<_, Infallible>(request(inner, req).await) }
    });
    let l = &active.config.limits;
    let limits = ConnLimits {
        header_read_timeout: rt.hello_timeout,
        idle_timeout: rt.idle_timeout,
        max_head_bytes: l.max_header_bytes + l.max_uri_bytes + 1024,
        write_stall_timeout: l.body_idle_timeout,
        drain_idle_grace: l.drain_idle_grace,
    };
    // Tunnels are not cut by a drain; this sender, never used, keeps the connection from
    // reading its absence as one.
    let (_open, never) = tokio::sync::watch::channel(false);
    serve_connection(client, svc, limits, &activity, never).await;
    guard.complete();
}

/// Opens TLS to the destination, verifying its certificate for `name`; returns the stream and
/// the protocol it chose.
async fn connect_upstream(
    inspector: &Inspector,
    name: &str,
    stream: TcpStream,
    offered: &[Vec<u8>],
    timeout: Duration,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>), String> {
    let mut config = (*inspector.upstream).clone();
    config.alpn_protocols = if offered.is_empty() {
        vec![ALPN_H1.to_vec()]
    } else {
        offered.to_vec()
    };
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
        .map_err(|e| format!("{name}: {e}"))?;
    let connect = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, stream);
    let tls = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("handshake took over {timeout:?}")),
    };
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok((tls, alpn))
}

async fn handshake(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    alpn: Option<&[u8]>,
) -> Result<Sender, String> {
    let io = TokioIo::new(tls);
    if alpn == Some(ALPN_H2) {
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "inspected destination connection ended");
            }
        });
        Ok(Sender::H2(send))
    } else {
        let (send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "inspected destination connection ended");
            }
        });
        Ok(Sender::H1(Mutex::new(send)))
    }
}

/// One request inside the tunnel: judged, forwarded, recorded.
async fn request(inner: Arc<Inner>, req: Request<Incoming>) -> Response<RecordedBody> {
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
    rec.request_id = request_id.clone();
    rec.trace_id = trace.trace_id;
    rec.span_id = trace.span_id;
    rec.parent_span_id = trace.parent_id;
    rec.trace_flags = trace.flags;
    rec.start = SystemTime::now();
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
        rec,
        inner.recorder.clone(),
        inner.counters.clone(),
        inner.activity.clone(),
    );
    let Some(rt) = inner.active.egress.as_ref() else {
        return answer_error(ProxyError::ShuttingDown, guard, &request_id);
    };
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
                RecordedBody::new(ResponseBody::Upstream(body), Some(guard)),
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
    crate::wire::headers::strip_hop_by_hop(h, false);
    crate::wire::headers::strip_spoofable(h);
    crate::wire::headers::append_via(h, parts.version);
    trace.propagate(h);
    crate::wire::set_request_id(h, request_id);
    let body = CountingBody::new(body, guard.bytes_in(), None);
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
        .map_err(|e| ProxyError::Upstream(e.to_string()))?;
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
    let stream = super::dial(inner.addr, rt.connect_timeout).await?;
    let h1 = [ALPN_H1.to_vec()];
    let (tls, _) = connect_upstream(inspector, name, stream, &h1, rt.connect_timeout)
        .await
        .map_err(ProxyError::UpstreamTls)?;
    match handshake(tls, None).await.map_err(ProxyError::Upstream)? {
        Sender::H1(send) => Ok(send.into_inner()),
        Sender::H2(_) => Err(ProxyError::Upstream("unexpected HTTP/2".into())),
    }
}

/// A certificate resolver that always answers with one leaf.
#[derive(Debug)]
struct OneLeaf(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneLeaf {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

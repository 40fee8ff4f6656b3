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

use super::EgressRuntime;
pub use crate::enclave::Inspector;

mod request;
use crate::record::{CallGuard, CallRecord, CountingBody, ServiceCounters};
use crate::recorder::Recorder;
use crate::server::{serve_connection, ConnActivity, ConnCtx, ConnLimits};
use crate::state::Active;
use crate::trace::TraceContext;
use http::Request;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sightline_certs::rustls;
use sightline_certs::{ALPN_H1, ALPN_H2};
use sightline_policy::Host;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The client's side of an inspected tunnel before its TLS: a CONNECT's upgrade, or a
/// transparent connection (its first bytes, already read, handed out again).
pub(super) enum ClientSide {
    Connect(OnUpgrade),
    Transparent(super::transparent::Held),
}

/// One inspected tunnel, as `handle` (or the transparent listener) hands it over.
pub(super) struct Tunnel {
    pub stream: TcpStream,
    pub host: Host,
    pub addr: SocketAddr,
    pub guard: CallGuard,
    pub trace: TraceContext,
    pub active: Arc<Active>,
    pub recorder: Arc<Recorder>,
    /// Turns true when Sightline drains ([`crate::state::Shared::drain`]).
    pub drain: tokio::sync::watch::Receiver<bool>,
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

/// Why an inspected tunnel ended early: the error code and reason for the CONNECT's record,
/// or nothing to record (a CONNECT to an address, which is never inspected).
type Ended = Option<(&'static str, String)>;

/// Runs one inspected tunnel: the client's hello, the destination's TLS, the client's
/// handshake with a leaf for the CONNECT host, then HTTP served inside.
pub(super) async fn serve(client: ClientSide, mut t: Tunnel) {
    match client {
        ClientSide::Connect(upgrade) => match upgrade.await {
            Ok(u) => run(TokioIo::new(u), t).await,
            Err(e) => fail(
                &mut t.guard,
                "tunnel_failed",
                format!("CONNECT upgrade: {e}"),
            ),
        },
        ClientSide::Transparent(held) => run(held, t).await,
    }
}

/// [`serve`] once the client's byte stream is at hand.
async fn run<C>(client: C, t: Tunnel)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Tunnel {
        stream,
        host,
        addr,
        mut guard,
        trace,
        active,
        recorder,
        drain,
    } = t;
    let Some(rt) = active.egress.as_ref() else {
        return;
    };
    let Some(inspector) = rt.inspector.as_ref() else {
        return;
    };
    let opened = open(rt, inspector, client, stream, &host, &mut guard).await;
    let (client, sender) = match opened {
        Ok(pair) => pair,
        Err(Some((code, reason))) => return fail(&mut guard, code, reason),
        Err(None) => return,
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
        async move { Ok::<_, Infallible>(request::request(inner, req).await) }
    });
    let l = &active.config.limits;
    let limits = ConnLimits {
        header_read_timeout: rt.hello_timeout,
        idle_timeout: rt.idle_timeout,
        max_head_bytes: l.max_header_bytes + l.max_uri_bytes + 1024,
        write_stall_timeout: l.body_idle_timeout,
        drain_idle_grace: l.drain_idle_grace,
        http1: crate::config::Http1Server::Hyper,
        refuse: crate::inbound::refused_head,
    };
    // A drain ends the tunnel as it ends a listener's connection: the request in flight is
    // answered (`Connection: close`, or GOAWAY over HTTP/2), an idle tunnel closes after
    // `limits.drain_idle_grace`.
    let ctx = ConnCtx {
        io: client,
        service: svc,
        limits,
        activity,
        shutdown: drain,
    };
    serve_connection(ctx).await;
    guard.complete();
}

fn fail(guard: &mut CallGuard, code: &'static str, reason: String) {
    if let Some(rec) = guard.rec() {
        rec.error = Some(code);
        rec.reason = if rec.reason.is_empty() {
            reason
        } else {
            format!("{}; {reason}", rec.reason)
        };
    }
}

/// The client's side of an inspected tunnel: its TLS terminated with the inspection CA's leaf.
type ClientTls<C> = tokio_rustls::server::TlsStream<C>;

/// Reads the client's ClientHello, opens the destination's TLS (its ALPN choice is what the
/// client is offered), then completes the client's handshake with a leaf for the CONNECT
/// host. A destination whose TLS failed still gets the client's handshake: each request
/// inside is then answered 502.
async fn open<C>(
    rt: &EgressRuntime,
    inspector: &Inspector,
    client: C,
    stream: TcpStream,
    host: &Host,
    guard: &mut CallGuard,
) -> Result<(ClientTls<C>, Result<Sender, String>), Ended>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let Host::Name(name) = host else {
        return Err(None);
    };
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), client);
    let start = match tokio::time::timeout(rt.hello_timeout, acceptor).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let why = format!("no readable TLS ClientHello: {e}");
            return Err(Some(("client_tls", why)));
        }
        Err(_) => {
            let why = format!("no TLS ClientHello within {:?}", rt.hello_timeout);
            return Err(Some(("client_tls", why)));
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
    super::tunnel::note_sni(guard, host, sni);

    // The destination first: its ALPN choice is what the client is offered.
    let upstream = connect_upstream(inspector, name, stream, &offered, rt.connect_timeout).await;
    let (sender, chosen) = match upstream {
        Ok((tls, alpn)) => match handshake(tls, alpn.as_deref()).await {
            Ok(s) => (Ok(s), alpn),
            Err(e) => (Err(e), None),
        },
        Err(e) => (Err(e), None),
    };
    let server = leaf_config(inspector, name, chosen, &offered)?;
    let client = match tokio::time::timeout(rt.hello_timeout, start.into_stream(server)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let why = format!(
                "the client's TLS handshake with the inspection certificate failed \
                 (does it trust the inspection CA?): {e}"
            );
            return Err(Some(("client_tls", why)));
        }
        Err(_) => {
            let why = format!(
                "the client's TLS handshake took over {:?}",
                rt.hello_timeout
            );
            return Err(Some(("client_tls", why)));
        }
    };
    Ok((client, sender))
}

/// The client side's TLS: a leaf for `name` from the inspection CA, offering the protocol the
/// destination chose (with none chosen, HTTP/1.1 if the client offered it).
fn leaf_config(
    inspector: &Inspector,
    name: &str,
    chosen: Option<Vec<u8>>,
    offered: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>, Ended> {
    let alpn = match chosen {
        Some(p) => vec![p],
        None if offered.iter().any(|p| p == ALPN_H1) => vec![ALPN_H1.to_vec()],
        None => Vec::new(),
    };
    let leaf = match inspector.leaves.leaf(name) {
        Ok(l) => l,
        Err(e) => return Err(Some(("inspect_failed", format!("minting a leaf: {e}")))),
    };
    let mut server = match rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(OneLeaf(leaf))),
        Err(e) => return Err(Some(("inspect_failed", e.to_string()))),
    };
    server.alpn_protocols = alpn;
    Ok(Arc::new(server))
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

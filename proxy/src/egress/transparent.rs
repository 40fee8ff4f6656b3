//! Transparent egress: connections that nftables or iptables `REDIRECT` sent to the
//! transparent listener (`egress.transparent.listen`). The caller knows nothing of the proxy,
//! so there is no proxy request: each connection goes through these phases, in order:
//!
//! 1. **original destination** ([`original_destination`]): the address the caller dialed, from
//!    the connection tracking of the kernel (`SO_ORIGINAL_DST`, `IP6T_SO_ORIGINAL_DST`);
//! 2. **opening** ([`opening`]): the caller's first bytes are read and held, until they are a
//!    whole TLS ClientHello (its server name) or an HTTP/1 request head (its `Host`), within the
//!    hello timeout and a size bound; nothing reaches the destination yet. An opening that is
//!    neither closes the connection (fail closed);
//! 3. **identify**: the source network names the service (no credentials, no certificate);
//! 4. **judge** ([`judge`]): the enclave decides on the original destination address. The
//!    name the caller claimed is used for host rules only when it resolves to that address;
//!    otherwise the connection is judged as the bare address (a caller cannot borrow an allowed
//!    name to reach another address), and the mismatch is noted on the record;
//! 5. **dial**: exactly the original destination;
//! 6. **carry**: TLS to a host listed in `egress.inspect.hosts` is inspected as a CONNECT to
//!    it would be (each request recorded); anything else is relayed as bytes, the held opening
//!    first. The connection's record has protocol `transparent`.
//!
//! Only protocols where the caller speaks first (TLS, HTTP) fit here: the opening waits for the
//! caller's first bytes.

use super::inspect;
use crate::errors::ProxyError;
use crate::record::{CallGuard, CallRecord, Direction, Protocol};
use crate::server::ConnActivity;
use crate::state::Shared;
use crate::trace::{self, TraceContext};
use http::Method;
use sightline_policy::{Decision, Host};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::sni::{Hello, HelloReader};

/// The address the caller dialed before the kernel redirected its connection here.
///
/// Read from connection tracking through `getsockopt` (rustix's safe wrappers): `SO_ORIGINAL_DST`
/// for IPv4 (also for IPv4 callers of a dual-stack listener) and `IP6T_SO_ORIGINAL_DST` for IPv6.
/// A connection that was not redirected has its own local address as original destination,
/// which the enclave refuses as Sightline's own listener.
pub fn original_destination(stream: &TcpStream) -> io::Result<SocketAddr> {
    let local = stream.local_addr()?;
    let v4 = match local.ip() {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    };
    if v4 {
        rustix::net::sockopt::ip_original_dst(stream)
            .map(SocketAddr::V4)
            .map_err(io::Error::from)
    } else {
        rustix::net::sockopt::ipv6_original_dst(stream)
            .map(SocketAddr::V6)
            .map_err(io::Error::from)
    }
}

/// What the caller's first bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A whole TLS ClientHello, with its server name if it has one.
    Tls(Option<String>),
    /// An HTTP/1 request head: its method, target path and `Host` (as sent).
    Http {
        method: Method,
        path: String,
        host: Option<String>,
    },
    /// Neither, or not whole in time or within the size bound: the connection is refused.
    Unreadable(String),
    /// The caller closed (or went silent) before sending anything.
    Silent,
}

/// Reads the caller's first bytes until they decide the [`Opening`]; returns it with the bytes
/// read (to be sent on first). At most `max_head` bytes of an HTTP head, [`super::sni::MAX_HELLO`]
/// of a ClientHello; `within` bounds the whole read.
pub(crate) async fn opening<R: AsyncRead + Unpin>(
    io: &mut R,
    max_head: usize,
    within: Duration,
) -> (Opening, Vec<u8>) {
    let mut held = Vec::new();
    let read = read_opening(io, max_head, &mut held);
    match tokio::time::timeout(within, read).await {
        Ok(o) => (o, held),
        Err(_) if held.is_empty() => (Opening::Silent, held),
        Err(_) => (
            Opening::Unreadable(format!("the opening was not whole within {within:?}")),
            held,
        ),
    }
}

async fn read_opening<R: AsyncRead + Unpin>(
    io: &mut R,
    max_head: usize,
    held: &mut Vec<u8>,
) -> Opening {
    let mut reader = HelloReader::new();
    let mut tls = true;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match io.read(&mut buf).await {
            Ok(0) | Err(_) if held.is_empty() => return Opening::Silent,
            Ok(0) | Err(_) => {
                return Opening::Unreadable("the caller closed before its opening ended".into())
            }
            Ok(n) => n,
        };
        held.extend_from_slice(&buf[..n]);
        if tls {
            match reader.feed(&buf[..n]) {
                Hello::Incomplete => continue,
                Hello::Tls(sni) => return Opening::Tls(sni),
                Hello::Unreadable(why) => {
                    return Opening::Unreadable(format!("TLS ClientHello unreadable: {why}"))
                }
                Hello::NotTls => tls = false,
            }
        }
        if let Some(end) = find_head_end(held) {
            return parse_head(&held[..end]);
        }
        if held.len() > max_head {
            return Opening::Unreadable(format!(
                "neither TLS nor an HTTP request head within {max_head} bytes"
            ));
        }
    }
}

/// The length of the request head (through its blank line), once it is whole.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses an HTTP/1 request head: the request line and a single `Host`.
pub(crate) fn parse_head(head: &[u8]) -> Opening {
    let bad = |why: &str| Opening::Unreadable(format!("not an HTTP/1 request head: {why}"));
    let Ok(text) = std::str::from_utf8(head) else {
        return bad("not UTF-8");
    };
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad("malformed request line");
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return bad("unsupported version");
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return bad("invalid method");
    };
    let path = match target.parse::<http::Uri>() {
        Ok(uri) if target.starts_with('/') || uri.scheme().is_some() => uri.path().to_owned(),
        _ => return bad("invalid request target"),
    };
    let mut host = None;
    for header in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = header.split_once(':') else {
            return bad("malformed header line");
        };
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return bad("more than one Host");
            }
            host = Some(value.trim().to_owned());
        }
    }
    Opening::Http { method, path, host }
}

/// A connection whose first bytes were already read: they are handed out again first.
#[derive(Debug)]
pub struct Held {
    head: Vec<u8>,
    pos: usize,
    io: TcpStream,
}

impl Held {
    fn new(head: Vec<u8>, io: TcpStream) -> Held {
        Held { head, pos: 0, io }
    }
}

impl AsyncRead for Held {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.head.len() {
            let n = (this.head.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.head[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.head.len() {
                this.head = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves one redirected connection from `peer`; `activity` keeps it counted on the egress
/// connections until its record is finished.
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    activity: Arc<ConnActivity>,
) {
    let _ = stream.set_nodelay(true);
    let active = shared.active();
    let Some(rt) = active.egress.as_ref() else {
        return;
    };
    let original = original_destination(&stream);
    let limits = &active.config.limits;
    let max_head = limits.max_header_bytes + limits.max_uri_bytes + 1024;
    let (opening, held) = opening(&mut stream, max_head, rt.hello_timeout).await;
    if opening == Opening::Silent {
        return;
    }
    let (method, path, claimed, sni) = match &opening {
        Opening::Tls(sni) => (Method::CONNECT, String::new(), sni.clone(), sni.clone()),
        Opening::Http { method, path, host } => (method.clone(), path.clone(), host.clone(), None),
        Opening::Unreadable(_) | Opening::Silent => (Method::CONNECT, String::new(), None, None),
    };
    let trace = TraceContext::from_headers(&http::HeaderMap::new(), active.config.telemetry.b3);
    let request_id = trace::RequestId::new();
    let req = http::Request::builder()
        .method(method)
        .body(())
        .unwrap_or_default();
    let path = crate::record::cap_path(&path, active.config.recording.max_path_bytes);
    // The name the caller claims, normalised as a CONNECT host is (its port is not used: the
    // original destination's is).
    let claimed = claimed
        .as_deref()
        .and_then(|c| sightline_policy::parse_authority(c, 443).ok())
        .map(|(h, _)| h);
    let mut record = CallRecord::begin(
        Direction::Egress,
        &req,
        &trace,
        &request_id,
        (peer, None, false),
        claimed.as_ref().map_or_else(String::new, Host::to_string),
        path,
    );
    // Just built, so the record's only owner: nothing is copied.
    let rec = Arc::make_mut(&mut record);
    rec.protocol = Protocol::Transparent;
    rec.sni = sni;
    let mut guard = CallGuard::start(
        record,
        shared.recorder.clone(),
        rt.unknown_counters(),
        activity,
    );
    let service = match super::identity::identify(rt, peer.ip(), None, &http::HeaderMap::new()) {
        Ok(s) => s,
        Err(e) => return refuse(&mut guard, stream, &opening, e).await,
    };
    guard.set_counters(rt.counters_for(service.as_ref()));
    if let Some(rec) = guard.rec() {
        rec.service = service.clone();
    }
    let original = match original {
        Ok(a) => SocketAddr::new(sightline_policy::canonical(a.ip()), a.port()),
        Err(e) => {
            if let Some(rec) = guard.rec() {
                rec.error = Some("transparent_failed");
                rec.reason = format!("no original destination (not redirected?): {e}");
            }
            return;
        }
    };
    if let Some(rec) = guard.rec() {
        rec.dest_port = Some(original.port());
        rec.upstream = Some(Arc::from(original.to_string()));
    }
    if let Opening::Unreadable(why) = &opening {
        if let Some(rec) = guard.rec() {
            rec.error = Some("tunnel_refused");
            rec.decision = Decision::Blocked;
            rec.reason = why.clone();
        }
        return;
    }
    let host = match judge(rt, service.as_deref(), claimed, original, &mut guard).await {
        Ok(h) => h,
        Err(e) => return refuse(&mut guard, stream, &opening, e).await,
    };
    let upstream = match super::dial(original, rt.connect_timeout).await {
        Ok(s) => s,
        Err(e) => return refuse(&mut guard, stream, &opening, e).await,
    };
    let client = Held::new(held, stream);
    let inspected = matches!(opening, Opening::Tls(_))
        && rt.inspector.as_ref().is_some_and(|i| i.covers(&host));
    if inspected {
        let tunnel = inspect::Tunnel {
            stream: upstream,
            host,
            addr: original,
            guard,
            trace,
            active: active.clone(),
            recorder: shared.recorder.clone(),
            drain: shared.drain.subscribe(),
        };
        drop(active);
        inspect::serve(inspect::ClientSide::Transparent(client), tunnel).await;
        return;
    }
    let idle = rt.idle_timeout;
    drop(active);
    relay(client, upstream, idle, guard).await;
}

/// Relays a judged connection: the held opening reaches the destination first (as the relay's
/// first bytes), then both ways until either side closes or nothing moves for `idle`.
async fn relay(client: Held, upstream: TcpStream, idle: Duration, mut guard: CallGuard) {
    let Held { head, pos, io } = client;
    let pending = head.get(pos..).unwrap_or_default().to_vec();
    crate::upstream::relay::recorded_tcp(
        crate::server::TcpSide::new(io, pending),
        upstream,
        idle,
        &mut guard,
        "transparent connection failed",
    )
    .await;
}

/// The enclave's decision on the original destination. Returns the host the connection is
/// known by: the claimed name when it resolves to the original address, else the address.
async fn judge(
    rt: &super::EgressRuntime,
    service: Option<&str>,
    claimed: Option<Host>,
    original: SocketAddr,
    guard: &mut CallGuard,
) -> Result<Host, ProxyError> {
    let ip = original.ip();
    let host = match claimed {
        Some(Host::Name(n)) => {
            let named = Host::Name(n);
            let resolved = rt.resolver.resolve(&named).await.unwrap_or_default();
            if resolved
                .iter()
                .any(|r| sightline_policy::canonical(*r) == ip)
            {
                named
            } else {
                if let Some(rec) = guard.rec() {
                    rec.reason = format!(
                        "{named} does not resolve to the original destination {ip}: judged as the address"
                    );
                }
                Host::Ip(ip)
            }
        }
        _ => Host::Ip(ip),
    };
    let noted = guard.rec().map(|r| std::mem::take(&mut r.reason));
    let checked = super::check(rt, service, &host, &[ip], original.port(), None, guard);
    if let (Some(note), Some(rec)) = (noted.filter(|n| !n.is_empty()), guard.rec()) {
        rec.reason = if rec.reason.is_empty() {
            note
        } else {
            format!("{}; {note}", rec.reason)
        };
    }
    checked.map(|_| host)
}

/// Records why the connection is refused; an HTTP caller is told so (the rule and reason, as a
/// CONNECT's 403 would; no address), a TLS caller's connection is closed.
async fn refuse(guard: &mut CallGuard, mut stream: TcpStream, opening: &Opening, err: ProxyError) {
    let status = err.status();
    if let Some(rec) = guard.rec() {
        rec.status = Some(status.as_u16());
        rec.error = Some(err.code());
        if let ProxyError::EgressBlocked(_) = &err {
            rec.decision = Decision::Blocked;
        }
        if rec.reason.is_empty() {
            rec.reason = err.to_string();
        }
    }
    if matches!(opening, Opening::Http { .. }) {
        let body =
            serde_json::json!({ "error": err.code(), "reason": err.to_string() }).to_string();
        let head = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nsightline-error: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            err.code(),
            body.len()
        );
        let write = async {
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            stream.shutdown().await
        };
        if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(5), write).await {
            guard.complete();
        }
    }
}

#[cfg(test)]
mod tests;

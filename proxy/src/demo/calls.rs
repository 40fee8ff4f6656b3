//! How the demo services call each other and out: through Sightline's inbound listener (kept
//! connections) and its egress listener (absolute-form requests), from their own addresses.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a demo service waits for a call it makes.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where Sightline listens, and the partners' addresses, once known.
pub(super) struct Links {
    pub inbound: SocketAddr,
    pub egress: Option<SocketAddr>,
    pub provider: SocketAddr,
    pub shipping: SocketAddr,
    /// TLS as the services see the partners: the payment provider through inspection (its
    /// leaf is from Sightline's inspection CA), the shipping partner end to end.
    pub tls: super::services::PartnerTls,
}

/// A service's client: every call leaves from the service's own loopback address.
pub(super) struct Caller {
    from: [u8; 4],
    passes: &'static [&'static str],
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Caller {
    /// A client calling from `from`, passing on the `passes` headers of the request it
    /// serves.
    pub fn new(from: [u8; 4], passes: &'static [&'static str]) -> Self {
        Self {
            from,
            passes,
            client: super::traffic::client(from),
        }
    }

    /// Calls `path` on another service through the inbound listener, passing on the headers
    /// this caller passes of the request it serves (`headers`). The status and body, or
    /// `None` when the call failed.
    pub async fn inbound(
        &self,
        inbound: SocketAddr,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Option<(StatusCode, Bytes)> {
        let req = super::services::forward(headers, self.passes, Request::builder())
            .method(method)
            .uri(format!("http://{inbound}{path}"))
            .header("host", "shop.demo.internal")
            .body(Full::new(body))
            .ok()?;
        let exchange = async {
            let resp = self.client.request(req).await.ok()?;
            let status = resp.status();
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange).await.ok()?
    }

    /// Calls a partner over HTTPS through the egress listener (a CONNECT to `host:port`, TLS
    /// verified with `tls`), with `auth` as `Proxy-Authorization` when given. The status, or
    /// `None` when there is no egress listener or the call failed.
    pub async fn egress(
        &self,
        links: &Links,
        (host, port): (&str, u16),
        request: (Method, &str),
        auth: Option<&str>,
        tls: &std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Option<StatusCode> {
        let proxy = (self.from, links.egress?);
        via_connect(proxy, (host, port), request, auth, tls.clone()).await
    }
}

/// A CONNECT to `host:port` through the egress proxy at `proxy` from `from` (with `auth` as
/// `Proxy-Authorization`), then TLS to `host` verified with `tls`, then one `method` request
/// for `path`: the status, if the exchange completed.
pub(super) async fn via_connect(
    (from, proxy): ([u8; 4], SocketAddr),
    (host, port): (&str, u16),
    (method, path): (Method, &str),
    auth: Option<&str>,
    tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
) -> Option<StatusCode> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::from((from, 0))).ok()?;
        let mut tcp = socket.connect(proxy).await.ok()?;
        let auth = auth.map_or(String::new(), |a| format!("Proxy-Authorization: {a}\r\n"));
        let connect =
            format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n");
        tcp.write_all(connect.as_bytes()).await.ok()?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            let mut b = [0u8; 1];
            if tcp.read(&mut b).await.ok()? == 0 {
                return None;
            }
            head.push(b[0]);
        }
        if !head.starts_with(b"HTTP/1.1 200") {
            return None;
        }
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned()).ok()?;
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .ok()?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .ok()?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let resp = send.send_request(req).await.ok()?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Some(status)
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange).await.ok()?
}

/// One absolute-form GET of `url` through the egress proxy at `proxy`, on a connection of its
/// own from `from`; the status, if the exchange completed.
pub(super) async fn via_egress(
    from: [u8; 4],
    proxy: SocketAddr,
    url: &str,
    auth: Option<&str>,
) -> Option<StatusCode> {
    let mut req = Request::builder().method(Method::GET).uri(url);
    if let Some(a) = auth {
        req = req.header("proxy-authorization", a);
    }
    let req = req.body(Full::new(Bytes::new())).ok()?;
    send_from(from, proxy, req).await
}

/// One HTTP/1.1 request to `to` on a fresh connection from the loopback address `src`; the
/// status, if the exchange completed within [`CALL_TIMEOUT`].
pub(super) async fn send_from(
    src: [u8; 4],
    to: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Option<StatusCode> {
    let exchange = async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::from((src, 0))).ok()?;
        let tcp = socket.connect(to).await.ok()?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .ok()?;
        tokio::spawn(conn);
        let resp = send.send_request(req).await.ok()?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Some(status)
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange).await.ok()?
}

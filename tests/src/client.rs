//! A small HTTP client for tests: HTTP/1.1, HTTP/2 prior knowledge, and TLS with a given CA
//! and optional client certificate, from the system's choice of local address or a given one.

use bytes::Bytes;
use futures_util::stream::StreamExt;
use http::{HeaderMap, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// A response with its body read in full.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Protocol version.
    pub version: Version,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Protocol and TLS settings for one connection.
#[derive(Clone, Default)]
pub struct Client {
    h2: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The local address connections are made from (a loopback address other than
    /// 127.0.0.1 is another client to the proxy); the system's choice when `None`.
    local: Option<IpAddr>,
}

/// A streamed request body: chunks sent through the channel.
pub type BodySender = tokio::sync::mpsc::Sender<Bytes>;

impl Client {
    /// HTTP/1.1 over plain TCP.
    pub fn http1() -> Self {
        Client::default()
    }

    /// HTTP/2 prior knowledge over plain TCP (h2c).
    pub fn h2c() -> Self {
        Client {
            h2: true,
            ..Client::default()
        }
    }

    /// TLS trusting `ca`, offering `h2` or `http/1.1` by ALPN, with an optional client certificate.
    pub fn tls(ca: &Path, h2: bool, client_cert: Option<(&Path, &Path)>) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for c in sightline_certs::load_certs(ca).unwrap() {
            roots.add(c).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut cfg = match client_cert {
            Some((cert, key)) => b
                .with_client_auth_cert(
                    sightline_certs::load_certs(cert).unwrap(),
                    sightline_certs::load_key(key).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![if h2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];
        Client {
            h2,
            tls: Some(Arc::new(cfg)),
            local: None,
        }
    }

    /// The same client, connecting from the local address `ip` (such as `127.0.0.2`).
    pub fn from(mut self, ip: IpAddr) -> Self {
        self.local = Some(ip);
        self
    }

    /// Sends one request on a new connection and reads the whole response.
    pub async fn send(&self, addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let resp = self.send_streaming(addr, req).await?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            version: parts.version,
        })
    }

    /// Sends one request on a new connection and returns the response with its body unread.
    pub async fn send_streaming<B>(
        &self,
        addr: SocketAddr,
        mut req: Request<B>,
    ) -> Result<http::Response<hyper::body::Incoming>, String>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // HTTP/1.1 requires Host; like every real client, send the address when none is set.
        if !self.h2 && !req.headers().contains_key(http::header::HOST) {
            if let Ok(v) = addr.to_string().parse() {
                req.headers_mut().insert(http::header::HOST, v);
            }
        }
        let tcp = match self.local {
            None => TcpStream::connect(addr).await,
            Some(ip) => {
                let socket = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }
                .map_err(|e| format!("socket: {e}"))?;
                socket
                    .bind(SocketAddr::new(ip, 0))
                    .map_err(|e| format!("bind {ip}: {e}"))?;
                socket.connect(addr).await
            }
        }
        .map_err(|e| format!("connect: {e}"))?;
        match &self.tls {
            None => self.handshake(tcp, req).await,
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("tls: {e}"))?;
                self.handshake(tls, req).await
            }
        }
    }

    async fn handshake<I, B>(
        &self,
        io: I,
        req: Request<B>,
    ) -> Result<http::Response<hyper::body::Incoming>, String>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let io = TokioIo::new(io);
        if self.h2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("h1 handshake: {e}"))?;
            tokio::spawn(conn.with_upgrades());
            send.send_request(req)
                .await
                .map_err(|e| format!("request: {e}"))
        }
    }

    /// `GET http://addr{path}` with an optional Host header.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> Reply {
        self.send(addr, get(addr, path)).await.unwrap()
    }
}

/// A GET request for `path` with Host set to `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A request body fed through a channel, so a test can control when each chunk is sent.
pub fn channel_body(
    capacity: usize,
) -> (
    BodySender,
    StreamBody<
        impl futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Unpin,
    >,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    })
    .boxed();
    (tx, StreamBody::new(stream))
}

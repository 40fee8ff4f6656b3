//! Real upstream servers on loopback port 0. One server answers by path:
//!
//! The command is the first segment of the path that names one (`/api/status/503` works).
//!
//! | path | answer |
//! |---|---|
//! | `/echo…` (any other path too) | 200 JSON: method, path, version, headers, body length |
//! | `/status/{code}` | that status, with a forged `sightline-error` header |
//! | `/slow/{ms}` | 200 after `ms` milliseconds |
//! | `/hang` | never answers |
//! | `/stream/{bytes}` | 200 with a streamed body of that many bytes |
//! | `/sink` | reads the body as it arrives (counted in `received`), answers its length |
//! | `/upgrade` | 101, then echoes bytes back |
//! | `/close` | drops the connection without answering |
//! | `/login` | 200 when the body contains `"password":"right"`, else 401 |
//! | `/callout?via=ADDR&url=URL` | calls `URL` through the egress proxy at `ADDR`, passing the request's `traceparent` on, and answers with the status it got |

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A `POST /login` for the test upstream's login route, with `password` (`"right"` passes,
/// anything else is a failed login) and Host set to `addr`.
pub fn login(addr: SocketAddr, password: &str) -> Request<Full<Bytes>> {
    Request::post("/login")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(
            "{{\"user\":\"ann\",\"password\":\"{password}\"}}"
        ))))
        .unwrap()
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// How the upstream speaks.
#[derive(Clone, Debug)]
pub enum UpstreamKind {
    /// HTTP/1.1 and h2c (hyper auto) over plain TCP.
    Plain,
    /// TLS with this certificate and key, then HTTP/1.1 or HTTP/2 by ALPN.
    Tls {
        /// Certificate PEM file.
        cert: PathBuf,
        /// Key PEM file.
        key: PathBuf,
    },
}

/// What the upstream has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests received.
    pub requests: AtomicU64,
    /// Body bytes read by `/sink` so far.
    pub received: AtomicU64,
    /// The last request's headers.
    pub last_headers: Mutex<Option<http::HeaderMap>>,
    /// The first [`MAX_PATHS`] request targets (path and query), in arrival order.
    pub paths: Mutex<Vec<String>>,
}

/// How many request targets an upstream remembers.
pub const MAX_PATHS: usize = 10_000;

/// A running upstream.
pub struct TestUpstream {
    /// Its address.
    pub addr: SocketAddr,
    /// What it has seen.
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestUpstream {
    /// Starts a plain upstream (HTTP/1.1 and h2c).
    pub async fn plain() -> Self {
        Self::start(UpstreamKind::Plain).await
    }

    /// Starts an upstream of the given kind on 127.0.0.1, port 0.
    pub async fn start(kind: UpstreamKind) -> Self {
        Self::start_on(kind, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts an upstream of the given kind on `addr` (an address of a test network namespace,
    /// see [`crate::netns`], or loopback).
    pub async fn start_on(kind: UpstreamKind, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let acceptor = match &kind {
            UpstreamKind::Plain => None,
            UpstreamKind::Tls { cert, key } => Some(tokio_rustls::TlsAcceptor::from(
                sightline_certs::server_config(cert, key, None).unwrap(),
            )),
        };
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let seen = s.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(tcp, seen).await,
                        Some(a) => {
                            if let Ok(tls) = a.accept(tcp).await {
                                serve(tls, seen).await;
                            }
                        }
                    }
                });
            }
        });
        TestUpstream { addr, seen, task }
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.seen.requests.load(Ordering::SeqCst)
    }

    /// The request targets seen so far (path and query).
    pub fn paths(&self) -> Vec<String> {
        self.seen.paths.lock().unwrap().clone()
    }

    /// The last request's headers.
    pub fn last_headers(&self) -> http::HeaderMap {
        self.seen
            .last_headers
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_default()
    }
}

async fn serve<I>(io: I, seen: Arc<Seen>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| answer(req, seen.clone()));
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), svc)
        .await;
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r
}

#[derive(Debug)]
struct Close;
impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closing on purpose")
    }
}
impl std::error::Error for Close {}

async fn answer(mut req: Request<Incoming>, seen: Arc<Seen>) -> Result<Response<Body>, Close> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    *seen.last_headers.lock().unwrap() = Some(req.headers().clone());
    {
        let mut paths = seen.paths.lock().unwrap();
        if paths.len() < MAX_PATHS {
            paths.push(
                req.uri()
                    .path_and_query()
                    .map_or("", |p| p.as_str())
                    .to_owned(),
            );
        }
    }
    let path = req.uri().path().to_owned();
    let all: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Routes may add a prefix (`/api/status/503`): the command is the first known segment.
    let known = [
        "status", "slow", "hang", "close", "stream", "sink", "upgrade", "callout", "login",
    ];
    let start = all
        .iter()
        .position(|s| known.contains(s))
        .unwrap_or(all.len());
    let segs = &all[start..];
    Ok(match segs {
        ["status", code] => {
            let code = code
                .parse()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            let mut r = full(code, format!("status {}", code.as_u16()));
            r.headers_mut()
                .insert("sightline-error", "forged-by-upstream".parse().unwrap());
            r
        }
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(100))).await;
            full(StatusCode::OK, "slow done")
        }
        ["hang"] => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            full(StatusCode::OK, "")
        }
        ["close"] => return Err(Close),
        ["login"] => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let ok = String::from_utf8_lossy(&body).contains("\"password\":\"right\"");
            if ok {
                full(StatusCode::OK, "{\"token\":\"t\"}")
            } else {
                full(StatusCode::UNAUTHORIZED, "{\"error\":\"bad credentials\"}")
            }
        }
        ["callout"] => {
            let q = req.uri().query().unwrap_or("").to_owned();
            let param = |k: &str| {
                q.split('&')
                    .find_map(|p| p.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_owned()
            };
            let (via, url) = (param("via"), param("url"));
            let tp = req.headers().get("traceparent").cloned();
            let tcp = tokio::net::TcpStream::connect(via.as_str())
                .await
                .map_err(|_| Close)?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|_| Close)?;
            tokio::spawn(conn);
            let mut out = Request::get(url.as_str());
            if let Some(tp) = tp {
                out = out.header("traceparent", tp);
            }
            let out = out
                .body(http_body_util::Empty::<Bytes>::new())
                .map_err(|_| Close)?;
            let resp = send.send_request(out).await.map_err(|_| Close)?;
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            full(StatusCode::OK, status.as_u16().to_string())
        }
        ["stream", n] => {
            let total: usize = n.parse().unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
            let stream =
                futures_util::stream::iter((0..total.div_ceil(chunk.len())).map(move |i| {
                    let len = (total - i * chunk.len()).min(chunk.len());
                    Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
                }));
            Response::new(StreamBody::new(stream).boxed())
        }
        ["sink"] => {
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return Err(Close) };
                if let Some(d) = frame.data_ref() {
                    total += d.len() as u64;
                    seen.received.fetch_add(d.len() as u64, Ordering::SeqCst);
                }
            }
            full(StatusCode::OK, total.to_string())
        }
        ["upgrade"] => {
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let mut r = full(StatusCode::SWITCHING_PROTOCOLS, "");
            let proto = req
                .headers()
                .get("upgrade")
                .cloned()
                .unwrap_or_else(|| "websocket".parse().unwrap());
            r.headers_mut().insert("upgrade", proto);
            r.headers_mut()
                .insert("connection", "upgrade".parse().unwrap());
            r
        }
        _ => {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                .collect();
            let method = req.method().to_string();
            let version = format!("{:?}", req.version());
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let j = serde_json::json!({
                "method": method,
                "path": path,
                "version": version,
                "headers": headers,
                "body_len": body.len(),
            });
            let mut r = full(StatusCode::OK, j.to_string());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r.headers_mut()
                .insert("connection", "x-upstream-hop".parse().unwrap());
            r.headers_mut()
                .insert("x-upstream-hop", "1".parse().unwrap());
            r
        }
    })
}

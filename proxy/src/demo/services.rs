//! Small demo services: a catalog, orders (HTTP/2), payments (slow, sometimes failing) and two
//! replicas of users.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The demo services' addresses and tasks.
pub struct DemoServices {
    pub(super) catalog: SocketAddr,
    pub(super) orders: SocketAddr,
    pub(super) payments: SocketAddr,
    pub(super) users: [SocketAddr; 2],
    /// An "external" payment provider the payments service calls through egress.
    pub(super) provider: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl DemoServices {
    /// Stops every service.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Catalog,
    Orders,
    Payments,
    Users(u8),
    Provider,
}

/// Starts every demo service on an ephemeral loopback port.
pub async fn start() -> std::io::Result<DemoServices> {
    let mut tasks = Vec::new();
    let spawn = |kind| {
        let fut = async move {
            // The provider stands for a host outside the enclave: its own loopback address.
            let ip = if matches!(kind, Kind::Provider) {
                "127.0.0.2:0"
            } else {
                "127.0.0.1:0"
            };
            let l = TcpListener::bind(ip).await?;
            let addr = l.local_addr()?;
            Ok::<_, std::io::Error>((addr, tokio::spawn(serve(l, kind))))
        };
        fut
    };
    let (catalog, t1) = spawn(Kind::Catalog).await?;
    let (orders, t2) = spawn(Kind::Orders).await?;
    let (payments, t3) = spawn(Kind::Payments).await?;
    let (u1, t4) = spawn(Kind::Users(1)).await?;
    let (u2, t5) = spawn(Kind::Users(2)).await?;
    let (provider, t6) = spawn(Kind::Provider).await?;
    tasks.extend([t1, t2, t3, t4, t5, t6]);
    Ok(DemoServices {
        catalog,
        orders,
        payments,
        users: [u1, u2],
        provider,
        tasks,
    })
}

async fn serve(listener: TcpListener, kind: Kind) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(kind, req));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

async fn answer(kind: Kind, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Read the request body so the connection can be reused (and a login can be checked).
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let resp = match kind {
        Kind::Catalog => match segs.as_slice() {
            ["products"] => json(
                StatusCode::OK,
                r#"[{"id":1,"name":"lamp"},{"id":2,"name":"desk"}]"#.into(),
            ),
            ["products", id] if id.parse::<u32>().is_ok() => json(
                StatusCode::OK,
                format!(r#"{{"id":{id},"name":"item {id}"}}"#),
            ),
            _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.into()),
        },
        Kind::Orders => {
            if fastrand::u8(..100) < 3 {
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"database unavailable"}"#.into(),
                )
            } else if method == http::Method::POST {
                json(
                    StatusCode::CREATED,
                    format!(r#"{{"id":{}}}"#, fastrand::u32(1000..9999)),
                )
            } else {
                json(StatusCode::OK, r#"{"orders":[]}"#.into())
            }
        }
        Kind::Payments => {
            tokio::time::sleep(Duration::from_millis(fastrand::u64(15..80))).await;
            if fastrand::u8(..100) < 2 {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":"processor busy"}"#.into(),
                )
            } else {
                json(StatusCode::OK, r#"{"status":"captured"}"#.into())
            }
        }
        Kind::Users(replica) => match segs.as_slice() {
            ["users", "login"] if method == http::Method::POST => {
                if body.windows(17).any(|w| w == br#""password":"demo""#) {
                    json(StatusCode::OK, r#"{"token":"demo-session"}"#.into())
                } else {
                    json(
                        StatusCode::UNAUTHORIZED,
                        r#"{"error":"bad credentials"}"#.into(),
                    )
                }
            }
            ["users", id] => match id.parse::<u32>() {
                Ok(n) if n < 900 => json(
                    StatusCode::OK,
                    format!(r#"{{"id":{n},"replica":{replica}}}"#),
                ),
                _ => json(StatusCode::NOT_FOUND, r#"{"error":"no such user"}"#.into()),
            },
            _ => json(StatusCode::OK, r#"{"users":[]}"#.into()),
        },
        Kind::Provider => json(StatusCode::OK, r#"{"charge":"ok"}"#.into()),
    };
    Ok(resp)
}

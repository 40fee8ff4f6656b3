//! The demo shop: a gateway in front of a catalog, orders (HTTP/2), payments (slow, sometimes
//! failing) and two replicas of users; a document store behind the catalog and orders; and two
//! partner APIs outside the enclave, called over HTTPS: a payment provider (its TLS inspected by
//! Sightline, so its endpoints show in the graph) and a shipping partner (tunnelled).
//!
//! The services call each other through Sightline's inbound listener and call out through its
//! egress listener, each from a loopback address of its own that `egress.sources` names, so the
//! call graph shows who calls whom.

use super::calls::{Caller, Links};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Where each demo service calls from (and the source network `egress.sources` gives it).
pub(super) const GATEWAY_FROM: [u8; 4] = [127, 0, 0, 40];
/// The orders service's address.
pub(super) const ORDERS_FROM: [u8; 4] = [127, 0, 0, 41];
/// The catalog's address.
pub(super) const CATALOG_FROM: [u8; 4] = [127, 0, 0, 42];
/// The payments service's address.
pub(super) const PAYMENTS_FROM: [u8; 4] = [127, 0, 0, 43];

/// The payment provider's name: called over HTTPS and inspected.
pub(super) const PROVIDER_HOST: &str = "api.payments-provider.example";
/// The shipping partner's name: called over HTTPS through a plain tunnel.
pub(super) const SHIPPING_HOST: &str = "api.shipping-partner.example";

/// The demo's TLS: the partners' certificates (from a CA of their own) and Sightline's
/// inspection CA, written into the demo's data folder.
#[derive(Clone)]
pub(super) struct PartnerTls {
    /// What the payments service trusts: Sightline's inspection CA.
    pub inspected: Arc<tokio_rustls::rustls::ClientConfig>,
    /// What the orders service trusts for the shipping partner: the partners' CA.
    pub tunnelled: Arc<tokio_rustls::rustls::ClientConfig>,
    /// The partners' CA (Sightline verifies the inspected partner with it).
    pub partner_ca: std::path::PathBuf,
    /// The inspection CA's certificate and key.
    pub inspection_ca: (std::path::PathBuf, std::path::PathBuf),
    acceptor: tokio_rustls::TlsAcceptor,
}

impl PartnerTls {
    fn write(dir: &std::path::Path) -> std::io::Result<PartnerTls> {
        use sightline_certs::DevMaterial;
        let err = |e: sightline_certs::TlsError| std::io::Error::other(e.to_string());
        let partners = DevMaterial::write(&dir.join("partners"), &[PROVIDER_HOST, SHIPPING_HOST])
            .map_err(err)?;
        let inspection = DevMaterial::write(&dir.join("inspection"), &["inspection.demo.internal"])
            .map_err(err)?;
        let h1: &[&[u8]] = &[sightline_certs::ALPN_H1];
        let client = |ca: &std::path::Path| {
            sightline_certs::client_config(Some(ca), h1)
                .map(Arc::new)
                .map_err(err)
        };
        let server =
            sightline_certs::server_config(&partners.server_cert, &partners.server_key, None)
                .map_err(err)?;
        Ok(PartnerTls {
            inspected: client(&inspection.ca)?,
            tunnelled: client(&partners.ca)?,
            partner_ca: partners.ca,
            inspection_ca: (inspection.ca, dir.join("inspection").join("ca-key.pem")),
            acceptor: tokio_rustls::TlsAcceptor::from(server),
        })
    }
}

/// The demo services' addresses and tasks.
pub struct DemoServices {
    pub(super) gateway: SocketAddr,
    pub(super) catalog: SocketAddr,
    pub(super) orders: SocketAddr,
    pub(super) payments: SocketAddr,
    pub(super) users: [SocketAddr; 2],
    pub(super) store: SocketAddr,
    /// The payment provider the payments service calls through egress.
    pub(super) provider: SocketAddr,
    /// The shipping partner the orders service calls through egress.
    pub(super) shipping: SocketAddr,
    /// The partners' TLS and the inspection CA.
    pub(super) tls: PartnerTls,
    links: Arc<OnceLock<Links>>,
    tasks: Vec<JoinHandle<()>>,
}

impl DemoServices {
    /// Tells the services where Sightline listens, once it does; until then the calls they
    /// would make through it fail with 502.
    pub fn link(&self, inbound: SocketAddr, egress: Option<SocketAddr>) {
        let _ = self.links.set(Links {
            inbound,
            egress,
            provider: self.provider,
            shipping: self.shipping,
            tls: self.tls.clone(),
        });
    }

    /// Stops every service.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gateway,
    Catalog,
    Orders,
    Payments,
    Users(u8),
    Store,
    Provider,
    Shipping,
}

/// What a service needs to answer: where Sightline is, and a client from its own address.
struct Ctx {
    kind: Kind,
    links: Arc<OnceLock<Links>>,
    caller: Option<Caller>,
}

/// Starts every demo service on an ephemeral loopback port.
pub async fn start() -> std::io::Result<DemoServices> {
    let links = Arc::new(OnceLock::new());
    let mut tasks = Vec::new();
    let tls = PartnerTls::write(&super::data_dir())?;
    let mut spawn = |kind, ip: [u8; 4]| {
        let links = links.clone();
        let bound = std::net::TcpListener::bind(SocketAddr::from((ip, 0)));
        let from = match kind {
            Kind::Gateway => Some(GATEWAY_FROM),
            Kind::Catalog => Some(CATALOG_FROM),
            Kind::Orders => Some(ORDERS_FROM),
            Kind::Payments => Some(PAYMENTS_FROM),
            _ => None,
        };
        bound.and_then(|l| {
            l.set_nonblocking(true)?;
            let l = TcpListener::from_std(l)?;
            let addr = l.local_addr()?;
            let ctx = Arc::new(Ctx {
                kind,
                links,
                caller: from.map(|ip| {
                    let passes = if matches!(kind, Kind::Gateway) {
                        GATEWAY_PASSES
                    } else {
                        SERVICE_PASSES
                    };
                    Caller::new(ip, passes)
                }),
            });
            // The partners answer over TLS only.
            let acceptor =
                matches!(kind, Kind::Provider | Kind::Shipping).then(|| tls.acceptor.clone());
            tasks.push(tokio::spawn(serve(l, ctx, acceptor)));
            Ok(addr)
        })
    };
    let local = [127, 0, 0, 1];
    let gateway = spawn(Kind::Gateway, local)?;
    let catalog = spawn(Kind::Catalog, local)?;
    let orders = spawn(Kind::Orders, local)?;
    let payments = spawn(Kind::Payments, local)?;
    let users = [spawn(Kind::Users(1), local)?, spawn(Kind::Users(2), local)?];
    let store = spawn(Kind::Store, local)?;
    // The partners stand for hosts outside the enclave: loopback addresses of their own.
    let provider = spawn(Kind::Provider, [127, 0, 0, 2])?;
    let shipping = spawn(Kind::Shipping, [127, 0, 0, 4])?;
    Ok(DemoServices {
        gateway,
        catalog,
        orders,
        payments,
        users,
        store,
        provider,
        shipping,
        tls,
        links,
        tasks,
    })
}

async fn serve(listener: TcpListener, ctx: Arc<Ctx>, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let ctx = ctx.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(ctx.clone(), req));
            let server = auto::Builder::new(TokioExecutor::new());
            let _ = match tls {
                None => server.serve_connection(TokioIo::new(stream), svc).await,
                Some(tls) => match tls.accept(stream).await {
                    Ok(s) => server.serve_connection(TokioIo::new(s), svc).await,
                    Err(_) => return,
                },
            };
        });
    }
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Payment ids as the payments API takes them.
fn payment_id() -> String {
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u64(..1 << 48)
    )
}

async fn answer(
    ctx: Arc<Ctx>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    // Read the request body so the connection can be reused (and a login can be checked).
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let links = ctx.links.get();
    let call = |method: Method, path: String, body: Bytes| {
        let caller = ctx.caller.as_ref();
        let headers = &headers;
        async move {
            match (caller, links) {
                (Some(c), Some(l)) => c.inbound(l.inbound, method, &path, headers, body).await,
                _ => None,
            }
        }
    };
    let unavailable = || json(StatusCode::BAD_GATEWAY, r#"{"error":"dependency failed"}"#);
    let resp = match ctx.kind {
        Kind::Gateway => match path.strip_prefix("/api") {
            Some(rest) if rest.starts_with('/') => {
                match call(method, rest.to_owned(), body).await {
                    Some((status, body)) => json(status, body),
                    None => unavailable(),
                }
            }
            _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
        },
        Kind::Catalog => match segs.as_slice() {
            ["products"] | ["products", _] => {
                let doc = segs.get(1).map_or(String::new(), |id| format!("/{id}"));
                match call(Method::GET, format!("/shop-db/products{doc}"), Bytes::new()).await {
                    Some((status, body)) => json(status, body),
                    None => unavailable(),
                }
            }
            _ => json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
        },
        Kind::Orders => {
            if fastrand::u8(..100) < 3 {
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"database unavailable"}"#,
                )
            } else if method == Method::POST {
                let id = fastrand::u32(1000..9999);
                let stored = call(Method::PUT, format!("/shop-db/orders/{id}"), body).await;
                let paid = call(
                    Method::POST,
                    format!("/payments/{}", payment_id()),
                    Bytes::from_static(br#"{"amount":4200}"#),
                )
                .await;
                // One order in four asks the shipping partner for a quote.
                if fastrand::u8(..4) == 0 {
                    if let (Some(c), Some(l)) = (ctx.caller.as_ref(), links) {
                        let to = (SHIPPING_HOST, l.shipping.port());
                        let quote = (Method::GET, "/v2/quotes");
                        c.egress(l, to, quote, None, &l.tls.tunnelled).await;
                    }
                }
                match (stored, paid) {
                    (Some((s, _)), Some((p, _))) if s.is_success() && p.is_success() => {
                        json(StatusCode::CREATED, format!(r#"{{"id":{id}}}"#))
                    }
                    _ => unavailable(),
                }
            } else {
                match call(Method::GET, "/shop-db/orders".into(), Bytes::new()).await {
                    Some((status, body)) => json(status, body),
                    None => unavailable(),
                }
            }
        }
        Kind::Payments => {
            tokio::time::sleep(Duration::from_millis(fastrand::u64(15..80))).await;
            if fastrand::u8(..100) < 2 {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":"processor busy"}"#,
                )
            } else {
                let charged = match (ctx.caller.as_ref(), links) {
                    (Some(c), Some(l)) => {
                        let to = (PROVIDER_HOST, l.provider.port());
                        let charge = (Method::POST, "/v1/charges");
                        let tls = &l.tls.inspected;
                        c.egress(l, to, charge, Some(super::PAYMENTS_CREDENTIALS), tls)
                            .await
                    }
                    _ => None,
                };
                match charged {
                    Some(s) if s.is_success() => json(StatusCode::OK, r#"{"status":"captured"}"#),
                    _ => unavailable(),
                }
            }
        }
        Kind::Users(replica) => users(replica, &method, &segs, &body),
        Kind::Store => store(&method, &segs).await,
        Kind::Provider => json(StatusCode::OK, r#"{"charge":"ok"}"#),
        Kind::Shipping => json(StatusCode::OK, r#"{"quote":{"carrier":"demo","eur":7.5}}"#),
    };
    Ok(resp)
}

fn users(replica: u8, method: &Method, segs: &[&str], body: &[u8]) -> Response<Full<Bytes>> {
    match segs {
        ["users", "login"] if method == Method::POST => {
            if body.windows(17).any(|w| w == br#""password":"demo""#) {
                json(StatusCode::OK, r#"{"token":"demo-session"}"#)
            } else {
                json(StatusCode::UNAUTHORIZED, r#"{"error":"bad credentials"}"#)
            }
        }
        ["users", id] => match id.parse::<u32>() {
            Ok(n) if n < 900 => json(
                StatusCode::OK,
                format!(r#"{{"id":{n},"replica":{replica}}}"#),
            ),
            _ => json(StatusCode::NOT_FOUND, r#"{"error":"no such user"}"#),
        },
        _ => json(StatusCode::OK, r#"{"users":[]}"#),
    }
}

/// The document store: products and orders as JSON documents over HTTP.
async fn store(method: &Method, segs: &[&str]) -> Response<Full<Bytes>> {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..6))).await;
    match (method, segs) {
        (&Method::GET, ["shop-db", "products"]) => json(
            StatusCode::OK,
            r#"{"docs":[{"id":1,"name":"lamp"},{"id":2,"name":"desk"}]}"#,
        ),
        (&Method::GET, ["shop-db", "products", id]) => match id.parse::<u32>() {
            Ok(n) if n < 950 => json(StatusCode::OK, format!(r#"{{"id":{n},"name":"item {n}"}}"#)),
            _ => json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#),
        },
        (&Method::PUT, ["shop-db", "orders", id]) => {
            json(StatusCode::CREATED, format!(r#"{{"ok":true,"id":"{id}"}}"#))
        }
        (&Method::GET, ["shop-db", "orders"]) => json(StatusCode::OK, r#"{"docs":[]}"#),
        _ => json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#),
    }
}

/// Headers the gateway passes on: the caller's key and address (it is a trusted proxy), the
/// body's type and the trace.
pub(super) const GATEWAY_PASSES: &[&str] = &[
    "x-api-key",
    "content-type",
    "traceparent",
    "x-forwarded-for",
];

/// Headers the services behind it pass on to their own calls: the trace only (they call as
/// themselves).
pub(super) const SERVICE_PASSES: &[&str] = &["traceparent"];

/// Copies the `names` headers of `from` onto a request being built.
pub(super) fn forward(
    from: &HeaderMap,
    names: &[&str],
    mut req: http::request::Builder,
) -> http::request::Builder {
    for name in names {
        if let Some(v) = from.get(*name) {
            req = req.header(*name, v);
        }
    }
    req
}

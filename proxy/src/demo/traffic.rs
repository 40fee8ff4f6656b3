//! The demo's traffic generator: a steady mix of calls through the inbound listener.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

fn next_call() -> (Method, String) {
    let id = fastrand::u32(1..1000);
    match fastrand::u8(..100) {
        0..=29 => (Method::GET, "/api/products".into()),
        30..=51 => (Method::GET, format!("/api/products/{id}")),
        52..=68 => (Method::GET, format!("/api/users/{id}")),
        69..=83 => (Method::POST, "/api/orders".into()),
        84..=96 => (Method::GET, "/api/orders".into()),
        _ => (Method::GET, "/wp-login.php".into()),
    }
}

/// The legitimate callers: each sends its own API key, from its own loopback address, so the
/// demo's limits and bans (and a client testing them from 127.0.0.1) never catch them.
const CALLERS: [(&str, [u8; 4]); 3] = [
    ("demo-web-frontend-key", [127, 0, 0, 10]),
    ("demo-mobile-app-key", [127, 0, 0, 11]),
    ("demo-partner-key", [127, 0, 0, 12]),
];

/// A client for the inbound listener from the loopback address `from`, keeping connections
/// alive.
pub(super) fn client(
    from: [u8; 4],
) -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_local_address(Some(std::net::IpAddr::from(from)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(http)
}

/// Sends one call to the demo shop through `inbound` in the background, with `key` as the
/// caller's API key.
pub(super) fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    inbound: SocketAddr,
    (method, path): (Method, &str),
    key: &str,
) {
    let body = if method == Method::POST {
        Bytes::from_static(br#"{"item":1,"qty":2}"#)
    } else {
        Bytes::new()
    };
    let Ok(req) = Request::builder()
        .method(method)
        .uri(format!("http://{inbound}{path}"))
        .header("host", "shop.demo.internal")
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(Full::new(body))
    else {
        return;
    };
    let client = client.clone();
    tokio::spawn(async move {
        if let Ok(resp) = client.request(req).await {
            let _ = resp.into_body().collect().await;
        }
    });
}

/// Sends about `rate` requests per second to `inbound` until aborted.
pub async fn generate(inbound: SocketAddr, rate: u32) {
    let clients: Vec<_> = CALLERS
        .iter()
        .map(|(key, ip)| (*key, client(*ip)))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let (method, path) = next_call();
        let (key, client) = &clients[fastrand::usize(..clients.len())];
        send(client, inbound, (method, &path), key);
    }
}

/// Sends about `rate` outbound calls per second through the egress proxy that the enclave
/// refuses: the orders service probing the cloud metadata address, and an undeclared caller
/// reaching a SaaS nobody approved. (The allowed partner calls come from the services.)
pub async fn egress(proxy: SocketAddr, rate: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        // The shadow-SaaS caller connects from an address no source rule names.
        let (url, from) = if fastrand::u8(..3) == 0 {
            (
                "http://169.254.169.254/latest/meta-data/iam/",
                super::services::ORDERS_FROM,
            )
        } else {
            (
                "http://telemetry.shadow-saas.example/collect",
                [127, 0, 0, 5],
            )
        };
        tokio::spawn(super::calls::via_egress(from, proxy, url, None));
    }
}

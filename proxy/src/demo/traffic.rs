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
        0..=24 => (Method::GET, "/products".into()),
        25..=44 => (Method::GET, format!("/products/{id}")),
        45..=59 => (Method::GET, format!("/users/{id}")),
        60..=74 => (Method::POST, "/orders".into()),
        75..=84 => (Method::GET, "/orders".into()),
        85..=96 => (
            Method::POST,
            format!(
                "/payments/{:08x}-{:04x}-4000-8000-{:012x}",
                fastrand::u32(..),
                fastrand::u16(..),
                fastrand::u64(..1 << 48)
            ),
        ),
        _ => (Method::GET, "/wp-login.php".into()),
    }
}

/// A client for the inbound listener, keeping connections alive.
pub(super) fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http()
}

/// Sends one call to the demo shop through `inbound` in the background.
pub(super) fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    inbound: SocketAddr,
    method: Method,
    path: &str,
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
    let client = client();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let (method, path) = next_call();
        send(&client, inbound, method, &path);
    }
}

/// Sends about `rate` outbound calls per second through the egress proxy: the payments
/// service charging its provider (allowed), the orders service probing the cloud metadata
/// address (blocked), and an undeclared caller reaching a SaaS nobody approved (blocked).
pub async fn egress(proxy: SocketAddr, provider: SocketAddr, rate: u32) {
    use base64::Engine;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("payments:demo-payments-token-0001")
    );
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        // The shadow-SaaS caller connects from an address no source rule names.
        let provider_url = format!(
            "http://api.payments-provider.example:{}/v1/charges",
            provider.port()
        );
        let (url, creds, from) = match fastrand::u8(..10) {
            0..=6 => (provider_url, true, None),
            7 => (
                "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
                false,
                None,
            ),
            _ => (
                "http://telemetry.shadow-saas.example/collect".to_owned(),
                false,
                Some([127, 0, 0, 5]),
            ),
        };
        // Absolute-form through the proxy: the client connects to the proxy, not the host.
        let mut req = Request::builder().method(Method::GET).uri(url);
        if creds {
            req = req.header("proxy-authorization", auth.as_str());
        }
        let Ok(req) = req.body(Full::new(Bytes::new())) else {
            continue;
        };
        let conn = proxy;
        tokio::spawn(async move {
            let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
                return;
            };
            if let Some(ip) = from {
                if socket.bind(SocketAddr::from((ip, 0))).is_err() {
                    return;
                }
            }
            let Ok(tcp) = socket.connect(conn).await else {
                return;
            };
            let Ok((mut send, c)) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await
            else {
                return;
            };
            tokio::spawn(c);
            if let Ok(resp) = send.send_request(req).await {
                let _ = resp.into_body().collect().await;
            }
        });
    }
}

//! Each cause the proxy answers for: status, JSON body with request id, `sightline-error` header,
//! and a record of the call.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_tests::client::channel_body;
use sightline_tests::proxy::{config, simple};
use sightline_tests::{Client, Reply, TestProxy, TestUpstream, UpstreamKind};
use std::net::SocketAddr;

fn assert_proxy_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("sightline-error"), code);
    let body = r.json();
    assert_eq!(body["error"], code);
    assert!(!body["reason"].as_str().unwrap().is_empty());
    assert_eq!(
        body["request_id"].as_str().unwrap(),
        r.header("x-request-id")
    );
}

/// A loopback port with nothing listening.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn unrouted_request_is_404_and_recorded() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /api, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\n",
        up.addr
    )))
    .await;
    let r = Client::http1().get(px.inbound, "/elsewhere").await;
    assert_eq!(r.status, 404);
    let body = r.json();
    assert_eq!(body["error"], "no_route");
    let call = px.call(body["request_id"].as_str().unwrap()).await;
    assert_eq!(call["status"], 404);
    assert_eq!(call["destination"], "-");
    assert_eq!(call["error"], "no_route");
    assert_eq!(up.requests(), 0);
}

#[tokio::test]
async fn refused_upstream_is_502() {
    let px = TestProxy::start(simple(closed_port().await, "")).await;
    let r = Client::http1().get(px.inbound, "/x").await;
    let body = r.json();
    assert_eq!(r.status, 502);
    assert_eq!(r.header("sightline-error"), "upstream_connect_failed");
    let call = px.call(body["request_id"].as_str().unwrap()).await;
    assert_eq!(call["status"], 502);
    assert_eq!(call["error"], "upstream_connect_failed");
}

#[tokio::test]
async fn an_upstream_that_starts_listening_moments_later_is_reached() {
    // An upstream restarting: nothing listens when the request arrives, and the port opens
    // 150 ms later, inside the connection retries (600 ms): the caller gets the answer.
    let addr = closed_port().await;
    let px = TestProxy::start(simple(addr, "")).await;
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        TestUpstream::start_on(UpstreamKind::Plain, addr).await
    });
    let r = Client::http1().get(px.inbound, "/x").await;
    let _up = late.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn upstream_that_closes_without_answering_is_502() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let r = Client::http1().get(px.inbound, "/close").await;
    assert_proxy_error(&r, 502, "upstream_failed");
}

#[tokio::test]
async fn slow_upstream_is_504_after_request_timeout() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { request_timeout: 300ms }")).await;
    let r = Client::http1().get(px.inbound, "/hang").await;
    assert_proxy_error(&r, 504, "upstream_timeout");
    // A response inside the timeout passes.
    assert_eq!(
        Client::http1().get(px.inbound, "/slow/10").await.status,
        200
    );
}

#[tokio::test]
async fn unreachable_upstream_is_504_after_connect_timeout() {
    // A listener whose accept queue is full drops further SYNs, so connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let px = TestProxy::start(simple(
        addr,
        "limits: { upstream_connect_timeout: 300ms, request_timeout: 5s }",
    ))
    .await;
    let r = Client::http1().get(px.inbound, "/x").await;
    assert_proxy_error(&r, 504, "upstream_connect_timeout");
    drop(listener);
}

#[tokio::test]
async fn upstream_error_status_passes_through_without_the_forged_header() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for code in [200u16, 500, 502] {
        let r = Client::http1()
            .get(px.inbound, &format!("/status/{code}"))
            .await;
        assert_eq!(r.status, code);
        assert!(
            r.headers.get("sightline-error").is_none(),
            "upstream forged sightline-error on a {code}"
        );
        assert_eq!(String::from_utf8_lossy(&r.body), format!("status {code}"));
    }
}

#[tokio::test]
async fn oversized_requests_are_rejected_before_the_upstream() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "limits: { max_uri_bytes: 1KiB, max_header_bytes: 4KiB, max_request_body: 64KiB }",
    ))
    .await;
    let long = format!("/{}", "a".repeat(2000));
    let r = Client::http1().get(px.inbound, &long).await;
    assert_proxy_error(&r, 414, "uri_too_long");

    let req = Request::get("/x")
        .header("x-big", "b".repeat(5000))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    assert_proxy_error(&r, 431, "headers_too_large");

    let req = Request::post("/sink")
        .body(Full::new(Bytes::from(vec![1u8; 100_000])))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    assert_proxy_error(&r, 413, "body_too_large");
    assert_eq!(up.requests(), 0);

    // A chunked body without a declared length is cut off when it passes the limit.
    let (tx, body) = channel_body(4);
    let req = Request::post("/sink").body(body).unwrap();
    let inbound = px.inbound;
    let pending = tokio::spawn(async move { Client::http1().send_streaming(inbound, req).await });
    for _ in 0..8 {
        if tx.send(Bytes::from(vec![2u8; 16 * 1024])).await.is_err() {
            break;
        }
    }
    drop(tx);
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["sightline-error"], "body_too_large");
}

#[tokio::test]
async fn failing_upstream_is_ejected_then_503_when_none_is_left() {
    let dead = closed_port().await;
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{dead}\", \"{}\"], ejection: {{ consecutive_failures: 2, duration: 1m }} }}\n",
        up.addr
    )))
    .await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            Client::http1()
                .get(px.inbound, "/echo")
                .await
                .status
                .as_u16(),
        );
    }
    // Two failures against the dead upstream eject it; everything after goes to the live one.
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(up.requests(), 8);
    assert_eq!(px.metric("sightline_upstream_ejections_total").await, 1.0);
    assert_eq!(
        px.metric("sightline_upstreams_healthy{service=\"s\"}")
            .await,
        1.0
    );

    let only_dead = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{dead}\"], ejection: {{ consecutive_failures: 1, duration: 1m }} }}\n"
    )))
    .await;
    assert_eq!(
        Client::http1().get(only_dead.inbound, "/").await.status,
        502
    );
    let r = Client::http1().get(only_dead.inbound, "/").await;
    assert_proxy_error(&r, 503, "no_healthy_upstream");
}

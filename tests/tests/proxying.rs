//! HTTP/1.1 and HTTP/2 proxying, header rewriting, trace context and streamed bodies.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use sightline_tests::client::{channel_body, get};
use sightline_tests::proxy::simple;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::sync::atomic::Ordering;

#[tokio::test]
async fn h1_request_reaches_upstream_with_forwarding_headers() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let req = Request::get("/echo/a?x=1")
        .header("host", "api.example.internal")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=203.0.113.9")
        .header("x-real-ip", "203.0.113.9")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "secret")
        .header("keep-alive", "timeout=5")
        .header("sightline-error", "client-forged")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    assert_eq!(r.status, 200);
    let echo = r.json();
    assert_eq!(echo["path"], "/echo/a");
    let h = &echo["headers"];
    assert_eq!(h["host"], "api.example.internal");
    // The peer is no trusted proxy: what it claims about the client is dropped.
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(h.get("forwarded").is_none(), "Forwarded passed: {h}");
    assert!(h.get("x-real-ip").is_none(), "X-Real-IP passed: {h}");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "api.example.internal");
    assert_eq!(h["via"], "1.1 sightline");
    assert!(
        h.get("x-drop-me").is_none(),
        "header named in Connection was forwarded"
    );
    assert!(h.get("keep-alive").is_none());
    assert!(h.get("sightline-error").is_none());
    let rid = r.header("x-request-id").to_owned();
    assert_eq!(h["x-request-id"], rid.as_str());
    // Hop-by-hop headers of the response are dropped too.
    assert!(r.headers.get("x-upstream-hop").is_none());
    assert_eq!(r.header("via"), "1.1 sightline");
}

#[tokio::test]
async fn headers_named_in_connection_go_in_any_case_and_host_is_set_again() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let req = Request::get("/echo")
        .header("host", "API.Example.Internal")
        .header("connection", "Host, X-Drop-Me, Close")
        .header("x-drop-me", "secret")
        .header("close", "named too")
        .header("x-kept", "yes")
        .header("tracestate", "vendor=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    assert_eq!(r.status, 200);
    let h = &r.json()["headers"];
    // `Host` was named, so it went with the rest; the normalised authority is set again.
    assert_eq!(h["host"], "api.example.internal");
    assert_eq!(h["x-forwarded-host"], "api.example.internal");
    assert!(h.get("x-drop-me").is_none(), "X-Drop-Me passed: {h}");
    assert!(h.get("close").is_none(), "Close passed: {h}");
    assert!(h.get("connection").is_none(), "Connection passed: {h}");
    assert_eq!(h["x-kept"], "yes");
    // No `traceparent`: the trace starts here, and another trace's state is not passed on.
    assert!(h.get("tracestate").is_none(), "tracestate passed: {h}");
    assert_eq!(h["traceparent"].as_str().map(str::len), Some(55));
}

#[tokio::test]
async fn a_trusted_proxy_has_the_peer_appended_to_its_forwarding_headers() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "clients:\n  trusted_proxies: [127.0.0.1/32]\n",
    ))
    .await;
    let req = Request::get("/echo")
        .header("host", "api.example.internal")
        .header("x-forwarded-for", "203.0.113.9")
        .header("forwarded", "for=203.0.113.9")
        .header("x-real-ip", "203.0.113.9")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    let h = &r.json()["headers"];
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["forwarded"], "for=203.0.113.9");
    assert_eq!(h["x-real-ip"], "203.0.113.9");
}

#[tokio::test]
async fn trace_context_is_continued_or_started() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let req = Request::get("/echo")
        .header("traceparent", incoming)
        .header("tracestate", "vendor=1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    let echo = r.json();
    let tp = echo["headers"]["traceparent"].as_str().unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert_ne!(
        &tp[36..52],
        "00f067aa0ba902b7",
        "upstream hop needs its own parent id"
    );
    assert_eq!(echo["headers"]["tracestate"], "vendor=1");
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    let r = Client::http1().get(px.inbound, "/echo").await;
    let tp = r.json()["headers"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(tp.len(), 55);
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["trace_id"].as_str().unwrap(), &tp[3..35]);
}

#[tokio::test]
async fn h2c_client_to_h1_upstream_and_h1_client_to_h2_upstream() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let req = Request::get("http://api.example.internal/echo/h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::h2c().send(px.inbound, req).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_2);
    let echo = r.json();
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["headers"]["host"], "api.example.internal");
    assert_eq!(echo["headers"]["via"], "2 sightline");
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["protocol"], "h2");
    assert_eq!(call["host"], "api.example.internal");

    let h2_up = TestUpstream::plain().await;
    let px2 = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: grpcish }} ]\nservices:\n  grpcish: {{ upstreams: [\"{}\"], protocol: http2 }}\n",
        h2_up.addr
    )))
    .await;
    let r = Client::http1().get(px2.inbound, "/echo").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "HTTP/2.0");
}

#[tokio::test]
async fn concurrent_http2_streams_on_one_connection_are_each_answered_and_recorded_once() {
    const STREAMS: usize = 40;
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let tcp = tokio::net::TcpStream::connect(px.inbound).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut streams = tokio::task::JoinSet::new();
    for i in 0..STREAMS {
        let mut send = send.clone();
        streams.spawn(async move {
            let req = Request::get(format!("http://api.example.internal/echo/{i}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
            (i, id, echo)
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(answer) = streams.join_next().await {
        let (i, id, echo) = answer.unwrap();
        assert_eq!(
            echo["path"],
            format!("/echo/{i}"),
            "each stream gets its own answer"
        );
        assert!(ids.insert(id), "request ids are distinct");
    }
    assert_eq!(ids.len(), STREAMS);
    let calls = px.calls_at_least(STREAMS).await;
    let recorded: Vec<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        recorded.len(),
        STREAMS,
        "every stream recorded once: {recorded:?}"
    );
    assert!(recorded.iter().all(|id| ids.contains(*id)));
    assert!(calls.iter().all(|c| c["protocol"] == "h2"));
}

#[tokio::test]
async fn an_http2_client_gets_the_upstream_date_on_each_response_of_its_connection() {
    // An upstream that dates its answers itself, with a date the proxy could not have made.
    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = listener.local_addr().unwrap();
    let upstream = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let answer = hyper::service::service_fn(|_req| async {
                let resp = http::Response::builder()
                    .header(http::header::DATE, DATE)
                    .body(Full::new(Bytes::from_static(b"ok")))
                    .unwrap();
                Ok::<_, std::convert::Infallible>(resp)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), answer),
            );
        }
    });
    let px = TestProxy::start(simple(up, "")).await;
    let tcp = tokio::net::TcpStream::connect(px.inbound).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // Several responses on one connection: each carries the date, however HPACK encoded it.
    for i in 0..3 {
        let req = Request::get(format!("http://api.example.internal/{i}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "response {i}");
        assert_eq!(resp.headers()[http::header::DATE], DATE, "response {i}");
        assert!(resp.headers().contains_key("x-request-id"), "response {i}");
    }
    upstream.abort();
}

#[tokio::test]
async fn routes_pick_services_by_host_and_prefix() {
    let a = TestUpstream::plain().await;
    let b = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes:
    - {{ host: api.example.internal, path_prefix: /orders, service: a }}
    - {{ host: \"*.example.internal\", path_prefix: /, service: b }}
services:
  a: {{ upstreams: [\"{}\"] }}
  b: {{ upstreams: [\"{}\"] }}
",
        a.addr, b.addr
    )))
    .await;
    let send = |host: &'static str, path: &'static str| {
        let px = &px;
        async move {
            let req = Request::get(path)
                .header("host", host)
                .body(Full::new(Bytes::new()))
                .unwrap();
            Client::http1()
                .send(px.inbound, req)
                .await
                .unwrap()
                .status
                .as_u16()
        }
    };
    assert_eq!(send("api.example.internal", "/orders/7").await, 200);
    assert_eq!(a.requests(), 1);
    assert_eq!(send("API.Example.Internal:8080", "/ordersx").await, 200);
    assert_eq!(b.requests(), 1, "/ordersx is not under /orders");
    assert_eq!(send("web.example.internal", "/").await, 200);
    assert_eq!(b.requests(), 2);
    assert_eq!(send("example.com", "/orders").await, 404);
    assert_eq!(a.requests() + b.requests(), 3);
}

#[tokio::test]
async fn round_robin_spreads_calls_over_upstreams() {
    let a = TestUpstream::plain().await;
    let b = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{}\", \"{}\"] }}\n",
        a.addr, b.addr
    )))
    .await;
    for _ in 0..10 {
        assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
    }
    assert_eq!((a.requests(), b.requests()), (5, 5));
}

#[tokio::test]
async fn large_bodies_stream_both_ways_without_buffering() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;

    // Upload: the upstream must see the first chunk before the client sends the rest.
    let (tx, body) = channel_body(4);
    let req = Request::post("/sink").body(body).unwrap();
    let client = Client::http1();
    let inbound = px.inbound;
    let pending = tokio::spawn(async move { client.send_streaming(inbound, req).await });
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    tx.send(chunk.clone()).await.unwrap();
    eventually(
        "the upstream to receive the first MiB while the upload is open",
        || async { (up.seen.received.load(Ordering::SeqCst) >= 1 << 20).then_some(()) },
    )
    .await;
    for _ in 0..63 {
        tx.send(chunk.clone()).await.unwrap();
    }
    drop(tx);
    let resp = pending.await.unwrap().unwrap();
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, (64u64 << 20).to_string());

    // Download: 64 MiB streamed back and counted.
    let resp = Client::http1()
        .send_streaming(
            px.inbound,
            get(px.inbound, &format!("/stream/{}", 64u64 << 20)),
        )
        .await
        .unwrap();
    let rid2 = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body = resp.into_body();
    let mut total = 0u64;
    while let Some(f) = body.frame().await {
        total += f.unwrap().data_ref().map_or(0, |d| d.len() as u64);
    }
    assert_eq!(total, 64 << 20);

    let up_call = px.call(&rid).await;
    assert_eq!(up_call["bytes_in"], 64u64 << 20);
    let down_call = px.call(&rid2).await;
    assert_eq!(down_call["bytes_out"], 64u64 << 20);
}

#[tokio::test]
async fn dot_segments_cannot_escape_a_route() {
    let public = TestUpstream::plain().await;
    let private = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes:
    - {{ path_prefix: /public, service: public }}
    - {{ path_prefix: /admin, service: private }}
services:
  public: {{ upstreams: [\"{}\"] }}
  private: {{ upstreams: [\"{}\"] }}
",
        public.addr, private.addr
    )))
    .await;
    for raw in [
        "/public/../admin/echo",
        "/public/%2e%2e/admin/echo",
        "/public/./../admin/echo",
    ] {
        let r = Client::http1().get(px.inbound, raw).await;
        assert_eq!(r.status, 200, "{raw}");
        assert_eq!(
            r.json()["path"],
            "/admin/echo",
            "{raw} must reach the upstream normalised"
        );
        let call = px.call(r.header("x-request-id")).await;
        assert_eq!(
            call["destination"], "private",
            "{raw} was routed by its raw prefix"
        );
        assert_eq!(
            call["path"], raw,
            "the record keeps the raw path as evidence"
        );
    }
    assert_eq!(public.requests(), 0);
}

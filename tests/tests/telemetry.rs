//! OpenTelemetry export against real receivers on loopback: spans over OTLP/HTTP to oteltap,
//! over gRPC through a real collector (rotel) to oteltap, and metrics over OTLP.

use sightline_tests::otel::{attr, OtelTap, Rotel};
use sightline_tests::proxy::config;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};

/// A span or parent id as hex, whether the receiver printed hex or base64.
fn id(v: &serde_json::Value) -> String {
    use base64::Engine;
    let s = v.as_str().unwrap_or_default();
    if s.chars().all(|c| c.is_ascii_hexdigit()) && (s.len() == 16 || s.len() == 32) {
        return s.to_ascii_lowercase();
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_default()
}

fn kind(span: &serde_json::Value) -> String {
    match &span["kind"] {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(2) => "SERVER".into(),
            Some(3) => "CLIENT".into(),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.trim_start_matches("SPAN_KIND_").to_owned(),
        _ => String::new(),
    }
}

fn shop_config(app: &TestUpstream, endpoint: &str, protocol: &str) -> sightline::Config {
    config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: shop }} ]\nservices:\n  shop: {{ upstreams: [\"{}\"] }}\negress:\n  listen: 127.0.0.1:0\n  sources: [ {{ cidr: 127.0.0.1/32, service: shop }} ]\nenclave:\n  networks: [127.0.0.0/8]\ntelemetry:\n  otlp: {{ endpoint: \"{endpoint}\", protocol: {protocol} }}\n  traces: {{ interval: 100ms }}\n  metrics: {{ interval: 500ms }}\n",
        app.addr
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_call_and_the_egress_call_it_makes_arrive_as_one_trace() {
    let tap = OtelTap::start();
    let app = TestUpstream::plain().await;
    let provider = TestUpstream::plain().await;
    let px = TestProxy::start(shop_config(&app, &tap.endpoint, "http/protobuf")).await;
    let egress = px.sightline.egress_addr().unwrap();
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let req = http::Request::get(format!(
        "/checkout/42/callout?via={egress}&url=http://{}/charge",
        provider.addr
    ))
    .header("host", "shop.internal")
    .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
    .body(http_body_util::Full::new(bytes::Bytes::new()))
    .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&r.body), "200");

    let (server, client) = eventually(
        "a SERVER and a CLIENT span of the caller's trace",
        || async {
            let spans: Vec<_> = tap
                .spans()
                .into_iter()
                .filter(|s| id(&s["traceId"]) == caller_trace)
                .collect();
            let server = spans.iter().find(|s| kind(s) == "SERVER")?.clone();
            let client = spans.iter().find(|s| kind(s) == "CLIENT")?.clone();
            Some((server, client))
        },
    )
    .await;

    // The inbound span continues the caller's trace, and its id is what the app received.
    assert_eq!(id(&server["parentSpanId"]), caller_span, "{server}");
    let sent = app.last_headers();
    let tp = sent["traceparent"].to_str().unwrap();
    assert_eq!(
        &tp[36..52],
        id(&server["spanId"]),
        "upstream parent is the SERVER span"
    );
    // The app passed that traceparent on through the egress proxy: the CLIENT span is its child.
    assert_eq!(
        id(&client["parentSpanId"]),
        id(&server["spanId"]),
        "{client}"
    );

    assert_eq!(server["name"], "GET /checkout/{int}/callout", "{server}");
    assert_eq!(attr(&server, "http.request.method").unwrap(), "GET");
    assert_eq!(
        attr(&server, "http.route").unwrap(),
        "/checkout/{int}/callout"
    );
    assert_eq!(attr(&server, "url.path").unwrap(), "/checkout/42/callout");
    assert_eq!(attr(&server, "server.address").unwrap(), "shop.internal");
    assert_eq!(attr(&server, "client.address").unwrap(), "127.0.0.1");
    let code = attr(&server, "http.response.status_code").unwrap();
    assert!(code == "200" || code == 200, "{code}");
    assert_eq!(attr(&server, "sightline.decision").unwrap(), "allowed");
    assert_eq!(attr(&server, "sightline.service").unwrap(), "shop");

    let dest = provider.addr;
    assert_eq!(
        attr(&client, "url.full").unwrap(),
        format!("http://127.0.0.1:{}/charge", dest.port())
    );
    assert_eq!(attr(&client, "server.address").unwrap(), "127.0.0.1");
    assert_eq!(attr(&client, "network.peer.address").unwrap(), "127.0.0.1");
    assert_eq!(attr(&client, "sightline.enclave").unwrap(), "inside");
    assert_eq!(attr(&client, "sightline.source").unwrap(), "shop");

    let m = px.metrics().await;
    assert!(m.contains("sightline_spans_exported_total "), "{m}");
    eventually("spans counted as exported", || async {
        (px.metric("sightline_spans_exported_total").await >= 2.0).then_some(())
    })
    .await;
    assert_eq!(px.metric("sightline_spans_dropped_total").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_sent_over_grpc_reach_the_collector() {
    let collector = Rotel::start();
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(shop_config(&app, &collector.grpc, "grpc")).await;
    let r = Client::http1().get(px.inbound, "/orders/7").await;
    assert_eq!(r.status, 200);
    let printed = eventually("the span printed by the gRPC collector", || async {
        let p = collector.printed();
        p.contains("Name           : GET /orders/{int}")
            .then_some(p)
    })
    .await;
    assert!(printed.contains("service.name: Str(shop)"), "{printed}");
    assert!(
        printed.contains("Kind           : SPAN_KIND_SERVER"),
        "{printed}"
    );
    assert!(printed.contains("url.path: Str(/orders/7)"), "{printed}");
    assert!(
        printed.contains("sightline.decision: Str(allowed)"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_pushed_over_otlp() {
    let tap = OtelTap::start();
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(shop_config(&app, &tap.endpoint, "http/protobuf")).await;
    let r = Client::http1().get(px.inbound, "/items/1").await;
    assert_eq!(r.status, 200);
    eventually("the per-edge request metric over OTLP", || async {
        let names = tap.metric_names();
        (names.iter().any(|n| n == "sightline.mesh.requests")
            && names.iter().any(|n| n == "sightline.mesh.request.duration"))
        .then_some(())
    })
    .await;
}

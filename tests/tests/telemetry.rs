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
async fn shutdown_sends_the_spans_still_queued() {
    let tap = OtelTap::start();
    let app = TestUpstream::plain().await;
    // A batch interval far longer than the test: only the shutdown can send them.
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: shop }} ]\nservices:\n  shop: {{ upstreams: [\"{}\"] }}\ntelemetry:\n  otlp: {{ endpoint: \"{}\", protocol: http/protobuf }}\n  traces: {{ interval: 10m, batch: 1000 }}\n  metrics: {{ otlp: false }}\n",
        app.addr, tap.endpoint
    )))
    .await;
    for i in 0..20 {
        let r = Client::http1()
            .get(px.inbound, &format!("/orders/{i}"))
            .await;
        assert_eq!(r.status, 200);
    }
    // Held like the process holds it until it exits: the export queue stays open, so only
    // the shutdown's flush sends the spans (the runtime ends right after it in the binary).
    let _shared = px.sightline.shared().clone();
    assert!(px.sightline.shutdown().await);
    eventually("the 20 queued spans at the collector", || async {
        let n = tap
            .spans()
            .iter()
            .filter(|s| s["name"] == "GET /orders/{int}")
            .count();
        (n == 20).then_some(())
    })
    .await;
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
            && names.iter().any(|n| n == "sightline.mesh.request.duration")
            // OpenTelemetry's own HTTP metric names, beside the mesh series.
            && names.iter().any(|n| n == "http.server.request.duration")
            && names.iter().any(|n| n == "http.client.request.duration"))
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_per_edge_series() {
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: shop }} ]\nservices:\n  shop: {{ upstreams: [\"{}\"] }}\n",
        app.addr
    )))
    .await;
    for i in 0..3 {
        let r = Client::http1()
            .get(px.inbound, &format!("/orders/{i}"))
            .await;
        assert_eq!(r.status, 200);
    }
    let r = Client::http1().get(px.inbound, "/status/503").await;
    assert_eq!(r.status, 503);
    let prom = sightline_tests::prometheus::Prometheus::start(px.admin);
    let ok = eventually("the per-edge series in Prometheus", || async {
        let r = prom
            .query(r#"sum by (destination_service, route) (sightline_mesh_requests_total{reporter="destination",status_class="2xx"})"#)
            .await;
        r.into_iter()
            .find(|s| s["metric"]["route"] == "/orders/{int}")
    })
    .await;
    assert_eq!(ok["metric"]["destination_service"], "shop");
    assert_eq!(ok["value"][1], "3");
    let errors = prom
        .query(r#"sightline_mesh_requests_total{response_code="503"}"#)
        .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["metric"]["status_class"], "5xx");
    let p99 = prom
        .query("histogram_quantile(0.99, sum by (le) (sightline_mesh_request_duration_milliseconds_bucket))")
        .await;
    assert_eq!(p99.len(), 1, "{p99:?}");
}

#[tokio::test]
async fn tracestate_and_baggage_pass_through_and_b3_is_accepted_when_enabled() {
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(
        app.addr,
        "telemetry:\n  propagation: { b3: true }\n",
    ))
    .await;
    let send = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = http::Request::get("/x");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        async { Client::http1().send(px.inbound, req).await.unwrap() }
    };

    send(&[
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "vendor=opaque"),
        ("baggage", "tenant=acme"),
    ])
    .await;
    let h = app.last_headers();
    assert!(h["traceparent"]
        .to_str()
        .unwrap()
        .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_eq!(h["tracestate"], "vendor=opaque");
    assert_eq!(h["baggage"], "tenant=acme");

    send(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]).await;
    let h = app.last_headers();
    let tp = h["traceparent"].to_str().unwrap().to_owned();
    assert!(
        tp.starts_with("00-80f198ee56343ba864fe8b2a57d3eff7-"),
        "{tp}"
    );
    let b3 = h["b3"].to_str().unwrap();
    assert_eq!(
        b3,
        format!("80f198ee56343ba864fe8b2a57d3eff7-{}-1", &tp[36..52])
    );
    let rec = eventually("the B3 call recorded", || async {
        px.calls_at_least(2)
            .await
            .into_iter()
            .find(|c| c["trace_id"] == "80f198ee56343ba864fe8b2a57d3eff7")
    })
    .await;
    assert_eq!(rec["trace_id"], "80f198ee56343ba864fe8b2a57d3eff7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_never_slows_calls_and_dropped_spans_are_counted() {
    // A collector that accepts connections and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", stalled.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = stalled.accept().await {
            conns.push(c);
        }
    });
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(
        app.addr,
        &format!(
            "telemetry:\n  otlp: {{ endpoint: \"{endpoint}\", protocol: http/protobuf, timeout: 5s }}\n  traces: {{ queue: 4, batch: 1, interval: 10ms }}\n  metrics: {{ otlp: false }}\n"
        ),
    ))
    .await;
    for i in 0..40 {
        let r = Client::http1().get(px.inbound, &format!("/n/{i}")).await;
        assert_eq!(r.status, 200);
    }
    // A record's span is queued or dropped before the record counts as processed.
    eventually("every call processed", || async {
        (px.metric("sightline_records_processed_total").await >= 40.0).then_some(())
    })
    .await;
    let dropped = px.metric("sightline_spans_dropped_total").await;
    let queued = px.metric("sightline_spans_queued_total").await;
    assert!(dropped >= 30.0, "dropped {dropped}, queued {queued}");
    assert_eq!(
        dropped + queued,
        40.0,
        "every span is queued or counted as dropped"
    );
    assert_eq!(px.metric("sightline_records_dropped_total").await, 0.0);
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_span_names_the_client_a_trusted_proxy_forwarded() {
    let tap = OtelTap::start();
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: shop }} ]\nservices:\n  shop: {{ upstreams: [\"{}\"] }}\nclients:\n  trusted_proxies: [127.0.0.1/32]\ntelemetry:\n  otlp: {{ endpoint: \"{}\" }}\n  traces: {{ interval: 50ms }}\n  metrics: {{ otlp: false }}\n",
        app.addr, tap.endpoint
    )))
    .await;
    let mut req = sightline_tests::client::get(px.inbound, "/forwarded");
    req.headers_mut()
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    assert_eq!(
        Client::http1().send(px.inbound, req).await.unwrap().status,
        200
    );
    assert_eq!(Client::http1().get(px.inbound, "/direct").await.status, 200);
    let spans = eventually(
        "both spans at the collector (sent over the default protocol)",
        || async {
            let spans = tap.spans();
            let find = |p: &str| {
                spans
                    .iter()
                    .find(|s| attr(s, "url.path").is_some_and(|v| v == p))
                    .cloned()
            };
            Some((find("/forwarded")?, find("/direct")?))
        },
    )
    .await;
    let (forwarded, direct) = spans;
    assert_eq!(attr(&forwarded, "client.address").unwrap(), "203.0.113.7");
    assert_eq!(
        attr(&forwarded, "network.peer.address").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(attr(&direct, "client.address").unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn metrics_name_the_build_the_process_and_the_protections() {
    let app = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(
        app.addr,
        "clients:\n  rate: { per_client: 1/m, burst: 1 }\n",
    ))
    .await;
    assert_eq!(Client::http1().get(px.inbound, "/a").await.status, 200);
    assert_eq!(Client::http1().get(px.inbound, "/b").await.status, 429);
    let m = px.metrics().await;
    let line = m
        .lines()
        .find(|l| l.starts_with("sightline_build_info{"))
        .unwrap_or_else(|| panic!("no build info:\n{m}"));
    assert!(
        line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains("rustc=\"rustc "), "{line}");
    assert!(line.contains("git_commit=\""), "{line}");
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let present = m.lines().any(|l| {
            l.strip_prefix(family)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some()
        });
        assert!(present, "{family} missing:\n{m}");
    }
    assert_eq!(
        px.metric(
            r#"sightline_protection_actions_total{protection="rate_per_client",action="limited"}"#
        )
        .await,
        1.0
    );
    // The duration buckets reach the request timeout (30 s by default) and past it.
    assert!(
        m.contains(r#"sightline_request_duration_seconds_bucket{direction="inbound",service="app",le="30"}"#),
        "{m}"
    );
    // The per-edge series come from the recorder, which takes calls in batches.
    eventually(
        "per-edge duration buckets reaching five minutes",
        || async {
            px.metrics()
                .await
                .contains(r#",le="300000"}"#)
                .then_some(())
        },
    )
    .await;
}

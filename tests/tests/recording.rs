//! Every call becomes a record — failed and rejected ones included — and the counters agree.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_tests::proxy::config;
use sightline_tests::{Client, TestProxy, TestUpstream};
use std::collections::HashMap;

#[tokio::test]
async fn every_call_is_recorded_with_its_outcome() {
    let up = TestUpstream::plain().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes:
    - {{ path_prefix: /api, service: api }}
    - {{ path_prefix: /dead, service: dead }}
services:
  api: {{ upstreams: [\"{}\"] }}
  dead: {{ upstreams: [\"{dead}\"], ejection: {{ consecutive_failures: 1000 }} }}
limits: {{ request_timeout: 300ms, max_request_body: 1KiB }}
",
        up.addr
    )))
    .await;
    // path -> expected status
    let plan: Vec<(&str, u16)> = vec![
        ("/api/echo", 200),
        ("/api/status/201", 201),
        ("/api/status/503", 503),
        ("/api/hang", 504),
        ("/dead/x", 502),
        ("/nowhere", 404),
    ];
    let mut sent: HashMap<String, (&str, u16)> = HashMap::new();
    for round in 0..3 {
        for (path, status) in &plan {
            let r = Client::http1().get(px.inbound, path).await;
            assert_eq!(r.status, *status, "{path} round {round}");
            sent.insert(r.header("x-request-id").to_owned(), (*path, *status));
        }
        let big = Request::post("/api/sink")
            .body(Full::new(Bytes::from(vec![0u8; 4096])))
            .unwrap();
        let r = Client::http1().send(px.inbound, big).await.unwrap();
        assert_eq!(r.status, 413);
        sent.insert(r.header("x-request-id").to_owned(), ("/api/sink", 413));
    }
    let calls = px.calls_at_least(sent.len()).await;
    assert_eq!(calls.len(), sent.len());
    for c in &calls {
        let id = c["id"].as_str().unwrap();
        let (path, status) = sent
            .get(id)
            .unwrap_or_else(|| panic!("unexpected record {c}"));
        assert_eq!(c["path"], *path);
        assert_eq!(c["status"], *status);
        assert_eq!(c["direction"], "inbound");
        assert_eq!(c["decision"], "allowed");
        for field in [
            "time",
            "source",
            "destination",
            "method",
            "host",
            "route",
            "duration_ms",
        ] {
            assert!(!c[field].is_null(), "{field} missing in {c}");
        }
    }
    // Counters are exact and agree with the records.
    let m = px.metrics().await;
    let series = |svc: &str, class: &str| {
        let prefix = format!(
            "sightline_requests_total{{direction=\"inbound\",service=\"{svc}\",status_class=\"{class}\",decision=\"allowed\"}} "
        );
        m.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map_or(0, |v| v.parse::<u64>().unwrap())
    };
    assert_eq!(series("api", "2xx"), 6);
    assert_eq!(series("api", "4xx"), 3);
    assert_eq!(series("api", "5xx"), 6);
    assert_eq!(series("dead", "5xx"), 3);
    assert_eq!(series("-", "4xx"), 3);
    assert_eq!(px.metric("sightline_records_dropped_total").await, 0.0);
    assert_eq!(
        px.metric("sightline_records_processed_total").await,
        sent.len() as f64
    );
}

#[tokio::test]
async fn calls_api_filters_and_pages_newest_first() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(up.addr, "")).await;
    for i in 0..25 {
        let path = if i % 5 == 0 { "/status/500" } else { "/echo" };
        Client::http1().get(px.inbound, path).await;
    }
    px.calls_at_least(25).await;
    let errors = px.admin_json("/api/calls?status=5xx").await;
    assert_eq!(errors["calls"].as_array().unwrap().len(), 5);
    let exact = px
        .admin_json("/api/calls?status=500&service=app&direction=inbound")
        .await;
    assert_eq!(exact["calls"].as_array().unwrap().len(), 5);
    assert_eq!(
        px.admin_json("/api/calls?direction=egress").await["calls"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        px.admin_json("/api/calls?decision=blocked").await["calls"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let mut seen = Vec::new();
    let mut next: Option<u64> = None;
    loop {
        let q = match next {
            Some(n) => format!("/api/calls?limit=10&before={n}"),
            None => "/api/calls?limit=10".to_owned(),
        };
        let page = px.admin_json(&q).await;
        for c in page["calls"].as_array().unwrap() {
            seen.push(c["seq"].as_u64().unwrap());
        }
        match page["next"].as_u64() {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {seen:?}"
    );

    let bad = Client::http1().get(px.admin, "/api/calls?limit=0").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["reason"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn attacker_controlled_strings_come_back_as_data() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(up.addr, "")).await;
    let req = Request::get("/%3Cscript%3Ealert(1)%3C/script%3E")
        .header("host", "evil\"host")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, req).await.unwrap();
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["path"], "/%3Cscript%3Ealert(1)%3C/script%3E");
    assert_eq!(call["host"], "evil\"host");
    // Every dashboard script places values as text nodes and never parses markup.
    let mut all = String::new();
    for script in [
        "/js/app.js",
        "/js/dom.js",
        "/js/graph.js",
        "/js/details.js",
        "/js/views.js",
        "/js/login.js",
    ] {
        let ui = Client::http1().get(px.admin, script).await;
        assert_eq!(ui.status, 200, "{script}");
        let js = String::from_utf8_lossy(&ui.body).into_owned();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(
                !js.contains(sink),
                "{script} uses {sink}: UI must render text, not HTML"
            );
        }
        all.push_str(&js);
    }
    assert!(all.contains("createTextNode") && all.contains("textContent"));
}

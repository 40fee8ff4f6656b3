//! The call graph built from real traffic through the proxy, in both directions.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sightline_tests::proxy::config;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::net::SocketAddr;

/// The address the orders service calls from.
const ORDERS: [u8; 4] = [127, 0, 0, 2];

/// One GET of `url` (absolute form for egress, a path for inbound) to `proxy`, from `src`.
async fn via(proxy: SocketAddr, url: &str) -> u16 {
    via_from(ORDERS, proxy, url).await
}

async fn via_from(src: [u8; 4], proxy: SocketAddr, url: &str) -> u16 {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((src, 0))).unwrap();
    let tcp = socket.connect(proxy).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send
        .send_request(
            if url.starts_with('/') {
                Request::get(url).header("host", "shop.test")
            } else {
                Request::get(url)
            }
            .body(Empty::<Bytes>::new())
            .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

#[tokio::test]
async fn inbound_and_egress_traffic_draw_the_graph() {
    let orders = TestUpstream::plain().await;
    let payments = TestUpstream::plain().await;
    let provider = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes:
    - {{ path_prefix: /orders, service: orders }}
    - {{ path_prefix: /payments, service: payments }}
services:
  orders: {{ upstreams: [\"{}\"] }}
  payments: {{ upstreams: [\"{}\"] }}
egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.2/32, service: orders }} ]
dns:
  hosts: {{ api.provider.example: [127.0.0.1] }}
enclave:
  rules: [ {{ service: orders, cidrs: [127.0.0.1/32], ports: [{}] }} ]
",
        orders.addr,
        payments.addr,
        provider.addr.port()
    )))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    for id in [1, 2, 3, 17, 42] {
        assert_eq!(
            Client::http1()
                .get(px.inbound, &format!("/orders/{id}"))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        Client::http1()
            .get(px.inbound, "/orders/7/status/500")
            .await
            .status,
        500
    );
    for _ in 0..3 {
        assert_eq!(
            via(
                egress,
                &format!(
                    "http://api.provider.example:{}/v1/charges",
                    provider.addr.port()
                )
            )
            .await,
            200
        );
    }
    assert_eq!(via(egress, "http://169.254.169.254/latest/").await, 403);
    // East-west: the orders service calls payments through the inbound listener, from its
    // source address, so the edge starts at the service, not at the internet.
    for _ in 0..2 {
        assert_eq!(via(px.inbound, "/payments/charge").await, 200);
    }

    let graph = eventually("12 calls in the graph", || async {
        let g = px.admin_json("/api/graph?window=5m").await;
        let total: u64 = g["edges"]
            .as_array()?
            .iter()
            .map(|e| e["total"]["count"].as_u64().unwrap_or(0))
            .sum();
        (total == 12).then_some(g)
    })
    .await;
    let kinds: std::collections::HashMap<String, String> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                n["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kinds["internet"], "internet");
    assert_eq!(kinds["service:orders"], "service");
    assert_eq!(kinds["external:api.provider.example"], "external");
    assert_eq!(kinds["external:169.254.169.254"], "external");
    let edge = |from: &str, to: &str| {
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .cloned()
            .unwrap_or_else(|| panic!("no edge {from} -> {to}: {graph}"))
    };
    let inbound = edge("internet", "service:orders");
    assert_eq!(inbound["total"]["count"], 6);
    let templates: Vec<&str> = inbound["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["template"].as_str().unwrap())
        .collect();
    assert!(templates.contains(&"/orders/{int}"), "{templates:?}");
    let ids = inbound["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] == "/orders/{int}")
        .unwrap();
    assert_eq!(ids["count"], 5, "five ids, one template");
    let out = edge("service:orders", "external:api.provider.example");
    assert_eq!(out["total"]["count"], 3);
    let blocked = edge("service:orders", "external:169.254.169.254");
    assert_eq!(blocked["total"]["blocked"], 1);
    let east_west = edge("service:orders", "service:payments");
    assert_eq!(east_west["total"]["count"], 2);
    assert!(
        graph["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["to"] != "service:payments" || e["from"] == "service:orders"),
        "{graph}"
    );

    // First sightings are findings.
    let found = px.admin_json("/api/anomalies").await;
    let kinds: Vec<&str> = found["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"new_node")
            && kinds.contains(&"new_edge")
            && kinds.contains(&"new_endpoint"),
        "{kinds:?}"
    );

    let node = px.admin_json("/api/nodes/service:orders").await;
    assert_eq!(node["node"]["kind"], "service");
    assert_eq!(
        node["edges"].as_array().unwrap().len(),
        4,
        "in from the internet, out to two destinations and to payments"
    );
    let eps = px.admin_json("/api/endpoints?window=1h").await;
    assert!(eps["endpoints"].as_array().unwrap().len() >= 4);
    assert_eq!(
        Client::http1()
            .get(px.admin, "/api/nodes/nope")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_graph_registry_and_findings_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("sightline-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let up = TestUpstream::plain().await;
    let cfg = || {
        config(&format!(
            "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: billing }} ]\nservices:\n  billing: {{ upstreams: [\"{}\"] }}\nstorage: {{ path: \"{}\" }}\n",
            up.addr,
            dir.display()
        ))
    };
    let first = TestProxy::start(cfg()).await;
    assert_eq!(
        Client::http1()
            .get(first.inbound, "/invoices/7")
            .await
            .status,
        200
    );
    let new_nodes = |v: &serde_json::Value| -> Vec<String> {
        v["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"].as_str().unwrap().starts_with("new_"))
            .map(|f| {
                format!(
                    "{} {}",
                    f["kind"].as_str().unwrap(),
                    f["subject"].as_str().unwrap()
                )
            })
            .collect()
    };
    eventually("the new nodes to be stored", || async {
        let written = first.metric("sightline_store_written_total").await;
        let pending = first.metric("sightline_store_pending").await;
        (written >= 9.0 && pending == 0.0).then_some(())
    })
    .await;
    let before = new_nodes(&first.admin_json("/api/anomalies").await);
    assert!(
        before.contains(&"new_node service:billing".to_owned()),
        "{before:?}"
    );
    assert_eq!(
        before.len(),
        4,
        "two nodes, an edge, an endpoint: {before:?}"
    );
    assert!(first.sightline.shutdown().await);

    let second = TestProxy::start(cfg()).await;
    assert_eq!(
        Client::http1()
            .get(second.inbound, "/invoices/8")
            .await
            .status,
        200
    );
    eventually("the call to be analysed", || async {
        let g = second.admin_json("/api/graph").await;
        (g["edges"].as_array()?.len() == 1).then_some(())
    })
    .await;
    let after = new_nodes(&second.admin_json("/api/anomalies").await);
    assert_eq!(
        after, before,
        "known nodes, edges and endpoints must not be new again after a restart"
    );
    assert!(dir.join("sightline.db").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn openapi_templates_name_endpoints_and_undocumented_ones_are_shadow() {
    let dir = std::env::temp_dir().join(format!("sightline-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("billing.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: { title: billing, version: '1' }\npaths:\n  /invoices/{invoiceId}:\n    get: { responses: { '200': { description: ok } } }\n",
    )
    .unwrap();
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ host: billing.internal, path_prefix: /, service: billing }} ]\nservices:\n  billing: {{ upstreams: [\"{}\"], openapi: \"{}\" }}\n",
        up.addr,
        spec.display()
    )))
    .await;
    let send = |path: &'static str| {
        let px = &px;
        async move {
            let req = Request::get(path)
                .header("host", "billing.internal")
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap();
            Client::http1().send(px.inbound, req).await.unwrap().status
        }
    };
    assert_eq!(send("/invoices/INV-2024-0042").await, 200);
    assert_eq!(send("/debug/vars").await, 200);
    let eps = eventually("both endpoints", || async {
        let v = px.admin_json("/api/endpoints").await;
        (v["endpoints"].as_array()?.len() == 2).then_some(v)
    })
    .await;
    let by_template = |t: &str| {
        eps["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["template"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t}: {eps}"))
    };
    assert_eq!(by_template("/invoices/{invoiceId}")["shadow"], false);
    assert_eq!(by_template("/debug/vars")["shadow"], true);
    let found = px.admin_json("/api/anomalies").await;
    assert!(
        found["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "shadow_endpoint"
                && f["subject"].as_str().unwrap().contains("/debug/vars")),
        "{found}"
    );
    // A broken document is a config error naming the key.
    std::fs::write(&spec, "{ \"openapi\": \"3.0.0\", \"paths\": 42 }").unwrap();
    let text = format!(
        "version: 1\nadmin: {{ listen: 127.0.0.1:0 }}\ninbound: {{ listen: 127.0.0.1:0 }}\nservices:\n  billing: {{ upstreams: [\"{}\"], openapi: \"{}\" }}\n",
        up.addr,
        spec.display()
    );
    let c = sightline::Config::parse(&text, "t.yaml", std::path::Path::new("/")).unwrap();
    let err = sightline::Sightline::start(c, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("services.billing.openapi"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn trace_context_links_egress_calls_to_the_inbound_endpoint_that_made_them() {
    let app = TestUpstream::plain().await;
    let provider = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: shop }} ]\nservices:\n  shop: {{ upstreams: [\"{}\"] }}\negress:\n  listen: 127.0.0.1:0\n  sources: [ {{ cidr: 127.0.0.1/32, service: shop }} ]\nenclave:\n  networks: [127.0.0.0/8]\n",
        app.addr
    )))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    let path = format!(
        "/checkout/42/callout?via={egress}&url=http://{}/charge",
        provider.addr
    );
    let r = Client::http1().get(px.inbound, &path).await;
    assert_eq!(String::from_utf8_lossy(&r.body), "200");
    assert_eq!(provider.requests(), 1);
    let g = eventually("the dependency", || async {
        let g = px.admin_json("/api/graph").await;
        (!g["dependencies"].as_array()?.is_empty()).then_some(g)
    })
    .await;
    let dep = &g["dependencies"][0];
    assert_eq!(dep["service"], "service:shop");
    assert!(
        dep["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("GET /checkout/{int}"),
        "{dep}"
    );
    assert_eq!(dep["to"], "internal-unknown:127.0.0.1");
    assert_eq!(dep["calls"], 1);
}

/// A scan answered 404 stays one `/{unmatched}` endpoint (the template cap), and that endpoint
/// shows a few of the raw paths tried, most recent first, without their query, in
/// `/api/endpoints` and in `/api/graph`.
#[tokio::test]
async fn a_scan_answered_404_is_one_endpoint_that_shows_a_few_of_its_paths() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: shop }} ]
services:
  shop: {{ upstreams: [\"{}\"] }}
",
        up.addr
    )))
    .await;
    const PROBES: usize = 20;
    for i in 0..PROBES {
        let path = format!("/probe-{i}/%3Cscript%3E/status/404?token=secret{i}");
        assert_eq!(Client::http1().get(px.inbound, &path).await.status, 404);
    }
    let scan = eventually("the scan as one endpoint", || async {
        let v = px.admin_json("/api/endpoints?window=5m").await;
        let eps = v["endpoints"].as_array()?.clone();
        let scan = eps
            .iter()
            .find(|e| e["template"] == "/{unmatched}")?
            .clone();
        (eps.len() == 1 && scan["count"] == PROBES as u64).then_some(scan)
    })
    .await;
    let samples: Vec<&str> = scan["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no samples: {scan}"))
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(samples.len(), 8, "bounded: {samples:?}");
    assert!(
        samples
            .iter()
            .all(|p| p.starts_with("/probe-") && p.ends_with("/%3Cscript%3E/status/404")),
        "raw paths without their query: {samples:?}"
    );
    // The most recent probes (all within the same second or two: each is among the last 8).
    for p in &samples {
        let n: usize = p["/probe-".len()..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(n >= PROBES - 8, "{samples:?}");
    }
    let g = px.admin_json("/api/graph?window=5m").await;
    let in_graph: Vec<serde_json::Value> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["endpoints"].as_array().unwrap().clone())
        .filter(|ep| ep["template"] == "/{unmatched}")
        .collect();
    assert_eq!(in_graph.len(), 1, "{g}");
    assert_eq!(in_graph[0]["samples"], scan["samples"]);
    // Endpoints with their own template show no samples.
    assert_eq!(
        Client::http1().get(px.inbound, "/orders/1").await.status,
        200
    );
    let v = eventually("the answered endpoint", || async {
        let v = px.admin_json("/api/endpoints?window=5m").await;
        (v["endpoints"].as_array()?.len() == 2).then_some(v)
    })
    .await;
    let answered = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["template"] != "/{unmatched}")
        .unwrap();
    assert!(answered.get("samples").is_none(), "{answered}");
}

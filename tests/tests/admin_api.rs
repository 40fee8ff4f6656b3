//! The admin API the dashboard reads, through a real proxy: policy, history and POST handling.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_tests::proxy::simple;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};

#[tokio::test]
async fn policy_history_and_posts_through_the_admin_listener() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "enclave:\n  mode: report\n  networks: [10.0.0.0/8]\n  rules:\n    - { service: app, hosts: [api.partner.example], ports: [443] }\n",
    ))
    .await;
    for i in 0..3 {
        let r = Client::http1()
            .get(px.inbound, &format!("/items/{i}"))
            .await;
        assert_eq!(r.status, 200);
    }

    let policy = Client::http1().get(px.admin, "/api/policy").await.json();
    assert_eq!(policy["enclave"]["mode"], "report");
    assert_eq!(policy["enclave"]["networks"][0]["net"], "10.0.0.0/8");
    assert_eq!(
        policy["enclave"]["rules"][0]["hosts"][0],
        "api.partner.example"
    );
    assert_eq!(policy["enclave"]["rules"][0]["mode"], "report");
    assert_eq!(policy["reload"]["generation"], 1);
    assert_eq!(policy["admin"]["token_required"], false);

    // The recorder works off the data path: wait until the graph has the calls.
    let total = |m: &serde_json::Value| -> u64 {
        m.as_array()
            .map(|ms| ms.iter().filter_map(|x| x["count"].as_u64()).sum())
            .unwrap_or(0)
    };
    let minutes = eventually("three calls in the node's last hour", || async {
        let h = Client::http1()
            .get(px.admin, "/api/history?node=service:app")
            .await;
        let m = h.json()["minutes"].clone();
        (h.status == 200 && total(&m) == 3).then_some(m)
    })
    .await;
    assert_eq!(minutes.as_array().map(Vec::len), Some(60), "{minutes}");
    let edge = Client::http1()
        .get(px.admin, "/api/history?from=internet&to=service:app")
        .await;
    assert_eq!(edge.status, 200);
    assert_eq!(
        Client::http1()
            .get(px.admin, "/api/history?node=service:none")
            .await
            .status,
        404
    );

    // A POST body is read; without the dashboard's header it is refused as cross-site.
    let lift = |marked: bool| {
        let mut req = Request::post("/api/bans/lift").header("content-type", "application/json");
        if marked {
            req = req.header("x-sightline-request", "1");
        }
        req.body(Full::new(Bytes::from_static(
            br#"{"client":"ip:127.0.0.9"}"#,
        )))
        .unwrap()
    };
    let r = Client::http1().send(px.admin, lift(false)).await.unwrap();
    assert_eq!(r.status, 403);
    let r = Client::http1().send(px.admin, lift(true)).await.unwrap();
    assert_eq!(r.status, 404, "reached the state: nobody is banned");
    let big = Request::post("/api/bans/lift")
        .header("x-sightline-request", "1")
        .body(Full::new(Bytes::from(vec![b' '; 64 * 1024])))
        .unwrap();
    assert_eq!(
        Client::http1().send(px.admin, big).await.unwrap().status,
        413
    );
    let doc = Client::http1()
        .get(px.admin, "/api/openapi.json")
        .await
        .json();
    assert!(doc["paths"].as_object().unwrap().len() >= 20);
}

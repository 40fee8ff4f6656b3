//! Alerts end to end through the proxy: blocked egress calls become one alert per subject,
//! delivered to a real webhook receiver that checks the signature; acknowledge and resolve
//! through the admin API; the SSE stream; a receiver down across a restart gets everything;
//! a storm of 10,000 blocked calls makes one alert and one delivery.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sightline_tests::proxy::config;
use sightline_tests::receivers::{free_port, unix_now, webhook_verified, WebhookReceiver};
use sightline_tests::{eventually, Client, TestProxy};
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "webhook-secret-0123456789";

fn proxy_config(hook: SocketAddr, extra: &str) -> sightline::Config {
    config(&format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: orders }} ]
alerts:
  sinks:
    - {{ name: hook, type: webhook, url: \"http://{hook}/hook\", secret: {SECRET}, kinds: [egress_blocked, sink_failing], max_backoff: 200ms, timeout: 2s }}
{extra}"
    ))
}

/// A blocked call: the metadata address is never allowed.
async fn blocked(egress: SocketAddr, path: &str) {
    let req = Request::get(format!("http://169.254.169.254{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(egress, req).await.unwrap();
    assert_eq!(r.status, 403);
}

async fn post(admin: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let req = Request::post(path)
        .header("host", admin.to_string())
        .header("x-sightline-request", "test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().send(admin, req).await.unwrap();
    (r.status.as_u16(), r.json())
}

async fn alerts(px: &TestProxy, query: &str) -> Vec<serde_json::Value> {
    px.admin_json(&format!("/api/alerts{query}")).await["alerts"]
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn blocked_calls_reach_a_signed_webhook_and_the_api() {
    let hook = WebhookReceiver::start().await;
    let px = TestProxy::start(proxy_config(hook.addr, "")).await;
    let e = px.sightline.egress_addr().unwrap();
    for _ in 0..3 {
        blocked(e, "/latest/meta-data/").await;
    }
    let got = eventually("one webhook delivery", || async {
        let r = hook.received();
        (!r.is_empty()).then_some(r)
    })
    .await;
    let d = &got[0];
    assert_eq!(d.path, "/hook");
    // Signed as Standard Webhooks specifies: the id and the time of sending with the body.
    assert!(d.verified(SECRET), "bad signature {:?}", d.headers);
    assert!(!d.verified("another-secret-000000"));
    let (id, ts, sig) = (
        d.header("webhook-id"),
        d.header("webhook-timestamp"),
        d.header("webhook-signature"),
    );
    assert!(sig.starts_with("v1,"), "{sig}");
    assert!(ts.parse::<u64>().unwrap().abs_diff(unix_now()) < 60, "{ts}");
    // A replay cannot pass as fresh: moving the timestamp, or reusing the signature under
    // another delivery id, breaks the signature; replayed as it is, the old timestamp is
    // refused once it is more than five minutes old (and the id is a repeat meanwhile).
    let later = (ts.parse::<u64>().unwrap() + 600).to_string();
    assert!(!webhook_verified(
        SECRET,
        id,
        &later,
        &d.body,
        sig,
        unix_now() + 600
    ));
    assert!(!webhook_verified(
        SECRET,
        id,
        ts,
        &d.body,
        sig,
        unix_now() + 600
    ));
    assert!(!webhook_verified(
        SECRET,
        "999.1",
        ts,
        &d.body,
        sig,
        unix_now()
    ));
    assert_eq!(
        d.header("x-sightline-signature"),
        "",
        "the replayable body-only signature is gone"
    );
    let a = d.json();
    assert_eq!(a["kind"], "egress_blocked");
    assert_eq!(a["severity"], "high");
    assert_eq!(a["state"], "open");
    assert_eq!(a["subject"], "orders -> 169.254.169.254:80");
    assert_eq!(a["evidence"]["path"], "/latest/meta-data/");
    assert_eq!(d.header("x-sightline-delivery"), format!("{}.1", a["id"]));
    assert_eq!(d.header("webhook-id"), format!("{}.1", a["id"]));

    let id = a["id"].as_u64().unwrap();
    let listed = eventually("the alert counted 3 times and delivered", || async {
        let list = alerts(&px, "?kind=egress_blocked").await;
        list.into_iter()
            .find(|x| x["id"] == id && x["count"] == 3 && x["delivery"]["hook"] == "delivered")
    })
    .await;
    assert!(listed["first_seen"].as_str().unwrap().ends_with('Z'));
    assert!(listed["incident"].is_u64());
    let all = px.admin_json("/api/alerts").await;
    let incident = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == listed["incident"])
        .cloned()
        .unwrap();
    assert_eq!(incident["root"], "service:orders");
    assert!(incident["alerts"]
        .as_array()
        .unwrap()
        .contains(&listed["id"]));
    assert_eq!(
        px.metric("sightline_alert_deliveries_total{sink=\"hook\",result=\"delivered\"}")
            .await,
        1.0
    );
    assert_eq!(alerts(&px, "?state=resolved").await.len(), 0);
    assert_eq!(
        Client::http1()
            .get(px.admin, "/api/alerts?severity=loud")
            .await
            .status,
        400
    );

    // State changes are POST only.
    let r = Client::http1()
        .get(px.admin, &format!("/api/alerts/{id}/ack"))
        .await;
    assert_eq!(r.status, 405);
    let (status, acked) = post(px.admin, &format!("/api/alerts/{id}/ack")).await;
    assert_eq!(status, 200);
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(post(px.admin, "/api/alerts/999999/ack").await.0, 404);
    let (status, resolved) = post(px.admin, &format!("/api/alerts/{id}/resolve")).await;
    assert_eq!(status, 200);
    assert_eq!(resolved["state"], "resolved");
    let second = eventually("the resolve delivered too", || async {
        hook.received().get(1).cloned()
    })
    .await;
    assert_eq!(second.json()["state"], "resolved");
    assert_eq!(second.header("x-sightline-delivery"), format!("{id}.2"));
    assert_eq!(second.header("webhook-id"), format!("{id}.2"));
    assert!(second.verified(SECRET));
    // Resolved by hand while the cause goes on: snoozed, the repeat counts on it.
    let until = resolved["snoozed_until"].as_str().unwrap();
    assert!(until.ends_with('Z') && until > resolved["last_seen"].as_str().unwrap());
    blocked(e, "/latest/meta-data/").await;
    eventually("the repeat counted on the resolved alert", || async {
        let list = alerts(&px, "?kind=egress_blocked").await;
        list.into_iter()
            .find(|x| x["id"] == id && x["count"] == 4 && x["state"] == "resolved")
    })
    .await;
    assert!(alerts(&px, "?state=open&kind=egress_blocked")
        .await
        .is_empty());
    // Undo: the resolve is taken back and repeats count into the open alert again.
    assert_eq!(post(px.admin, "/api/alerts/999999/reopen").await.0, 404);
    let (status, back) = post(px.admin, &format!("/api/alerts/{id}/reopen")).await;
    assert_eq!(status, 200);
    assert_eq!(back["state"], "open");
    assert!(back["snoozed_until"].is_null());
    blocked(e, "/latest/meta-data/").await;
    eventually("the repeat counted on the reopened alert", || async {
        let list = alerts(&px, "?state=open&kind=egress_blocked").await;
        (list.len() == 1 && list[0]["id"] == id && list[0]["count"] == 5).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_stream_carries_each_change_as_a_server_sent_event() {
    let hook = WebhookReceiver::start().await;
    let px = TestProxy::start(proxy_config(hook.addr, "")).await;
    let e = px.sightline.egress_addr().unwrap();
    let mut tcp = tokio::net::TcpStream::connect(px.admin).await.unwrap();
    tcp.write_all(
        format!(
            "GET /api/alerts/stream HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n",
            px.admin
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read = |seen: &mut String, n: usize, buf: &[u8]| {
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    };
    // The headers and the first comment arrive before any alert.
    while !seen.contains(": connected") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream closed: {seen}");
        read(&mut seen, n, &buf);
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    blocked(e, "/sse").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let data = loop {
        if let Some(line) = seen
            .lines()
            .find(|l| l.starts_with("data: {") && l.contains("egress_blocked"))
        {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert event: {seen}"
        );
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream closed: {seen}");
        read(&mut seen, n, &buf);
    };
    assert!(seen.contains("event: alert\n"), "{seen}");
    let json: serde_json::Value = serde_json::from_str(data.trim_start_matches("data: ")).unwrap();
    assert_eq!(json["kind"], "egress_blocked");
    assert_eq!(json["evidence"]["path"], "/sse");
}

fn store_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sightline-alerts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[tokio::test]
async fn a_receiver_down_across_a_restart_gets_every_alert_when_back() {
    let dir = store_dir("restart");
    let port = free_port();
    let hook_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let extra = format!("storage: {{ path: {:?} }}\n", dir.display().to_string());
    let px = TestProxy::start(proxy_config(hook_addr, &extra)).await;
    let e = px.sightline.egress_addr().unwrap();
    for path in ["/a", "/b"] {
        blocked(e, path).await;
    }
    // Two subjects: the metadata address on port 80 and on another port.
    let req = Request::get("http://169.254.169.254:8080/c")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(Client::http1().send(e, req).await.unwrap().status, 403);
    // One sink delivers in order: the first alert fails and is retried, the second waits.
    let failed = eventually("two alerts owed, the first failing", || async {
        let list = alerts(&px, "?kind=egress_blocked").await;
        let owed: Vec<u64> = list
            .iter()
            .filter(|a| a["delivery"]["hook"] != "delivered")
            .map(|a| a["id"].as_u64().unwrap())
            .collect();
        let failing = list.iter().any(|a| a["delivery"]["hook"] == "failed");
        (owed.len() == 2 && failing).then_some(owed)
    })
    .await;
    eventually("the sink reported failing", || async {
        let owed = px
            .metric("sightline_alert_deliveries_owed{sink=\"hook\"}")
            .await;
        let sink_alert = alerts(&px, "?kind=sink_failing").await;
        (owed >= 2.0 && sink_alert.first().is_some_and(|a| a["subject"] == "hook")).then_some(())
    })
    .await;
    assert!(px.sightline.shutdown().await);

    let hook = WebhookReceiver::on(port).await;
    let px = TestProxy::start(proxy_config(hook_addr, &extra)).await;
    let got = eventually("both alerts delivered after the restart", || async {
        let ids: std::collections::BTreeSet<u64> = hook
            .received()
            .iter()
            .filter(|r| r.verified(SECRET))
            .map(|r| r.json())
            .filter(|a| a["kind"] == "egress_blocked")
            .map(|a| a["id"].as_u64().unwrap())
            .collect();
        failed.iter().all(|id| ids.contains(id)).then_some(ids)
    })
    .await;
    assert_eq!(got.len(), 2, "{got:?}");
    let sink_failing = eventually("the sink_failing alert delivered too", || async {
        hook.received()
            .into_iter()
            .map(|r| r.json())
            .find(|a| a["kind"] == "sink_failing")
    })
    .await;
    assert_eq!(sink_failing["subject"], "hook");
    eventually("the API shows them delivered", || async {
        let list = alerts(&px, "?kind=egress_blocked").await;
        list.iter()
            .filter(|a| failed.contains(&a["id"].as_u64().unwrap()))
            .all(|a| a["delivery"]["hook"] == "delivered")
            .then_some(())
    })
    .await;
    drop(px);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// Sends `n` blocked calls on one kept-alive connection.
async fn blocked_burst(egress: SocketAddr, n: usize) {
    let tcp = tokio::net::TcpStream::connect(egress).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    for _ in 0..n {
        let req = Request::get("http://169.254.169.254/storm")
            .body(Full::new(Bytes::new()))
            .unwrap();
        send.ready().await.unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 403);
        let _ = resp.into_body().collect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_ten_thousand_blocked_calls_is_one_alert_and_one_delivery() {
    let hook = WebhookReceiver::start().await;
    let px = TestProxy::start(proxy_config(hook.addr, "")).await;
    let e = px.sightline.egress_addr().unwrap();
    let bursts: Vec<_> = (0..4)
        .map(|_| tokio::spawn(blocked_burst(e, 2_500)))
        .collect();
    for b in bursts {
        b.await.unwrap();
    }
    assert_eq!(px.metric("sightline_records_dropped_total").await, 0.0);
    let alert = eventually("one alert counting 10,000", || async {
        let list = alerts(&px, "?kind=egress_blocked").await;
        assert_eq!(list.len(), 1, "{list:?}");
        let a = list.into_iter().next()?;
        (a["count"] == 10_000 && a["delivery"]["hook"] == "delivered").then_some(a)
    })
    .await;
    assert_eq!(alert["subject"], "orders -> 169.254.169.254:80");
    assert_eq!(hook.received().len(), 1, "one delivery, not one per event");
    assert_eq!(
        px.metric("sightline_alert_deliveries_total{sink=\"hook\",result=\"delivered\"}")
            .await,
        1.0
    );
    assert_eq!(
        px.metric("sightline_alert_signals_dropped_total").await,
        0.0
    );
}

#[tokio::test]
async fn a_post_from_another_origin_cannot_resolve_alerts() {
    let hook = WebhookReceiver::start().await;
    let px = TestProxy::start(proxy_config(hook.addr, "")).await;
    blocked(px.sightline.egress_addr().unwrap(), "/x").await;
    let id = eventually("an alert", || async {
        alerts(&px, "?kind=egress_blocked").await.first()?["id"].as_u64()
    })
    .await;
    let client = Client::http1();
    let send = |origin: String| {
        let req = Request::post(format!("/api/alerts/{id}/resolve"))
            .header("host", px.admin.to_string())
            .header("x-sightline-request", "dashboard")
            .header("origin", origin)
            .body(Full::new(Bytes::new()))
            .unwrap();
        client.send(px.admin, req)
    };
    let r = send("http://evil.example".into()).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        alerts(&px, "?kind=egress_blocked").await[0]["state"],
        "open"
    );
    let r = send(format!("http://{}", px.admin)).await.unwrap();
    assert_eq!(r.status, 200, "the dashboard's own origin");
    assert_eq!(r.json()["state"], "resolved");
}

/// Sends `n` blocked calls, each to a different link-local address, on one kept-alive
/// connection from `from`.
async fn blocked_to_many(egress: SocketAddr, from: std::net::IpAddr, n: u32) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let tcp = socket.connect(egress).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    for i in 0..n {
        let req = Request::get(format!("http://169.254.{}.{}/x", 1 + i / 250, 1 + i % 250))
            .body(Full::new(Bytes::new()))
            .unwrap();
        send.ready().await.unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 403);
        let _ = resp.into_body().collect().await;
    }
}

/// 10,000 blocked calls from one service, each to a different address (10,000 subjects),
/// used to fill the alert book so that every later alert was dropped with only a metric. The
/// service's subjects now count into one alert for the source, and a later alert about
/// another service opens and is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_subjects_cannot_silence_later_alerts() {
    let hook = WebhookReceiver::start().await;
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  sources:
    - {{ cidr: 127.0.0.0/8, service: orders }}
    - {{ cidr: 127.0.0.2/32, service: payments }}
alerts:
  sinks:
    - {{ name: hook, type: webhook, url: \"http://{}/hook\", secret: {SECRET}, kinds: [egress_blocked], max_backoff: 200ms, timeout: 2s }}
",
        hook.addr
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    blocked_to_many(e, [127, 0, 0, 1].into(), 10_000).await;
    assert_eq!(px.metric("sightline_records_dropped_total").await, 0.0);
    let group = eventually("the source's subjects counted into one alert", || async {
        let list = alerts(&px, "?kind=egress_blocked&limit=1000").await;
        list.into_iter()
            .find(|a| a["subject"] == "orders -> *" && a["count"] == 10_000 - 20)
    })
    .await;
    assert!(
        group["summary"]
            .as_str()
            .unwrap()
            .contains("more than 20 subjects from one source"),
        "{group}"
    );
    let blocked = alerts(&px, "?kind=egress_blocked&limit=1000").await;
    assert_eq!(blocked.len(), 21, "20 subjects and the source's alert");

    blocked_to_many(e, [127, 0, 0, 2].into(), 1).await;
    let later = eventually("the later alert delivered", || async {
        hook.received()
            .into_iter()
            .find(|d| d.json()["subject"] == "payments -> 169.254.1.1:80")
    })
    .await;
    assert_eq!(later.json()["state"], "open");
    assert_eq!(
        px.metric("sightline_alert_signals_dropped_total").await,
        0.0
    );
    assert!(px.metric("sightline_alert_overflow_total").await >= 9_980.0);
}

/// A proxy in front of one service, `shop`, with an egress listener for `orders`.
async fn shop_proxy(shop: SocketAddr) -> TestProxy {
    TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /shop, service: shop }} ]
services:
  shop: {{ upstreams: [\"{shop}\"] }}
egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: orders }} ]
"
    )))
    .await
}

const SHOP_PATHS: [&str; 12] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima",
];

#[tokio::test]
async fn first_sightings_while_learning_are_one_inventory_digest() {
    let shop = sightline_tests::TestUpstream::plain().await;
    let px = shop_proxy(shop.addr).await;
    for p in SHOP_PATHS {
        let r = Client::http1().get(px.inbound, &format!("/shop/{p}")).await;
        assert_eq!(r.status, 200);
    }
    blocked(px.sightline.egress_addr().unwrap(), "/latest/meta-data/").await;
    // The shop, its twelve endpoints, its callers and the blocked destination, on several
    // nodes: one digest for the learning period, counting and listing them.
    let digest = eventually(
        "one inventory digest with the shop and the blocked host",
        || async {
            let list = alerts(&px, "?state=open&kind=inventory").await;
            list.into_iter().find(|a| {
                let nodes = a["evidence"]["nodes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                a["evidence"]["counts"]["new_endpoint"].as_u64() >= Some(12)
                    && nodes.contains(&"service:shop".into())
                    && nodes.contains(&"external:169.254.169.254".into())
            })
        },
    )
    .await;
    assert_eq!(digest["severity"], "info");
    assert_eq!(digest["subject"], "learning period");
    let total = digest["evidence"]["appeared_total"].as_u64().unwrap();
    assert_eq!(digest["count"].as_u64(), Some(total));
    let listed: Vec<&str> = digest["evidence"]["appeared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len() as u64, total);
    for subject in [
        "service:shop",
        "service:shop GET /shop/lima",
        "external:169.254.169.254",
    ] {
        assert!(listed.contains(&subject), "{subject} not in {listed:?}");
    }
    let summary = digest["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("inventory: {total} new while baselines learn: "))
            && summary.contains("12 endpoints"),
        "{summary}"
    );
    let open = alerts(&px, "?state=open").await;
    for kind in [
        "new_service",
        "new_edge",
        "new_endpoint",
        "new_external_destination",
    ] {
        assert!(
            open.iter().all(|a| a["kind"] != kind),
            "{kind} still alerts one by one: {open:?}"
        );
    }
    let digests = open.iter().filter(|a| a["kind"] == "inventory").count();
    assert_eq!(digests, 1, "{open:?}");
    // A blocked call stays an alert of its own.
    let blocked: Vec<_> = open
        .iter()
        .filter(|a| a["kind"] == "egress_blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{open:?}");
    assert_eq!(blocked[0]["subject"], "orders -> 169.254.169.254:80");
}

async fn request(
    admin: SocketAddr,
    method: http::Method,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", admin.to_string())
        .header("x-sightline-request", "test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let r = Client::http1().send(admin, req).await.unwrap();
    (r.status.as_u16(), r.json())
}

/// A silence on one kind and subject: its alerts are recorded and shown as silenced but never
/// reach the webhook, while another subject of the kind still does; the silence survives a
/// restart and can be ended; bad requests get a reason.
#[tokio::test]
async fn a_silence_keeps_its_alerts_from_sinks_but_not_from_the_api() {
    let dir = store_dir("silence");
    let hook = WebhookReceiver::start().await;
    let extra = format!("storage: {{ path: {:?} }}\n", dir.display().to_string());
    let px = TestProxy::start(proxy_config(hook.addr, &extra)).await;
    let admin = px.admin;
    use http::Method;
    for (body, reason) in [
        (
            r#"{"kind":"no_such_kind","duration":"1h","reason":"x"}"#,
            "kind",
        ),
        (r#"{"kind":"egress_blocked","reason":"x"}"#, "exactly one"),
        (
            r#"{"kind":"egress_blocked","duration":"1h","until":"2030-01-01T00:00:00Z","reason":"x"}"#,
            "exactly one",
        ),
        (
            r#"{"kind":"egress_blocked","duration":"soon","reason":"x"}"#,
            "duration",
        ),
        (
            r#"{"kind":"egress_blocked","until":"yesterday","reason":"x"}"#,
            "until",
        ),
        (r#"{"kind":"egress_blocked","duration":"1h"}"#, "reason"),
        (
            r#"{"kind":"egress_blocked","duration":"1h","reason":"x","extra":1}"#,
            "unknown field",
        ),
    ] {
        let (status, v) = request(admin, Method::POST, "/api/silences", body).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(
            v["reason"].as_str().unwrap().contains(reason),
            "{body}: {v}"
        );
    }
    // A time past makes a silence already over; one too far ahead ends after 90 days.
    let (status, over) = request(
        admin,
        Method::POST,
        "/api/silences",
        r#"{"kind":"egress_blocked","until":"2001-01-01T00:00:00+02:00","reason":"x"}"#,
    )
    .await;
    assert_eq!(
        (status, &over["active"]),
        (201, &serde_json::json!(false)),
        "{over}"
    );
    let (status, far) = request(
        admin,
        Method::POST,
        "/api/silences",
        r#"{"kind":"flood","duration":"400d","reason":"x"}"#,
    )
    .await;
    assert_eq!(status, 201, "{far}");
    let days = (unix_secs(far["until"].as_str().unwrap()) - unix_now() as f64) / 86_400.0;
    assert!((89.9..=90.1).contains(&days), "{far}");
    // The one over is forgotten once another is added.
    let (status, _) = request(
        admin,
        Method::DELETE,
        &format!("/api/silences/{}", over["id"]),
        "",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = request(
        admin,
        Method::DELETE,
        &format!("/api/silences/{}", far["id"]),
        "",
    )
    .await;
    assert_eq!(status, 200);
    let subject = "orders -> 169.254.169.254:80";
    let (status, silence) = request(
        admin,
        Method::POST,
        "/api/silences",
        &serde_json::json!({
            "kind": "egress_blocked",
            "subject": subject,
            "duration": "1h",
            "reason": "red team exercise",
        })
        .to_string(),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    let id = silence["id"].as_u64().unwrap();
    assert_eq!(silence["active"], true);
    assert_eq!(silence["subject"], subject);

    let e = px.sightline.egress_addr().unwrap();
    blocked(e, "/latest/meta-data/").await;
    // Another subject of the same kind: the metadata address on another port.
    let req = Request::get("http://169.254.169.254:8080/c")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(Client::http1().send(e, req).await.unwrap().status, 403);
    let other = eventually("the other subject delivered", || async {
        hook.received()
            .into_iter()
            .map(|r| r.json())
            .find(|a| a["subject"] == "orders -> 169.254.169.254:8080")
    })
    .await;
    assert_eq!(other["silenced_by"], serde_json::Value::Null);
    let list = alerts(&px, "?kind=egress_blocked").await;
    let muted = list.iter().find(|a| a["subject"] == subject).unwrap();
    assert_eq!(muted["silenced_by"], id);
    assert_eq!(muted["state"], "open");
    assert_eq!(muted["delivery"], serde_json::json!({}), "{muted}");
    assert!(
        muted["id"].as_u64() < other["id"].as_u64(),
        "the silenced alert opened first, so the sink would have sent it first"
    );
    assert!(
        hook.received()
            .iter()
            .all(|r| r.json()["subject"] != subject),
        "a silenced alert reached the webhook"
    );
    assert!(px.sightline.shutdown().await);

    let px = TestProxy::start(proxy_config(hook.addr, &extra)).await;
    let admin = px.admin;
    let listed = px.admin_json("/api/silences").await;
    assert_eq!(listed["silences"][0]["id"], id, "{listed}");
    assert_eq!(listed["silences"][0]["reason"], "red team exercise");
    let (status, ended) = request(admin, Method::DELETE, &format!("/api/silences/{id}"), "").await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["id"], id);
    let (status, _) = request(admin, Method::DELETE, &format!("/api/silences/{id}"), "").await;
    assert_eq!(status, 404);
    assert_eq!(
        px.admin_json("/api/silences").await["silences"],
        serde_json::json!([])
    );
    assert!(
        hook.received()
            .iter()
            .all(|r| r.json()["subject"] != subject),
        "ending a silence sends what it muted"
    );
    drop(px);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// Unix seconds of an RFC 3339 UTC time.
fn unix_secs(t: &str) -> f64 {
    humantime::parse_rfc3339(t)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One call on a kept-alive connection (a new one when the proxy closed it); its status.
async fn call_on(
    conn: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    path: &str,
) -> u16 {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, c) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(c);
        *conn = Some(send);
    }
    let send = conn.as_mut().unwrap();
    send.ready().await.unwrap();
    let req = Request::get(path)
        .header("host", "shop.test")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// A spike on one endpoint of a service and an error surge on another, at once: the analysis
/// places both in one incident, and that incident is one alert (counting every finding of it,
/// listing both kinds), where grouping by kind along the call chain made two. Time is the
/// proxy's own clock, moved one baseline step at a time once every call of the step is recorded.
#[tokio::test]
async fn one_incident_of_the_analysis_is_one_alert_whatever_its_kinds() {
    use sightline_policy::clients::Clock;
    use std::sync::atomic::Ordering::Relaxed;
    const STEP: std::time::Duration = std::time::Duration::from_secs(60);
    const WARM: u64 = 30;
    const INJECTED: u64 = 8;
    let shop = sightline_tests::TestUpstream::plain().await;
    let clock = sightline_tests::proxy::stepped_clock(STEP);
    let px = TestProxy::start_with_clock(
        config(&format!(
            "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
analysis: {{ learning: 20m, persistence: 3m, min_rate: 3 }}
",
            shop.addr
        )),
        clock.clone(),
    )
    .await;
    let recorder = px.sightline.shared().recorder.clone();
    let (mut items, mut pay) = (None, None);
    let mut sent = 0u64;
    let injected_from = clock.now() / 1_000_000 + WARM * 60;
    for i in 0..WARM + INJECTED {
        let injected = i >= WARM;
        for n in 0..6 {
            for _ in 0..if injected { 4 } else { 1 } {
                call_on(&mut items, px.inbound, "/items").await;
                sent += 1;
            }
            let code = if injected && n % 2 == 0 { 500 } else { 200 };
            call_on(&mut pay, px.inbound, &format!("/pay/status/{code}")).await;
            sent += 1;
        }
        eventually("the recorder to process every call of the step", || async {
            (recorder.counters().records_processed.load(Relaxed) >= sent).then_some(())
        })
        .await;
        clock.advance(STEP);
    }
    // A last call closes the final step.
    call_on(&mut items, px.inbound, "/items").await;
    let anomaly = |a: &serde_json::Value| {
        ["rate_anomaly", "error_anomaly", "latency_anomaly"].contains(&a["kind"].as_str().unwrap())
    };
    // Both kinds found, in one incident of the analysis.
    let findings = eventually("a rate spike and an error surge", || async {
        let all = px.admin_json("/api/anomalies").await["anomalies"].clone();
        let stats: Vec<serde_json::Value> = all
            .as_array()?
            .iter()
            .filter(|f| f["evidence"]["incident"].is_u64())
            .cloned()
            .collect();
        let kinds: Vec<&str> = stats.iter().filter_map(|f| f["kind"].as_str()).collect();
        (kinds.contains(&"rate_spike") && kinds.contains(&"error_surge")).then_some(stats)
    })
    .await;
    assert!(
        findings
            .iter()
            .all(|f| f["at"].as_u64().unwrap() >= injected_from),
        "nothing before the injection: {findings:?}"
    );
    let incident = findings[0]["evidence"]["incident"].clone();
    assert!(
        findings
            .iter()
            .all(|f| f["evidence"]["incident"] == incident),
        "one incident: {findings:?}"
    );
    // Still open: the alert engine judges quiet on the proxy's clock, which stands a few steps
    // after the last finding (the quiet period is 15 minutes), not on the wall clock two days on.
    let alert = eventually(
        "the incident's open alert counting every finding",
        || async {
            let open: Vec<serde_json::Value> = alerts(&px, "?state=open")
                .await
                .into_iter()
                .filter(anomaly)
                .collect();
            let counted = open
                .iter()
                .map(|a| a["count"].as_u64().unwrap())
                .sum::<u64>();
            (counted as usize >= findings.len()).then_some(open)
        },
    )
    .await;
    assert_eq!(alert.len(), 1, "one alert for the incident: {alert:?}");
    let a = &alert[0];
    assert_eq!(a["count"].as_u64(), Some(findings.len() as u64), "{a}");
    assert_eq!(a["evidence"]["incident"], incident);
    let kinds: Vec<&str> = a["evidence"]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"rate_anomaly") && kinds.contains(&"error_anomaly"),
        "{kinds:?}"
    );
    assert!(
        a["summary"]
            .as_str()
            .unwrap()
            .starts_with("anomalies along service:app"),
        "{a}"
    );
    assert!(a["nodes"]
        .as_array()
        .unwrap()
        .contains(&"service:app".into()));
}

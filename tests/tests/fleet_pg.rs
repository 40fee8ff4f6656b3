//! Fleet mode with a real PostgreSQL (Debian's, started by the test on loopback): three
//! instances sharing one store. The graph and endpoints from any admin show what only the
//! others saw; `/api/status` lists every instance's heartbeat; a blocked call seen by all three
//! is delivered to the webhook once, also when the instance that claimed it dies first; an
//! alert shows on every admin and outlives the instance that raised it (delivered once, by a
//! survivor when it died owing it); the fleet's findings show on every admin; a new detection
//! leader resumes the saved baselines; the database stopped and restarted under load: traffic
//! keeps flowing, nothing is lost beyond what is counted, and the store catches up.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_tests::postgres::Postgres;
use sightline_tests::proxy::{config, start_all};
use sightline_tests::receivers::{free_port, WebhookReceiver};
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::net::SocketAddr;

/// Instance `n` of a fleet: its own service `app{n}` behind `upstream`, plus `extra`.
fn instance(n: usize, pg: &Postgres, upstream: SocketAddr, extra: &str) -> sightline::Config {
    config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: app{n} }} ]
services:
  app{n}: {{ upstreams: [\"{upstream}\"] }}
fleet:
  instance: gw-{n}
  postgres: {url}
{extra}",
        url = pg.url()
    ))
}

async fn fleet(pg: &Postgres, upstream: SocketAddr, extra: &str) -> Vec<TestProxy> {
    start_all((1..=3).map(|n| instance(n, pg, upstream, extra))).await
}

fn edges_to(graph: &serde_json::Value) -> Vec<String> {
    let mut to: Vec<String> = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    to
}

#[tokio::test]
async fn the_graph_from_any_admin_shows_edges_seen_only_by_the_others() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let fleet = fleet(&pg, up.addr, "").await;
    for px in &fleet {
        let r = Client::http1().get(px.inbound, "/orders/1").await;
        assert_eq!(r.status, 200);
    }
    let all = vec!["service:app1", "service:app2", "service:app3"];
    for px in &fleet {
        eventually("every instance's edge in this admin's graph", || async {
            let g = px.admin_json("/api/graph?window=1h").await;
            let to = edges_to(&g);
            let nodes: Vec<&str> = g["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap())
                .collect();
            (to == all && all.iter().all(|id| nodes.contains(id))).then_some(())
        })
        .await;
    }
    // The instance filter: one instance's slice, read from another's admin.
    let g = fleet[0]
        .admin_json("/api/graph?window=1h&instance=gw-2")
        .await;
    assert_eq!(edges_to(&g), vec!["service:app2"]);
    let g = fleet[1]
        .admin_json("/api/graph?window=1h&instance=gw-2")
        .await;
    assert_eq!(edges_to(&g), vec!["service:app2"]);
    // The endpoints too (the dashboard's instance picker sets the same filter).
    eventually("gw-3's endpoints alone in gw-1's filtered list", || async {
        let e = fleet[0]
            .admin_json("/api/endpoints?window=1h&instance=gw-3")
            .await;
        let nodes: Vec<String> = e["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].as_str().unwrap().to_owned())
            .collect();
        (nodes == vec!["service:app3"]).then_some(())
    })
    .await;
    // Every instance heartbeats: any admin lists all three, alive.
    let status = eventually("three live instances in /api/status", || async {
        let s = fleet[2].admin_json("/api/status").await;
        let live = s["fleet"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["alive"] == true)
            .count();
        (live == 3).then_some(s)
    })
    .await;
    assert_eq!(status["fleet"]["instance"], "gw-3");
    assert_eq!(status["fleet"]["postgres"]["state"], "up");
    let names: Vec<&str> = status["fleet"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["gw-1", "gw-2", "gw-3"]);
    for i in status["fleet"]["instances"].as_array().unwrap() {
        assert!(i["last_heartbeat"].as_str().unwrap().ends_with('Z'), "{i}");
    }
}

/// The `samples` paths of the `/{unmatched}` endpoints of `service:{to}` in an API answer's
/// endpoint list.
fn unmatched_samples(endpoints: &serde_json::Value, to: &str) -> Vec<String> {
    endpoints
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["template"] == "/{unmatched}" && e["node"].as_str().is_none_or(|n| n == to))
        .flat_map(|e| e["samples"].as_array().cloned().unwrap_or_default())
        .map(|s| s["path"].as_str().unwrap().to_owned())
        .collect()
}

/// A probe answered 404 on one instance is collapsed into `/{unmatched}`; the other
/// instances' admins show its raw path among that endpoint's samples.
#[tokio::test]
async fn a_path_probed_on_one_instance_shows_in_the_others_unmatched_samples() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let fleet = fleet(&pg, up.addr, "").await;
    let probe = "/only-on-gw-2/status/404";
    let r = Client::http1()
        .get(fleet[1].inbound, &format!("{probe}?k=secret"))
        .await;
    assert_eq!(r.status, 404);
    for px in [&fleet[0], &fleet[2]] {
        eventually("gw-2's probe among this admin's samples", || async {
            let v = px.admin_json("/api/endpoints?window=5m").await;
            let got = unmatched_samples(&v["endpoints"], "service:app2");
            (got == vec![probe.to_owned()]).then_some(())
        })
        .await;
    }
    let g = fleet[0].admin_json("/api/graph?window=1h").await;
    let edge = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "service:app2")
        .unwrap_or_else(|| panic!("{g}"));
    assert_eq!(
        unmatched_samples(&edge["endpoints"], "service:app2"),
        vec![probe]
    );
    // The instance filter keeps them: gw-2's slice read from gw-3.
    let v = fleet[2]
        .admin_json("/api/endpoints?window=5m&instance=gw-2")
        .await;
    assert_eq!(
        unmatched_samples(&v["endpoints"], "service:app2"),
        vec![probe]
    );
}

fn alerting(hook_port: u16) -> String {
    format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: orders }} ]
alerts:
  sinks:
    - {{ name: hook, type: webhook, url: \"http://127.0.0.1:{hook_port}/hook\", kinds: [egress_blocked], max_backoff: 200ms, timeout: 1s }}
"
    )
}

/// A call to the metadata address: refused, and an `egress_blocked` alert.
async fn blocked(px: &TestProxy) {
    let req = Request::get("http://169.254.169.254/latest/meta-data/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1()
        .send(px.sightline.egress_addr().unwrap(), req)
        .await
        .unwrap();
    assert_eq!(r.status, 403);
}

/// Waits until `px` has raised the alert and settled its delivery (sent, or sent by the
/// instance that claimed it).
async fn settled(px: &TestProxy) {
    eventually("the alert settled", || async {
        let a = px.admin_json("/api/alerts?kind=egress_blocked").await;
        let alerts = a["alerts"].as_array().cloned().unwrap_or_default();
        (alerts.len() == 1 && alerts[0]["delivery"]["hook"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_alert_raised_by_three_instances_is_delivered_once() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let hook = WebhookReceiver::start().await;
    let fleet = fleet(&pg, up.addr, &alerting(hook.addr.port())).await;
    for px in &fleet {
        blocked(px).await;
    }
    // Only once every instance has settled is the receiver's count final.
    for px in &fleet {
        settled(px).await;
    }
    let got = hook.received();
    assert_eq!(got.len(), 1, "one delivery for the fleet: {got:?}");
    assert_eq!(got[0].json()["kind"], "egress_blocked");
    assert_eq!(
        pg.query("SELECT count(*) FROM alert_claims WHERE delivered_at IS NOT NULL"),
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_claimed_by_an_instance_that_dies_is_delivered_by_another() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    // The receiver is down at first: the instance that claims the alert cannot deliver it.
    let port = free_port();
    let mut fleet = fleet(&pg, up.addr, &alerting(port)).await;
    blocked(&fleet[0]).await;
    eventually("gw-1 holds the claim, undelivered", || async {
        let holder = pg.query("SELECT instance FROM alert_claims WHERE delivered_at IS NULL");
        (holder == "gw-1").then_some(())
    })
    .await;
    let gone = fleet.remove(0);
    assert!(gone.sightline.shutdown().await);
    let hook = WebhookReceiver::on(port).await;
    for px in &fleet {
        blocked(px).await;
    }
    for px in &fleet {
        settled(px).await;
    }
    let got = hook.received();
    assert_eq!(got.len(), 1, "delivered once, by a survivor: {got:?}");
    let holder = pg.query("SELECT instance FROM alert_claims WHERE delivered_at IS NOT NULL");
    assert!(holder == "gw-2" || holder == "gw-3", "{holder}");
}

/// An alert raised on one instance is stored in PostgreSQL with its incident, shown by every
/// admin of the fleet (naming the instance that raised it), and still shown once that instance
/// is gone; it was delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_on_one_instance_shows_everywhere_and_outlives_it() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let hook = WebhookReceiver::start().await;
    let mut fleet = fleet(&pg, up.addr, &alerting(hook.addr.port())).await;
    blocked(&fleet[0]).await;
    settled(&fleet[0]).await;
    let own = fleet[0].admin_json("/api/alerts").await;
    assert_eq!(own["alerts"][0].get("instance"), None, "its own alert");
    let incidents = own["incidents"].as_array().unwrap().len();
    let shown = |px: &TestProxy| {
        let admin = px.admin;
        async move {
            let a = Client::http1()
                .get(admin, "/api/alerts?kind=egress_blocked")
                .await
                .json();
            let alerts = a["alerts"].as_array().cloned().unwrap_or_default();
            (alerts.len() == 1
                && alerts[0]["instance"] == "gw-1"
                && alerts[0]["delivery"]["hook"] == "delivered"
                && a["incidents"].as_array().unwrap().len() == incidents)
                .then_some(a)
        }
    };
    for px in &fleet[1..] {
        eventually("gw-1's alert in this admin", || shown(px)).await;
    }
    assert_eq!(
        pg.query("SELECT count(*) FROM alerts WHERE instance = 'gw-1' AND kind = 'egress_blocked' AND NOT owed"),
        "1"
    );
    assert_eq!(
        pg.query("SELECT count(*) FROM incidents WHERE instance = 'gw-1'"),
        incidents.to_string()
    );
    let gone = fleet.remove(0);
    assert!(gone.sightline.shutdown().await);
    eventually("gw-1 gone from the heartbeats", || async {
        let s = fleet[0].admin_json("/api/status").await;
        let gw1 = s["fleet"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instance"] == "gw-1")
            .cloned()
            .unwrap();
        (gw1["alive"] == false).then_some(())
    })
    .await;
    for px in &fleet {
        eventually("gw-1's alert outlives it", || shown(px)).await;
    }
    assert_eq!(hook.received().len(), 1, "delivered once");
}

/// The heartbeat reads the other instances' alerts as they change rather than every second:
/// while nothing changes, six heartbeats read no alert rows (at most the full read each makes
/// once a minute, two rows here, where they read one each before), and an acknowledgement on
/// the instance that raised the alert still reaches the others' admins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_reads_only_the_alerts_that_changed() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let hook = WebhookReceiver::start().await;
    let fleet = fleet(&pg, up.addr, &alerting(hook.addr.port())).await;
    blocked(&fleet[0]).await;
    settled(&fleet[0]).await;
    let other = &fleet[1];
    let shown = |state: &'static str| async move {
        let a = other.admin_json("/api/alerts?kind=egress_blocked").await;
        let a = a["alerts"].as_array()?.first()?.clone();
        (a["instance"] == "gw-1" && a["state"] == state && a["delivery"]["hook"] == "delivered")
            .then_some(a)
    };
    let alert = eventually("gw-1's delivered alert in gw-2's admin", || shown("open")).await;
    let rows = |table: &'static str| async move {
        let series = format!("sightline_fleet_postgres_rows_read_total{{table=\"{table}\"}}");
        other.metric(&series).await
    };
    let (alerts_before, instances_before) = (rows("alerts").await, rows("instances").await);
    // Each heartbeat reads the three instances' rows.
    eventually("six more heartbeats of gw-2", || async {
        (rows("instances").await >= instances_before + 18.0).then_some(())
    })
    .await;
    let read = rows("alerts").await - alerts_before;
    assert!(
        read <= 2.0,
        "{read} alert rows read in six quiet heartbeats"
    );
    let id = alert["id"].as_u64().unwrap();
    let acked = fleet[0]
        .admin_post(&format!("/api/alerts/{id}/ack"), "")
        .await;
    assert_eq!(acked.status, 200);
    eventually("the acknowledgement in gw-2's admin", || {
        shown("acknowledged")
    })
    .await;
    assert!(
        rows("alerts").await > alerts_before + read,
        "the changed row read"
    );
}

/// An alert only one instance raised, claimed by it but not delivered (the receiver was
/// down), is delivered once by a survivor after that instance dies, although no survivor saw
/// its cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_owed_by_an_instance_that_dies_is_delivered_once_by_a_survivor() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let port = free_port();
    let mut fleet = fleet(&pg, up.addr, &alerting(port)).await;
    blocked(&fleet[0]).await;
    eventually("gw-1 holds the claim, undelivered, and stored the alert owed", || async {
        let holder = pg.query("SELECT instance FROM alert_claims WHERE delivered_at IS NULL");
        let owed = pg.query(
            "SELECT count(*) FROM alerts WHERE instance = 'gw-1' AND kind = 'egress_blocked' AND owed",
        );
        (holder == "gw-1" && owed == "1").then_some(())
    })
    .await;
    let gone = fleet.remove(0);
    assert!(gone.sightline.shutdown().await);
    let hook = WebhookReceiver::on(port).await;
    // gw-1 counts as gone after its heartbeats stop for 10 s; then a survivor raises it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while hook.received().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the owed alert was not delivered by a survivor"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for px in &fleet {
        settled(px).await;
    }
    let got = hook.received();
    assert_eq!(got.len(), 1, "delivered once, by a survivor: {got:?}");
    assert_eq!(got[0].json()["kind"], "egress_blocked");
    assert_eq!(got[0].json()["evidence"]["raised_by"], "gw-1");
}

async fn send(px: &TestProxy, n: usize) {
    for i in 0..n {
        let r = Client::http1().get(px.inbound, &format!("/load/{i}")).await;
        assert_eq!(r.status, 200, "traffic flows whatever the store does");
    }
}

async fn status(px: &TestProxy) -> serde_json::Value {
    px.admin_json("/api/status").await["fleet"]["postgres"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted_under_load_loses_nothing_uncounted() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(instance(1, &pg, up.addr, "")).await;
    const EACH: usize = 150;
    send(&px, EACH).await;
    pg.stop();
    send(&px, EACH).await;
    eventually("the shared store reported down", || async {
        (status(&px).await["state"] == "down").then_some(())
    })
    .await;
    assert!(px.metric("sightline_store_errors_total ").await >= 1.0);
    // Still ready (writes are buffered), and /readyz says the store is down.
    let ready = Client::http1().get(px.admin, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["backends"]["postgres"], "down");
    send(&px, EACH).await;
    pg.resume();
    send(&px, EACH).await;
    let total = 4 * EACH as u64;
    // Catch-up: every call is either in PostgreSQL or counted as dropped, nothing pending.
    eventually("the store caught up", || async {
        let s = status(&px).await;
        let stored: u64 = pg
            .query("SELECT count(*) FROM calls WHERE instance = 'gw-1'")
            .parse()
            .unwrap();
        let dropped = s["dropped"].as_u64().unwrap();
        (s["state"] == "up" && s["pending"] == 0 && stored + dropped == total).then_some(())
    })
    .await;
    let ready = Client::http1().get(px.admin, "/readyz").await;
    assert_eq!(ready.json()["backends"]["postgres"], "up");
    // The buffer holds far more than this load: nothing had to be dropped.
    assert_eq!(status(&px).await["dropped"], 0);
    assert_eq!(
        pg.query("SELECT count(*) FROM calls WHERE instance = 'gw-1'"),
        total.to_string()
    );
    let edges =
        pg.query("SELECT count(*) FROM edges WHERE instance = 'gw-1' AND dst = 'service:app1'");
    assert_eq!(edges, "1");
}

/// The detection's step in the fleet tests (a minute in production).
const STEP_MS: u64 = 150;
/// Steps of learning before any statistical anomaly.
const LEARN: u64 = 100;
/// The step at which the first leader stops (past its learning, with a few steps to spare
/// for the leader's grace behind the live step).
const HANDOVER: u64 = LEARN + 20;
/// Steps of normal traffic before the spike: the spike comes 20 steps after the hand-over, far
/// fewer than a successor learning from scratch would need.
const WARM: u64 = HANDOVER + 20;
/// Steps the spike lasts.
const SPIKE: u64 = 15;
/// Calls per step over the fleet, normally: 3 on each of four instances, then 4 on each of
/// the three left.
const NORMAL: usize = 12;
/// Calls per step on each of the three instances during the spike: the fleet sees three
/// times that, and only the fleet's totals reach `min_rate`.
const SPIKE_CALLS: usize = 12;
const MIN_RATE: usize = 13;

/// Instance `n` serving the same service as the others, detecting on compressed steps.
fn same_service(n: usize, pg: &Postgres, upstream: SocketAddr) -> sightline::Config {
    config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: shop }} ]
services:
  shop: {{ upstreams: [\"{upstream}\"] }}
analysis: {{ step: {STEP_MS}ms, learning: {learn}ms, persistence: {persist}ms, min_rate: {MIN_RATE} }}
fleet:
  instance: gw-{n}
  postgres: {url}
",
        url = pg.url(),
        learn = LEARN * STEP_MS,
        persist = 3 * STEP_MS,
    ))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sleeps until `step` has begun (and a few milliseconds more).
async fn until_step(step: u64) {
    let at = step * STEP_MS + 5;
    let now = now_ms();
    if at > now {
        tokio::time::sleep(std::time::Duration::from_millis(at - now)).await;
    }
}

async fn leaders(fleet: &[TestProxy]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, px) in fleet.iter().enumerate() {
        if px.admin_json("/api/status").await["fleet"]["detection_leader"] == true {
            out.push(i);
        }
    }
    out
}

async fn spikes(px: &TestProxy) -> Vec<serde_json::Value> {
    let list = px.admin_json("/api/anomalies").await["anomalies"].clone();
    list.as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "rate_spike")
        .cloned()
        .collect()
}

/// Sends `calls(i)` calls in each step `first + i` over one kept-alive connection (the calls
/// land inside their step), for `steps` steps.
fn steady(
    inbound: SocketAddr,
    first: u64,
    steps: u64,
    calls: impl Fn(u64) -> usize + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tcp = tokio::net::TcpStream::connect(inbound).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        for i in 0..steps {
            until_step(first + i).await;
            for _ in 0..calls(i) {
                let req = Request::get("/items")
                    .header("host", "shop.test")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let resp = send.send_request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap();
            }
        }
    })
}

/// The fleet's detection survives its leader: the leader of four instances stops after the
/// baselines are learned, another takes the lead over and resumes the saved baselines, so a
/// spike 20 steps later (a fresh start would still be learning for 80 more) is raised. The
/// spike is spread evenly over the three instances left, each below `min_rate` on its own; it
/// is raised once, from the fleet's totals, and every instance's `/api/anomalies` shows it
/// once (the others naming the instance that raised it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_split_over_three_instances_is_raised_once_from_the_fleet_totals() {
    let pg = Postgres::start();
    let up = TestUpstream::plain().await;
    let mut fleet = start_all((1..=4).map(|n| same_service(n, &pg, up.addr))).await;
    let leader = eventually("one leader", || async {
        let l = leaders(&fleet).await;
        (l.len() == 1).then(|| l[0])
    })
    .await;
    let first = now_ms() / STEP_MS + 2;
    let mut senders = Vec::new();
    for (n, px) in fleet.iter().enumerate() {
        let calls = move |i: u64| match i {
            i if i < HANDOVER => NORMAL / 4,
            _ if n == leader => 0,
            i if (WARM..WARM + SPIKE).contains(&i) => SPIKE_CALLS,
            _ => NORMAL / 3,
        };
        let steps = if n == leader {
            HANDOVER
        } else {
            WARM + SPIKE + 10
        };
        senders.push(steady(px.inbound, first, steps, calls));
    }
    until_step(first + HANDOVER).await;
    let gone = fleet.remove(leader);
    let died = std::time::Instant::now();
    assert!(gone.sightline.shutdown().await);
    let next = eventually("a new leader", || async {
        let l = leaders(&fleet).await;
        (l.len() == 1).then(|| l[0])
    })
    .await;
    let name = fleet[next].admin_json("/api/status").await["fleet"]["instance"]
        .as_str()
        .unwrap()
        .to_owned();
    eprintln!(
        "{name} took the lead over {:?} after the leader began to stop",
        died.elapsed()
    );
    assert!(
        now_ms() / STEP_MS < first + WARM,
        "the new leader was elected before the spike"
    );
    for s in senders {
        s.await.unwrap();
    }
    let found = eventually("the fleet's rate spike", || async {
        let s = spikes(&fleet[next]).await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    let across = found
        .iter()
        .filter(|f| f["subject"] == "service:shop GET /items")
        .count();
    assert_eq!(across, 1, "raised once: {found:?}");
    let observed = found[0]["evidence"]["observed"].as_f64().unwrap();
    assert!(
        observed > SPIKE_CALLS as f64,
        "judged on the fleet's total, not one instance's: {found:?}"
    );
    assert!(
        found.iter().all(|f| f.get("instance").is_none()),
        "the leader's own findings"
    );
    // Every instance shows the fleet's findings once each, naming the instance that raised
    // them.
    let subjects = |list: &[serde_json::Value]| {
        let mut v: Vec<(String, u64)> = list
            .iter()
            .map(|f| {
                (
                    f["subject"].as_str().unwrap().to_owned(),
                    f["at"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    for (i, px) in fleet.iter().enumerate() {
        if i != next {
            let shown = eventually("the fleet's spike in this admin", || async {
                let s = spikes(px).await;
                (s.len() >= found.len()).then_some(s)
            })
            .await;
            assert_eq!(subjects(&shown), subjects(&found), "{shown:?}");
            assert!(
                shown.iter().all(|f| f["instance"] == name.as_str()),
                "{shown:?}"
            );
        }
    }
    assert_eq!(leaders(&fleet).await, vec![next]);
}

//! Labelled synthetic traffic through the real proxy to real loopback upstreams: injected rate
//! spike, rate drop, error surge, slowdown and new destination must be found (precision and
//! recall bounds), and the same traffic without injection must stay silent.
//!
//! Time is compressed: `analysis.step` makes a baseline step 80 ms instead of a minute, and the
//! traffic is sent step by step, aligned on the proxy's step boundaries (the wall clock divided
//! by the step), so each run takes about 16 s.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sightline_tests::proxy::config;
use sightline_tests::{eventually, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const STEP_MS: u64 = 80;
/// Steps of normal traffic before the injection (past the 140-step learning period).
const WARM: u64 = 160;
/// Steps the injected anomalies last.
const INJECTED: u64 = 12;
/// Steps of normal traffic after them.
const TAIL: u64 = 20;
/// Connections per endpoint; each sends one call per step (four during the spike).
const SLOTS: usize = 6;

/// The endpoints of the synthetic service and what is injected into each.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Endpoint {
    /// Rate spike: four times the calls.
    Items,
    /// Rate drop: no call at all.
    Orders,
    /// Error surge: half the calls answer 500.
    Pay,
    /// Slowdown: every call takes 50 ms more.
    Search,
}

impl Endpoint {
    const ALL: [Endpoint; 4] = [Self::Items, Self::Orders, Self::Pay, Self::Search];

    /// The template the proxy gives the endpoint, and the anomaly expected on it.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Items => ("GET /items", "rate_spike"),
            Self::Orders => ("GET /orders", "rate_drop"),
            Self::Pay => ("GET /pay/status/{int}", "error_surge"),
            Self::Search => ("GET /search/slow/{int}", "latency_degradation"),
        }
    }

    /// The paths one slot calls in one step.
    fn calls(self, slot: usize, injected: bool) -> Vec<String> {
        match (self, injected) {
            (Self::Items, false) => vec!["/items".into()],
            (Self::Items, true) => vec!["/items".into(); 4],
            (Self::Orders, false) => vec!["/orders".into()],
            (Self::Orders, true) => vec![],
            (Self::Pay, injected) => {
                let code = if injected && slot.is_multiple_of(2) {
                    500
                } else {
                    200
                };
                vec![format!("/pay/status/{code}")]
            }
            (Self::Search, injected) => {
                vec![format!("/search/slow/{}", if injected { 50 } else { 0 })]
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sleeps until `step` has begun (plus a few milliseconds, so calls fall inside it).
async fn until_step(step: u64) {
    let at = step * STEP_MS + 5;
    let now = now_ms();
    if at > now {
        tokio::time::sleep(Duration::from_millis(at - now)).await;
    }
}

async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn call(send: &mut SendRequest<Empty<Bytes>>, uri: &str) -> u16 {
    send.ready().await.unwrap();
    // HTTP/1.1 needs a Host: the target's authority for the egress proxy, else the shop's.
    let target: http::Uri = uri.parse().unwrap();
    let host = target
        .authority()
        .map_or_else(|| "shop.test".to_owned(), |a| a.to_string());
    let req = Request::get(uri).header(http::header::HOST, host);
    let resp = send
        .send_request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

struct Run {
    /// Findings raised from the first injected step on (kind, subject).
    findings: Vec<(String, String)>,
}

/// Sends the whole schedule through a fresh proxy; with `inject`, the anomalies too.
async fn run(inject: bool) -> Run {
    let upstream = TestUpstream::plain().await;
    let port = upstream.addr.port();
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
analysis: {{ step: {STEP_MS}ms, learning: {}ms, persistence: {}ms, min_rate: 3 }}
egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.1/32, service: app }} ]
dns:
  hosts: {{ api.known.example: [127.0.0.1], api.new.example: [127.0.0.1] }}
enclave:
  rules: [ {{ service: app, cidrs: [127.0.0.1/32], ports: [{port}] }} ]
",
        upstream.addr,
        140 * STEP_MS,
        3 * STEP_MS,
    )))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    let first = now_ms() / STEP_MS + 2;
    let injected = move |i: u64| inject && (WARM..WARM + INJECTED).contains(&i);
    let mut senders = Vec::new();
    for endpoint in Endpoint::ALL {
        for slot in 0..SLOTS {
            let mut conn = connect(px.inbound).await;
            senders.push(tokio::spawn(async move {
                for i in 0..WARM + INJECTED + TAIL {
                    until_step(first + i).await;
                    for path in endpoint.calls(slot, injected(i)) {
                        call(&mut conn, &path).await;
                    }
                }
            }));
        }
    }
    // Egress: a known destination now and then; a new one once during the injection.
    senders.push(tokio::spawn(async move {
        let mut conn = connect(egress).await;
        for i in (0..WARM + INJECTED + TAIL).step_by(10) {
            until_step(first + i).await;
            let url = format!("http://api.known.example:{port}/rates");
            assert_eq!(call(&mut conn, &url).await, 200);
            if inject && i == WARM {
                until_step(first + i + 2).await;
                let url = format!("http://api.new.example:{port}/upload");
                assert_eq!(call(&mut conn, &url).await, 200);
            }
        }
    }));
    // Everything raised before the injection is the warm-up's first sightings.
    until_step(first + WARM).await;
    let mark = last_id(&px).await;
    for s in senders {
        s.await.unwrap();
    }
    // A call after the last step closes every step before it (its record advances the
    // analysis first), so once its own first sighting is visible, so are all step findings.
    until_step(first + WARM + INJECTED + TAIL + 1).await;
    let mut conn = connect(px.inbound).await;
    call(&mut conn, "/done").await;
    let all = eventually("the marker call's first sighting", || async {
        let list = px.admin_json("/api/anomalies").await["anomalies"].clone();
        let list = list.as_array()?.clone();
        list.iter()
            .any(|f| {
                f["subject"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("GET /done"))
            })
            .then_some(list)
    })
    .await;
    let findings = all
        .iter()
        .filter(|f| f["id"].as_u64().unwrap_or(0) > mark)
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_owned(),
                f["subject"].as_str().unwrap_or("").to_owned(),
            )
        })
        .filter(|(_, subject)| !subject.ends_with("GET /done"))
        .collect();
    Run { findings }
}

async fn last_id(px: &TestProxy) -> u64 {
    let list = px.admin_json("/api/anomalies").await["anomalies"].clone();
    list.as_array()
        .map(|l| l.iter().filter_map(|f| f["id"].as_u64()).max().unwrap_or(0))
        .unwrap_or(0)
}

/// Which label a finding matches: the endpoint's index in [`Endpoint::ALL`], or 4 for the new
/// destination.
fn label_of(kind: &str, subject: &str) -> Option<usize> {
    if subject.contains("api.new.example") && kind.starts_with("new_") {
        return Some(4);
    }
    Endpoint::ALL.iter().position(|e| {
        let (endpoint, expected) = e.label();
        kind == expected && subject.ends_with(endpoint)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_anomalies_are_found_with_precision_and_recall() {
    let run = run(true).await;
    let matched: Vec<Option<usize>> = run.findings.iter().map(|(k, s)| label_of(k, s)).collect();
    let true_positives = matched.iter().filter(|m| m.is_some()).count();
    let precision = true_positives as f64 / run.findings.len().max(1) as f64;
    let found: std::collections::BTreeSet<usize> = matched.iter().flatten().copied().collect();
    let recall = found.len() as f64 / 5.0;
    eprintln!(
        "synthetic traffic: {} findings, {true_positives} true, precision {precision:.2}, \
         recall {recall:.2} ({} of 5 labels): {:?}",
        run.findings.len(),
        found.len(),
        run.findings
    );
    assert!(recall >= 0.8, "recall {recall}: {:?}", run.findings);
    assert!(
        precision >= 0.8,
        "precision {precision}: {:?}",
        run.findings
    );
    // The rate spike and the error surge are unmistakable: both must be among them.
    assert!(
        found.contains(&0) && found.contains(&2),
        "{:?}",
        run.findings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_traffic_without_injection_raises_nothing() {
    let run = run(false).await;
    assert!(run.findings.is_empty(), "{:?}", run.findings);
}

//! Labelled synthetic traffic through the real proxy to real loopback upstreams: injected rate
//! spike, rate drop, error surge, slowdown, new destination and a known client on a new endpoint
//! at an hour it never used must be found (precision and recall bounds, steps to detect), and
//! the same traffic without injection must stay silent.
//!
//! Time is the proxy's own clock, held two days behind the wall clock and moved by the test one
//! minute (one baseline step) at a time, once the recorder has processed every call of the step:
//! each call lands in its step however loaded the machine is, and a run takes seconds.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sightline_policy::clients::{Clock, ManualClock};
use sightline_tests::proxy::{config, stepped_clock};
use sightline_tests::{eventually, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// A baseline step: a minute, as in production.
const STEP: Duration = Duration::from_secs(60);
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
    /// Rate spike: five times the calls.
    Items,
    /// Rate drop: no call at all.
    Orders,
    /// Error surge: half the calls answer 500.
    Pay,
    /// Slowdown: every call takes 100 ms more.
    Search,
    /// Slow latency leak: 5 ms more every step, for 30 steps.
    Report,
    /// Error surge on a low-volume endpoint (5 calls a step): two of them answer 500.
    Ledger,
}

/// The API key of a batch client: it calls `/batch` once a step over the first
/// [`BATCH_STEPS`] steps (then falls silent), and with the injection once `/items`, an endpoint
/// it never called, more than an hour after its last call: an hour of the day it never used.
const BATCH_KEY: &str = "batch-client-key";
/// Steps during which the batch client calls.
const BATCH_STEPS: u64 = 100;
/// The injected step (after [`WARM`]) of the batch client's call to `/items`.
const BATCH_AT: u64 = 5;

impl Endpoint {
    const ALL: [Endpoint; 6] = [
        Self::Items,
        Self::Orders,
        Self::Pay,
        Self::Search,
        Self::Report,
        Self::Ledger,
    ];

    /// The template the proxy gives the endpoint, and the anomaly expected on it.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Items => ("GET /items", "rate_spike"),
            Self::Orders => ("GET /orders", "rate_drop"),
            Self::Pay => ("GET /pay/status/{int}", "error_surge"),
            Self::Search => ("GET /search/slow/{int}", "latency_degradation"),
            Self::Report => ("GET /report/slow/{int}", "latency_degradation"),
            Self::Ledger => ("GET /ledger/status/{int}", "error_surge"),
        }
    }

    /// The paths one slot calls in one step; `since` is the number of steps since the
    /// injection began (`None` before it, or without injection).
    fn calls(self, slot: usize, since: Option<u64>) -> Vec<String> {
        let injected = since.is_some_and(|k| k < INJECTED);
        match (self, injected) {
            (Self::Items, false) => vec!["/items".into()],
            (Self::Items, true) => vec!["/items".into(); 5],
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
                vec![format!("/search/slow/{}", if injected { 100 } else { 0 })]
            }
            (Self::Report, _) => {
                let ms = since.map_or(0, |k| 5 * (k + 1).min(30));
                vec![format!("/report/slow/{ms}")]
            }
            (Self::Ledger, injected) => match slot {
                5 => vec![],
                0 | 1 if injected => vec!["/ledger/status/500".into()],
                _ => vec!["/ledger/status/200".into()],
            },
        }
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
    call_as(send, uri, None).await
}

/// A call carrying `key` in the `x-api-key` header, when given.
async fn call_as(send: &mut SendRequest<Empty<Bytes>>, uri: &str, key: Option<&str>) -> u16 {
    if let Err(e) = send.ready().await {
        panic!("{uri}: {e}");
    }
    // HTTP/1.1 needs a Host: the target's authority for the egress proxy, else the shop's.
    let target: http::Uri = uri.parse().unwrap();
    let host = target
        .authority()
        .map_or_else(|| "shop.test".to_owned(), |a| a.to_string());
    let mut req = Request::get(uri).header(http::header::HOST, host);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let resp = send
        .send_request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// The proxy under test on a clock the test moves one step at a time.
struct Stepped {
    px: TestProxy,
    clock: Arc<ManualClock>,
    /// Calls sent so far (each makes one record).
    sent: u64,
}

impl Stepped {
    /// Starts the proxy with `yaml` on a clock two days behind the wall clock, at the start
    /// of a step.
    async fn start(yaml: &str) -> Stepped {
        let clock = stepped_clock(STEP);
        let px = TestProxy::start_with_clock(config(yaml), clock.clone()).await;
        Stepped { px, clock, sent: 0 }
    }

    /// Unix seconds at the start of the step `i` steps after the first.
    fn step_secs(&self, first: u64, i: u64) -> u64 {
        first + i * STEP.as_secs()
    }

    /// The clock's now, in Unix seconds.
    fn now_secs(&self) -> u64 {
        self.clock.now() / 1_000_000
    }

    /// Sends one call through `conn` and counts it.
    async fn call(&mut self, conn: &mut SendRequest<Empty<Bytes>>, uri: &str) -> u16 {
        self.sent += 1;
        call(conn, uri).await
    }

    /// Sends one call as the batch client (its API key) and counts it.
    async fn call_batch(&mut self, conn: &mut SendRequest<Empty<Bytes>>, uri: &str) -> u16 {
        self.sent += 1;
        call_as(conn, uri, Some(BATCH_KEY)).await
    }

    /// Waits until the recorder has processed every call sent, then moves the clock to the
    /// next step.
    async fn next_step(&mut self) {
        let recorder = self.px.sightline.shared().recorder.clone();
        let sent = self.sent;
        eventually("the recorder to process every call of the step", || async {
            (recorder.counters().records_processed.load(Relaxed) >= sent).then_some(())
        })
        .await;
        self.clock.advance(STEP);
    }

    /// Every finding so far, once a marker call made after the last step is seen (its record
    /// first closes every step before it), without the marker's own.
    async fn findings(&mut self, conn: &mut SendRequest<Empty<Bytes>>) -> Vec<serde_json::Value> {
        self.call(conn, "/done").await;
        let all = eventually("the marker call's first sighting", || async {
            let list = self.px.admin_json("/api/anomalies").await["anomalies"].clone();
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
        all.into_iter()
            .filter(|f| !f["subject"].as_str().unwrap_or("").ends_with("GET /done"))
            .collect()
    }
}

/// The shop's config on `upstream`: minute steps, learning 140 minutes, persistence 3 minutes,
/// minimum traffic 3 calls a minute; clients identified by an `x-api-key` header and known
/// after 20 calls (a client's endpoints are the inbound routes it calls: `/batch` and the rest);
/// egress for the shop to the upstream's port.
fn shop(upstream: SocketAddr) -> String {
    let port = upstream.port();
    format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /batch, service: app }}, {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{upstream}\"] }}
analysis: {{ learning: 140m, persistence: 3m, min_rate: 3 }}
clients: {{ api_key_header: x-api-key, uncommon: {{ known_after: 20 }} }}
egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.1/32, service: app }} ]
dns:
  hosts: {{ api.known.example: [127.0.0.1], api.new.example: [127.0.0.1] }}
enclave:
  rules: [ {{ service: app, cidrs: [127.0.0.1/32], ports: [{port}] }} ]
"
    )
}

struct Run {
    /// Findings raised for the injected steps and after (kind, subject), then the client
    /// alerts of kind `uncommon_usage` (kind, subject; `uncommon_hour` when the evidence names
    /// an unusual hour).
    findings: Vec<(String, String)>,
    /// The findings as the API shows them (without the client alerts).
    raw: Vec<serde_json::Value>,
    /// Unix seconds at the start of the first injected step.
    from: u64,
}

/// Sends the whole schedule through a fresh proxy, step by step; with `inject`, the anomalies
/// too.
async fn run(inject: bool) -> Run {
    let upstream = TestUpstream::plain().await;
    let port = upstream.addr.port();
    let mut t = Stepped::start(&shop(upstream.addr)).await;
    let egress = t.px.sightline.egress_addr().unwrap();
    let mut conns = Vec::new();
    for endpoint in Endpoint::ALL {
        for slot in 0..SLOTS {
            conns.push((endpoint, slot, connect(t.px.inbound).await));
        }
    }
    let mut out = connect(egress).await;
    let mut batch = connect(t.px.inbound).await;
    let first = t.now_secs() / 60 * 60;
    for i in 0..WARM + INJECTED + TAIL {
        let since = (inject && i >= WARM).then(|| i - WARM);
        for (endpoint, slot, conn) in &mut conns {
            let paths = endpoint.calls(*slot, since);
            // A connection idle longer than the proxy's keep-alive (no call for several slow
            // steps) is closed by the proxy: open a new one.
            if !paths.is_empty() && conn.is_closed() {
                *conn = connect(t.px.inbound).await;
            }
            for path in paths {
                t.call(conn, &path).await;
            }
        }
        // Egress: a known destination now and then; a new one once during the injection.
        if i % 10 == 0 {
            let url = format!("http://api.known.example:{port}/rates");
            assert_eq!(t.call(&mut out, &url).await, 200);
        }
        // The batch client: once a step early on; with the injection, one call to an
        // endpoint it never used, in an hour of the day it never called in.
        let batch_path = match i {
            _ if i < BATCH_STEPS => Some("/batch"),
            _ if inject && i == WARM + BATCH_AT => Some("/items"),
            _ => None,
        };
        if let Some(path) = batch_path {
            if batch.is_closed() {
                batch = connect(t.px.inbound).await;
            }
            assert_eq!(t.call_batch(&mut batch, path).await, 200);
        }
        if inject && i == WARM + 2 {
            let url = format!("http://api.new.example:{port}/upload");
            assert_eq!(t.call(&mut out, &url).await, 200);
        }
        t.next_step().await;
    }
    let from = t.step_secs(first, WARM);
    let (_, _, conn) = &mut conns[0];
    let raw: Vec<serde_json::Value> = t
        .findings(conn)
        .await
        .into_iter()
        .filter(|f| f["at"].as_u64().unwrap_or(0) >= from)
        .collect();
    let mut findings: Vec<(String, String)> = raw
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_owned(),
                f["subject"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // Client events are alerts; with the injection, wait for the one expected (the recorder
    // has processed every call, the alert book may still be taking it in).
    let uncommon = || async {
        let alerts = t.px.admin_json("/api/alerts").await["alerts"].clone();
        let list: Vec<serde_json::Value> = alerts
            .as_array()?
            .iter()
            .filter(|a| a["kind"] == "uncommon_usage")
            .cloned()
            .collect();
        (!inject || !list.is_empty()).then_some(list)
    };
    for a in eventually("the uncommon-usage alert", uncommon).await {
        let kind = match a["evidence"]["event"]["unusual_hour"].is_u64() {
            true => "uncommon_hour",
            false => "uncommon_usage",
        };
        let subject = a["subject"].as_str().unwrap_or("").to_owned();
        findings.push((kind.to_owned(), subject));
    }
    Run {
        findings,
        raw,
        from,
    }
}

/// Labels: one per endpoint of [`Endpoint::ALL`], the new destination and the batch client's
/// call at an unusual hour.
const LABELS: usize = Endpoint::ALL.len() + 2;

/// Which label a finding matches: the endpoint's index in [`Endpoint::ALL`], then the new
/// destination, then the batch client's call at an unusual hour (its subject is the client,
/// `key:` and the key's digest).
fn label_of(kind: &str, subject: &str) -> Option<usize> {
    if subject.contains("api.new.example") && kind.starts_with("new_") {
        return Some(LABELS - 2);
    }
    if kind == "uncommon_hour" && subject.starts_with("key:") {
        return Some(LABELS - 1);
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
    let recall = found.len() as f64 / LABELS as f64;
    eprintln!(
        "synthetic traffic: {} findings, {true_positives} true, precision {precision:.2}, \
         recall {recall:.2} ({} of {LABELS} labels): {:?}",
        run.findings.len(),
        found.len(),
        run.findings
    );
    // Steps follow the test's clock, not the machine's load: every label is found.
    assert_eq!(found.len(), LABELS, "{:?}", run.findings);
    // One statistical anomaly is one finding, not one on the edge and one across callers.
    for (i, e) in Endpoint::ALL.iter().enumerate() {
        let n = matched.iter().filter(|m| **m == Some(i)).count();
        assert_eq!(n, 1, "{:?}: {:?}", e.label(), run.findings);
    }
    assert!(
        precision >= 0.95,
        "precision {precision}: {:?}",
        run.findings
    );
    // Every statistical finding names its incident; a root's incident is its own id.
    let statistical: Vec<&serde_json::Value> = run
        .raw
        .iter()
        .filter(|f| f["evidence"]["signal"].is_string())
        .collect();
    assert_eq!(statistical.len(), Endpoint::ALL.len(), "{:?}", run.raw);
    // Steps from the first injected step to the finding, the injected step counted.
    let steps = |e: Endpoint| {
        let (endpoint, kind) = e.label();
        run.raw
            .iter()
            .find(|f| f["kind"] == kind && f["subject"].as_str().unwrap_or("").ends_with(endpoint))
            .and_then(|f| f["at"].as_u64())
            .map(|at| (at - run.from) / STEP.as_secs() + 1)
    };
    let taken: Vec<(&str, Option<u64>)> = Endpoint::ALL
        .iter()
        .map(|e| (e.label().1, steps(*e)))
        .collect();
    eprintln!("steps to detect (1-minute steps): {taken:?}");
    let within = |e: Endpoint, n: u64| {
        let s = steps(e);
        assert!(s.is_some_and(|s| s <= n), "{:?}: {s:?} steps", e.label());
    };
    within(Endpoint::Items, 3);
    within(Endpoint::Orders, 5);
    within(Endpoint::Pay, 3);
    within(Endpoint::Search, 5);
    for f in statistical {
        let incident = f["evidence"]["incident"].as_u64().unwrap_or(0);
        let root = f["evidence"]["root"].as_bool().unwrap();
        assert!(incident > 0 && incident <= f["id"].as_u64().unwrap(), "{f}");
        assert_eq!(root, Some(incident) == f["id"].as_u64(), "{f}");
        // It says which rule fired, and how far beyond that rule's threshold.
        let rule = f["evidence"]["rule"].as_str().unwrap_or("");
        assert!(
            ["absolute", "point", "shift", "likelihood", "count"].contains(&rule),
            "{f}"
        );
        assert!(
            f["evidence"]["margin"].as_f64().is_some_and(|m| m > 1.0),
            "{f}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_traffic_without_injection_raises_nothing() {
    let run = run(false).await;
    assert!(run.findings.is_empty(), "{:?}", run.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_incident_after_recovery_is_reported_again() {
    let upstream = TestUpstream::plain().await;
    let mut t = Stepped::start(&shop(upstream.addr)).await;
    let mut conns = Vec::new();
    for _ in 0..SLOTS {
        conns.push(connect(t.px.inbound).await);
    }
    // Two 6-step spikes, seven calm hours apart (recovered: the calm is far longer than the
    // incident); a third one only 20 steps after the second belongs to it.
    let spike = |i: u64| {
        (WARM..WARM + 6).contains(&i)
            || (WARM + 426..WARM + 432).contains(&i)
            || (WARM + 452..WARM + 455).contains(&i)
    };
    for i in 0..WARM + 470 {
        let calls = if spike(i) { 4 } else { 1 };
        for conn in &mut conns {
            for _ in 0..calls {
                t.call(conn, "/items").await;
            }
        }
        t.next_step().await;
    }
    let findings = t.findings(&mut conns[0]).await;
    let spikes: Vec<u64> = findings
        .iter()
        .filter(|f| f["kind"] == "rate_spike")
        .filter_map(|f| f["at"].as_u64())
        .collect();
    assert_eq!(spikes.len(), 2, "{findings:?}");
    let first = spikes.iter().min().copied().unwrap();
    let second = spikes.iter().max().copied().unwrap();
    // The second finding is the second spike's (it starts 426 steps after the first).
    assert!(
        second - first >= 426 * 60 && second - first < 432 * 60,
        "{spikes:?}"
    );
}

/// An endpoint of five calls a step under the default minimum traffic (10 calls a minute) for
/// 160 steps; then, with `surge`, one call in five answers 500 for 12 steps. The statistical
/// findings, and the Unix seconds at the start of the first surging step.
async fn low_volume_run(surge: bool) -> (Vec<serde_json::Value>, u64) {
    let upstream = TestUpstream::plain().await;
    let yaml = shop(upstream.addr).replace(", min_rate: 3", "");
    assert!(!yaml.contains("min_rate"));
    let mut t = Stepped::start(&yaml).await;
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(connect(t.px.inbound).await);
    }
    let first = t.now_secs() / 60 * 60;
    for i in 0..WARM + INJECTED + TAIL {
        let failing = surge && (WARM..WARM + INJECTED).contains(&i);
        for (slot, conn) in conns.iter_mut().enumerate() {
            let code = if failing && slot == 0 { 500 } else { 200 };
            t.call(conn, &format!("/ledger/status/{code}")).await;
        }
        t.next_step().await;
    }
    let found = t
        .findings(&mut conns[0])
        .await
        .into_iter()
        .filter(|f| f["evidence"]["signal"].is_string())
        .collect();
    (found, t.step_secs(first, WARM))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_volume_error_surge_is_found_at_the_default_minimum_traffic() {
    let (found, from) = low_volume_run(true).await;
    let kinds: Vec<&str> = found.iter().filter_map(|f| f["kind"].as_str()).collect();
    // One finding for the endpoint across its callers.
    assert_eq!(kinds, ["error_surge"], "{found:?}");
    // Within the persistence: the count test sees two failures in the last steps' calls.
    let steps = found[0]["at"]
        .as_u64()
        .map(|at| (at - from) / STEP.as_secs() + 1);
    eprintln!("low-volume error surge to 20%: found at step {steps:?}");
    assert!(steps.is_some_and(|s| s <= 3), "{steps:?}");
    let (clean, _) = low_volume_run(false).await;
    assert!(clean.is_empty(), "{clean:?}");
}

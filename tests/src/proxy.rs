//! The proxy started in-process from a config, with helpers to read what it recorded; a
//! fleet of them; the stepped clock tests move by hand.

use crate::client::{Client, Reply};
use crate::eventually::eventually;
use bytes::Bytes;
use http_body_util::Full;
use sightline::config::Config;
use sightline::Sightline;
use sightline_policy::clients::ManualClock;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A running proxy on loopback ports chosen by the OS.
pub struct TestProxy {
    /// The proxy.
    pub sightline: Sightline,
    /// Inbound address.
    pub inbound: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
}

/// A config with both listeners on port 0 and the given body (routes, services, limits…).
/// `{up}`-style placeholders are for the caller to fill with `format!`.
pub fn config(yaml_body: &str) -> Config {
    let text = format!("version: 1\nadmin: {{ listen: 127.0.0.1:0 }}\n{yaml_body}");
    let text = if text.contains("inbound:") {
        text
    } else {
        format!("{text}\ninbound: {{ listen: 127.0.0.1:0 }}\n")
    };
    Config::parse(&text, "test.yaml", Path::new("/")).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

/// The usual test config: every path to one service `app` at `upstream`, plus extra YAML.
pub fn simple(upstream: SocketAddr, extra: &str) -> Config {
    config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{upstream}\"] }}\n{extra}"
    ))
}

/// A clock for the proxy that moves only when the test moves it: two days behind the wall
/// clock (so nothing the wall clock does can close a step), one second into a `step`.
pub fn stepped_clock(step: Duration) -> Arc<ManualClock> {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let step = step.as_micros() as u64;
    Arc::new(ManualClock::at(
        (wall - 2 * 86_400_000_000) / step * step + 1_000_000,
    ))
}

/// Starts one proxy per config, in order (the instances of a fleet).
pub async fn start_all(configs: impl IntoIterator<Item = Config>) -> Vec<TestProxy> {
    let mut out = Vec::new();
    for c in configs {
        out.push(TestProxy::start(c).await);
    }
    out
}

/// The sum of one metric series over `proxies` (see [`TestProxy::metric`]).
pub async fn metric_sum(proxies: &[TestProxy], series: &str) -> f64 {
    let mut sum = 0.0;
    for px in proxies {
        sum += px.metric(series).await;
    }
    sum
}

impl TestProxy {
    /// Starts the proxy.
    pub async fn start(config: Config) -> TestProxy {
        let clock = std::sync::Arc::new(sightline_policy::clients::SystemClock);
        TestProxy::start_with_clock(config, clock).await
    }

    /// Starts the proxy with the clock its client protections read.
    pub async fn start_with_clock(
        config: Config,
        clock: std::sync::Arc<dyn sightline_policy::clients::Clock>,
    ) -> TestProxy {
        let sightline = Sightline::start_with_clock(config, None, clock)
            .await
            .unwrap();
        TestProxy {
            inbound: sightline.inbound_addr(),
            admin: sightline.admin_addr(),
            sightline,
        }
    }

    /// `GET` on the admin listener, as JSON.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let r = Client::http1().get(self.admin, path).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }

    /// `POST` of a JSON `body` on the admin listener, saying it is no cross-site form (as
    /// admin POSTs without a bearer token must).
    pub async fn admin_post(&self, path: &str, body: &str) -> Reply {
        let req = http::Request::post(path)
            .header("host", self.admin.to_string())
            .header("content-type", "application/json")
            .header("x-sightline-request", "test")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        Client::http1().send(self.admin, req).await.unwrap()
    }

    /// The metrics text.
    pub async fn metrics(&self) -> String {
        let r = Client::http1().get(self.admin, "/metrics").await;
        String::from_utf8(r.body.to_vec()).unwrap()
    }

    /// The value of one metric series (exact line prefix before the value), 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Waits until the call with this request id is recorded and returns it.
    pub async fn call(&self, request_id: &str) -> serde_json::Value {
        eventually(&format!("a record for request {request_id}"), || async {
            let page = self.admin_json("/api/calls?limit=1000").await;
            page["calls"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["id"] == request_id).cloned())
        })
        .await
    }

    /// Waits until at least `n` calls are recorded and returns the newest `n`... all of them.
    pub async fn calls_at_least(&self, n: usize) -> Vec<serde_json::Value> {
        eventually(&format!("{n} recorded calls"), || async {
            let page = self.admin_json("/api/calls?limit=1000").await;
            let calls = page["calls"].as_array().cloned().unwrap_or_default();
            (calls.len() >= n).then_some(calls)
        })
        .await
    }
}

//! The proxy started in-process from a config, with helpers to read what it recorded.

use crate::client::Client;
use crate::eventually::eventually;
use sightline::config::Config;
use sightline::Sightline;
use std::net::SocketAddr;
use std::path::Path;

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

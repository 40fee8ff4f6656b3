//! A real Prometheus (Debian's `prometheus` package) scraping a target on loopback every
//! second, with its HTTP query API on a free loopback port and its data in a temp directory.

use crate::client::Client;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus; stopped and its data removed on drop.
pub struct Prometheus {
    /// Its web and API address.
    pub addr: SocketAddr,
    dir: PathBuf,
    child: Child,
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics`. Panics with a clear message when
    /// it is not installed (`bash scripts/test.sh` installs it).
    pub fn start(target: SocketAddr) -> Prometheus {
        let port = crate::otel::free_port();
        let dir =
            std::env::temp_dir().join(format!("sightline-prom-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: sightline\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start prometheus ({e}); install it: apt-get install prometheus (bash scripts/test.sh does)")
            });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("prometheus exited ({status}) before listening on {addr}");
            }
            assert!(
                Instant::now() < deadline,
                "prometheus did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Prometheus { addr, dir, child }
    }

    /// The result vector of an instant query (`data.result`).
    pub async fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let mut q = String::new();
        for b in promql.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                q.push(b as char);
            } else {
                q.push_str(&format!("%{b:02X}"));
            }
        }
        let r = Client::http1()
            .get(self.addr, &format!("/api/v1/query?query={q}"))
            .await;
        if r.status != 200 {
            return Vec::new();
        }
        r.json()["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! Real OpenTelemetry receivers for tests: `oteltap` (PyPI), an OTLP/HTTP receiver that prints
//! every span, metric and log it receives as one JSON line, and `rotel` (PyPI), an OTLP
//! collector that receives gRPC and prints what it got. Both listen on loopback ports;
//! `bash scripts/test.sh` installs them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free loopback port (bound, read and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited ({status}) before listening on {addr}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// oteltap: what it received, as parsed JSON lines.
pub struct OtelTap {
    /// Its OTLP/HTTP base URL.
    pub endpoint: String,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
    child: Child,
}

impl OtelTap {
    /// Starts oteltap on a free loopback port. Panics with a clear message when it is not
    /// installed.
    pub fn start() -> OtelTap {
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-u", "-m", "oteltap", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 -m oteltap ({e})"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "oteltap exited ({status}); install it: python3 -m pip install oteltap (bash scripts/test.sh does)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "oteltap did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        OtelTap {
            endpoint: format!("http://127.0.0.1:{port}"),
            lines,
            child,
        }
    }

    /// Every JSON line received so far.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The spans received so far (lines that carry a `spanId`), wherever oteltap nests them.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for l in self.lines() {
            collect(&l, "spanId", &mut out);
        }
        out
    }

    /// The metric names received so far.
    pub fn metric_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in self.lines() {
            let mut found = Vec::new();
            collect(&l, "name", &mut found);
            for m in found {
                let is_metric = ["sum", "gauge", "histogram"]
                    .iter()
                    .any(|k| m.get(k).is_some());
                if is_metric {
                    if let Some(n) = m["name"].as_str() {
                        out.push(n.to_owned());
                    }
                }
            }
        }
        out
    }
}

fn collect(v: &serde_json::Value, key: &str, out: &mut Vec<serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.contains_key(key) {
                out.push(v.clone());
            }
            for x in m.values() {
                collect(x, key, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                collect(x, key, out);
            }
        }
        _ => {}
    }
}

impl Drop for OtelTap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The string value of attribute `key` of an OTLP JSON span (or any item with attributes).
pub fn attr(span: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    let a = span["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)?;
    let v = &a["value"];
    v.get("stringValue")
        .or_else(|| v.get("intValue"))
        .or_else(|| v.get("boolValue"))
        .or_else(|| v.get("doubleValue"))
        .cloned()
}

/// rotel: an OTLP collector receiving gRPC, printing each span it receives in its detailed
/// debug format (and exporting nowhere).
pub struct Rotel {
    /// Its gRPC endpoint URL.
    pub grpc: String,
    out: Arc<Mutex<String>>,
    child: Child,
}

/// Where `pip install rotel` puts the collector binary.
fn rotel_binary() -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e})"));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && std::path::Path::new(&path).exists(),
        "rotel is not installed; install it: python3 -m pip install rotel (bash scripts/test.sh does)"
    );
    path
}

impl Rotel {
    /// Starts rotel on free loopback ports.
    pub fn start() -> Rotel {
        let grpc = free_port();
        let http = free_port();
        let mut child = Command::new(rotel_binary())
            .args(["start", "--exporter", "blackhole"])
            .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
            .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}"))
            .arg("--debug-log=traces")
            .arg("--debug-log-verbosity=detailed")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rotel ({e})"));
        let out = Arc::new(Mutex::new(String::new()));
        let pipe = child.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], grpc)),
            "rotel",
            &mut child,
        );
        Rotel {
            grpc: format!("http://127.0.0.1:{grpc}"),
            out,
            child,
        }
    }

    /// Everything it printed so far (one block per received batch of spans).
    pub fn printed(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

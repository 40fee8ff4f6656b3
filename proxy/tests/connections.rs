//! Many concurrent connections against the real binary. A test binary of its own, so the
//! load does not run beside the timing-sensitive demo test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod http;
use http::get;

const BIN: &str = env!("CARGO_BIN_EXE_sightline");
const PATIENCE: Duration = Duration::from_secs(20);

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ten thousand clients at once, each holding its connection open until every one has sent a
/// request: all are answered, and a newcomer is still served. The proxy runs as its own
/// process so each side stays within its file-descriptor limit.
#[test]
fn ten_thousand_concurrent_connections_are_all_answered() {
    const CLIENTS: usize = 10_000;
    let dir = std::env::temp_dir().join(format!("sightline-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sightline.yaml");
    let (admin, inbound, dead) = (free_port(), free_port(), free_port());
    let text = format!(
        "version: 1\nadmin: {{ listen: {admin} }}\ninbound:\n  listen: {inbound}\n  routes: [ {{ path_prefix: /dead, service: dead }} ]\nservices:\n  dead: {{ upstreams: [\"{dead}\"] }}\nlimits: {{ max_connections: {}, header_read_timeout: 60s, idle_timeout: 60s }}\nrecording: {{ access_log: false }}\n",
        CLIENTS + 100
    );
    std::fs::write(&path, text).unwrap();
    let _p = Proc(
        Command::new(BIN)
            .args(["run", "--config", path.to_str().unwrap()])
            .env("SIGHTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + PATIENCE;
    while get(admin, "/healthz", &admin.to_string()).is_none() {
        assert!(Instant::now() < end, "sightline did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            TcpStream::connect_timeout(&inbound, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    // Every connection is open before any request is sent: they are all concurrent.
    for (i, s) in conns.iter_mut().enumerate() {
        write!(
            s,
            "GET /unrouted/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap_or_else(|e| panic!("request on connection {i}: {e}"));
    }
    let mut answered = 0;
    for (i, s) in conns.iter_mut().enumerate() {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .unwrap_or_else(|e| panic!("answer on connection {i}: {e}"));
        assert!(out.starts_with("HTTP/1.1 404"), "connection {i}: {out}");
        answered += 1;
    }
    assert_eq!(answered, CLIENTS);
    drop(conns);
    assert_eq!(get(inbound, "/dead", "x").unwrap().0, 502);
    let (_, metrics) = get(admin, "/metrics", &admin.to_string()).unwrap();
    let refused: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sightline_connections_rejected_total "))
        .and_then(|v| v.parse().ok())
        .expect("the rejected-connections counter is exported");
    assert_eq!(refused, 0.0, "no connection was refused");
}

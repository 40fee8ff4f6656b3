//! The binary's log lines as an operator reads them: a warning logged while a call is served
//! carries the call's trace id, span id and request id, at `--log info` and at `--log warn`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sightline");
const PATIENCE: Duration = Duration::from_secs(20);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
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

/// Sends one request with a `traceparent`; returns its status and `x-request-id`.
fn call(addr: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /x HTTP/1.1\r\nHost: app.example\r\ntraceparent: 00-{TRACE_ID}-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_default()
        .to_owned();
    (status, id)
}

/// Runs `sightline --log LEVEL proxy` in front of a closed port until the upstream is ejected
/// (after five failed calls), and returns the ejection's log line and the request ids sent.
fn ejection_line(level: &str) -> (String, Vec<String>) {
    let (listen, admin, dead) = (closed_port(), closed_port(), closed_port());
    let mut child = Command::new(BIN)
        .args(["--log", level, "proxy", "--workers", "1", "--no-access-log"])
        .args(["--listen", &listen.to_string(), "--to", &dead.to_string()])
        .args(["--admin", &admin.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _proc = Proc(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let end = Instant::now() + PATIENCE;
    while TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < end, "the proxy did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, id) = call(listen);
        assert_eq!(status, 502);
        ids.push(id);
    }
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the ejection was logged");
        if line.contains("upstream ejected") {
            return (line, ids);
        }
    }
}

#[test]
fn a_warning_during_a_call_carries_its_trace_and_request_ids() {
    for level in ["info", "warn"] {
        let (line, ids) = ejection_line(level);
        assert!(
            line.contains(&format!("call{{trace_id={TRACE_ID} span_id=")),
            "{level}: {line}"
        );
        // The fifth failure ejects the upstream: its call's request id is on the line.
        let last = ids.last().unwrap();
        assert_eq!(last.len(), 16, "{ids:?}");
        assert!(
            line.contains(&format!("request_id={last}}}:")),
            "{level}: {line}"
        );
        assert!(line.contains("WARN"), "{line}");
    }
}

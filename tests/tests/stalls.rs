//! Slow and stalled peers through the real listeners: a client that sends its body slowly is
//! answered 408 and never counts against an upstream; a body that stops moving in either
//! direction, and a client that stops reading, are cut off and release the upstream; every
//! listener has a connection cap; the admin API checks credentials before it reads a body and
//! reads it within a timeout.

use sightline_tests::proxy::{config, simple};
use sightline_tests::raw::{read_until_closed, statuses};
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PATIENCE: Duration = Duration::from_secs(5);

/// One service `app` at `upstream` and the admin listener with `admin` settings, plus `extra`.
fn with_admin(upstream: SocketAddr, admin: &str, extra: &str) -> sightline::Config {
    let text = format!(
        "version: 1\nadmin: {{ listen: 127.0.0.1:0, {admin} }}\ninbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{upstream}\"] }}\n{extra}"
    );
    sightline::Config::parse(&text, "t.yaml", std::path::Path::new("/")).unwrap()
}

/// A POST that declares 1,000 bytes of body and sends one.
const SLOW_POST: &[u8] = b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\na";

/// Sends `SLOW_POST` on a new connection and returns everything the proxy answers.
async fn slow_post(addr: SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(SLOW_POST).await.unwrap();
    read_until_closed(&mut s, PATIENCE).await
}

/// Reads until the end of a response head (or the peer closes), within `PATIENCE`.
async fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await {
            Err(_) => panic!(
                "no response head within {PATIENCE:?}: {}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The request id in a raw response.
fn request_id(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id in {text}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn slow_clients_never_eject_a_healthy_upstream() {
    let (a, b) = (TestUpstream::plain().await, TestUpstream::plain().await);
    let px = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{}\", \"{}\"], ejection: {{ consecutive_failures: 2, duration: 1m }} }}\nlimits: {{ request_timeout: 300ms }}\n",
        a.addr, b.addr
    )))
    .await;
    // Three slow bodies per upstream, more than enough to eject both were they counted.
    let answers = futures_util::future::join_all((0..6).map(|_| slow_post(px.inbound))).await;
    for got in &answers {
        assert_eq!(statuses(got), [408], "{}", String::from_utf8_lossy(got));
        assert!(
            String::from_utf8_lossy(got).contains("sightline-error: client_timeout"),
            "{}",
            String::from_utf8_lossy(got)
        );
    }
    let call = px.call(&request_id(&answers[0])).await;
    assert_eq!(call["status"], 408);
    assert_eq!(call["error"], "client_timeout");

    // Everyone else is still served, by both upstreams.
    for _ in 0..4 {
        assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
    }
    assert_eq!(px.metric("sightline_upstream_ejections_total").await, 0.0);
    assert_eq!(
        px.metric("sightline_upstreams_healthy{service=\"s\"}")
            .await,
        2.0
    );
}

#[tokio::test]
async fn a_request_body_that_stops_moving_is_408_after_the_body_idle_timeout() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "limits: { request_timeout: 1h, body_idle_timeout: 300ms }",
    ))
    .await;
    let got = slow_post(px.inbound).await;
    assert_eq!(statuses(&got), [408], "{}", String::from_utf8_lossy(&got));
    let call = px.call(&request_id(&got)).await;
    assert_eq!(call["error"], "client_timeout");
}

/// An upstream that sends its response head and the start of a 100-byte body, then nothing.
/// Counts the connections the proxy has closed on it.
struct StallingUpstream {
    addr: SocketAddr,
    released: Arc<AtomicUsize>,
}

impl StallingUpstream {
    async fn start() -> StallingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let released = Arc::new(AtomicUsize::new(0));
        let count = released.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
                        .await;
                    // Bounded: the test gives up long before this.
                    let _ = tokio::time::timeout(Duration::from_secs(60), tcp.read(&mut buf)).await;
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        StallingUpstream { addr, released }
    }
}

#[tokio::test]
async fn an_upstream_that_stalls_after_its_headers_is_cut_off_and_released() {
    let up = StallingUpstream::start().await;
    let px = TestProxy::start(simple(up.addr, "limits: { body_idle_timeout: 300ms }")).await;
    let mut s = TcpStream::connect(px.inbound).await.unwrap();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut s, PATIENCE).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with("abc"),
        "the client got more than was sent: {text}"
    );
    eventually("the upstream connection to be released", || async {
        (up.released.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let call = px.call(&request_id(&got)).await;
    assert_eq!(call["error"], "upstream_body_timeout");
}

#[tokio::test]
async fn a_destination_that_stalls_after_its_headers_is_cut_off_and_released() {
    let up = StallingUpstream::start().await;
    let px = TestProxy::start(config(
        "egress:\n  listen: 127.0.0.1:0\n  sources: [ { cidr: 127.0.0.0/8, service: orders } ]\nenclave:\n  networks: [127.0.0.0/8]\nlimits: { body_idle_timeout: 300ms }\n",
    ))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    let mut s = TcpStream::connect(egress).await.unwrap();
    s.write_all(format!("GET http://{0}/a HTTP/1.1\r\nHost: {0}\r\n\r\n", up.addr).as_bytes())
        .await
        .unwrap();
    let got = read_until_closed(&mut s, PATIENCE).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("abc"), "{text}");
    eventually("the destination connection to be released", || async {
        (up.released.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let call = px.call(&request_id(&got)).await;
    assert_eq!(call["error"], "upstream_body_timeout");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_its_call_recorded() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { body_idle_timeout: 300ms }")).await;
    let mut s = TcpStream::connect(px.inbound).await.unwrap();
    // 1 GiB, produced only as fast as it is read: far more than every socket buffer between.
    s.write_all(b"GET /stream/1073741824 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // Then read nothing more.
    let call = eventually("the stalled call to be recorded", || async {
        let page = px.admin_json("/api/calls?limit=10").await;
        page["calls"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["path"] == "/stream/1073741824")
                .cloned()
        })
    })
    .await;
    assert_eq!(call["error"], "downstream_stalled");
    assert!(call["bytes_out"].as_u64().unwrap() < 1 << 30);
    drop(s);
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test]
async fn an_http2_client_that_withholds_flow_control_credit_is_cut_off() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { body_idle_timeout: 300ms }")).await;
    let mut s = TcpStream::connect(px.inbound).await.unwrap();
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the client never lets a stream send a byte of body,
    // while the connection itself stays readable.
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[0, 4, 0, 0, 0, 0]));
    // GET http://x/stream/1048576, literal headers without indexing.
    let mut block = vec![0x82, 0x86, 0x41, 1, b'x', 0x04, 15];
    block.extend_from_slice(b"/stream/1048576");
    out.extend(frame(1, 0x5, 1, &block));
    s.write_all(&out).await.unwrap();

    let mut kinds = Vec::new();
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    'read: loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            buf.drain(..9 + len);
            kinds.push(kind);
            if kind == 4 && flags & 1 == 0 {
                s.write_all(&frame(4, 1, 0, &[])).await.unwrap();
            }
            if stream == 1 && kind == 3 {
                break 'read;
            }
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => panic!("stream 1 was never reset; frames so far {kinds:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => panic!("connection closed; frames {kinds:?}"),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    // Response headers (1), then the reset (3); never a DATA frame (0).
    assert!(kinds.contains(&1), "{kinds:?}");
    assert!(!kinds.contains(&0), "{kinds:?}");
    let call = eventually("the stalled HTTP/2 call to be recorded", || async {
        let page = px.admin_json("/api/calls?limit=10").await;
        page["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["path"] == "/stream/1048576").cloned())
    })
    .await;
    assert_eq!(call["error"], "downstream_stalled");
    assert_eq!(call["protocol"], "h2");
}

/// Opens `n` connections to `addr` and has each answered once, so the listener holds them.
async fn hold(addr: SocketAddr, request: &[u8], n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 "), "{head}");
        held.push(s);
    }
    held
}

/// Whether a new connection to `addr` is closed without an answer.
async fn refused(addr: SocketAddr, request: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    read_head(&mut s).await.is_empty()
}

#[tokio::test]
async fn egress_and_admin_connections_over_their_caps_are_refused_and_counted() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(with_admin(
        up.addr,
        "max_connections: 2",
        "egress: { listen: 127.0.0.1:0, max_connections: 2 }\n",
    ))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    // Loopback is no destination here: each request is answered 403 at once.
    let to_egress = b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n";
    let held = hold(egress, to_egress, 2).await;
    assert!(
        refused(egress, to_egress).await,
        "a third egress connection was served"
    );
    drop(held);

    let to_admin = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", px.admin);
    let to_admin = to_admin.as_bytes();
    let held = hold(px.admin, to_admin, 2).await;
    assert!(
        refused(px.admin, to_admin).await,
        "a third admin connection was served"
    );
    drop(held);

    eventually("the admin listener to serve again", || async {
        let mut s = TcpStream::connect(px.admin).await.ok()?;
        s.write_all(to_admin).await.ok()?;
        read_head(&mut s)
            .await
            .starts_with("HTTP/1.1 200")
            .then_some(())
    })
    .await;
    assert_eq!(
        px.metric("sightline_egress_connections_rejected_total")
            .await,
        1.0
    );
    assert_eq!(
        px.metric("sightline_admin_connections_rejected_total")
            .await,
        1.0
    );
    assert!(!refused(egress, to_egress).await, "egress still refuses");
}

const TOKEN: &str = "admin-token-0123456789";

#[tokio::test]
async fn the_admin_api_refuses_an_unauthenticated_post_before_reading_its_body() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(with_admin(up.addr, &format!("token: {TOKEN}"), "")).await;
    // A declared body that never comes: the answer must not wait for it.
    let mut s = TcpStream::connect(px.admin).await.unwrap();
    s.write_all(
        b"POST /api/bans/lift HTTP/1.1\r\nHost: 127.0.0.1\r\nx-sightline-request: 1\r\nContent-Length: 16000\r\n\r\n",
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[tokio::test]
async fn a_slow_admin_body_is_cut_off_at_the_read_timeout() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(with_admin(
        up.addr,
        &format!("token: {TOKEN}, read_timeout: 300ms"),
        "",
    ))
    .await;
    let mut s = TcpStream::connect(px.admin).await.unwrap();
    s.write_all(
        format!(
            "POST /api/bans/lift HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = read_until_closed(&mut s, PATIENCE).await;
    assert_eq!(statuses(&got), [408], "{}", String::from_utf8_lossy(&got));
    assert!(String::from_utf8_lossy(&got).contains("request_timeout"));
}

#[tokio::test]
async fn a_slow_caller_body_on_egress_is_the_callers_fault() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(
        "egress:\n  listen: 127.0.0.1:0\n  sources: [ { cidr: 127.0.0.0/8, service: orders } ]\nenclave:\n  networks: [127.0.0.0/8]\nlimits: { request_timeout: 300ms }\n",
    ))
    .await;
    let egress = px.sightline.egress_addr().unwrap();
    let mut s = TcpStream::connect(egress).await.unwrap();
    s.write_all(
        format!(
            "POST http://{0}/sink HTTP/1.1\r\nHost: {0}\r\nContent-Length: 1000\r\n\r\na",
            up.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = read_until_closed(&mut s, PATIENCE).await;
    assert_eq!(statuses(&got), [408], "{}", String::from_utf8_lossy(&got));
    let call = px.call(&request_id(&got)).await;
    assert_eq!(call["error"], "client_timeout");
}

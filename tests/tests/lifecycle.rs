//! Reload (valid, invalid, with requests in flight) and graceful shutdown.

use sightline_tests::proxy::config;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::net::SocketAddr;

fn two_routes(a: SocketAddr, b: Option<SocketAddr>) -> String {
    let mut s = String::from(
        "version: 1\nadmin: { listen: 127.0.0.1:0 }\ninbound:\n  listen: 127.0.0.1:0\n  routes:\n    - { path_prefix: /a, service: a }\n",
    );
    if b.is_some() {
        s.push_str("    - { path_prefix: /b, service: b }\n");
    }
    s.push_str(&format!("services:\n  a: {{ upstreams: [\"{a}\"] }}\n"));
    if let Some(b) = b {
        s.push_str(&format!("  b: {{ upstreams: [\"{b}\"] }}\n"));
    }
    s
}

#[tokio::test]
async fn file_reload_applies_good_configs_and_keeps_serving_through_bad_ones() {
    let a = TestUpstream::plain().await;
    let b = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sightline.yaml");
    std::fs::write(&path, two_routes(a.addr, None)).unwrap();
    let cfg = sightline::Config::load(&path).unwrap();
    let s = sightline::Sightline::start(cfg, Some(path.clone()))
        .await
        .unwrap();
    let inbound = s.inbound_addr();
    assert_eq!(Client::http1().get(inbound, "/b").await.status, 404);

    // Invalid: an unknown key. Rejected with file and line; the old config keeps serving.
    std::fs::write(
        &path,
        format!("{}bogus_key: 1\n", two_routes(a.addr, Some(b.addr))),
    )
    .unwrap();
    let err = s.shared().reload_file().unwrap_err().to_string();
    assert!(err.contains("sightline.yaml:11"), "{err}");
    assert!(err.contains("bogus_key"), "{err}");
    assert_eq!(Client::http1().get(inbound, "/a").await.status, 200);
    assert_eq!(Client::http1().get(inbound, "/b").await.status, 404);
    assert!(!s.shared().reload_status().ok);

    // Valid: the new route serves.
    std::fs::write(&path, two_routes(a.addr, Some(b.addr))).unwrap();
    let generation = s.shared().reload_file().unwrap();
    assert_eq!(generation, 2);
    assert_eq!(Client::http1().get(inbound, "/b").await.status, 200);
    assert_eq!(b.requests(), 1);
    let status = Client::http1()
        .get(s.admin_addr(), "/api/status")
        .await
        .json();
    assert_eq!(status["config"]["generation"], 2);
    assert_eq!(status["config"]["last_reload_ok"], true);
    assert!(s.shutdown().await);
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn reload_drops_no_request_in_flight() {
    let old = TestUpstream::plain().await;
    let new = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(old.addr, "")).await;
    let inbound = px.inbound;
    let inflight = tokio::spawn(async move { Client::http1().get(inbound, "/slow/500").await });
    eventually("the slow request to reach the old upstream", || async {
        (old.requests() == 1).then_some(())
    })
    .await;
    px.sightline
        .reload(sightline_tests::proxy::simple(new.addr, ""))
        .unwrap();
    let r = inflight.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), "slow done");
    assert_eq!(Client::http1().get(inbound, "/echo").await.status, 200);
    assert_eq!(new.requests(), 1);
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_stops_accepting() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(up.addr, "")).await;
    let inbound = px.inbound;
    let admin = px.admin;
    let inflight = tokio::spawn(async move { Client::http1().get(inbound, "/slow/600").await });
    eventually("the slow request to be in flight", || async {
        (up.requests() == 1).then_some(())
    })
    .await;
    let drained = tokio::spawn(px.sightline.shutdown());
    eventually("the listener to stop accepting", || async {
        tokio::net::TcpStream::connect(inbound)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let r = inflight.await.unwrap();
    assert_eq!(r.status, 200, "the request in flight was cut");
    assert!(
        drained.await.unwrap(),
        "drain did not finish before its deadline"
    );
    assert!(tokio::net::TcpStream::connect(admin).await.is_err());
}

#[tokio::test]
async fn readyz_turns_503_while_draining() {
    let up = TestUpstream::plain().await;
    let cfg = config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\nlimits: {{ drain_timeout: 5s }}\n",
        up.addr
    ));
    let px = TestProxy::start(cfg).await;
    let admin = px.admin;
    assert_eq!(Client::http1().get(admin, "/readyz").await.status, 200);
    // A slow request keeps the drain going while a probe asks for readiness.
    let inbound = px.inbound;
    let inflight = tokio::spawn(async move { Client::http1().get(inbound, "/slow/800").await });
    eventually("the slow request to be in flight", || async {
        (up.requests() == 1).then_some(())
    })
    .await;
    let drained = tokio::spawn(px.sightline.shutdown());
    eventually("/readyz to answer 503 during the drain", || async {
        let r = Client::http1()
            .send(admin, sightline_tests::client::get(admin, "/readyz"))
            .await
            .ok()?;
        (r.status == 503).then_some(())
    })
    .await;
    assert_eq!(inflight.await.unwrap().status, 200);
    assert!(drained.await.unwrap());
    assert!(
        tokio::net::TcpStream::connect(admin).await.is_err(),
        "admin still open after the drain"
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_the_response_is_recorded() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(up.addr, "")).await;
    let inbound = px.inbound;
    let gone = tokio::spawn(async move { Client::http1().get(inbound, "/slow/2000").await });
    eventually("the request to reach the upstream", || async {
        (up.requests() == 1).then_some(())
    })
    .await;
    gone.abort();
    let call = eventually("a record of the abandoned call", || async {
        let page = px.admin_json("/api/calls").await;
        page["calls"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(call["error"], "downstream_aborted");
    assert_eq!(call["status"], 0);
    assert_eq!(call["destination"], "app");
}

/// One kept-alive HTTP/1.1 client sending requests back to back, as a load generator does:
/// how many requests it wrote, how many got a whole response, and whether the last one said
/// `Connection: close`.
#[derive(Debug, Default)]
struct KeepAliveRun {
    sent: usize,
    answered: usize,
    told_to_close: bool,
    failure: Option<String>,
    /// After `Connection: close`, whether a new connection was refused at once (rather than
    /// accepted by a socket nobody serves any more).
    reconnect_refused: Option<bool>,
}

/// Reads one response (head and `Content-Length` body) from `s`; `Err` when the connection
/// ended or failed before it was whole.
async fn read_response(
    s: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(u16, bool), String> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("response without content-length: {head}"))?;
            let close = head
                .lines()
                .any(|l| l.starts_with("connection:") && l.contains("close"));
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return Ok((status, close));
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) => return Err(format!("closed with {} bytes of a response", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

async fn keep_alive_client(addr: SocketAddr, max: usize) -> KeepAliveRun {
    use tokio::io::AsyncWriteExt;
    let mut run = KeepAliveRun::default();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    while run.sent < max {
        let req = format!("GET /echo/{} HTTP/1.1\r\nHost: app\r\n\r\n", run.sent);
        run.sent += 1;
        if let Err(e) = s.write_all(req.as_bytes()).await {
            run.failure = Some(format!("request {} not written: {e}", run.sent));
            return run;
        }
        match read_response(&mut s, &mut buf).await {
            Ok((status, close)) => {
                if status != 200 {
                    run.failure = Some(format!("request {} answered {status}", run.sent));
                    return run;
                }
                run.answered += 1;
                if close {
                    run.told_to_close = true;
                    run.reconnect_refused =
                        Some(tokio::net::TcpStream::connect(addr).await.is_err());
                    return run;
                }
            }
            Err(e) => {
                run.failure = Some(format!("request {} lost: {e}", run.sent));
                return run;
            }
        }
    }
    run
}

#[tokio::test]
async fn shutdown_under_keep_alive_load_answers_every_request_sent() {
    shutdown_under_keep_alive_load("").await;
}

/// The same through hyper's HTTP/1.1 server (`runtime.http1: hyper`).
#[tokio::test]
async fn shutdown_under_keep_alive_load_answers_every_request_sent_through_hyper() {
    shutdown_under_keep_alive_load("runtime: { http1: hyper }\n").await;
}

/// Keep-alive clients sending back to back while the proxy (with `extra` config) drains.
async fn shutdown_under_keep_alive_load(extra: &str) {
    let up = TestUpstream::plain().await;
    // A generous idle grace: these clients are never idle, so every connection must end on a
    // `Connection: close` answer, not on the grace.
    let px = TestProxy::start(sightline_tests::proxy::simple(
        up.addr,
        &format!("limits: {{ drain_timeout: 20s, drain_idle_grace: 10s }}\n{extra}"),
    ))
    .await;
    let inbound = px.inbound;
    const CLIENTS: usize = 8;
    // Bounded: each client stops after this many requests whatever happens.
    const MAX_PER_CLIENT: usize = 20_000;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(keep_alive_client(inbound, MAX_PER_CLIENT)))
        .collect();
    eventually("every client to be under way", || async {
        (up.requests() >= (CLIENTS * 20) as u64).then_some(())
    })
    .await;
    let before = up.requests();
    let drained = px.sightline.shutdown().await;
    assert!(drained, "the drain did not finish before its deadline");
    let mut answered = 0;
    for c in clients {
        let run = c.await.unwrap();
        assert_eq!(run.failure, None, "{run:?}");
        assert_eq!(run.sent, run.answered, "{run:?}");
        assert!(
            run.told_to_close,
            "a connection ended without Connection: close: {run:?}"
        );
        assert_eq!(
            run.reconnect_refused,
            Some(true),
            "the listener still accepted during the drain"
        );
        answered += run.answered;
    }
    assert!(
        answered as u64 >= before,
        "{answered} answered, {before} before the drain"
    );
    assert!(
        tokio::net::TcpStream::connect(inbound).await.is_err(),
        "the listener still accepts after the drain"
    );
}

#[tokio::test]
async fn readyz_turns_503_and_the_listener_keeps_accepting_during_the_accept_grace() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(
        up.addr,
        "limits: { accept_grace: 30s, drain_timeout: 5s }\n",
    ))
    .await;
    let (inbound, admin) = (px.inbound, px.admin);
    let stopping = tokio::spawn(px.sightline.shutdown());
    eventually("/readyz to answer 503 once stopping", || async {
        let r = Client::http1()
            .send(admin, sightline_tests::client::get(admin, "/readyz"))
            .await
            .ok()?;
        (r.status == 503).then_some(())
    })
    .await;
    // Not ready, but a client that was still sent here is served on a new connection.
    let r = Client::http1().get(inbound, "/echo").await;
    assert_eq!(r.status, 200);
    assert!(!stopping.is_finished());
    stopping.abort();
}

#[tokio::test]
async fn an_http2_connection_gets_goaway_and_its_open_stream_finishes() {
    use http_body_util::BodyExt;
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::simple(up.addr, "")).await;
    let tcp = tokio::net::TcpStream::connect(px.inbound).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = |path: &str| {
        hyper::Request::get(format!("http://app{path}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    let slow = sender.send_request(req("/slow/600"));
    let slow = tokio::spawn(slow);
    eventually("the slow request to be in flight", || async {
        (up.requests() == 1).then_some(())
    })
    .await;
    let drained = tokio::spawn(px.sightline.shutdown());
    let r = slow.await.unwrap().expect("the open stream was cut");
    assert_eq!(r.status(), 200);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"slow done");
    // GOAWAY: the connection ends cleanly (no error), and the drain with it.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), conn)
        .await
        .expect("the connection stayed open after the drain")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    assert!(drained.await.unwrap());
    assert_eq!(up.requests(), 1);
}

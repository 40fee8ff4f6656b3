//! Keep-alive connections to upstreams: sequential calls share one connection, an upstream
//! that closes its idle connections costs no call, no more idle connections are kept than
//! `limits.upstream_max_idle`, and none is kept past `limits.idle_timeout`.

use sightline_tests::proxy::simple;
use sightline_tests::raw::{next_head, CountingUpstream};
use sightline_tests::{eventually, Client, TestProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How the counting upstream treats its connections.
#[derive(Clone, Copy)]
enum Mode {
    /// Keep-alive, as long as the proxy wants.
    KeepAlive,
    /// Answers one request as keep-alive, then closes the connection while it sits idle.
    CloseWhenIdle,
    /// Keep-alive, but holds every answer until this many connections were accepted.
    HoldUntil(u64),
}

/// A loopback HTTP/1.1 upstream answering `200 ok` to body-less requests (`GET /stall`: the
/// first 3 bytes of a 10-byte body, then silence; `GET /hang`: no answer), counting the
/// connections it accepted and those that have closed.
async fn counting(mode: Mode) -> CountingUpstream {
    CountingUpstream::start(move |tcp, accepted| serve(tcp, mode, accepted)).await
}

/// Answers request heads on `tcp` until the peer closes (or, in `CloseWhenIdle`, after one).
async fn serve(mut tcp: TcpStream, mode: Mode, mut accepted: watch::Receiver<u64>) {
    let mut buf = Vec::new();
    while let Some(head) = next_head(&mut tcp, &mut buf).await {
        if head.starts_with("GET /stall ") {
            // Three bytes of ten, then nothing more: the rest would arrive later, if ever.
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
                .await;
            let mut chunk = [0u8; 4096];
            while matches!(tcp.read(&mut chunk).await, Ok(n) if n > 0) {}
            return;
        }
        if head.starts_with("GET /hang ") {
            let mut chunk = [0u8; 4096];
            while matches!(tcp.read(&mut chunk).await, Ok(n) if n > 0) {}
            return;
        }
        if let Mode::HoldUntil(n) = mode {
            if accepted.wait_for(|a| *a >= n).await.is_err() {
                return;
            }
        }
        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n";
        if tcp.write_all(reply).await.is_err() {
            return;
        }
        if let Mode::CloseWhenIdle = mode {
            return;
        }
    }
}

#[tokio::test]
async fn sequential_calls_share_one_upstream_connection() {
    let up = counting(Mode::KeepAlive).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for i in 0..20 {
        let r = Client::http1().get(px.inbound, &format!("/n/{i}")).await;
        assert_eq!(r.status, 200, "call {i}");
        assert_eq!(&r.body[..], b"ok\n");
    }
    assert_eq!(up.accepted(), 1, "every call rode the first connection");
    assert_eq!(up.closed(), 0);
    let calls = px.calls_at_least(20).await;
    assert_eq!(calls.len(), 20);
    assert!(calls.iter().all(|c| c["status"] == 200), "{calls:?}");
}

#[tokio::test]
async fn a_call_on_a_reused_connection_times_out_as_on_a_new_one() {
    let up = counting(Mode::KeepAlive).await;
    let px = TestProxy::start(simple(up.addr, "limits: { request_timeout: 300ms }")).await;
    let timeout = std::time::Duration::from_millis(300);
    // The first call's deadline passes while its connection is idle; the next call on that
    // connection gets a deadline of its own.
    let first = tokio::time::Instant::now();
    assert_eq!(Client::http1().get(px.inbound, "/first").await.status, 200);
    tokio::time::sleep_until(first + timeout * 2).await;
    let r = Client::http1().get(px.inbound, "/hang").await;
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("sightline-error"), "upstream_timeout");
    assert_eq!(
        up.accepted(),
        1,
        "the hanging call rode the idle connection"
    );
    // Calls in quick succession: the second's deadline follows the first's.
    assert_eq!(Client::http1().get(px.inbound, "/second").await.status, 200);
    let r = Client::http1().get(px.inbound, "/hang").await;
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        up.accepted(),
        2,
        "the timed-out connection was not kept; the next one was"
    );
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_fails_no_call() {
    let up = counting(Mode::CloseWhenIdle).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for i in 0..10u64 {
        let r = Client::http1().get(px.inbound, "/").await;
        assert_eq!(
            r.status,
            200,
            "call {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        // The upstream has closed the connection the proxy keeps idle before the next call.
        eventually("the upstream closed its connection", || async {
            (up.closed() > i).then_some(())
        })
        .await;
    }
    assert_eq!(up.accepted(), 10, "a new connection for each call");
    let calls = px.calls_at_least(10).await;
    assert!(calls.iter().all(|c| c["status"] == 200), "{calls:?}");
}

#[tokio::test]
async fn idle_connections_past_the_bound_are_closed_and_the_rest_reused() {
    const BURST: u64 = 6;
    let up = counting(Mode::HoldUntil(BURST)).await;
    let px = TestProxy::start(simple(up.addr, "limits:\n  upstream_max_idle: 2\n")).await;
    // Every answer waits until all calls have their own upstream connection.
    let calls: Vec<_> = (0..BURST)
        .map(|_| {
            let inbound = px.inbound;
            tokio::spawn(async move { Client::http1().get(inbound, "/").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().status, 200);
    }
    assert_eq!(up.accepted(), BURST);
    eventually("all but 2 idle connections closed", || async {
        (up.closed() == BURST - 2).then_some(())
    })
    .await;
    // The two kept serve the next calls.
    for _ in 0..4 {
        assert_eq!(Client::http1().get(px.inbound, "/").await.status, 200);
    }
    assert_eq!(up.accepted(), BURST, "no new connection after the burst");
    assert_eq!(up.closed(), BURST - 2);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_without_more_traffic() {
    let up = counting(Mode::KeepAlive).await;
    let px = TestProxy::start(simple(up.addr, "limits:\n  idle_timeout: 300ms\n")).await;
    assert_eq!(Client::http1().get(px.inbound, "/").await.status, 200);
    assert_eq!(up.accepted(), 1);
    eventually("the idle upstream connection closed", || async {
        (up.closed() == 1).then_some(())
    })
    .await;
    // The next call opens a fresh one.
    assert_eq!(Client::http1().get(px.inbound, "/").await.status, 200);
    assert_eq!(up.accepted(), 2);
}

#[tokio::test]
async fn a_connection_whose_response_was_cut_off_is_never_reused() {
    let up = counting(Mode::KeepAlive).await;
    let px = TestProxy::start(simple(up.addr, "limits:\n  body_idle_timeout: 200ms\n")).await;
    let cut = Client::http1()
        .send(
            px.inbound,
            sightline_tests::client::get(px.inbound, "/stall"),
        )
        .await;
    assert!(cut.is_err(), "the stalled body is cut off: {cut:?}");
    eventually("the stalled upstream connection closed", || async {
        (up.closed() == 1).then_some(())
    })
    .await;
    // The next call gets its own answer on a new connection, never the rest of the cut one.
    let r = Client::http1().get(px.inbound, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"ok\n");
    assert_eq!(up.accepted(), 2);
}

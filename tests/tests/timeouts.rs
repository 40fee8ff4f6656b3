//! Connection-level limits: header-read timeout (slowloris), idle close, connection cap.

use sightline_tests::proxy::simple;
use sightline_tests::raw::read_until_closed;
use sightline_tests::{Client, TestProxy, TestUpstream};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn slow_headers_are_cut_off_while_others_are_served() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { header_read_timeout: 300ms }")).await;
    let mut slow = TcpStream::connect(px.inbound).await.unwrap();
    slow.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        .await
        .unwrap();
    let started = Instant::now();
    // A well-behaved client is served meanwhile.
    assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
    let _ = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before the timeout"
    );
    assert_eq!(up.requests(), 1);
}

#[tokio::test]
async fn idle_keepalive_connections_are_closed() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { idle_timeout: 300ms }")).await;
    let mut s = TcpStream::connect(px.inbound).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    // A silent connection is closed too.
    let mut silent = TcpStream::connect(px.inbound).await.unwrap();
    let got = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"));
}

#[tokio::test]
async fn a_request_in_flight_outlives_the_idle_timeout() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { idle_timeout: 200ms }")).await;
    let r = Client::http1().get(px.inbound, "/slow/700").await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body), "slow done");
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_counted() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { max_connections: 2 }")).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(px.inbound).await.unwrap();
        s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let mut third = TcpStream::connect(px.inbound).await.unwrap();
    let _ = third
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(got.is_empty(), "the third connection was served");
    assert_eq!(px.metric("sightline_connections_rejected_total").await, 1.0);
    drop(held);
    sightline_tests::eventually("a slot to free up", || async {
        (px.metric("sightline_connections_active").await <= 1.0).then_some(())
    })
    .await;
    assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
}

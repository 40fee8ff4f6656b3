//! Upgrade (WebSocket) pass-through: 101 relayed, then bytes both ways, recorded as one call.

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use sightline_tests::proxy::simple;
use sightline_tests::{TestProxy, TestUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn websocket_upgrade_relays_bytes_both_ways() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let tcp = tokio::net::TcpStream::connect(px.inbound).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = Request::get("/upgrade")
        .header("host", "ws.example")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let seen = up.last_headers();
    assert_eq!(seen["upgrade"], "websocket");
    assert_eq!(seen["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");

    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    let mut total = 0u64;
    for i in 0..20u8 {
        let msg = vec![i; 1000];
        io.write_all(&msg).await.unwrap();
        let mut back = vec![0u8; 1000];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg);
        total += 1000;
    }
    drop(io);
    let call = px.call(&rid).await;
    assert_eq!(call["status"], 101);
    assert_eq!(call["protocol"], "upgrade");
    assert_eq!(call["bytes_in"], total);
    assert_eq!(call["bytes_out"], total);
}

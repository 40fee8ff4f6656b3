//! The native server end to end over an in-memory stream: ordering, framing, `100 Continue`,
//! refusals, HEAD, HTTP/1.0 and the close.

use super::RequestBody;
use crate::server::Http1Server;
use crate::server::{serve_connection, ConnActivity, ConnCtx, ConnLimits};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn limits() -> ConnLimits {
    ConnLimits {
        header_read_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_head_bytes: 8192,
        write_stall_timeout: Duration::from_secs(5),
        drain_idle_grace: Duration::from_secs(1),
        http1: Http1Server::Native,
        refuse: |why| {
            let (status, text) = match why {
                super::HeadRefused::Malformed(r) => (
                    400,
                    format!("{{\"error\":\"bad_request\",\"reason\":\"{r}\"}}"),
                ),
                super::HeadRefused::TooLarge(_) => (431, String::new()),
            };
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
            resp.headers_mut()
                .insert("connection", http::HeaderValue::from_static("close"));
            resp
        },
    }
}

/// Serves a connection whose answer to each request is `METHOD target: body`.
fn start() -> (DuplexStream, tokio::sync::watch::Sender<bool>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let svc = hyper::service::service_fn(|req: Request<RequestBody>| async move {
        let (parts, body) = req.into_parts();
        let got = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => Bytes::from(format!("body failed: {e}")),
        };
        let text = format!(
            "{} {}: {}",
            parts.method,
            parts.uri,
            String::from_utf8_lossy(&got)
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    });
    tokio::spawn(async move {
        let activity = std::sync::Arc::new(ConnActivity::default());
        let ctx = ConnCtx {
            io: server,
            service: svc,
            limits: limits(),
            activity,
            shutdown,
        };
        serve_connection(ctx).await;
    });
    (client, stop)
}

async fn read_to_close(io: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the connection was not closed");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_close_ends_the_connection() {
    let (mut c, _stop) = start();
    c.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
          PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nxy",
    )
    .await
    .unwrap();
    let text = read_to_close(&mut c).await;
    let a = text.find("GET /a: ").unwrap();
    let b = text.find("POST /b: abcde").unwrap();
    let c_ = text.find("PUT /c: xy").unwrap();
    assert!(a < b && b < c_, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{text}");
    assert!(text.contains("content-length: 8\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
}

#[tokio::test]
async fn a_client_that_expects_100_continue_gets_it_before_sending_its_body() {
    let (mut c, _stop) = start();
    c.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .await
    .unwrap();
    let mut first = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"data").await.unwrap();
    c.shutdown().await.unwrap();
    let text = read_to_close(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("POST /up: data"), "{text}");
}

#[tokio::test]
async fn a_malformed_head_is_answered_400_with_its_reason_and_closed() {
    let (mut c, _stop) = start();
    c.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let text = read_to_close(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("\"error\":\"bad_request\""), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(!text.contains("/next"), "{text}");
}

#[tokio::test]
async fn a_head_over_the_limit_is_answered_431() {
    let (mut c, _stop) = start();
    let mut raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 9000));
    c.write_all(&raw).await.unwrap();
    let text = read_to_close(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
}

#[tokio::test]
async fn a_bad_chunk_fails_the_body_and_the_connection() {
    let (mut c, _stop) = start();
    c.write_all(b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_to_close(&mut c).await;
    assert!(text.contains("body failed"), "{text}");
    assert!(!text.contains("/next"), "{text}");
}

#[tokio::test]
async fn head_answers_have_no_body_and_http10_closes() {
    let (mut c, _stop) = start();
    c.write_all(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /old HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let text = read_to_close(&mut c).await;
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(!head.contains("transfer-encoding"), "{text}");
    assert!(
        rest.starts_with("HTTP/1.1 200 OK"),
        "HEAD sent a body: {text}"
    );
    assert!(rest.ends_with("GET /old: "), "{text}");
    assert!(rest.contains("connection: close"), "{text}");
}

#[tokio::test]
async fn an_idle_connection_closes_when_the_drain_begins() {
    let (mut c, stop) = start();
    c.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = c.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    stop.send(true).unwrap();
    let text = read_to_close(&mut c).await;
    assert_eq!(text, "");
}

/// The idle timeout counts from the end of the connection's last request, not from when the
/// connection opened: the connection's one idle timer, firing a timeout after it opened while a
/// later request has ended since, sets itself again instead of closing. Time is paused, so the
/// waits below advance the clock exactly rather than sleeping.
#[tokio::test(start_paused = true)]
async fn the_idle_timeout_counts_from_the_last_request() {
    let idle = Duration::from_secs(3);
    let (mut c, server) = tokio::io::duplex(64 * 1024);
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let activity = std::sync::Arc::new(ConnActivity::default());
    let requests = activity.clone();
    let svc = hyper::service::service_fn(move |_req: Request<RequestBody>| {
        // The request is in flight until its response is made, as a recorded call is.
        let in_flight = requests.begin();
        async move {
            drop(in_flight);
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        }
    });
    let ctx = ConnCtx {
        io: server,
        service: svc,
        limits: ConnLimits {
            idle_timeout: idle,
            ..limits()
        },
        activity,
        shutdown,
    };
    tokio::spawn(serve_connection(ctx));
    let mut buf = [0u8; 512];
    for pause in [Duration::from_secs(1), Duration::ZERO] {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = c.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
        tokio::time::sleep(pause).await;
    }
    // The timer's first firing (a timeout after the connection opened) falls in this wait,
    // which ends before the timeout has passed since the second request.
    let read = tokio::time::timeout(idle - Duration::from_millis(500), c.read(&mut buf)).await;
    assert!(read.is_err(), "closed before the idle timeout: {read:?}");
    assert_eq!(
        read_to_close(&mut c).await,
        "",
        "closed once idle for the timeout"
    );
}

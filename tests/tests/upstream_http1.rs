//! The native HTTP/1.1 upstream client through the real proxy, against raw loopback upstreams
//! that answer with exactly the bytes each case needs: ambiguous or oversized heads are a 502
//! with a reason, a body broken off mid-way reaches the client cut off (never as a clean short
//! response) and is recorded as failed, informational responses are skipped, bodiless answers
//! carry no body, a connection is kept only when both sides allow it, and a request a reused
//! connection fails on before any answer goes once more on a new one, unless its body went out.

use sightline_tests::eventually::PATIENCE;
use sightline_tests::proxy::simple;
use sightline_tests::raw::{exchange, next_head, read_to, CountingUpstream};
use sightline_tests::{Client, TestProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the scripted upstream does after a reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Waits for the next request on the same connection.
    Serve,
    /// Closes the connection.
    Close,
    /// Closes the connection once [`RELEASE`] is notified.
    CloseWhenReleased,
}

/// Lets a [`Then::CloseWhenReleased`] upstream close its connection.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// An upstream that answers each request head with the bytes its script gives for the request
/// line, counting the connections it accepted.
async fn scripted(script: fn(&str) -> (&'static [u8], Then)) -> CountingUpstream {
    CountingUpstream::start(move |mut tcp, _| async move {
        let mut buf = Vec::new();
        while let Some(head) = next_head(&mut tcp, &mut buf).await {
            let line = head.lines().next().unwrap_or("").to_owned();
            let (reply, then) = script(&line);
            if then == Then::CloseWhenReleased {
                let _ = tcp.write_all(reply).await;
                RELEASE.notified().await;
                return;
            }
            if tcp.write_all(reply).await.is_err() || then == Then::Close {
                let _ = tcp.shutdown().await;
                return;
            }
        }
    })
    .await
}

/// One `GET path` on a new client connection that asks to close; the raw bytes answered.
async fn raw_get(px: &TestProxy, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    String::from_utf8_lossy(&exchange(px.inbound, req.as_bytes(), PATIENCE).await).into_owned()
}

#[tokio::test]
async fn ambiguous_or_oversized_response_heads_are_a_502_with_a_reason() {
    fn script(line: &str) -> (&'static [u8], Then) {
        let reply: &'static [u8] = if line.contains("/cl-te") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        } else if line.contains("/two-lengths") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"
        } else if line.contains("/te-not-chunked") {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc"
        } else if line.contains("/folded") {
            b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"
        } else {
            // A head of 80 KiB: past the limit that follows `limits.max_header_bytes`.
            static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
            BIG.get_or_init(|| {
                let mut b = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n".to_vec();
                for i in 0..800 {
                    b.extend_from_slice(format!("x-f{i}: {}\r\n", "a".repeat(90)).as_bytes());
                }
                b.extend_from_slice(b"\r\n");
                b
            })
        };
        (reply, Then::Close)
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for path in [
        "/cl-te",
        "/two-lengths",
        "/te-not-chunked",
        "/folded",
        "/big",
    ] {
        let r = Client::http1().get(px.inbound, path).await;
        assert_eq!(
            r.status,
            502,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("sightline-error"), "upstream_failed", "{path}");
        let reason = r.json()["reason"].as_str().unwrap_or("").to_owned();
        assert!(reason.contains("upstream"), "{path}: {reason}");
    }
    // Each bad answer came on its own connection: none was kept.
    assert_eq!(up.accepted(), 5);
}

#[tokio::test]
async fn a_body_broken_off_reaches_the_client_cut_off_and_is_recorded_as_failed() {
    fn script(line: &str) -> (&'static [u8], Then) {
        if line.contains("/short") {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                Then::Close,
            )
        } else if line.contains("/held") {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                Then::CloseWhenReleased,
            )
        } else {
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
                Then::Serve,
            )
        }
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    // Cut off before anything went out (the body broke in the read that brought the head):
    // the connection is reset, no response at all.
    let got = raw_get(&px, "/short").await;
    assert!(got.is_empty(), "{got:?}");
    // Cut off after the head and some of the body went out: the client has them, then the
    // connection ends short of the length announced.
    let mut tcp = tokio::net::TcpStream::connect(px.inbound).await.unwrap();
    tcp.write_all(b"GET /held HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"\r\n\r\nabc") {
        match tokio::time::timeout(PATIENCE, tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            other => panic!("{other:?}: {}", String::from_utf8_lossy(&got)),
        }
    }
    RELEASE.notify_one();
    got.extend(sightline_tests::raw::read_until_closed(&mut tcp, PATIENCE).await);
    let got = String::from_utf8_lossy(&got).into_owned();
    {
        let (head, body) = got.split_once("\r\n\r\n").unwrap_or((&got, ""));
        assert!(head.starts_with("HTTP/1.1 200"), "{got}");
        assert!(
            head.to_ascii_lowercase().contains("content-length: 10"),
            "{got}"
        );
        assert!(body.len() < 10, "fewer bytes than announced: {got:?}");
    }
    let got = raw_get(&px, "/bad-chunk").await;
    assert!(
        !got.ends_with("0\r\n\r\n"),
        "the chunked answer never ends cleanly: {got:?}"
    );
    let calls = px.calls_at_least(3).await;
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(c["error"], "upstream_body_failed", "{c}");
    }
}

#[tokio::test]
async fn a_close_delimited_body_ends_cleanly_with_the_connection() {
    fn script(_: &str) -> (&'static [u8], Then) {
        (
            b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end",
            Then::Close,
        )
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for _ in 0..2 {
        let r = Client::http1().get(px.inbound, "/").await;
        assert_eq!(
            (r.status.as_u16(), &r.body[..]),
            (200, &b"until the end"[..])
        );
    }
    assert_eq!(up.accepted(), 2);
    let calls = px.calls_at_least(2).await;
    assert!(calls.iter().all(|c| c["error"].is_null()), "{calls:?}");
}

#[tokio::test]
async fn informational_responses_are_skipped_and_bodiless_answers_keep_the_connection() {
    fn script(line: &str) -> (&'static [u8], Then) {
        let reply: &'static [u8] = if line.starts_with("HEAD") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        } else if line.contains("/continue") {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        } else if line.contains("/204") {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        } else if line.contains("/304") {
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast"
        };
        (reply, Then::Serve)
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let r = Client::http1().get(px.inbound, "/continue").await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"ok"[..]));
    let mut head = sightline_tests::client::get(px.inbound, "/head");
    *head.method_mut() = http::Method::HEAD;
    let r = Client::http1().send(px.inbound, head).await.unwrap();
    assert_eq!((r.status.as_u16(), r.body.len()), (200, 0));
    assert_eq!(Client::http1().get(px.inbound, "/204").await.status, 204);
    let r = Client::http1().get(px.inbound, "/304").await;
    assert_eq!((r.status.as_u16(), r.body.len()), (304, 0));
    // Had any of them been read as having a body, this answer would be taken for it.
    let r = Client::http1().get(px.inbound, "/last").await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"last"[..]));
    assert_eq!(up.accepted(), 1, "every exchange rode one connection");
}

#[tokio::test]
async fn connection_close_from_the_upstream_is_never_reused() {
    fn script(line: &str) -> (&'static [u8], Then) {
        if line.contains("/close") {
            // Asks to close, yet leaves the socket open: only the field says not to reuse it.
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                Then::Serve,
            )
        } else {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                Then::Serve,
            )
        }
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for _ in 0..3 {
        assert_eq!(Client::http1().get(px.inbound, "/close").await.status, 200);
    }
    assert_eq!(up.accepted(), 3, "a new connection after each close");
}

#[tokio::test]
async fn keep_alive_connections_are_reused_by_either_client() {
    fn script(_: &str) -> (&'static [u8], Then) {
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
            Then::Serve,
        )
    }
    for client in ["native", "hyper"] {
        let up = scripted(script).await;
        let extra = format!("runtime: {{ upstream_http1: {client} }}\n");
        let px = TestProxy::start(simple(up.addr, &extra)).await;
        for i in 0..5 {
            let r = Client::http1().get(px.inbound, &format!("/{i}")).await;
            assert_eq!(
                (r.status.as_u16(), &r.body[..]),
                (200, &b"ok"[..]),
                "{client}"
            );
        }
        assert_eq!(up.accepted(), 1, "{client}: one connection for all");
    }
}

/// An upstream that answers the first request on each connection (keeping it open), then
/// closes the connection, unanswered, as soon as the next request on it has fully arrived: an
/// upstream whose keep-alive timeout fires just as a request comes.
async fn answers_once_per_connection() -> CountingUpstream {
    CountingUpstream::start(|mut tcp, _| async move {
        let mut buf = Vec::new();
        for answered in [false, true] {
            // The whole request: its head, then as many bytes as its Content-Length.
            let Some(head) = next_head(&mut tcp, &mut buf).await else {
                return;
            };
            let length: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .map_or(0, |v| v.parse().unwrap());
            if !read_to(&mut tcp, &mut buf, length).await {
                return;
            }
            buf.drain(..length);
            if answered {
                return;
            }
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if tcp.write_all(reply).await.is_err() {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_request_the_upstream_closed_a_reused_connection_on_goes_once_more_if_it_can() {
    let up = answers_once_per_connection().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let first = Client::http1().get(px.inbound, "/first").await;
    assert_eq!((first.status.as_u16(), &first.body[..]), (200, &b"ok"[..]));
    // Goes on the kept connection, which the upstream closes on it unanswered: the GET is
    // sent again on a new connection and answered.
    let again = Client::http1().get(px.inbound, "/again").await;
    assert_eq!((again.status.as_u16(), &again.body[..]), (200, &b"ok"[..]));
    assert_eq!(up.accepted(), 2, "the GET went again on a new connection");
    // A body that went out is not sent twice: the POST fails with the connection.
    let post = http::Request::post("/submit")
        .header("host", "x")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"payload",
        )))
        .unwrap();
    let r = Client::http1().send(px.inbound, post).await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(up.accepted(), 2, "the POST was not sent again");
    // Nor is a POST without a body: it may have taken effect though no answer came.
    let warm = Client::http1().get(px.inbound, "/warm").await;
    assert_eq!(warm.status, 200);
    assert_eq!(up.accepted(), 3);
    let post = http::Request::post("/nobody")
        .header("host", "x")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = Client::http1().send(px.inbound, post).await.unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(up.accepted(), 3, "the bodiless POST was not sent again");
    drop(up);
    // One record per call: the GET sent twice is one call, answered.
    let calls = px.calls_at_least(5).await;
    assert_eq!(calls.len(), 5);
    let again: Vec<_> = calls.iter().filter(|c| c["path"] == "/again").collect();
    assert_eq!(again.len(), 1, "{calls:?}");
    assert_eq!(again[0]["status"], 200, "{}", again[0]);
}

/// A body of known length larger than the read buffer is read straight into buffers of its
/// own: it arrives whole, byte for byte, and leaves the connection fit for the next call; one
/// the upstream cuts short of its length never ends cleanly and is recorded as failed.
#[tokio::test]
async fn a_large_body_arrives_whole_and_one_cut_short_never_ends_cleanly() {
    const LEN: usize = 200_000;
    fn response(sent: usize) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {LEN}\r\n\r\n").into_bytes();
        r.extend((0..sent).map(|i| b'a' + (i % 26) as u8));
        r
    }
    static WHOLE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| response(LEN));
    static SHORT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| response(LEN * 3 / 4));
    fn script(line: &str) -> (&'static [u8], Then) {
        if line.contains("/short") {
            (&SHORT, Then::Close)
        } else {
            (&WHOLE, Then::Serve)
        }
    }
    let body = &WHOLE[WHOLE.len() - LEN..];
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for i in 0..3 {
        let r = Client::http1()
            .get(px.inbound, &format!("/whole/{i}"))
            .await;
        assert_eq!(r.status, 200);
        assert!(r.body[..] == body[..], "call {i}: {} bytes", r.body.len());
    }
    assert_eq!(up.accepted(), 1, "the connection was kept for every call");
    let got = raw_get(&px, "/short").await;
    let (head, rest) = got.split_once("\r\n\r\n").unwrap_or((&got, ""));
    assert!(got.is_empty() || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(rest.len() < LEN, "never the whole announced length");
    let calls = px.calls_at_least(4).await;
    let short: Vec<_> = calls.iter().filter(|c| c["path"] == "/short").collect();
    assert_eq!(short.len(), 1, "{calls:?}");
    assert_eq!(short[0]["error"], "upstream_body_failed", "{}", short[0]);
}

/// What a client's request with forwarding headers it may not send, hop-by-hop fields, fields
/// named in `Connection` and a trace context of its own becomes for the upstream: the same
/// fields from either client, on a new connection and on a reused one, order aside.
#[tokio::test]
async fn both_clients_send_the_same_rewritten_fields() {
    let request = "GET /a/../b?q=1 HTTP/1.1\r\n\
        Host: API.Example.Internal\r\n\
        X-Forwarded-For: 203.0.113.9\r\n\
        X-Forwarded-For: 198.51.100.1\r\n\
        X-Forwarded-Host: evil.example\r\n\
        X-Forwarded-Proto: https\r\n\
        Forwarded: for=203.0.113.9\r\n\
        X-Real-IP: 203.0.113.9\r\n\
        Via: 1.1 edge\r\n\
        Connection: close, X-Drop-Me\r\n\
        X-Drop-Me: secret\r\n\
        Keep-Alive: timeout=5\r\n\
        Proxy-Authorization: Basic eDp5\r\n\
        TE: trailers, deflate\r\n\
        Sightline-Error: forged\r\n\
        traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\
        tracestate: vendor=1\r\n\
        X-Request-Id: forged\r\n\
        X-Kept: yes\r\n\
        X-Kept: again\r\n\r\n";
    for client in ["native", "hyper"] {
        let (heads, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
        let up = CountingUpstream::start(move |mut tcp, _| {
            let heads = heads.clone();
            async move {
                let mut buf = Vec::new();
                while let Some(head) = next_head(&mut tcp, &mut buf).await {
                    let _ = heads.send(head);
                    let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if tcp.write_all(reply).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await;
        let extra = format!("runtime: {{ upstream_http1: {client} }}\n");
        let px = TestProxy::start(simple(up.addr, &extra)).await;
        for attempt in ["new connection", "reused connection"] {
            let answer = exchange(px.inbound, request.as_bytes(), PATIENCE).await;
            let answer = String::from_utf8_lossy(&answer).into_owned();
            assert!(answer.starts_with("HTTP/1.1 200 "), "{client}: {answer}");
            let request_id = answer
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .unwrap_or_else(|| panic!("{client}: no request id in {answer}"));
            let head = received.recv().await.unwrap();
            let mut lines: Vec<&str> = head.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.remove(0), "GET /b?q=1 HTTP/1.1", "{client}");
            // This hop's span id is new on each call: only its shape is known.
            let traceparent = lines
                .iter()
                .position(|l| l.starts_with("traceparent: "))
                .map(|i| lines.remove(i))
                .unwrap_or_else(|| panic!("{client}: no traceparent in {head}"));
            let span = &traceparent["traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-".len()..];
            assert!(
                span.len() == 19 && span.ends_with("-01") && !span.starts_with("00f067aa0ba902b7"),
                "{client}, {attempt}: {traceparent}"
            );
            lines.sort_unstable();
            let id_line = format!("x-request-id: {request_id}");
            let mut expected = vec![
                "host: api.example.internal",
                "te: trailers",
                "tracestate: vendor=1",
                "via: 1.1 edge, 1.1 sightline",
                "x-forwarded-for: 127.0.0.1",
                "x-forwarded-host: api.example.internal",
                "x-forwarded-proto: http",
                "x-kept: again",
                "x-kept: yes",
                &id_line,
            ];
            expected.sort_unstable();
            assert_eq!(lines, expected, "{client}, {attempt}: {head}");
        }
        assert_eq!(
            up.accepted(),
            1,
            "{client}: the second call reused the connection"
        );
    }
}

/// The fields of a reply as sorted `name: value` lines, without the ones that differ between
/// clients or calls (`Date`, the request id, the connection's own).
fn field_lines(headers: &http::HeaderMap) -> Vec<String> {
    let mut lines: Vec<String> = headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id" | "connection"))
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn upstream_fields_pass_in_order_with_repeats_and_the_proxy_adds_its_own_once() {
    fn script(line: &str) -> (&'static [u8], Then) {
        let reply: &'static [u8] = if line.contains("/rewritten") {
            // Fields the proxy sets itself: `Via` is joined, the request id is the proxy's.
            b"HTTP/1.1 200 OK\r\nVia: 1.0 up\r\nX-Request-Id: forged\r\nContent-Length: 2\r\n\r\nok"
        } else if line.contains("/named") {
            b"HTTP/1.1 200 OK\r\nConnection: X-Gone\r\nX-Gone: 1\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok"
        } else {
            b"HTTP/1.1 200 OK\r\nServer: Up\r\nX-A: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nX-A: 2\r\nSet-Cookie: b=2\r\nProxy-Connection: x\r\nSightline-Error: forged\r\nTrailer: x\r\nContent-Length: 2\r\nDate: Sat, 05 Dec 2026 08:00:00 GMT\r\n\r\nok"
        };
        (reply, Then::Serve)
    }
    let up = scripted(script).await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let text = raw_get(&px, "/").await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "ok");
    let mut lines: Vec<&str> = head.lines().skip(1).collect();
    // The request id is new for each call; it follows `Via`.
    let id = lines.iter().position(|l| l.starts_with("x-request-id: "));
    assert_eq!(id, Some(8), "{text}");
    lines.remove(8);
    let upstream = [
        "server: Up",
        "x-a: 1",
        "set-cookie: a=1",
        "x-a: 2",
        "set-cookie: b=2",
        "content-length: 2",
        "date: Sat, 05 Dec 2026 08:00:00 GMT",
    ];
    let added = ["via: 1.1 sightline", "connection: close"];
    assert_eq!(lines, [&upstream[..], &added[..]].concat(), "{text}");

    // The same fields reach an HTTP/2 client and a client of hyper's HTTP/1.1 server.
    let mut want: Vec<String> = upstream
        .iter()
        .filter(|l| !l.starts_with("date"))
        .chain(&added[..1])
        .map(|l| l.to_string())
        .collect();
    want.sort();
    let r = Client::h2c().get(px.inbound, "/").await;
    assert_eq!(
        (field_lines(&r.headers), &r.body[..]),
        (want.clone(), &b"ok"[..])
    );
    assert_eq!(r.headers.get_all("x-request-id").iter().count(), 1);
    let px = TestProxy::start(simple(up.addr, "runtime: { http1: hyper }\n")).await;
    let r = Client::http1().get(px.inbound, "/").await;
    assert_eq!((field_lines(&r.headers), &r.body[..]), (want, &b"ok"[..]));

    // A field `Connection` names goes with it.
    for px_config in ["", "runtime: { http1: hyper }\n"] {
        let px = TestProxy::start(simple(up.addr, px_config)).await;
        let r = Client::http1().get(px.inbound, "/named").await;
        assert_eq!((r.header("x-gone"), r.header("x-kept")), ("", "1"));
        let r = Client::http1().get(px.inbound, "/rewritten").await;
        assert_eq!(r.headers.get_all("via").iter().count(), 1);
        assert_eq!(r.header("via"), "1.0 up, 1.1 sightline");
        assert_eq!(r.headers.get_all("x-request-id").iter().count(), 1);
        assert_ne!(r.header("x-request-id"), "forged");
    }
}

//! Hostile input through the real listeners: each attack is refused with a 4xx, or normalised
//! so the upstream sees exactly one well-formed request, and well-behaved clients are served
//! throughout.

use sightline_tests::proxy::simple;
use sightline_tests::raw::{exchange, statuses, RawUpstream};
use sightline_tests::{Client, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATIENCE: Duration = Duration::from_secs(5);

/// What the proxy must do with one hostile request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Answer 400 and send nothing upstream.
    Refuse,
    /// Forward exactly one request, for `/a`, re-framed by the proxy.
    Normalise,
}

/// Request smuggling and malformed HTTP/1.x. `/smuggled` is what an attacker hopes the
/// upstream reads as a request of its own. With both `Content-Length` and
/// `Transfer-Encoding` the chunks frame the body and the connection closes after the answer
/// (RFC 9112 §6.3), so the bytes behind it are never read as a request.
const H1_CASES: &[(&str, &[u8], Expect)] = &[
    ("CL and TE together", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Normalise),
    ("TE and CL together", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Normalise),
    ("conflicting Content-Length", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("Content-Length list", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 40\r\n\r\nabcd", Expect::Refuse),
    ("Content-Length not a number", b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd", Expect::Refuse),
    ("TE chunked, identity", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("TE chunked twice", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("TE xchunked", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("TE identity", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 4\r\n\r\nabcd", Expect::Refuse),
    ("space before the colon", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("leading space", b"POST /a HTTP/1.1\r\nHost: x\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("leading tab", b"POST /a HTTP/1.1\r\nHost: x\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("TE on HTTP/1.0", b"POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Expect::Refuse),
    ("bad chunk size", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", Expect::Refuse),
    ("chunk size overflow", b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nabc\r\n0\r\n\r\n", Expect::Refuse),
    ("obsolete line folding", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", Expect::Refuse),
    ("NUL in a header value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", Expect::Refuse),
    ("CR in a header value", b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", Expect::Refuse),
    ("invalid method", b"G@T /a HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("authority-form target", b"GET a HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("asterisk target on GET", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("space in the target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("unknown version", b"GET /a HTTP/9.9\r\nHost: x\r\n\r\n", Expect::Refuse),
    ("HTTP/1.1 without Host", b"GET /a HTTP/1.1\r\n\r\n", Expect::Refuse),
    ("two Host headers", b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", Expect::Refuse),
    ("bare LF line ends", b"GET /a HTTP/1.1\nHost: x\n\n", Expect::Normalise),
    ("h2c upgrade toward the upstream", b"GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n", Expect::Normalise),
];

#[tokio::test]
async fn smuggling_and_malformed_http1_never_reach_the_upstream_twice() {
    smuggling_cases("runtime: { http1: native }").await;
}

/// The same cases through hyper's HTTP/1.1 server (`runtime.http1: hyper`).
#[tokio::test]
async fn smuggling_and_malformed_http1_never_reach_the_upstream_twice_through_hyper() {
    smuggling_cases("runtime: { http1: hyper }").await;
}

async fn smuggling_cases(server: &str) {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        &format!("limits: {{ idle_timeout: 300ms, header_read_timeout: 1s }}\n{server}"),
    ))
    .await;
    for (name, bytes, expect) in H1_CASES {
        let before = up.paths().len();
        let got = exchange(px.inbound, bytes, PATIENCE).await;
        let answers = statuses(&got);
        let forwarded = up.paths()[before..].to_vec();
        assert!(
            !forwarded.iter().any(|p| p.contains("smuggled")),
            "{name}: the upstream saw a smuggled request: {forwarded:?}"
        );
        match expect {
            Expect::Refuse => {
                assert_eq!(answers, [400], "{name}: {}", String::from_utf8_lossy(&got));
                assert!(forwarded.is_empty(), "{name}: forwarded {forwarded:?}");
            }
            Expect::Normalise => {
                assert_eq!(answers, [200], "{name}: {}", String::from_utf8_lossy(&got));
                assert_eq!(forwarded, ["/a"], "{name}");
                let h = up.last_headers();
                assert!(h.get("upgrade").is_none(), "{name}: Upgrade forwarded");
                assert!(
                    h.get("http2-settings").is_none(),
                    "{name}: HTTP2-Settings forwarded"
                );
            }
        }
        // Well-behaved clients are served after every attack.
        assert_eq!(
            Client::http1().get(px.inbound, "/ok").await.status,
            200,
            "after {name}"
        );
    }
}

/// The native server answers a head it cannot parse through the one answer path: the status,
/// the JSON reason and the close, and nothing reaches the upstream.
#[tokio::test]
async fn a_malformed_or_oversized_head_is_answered_with_a_json_reason() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { max_header_bytes: 1024 }")).await;
    let got = exchange(
        px.inbound,
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        PATIENCE,
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(statuses(&got), [400], "{text}");
    assert!(text.contains("\"error\":\"bad_request\""), "{text}");
    assert!(text.contains("invalid header name"), "{text}");
    let mut big = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 16 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let got = exchange(px.inbound, &big, PATIENCE).await;
    assert_eq!(statuses(&got), [431], "{}", String::from_utf8_lossy(&got));
    assert!(up.paths().is_empty(), "forwarded {:?}", up.paths());
}

#[tokio::test]
async fn a_refused_request_is_recorded_with_its_reason() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let got = exchange(
        px.inbound,
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        PATIENCE,
    )
    .await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("sightline-error: bad_request"), "{text}");
    assert!(text.contains("only a single chunked"), "{text}");
    let calls = px.calls_at_least(1).await;
    assert_eq!(calls[0]["status"], 400);
    assert_eq!(calls[0]["error"], "bad_request");
}

/// Header fields as raw bytes, name then value.
type RawFields<'a> = &'a [(&'a [u8], &'a [u8])];

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block: GET http://x/ plus literal headers (no indexing, no Huffman), so bytes
/// the h2 crate's own encoder would refuse to send can be sent.
fn hpack(headers: RawFields<'_>) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x84, 0x41, 1, b'x'];
    for (name, value) in headers {
        b.push(0x00);
        b.push(name.len() as u8);
        b.extend_from_slice(name);
        b.push(value.len() as u8);
        b.extend_from_slice(value);
    }
    b
}

/// Sends one HTTP/2 request with the given extra headers; returns the frame types the
/// server sent until it reset the stream, went away, or answered.
async fn h2_exchange(addr: SocketAddr, headers: RawFields<'_>) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    out.extend(frame(1, 0x5, 1, &hpack(headers)));
    s.write_all(&out).await.unwrap();
    let mut kinds = Vec::new();
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let kind = buf[3];
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            buf.drain(..9 + len);
            if kind == 7 || (stream == 1 && (kind == 1 || kind == 3)) {
                kinds.push(kind);
                return kinds;
            }
            kinds.push(kind);
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => panic!("no answer to the HTTP/2 request; frames so far {kinds:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return kinds,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn malformed_http2_is_reset_before_it_is_downgraded_to_http1() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    // A baseline: the hand-made request is well formed, and answered.
    assert_eq!(
        h2_exchange(px.inbound, &[]).await.last(),
        Some(&1),
        "HEADERS answer"
    );
    let served = up.requests();
    assert_eq!(served, 1);
    let cases: &[(&str, RawFields<'_>)] = &[
        ("CR LF in a value", &[(b"x-a", b"a\r\nx-injected: 1")]),
        ("LF in a value", &[(b"x-a", b"a\nb")]),
        ("NUL in a value", &[(b"x-a", b"a\0b")]),
        ("connection header", &[(b"connection", b"keep-alive")]),
        ("transfer-encoding", &[(b"transfer-encoding", b"chunked")]),
        ("keep-alive header", &[(b"keep-alive", b"timeout=5")]),
        ("upgrade header", &[(b"upgrade", b"websocket")]),
        ("te other than trailers", &[(b"te", b"gzip")]),
        ("upper-case name", &[(b"X-A", b"1")]),
    ];
    for (name, headers) in cases {
        let kinds = h2_exchange(px.inbound, headers).await;
        let last = kinds.last().copied();
        assert!(
            matches!(last, Some(3) | Some(7) | None),
            "{name}: expected RST_STREAM or GOAWAY, got frames {kinds:?}"
        );
        assert_eq!(up.requests(), served, "{name}: reached the upstream");
    }
    assert_eq!(Client::h2c().get(px.inbound, "/ok").await.status, 200);
}

/// A deterministic stream of pseudo-random bytes (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `bytes` and half-closes, then waits for the peer to close.
async fn blast(addr: SocketAddr, bytes: &[u8]) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        panic!("listener {addr} stopped accepting");
    };
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let _ = sightline_tests::raw::read_until_closed(&mut s, PATIENCE).await;
}

#[tokio::test]
async fn random_bytes_on_every_listener_leave_them_serving() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "limits: { header_read_timeout: 500ms, idle_timeout: 500ms }\negress: { listen: 127.0.0.1:0 }",
    ))
    .await;
    let egress = px.sightline.egress_addr().expect("egress listener");
    for (name, addr) in [
        ("inbound", px.inbound),
        ("egress", egress),
        ("admin", px.admin),
    ] {
        for i in 0..150u64 {
            let len = 1 + (noise(i + 7, 1)[0] as usize) * 8;
            let mut bytes = noise(i, len);
            // Half the blobs look like the start of a request, to get past the first byte.
            if i % 2 == 0 {
                let mut b = b"GET /".to_vec();
                b.append(&mut bytes);
                bytes = b;
            }
            blast(addr, &bytes).await;
        }
        assert_eq!(
            Client::http1().get(px.inbound, "/ok").await.status,
            200,
            "after {name}"
        );
    }
    assert_eq!(Client::http1().get(px.admin, "/healthz").await.status, 200);
}

#[tokio::test]
async fn malformed_upstream_responses_become_502_with_a_reason() {
    let replies: &[(&str, &[u8])] = &[
        (
            "status not a number",
            b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        ),
        ("not HTTP at all", b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        ),
        (
            "NUL in a header",
            b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
        ),
        ("closes mid-head", b"HTTP/1.1 200 OK\r\nContent-"),
    ];
    for (name, reply) in replies {
        let up = RawUpstream::start(reply).await;
        let px = TestProxy::start(simple(up.addr, "")).await;
        let r = Client::http1().get(px.inbound, "/a").await;
        assert_eq!(
            r.status,
            502,
            "{name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("sightline-error"), "upstream_failed", "{name}");
        assert!(
            !r.json()["reason"].as_str().unwrap_or("").is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_slow_body_is_cut_off_while_others_are_served() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "limits: { request_timeout: 400ms }")).await;
    let mut slow = TcpStream::connect(px.inbound).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    assert_eq!(Client::http1().get(px.inbound, "/ok").await.status, 200);
    let got = sightline_tests::raw::read_until_closed(&mut slow, PATIENCE).await;
    let answers = statuses(&got);
    assert!(answers == [408], "{}", String::from_utf8_lossy(&got));
}

/// A `Host` that a suffix match would read as a subdomain, but that is a host name followed by
/// a path, a fragment, or preceded by userinfo.
const HOSTILE_HOSTS: &[&str] = &[
    "evil.com/.example.com",
    "evil.com#.example.com",
    "evil.com?.example.com",
    "a@x.example.com",
    "evil.com:80@x.example.com",
    "evil.com\\.example.com",
    "%65vil.example.com",
    "x.example.com:",
    "",
];

#[tokio::test]
async fn a_host_that_is_not_a_host_and_port_is_refused_and_only_the_normalised_one_is_forwarded() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ host: \"*.example.com\", path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\n",
        up.addr
    )))
    .await;
    for host in HOSTILE_HOSTS {
        let req = format!("GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let got = exchange(px.inbound, req.as_bytes(), PATIENCE).await;
        let text = String::from_utf8_lossy(&got);
        assert_eq!(statuses(&got), [400], "Host: {host}: {text}");
        assert!(text.contains("invalid Host"), "Host: {host}: {text}");
    }
    // The same through HTTP/2's :authority and an HTTP/1.1 absolute-form target.
    let h2 = Client::h2c()
        .send(
            px.inbound,
            http::Request::get("http://a@x.example.com/echo")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(h2.status, 400, "userinfo in :authority");
    let absolute = exchange(
        px.inbound,
        b"GET http://a@x.example.com/echo HTTP/1.1\r\nHost: x.example.com\r\nConnection: close\r\n\r\n",
        PATIENCE,
    )
    .await;
    assert_eq!(statuses(&absolute), [400], "userinfo in an absolute target");
    assert_eq!(up.requests(), 0, "no hostile Host reached the upstream");

    let ok = exchange(
        px.inbound,
        b"GET /echo HTTP/1.1\r\nHost: API.Example.COM.:8080\r\nX-Forwarded-Host: evil.com\r\nConnection: close\r\n\r\n",
        PATIENCE,
    )
    .await;
    assert_eq!(statuses(&ok), [200], "{}", String::from_utf8_lossy(&ok));
    let h = up.last_headers();
    assert_eq!(h["host"], "api.example.com:8080");
    assert_eq!(h["x-forwarded-host"], "api.example.com:8080");
    let text = String::from_utf8_lossy(&ok);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap();
    assert_eq!(px.call(id.trim()).await["host"], "api.example.com");
}

#[tokio::test]
async fn encoded_slashes_and_path_parameters_cannot_change_what_a_path_means() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    for raw in [
        "/api%2Flogin",
        "/api%2flogin",
        "/api%5Clogin",
        "/a/..%2F..%2Fadmin",
    ] {
        let req = format!("GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = exchange(px.inbound, req.as_bytes(), PATIENCE).await;
        let text = String::from_utf8_lossy(&got);
        assert_eq!(statuses(&got), [400], "{raw}: {text}");
        assert!(text.contains("encoded slash"), "{raw}: {text}");
    }
    assert_eq!(up.requests(), 0);
    for (raw, canonical) in [
        ("//echo//a", "/echo/a"),
        ("/echo;jsessionid=1/a;b=2", "/echo/a"),
        ("/x/..;/echo", "/echo"),
        ("/%65cho", "/echo"),
    ] {
        let r = Client::http1().get(px.inbound, raw).await;
        assert_eq!(r.status, 200, "{raw}");
        assert_eq!(
            r.json()["path"],
            canonical,
            "{raw} reaches the upstream canonical"
        );
    }
    // Route templates learn from the same canonical path: two endpoints, not four.
    let mut eps = sightline_tests::eventually("the endpoints of the four calls", || async {
        let v = px.admin_json("/api/endpoints").await;
        let templates: Vec<String> = v["endpoints"]
            .as_array()?
            .iter()
            .filter_map(|e| e["template"].as_str())
            .filter(|t| t.contains("echo"))
            .map(str::to_owned)
            .collect();
        (templates.len() >= 2).then_some(templates)
    })
    .await;
    eps.sort();
    assert_eq!(eps, ["/echo", "/echo/a"]);
}

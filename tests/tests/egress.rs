//! Egress: forward proxy and CONNECT, source identity, enclave decisions, and the SSRF forms
//! that must never reach a special or own address.

use base64::Engine;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sightline_certs::DevMaterial;
use sightline_policy::METADATA_ENDPOINTS;
use sightline_tests::eventually::PATIENCE;
use sightline_tests::proxy::config;
use sightline_tests::{Reply, TestProxy, TestUpstream, UpstreamKind};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `req` (absolute-form) to the egress proxy on a new connection.
async fn via(proxy: SocketAddr, req: Request<Empty<Bytes>>) -> Reply {
    let tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        version: parts.version,
    }
}

fn get(url: &str) -> Request<Empty<Bytes>> {
    Request::get(url).body(Empty::new()).unwrap()
}

fn egress_proxy(extra: &str) -> sightline::Config {
    config(&format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: orders }} ]
  credentials: [ {{ service: billing, token: billing-token-0123456789 }} ]
dns:
  hosts:
    localhost: [127.0.0.1]
    api.internal: [127.0.0.1]
    rebind.example: [127.0.0.1]
{extra}"
    ))
}

async fn start(extra: &str) -> (TestProxy, SocketAddr) {
    let px = TestProxy::start(egress_proxy(extra)).await;
    let e = px.sightline.egress_addr().unwrap();
    (px, e)
}

#[tokio::test]
async fn allowed_forward_request_is_proxied_and_recorded() {
    let up = TestUpstream::plain().await;
    let (px, e) = start(&format!(
        "enclave:\n  rules: [ {{ service: orders, cidrs: [127.0.0.1/32], ports: [{}] }} ]\n",
        up.addr.port()
    ))
    .await;
    let r = via(
        e,
        get(&format!("http://127.0.0.1:{}/echo/out?q=1", up.addr.port())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let echo = r.json();
    assert_eq!(echo["path"], "/echo/out");
    assert_eq!(
        echo["headers"]["host"],
        format!("127.0.0.1:{}", up.addr.port())
    );
    assert!(echo["headers"].get("proxy-authorization").is_none());
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["direction"], "egress");
    assert_eq!(call["source"], "orders");
    assert_eq!(call["destination"], format!("127.0.0.1:{}", up.addr.port()));
    assert_eq!(call["decision"], "allowed");
    assert_eq!(call["status"], 200);
}

#[tokio::test]
async fn metadata_and_own_listeners_are_refused_in_every_form() {
    let up = TestUpstream::plain().await;
    // Even a mode of report and a rule naming all of loopback cannot open these.
    let (px, e) =
        start("enclave:\n  mode: report\n  rules: [ { hosts: [\"*.example\"] } ]\n").await;
    let admin = px.admin.port();
    let mut urls = vec![
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:169.254.169.254]/".to_owned(),
        "http://rebind.example/".to_owned(),
        format!("http://127.0.0.1:{}/echo", up.addr.port()),
    ];
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "localhost",
    ] {
        urls.push(format!("http://{host}:{admin}/healthz"));
    }
    for url in &urls {
        let r = via(e, get(url)).await;
        assert_eq!(r.status, 403, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("sightline-error"), "egress_blocked", "{url}");
        let call = px.call(r.header("x-request-id")).await;
        assert_eq!(call["decision"], "blocked", "{url}");
        assert!(!call["reason"].as_str().unwrap().is_empty());
    }
    assert_eq!(up.requests(), 0);
}

#[tokio::test]
async fn deny_rule_in_report_mode_lets_the_call_through_as_reported() {
    let up = TestUpstream::plain().await;
    let (px, e) = start(
        "enclave:\n  networks: [127.0.0.0/8]\n  rules: [ { service: orders, cidrs: [127.0.0.1/32], action: deny, mode: report } ]\n",
    )
    .await;
    let r = via(e, get(&format!("http://127.0.0.1:{}/echo", up.addr.port()))).await;
    assert_eq!(r.status, 200);
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["decision"], "reported");
    assert_eq!(call["inside_enclave"], true);
}

#[tokio::test]
async fn proxy_authorization_names_the_service_and_bad_tokens_get_407() {
    let up = TestUpstream::plain().await;
    let (px, e) = start("enclave:\n  networks: [127.0.0.0/8]\n").await;
    let url = format!("http://127.0.0.1:{}/echo", up.addr.port());
    let auth = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    let req = Request::get(&url)
        .header(
            "proxy-authorization",
            auth("billing:billing-token-0123456789"),
        )
        .body(Empty::new())
        .unwrap();
    let r = via(e, req).await;
    assert_eq!(r.status, 200);
    assert_eq!(px.call(r.header("x-request-id")).await["source"], "billing");
    let req = Request::get(&url)
        .header("proxy-authorization", auth("billing:wrong"))
        .body(Empty::new())
        .unwrap();
    let r = via(e, req).await;
    assert_eq!(r.status, 407);
    assert_eq!(r.header("proxy-authenticate"), "Basic realm=\"sightline\"");
    assert_eq!(up.requests(), 1);
}

#[tokio::test]
async fn unknown_sources_are_named_by_address() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(
        "egress:\n  listen: 127.0.0.1:0\nenclave:\n  networks: [127.0.0.0/8]\n",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let r = via(e, get(&format!("http://127.0.0.1:{}/echo", up.addr.port()))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        px.call(r.header("x-request-id")).await["source"],
        "unknown:127.0.0.1"
    );
}

/// A TLS client trusting `ca` whose records carry at most `fragment` bytes, when given.
fn tls_client(
    ca: &std::path::Path,
    fragment: Option<usize>,
) -> std::sync::Arc<tokio_rustls::rustls::ClientConfig> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in sightline_certs::load_certs(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let mut cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.max_fragment_size = fragment;
    std::sync::Arc::new(cfg)
}

/// The first flight `cfg` sends to `sni`: the TLS records of its ClientHello.
fn client_hello_records(
    cfg: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
    sni: &str,
) -> Vec<Vec<u8>> {
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let mut conn = tokio_rustls::rustls::ClientConnection::new(cfg, name).unwrap();
    let mut flight = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut flight).unwrap();
    }
    let mut records = Vec::new();
    let mut rest = &flight[..];
    while rest.len() >= 5 {
        let len = 5 + u16::from_be_bytes([rest[3], rest[4]]) as usize;
        records.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    records
}

/// CONNECT through the proxy, then TLS to `sni` trusting `ca`; returns the reply to GET /echo
/// and the CONNECT response's request id.
async fn tunnel_get(
    e: SocketAddr,
    target: &str,
    sni: &str,
    ca: &std::path::Path,
) -> (u16, String, String) {
    tunnel_get_with(e, target, sni, tls_client(ca, None)).await
}

/// [`tunnel_get`] with the given TLS client.
async fn tunnel_get_with(
    e: SocketAddr,
    target: &str,
    sni: &str,
    cfg: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
) -> (u16, String, String) {
    let tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = Request::connect(target)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let rid = resp
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if status != 200 {
        return (status, rid, String::new());
    }
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, TokioIo::new(upgraded))
        .await
        .unwrap();
    tls.write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    (status, rid, String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn connect_tunnels_tls_records_sni_and_reports_a_mismatch() {
    let dir = std::env::temp_dir().join(format!("sightline-egress-{}", std::process::id()));
    let m = DevMaterial::write(&dir, &["localhost"]).unwrap();
    let up = TestUpstream::start(UpstreamKind::Tls {
        cert: m.server_cert.clone(),
        key: m.server_key.clone(),
    })
    .await;
    let (px, e) = start("enclave:\n  networks: [127.0.0.0/8]\n").await;

    let (status, rid, body) = tunnel_get(
        e,
        &format!("localhost:{}", up.addr.port()),
        "localhost",
        &m.ca,
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let call = px.call(&rid).await;
    assert_eq!(call["protocol"], "tunnel");
    assert_eq!(call["sni"], "localhost");
    assert_eq!(call["decision"], "allowed");
    assert!(call["bytes_in"].as_u64().unwrap() > 100);
    assert!(call["bytes_out"].as_u64().unwrap() > 100);

    let (status, rid, _) = tunnel_get(
        e,
        &format!("api.internal:{}", up.addr.port()),
        "localhost",
        &m.ca,
    )
    .await;
    assert_eq!(status, 200);
    let call = px.call(&rid).await;
    assert_eq!(call["decision"], "reported");
    assert!(
        call["reason"].as_str().unwrap().contains("localhost"),
        "{call}"
    );

    let (status, rid, _) = tunnel_get(e, "169.254.169.254:443", "localhost", &m.ca).await;
    assert_eq!(status, 403);
    assert_eq!(px.call(&rid).await["decision"], "blocked");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_wildcard_listener_is_not_reachable_through_a_host_address() {
    // The egress listener on 0.0.0.0 must not be dialed back through 127.0.0.2 even when the
    // enclave names all of loopback.
    let px = TestProxy::start(config(
        "egress:\n  listen: 0.0.0.0:0\nenclave:\n  networks: [127.0.0.0/8]\n",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let local = SocketAddr::from(([127, 0, 0, 1], e.port()));
    let r = via(local, get(&format!("http://127.0.0.2:{}/", e.port()))).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(px.call(r.header("x-request-id")).await["reason"]
        .as_str()
        .unwrap()
        .contains("own listener"));
}

#[tokio::test]
async fn a_client_certificate_names_the_calling_service() {
    let dir = std::env::temp_dir().join(format!("sightline-egress-mtls-{}", std::process::id()));
    let m = DevMaterial::write(&dir, &["localhost", "127.0.0.1"]).unwrap();
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  tls: {{ cert: \"{}\", key: \"{}\", client_ca: \"{}\", client_auth: required }}
  identities: [ {{ identity: \"spiffe://sightline.local/dev-client\", service: inventory }} ]
enclave:
  networks: [127.0.0.0/8]
",
        m.server_cert.display(),
        m.server_key.display(),
        m.ca.display()
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let client = sightline_tests::Client::tls(&m.ca, false, Some((&m.client_cert, &m.client_key)));
    let req = Request::get(format!("http://127.0.0.1:{}/echo", up.addr.port()))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let r = client.send(e, req).await.unwrap();
    assert_eq!(r.status, 200);
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["source"], "inventory");
    assert_eq!(call["tls"], true);
    // Without a certificate the handshake is refused.
    let anon = sightline_tests::Client::tls(&m.ca, false, None)
        .send(e, sightline_tests::client::get(e, "http://127.0.0.1:1/"))
        .await;
    assert!(anon.is_err());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_destination_that_starts_listening_moments_later_is_reached() {
    // Nothing listens when the call arrives; the port opens 150 ms later, inside the
    // connection retries: the caller gets the destination's answer.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (_px, e) = start(&format!(
        "enclave:\n  rules: [ {{ service: orders, cidrs: [127.0.0.1/32], ports: [{}] }} ]\n",
        addr.port()
    ))
    .await;
    let late = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        TestUpstream::start_on(sightline_tests::UpstreamKind::Plain, addr).await
    });
    let r = via(
        e,
        get(&format!("http://127.0.0.1:{}/echo/late", addr.port())),
    )
    .await;
    let _up = late.await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn refused_slow_and_unreachable_destinations() {
    let up = TestUpstream::plain().await;
    let refused = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    // A listener whose accept queue is full drops further SYNs: connecting hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let full_addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let c = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            tokio::net::TcpStream::connect(full_addr),
        );
        if let Ok(Ok(s)) = c.await {
            fillers.push(s);
        }
    }
    let px = TestProxy::start(config(
        "egress:\n  listen: 127.0.0.1:0\n  connect_timeout: 300ms\nenclave:\n  networks: [127.0.0.0/8]\nlimits: { request_timeout: 400ms }\n",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let cases = [
        (format!("http://{refused}/"), 502, "upstream_connect_failed"),
        (
            format!("http://{full_addr}/"),
            504,
            "upstream_connect_timeout",
        ),
        (format!("http://{}/hang", up.addr), 504, "upstream_timeout"),
    ];
    for (url, status, code) in cases {
        let r = via(e, get(&url)).await;
        assert_eq!(
            r.status,
            status,
            "{url}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("sightline-error"), code, "{url}");
        let call = px.call(r.header("x-request-id")).await;
        assert_eq!(call["error"], code, "{url}");
        assert_eq!(call["direction"], "egress");
    }
    drop(full);
}

#[tokio::test]
async fn half_closed_tunnels_deliver_everything() {
    // A plain TCP echo server that answers until the client finishes sending, then closes.
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let (px, e) = start("enclave:\n  networks: [127.0.0.0/8]\n").await;
    let tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let mut resp = send
        .send_request(
            Request::connect(echo_addr.to_string())
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut io = TokioIo::new(hyper::upgrade::on(&mut resp).await.unwrap());
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    io.write_all(&payload).await.unwrap();
    io.shutdown().await.unwrap();
    let mut back = Vec::new();
    io.read_to_end(&mut back).await.unwrap();
    assert_eq!(back.len(), payload.len());
    assert_eq!(back, payload);
    let call = px.call(&rid).await;
    assert_eq!(call["protocol"], "tunnel");
    assert_eq!(call["bytes_in"], payload.len() as u64);
    assert_eq!(call["bytes_out"], payload.len() as u64);
    assert!(call["sni"].is_null(), "plain TCP has no server name");
}

/// Random bytes that do not start like TLS (the tunnel would read them as a ClientHello).
fn random_payload(len: usize) -> Vec<u8> {
    use ring::rand::SecureRandom;
    let mut payload = vec![0u8; len];
    ring::rand::SystemRandom::new().fill(&mut payload).unwrap();
    payload[..4].copy_from_slice(b"RAND");
    payload
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfers_both_ways_arrive_intact_and_exactly_counted() {
    // Either HTTP/1.1 server takes the CONNECT; the tunnel gets the same client socket.
    for server in ["native", "hyper"] {
        large_transfer_both_ways(&format!("runtime:\n  http1: {server}\n")).await;
    }
}

async fn large_transfer_both_ways(extra: &str) {
    const HALF: usize = 4 << 20;
    let (up_payload, down_payload) = (random_payload(2 * HALF), random_payload(2 * HALF));
    // The destination sends half its bytes at once, reads the client's to their end, and
    // only then sends the rest: bytes keep flowing to a client that has half-closed.
    let dest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_addr = dest.local_addr().unwrap();
    let sent_down = down_payload.clone();
    let destination = tokio::spawn(async move {
        let (s, _) = dest.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        let (first, rest) = sent_down.split_at(HALF);
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        w.write_all(first).await.unwrap();
        let got = reading.await.unwrap();
        w.write_all(rest).await.unwrap();
        w.shutdown().await.unwrap();
        got
    });
    let (px, e) = start(&format!("enclave:\n  networks: [127.0.0.0/8]\n{extra}")).await;
    let mut tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    // The tunnel's first bytes go with the CONNECT, before its answer.
    let mut opening =
        format!("CONNECT {dest_addr} HTTP/1.1\r\nHost: {dest_addr}\r\n\r\n").into_bytes();
    opening.extend_from_slice(&up_payload[..1000]);
    tcp.write_all(&opening).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tcp.read(&mut byte).await.unwrap(),
            1,
            "closed before the answer"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let rid = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-request-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap();
    let (mut r, mut w) = tcp.into_split();
    let sent_up = up_payload.clone();
    let sending = tokio::spawn(async move {
        w.write_all(&sent_up[1000..]).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut down = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut down))
        .await
        .expect("the tunnel delivers everything and closes")
        .unwrap();
    sending.await.unwrap();
    let up = destination.await.unwrap();
    assert_eq!(up.len(), up_payload.len());
    assert_eq!(sha256(&up), sha256(&up_payload), "client to destination");
    assert_eq!(down.len(), down_payload.len());
    assert_eq!(
        sha256(&down),
        sha256(&down_payload),
        "destination to client"
    );
    let call = px.call(&rid).await;
    assert_eq!(call["protocol"], "tunnel");
    assert_eq!(call["bytes_in"], up_payload.len() as u64);
    assert_eq!(call["bytes_out"], down_payload.len() as u64);
    assert!(call["error"].is_null(), "{call}");
}

#[tokio::test]
async fn names_resolve_once_through_a_real_dns_server() {
    let dns = sightline_tests::dns::Dnsmasq::start(&[
        ("dns-test.example", "127.0.0.1"),
        ("meta.example", "169.254.169.254"),
    ]);
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "egress:\n  listen: 127.0.0.1:0\ndns:\n  servers: [\"{}\"]\nenclave:\n  networks: [127.0.0.0/8]\n",
        dns.addr
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let r = via(
        e,
        get(&format!("http://dns-test.example:{}/echo", up.addr.port())),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["upstream"], up.addr.to_string());
    assert_eq!(
        call["destination"],
        format!("dns-test.example:{}", up.addr.port())
    );
    // A name that resolves to the metadata address is judged by that address.
    let r = via(e, get("http://meta.example/latest/")).await;
    assert_eq!(r.status, 403);
    let r = via(e, get("http://nxdomain.example/")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("sightline-error"), "dns_failed");
}

/// CONNECT through the proxy; the tunnel's client end and the request id.
async fn connect(e: SocketAddr, target: &str) -> (TokioIo<hyper::upgrade::Upgraded>, String) {
    let tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = Request::connect(target)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let mut resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let io = TokioIo::new(hyper::upgrade::on(&mut resp).await.unwrap());
    (io, rid)
}

#[tokio::test]
async fn a_client_hello_split_across_records_is_still_checked() {
    let dir = std::env::temp_dir().join(format!("sightline-egress-split-{}", std::process::id()));
    let m = DevMaterial::write(&dir, &["localhost"]).unwrap();
    let up = TestUpstream::start(UpstreamKind::Tls {
        cert: m.server_cert.clone(),
        key: m.server_key.clone(),
    })
    .await;
    let (px, e) = start("enclave:\n  networks: [127.0.0.0/8]\n").await;
    // A real TLS client whose records carry at most 64 bytes: its ClientHello spans several.
    let cfg = tls_client(&m.ca, Some(64));
    assert!(client_hello_records(cfg.clone(), "localhost").len() >= 3);

    // The server name differs from the CONNECT host: reported, and the handshake completes.
    let target = format!("api.internal:{}", up.addr.port());
    let (status, rid, body) = tunnel_get_with(e, &target, "localhost", cfg.clone()).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let call = px.call(&rid).await;
    assert_eq!(call["sni"], "localhost", "{call}");
    assert_eq!(call["decision"], "reported", "{call}");
    assert!(call["reason"]
        .as_str()
        .unwrap()
        .contains("differs from the CONNECT host"));

    // The same split hello to the host it names is allowed.
    let target = format!("localhost:{}", up.addr.port());
    let (status, rid, _) = tunnel_get_with(e, &target, "localhost", cfg).await;
    assert_eq!(status, 200);
    let call = px.call(&rid).await;
    assert_eq!(
        (&call["sni"], &call["decision"]),
        (&"localhost".into(), &"allowed".into())
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_unreadable_client_hello_closes_the_tunnel_before_the_destination_sees_it() {
    // A destination that counts what reaches it.
    let dest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dest.local_addr().unwrap().port();
    let received = tokio::spawn(async move {
        let mut total = 0;
        for _ in 0..2 {
            let (mut s, _) = dest.accept().await.unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            total += got.len();
        }
        total
    });
    let (px, e) =
        start("enclave:\n  networks: [127.0.0.0/8]\nlimits: { header_read_timeout: 300ms }\n")
            .await;
    let dir = std::env::temp_dir().join(format!("sightline-egress-cut-{}", std::process::id()));
    let m = DevMaterial::write(&dir, &["localhost"]).unwrap();
    let records = client_hello_records(tls_client(&m.ca, Some(64)), "evil.example");
    assert!(records.len() >= 3);

    // The first two records of a hello, then silence: cut when the hello timeout passes.
    let (mut io, stalled) = connect(e, &format!("api.internal:{port}")).await;
    io.write_all(&records[..2].concat()).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, io.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a stalled hello keeps the tunnel open");
    // A hello that goes on as something other than handshake records: cut at once.
    let (mut io, garbled) = connect(e, &format!("api.internal:{port}")).await;
    let mut bytes = records[..2].concat();
    bytes.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
    io.write_all(&bytes).await.unwrap();
    let closed = tokio::time::timeout(PATIENCE, io.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a garbled hello keeps the tunnel open");

    assert_eq!(
        tokio::time::timeout(PATIENCE, received)
            .await
            .unwrap()
            .unwrap(),
        0,
        "no byte of the hello reached the destination"
    );
    for rid in [stalled, garbled] {
        let call = px.call(&rid).await;
        assert_eq!(call["decision"], "blocked", "{call}");
        assert_eq!(call["error"], "tunnel_refused", "{call}");
        assert!(call["reason"]
            .as_str()
            .unwrap()
            .contains("TLS ClientHello unreadable"));
        assert_eq!(call["bytes_in"], 0);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn refusals_tell_the_caller_the_rule_and_reason_but_no_address() {
    let px = TestProxy::start(config(
        "egress:
  listen: 127.0.0.1:0
dns:
  hosts:
    private.example: [192.168.7.7]
    loopback.example: [127.0.0.1]
    meta.example: [169.254.169.254]
    outside.example: [93.184.216.34]
    denied.example: [10.1.2.3]
enclave:
  networks: [10.0.0.0/8]
  rules: [ { hosts: [denied.example], action: deny } ]
",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let special =
        "destination is a special-purpose address that no enclave network or allow rule CIDR names";
    let cases = [
        ("private.example", "192.168.7.7", special),
        ("loopback.example", "127.0.0.1", special),
        (
            "meta.example",
            "169.254.169.254",
            "destination is a cloud metadata endpoint that no allow rule names exactly",
        ),
        (
            "outside.example",
            "93.184.216.34",
            "destination outside the enclave",
        ),
        ("denied.example", "10.1.2.3", "denied by egress rule 0"),
    ];
    for (name, address, reason) in cases {
        let r = via(e, get(&format!("http://{name}/"))).await;
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, 403, "{name}: {body}");
        assert_eq!(
            r.json()["reason"],
            format!("egress blocked: {reason}"),
            "{name}"
        );
        assert!(
            !body.contains(address),
            "{name}: the answer reveals {address}: {body}"
        );
        let call = px.call(r.header("x-request-id")).await;
        assert_eq!(call["decision"], "blocked", "{name}");
        assert!(
            call["reason"].as_str().unwrap().contains(address),
            "{name}: the record keeps the detail: {call}"
        );
    }
}

/// Names of the metadata endpoints in `dns.hosts`, and the enclave networks and rules that try
/// every way but the right one to open them.
fn metadata_yaml(mode: &str) -> String {
    let mut hosts = String::new();
    let mut exact = Vec::new();
    for (i, endpoint) in METADATA_ENDPOINTS.iter().enumerate() {
        hosts.push_str(&format!("    meta{i}.example: [\"{}\"]\n", endpoint.ip));
        let bits = if endpoint.ip.is_ipv4() { 32 } else { 128 };
        exact.push(format!("\"{}/{bits}\"", endpoint.ip));
    }
    let wide = r#""0.0.0.0/0", "::/0", "fd00::/8", "fc00::/7", "fe80::/10", "100.64.0.0/10", "169.254.0.0/16", "168.63.0.0/16", "192.0.0.0/24""#;
    format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: orders }} ]
dns:
  hosts:
{hosts}enclave:
  mode: {mode}
  networks: [{wide}, {exact}]
  rules:
    - {{ hosts: [\"*.example\"] }}
    - {{ cidrs: [{wide}] }}
",
        exact = exact.join(", ")
    )
}

/// The URLs that reach `ip`: through a name, as a literal and, for IPv4, in IPv6 forms that
/// carry it.
fn metadata_urls(i: usize, ip: std::net::IpAddr) -> Vec<String> {
    let mut urls = vec![format!("http://meta{i}.example/latest/meta-data/")];
    match ip {
        std::net::IpAddr::V4(v4) => {
            let nat64 = std::net::Ipv6Addr::from_bits((0x64_ff9b << 96) | u128::from(v4.to_bits()));
            urls.push(format!("http://{v4}/"));
            urls.push(format!("http://[{}]/", v4.to_ipv6_mapped()));
            urls.push(format!("http://[{nat64}]/"));
        }
        std::net::IpAddr::V6(v6) => urls.push(format!("http://[{v6}]/")),
    }
    urls
}

/// A fake metadata service on every endpoint address that can be dialed without a zone, on the
/// loopback of the test's network namespace.
async fn fake_metadata_services() -> Vec<TestUpstream> {
    let mut fakes = Vec::new();
    for endpoint in METADATA_ENDPOINTS {
        sightline_tests::netns::add_address(endpoint.ip);
        let link_local_v6 =
            matches!(endpoint.ip, std::net::IpAddr::V6(v6) if v6.is_unicast_link_local());
        if !link_local_v6 {
            let addr = SocketAddr::new(endpoint.ip, 80);
            fakes.push(TestUpstream::start_on(UpstreamKind::Plain, addr).await);
        }
    }
    fakes
}

#[tokio::test]
async fn cloud_metadata_is_refused_in_both_modes_whatever_the_enclave_says() {
    // In a network namespace of its own: even a regression dials only the fakes.
    if !sightline_tests::netns::isolated(
        "cloud_metadata_is_refused_in_both_modes_whatever_the_enclave_says",
    ) {
        return;
    }
    let fakes = fake_metadata_services().await;
    for mode in ["enforce", "report"] {
        let px = TestProxy::start(config(&metadata_yaml(mode))).await;
        let e = px.sightline.egress_addr().unwrap();
        for (i, endpoint) in METADATA_ENDPOINTS.iter().enumerate() {
            let address = endpoint.ip.to_string();
            for url in metadata_urls(i, endpoint.ip) {
                let what = format!("{mode} {url} ({address})");
                let r = via(e, get(&url)).await;
                let body = String::from_utf8_lossy(&r.body).into_owned();
                assert_eq!(r.status, 403, "{what}: {body}");
                assert_eq!(r.header("sightline-error"), "egress_blocked", "{what}");
                assert!(!body.contains(&address), "{what}: {body}");
                let call = px.call(r.header("x-request-id")).await;
                assert_eq!(call["decision"], "blocked", "{what}");
                let reason = call["reason"].as_str().unwrap();
                assert!(reason.contains(endpoint.service), "{what}: {reason}");
                assert!(reason.contains(&address), "{what}: {reason}");
            }
        }
    }
    for fake in &fakes {
        assert_eq!(fake.requests(), 0, "{} was reached", fake.addr);
    }
}

#[tokio::test]
async fn only_an_allow_rule_naming_the_exact_address_opens_a_metadata_endpoint() {
    if !sightline_tests::netns::isolated(
        "only_an_allow_rule_naming_the_exact_address_opens_a_metadata_endpoint",
    ) {
        return;
    }
    let fakes = fake_metadata_services().await;
    let px = TestProxy::start(config(
        "egress:
  listen: 127.0.0.1:0
  sources: [ { cidr: 127.0.0.0/8, service: orders } ]
  credentials: [ { service: billing, token: billing-token-0123456789 } ]
dns:
  hosts:
    alibaba.example: [100.100.100.200]
    aws6.example: [\"fd00:ec2::254\"]
    gcp6.example: [\"fd20:ce::254\"]
enclave:
  mode: report
  rules:
    - { service: orders, cidrs: [100.100.100.200/32, \"fd00:ec2::254/128\"], ports: [80] }
    - { service: orders, cidrs: [\"fd20:ce::/32\"] }
",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    for (url, status) in [
        ("http://alibaba.example/latest/meta-data/", 200),
        ("http://[::ffff:100.100.100.200]/", 200),
        ("http://aws6.example/latest/meta-data/", 200),
        ("http://alibaba.example:8080/", 403),
        ("http://gcp6.example/", 403),
    ] {
        let r = via(e, get(url)).await;
        assert_eq!(
            r.status,
            status,
            "{url}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Another service is not opened by a rule for orders.
    let req = Request::get("http://alibaba.example/")
        .header(
            "proxy-authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode("billing:billing-token-0123456789")
            ),
        )
        .body(Empty::new())
        .unwrap();
    assert_eq!(via(e, req).await.status, 403);
    let reached: u64 = fakes.iter().map(|f| f.requests()).sum();
    assert_eq!(reached, 3);
}

#[tokio::test]
async fn egress_requests_get_the_inbound_size_limits_and_the_listener_its_cap() {
    let up = TestUpstream::plain().await;
    let port = up.addr.port();
    let (px, e) = start(&format!(
        "limits: {{ max_uri_bytes: 1KiB, max_header_bytes: 4KiB, max_request_body: 1KiB }}
enclave:\n  rules: [ {{ service: orders, cidrs: [127.0.0.1/32], ports: [{port}] }} ]\n"
    ))
    .await;
    let target = format!("http://127.0.0.1:{port}");
    let long_uri = format!("/{}", "u".repeat(1100));
    let big_header = "h".repeat(4200);
    let big_body = "b".repeat(2000);
    let chunked = format!("{:x}\r\n{big_body}\r\n0\r\n\r\n", big_body.len());
    let cases = [
        (
            "a long URI",
            format!("GET {target}{long_uri} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
            414,
        ),
        (
            "large headers",
            format!("GET {target}/h HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big_header}\r\nConnection: close\r\n\r\n"),
            431,
        ),
        (
            "a declared body over the limit",
            format!("POST {target}/sink HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big_body}", big_body.len()),
            413,
        ),
        (
            "a chunked body that grows over the limit",
            format!("POST {target}/sink HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}"),
            413,
        ),
    ];
    for (what, raw, status) in cases {
        let out = sightline_tests::raw::exchange(e, raw.as_bytes(), PATIENCE).await;
        let statuses = sightline_tests::raw::statuses(&out);
        assert_eq!(
            statuses,
            [status],
            "{what}: {}",
            String::from_utf8_lossy(&out)
        );
    }
    // The declared-length refusal never reached the destination; within the limits it does.
    let ok = format!("POST {target}/sink HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
    let out = sightline_tests::raw::exchange(e, ok.as_bytes(), PATIENCE).await;
    assert_eq!(sightline_tests::raw::statuses(&out), [200]);
    let paths = up.paths();
    assert!(
        !paths.iter().any(|p| p.starts_with("/u") || p == "/h"),
        "{paths:?}"
    );
    px.calls_at_least(5).await;
    drop(px);

    // The connection cap: open connections past egress.max_connections are closed at once.
    let px = TestProxy::start(config(
        "egress:\n  listen: 127.0.0.1:0\n  max_connections: 2\n  sources: [ { cidr: 127.0.0.0/8, service: orders } ]\n",
    ))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(e).await.unwrap());
    }
    let mut extra = tokio::net::TcpStream::connect(e).await.unwrap();
    let out = sightline_tests::raw::read_until_closed(&mut extra, PATIENCE).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(
        px.metric("sightline_egress_connections_rejected_total")
            .await,
        1.0
    );
    drop(held);
}

/// Forwarded requests ride kept-alive connections, but only ones to the address and host their
/// own judgement just chose: another address or host gets its own connection, and a caller the
/// enclave refuses gets its 403 while a connection to that same destination sits idle.
#[tokio::test]
async fn kept_alive_forward_connections_serve_only_the_destination_just_judged() {
    use sightline_tests::raw::{next_head, CountingUpstream};
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    // One port on two loopback addresses, each counting its connections; requests counted.
    let requests = Arc::new(AtomicU64::new(0));
    let serve = |requests: Arc<AtomicU64>| {
        move |mut tcp: tokio::net::TcpStream, _: tokio::sync::watch::Receiver<u64>| {
            let requests = requests.clone();
            async move {
                let mut buf = Vec::new();
                while next_head(&mut tcp, &mut buf).await.is_some() {
                    requests.fetch_add(1, SeqCst);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if tcp.write_all(reply).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let one = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = one.local_addr().unwrap().port();
    let two = tokio::net::TcpListener::bind(("127.0.0.2", port))
        .await
        .unwrap();
    let one = CountingUpstream::on(one, serve(requests.clone()));
    let two = CountingUpstream::on(two, serve(requests.clone()));
    let (px, e) = start(
        "enclave:\n  networks: [127.0.0.0/8]\n  rules: [ { service: billing, cidrs: [127.0.0.1/32], action: deny } ]\n",
    )
    .await;
    let ok = |r: &Reply| {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(&r.body[..], b"ok");
    };
    let named = format!("http://api.internal:{port}/");
    ok(&via(e, get(&named)).await);
    ok(&via(e, get(&named)).await);
    assert_eq!((one.accepted(), requests.load(SeqCst)), (1, 2), "reused");
    ok(&via(e, get(&format!("http://127.0.0.2:{port}/"))).await);
    assert_eq!((one.accepted(), two.accepted()), (1, 1), "another address");
    ok(&via(e, get(&format!("http://127.0.0.1:{port}/"))).await);
    assert_eq!(one.accepted(), 2, "another host at the same address");
    // The kept connection to api.internal is idle; billing may not go there.
    let auth = base64::engine::general_purpose::STANDARD.encode("billing:billing-token-0123456789");
    let refused = Request::get(&named)
        .header("proxy-authorization", format!("Basic {auth}"))
        .body(Empty::new())
        .unwrap();
    assert_eq!(via(e, refused).await.status, 403);
    ok(&via(e, get(&named)).await);
    assert_eq!(requests.load(SeqCst), 5, "the refused call reached nothing");
    assert_eq!((one.accepted(), two.accepted()), (2, 1));
    // Every call recorded once.
    let calls = px.calls_at_least(6).await;
    assert_eq!(calls.len(), 6, "{calls:?}");
    let blocked: Vec<_> = calls
        .iter()
        .filter(|c| c["decision"] == "blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{calls:?}");
    assert_eq!(blocked[0]["source"], "billing");
}

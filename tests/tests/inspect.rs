//! TLS inspection of listed egress destinations, through the real egress listener with curl as
//! the client and real loopback TLS destinations: per-request records over HTTP/1.1 and HTTP/2,
//! request rules inside the tunnel, destination verification, clients that do not trust the CA.

use sightline_certs::DevMaterial;
use sightline_tests::eventually::eventually;
use sightline_tests::proxy::config;
use sightline_tests::{TestProxy, TestUpstream, UpstreamKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

struct Setup {
    px: TestProxy,
    egress: SocketAddr,
    /// The inspection CA clients trust.
    ca: PathBuf,
    partner: TestUpstream,
    bad: TestUpstream,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

async fn setup(tag: &str) -> Setup {
    setup_with(tag, "").await
}

/// [`setup`] with more top-level config (`extra`, YAML).
async fn setup_with(tag: &str, extra: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("sightline-inspect-{tag}-{}", std::process::id()));
    // Sightline's inspection CA, the destinations' CA, and an unrelated CA for `bad.test`.
    let sl = DevMaterial::write(&dir.join("sl"), &["unused.test"]).unwrap();
    let dest = DevMaterial::write(&dir.join("dest"), &["partner.test"]).unwrap();
    let other = DevMaterial::write(&dir.join("other"), &["bad.test"]).unwrap();
    let partner = TestUpstream::start(UpstreamKind::Tls {
        cert: dest.server_cert.clone(),
        key: dest.server_key.clone(),
    })
    .await;
    let bad = TestUpstream::start(UpstreamKind::Tls {
        cert: other.server_cert.clone(),
        key: other.server_key.clone(),
    })
    .await;
    let cfg = config(&format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: app }} ]
  inspect:
    ca: {{ cert: \"{ca}\", key: \"{key}\" }}
    hosts: [partner.test, \"*.bad.test\", bad.test]
    upstream_ca: \"{dest_ca}\"
dns:
  hosts: {{ partner.test: [127.0.0.1], bad.test: [127.0.0.1] }}
enclave:
  rules:
    - {{ service: app, cidrs: [127.0.0.1/32], paths: [/admin], action: deny }}
    - {{ service: app, methods: [DELETE], action: deny }}
    - {{ service: app, cidrs: [127.0.0.1/32], ports: [{p}, {b}] }}
{extra}",
        ca = sl.ca.display(),
        key = dir.join("sl/ca-key.pem").display(),
        dest_ca = dest.ca.display(),
        p = partner.addr.port(),
        b = bad.addr.port(),
    ));
    let px = TestProxy::start(cfg).await;
    let egress = px.sightline.egress_addr().unwrap();
    Setup {
        px,
        egress,
        ca: sl.ca,
        partner,
        bad,
        _dir: TempDir(dir),
    }
}

/// Runs curl through the egress proxy; returns stdout (one line per URL from `-w`).
async fn curl(egress: SocketAddr, ca: Option<&Path>, args: &[&str], urls: &[String]) -> String {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "20"])
        .args(["-x", &format!("http://{egress}")])
        .args(["-w", "%{http_code} %{http_version} %{num_connects}\\n"])
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY");
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.args(args);
    for url in urls {
        cmd.args(["-o", "/dev/null", url]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for the egress record of `method path` and returns it.
async fn record(px: &TestProxy, method: &str, path: &str) -> serde_json::Value {
    eventually(&format!("an egress record for {method} {path}"), || async {
        let page = px
            .admin_json("/api/calls?direction=egress&limit=1000")
            .await;
        page["calls"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["method"] == method && c["path"] == path)
                .cloned()
        })
    })
    .await
}

#[tokio::test]
async fn inspected_requests_over_http1_and_http2_are_recorded_one_by_one() {
    let s = setup("records").await;
    let port = s.partner.addr.port();
    for (flag, version, tag) in [("--http1.1", "1.1", "h1"), ("--http2", "2", "h2")] {
        let urls = vec![
            format!("https://partner.test:{port}/v1/orders/{tag}"),
            format!("https://partner.test:{port}/v1/items/{tag}?q=1"),
        ];
        let out = curl(s.egress, Some(&s.ca), &[flag], &urls).await;
        // Both requests answered over the protocol asked for, the second on the same tunnel.
        assert_eq!(out, format!("200 {version} 1\n200 {version} 0\n"), "{flag}");
        for path in [format!("/v1/orders/{tag}"), format!("/v1/items/{tag}")] {
            let call = record(&s.px, "GET", &path).await;
            assert_eq!(call["protocol"], "inspected", "{call}");
            assert_eq!(call["status"], 200, "{call}");
            assert_eq!(call["decision"], "allowed", "{call}");
            assert_eq!(call["source"], "app", "{call}");
            assert_eq!(call["host"], "partner.test", "{call}");
            assert_eq!(call["sni"], "partner.test", "{call}");
            assert!(call["bytes_out"].as_u64().unwrap() > 20, "{call}");
            assert!(call["duration_ms"].as_f64().is_some(), "{call}");
        }
    }
    // The destination saw the requests, and HTTP/2 end to end (ALPN passed through).
    let paths = s.partner.paths();
    assert!(paths.contains(&"/v1/orders/h1".to_owned()), "{paths:?}");
    assert!(paths.contains(&"/v1/items/h2?q=1".to_owned()), "{paths:?}");
    // A tunnel is recorded when it closes, after curl has its answers: wait for both.
    let tunnels = eventually("a record for each of the two tunnels", || async {
        let page =
            s.px.admin_json("/api/calls?direction=egress&limit=1000")
                .await;
        let connects = page["calls"]
            .as_array()
            .map_or(0, |c| c.iter().filter(|c| c["method"] == "CONNECT").count());
        (connects >= 2).then_some(page)
    })
    .await;
    let connects = tunnels["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["method"] == "CONNECT")
        .count();
    assert_eq!(connects, 2, "one record per tunnel: {tunnels}");
}

#[tokio::test]
async fn http2_reaches_the_destination_as_http2() {
    let s = setup("h2").await;
    let port = s.partner.addr.port();
    let url = format!("https://partner.test:{port}/echo/version");
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "--http2"])
        .args(["-x", &format!("http://{}", s.egress)])
        .arg("--cacert")
        .arg(&s.ca)
        .arg(&url);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["version"], "HTTP/2.0", "{body}");
}

#[tokio::test]
async fn request_rules_deny_inside_the_tunnel_and_the_connection_stays_usable() {
    let s = setup("rules").await;
    let port = s.partner.addr.port();
    for flag in ["--http1.1", "--http2"] {
        let urls = vec![
            format!("https://partner.test:{port}/admin/users"),
            format!("https://partner.test:{port}/%61dmin/keys"),
            format!("https://partner.test:{port}/v1/after-deny"),
        ];
        let out = curl(s.egress, Some(&s.ca), &[flag], &urls).await;
        let codes: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(codes, ["403", "403", "200"], "{flag}: {out}");
        assert!(out.lines().nth(2).unwrap().ends_with(" 0"), "reused: {out}");
    }
    let call = record(&s.px, "GET", "/admin/users").await;
    assert_eq!(call["decision"], "blocked", "{call}");
    assert_eq!(call["error"], "egress_blocked", "{call}");
    assert_eq!(call["status"], 403, "{call}");
    assert_eq!(call["protocol"], "inspected", "{call}");
    // Methods too: DELETE is refused anywhere for this service.
    let out = curl(
        s.egress,
        Some(&s.ca),
        &["-X", "DELETE"],
        &[format!("https://partner.test:{port}/v1/orders/1")],
    )
    .await;
    assert!(out.starts_with("403 "), "{out}");
    assert_eq!(
        record(&s.px, "DELETE", "/v1/orders/1").await["decision"],
        "blocked"
    );
    let paths = s.partner.paths();
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("admin") || p.contains("dmin")),
        "{paths:?}"
    );
    assert!(!paths.contains(&"/v1/orders/1".to_owned()), "{paths:?}");
}

#[tokio::test]
async fn path_rules_apply_to_plain_http_egress_but_not_to_connect() {
    let up = TestUpstream::plain().await;
    let port = up.addr.port();
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.0/8, service: app }} ]
dns:
  hosts: {{ partner.test: [127.0.0.1] }}
enclave:
  rules:
    - {{ service: app, paths: [/admin], action: deny }}
    - {{ service: app, cidrs: [127.0.0.1/32], ports: [{port}] }}
"
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let out = curl(
        e,
        None,
        &[],
        &[
            format!("http://partner.test:{port}/admin/x"),
            format!("http://partner.test:{port}/ok"),
        ],
    )
    .await;
    let codes: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(codes, ["403", "200"], "{out}");
    assert_eq!(record(&px, "GET", "/admin/x").await["decision"], "blocked");
    assert_eq!(up.paths(), ["/ok"]);
    // A CONNECT to the same destination is judged without the request rule: the tunnel opens
    // (then carries plain bytes, which curl's --proxytunnel shows as a normal exchange).
    let out = curl(
        e,
        None,
        &["--proxytunnel"],
        &[format!("http://partner.test:{port}/admin/through-tunnel")],
    )
    .await;
    assert!(out.starts_with("200 "), "{out}");
}

#[tokio::test]
async fn a_destination_that_fails_verification_gets_502_and_a_record() {
    let s = setup("verify").await;
    let url = format!("https://bad.test:{}/x", s.bad.addr.port());
    let out = curl(s.egress, Some(&s.ca), &[], &[url]).await;
    assert!(out.starts_with("502 "), "{out}");
    let call = record(&s.px, "GET", "/x").await;
    assert_eq!(call["error"], "upstream_tls", "{call}");
    assert_eq!(call["status"], 502, "{call}");
    assert_eq!(call["protocol"], "inspected", "{call}");
    assert_eq!(
        s.bad.requests(),
        0,
        "nothing was sent to an unverified destination"
    );
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_recorded() {
    let s = setup("distrust").await;
    let url = format!("https://partner.test:{}/never", s.partner.addr.port());
    // curl with only the system's roots: the inspection leaf does not verify.
    let out = curl(s.egress, None, &[], &[url]).await;
    assert!(out.starts_with("000 "), "{out}");
    let call = eventually(
        "the CONNECT record with the client's TLS failure",
        || async {
            let page =
                s.px.admin_json("/api/calls?direction=egress&limit=1000")
                    .await;
            page["calls"].as_array().and_then(|c| {
                c.iter()
                    .find(|c| c["method"] == "CONNECT" && c["error"] == "client_tls")
                    .cloned()
            })
        },
    )
    .await;
    assert!(
        call["reason"].as_str().unwrap().contains("inspection CA"),
        "{call}"
    );
    assert_eq!(s.partner.requests(), 0);
}

#[tokio::test]
async fn an_inspection_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("sightline-inspect-perm-{}", std::process::id()));
    let sl = DevMaterial::write(&dir, &["unused.test"]).unwrap();
    let key = dir.join("ca-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let cfg = config(&format!(
        "egress:\n  listen: 127.0.0.1:0\n  inspect:\n    ca: {{ cert: \"{}\", key: \"{}\" }}\n    hosts: [partner.test]\n",
        sl.ca.display(),
        key.display()
    ));
    let Err(err) = sightline::Sightline::start(cfg, None).await else {
        panic!("a CA key readable by its group was accepted");
    };
    let err = err.to_string();
    assert!(
        err.contains("egress.inspect") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn python_urllib_trusting_the_ca_gets_its_request_recorded() {
    let s = setup("urllib").await;
    let url = format!("https://partner.test:{}/v1/py/7", s.partner.addr.port());
    let script = "import ssl, sys, urllib.request\n\
        ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
        proxy = urllib.request.ProxyHandler({'https': sys.argv[3]})\n\
        opener = urllib.request.build_opener(proxy, urllib.request.HTTPSHandler(context=ctx))\n\
        r = opener.open(urllib.request.Request(sys.argv[1], data=b'x' * 100, method='POST'), timeout=20)\n\
        print(r.status)\n";
    let mut cmd = std::process::Command::new("python3");
    cmd.args(["-c", script, &url])
        .arg(&s.ca)
        .arg(format!("http://{}", s.egress));
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let call = record(&s.px, "POST", "/v1/py/7").await;
    assert_eq!(call["protocol"], "inspected", "{call}");
    assert_eq!(call["status"], 200, "{call}");
    assert_eq!(call["bytes_in"], 100, "{call}");
}

#[tokio::test]
async fn an_idle_inspected_connection_is_closed_after_the_egress_idle_timeout() {
    use http_body_util::Empty;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("sightline-inspect-idle-{}", std::process::id()));
    let sl = DevMaterial::write(&dir.join("sl"), &["unused.test"]).unwrap();
    let dest = DevMaterial::write(&dir.join("dest"), &["partner.test"]).unwrap();
    let partner = TestUpstream::start(UpstreamKind::Tls {
        cert: dest.server_cert.clone(),
        key: dest.server_key.clone(),
    })
    .await;
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  idle_timeout: 300ms
  inspect:
    ca: {{ cert: \"{}\", key: \"{}\" }}
    hosts: [partner.test]
    upstream_ca: \"{}\"
dns:
  hosts: {{ partner.test: [127.0.0.1] }}
enclave:
  rules: [ {{ cidrs: [127.0.0.1/32], ports: [{}] }} ]
",
        sl.ca.display(),
        dir.join("sl/ca-key.pem").display(),
        dest.ca.display(),
        partner.addr.port()
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let req = http::Request::connect(format!("partner.test:{}", partner.addr.port()))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let upgraded = hyper::upgrade::on(&mut resp).await.unwrap();
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(sightline_certs::load_certs(&sl.ca).unwrap().remove(0))
        .unwrap();
    let cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("partner.test").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, TokioIo::new(upgraded))
        .await
        .unwrap();
    tls.write_all(b"GET /echo HTTP/1.1\r\nHost: partner.test\r\n\r\n")
        .await
        .unwrap();
    // Read the answer, then nothing more is sent: the proxy must close the connection.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle inspected connection stayed open");
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn http2_clients_of_the_egress_listener_are_recorded_as_h2() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "egress:\n  listen: 127.0.0.1:0\nenclave:\n  rules: [ {{ cidrs: [127.0.0.1/32], ports: [{}] }} ]\n",
        up.addr.port()
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let tcp = tokio::net::TcpStream::connect(e).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/over-h2", up.addr))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.unwrap();
    let call = record(&px, "GET", "/over-h2").await;
    assert_eq!(call["protocol"], "h2", "{call}");
}

#[tokio::test]
async fn a_destination_closing_its_connection_does_not_end_the_tunnel() {
    let s = setup("redial").await;
    let port = s.partner.addr.port();
    let urls = vec![
        format!("https://partner.test:{port}/close"),
        format!("https://partner.test:{port}/v1/after-close"),
    ];
    let out = curl(s.egress, Some(&s.ca), &["--http1.1"], &urls).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("502 "), "{out}");
    // Same tunnel (no new connection by curl); Sightline dialed the destination again.
    assert_eq!(lines[1], "200 1.1 0", "{out}");
    assert_eq!(record(&s.px, "GET", "/v1/after-close").await["status"], 200);
}

#[tokio::test]
async fn requests_inside_the_tunnel_get_the_inbound_size_limits() {
    let s = setup_with(
        "limits",
        "limits: { max_uri_bytes: 1KiB, max_header_bytes: 4KiB, max_request_body: 1KiB }\n",
    )
    .await;
    let port = s.partner.addr.port();
    let base = format!("https://partner.test:{port}");
    let body = "b".repeat(2000);
    let big_header = format!("X-Big: {}", "h".repeat(4200));
    for flag in ["--http1.1", "--http2"] {
        let long = format!("{base}/{}", "u".repeat(1100));
        let out = curl(s.egress, Some(&s.ca), &[flag], &[long]).await;
        assert!(out.starts_with("414 "), "{flag} long URI: {out}");
        let out = curl(
            s.egress,
            Some(&s.ca),
            &[flag, "-H", &big_header],
            &[format!("{base}/v1/big-header")],
        )
        .await;
        assert!(out.starts_with("431 "), "{flag} large headers: {out}");
        if flag == "--http1.1" {
            let out = curl(
                s.egress,
                Some(&s.ca),
                &[flag, "--data-binary", &body],
                &[format!("{base}/sink")],
            )
            .await;
            assert!(out.starts_with("413 "), "{flag} body over the limit: {out}");
        } else {
            // An HTTP/2 answer that comes before the request's body is read ends the stream
            // with RST_STREAM(NO_ERROR) after the answer (RFC 9113 §8.1); curl 7.88 can report
            // that as a stream error without the answer when it is still sending, so this
            // client is hyper's.
            let status = h2_post(&s, &format!("partner.test:{port}"), body.clone()).await;
            assert_eq!(status, 413, "{flag} body over the limit");
        }
        let out = curl(
            s.egress,
            Some(&s.ca),
            &[flag, "--data-binary", "small"],
            &[format!("{base}/sink")],
        )
        .await;
        assert!(
            out.starts_with("200 "),
            "{flag} body within the limit: {out}"
        );
    }
    let paths = s.partner.paths();
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("/u") || p == "/v1/big-header"),
        "{paths:?}"
    );
    let call = record(&s.px, "POST", "/sink").await;
    assert_eq!(call["protocol"], "inspected", "{call}");
}

/// POSTs `body` to `/sink` over HTTP/2 inside an inspected tunnel to `target`: the answer's
/// status.
async fn h2_post(s: &Setup, target: &str, body: String) -> u16 {
    use http_body_util::{BodyExt, Full};
    let tls = inspected_tls(s.egress, target, "partner.test", &s.ca, b"h2").await;
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(format!("https://{target}/sink"))
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    status
}

/// CONNECT through `egress` to `target`, then TLS to `name` trusting `ca`, offering `alpn`.
async fn inspected_tls(
    egress: SocketAddr,
    target: &str,
    name: &str,
    ca: &Path,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(egress).await.unwrap();
    let connect = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    tcp.write_all(connect.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(
            tcp.read(&mut b).await.unwrap(),
            1,
            "the CONNECT answer ended early"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
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
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let server_name =
        tokio_rustls::rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(server_name, tcp)
        .await
        .unwrap()
}

/// CONNECT through `egress` to `target`, then TLS to `name` trusting `ca` over HTTP/1.1: the
/// request sender of the inspected tunnel (its connection task runs until the tunnel ends, and
/// is returned).
async fn inspected_h1(
    egress: SocketAddr,
    target: &str,
    name: &str,
    ca: &Path,
) -> (
    hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let tls = inspected_tls(egress, target, name, ca, b"http/1.1").await;
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    (send, tokio::spawn(conn))
}

#[tokio::test]
async fn inspected_records_carry_their_route_and_a_drain_ends_open_tunnels_in_time() {
    use http_body_util::BodyExt;
    let s = setup_with(
        "drain",
        "limits: { drain_timeout: 10s, drain_idle_grace: 200ms, accept_grace: 10ms }\n",
    )
    .await;
    let port = s.partner.addr.port();
    let target = format!("partner.test:{port}");
    let (mut send, conn) = inspected_h1(s.egress, &target, "partner.test", &s.ca).await;
    for id in ["12345", "67890"] {
        let req = http::Request::get(format!("/v1/orders/{id}"))
            .header("host", &target)
            .body(http_body_util::Empty::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
    }
    let call = record(&s.px, "GET", "/v1/orders/67890").await;
    assert_eq!(call["route"], "/v1/orders/{int}", "{call}");

    // The tunnel is open and idle; the drain closes it, and Sightline stops in time.
    let Setup { px, .. } = s;
    assert!(
        px.sightline.shutdown().await,
        "a connection outlived the drain"
    );
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), conn).await;
    assert!(
        ended.is_ok(),
        "the inspected tunnel is still open after the drain"
    );
}

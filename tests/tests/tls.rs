//! TLS termination (HTTP/1.1 and HTTP/2 over ALPN), client-certificate identity, and TLS to
//! upstreams with a configured CA.

use sightline_certs::DevMaterial;
use sightline_tests::proxy::config;
use sightline_tests::{Client, TestProxy, TestUpstream, UpstreamKind};
use std::path::PathBuf;

fn material(tag: &str) -> (PathBuf, DevMaterial) {
    let dir = std::env::temp_dir().join(format!("sightline-tls-{tag}-{}", std::process::id()));
    let m = DevMaterial::write(&dir, &["localhost", "127.0.0.1"]).unwrap();
    (dir, m)
}

fn tls_config(up: std::net::SocketAddr, m: &DevMaterial, client_auth: &str) -> sightline::Config {
    config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  tls: {{ cert: \"{}\", key: \"{}\", client_ca: \"{}\", client_auth: {client_auth} }}
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{up}\"] }}
",
        m.server_cert.display(),
        m.server_key.display(),
        m.ca.display()
    ))
}

#[tokio::test]
async fn terminates_tls_for_h1_and_h2_and_names_the_client() {
    let (dir, m) = material("term");
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(tls_config(up.addr, &m, "optional")).await;

    let r = Client::tls(&m.ca, false, None)
        .get(px.inbound, "/echo")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_11);
    assert_eq!(r.json()["headers"]["x-forwarded-proto"], "https");
    let anon = px.call(r.header("x-request-id")).await;
    assert_eq!(anon["tls"], true);
    assert_eq!(anon["source"], "127.0.0.1");

    let with_cert = Client::tls(&m.ca, true, Some((&m.client_cert, &m.client_key)));
    let req = http::Request::get("https://localhost/echo")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let r = with_cert.send(px.inbound, req).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.version, http::Version::HTTP_2);
    let call = px.call(r.header("x-request-id")).await;
    assert_eq!(call["source"], "spiffe://sightline.local/dev-client");
    assert_eq!(call["protocol"], "h2");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn required_client_auth_refuses_callers_without_a_certificate() {
    let (dir, m) = material("req");
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(tls_config(up.addr, &m, "required")).await;
    let err = Client::tls(&m.ca, false, None)
        .send(
            px.inbound,
            sightline_tests::client::get(px.inbound, "/echo"),
        )
        .await;
    assert!(err.is_err(), "a caller without a certificate was served");
    assert_eq!(up.requests(), 0);
    let ok = Client::tls(&m.ca, false, Some((&m.client_cert, &m.client_key)))
        .get(px.inbound, "/echo")
        .await;
    assert_eq!(ok.status, 200);
    sightline_tests::eventually("the failed handshake to be counted", || async {
        (px.metric("sightline_tls_handshake_failures_total").await >= 1.0).then_some(())
    })
    .await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn upstream_tls_verifies_the_configured_ca_and_name() {
    let (dir, m) = material("up");
    let up = TestUpstream::start(UpstreamKind::Tls {
        cert: m.server_cert.clone(),
        key: m.server_key.clone(),
    })
    .await;
    let good = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{}\"], tls: {{ ca: \"{}\", server_name: localhost }} }}\n",
        up.addr,
        m.ca.display()
    )))
    .await;
    let r = Client::http1().get(good.inbound, "/echo").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Another CA: the upstream's certificate must not verify.
    let (dir2, other) = material("other");
    let bad = TestProxy::start(config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: s }} ]\nservices:\n  s: {{ upstreams: [\"{}\"], tls: {{ ca: \"{}\", server_name: localhost }} }}\n",
        up.addr,
        other.ca.display()
    )))
    .await;
    let r = Client::http1().get(bad.inbound, "/echo").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("sightline-error"), "upstream_connect_failed");
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(dir2).ok();
}

#[tokio::test]
async fn missing_tls_files_fail_the_build_with_the_key_named() {
    let text = "version: 1
inbound:
  listen: 127.0.0.1:0
  tls: { cert: /nonexistent/server.pem, key: /nonexistent/key.pem }
";
    let c = sightline::Config::parse(text, "t.yaml", std::path::Path::new("/")).unwrap();
    let err = sightline::Sightline::start(c, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.yaml:4"), "{err}");
    assert!(err.contains("inbound.tls"), "{err}");
    assert!(err.contains("/nonexistent/server.pem"), "{err}");
}

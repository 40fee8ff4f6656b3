//! PROXY protocol on the inbound listener: accepted only from `inbound.proxy_protocol.from`,
//! where it is required, and the client it names is the one records and lists see.

use sightline_tests::eventually::eventually;
use sightline_tests::proxy::config;
use sightline_tests::raw::read_until_closed;
use sightline_tests::{TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A connection from `from` to `to`; writes `bytes`, returns everything answered.
async fn send_from(from: &str, to: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    let mut s = socket.connect(to).await.unwrap();
    let _ = s.write_all(bytes).await;
    read_until_closed(&mut s, Duration::from_secs(10)).await
}

fn v2_header(client: [u8; 4], port: u16) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    out.extend([0x21, 0x11, 0, 12]);
    out.extend(client);
    out.extend([127, 0, 0, 1]);
    out.extend(port.to_be_bytes());
    out.extend(443u16.to_be_bytes());
    out
}

async fn inbound_sources(px: &TestProxy) -> Vec<String> {
    let page = px
        .admin_json("/api/calls?direction=inbound&limit=1000")
        .await;
    page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {}", c["source_addr"], c["path"]))
        .collect()
}

#[tokio::test]
async fn the_client_named_by_a_trusted_balancer_is_recorded_and_listed() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-pp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let deny = dir.join("deny.txt");
    std::fs::write(&deny, "192.0.2.66\n").unwrap();
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  proxy_protocol: {{ from: [127.0.0.2/32] }}
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
clients:
  deny_lists: [\"{}\"]
",
        up.addr,
        deny.display()
    )))
    .await;
    let req = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");

    // v1 and v2 from the balancer: the named client is the record's source.
    let mut v1 = b"PROXY TCP4 198.51.100.77 127.0.0.1 40000 19885\r\n".to_vec();
    v1.extend(req("/pp-v1").as_bytes());
    let out = send_from("127.0.0.2", px.inbound, &v1).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let mut v2 = v2_header([203, 0, 113, 9], 5555);
    v2.extend(req("/pp-v2").as_bytes());
    let out = send_from("127.0.0.2", px.inbound, &v2).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let sources = eventually("both records", || async {
        let s = inbound_sources(&px).await;
        (s.len() >= 2).then_some(s)
    })
    .await;
    assert!(
        sources.contains(&"\"198.51.100.77:40000\" \"/pp-v1\"".to_owned()),
        "{sources:?}"
    );
    assert!(
        sources.contains(&"\"203.0.113.9:5555\" \"/pp-v2\"".to_owned()),
        "{sources:?}"
    );

    // The deny list judges the named client, not the balancer.
    let mut denied = b"PROXY TCP4 192.0.2.66 127.0.0.1 1234 19885\r\n".to_vec();
    denied.extend(req("/denied").as_bytes());
    let out = send_from("127.0.0.2", px.inbound, &denied).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    // From the balancer's network, anything but a header is refused.
    let out = send_from("127.0.0.2", px.inbound, req("/no-header").as_bytes()).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    // From anywhere else a header is not believed: it is not HTTP, so 400, and no record names
    // the address it claims.
    let mut spoof = b"PROXY TCP4 198.51.100.99 127.0.0.1 40000 19885\r\n".to_vec();
    spoof.extend(req("/spoof").as_bytes());
    let out = send_from("127.0.0.1", px.inbound, &spoof).await;
    assert!(
        out.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // A last good request, so the refused ones have had their chance to be recorded.
    let mut last = b"PROXY TCP4 198.51.100.78 127.0.0.1 40001 19885\r\n".to_vec();
    last.extend(req("/last").as_bytes());
    let out = send_from("127.0.0.2", px.inbound, &last).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let sources = eventually("the last record", || async {
        let s = inbound_sources(&px).await;
        s.iter().any(|s| s.contains("/last")).then_some(s)
    })
    .await;
    for s in &sources {
        assert!(
            !s.contains("198.51.100.99") && !s.contains("192.0.2.66"),
            "{sources:?}"
        );
        assert!(
            !s.contains("/no-header") && !s.contains("/denied"),
            "{sources:?}"
        );
    }
    assert_eq!(
        up.requests(),
        3,
        "only the three admitted requests reached the upstream"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn on_egress_the_named_caller_is_the_source_service() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  proxy_protocol: {{ from: [127.0.0.2/32] }}
  sources:
    - {{ cidr: 198.51.100.0/24, service: billing }}
    - {{ cidr: 127.0.0.0/8, service: balancer }}
enclave:
  rules: [ {{ cidrs: [127.0.0.1/32], ports: [{}] }} ]
",
        up.addr.port()
    )))
    .await;
    let e = px.sightline.egress_addr().unwrap();
    let req = |path: &str| {
        format!(
            "GET http://{}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            up.addr, up.addr
        )
    };
    let mut bytes = b"PROXY TCP4 198.51.100.5 127.0.0.1 40000 3128\r\n".to_vec();
    bytes.extend(req("/named").as_bytes());
    let out = send_from("127.0.0.2", e, &bytes).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let out = send_from("127.0.0.2", e, req("/bare").as_bytes()).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let call = eventually("the egress record", || async {
        let page = px.admin_json("/api/calls?direction=egress&limit=100").await;
        page["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["path"] == "/named").cloned())
    })
    .await;
    assert_eq!(call["source"], "billing", "{call}");
    assert_eq!(call["source_addr"], "198.51.100.5:40000", "{call}");
    assert_eq!(up.paths(), ["/named"]);
}

/// haproxy (Debian's) in TCP mode on `listen`, sending a PROXY v2 header to each server from the
/// source address given with it. Stopped on drop.
struct Haproxy {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Haproxy {
    /// One frontend per `(listen, source, server)`: connections to `listen` go to `server`,
    /// dialed from `source`, with `send-proxy-v2`.
    fn start(frontends: &[(SocketAddr, &str, SocketAddr)]) -> Haproxy {
        let dir = std::env::temp_dir().join(format!(
            "sightline-haproxy-{}-{}",
            std::process::id(),
            frontends[0].0.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = String::from(
            "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n",
        );
        for (i, (listen, source, server)) in frontends.iter().enumerate() {
            cfg.push_str(&format!(
                "listen fe{i}\n  bind {listen}\n  server s{i} {server} send-proxy-v2 source {source}\n"
            ));
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, cfg).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start haproxy ({e}); install it (scripts/test.sh)"));
        let mut h = Haproxy { child, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        for (listen, _, _) in frontends {
            while std::net::TcpStream::connect_timeout(listen, Duration::from_millis(100)).is_err()
            {
                if let Ok(Some(status)) = h.child.try_wait() {
                    panic!("haproxy exited: {status}");
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "haproxy is not listening on {listen}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        h
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], sightline_tests::receivers::free_port()))
}

#[tokio::test]
async fn haproxy_sending_v2_gives_the_real_client_and_an_untrusted_one_is_refused() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  proxy_protocol: {{ from: [127.0.0.2/32] }}
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
",
        up.addr
    )))
    .await;
    // The trusted balancer dials from 127.0.0.2; a second one, from 127.0.0.3, is not trusted.
    let (trusted, untrusted) = (free_addr(), free_addr());
    let _haproxy = Haproxy::start(&[
        (trusted, "127.0.0.2", px.inbound),
        (untrusted, "127.0.0.3", px.inbound),
    ]);
    let req = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");

    let out = send_from("127.0.0.9", trusted, req("/via-haproxy").as_bytes()).await;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let sources = eventually("the record of the request through haproxy", || async {
        let s = inbound_sources(&px).await;
        s.into_iter().find(|s| s.contains("/via-haproxy"))
    })
    .await;
    assert!(
        sources.starts_with("\"127.0.0.9:"),
        "the record names the client haproxy saw: {sources}"
    );

    // Through the untrusted balancer the header is not believed: the request never reaches
    // the service.
    let out = send_from("127.0.0.9", untrusted, req("/untrusted").as_bytes()).await;
    assert!(
        !out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(
        up.requests(),
        1,
        "only the trusted path reached the upstream"
    );
    let sources = inbound_sources(&px).await;
    assert!(
        !sources
            .iter()
            .any(|s| s.contains("127.0.0.9") && s.contains("/untrusted")),
        "{sources:?}"
    );
}

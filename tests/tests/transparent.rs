//! Transparent egress: in a network namespace the test creates, an nftables `redirect` sends a
//! client's connections to ports 80 and 443 to Sightline's transparent listener. The client
//! (curl) knows nothing of the proxy: it dials the destination's address, and Sightline judges
//! the connection on that original destination, records it, and inspects listed hosts.
//!
//! The redirect matches the client's own source address (curl binds it with `--interface`), so
//! Sightline's connections to the same destinations are not redirected back to it.

use sightline_certs::DevMaterial;
use sightline_tests::eventually::eventually;
use sightline_tests::proxy::config;
use sightline_tests::{TestProxy, TestUpstream, UpstreamKind};
use std::net::{IpAddr, SocketAddr};
use std::process::Command;

/// The destination Sightline lets the client reach (IPv4, IPv6).
const DEST4: &str = "10.77.0.2";
const DEST6: &str = "fd77::2";
/// A destination nothing allows.
const BLOCKED4: &str = "10.77.0.3";
/// The client's own addresses: the redirect matches them.
const CLIENT4: &str = "10.77.0.5";
const CLIENT6: &str = "fd77::5";

/// Installs the redirect of the client's connections to ports 80 and 443 to `port`. `None`
/// when the kernel has no nf_tables (the reason is printed); a missing `nft` fails the test.
fn redirect(port: u16) -> Option<()> {
    let rules = format!(
        "table inet sightline_test {{
  chain out {{
    type nat hook output priority -100;
    ip saddr {CLIENT4} tcp dport {{ 80, 443 }} redirect to :{port}
    ip6 saddr {CLIENT6} tcp dport {{ 80, 443 }} redirect to :{port}
  }}
}}
"
    );
    let file =
        std::env::temp_dir().join(format!("sightline-transparent-{}.nft", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    let out = Command::new("nft")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nft ({e}); install nftables (scripts/test.sh)"));
    std::fs::remove_file(&file).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("Protocol not supported") {
        println!("transparent egress not tested: this kernel has no nf_tables ({stderr})");
        return None;
    }
    assert!(out.status.success(), "nft -f: {stderr}");
    Some(())
}

/// Runs curl from the client's address `from`; returns `-w` output (status, then exit code).
async fn curl(from: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "15", "--interface", from])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        // Nothing tells curl about a proxy: it dials the destination itself.
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    format!(
        "{} exit={}",
        String::from_utf8_lossy(&out.stdout),
        out.status.code().unwrap_or(-1)
    )
}

/// Waits for the egress record that `pick` selects.
async fn record(
    px: &TestProxy,
    what: &str,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    eventually(what, || async {
        let page = px
            .admin_json("/api/calls?direction=egress&limit=1000")
            .await;
        page["calls"]
            .as_array()
            .and_then(|c| c.iter().find(|c| pick(c)).cloned())
    })
    .await
}

#[tokio::test]
async fn redirected_connections_are_judged_on_their_original_destination_and_recorded() {
    if !sightline_tests::netns::isolated(
        "redirected_connections_are_judged_on_their_original_destination_and_recorded",
    ) {
        return;
    }
    for ip in [DEST4, DEST6, BLOCKED4, CLIENT4, CLIENT6] {
        sightline_tests::netns::add_address(ip.parse().unwrap());
    }
    let dir = std::env::temp_dir().join(format!("sightline-transparent-{}", std::process::id()));
    let sl = DevMaterial::write(&dir.join("sl"), &["unused.test"]).unwrap();
    let dest = DevMaterial::write(&dir.join("dest"), &["partner.test", "plain.test"]).unwrap();
    let dest4: IpAddr = DEST4.parse().unwrap();
    let tls_kind = UpstreamKind::Tls {
        cert: dest.server_cert.clone(),
        key: dest.server_key.clone(),
    };
    let web4 = TestUpstream::start_on(UpstreamKind::Plain, SocketAddr::new(dest4, 80)).await;
    let web6 = TestUpstream::start_on(
        UpstreamKind::Plain,
        SocketAddr::new(DEST6.parse().unwrap(), 80),
    )
    .await;
    let tls4 = TestUpstream::start_on(tls_kind, SocketAddr::new(dest4, 443)).await;
    let blocked = TestUpstream::start_on(
        UpstreamKind::Plain,
        SocketAddr::new(BLOCKED4.parse().unwrap(), 80),
    )
    .await;
    let px = TestProxy::start(config(&format!(
        "egress:
  listen: 127.0.0.1:0
  transparent: {{ listen: \"[::]:0\" }}
  sources:
    - {{ cidr: {CLIENT4}/32, service: app }}
    - {{ cidr: \"{CLIENT6}/128\", service: app }}
  inspect:
    ca: {{ cert: \"{ca}\", key: \"{key}\" }}
    hosts: [partner.test]
    upstream_ca: \"{dest_ca}\"
dns:
  hosts: {{ partner.test: [{DEST4}], plain.test: [{DEST4}], liar.test: [{BLOCKED4}] }}
enclave:
  rules:
    - {{ service: app, methods: [DELETE], action: deny }}
    - {{ service: app, cidrs: [{DEST4}/32, \"{DEST6}/128\"], ports: [80, 443] }}
",
        ca = sl.ca.display(),
        key = dir.join("sl/ca-key.pem").display(),
        dest_ca = dest.ca.display(),
    )))
    .await;
    let port = px.sightline.transparent_addr().unwrap().port();
    if redirect(port).is_none() {
        return;
    }
    let transparent = |c: &serde_json::Value| c["protocol"] == "transparent";

    // Plain HTTP to an allowed address, over IPv4 and IPv6: reached, recorded.
    for (from, url, up) in [
        (CLIENT4, format!("http://{DEST4}/hello"), &web4),
        (CLIENT6, format!("http://[{DEST6}]/hello6"), &web6),
    ] {
        assert_eq!(curl(from, &[&url]).await, "200 exit=0", "{url}");
        assert_eq!(up.requests(), 1, "{url} reached the destination once");
    }
    let path = |p: &'static str| move |c: &serde_json::Value| transparent(c) && c["path"] == p;
    let v4 = record(&px, "the IPv4 record", path("/hello")).await;
    assert_eq!(v4["method"], "GET", "{v4}");
    assert_eq!(v4["decision"], "allowed", "{v4}");
    assert_eq!(v4["upstream"], format!("{DEST4}:80"), "{v4}");
    assert_eq!(v4["source"], "app", "{v4}");
    assert!(v4["bytes_out"].as_u64().unwrap() > 0, "{v4}");
    let v6 = record(&px, "the IPv6 record", path("/hello6")).await;
    assert_eq!(v6["upstream"], format!("[{DEST6}]:80"), "{v6}");

    // A destination nothing allows: refused before a byte reaches it, with the JSON reason.
    let url = format!("http://{BLOCKED4}/steal");
    assert_eq!(curl(CLIENT4, &[&url]).await, "403 exit=0");
    let b = record(&px, "the blocked record", path("/steal")).await;
    assert_eq!(b["decision"], "blocked", "{b}");
    assert!(b["reason"].as_str().unwrap().contains(BLOCKED4), "{b}");
    // A name that resolves elsewhere does not borrow its rules; a TLS caller is cut off.
    let out = curl(
        CLIENT4,
        &[
            "-k",
            "--resolve",
            &format!("plain.test:443:{BLOCKED4}"),
            "https://plain.test/",
        ],
    )
    .await;
    assert!(out.starts_with("000"), "{out}");
    assert_eq!(blocked.requests(), 0, "the blocked destination was reached");
    // A connection straight to the transparent listener (not redirected) is its own original
    // destination: refused as Sightline's own listener.
    let url = format!("http://127.0.0.1:{port}/loop");
    assert_eq!(curl(CLIENT4, &[&url]).await, "403 exit=0");
    let own = record(&px, "the direct connection's record", path("/loop")).await;
    assert_eq!(own["decision"], "blocked", "{own}");

    // TLS to a host that is not inspected: relayed untouched, the server name recorded.
    let out = curl(
        CLIENT4,
        &[
            "--cacert",
            dest.ca.to_str().unwrap(),
            "--resolve",
            &format!("plain.test:443:{DEST4}"),
            "https://plain.test/relayed",
        ],
    )
    .await;
    assert_eq!(out, "200 exit=0");
    let relayed = record(&px, "the relayed TLS record", |c| {
        transparent(c) && c["sni"] == "plain.test" && c["decision"] == "allowed"
    })
    .await;
    assert_eq!(relayed["upstream"], format!("{DEST4}:443"), "{relayed}");
    assert!(relayed["bytes_in"].as_u64().unwrap() > 0, "{relayed}");
    assert_eq!(tls4.paths(), vec!["/relayed".to_owned()]);

    // TLS to an inspected host: the client trusts Sightline's CA and each request is recorded,
    // judged by the request rules too.
    let resolve = format!("partner.test:443:{DEST4}");
    let ca = sl.ca.to_str().unwrap();
    let charge = ["--cacert", ca, "--resolve", &resolve, "-X", "POST"];
    let out = curl(
        CLIENT4,
        &[&charge[..], &["https://partner.test/v1/charges"]].concat(),
    )
    .await;
    assert_eq!(out, "200 exit=0");
    let c = record(&px, "the inspected request", |c| {
        c["protocol"] == "inspected" && c["path"] == "/v1/charges"
    })
    .await;
    assert_eq!(c["method"], "POST", "{c}");
    assert_eq!(c["status"], 200, "{c}");
    assert_eq!(c["host"], "partner.test", "{c}");
    let del = ["--cacert", ca, "--resolve", &resolve, "-X", "DELETE"];
    let out = curl(
        CLIENT4,
        &[&del[..], &["https://partner.test/v1/charges/1"]].concat(),
    )
    .await;
    assert_eq!(out, "403 exit=0");
    let d = record(&px, "the refused inspected request", |c| {
        c["protocol"] == "inspected" && c["method"] == "DELETE"
    })
    .await;
    assert_eq!(d["decision"], "blocked", "{d}");
    assert!(!tls4.paths().iter().any(|p| p.starts_with("/v1/charges/1")));

    // A name that resolves to another address is judged as the address it dialed.
    let out = curl(
        CLIENT4,
        &[
            "-k",
            "--resolve",
            &format!("liar.test:443:{DEST4}"),
            "https://liar.test/",
        ],
    )
    .await;
    assert_eq!(out, "200 exit=0", "the dialed address is allowed");
    let liar = record(&px, "the mismatched name's record", |c| {
        transparent(c) && c["sni"] == "liar.test"
    })
    .await;
    assert!(
        liar["reason"]
            .as_str()
            .unwrap()
            .contains("does not resolve to the original destination"),
        "{liar}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

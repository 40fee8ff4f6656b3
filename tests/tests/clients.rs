//! Abusive-client protections end to end: real upstream (with a login route answering 401 on
//! bad credentials), the real proxy, the real store, an injected clock where time matters.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_policy::clients::ManualClock;
use sightline_tests::proxy::simple;
use sightline_tests::upstream::login;
use sightline_tests::{eventually, Client, Reply, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_800_000_000_000_000;

async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    Client::http1().send(addr, req).await.unwrap()
}

/// One GET from a chosen loopback source address; `Err` when the proxy closed the connection.
async fn get_from(src: [u8; 4], addr: SocketAddr, path: &str) -> Result<u16, String> {
    let r = Client::http1()
        .from(src.into())
        .send(addr, sightline_tests::client::get(addr, path))
        .await?;
    Ok(r.status.as_u16())
}

#[tokio::test]
async fn the_limit_is_exact_and_429_carries_retry_after_and_ratelimit_headers() {
    let up = TestUpstream::plain().await;
    // Routes only /api: the limit applies before routing, unrouted calls included.
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /api, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\nclients:\n  rate: {{ per_client: 5/m }}\n",
        up.addr
    )))
    .await;
    let mut left = Vec::new();
    for _ in 0..5 {
        let r = Client::http1().get(px.inbound, "/api/echo").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("ratelimit-policy"), "\"rate_per_client\";q=5;w=60");
        left.push(r.header("ratelimit").to_owned());
    }
    assert_eq!(left[0], "\"rate_per_client\";r=4;t=12");
    assert!(left[4].starts_with("\"rate_per_client\";r=0;"), "{left:?}");
    let refused = Client::http1().get(px.inbound, "/api/echo").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("sightline-error"), "rate_limited");
    let retry: u64 = refused.header("retry-after").parse().unwrap();
    assert!((1..=12).contains(&retry), "retry-after {retry}");
    assert!(refused.header("ratelimit").contains(";r=0;"));
    let unrouted = Client::http1().get(px.inbound, "/nowhere").await;
    assert_eq!(unrouted.status, 429, "unrouted calls are limited too");
    assert_eq!(up.requests(), 5, "refused calls never reach the upstream");
    let id = refused.header("x-request-id").to_owned();
    let rec = px.call(&id).await;
    assert_eq!(rec["decision"], "limited");
    assert_eq!(rec["protection"], "rate_per_client");
    assert_eq!(rec["client"], "127.0.0.1");
    assert_eq!(rec["status"], 429);
    assert_eq!(
        px.metric(
            "sightline_client_actions_total{protection=\"rate_per_client\",action=\"limited\"}"
        )
        .await,
        2.0
    );
    let clients = px.admin_json("/api/clients").await;
    let me = &clients["clients"][0];
    assert_eq!(
        (
            me["id"].as_str(),
            me["requests"].as_u64(),
            me["limited"].as_u64()
        ),
        (Some("127.0.0.1"), Some(7), Some(2))
    );
}

#[tokio::test]
async fn failed_logins_ban_escalate_and_are_lifted_through_the_api() {
    let up = TestUpstream::plain().await;
    let clock = Arc::new(ManualClock::at(T0));
    let px = TestProxy::start_with_clock(
        simple(
            up.addr,
            "clients:\n  logins: [ { route: \"POST /login\", failures: 3, within: 1m, ban: 1m, escalation: 4 } ]\n",
        ),
        clock.clone(),
    )
    .await;
    assert_eq!(
        send(px.inbound, login(px.inbound, "right")).await.status,
        200
    );
    for _ in 0..3 {
        assert_eq!(
            send(px.inbound, login(px.inbound, "guess")).await.status,
            401
        );
    }
    let seen = up.requests();
    let banned = send(px.inbound, login(px.inbound, "right")).await;
    assert_eq!(banned.status, 403, "even the right password, once banned");
    assert_eq!(banned.header("sightline-error"), "client_blocked");
    assert_eq!(
        Client::http1().get(px.inbound, "/echo").await.status,
        403,
        "every route"
    );
    assert_eq!(
        up.requests(),
        seen,
        "a banned client causes no upstream work"
    );
    let rec = px.call(banned.header("x-request-id")).await;
    assert_eq!(
        (rec["decision"].as_str(), rec["protection"].as_str()),
        (Some("blocked"), Some("ban"))
    );
    let bans = px.admin_json("/api/bans").await;
    let ban = &bans["bans"][0];
    assert_eq!(ban["client"], "127.0.0.1");
    assert_eq!(ban["reason"], "failed_logins");
    assert_eq!(ban["strikes"], 1);
    let since = humantime::parse_rfc3339(ban["since"].as_str().unwrap()).unwrap();
    let until = humantime::parse_rfc3339(ban["until"].as_str().unwrap()).unwrap();
    assert_eq!(
        until.duration_since(since).unwrap(),
        Duration::from_secs(60)
    );

    clock.advance(Duration::from_secs(61));
    assert_eq!(
        send(px.inbound, login(px.inbound, "right")).await.status,
        200,
        "the ban ended"
    );
    for _ in 0..3 {
        send(px.inbound, login(px.inbound, "guess")).await;
    }
    let bans = px.admin_json("/api/bans").await;
    let ban = &bans["bans"][0];
    assert_eq!(ban["strikes"], 2);
    let since = humantime::parse_rfc3339(ban["since"].as_str().unwrap()).unwrap();
    let until = humantime::parse_rfc3339(ban["until"].as_str().unwrap()).unwrap();
    assert_eq!(
        until.duration_since(since).unwrap(),
        Duration::from_secs(240),
        "escalated 4x"
    );
    assert_eq!(
        px.metric("sightline_client_bans_total{reason=\"failed_logins\"}")
            .await,
        2.0
    );

    let lifted = px
        .admin_post("/api/bans/lift", r#"{"client":"127.0.0.1"}"#)
        .await;
    assert_eq!(lifted.status, 200, "{:?}", lifted.body);
    assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
    assert_eq!(
        px.admin_json("/api/bans").await["bans"],
        serde_json::json!([])
    );
    assert_eq!(
        px.admin_post("/api/bans/lift", r#"{"client":"127.0.0.1"}"#)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn bans_survive_a_restart_with_the_store() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-bans-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let cfg = || {
        simple(
            up.addr,
            &format!(
                "storage: {{ path: \"{}\" }}\nclients:\n  logins: [ {{ route: /login, failures: 2, ban: 1h }} ]\n",
                dir.display()
            ),
        )
    };
    let first = TestProxy::start(cfg()).await;
    for _ in 0..2 {
        send(first.inbound, login(first.inbound, "guess")).await;
    }
    assert_eq!(
        Client::http1().get(first.inbound, "/echo").await.status,
        403
    );
    eventually("the ban to be stored", || async {
        let pending = first.metric("sightline_store_pending").await;
        let written = first.metric("sightline_store_written_total").await;
        (pending == 0.0 && written >= 1.0).then_some(())
    })
    .await;
    let before = first.admin_json("/api/bans").await;
    assert!(first.sightline.shutdown().await);

    let second = TestProxy::start(cfg()).await;
    let seen = up.requests();
    assert_eq!(
        Client::http1().get(second.inbound, "/echo").await.status,
        403,
        "still banned"
    );
    assert_eq!(up.requests(), seen);
    assert_eq!(second.admin_json("/api/bans").await, before);
    assert_eq!(
        second
            .admin_post("/api/bans/lift", r#"{"client":"127.0.0.1"}"#)
            .await
            .status,
        200
    );
    assert!(second.sightline.shutdown().await);
    let third = TestProxy::start(cfg()).await;
    eventually("the lift to be stored too", || async {
        (Client::http1().get(third.inbound, "/echo").await.status == 200).then_some(())
    })
    .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_deny_list_change_applies_at_accept_without_a_restart() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-deny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("drop.txt");
    std::fs::write(&list, "; Spamhaus DROP List\n192.0.2.0/24 ; SBL1\n").unwrap();
    let px = TestProxy::start(simple(
        up.addr,
        &format!("clients:\n  deny_lists: [\"{}\"]\n", list.display()),
    ))
    .await;
    assert_eq!(get_from([127, 0, 0, 2], px.inbound, "/echo").await, Ok(200));
    std::fs::write(
        &list,
        "; Spamhaus DROP List\n192.0.2.0/24 ; SBL1\n127.0.0.2/32 ; SBL2\n",
    )
    .unwrap();
    eventually("the new list to refuse 127.0.0.2", || async {
        get_from([127, 0, 0, 2], px.inbound, "/echo")
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert_eq!(
        get_from([127, 0, 0, 3], px.inbound, "/echo").await,
        Ok(200),
        "others are served"
    );
    assert_eq!(
        px.metric("sightline_client_list_entries{list=\"deny\"}")
            .await,
        2.0
    );
    // A broken file keeps the lists in force.
    std::fs::write(&list, "127.0.0.2/32\nnot a network\n").unwrap();
    eventually("the broken list to be rejected", || async {
        (px.metric("sightline_client_list_reload_failures_total")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert!(get_from([127, 0, 0, 2], px.inbound, "/echo").await.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn report_mode_lets_calls_through_and_records_what_it_would_do() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "clients:\n  rate: { per_client: 2/m }\n  logins: [ { route: /login, failures: 2 } ]\n  modes: { rate: report, logins: report }\n",
    ))
    .await;
    let mut last = None;
    for _ in 0..6 {
        let r = send(px.inbound, login(px.inbound, "guess")).await;
        assert_eq!(r.status, 401, "report mode never refuses");
        last = Some(r.header("x-request-id").to_owned());
    }
    assert_eq!(up.requests(), 6);
    let rec = px.call(&last.unwrap()).await;
    assert_eq!(rec["decision"], "reported");
    assert_eq!(rec["protection"], "rate_per_client");
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .starts_with("would be limited"),
        "{rec}"
    );
    assert_eq!(
        px.admin_json("/api/bans").await["bans"],
        serde_json::json!([])
    );
    assert_eq!(
        px.metric(
            "sightline_client_actions_total{protection=\"rate_per_client\",action=\"reported\"}"
        )
        .await,
        4.0
    );
}

/// The hex SHA-256 of a key, as `sha256sum` prints it.
fn sha256_hex(key: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn verified_api_keys_have_their_own_limit_and_the_key_is_never_shown() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hashes = dir.join("keys.sha256");
    std::fs::write(
        &hashes,
        format!(
            "# issued keys\n{}  alpha\n{}\n",
            sha256_hex("sk_live_alpha"),
            sha256_hex("sk_live_beta")
        ),
    )
    .unwrap();
    let px = TestProxy::start(simple(
        up.addr,
        &format!(
            "clients:\n  api_key_header: x-api-key\n  api_keys: {{ hashes: \"{}\" }}\n  rate: {{ per_client: 2/m }}\n",
            hashes.display()
        ),
    ))
    .await;
    let with_key = |key: &'static str| {
        Request::get("/echo")
            .header("host", "x")
            .header("x-api-key", key)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            send(px.inbound, with_key("sk_live_alpha"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes, [200, 200, 429]);
    assert_eq!(
        send(px.inbound, with_key("sk_live_beta")).await.status,
        200,
        "another verified key, another client"
    );
    let clients = px.admin_json("/api/clients").await.to_string();
    assert!(!clients.contains("sk_live"), "{clients}");
    assert!(clients.contains("\"kind\":\"verified_key\""), "{clients}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn invented_api_keys_get_no_more_than_their_address() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "clients:\n  api_key_header: x-api-key\n  rate: { per_client: 2/m }\n",
    ))
    .await;
    let get_with = |key: String| {
        Request::get("/echo")
            .header("host", "x")
            .header("x-api-key", key)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let mut codes = Vec::new();
    for i in 0..4 {
        codes.push(
            send(px.inbound, get_with(format!("made-up-{i}")))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        codes,
        [200, 200, 429, 429],
        "a fresh key is no fresh bucket"
    );
    let refused = send(px.inbound, get_with("made-up-9".into())).await;
    let rec = px.call(refused.header("x-request-id")).await;
    assert_eq!(rec["protection"], "rate_per_client");
    assert_eq!(
        Client::http1().get(px.inbound, "/echo").await.status,
        429,
        "the address spent its own bucket through the keys"
    );
    assert_eq!(up.requests(), 2);
}

#[tokio::test]
async fn a_brute_forcer_inventing_api_keys_is_banned_by_its_address() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "clients:\n  api_key_header: x-api-key\n  logins: [ { route: /login, failures: 3 } ]\n",
    ))
    .await;
    let with_key = |key: String, password: &str| {
        let mut req = login(px.inbound, password);
        req.headers_mut().insert("x-api-key", key.parse().unwrap());
        req
    };
    for i in 0..3 {
        let r = send(px.inbound, with_key(format!("made-up-{i}"), "guess")).await;
        assert_eq!(r.status, 401);
    }
    let fresh = send(px.inbound, with_key("made-up-99".into(), "right")).await;
    assert_eq!(fresh.status, 403, "a new key does not escape the ban");
    let bans = px.admin_json("/api/bans").await;
    assert_eq!(bans["bans"][0]["client"], "127.0.0.1");
}

#[tokio::test]
async fn claimed_api_keys_are_shed_with_the_anonymous_and_verified_ones_are_not() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-shed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hashes = dir.join("keys.sha256");
    std::fs::write(&hashes, format!("{}\n", sha256_hex("sk_live_known"))).unwrap();
    // Two calls in flight at most; anonymous clients may fill one of them.
    let px = TestProxy::start(simple(
        up.addr,
        &format!(
            "clients:\n  api_key_header: x-api-key\n  api_keys: {{ hashes: \"{}\" }}\n  concurrency: {{ max: 2, anonymous_share: 0.5 }}\n",
            hashes.display()
        ),
    ))
    .await;
    let with_key = |key: &str, path: &str| {
        Request::get(path)
            .header("host", "x")
            .header("x-api-key", key)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let inbound = px.inbound;
    let hanging = with_key("made-up-1", "/hang");
    let held = tokio::spawn(async move { Client::http1().send(inbound, hanging).await });
    eventually("one call in flight", || async {
        (px.metric("sightline_client_inflight").await == 1.0).then_some(())
    })
    .await;
    let shed = send(px.inbound, with_key("made-up-2", "/echo")).await;
    assert_eq!(shed.status, 503, "a claimed key is anonymous under load");
    assert_eq!(shed.header("sightline-error"), "overloaded");
    assert_eq!(
        send(px.inbound, with_key("sk_live_known", "/echo"))
            .await
            .status,
        200,
        "a verified key keeps the room kept for known clients"
    );
    held.abort();
    std::fs::remove_dir_all(&dir).ok();
}

/// `POST {path}` with a wrong password.
fn failed_login_at(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    let mut req = login(addr, "guess");
    *req.uri_mut() = path.parse().unwrap();
    req
}

#[tokio::test]
async fn spellings_of_the_login_path_count_against_the_login_ban() {
    let up = TestUpstream::plain().await;
    // The upstream here treats paths case-insensitively, and its catch-all route says so.
    let cfg = || {
        sightline_tests::proxy::config(&format!(
            "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: app, ignore_case: true }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\nclients:\n  logins: [ {{ route: \"POST /login\", failures: 3, within: 1m, ban: 1m }} ]\n",
            up.addr
        ))
    };
    for variant in ["//login", "/login;jsessionid=1", "/LOGIN", "/x/..;/Login"] {
        let px = TestProxy::start(cfg()).await;
        for _ in 0..3 {
            let r = send(px.inbound, failed_login_at(px.inbound, variant)).await;
            assert_eq!(r.status, 401, "{variant}");
        }
        let r = send(px.inbound, login(px.inbound, "right")).await;
        assert_eq!(
            r.status, 403,
            "three failures through {variant} ban the client"
        );
        assert_eq!(r.header("sightline-error"), "client_blocked");
        assert!(px.sightline.shutdown().await);
    }
}

#[tokio::test]
async fn a_login_route_limit_holds_for_every_spelling_of_the_path() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "clients:\n  rate: { routes: [ { route: \"POST /login\", rate: 2/m } ] }\n",
    ))
    .await;
    let mut codes = Vec::new();
    for path in ["/login", "//login", "/login;a=1", "/%6cogin"] {
        codes.push(
            send(px.inbound, failed_login_at(px.inbound, path))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes, [401, 401, 429, 429]);
}

#[tokio::test]
async fn a_dual_stack_listener_judges_ipv4_peers_as_ipv4() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-dual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let deny = dir.join("deny.txt");
    std::fs::write(&deny, "203.0.113.9/32\n").unwrap();
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:\n  listen: \"[::]:0\"\n  routes: [ {{ path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [\"{}\"] }}\nclients:\n  trusted_proxies: [127.0.0.1/32]\n  connections: {{ per_ip: 1 }}\n  deny_lists: [\"{}\"]\n",
        up.addr,
        deny.display()
    )))
    .await;
    // Reach the [::] listener over IPv4: the peer arrives as ::ffff:127.0.0.1.
    let v4 = SocketAddr::from(([127, 0, 0, 1], px.inbound.port()));
    let from = |client: &str| {
        Request::get("/echo")
            .header("host", "x")
            .header("x-forwarded-for", client)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    // The trusted balancer holds one connection open; the per-address cap does not apply to it.
    let held = tokio::net::TcpStream::connect(v4).await.unwrap();
    let denied = send(v4, from("203.0.113.9")).await;
    assert_eq!(
        denied.status, 403,
        "the deny list judges the client behind the trusted proxy"
    );
    assert_eq!(denied.header("sightline-error"), "client_blocked");
    let served = send(v4, from("198.51.100.7")).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.json()["headers"]["x-forwarded-for"],
        "198.51.100.7, 127.0.0.1",
        "the balancer is appended as IPv4"
    );
    let rec = px.call(served.header("x-request-id")).await;
    assert_eq!(rec["client"], "198.51.100.7");
    drop(held);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_clients_view_names_internal_services_and_says_who_is_allow_listed() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-allow-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let allow = dir.join("allow.txt");
    std::fs::write(&allow, "127.0.0.42/32\n").unwrap();
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /api, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
egress:
  listen: 127.0.0.1:0
  sources: [ {{ cidr: 127.0.0.40/29, service: shop }}, {{ cidr: 127.0.0.42/32, service: catalog }} ]
clients:
  rate: {{ per_client: 2/m }}
  allow_lists: [\"{}\"]
",
        up.addr,
        allow.display()
    )))
    .await;
    // The catalog service calls from 127.0.0.42, on the allow list: never limited.
    for _ in 0..5 {
        assert_eq!(
            get_from([127, 0, 0, 42], px.inbound, "/api/x").await,
            Ok(200)
        );
    }
    assert_eq!(
        get_from([127, 0, 0, 51], px.inbound, "/api/x").await,
        Ok(200)
    );
    let clients = px.admin_json("/api/clients").await;
    let list = clients["clients"].as_array().unwrap();
    let row = |id: &str| list.iter().find(|c| c["id"] == id).cloned().unwrap();
    let catalog = row("127.0.0.42");
    assert_eq!(
        catalog["service"], "catalog",
        "the most specific source wins"
    );
    assert_eq!(catalog["allow_listed"], true);
    assert_eq!(
        (catalog["requests"].as_u64(), catalog["limited"].as_u64()),
        (Some(5), Some(0))
    );
    let other = row("127.0.0.51");
    assert!(other["service"].is_null());
    assert_eq!(other["allow_listed"], false);
    assert!(
        list.iter().all(|c| c["requests"].as_u64() > Some(0)),
        "no row without requests: {list:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! The admin API the dashboard reads, through a real proxy: policy, history and POST handling.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sightline_tests::proxy::simple;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};

#[tokio::test]
async fn policy_history_and_posts_through_the_admin_listener() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(
        up.addr,
        "enclave:\n  mode: report\n  networks: [10.0.0.0/8]\n  rules:\n    - { service: app, hosts: [api.partner.example], ports: [443] }\n",
    ))
    .await;
    for i in 0..3 {
        let r = Client::http1()
            .get(px.inbound, &format!("/items/{i}"))
            .await;
        assert_eq!(r.status, 200);
    }

    let policy = Client::http1().get(px.admin, "/api/policy").await.json();
    assert_eq!(policy["enclave"]["mode"], "report");
    assert_eq!(policy["enclave"]["networks"][0]["net"], "10.0.0.0/8");
    assert_eq!(
        policy["enclave"]["rules"][0]["hosts"][0],
        "api.partner.example"
    );
    assert_eq!(policy["enclave"]["rules"][0]["mode"], "report");
    assert_eq!(policy["reload"]["generation"], 1);
    assert_eq!(policy["admin"]["token_required"], false);

    // The recorder works off the data path: wait until the graph has the calls.
    let total = |m: &serde_json::Value| -> u64 {
        m.as_array()
            .map(|ms| ms.iter().filter_map(|x| x["count"].as_u64()).sum())
            .unwrap_or(0)
    };
    let minutes = eventually("three calls in the node's last hour", || async {
        let h = Client::http1()
            .get(px.admin, "/api/history?node=service:app")
            .await;
        let m = h.json()["minutes"].clone();
        (h.status == 200 && total(&m) == 3).then_some(m)
    })
    .await;
    assert_eq!(minutes.as_array().map(Vec::len), Some(60), "{minutes}");
    let edge = Client::http1()
        .get(px.admin, "/api/history?from=internet&to=service:app")
        .await;
    assert_eq!(edge.status, 200);
    assert_eq!(
        Client::http1()
            .get(px.admin, "/api/history?node=service:none")
            .await
            .status,
        404
    );

    // A POST body is read; without the dashboard's header it is refused as cross-site.
    let lift = |marked: bool| {
        let mut req = Request::post("/api/bans/lift").header("content-type", "application/json");
        if marked {
            req = req.header("x-sightline-request", "1");
        }
        req.body(Full::new(Bytes::from_static(
            br#"{"client":"ip:127.0.0.9"}"#,
        )))
        .unwrap()
    };
    let r = Client::http1().send(px.admin, lift(false)).await.unwrap();
    assert_eq!(r.status, 403);
    let r = Client::http1().send(px.admin, lift(true)).await.unwrap();
    assert_eq!(r.status, 404, "reached the state: nobody is banned");
    let big = Request::post("/api/bans/lift")
        .header("x-sightline-request", "1")
        .body(Full::new(Bytes::from(vec![b' '; 64 * 1024])))
        .unwrap();
    assert_eq!(
        Client::http1().send(px.admin, big).await.unwrap().status,
        413
    );
    let doc = Client::http1()
        .get(px.admin, "/api/openapi.json")
        .await
        .json();
    assert!(doc["paths"].as_object().unwrap().len() >= 20);
}

fn with_host(method: http::Method, path: &str, host: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("x-sightline-request", "1")
        .header("origin", format!("http://{host}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"client":"ip:127.0.0.9"}"#,
        )))
        .unwrap()
}

/// A page on another site whose name the attacker makes resolve to 127.0.0.1 (DNS rebinding)
/// reaches a token-less admin listener from the victim's browser, with its own name as Host
/// and as a same-origin Origin. Only localhost and loopback names at the listener's port are
/// answered; anything else is 421, on every path and over HTTP/2 too.
#[tokio::test]
async fn a_tokenless_admin_answers_only_requests_addressed_to_this_machine() {
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(simple(up.addr, "")).await;
    let port = px.admin.port();
    let client = Client::http1();
    for host in [
        format!("rebind.evil.example:{port}"),
        "rebind.evil.example".into(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("localhost.evil.example:{port}"),
    ] {
        for (method, path) in [
            (http::Method::GET, "/api/calls"),
            (http::Method::GET, "/api/alerts/stream"),
            (http::Method::GET, "/metrics"),
            (http::Method::POST, "/api/bans/lift"),
        ] {
            let r = client
                .send(px.admin, with_host(method.clone(), path, &host))
                .await
                .unwrap();
            assert_eq!(r.status, 421, "{method} {path} Host {host}");
            assert_eq!(r.json()["error"], "misdirected_request");
        }
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = client
            .send(px.admin, with_host(http::Method::GET, "/api/calls", &host))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "Host {host}");
        let r = client
            .send(
                px.admin,
                with_host(http::Method::POST, "/api/bans/lift", &host),
            )
            .await
            .unwrap();
        assert_eq!(
            r.status, 404,
            "reached the state: nobody is banned ({host})"
        );
    }
    // HTTP/2 names the host in the :authority pseudo-header.
    let h2 = Client::h2c();
    let req = |authority: String| {
        Request::get(format!("http://{authority}/api/calls"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let r = h2
        .send(px.admin, req(format!("rebind.evil.example:{port}")))
        .await
        .unwrap();
    assert_eq!(r.status, 421);
    let r = h2
        .send(px.admin, req(format!("localhost:{port}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

const TOKEN: &str = "admin-token-0123456789";

fn login(host: std::net::SocketAddr) -> Request<Full<Bytes>> {
    Request::post("/api/login")
        .header("host", host.to_string())
        .header("x-sightline-request", "1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(r#"{{"token":"{TOKEN}"}}"#))))
        .unwrap()
}

fn with_cookie(method: http::Method, path: &str, cookie: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("cookie", cookie)
        .header("x-sightline-request", "1")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The `name=value` pair of a Set-Cookie answer.
fn cookie_of(r: &sightline_tests::Reply) -> String {
    r.header("set-cookie").split(';').next().unwrap().to_owned()
}

/// The session cookie used to be the token in hex: it gave the token away, never expired on
/// the server and outlived logout. Now it names a random session the server ends at logout
/// and at its lifetime.
#[tokio::test]
async fn dashboard_sessions_are_random_and_end_at_logout_and_expiry() {
    let up = TestUpstream::plain().await;
    let mut cfg = simple(up.addr, "");
    cfg.admin.token = Some(TOKEN.into());
    cfg.admin.session_lifetime = std::time::Duration::from_secs(2);
    let px = TestProxy::start(cfg).await;
    let client = Client::http1();
    let first = client.send(px.admin, login(px.admin)).await.unwrap();
    assert_eq!(first.status, 200);
    let set = first.header("set-cookie").to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(set.contains("Max-Age=2"), "{set}");
    let a = cookie_of(&first);
    let hex: String = TOKEN.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!a.contains(TOKEN) && !a.contains(&hex), "{a}");
    let b = cookie_of(&client.send(px.admin, login(px.admin)).await.unwrap());
    assert_ne!(a, b, "each login is a session of its own");
    let status = |cookie: String| {
        let client = client.clone();
        let admin = px.admin;
        async move {
            client
                .send(admin, with_cookie(http::Method::GET, "/api/calls", &cookie))
                .await
                .unwrap()
                .status
        }
    };
    assert_eq!(status(a.clone()).await, 200);
    assert_eq!(status(b.clone()).await, 200);
    // The cookie of the old scheme opens nothing.
    assert_eq!(status(format!("sightline_session={hex}")).await, 401);

    let out = client
        .send(px.admin, with_cookie(http::Method::POST, "/api/logout", &a))
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(
        status(a.clone()).await,
        401,
        "logout ends the session on the server"
    );
    assert_eq!(status(b.clone()).await, 200, "other sessions go on");
    // The server ends the session at its lifetime, even for a client that keeps the cookie.
    eventually("the session expired on the server", || async {
        (status(b.clone()).await == 401).then_some(())
    })
    .await;
}

/// `admin.tls` puts the admin listener behind TLS (the inbound listener's certificate
/// handling); the session cookie is then `Secure`.
#[tokio::test]
async fn the_admin_listener_speaks_tls_and_its_cookie_is_secure() {
    let dir = std::env::temp_dir().join(format!("sightline-admin-tls-{}", std::process::id()));
    let m = sightline_certs::DevMaterial::write(&dir, &["localhost", "127.0.0.1"]).unwrap();
    let up = TestUpstream::plain().await;
    let text = format!(
        "version: 1
admin:
  listen: 127.0.0.1:0
  token: {TOKEN}
  tls: {{ cert: {:?}, key: {:?} }}
inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
",
        m.server_cert.display().to_string(),
        m.server_key.display().to_string(),
        up.addr
    );
    let cfg = sightline::config::Config::parse(&text, "test.yaml", std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    let px = TestProxy::start(cfg).await;
    let tls = Client::tls(&m.ca, false, None);
    let r = tls.send(px.admin, login(px.admin)).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie").ends_with("; Secure"),
        "{}",
        r.header("set-cookie")
    );
    let cookie = cookie_of(&r);
    let r = tls
        .send(
            px.admin,
            with_cookie(http::Method::GET, "/api/calls", &cookie),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let out = tls
        .send(
            px.admin,
            with_cookie(http::Method::POST, "/api/logout", &cookie),
        )
        .await
        .unwrap();
    assert!(out.header("set-cookie").contains("Secure"));
    // Plain HTTP gets no answer from a TLS listener.
    let plain = Client::http1().send(px.admin, login(px.admin)).await;
    assert!(plain.is_err(), "{:?}", plain.map(|r| r.status));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A time range or a trace id reads the store's call log: the calls of one trace, newest
/// first, paged with `before`; ranges that hold nothing answer nothing; bad values are 400.
#[tokio::test]
async fn calls_of_a_time_range_and_of_a_trace_come_from_the_call_log() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!("sightline-admin-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let px = TestProxy::start(simple(
        up.addr,
        &format!("storage: {{ path: {:?} }}\n", dir.display().to_string()),
    ))
    .await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let started = sightline_tests::receivers::unix_now();
    for i in 0..7 {
        let mut req = Request::get(format!("/items/{i}")).header("host", "app");
        if i % 2 == 0 {
            req = req.header("traceparent", format!("00-{trace}-00f067aa0ba902b{i}-01"));
        }
        let r = Client::http1()
            .send(px.inbound, req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    // The store writes off the data path: wait until the log has the four calls of the trace.
    let calls = eventually("the trace's calls in the call log", || async {
        let page = px.admin_json(&format!("/api/calls?trace={trace}")).await;
        let calls = page["calls"].as_array().cloned().unwrap_or_default();
        (calls.len() == 4).then_some(calls)
    })
    .await;
    let paths: Vec<&str> = calls.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/items/6", "/items/4", "/items/2", "/items/0"]);
    assert!(calls.iter().all(|c| c["trace_id"] == trace));
    // Paged through the log, two at a time, from the start of the test on.
    let since = started.saturating_sub(1);
    let first = px
        .admin_json(&format!("/api/calls?since={since}&limit=2"))
        .await;
    let next = first["next"].as_u64().expect("a cursor to older calls");
    let second = px
        .admin_json(&format!("/api/calls?since={since}&limit=2&before={next}"))
        .await;
    let seqs = |p: &serde_json::Value| -> Vec<u64> {
        p["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["seq"].as_u64().unwrap())
            .collect()
    };
    let (a, b) = (seqs(&first), seqs(&second));
    assert_eq!((a.len(), b.len()), (2, 2), "{first} {second}");
    assert!(a[1] > b[0], "older calls on the next page: {a:?} {b:?}");
    let all = px
        .admin_json(&format!("/api/calls?since={since}&limit=100"))
        .await;
    assert_eq!(all["calls"].as_array().unwrap().len(), 7, "{all}");
    assert_eq!(all["next"], serde_json::Value::Null);
    let future = px
        .admin_json(&format!("/api/calls?since={}", started + 3_600))
        .await;
    assert_eq!(future["calls"], serde_json::json!([]));
    let past = px.admin_json("/api/calls?until=1000").await;
    assert_eq!(past["calls"], serde_json::json!([]));
    for bad in [
        "trace=xyz",
        "since=yesterday",
        "until=-1",
        "trace=4BF92F3577B34DA6A3CE929D0E0E4736",
    ] {
        let r = Client::http1()
            .get(px.admin, &format!("/api/calls?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.json()["reason"].is_string(), "{bad}");
    }
    drop(px);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends one egress call for `host` from the local address `from`; returns its status.
async fn egress_from(egress: std::net::SocketAddr, from: std::net::IpAddr, host: &str) -> u16 {
    let req = Request::get(format!("http://{host}/x"))
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = Client::http1().from(from).send(egress, req).await.unwrap();
    r.status.as_u16()
}

/// The `service` filter selects the same calls from the store's call log (a time range) as
/// from the recent calls in memory: inbound calls of the service called, egress calls of the
/// service calling out, `-` for unrouted calls and `unknown` for unidentified egress sources,
/// and never a service whose name merely starts like another's; `find` looks for text in any of
/// a call's names and its path.
#[tokio::test]
async fn the_service_filter_selects_the_same_calls_from_the_call_log_as_from_memory() {
    let up = TestUpstream::plain().await;
    let dir = std::env::temp_dir().join(format!(
        "sightline-admin-service-filter-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let px = TestProxy::start(sightline_tests::proxy::config(&format!(
        "inbound:
  listen: 127.0.0.1:0
  routes: [ {{ path_prefix: /items, service: app }} ]
services:
  app: {{ upstreams: [\"{}\"] }}
egress:
  listen: 127.0.0.1:0
  sources:
    - {{ cidr: 127.0.0.1/32, service: app }}
    - {{ cidr: 127.0.0.2/32, service: unknown-jobs }}
storage: {{ path: {:?} }}
",
        up.addr,
        dir.display().to_string()
    )))
    .await;
    let started = sightline_tests::receivers::unix_now().saturating_sub(1);
    for path in ["/items/1", "/items/2", "/elsewhere"] {
        Client::http1().get(px.inbound, path).await;
    }
    let egress = px.sightline.egress_addr().unwrap();
    // The metadata address is refused whoever asks: each call is recorded, blocked.
    for from in ["127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3"] {
        let status = egress_from(egress, from.parse().unwrap(), "169.254.169.254").await;
        assert_eq!(status, 403, "from {from}");
    }
    let ids = |page: serde_json::Value| -> Vec<String> {
        let mut ids: Vec<String> = page["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    // The store writes off the data path: wait for all seven calls in the log.
    eventually("every call in the call log", || async {
        let page = px
            .admin_json(&format!("/api/calls?since={started}&limit=100"))
            .await;
        (ids(page).len() == 7).then_some(())
    })
    .await;
    for (service, expected) in [
        ("app", 3),
        ("unknown-jobs", 2),
        ("unknown", 1),
        ("-", 1),
        ("unknown-", 0),
        ("ap", 0),
    ] {
        let memory = ids(px
            .admin_json(&format!("/api/calls?service={service}&limit=100"))
            .await);
        let log = ids(px
            .admin_json(&format!(
                "/api/calls?service={service}&since={started}&limit=100"
            ))
            .await);
        assert_eq!(memory.len(), expected, "{service} in memory: {memory:?}");
        assert_eq!(log, memory, "{service}: the call log against memory");
    }
    // `find` matches text anywhere in the service, source, destination, host or path, in any
    // case, from memory and from the log alike.
    for (find, expected) in [
        ("ITEMS", 2),
        ("jobs", 2),
        ("169.254", 4),
        ("elsew", 1),
        ("nowhere", 0),
    ] {
        let memory = ids(px
            .admin_json(&format!("/api/calls?find={find}&limit=100"))
            .await);
        let log = ids(px
            .admin_json(&format!("/api/calls?find={find}&since={started}&limit=100"))
            .await);
        assert_eq!(memory.len(), expected, "find {find} in memory: {memory:?}");
        assert_eq!(log, memory, "find {find}: the call log against memory");
    }
    let long = "x".repeat(201);
    let r = Client::http1()
        .get(px.admin, &format!("/api/calls?find={long}"))
        .await;
    assert_eq!(r.status, 400);
    let page = px.admin_json("/api/calls?service=unknown-jobs").await;
    assert_eq!(page["calls"][0]["service"], "unknown-jobs");
    assert_eq!(page["calls"][0]["source"], "unknown-jobs");
    drop(px);
    let _ = std::fs::remove_dir_all(&dir);
}

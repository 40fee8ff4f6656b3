use super::*;
use crate::config::Config;
use crate::errors::ProxyError;
use http::{HeaderMap, HeaderValue, Method};
use sightline_policy::clients::{ClientId, ClientKind, ManualClock};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const T0: Micros = 1_800_000_000_000_000;

fn config(clients: &str) -> ClientsConfig {
    let text = format!("version: 1\nclients:\n{clients}");
    Config::parse(&text, "t.yaml", Path::new("/"))
        .unwrap()
        .clients
}

fn guard(cfg: &ClientsConfig) -> (ClientGuard, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(T0));
    (
        ClientGuard::new(cfg, clock.clone(), None, Vec::new()),
        clock,
    )
}

fn addr(s: &str) -> ClientId {
    ClientId {
        kind: ClientKind::Address,
        id: s.into(),
        address: s.into(),
    }
}

fn admit(
    g: &ClientGuard,
    cfg: &ClientsConfig,
    c: &ClientId,
    path: &str,
) -> Result<Admitted, Refused> {
    g.admit(cfg, &ConnFlags::default(), c, &Method::GET, path)
}

fn failed_login(g: &ClientGuard, cfg: &ClientsConfig, c: &ClientId) -> Vec<ClientSignal> {
    g.observe(
        cfg,
        &ConnFlags::default(),
        c,
        &Method::POST,
        "/login",
        401,
        None,
    )
}

#[test]
fn failed_logins_ban_with_escalating_lengths() {
    let cfg = config(
        "  logins: [ { route: \"POST /login\", failures: 3, within: 1m, ban: 1m, escalation: 4, max_ban: 1h } ]\n",
    );
    let (g, clock) = guard(&cfg);
    let c = addr("192.0.2.1");
    let fail = |g: &ClientGuard| failed_login(g, &cfg, &c);
    let mut lengths = Vec::new();
    for round in 0..3 {
        assert!(fail(&g).is_empty() && fail(&g).is_empty(), "round {round}");
        let signals = fail(&g);
        let Some(ClientSignal::Banned {
            strikes,
            until,
            enforced: true,
            ..
        }) = signals.first()
        else {
            panic!("no ban in round {round}: {signals:?}");
        };
        assert_eq!(*strikes, round + 1);
        lengths.push((until - g.now()) / 1_000_000);
        let refused = admit(&g, &cfg, &c, "/anything").unwrap_err();
        assert_eq!(refused.error.status().as_u16(), 403);
        assert_eq!(refused.protection, Protection::Ban);
        clock.advance(Duration::from_secs(3600));
        assert!(admit(&g, &cfg, &c, "/anything").is_ok(), "the ban ends");
    }
    assert_eq!(lengths, [60, 240, 960]);
    // A success, a wrong route or another status never counts.
    for (method, path, status) in [
        (Method::POST, "/login", 200),
        (Method::GET, "/login", 401),
        (Method::POST, "/other", 401),
    ] {
        for _ in 0..5 {
            assert!(g
                .observe(&cfg, &ConnFlags::default(), &c, &method, path, status, None)
                .is_empty());
        }
    }
    assert!(g.lift(&c.id) || g.bans().is_empty());
}

#[test]
fn report_mode_lets_calls_through_and_says_what_it_would_do() {
    let cfg = config(
        "  rate: { per_client: 2/s }\n  logins: [ { route: /login, failures: 1 } ]\n  modes: { rate: report, logins: report }\n",
    );
    let (g, _) = guard(&cfg);
    let c = addr("192.0.2.2");
    for i in 0..5 {
        let a = admit(&g, &cfg, &c, "/").unwrap();
        assert_eq!(a.reported.is_some(), i >= 2, "call {i}");
    }
    let s = failed_login(&g, &cfg, &c);
    assert!(
        matches!(
            s[0],
            ClientSignal::Banned {
                enforced: false,
                ..
            }
        ),
        "{s:?}"
    );
    assert!(g.bans().is_empty(), "report mode never bans");
}

#[test]
fn rate_headers_count_down_and_429_says_when() {
    let cfg = config("  rate: { per_client: 10/s, burst: 3 }\n");
    let (g, clock) = guard(&cfg);
    let c = addr("192.0.2.3");
    let left: Vec<u32> = (0..3)
        .map(|_| admit(&g, &cfg, &c, "/").unwrap().rate.unwrap().remaining)
        .collect();
    assert_eq!(left, [2, 1, 0]);
    let r = admit(&g, &cfg, &c, "/").unwrap_err();
    assert_eq!(
        r.error,
        ProxyError::Limited {
            retry_after: Some(Duration::from_millis(100))
        }
    );
    let mut h = HeaderMap::new();
    r.rate.unwrap().apply(&mut h);
    assert_eq!(h["ratelimit-policy"], "\"rate_per_client\";q=3;w=1");
    assert_eq!(h["ratelimit"], "\"rate_per_client\";r=0;t=1");
    clock.advance(Duration::from_millis(100));
    assert!(admit(&g, &cfg, &c, "/").is_ok());
    assert!(
        admit(&g, &cfg, &addr("192.0.2.4"), "/").is_ok(),
        "other clients are not affected"
    );
}

#[test]
fn scanning_is_many_distinct_missing_paths() {
    let cfg = config("  scanning: { distinct_paths: 5, within: 1m, ban: 10m }\n");
    let (g, _) = guard(&cfg);
    let c = addr("192.0.2.5");
    for _ in 0..20 {
        assert!(g
            .observe(
                &cfg,
                &ConnFlags::default(),
                &c,
                &Method::GET,
                "/same",
                404,
                None
            )
            .is_empty());
    }
    let mut all = Vec::new();
    for i in 0..5 {
        all.extend(g.observe(
            &cfg,
            &ConnFlags::default(),
            &c,
            &Method::GET,
            &format!("/probe{i}"),
            404,
            None,
        ));
    }
    assert!(
        matches!(all[0], ClientSignal::Scanning { distinct_paths: 5 }),
        "{all:?}"
    );
    assert!(matches!(
        all[1],
        ClientSignal::Banned {
            reason: "scanning",
            ..
        }
    ));
    assert_eq!(g.bans()[0].reason, "scanning");
}

#[test]
fn anonymous_clients_are_shed_before_known_ones() {
    let cfg = config("  concurrency: { max: 10, anonymous_share: 0.5 }\n");
    let (g, _) = guard(&cfg);
    let anon = addr("192.0.2.6");
    let known = ClientId {
        kind: ClientKind::VerifiedKey,
        id: "key:abc".into(),
        address: "192.0.2.30".into(),
    };
    let claimed = ClientId {
        kind: ClientKind::ApiKey,
        ..known.clone()
    };
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(admit(&g, &cfg, &anon, "/").unwrap().permit);
    }
    let shed = admit(&g, &cfg, &anon, "/").unwrap_err();
    assert_eq!(shed.error, ProxyError::Overloaded);
    assert_eq!(
        admit(&g, &cfg, &claimed, "/").unwrap_err().error,
        ProxyError::Overloaded,
        "a claimed key is shed with the anonymous"
    );
    for _ in 0..5 {
        held.push(admit(&g, &cfg, &known, "/").unwrap().permit);
    }
    assert!(
        admit(&g, &cfg, &known, "/").is_err(),
        "the whole limit is full"
    );
    held.clear();
    assert_eq!(g.inflight(), 0, "permits give their slot back");
    assert!(admit(&g, &cfg, &anon, "/").is_ok());
}

#[test]
fn credential_stuffing_is_many_clients_failing_on_one_route() {
    let cfg = config(
        "  logins: [ { route: \"POST /login\", failures: 100 } ]\n  stuffing: { clients: 5, within: 5m }\n",
    );
    let (g, _) = guard(&cfg);
    let mut raised = Vec::new();
    for i in 0..5 {
        raised.extend(g.observe(
            &cfg,
            &ConnFlags::default(),
            &addr(&format!("198.51.100.{i}")),
            &Method::POST,
            "/login",
            401,
            None,
        ));
    }
    assert_eq!(
        raised,
        vec![ClientSignal::CredentialStuffing {
            route: "POST /login".into(),
            clients: 5
        }]
    );
}

/// A client known by its certificate `name`, calling `endpoint` through `g`: each call is
/// admitted and answered 200, and returns the signals it raised.
fn known_client<'a>(
    g: &'a ClientGuard,
    cfg: &'a ClientsConfig,
    name: &str,
) -> impl Fn(&str) -> Vec<ClientSignal> + 'a {
    let c = ClientId {
        kind: ClientKind::Certificate,
        id: format!("spiffe://x/{name}").into(),
        address: "192.0.2.31".into(),
    };
    move |endpoint| {
        admit(g, cfg, &c, "/").unwrap();
        g.observe(
            cfg,
            &ConnFlags::default(),
            &c,
            &Method::GET,
            "/",
            200,
            Some(endpoint),
        )
    }
}

/// The signal of a known client on a new endpoint, at `unusual_hour` if any.
fn uncommon(endpoint: &str, unusual_hour: Option<u8>) -> Vec<ClientSignal> {
    vec![ClientSignal::UncommonEndpoint {
        endpoint: endpoint.into(),
        unusual_hour,
    }]
}

/// The hour of the day (UTC) of `t`.
fn hour(t: Micros) -> u8 {
    ((t / 3_600_000_000) % 24) as u8
}

#[test]
fn a_known_client_on_a_new_endpoint_is_uncommon_after_learning() {
    let cfg = config("  uncommon: { known_after: 3 }\n");
    let (g, _) = guard(&cfg);
    let call = known_client(&g, &cfg, "billing");
    assert!(call("GET /a").is_empty() && call("GET /b").is_empty() && call("GET /a").is_empty());
    assert!(call("GET /a").is_empty());
    assert_eq!(call("GET /admin"), uncommon("GET /admin", None));
    assert!(call("GET /admin").is_empty(), "only the first time");
}

#[test]
fn a_known_client_on_a_new_endpoint_at_an_hour_it_never_used_is_flagged() {
    let cfg = config("  uncommon: { known_after: 3 }\n");
    let (g, clock) = guard(&cfg);
    let call = known_client(&g, &cfg, "batch");
    // Known over two hours of the day, on one endpoint.
    for _ in 0..3 {
        assert!(call("GET /a").is_empty());
    }
    clock.advance(Duration::from_secs(3600));
    assert!(call("GET /a").is_empty());
    // A new endpoint in an hour it has used: uncommon, at a usual hour.
    assert_eq!(call("GET /b"), uncommon("GET /b", None));
    // Five hours later, an hour it never used: a known endpoint says nothing, a new one is
    // flagged with the hour.
    clock.advance(Duration::from_secs(5 * 3600));
    assert!(call("GET /a").is_empty());
    clock.advance(Duration::from_secs(3600));
    let late = hour(T0 + 7 * 3_600_000_000);
    assert_eq!(call("GET /admin"), uncommon("GET /admin", Some(late)));
    // The hour is now one it has used.
    assert_eq!(call("GET /export"), uncommon("GET /export", None));
}

#[test]
fn an_hour_unused_for_weeks_is_unusual_again_and_one_used_last_week_is_not() {
    const WEEK: Duration = Duration::from_secs(7 * 86_400);
    let cfg = config("  uncommon: { known_after: 3 }\n");
    let (g, clock) = guard(&cfg);
    let call = known_client(&g, &cfg, "reports");
    // Known in the hour of T0, five weeks ago by the end.
    for _ in 0..4 {
        assert!(call("GET /a").is_empty());
    }
    // Four weeks later (one week ago by the end), two hours later in the day.
    clock.advance(4 * WEEK + Duration::from_secs(2 * 3600));
    assert!(call("GET /a").is_empty());
    // Five weeks after T0, in T0's hour: forgotten, so unusual again.
    clock.advance(WEEK - Duration::from_secs(2 * 3600));
    assert_eq!(call("GET /b"), uncommon("GET /b", Some(hour(T0))));
    // Two hours later: the hour it used last week is still usual.
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(call("GET /c"), uncommon("GET /c", None));
}

#[test]
fn lists_exempt_and_refuse_at_accept() {
    let dir = std::env::temp_dir().join(format!("sightline-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("deny.txt"), "203.0.113.0/24 ; SBL1\n").unwrap();
    std::fs::write(dir.join("allow.txt"), "# office\n198.51.100.0/24\n").unwrap();
    let cfg = config(&format!(
        "  rate: {{ per_client: 1/m }}\n  deny_lists: [{}]\n  allow_lists: [{}]\n  connections: {{ per_ip: 2 }}\n",
        dir.join("deny.txt").display(),
        dir.join("allow.txt").display()
    ));
    let (g, _) = guard(&cfg);
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(matches!(
        g.accept(&cfg, ip("203.0.113.9")),
        Accept::Refuse(Protection::DenyList)
    ));
    let Accept::Serve(flags) = g.accept(&cfg, ip("198.51.100.1")) else {
        panic!()
    };
    let c = addr("198.51.100.1");
    for _ in 0..10 {
        assert!(
            g.admit(&cfg, &flags, &c, &Method::GET, "/").is_ok(),
            "allow-listed: no limits"
        );
    }
    let a = g.accept(&cfg, ip("192.0.2.7"));
    let b = g.accept(&cfg, ip("192.0.2.7"));
    assert!(matches!(
        g.accept(&cfg, ip("192.0.2.7")),
        Accept::Refuse(Protection::Connections)
    ));
    drop(a);
    assert!(
        matches!(g.accept(&cfg, ip("192.0.2.7")), Accept::Serve(_)),
        "a closed connection frees its slot"
    );
    drop(b);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn behind_a_trusted_proxy_the_lists_judge_the_forwarded_client() {
    let dir = std::env::temp_dir().join(format!("sightline-fwd-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("deny.txt"), "203.0.113.0/24\n").unwrap();
    // The gateway itself is allow-listed, and so is one office network behind it.
    std::fs::write(dir.join("allow.txt"), "10.0.0.40/32\n198.51.100.0/24\n").unwrap();
    let cfg = config(&format!(
        "  rate: {{ per_client: 1/m }}\n  trusted_proxies: [10.0.0.40/32]\n  deny_lists: [{}]\n  allow_lists: [{}]\n  scanning: {{ distinct_paths: 2, within: 1m, ban: 1m }}\n",
        dir.join("deny.txt").display(),
        dir.join("allow.txt").display()
    ));
    let (g, _) = guard(&cfg);
    let gateway: IpAddr = "10.0.0.40".parse().unwrap();
    let Accept::Serve(conn) = g.accept(&cfg, gateway) else {
        panic!()
    };
    assert!(conn.exempt, "the gateway's own connection is allow-listed");
    let behind = |client: &'static str| {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(client));
        let id = g.identify(&cfg, gateway, None, &h);
        (g.forwarded_flags(&cfg, gateway, &h), id)
    };
    // An ordinary client behind the gateway is limited, and judged a scanner, as itself.
    let (flags, c) = behind("192.0.2.5");
    let flags = flags.expect("forwarded");
    assert!(!flags.exempt);
    assert!(g.admit(&cfg, &flags, &c, &Method::GET, "/").is_ok());
    assert!(g.admit(&cfg, &flags, &c, &Method::GET, "/").is_err(), "1/m");
    let scans: Vec<_> = ["/a", "/b"]
        .iter()
        .flat_map(|p| g.observe(&cfg, &flags, &c, &Method::GET, p, 404, None))
        .collect();
    assert!(
        scans
            .iter()
            .any(|s| matches!(s, ClientSignal::Scanning { .. })),
        "{scans:?}"
    );
    // A deny-listed client behind it is refused per call; an allow-listed one is exempt.
    let (flags, c) = behind("203.0.113.9");
    let refused = g
        .admit(&cfg, &flags.expect("forwarded"), &c, &Method::GET, "/")
        .unwrap_err();
    assert_eq!(refused.protection, Protection::DenyList);
    assert!(!refused.close, "the gateway's connection stays open");
    let (flags, c) = behind("198.51.100.7");
    let flags = flags.expect("forwarded");
    for _ in 0..5 {
        assert!(g.admit(&cfg, &flags, &c, &Method::GET, "/").is_ok());
    }
    assert!(g
        .observe(&cfg, &flags, &c, &Method::GET, "/x", 404, None)
        .is_empty());
    assert!(g
        .observe(&cfg, &flags, &c, &Method::GET, "/y", 404, None)
        .is_empty());
    // A peer that is not a trusted proxy keeps its connection's flags.
    let mut h = HeaderMap::new();
    h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
    assert!(g
        .forwarded_flags(&cfg, "192.0.2.77".parse().unwrap(), &h)
        .is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn api_keys_are_kept_only_as_a_hash() {
    let cfg = config("  api_key_header: x-api-key\n");
    let (g, _) = guard(&cfg);
    let mut h = HeaderMap::new();
    h.insert("x-api-key", HeaderValue::from_static("sk_live_secret"));
    let id = g.identify(&cfg, "192.0.2.8".parse().unwrap(), None, &h);
    assert_eq!(id.kind, ClientKind::ApiKey);
    assert!(!id.id.contains("secret"));
    assert_eq!(id.id.len(), "key:".len() + 32);
    assert_eq!(
        id.id,
        g.identify(&cfg, "192.0.2.9".parse().unwrap(), None, &h).id,
        "stable"
    );
}

#[test]
fn allow_listed_clients_are_never_banned() {
    let cfg = config("  logins: [ { route: /login, failures: 1 } ]\n");
    let (g, _) = guard(&cfg);
    let flags = ConnFlags {
        exempt: true,
        ..ConnFlags::default()
    };
    let c = addr("198.51.100.9");
    for _ in 0..3 {
        assert!(g
            .observe(&cfg, &flags, &c, &Method::POST, "/login", 401, None)
            .is_empty());
    }
    assert!(g.bans().is_empty());
    assert!(g.admit(&cfg, &flags, &c, &Method::POST, "/login").is_ok());
}

#[test]
fn an_address_claims_only_a_few_distinct_keys() {
    let cfg = config("  api_key_header: x-api-key\n  api_keys: { per_address: 2, within: 1m }\n");
    let (g, clock) = guard(&cfg);
    let peer: IpAddr = "192.0.2.40".parse().unwrap();
    let with_key = |k: &str| {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", k.parse().unwrap());
        g.identify(&cfg, peer, None, &h)
    };
    assert_eq!(with_key("a").kind, ClientKind::ApiKey);
    assert_eq!(with_key("b").kind, ClientKind::ApiKey);
    assert_eq!(with_key("a").kind, ClientKind::ApiKey, "a key already seen");
    let third = with_key("c");
    assert_eq!(
        (third.kind, &*third.id),
        (ClientKind::Address, "192.0.2.40")
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        with_key("c").kind,
        ClientKind::ApiKey,
        "the window moved on"
    );
}

#[test]
fn a_claimed_key_also_pays_from_its_address_bucket() {
    let cfg = config(
        "  api_key_header: x-api-key\n  rate: { per_client: 2/m, routes: [ { route: /login, rate: 3/m } ] }\n",
    );
    let (g, _) = guard(&cfg);
    let key = |k: &str| ClientId {
        kind: ClientKind::ApiKey,
        id: format!("key:{k}").into(),
        address: "192.0.2.41".into(),
    };
    assert!(admit(&g, &cfg, &key("a"), "/x").is_ok());
    assert!(admit(&g, &cfg, &key("b"), "/x").is_ok());
    let refused = admit(&g, &cfg, &key("c"), "/x").unwrap_err();
    assert_eq!(refused.protection, Protection::RatePerClient);
    assert!(
        admit(&g, &cfg, &addr("192.0.2.41"), "/x").is_err(),
        "the address itself spent its bucket through the keys"
    );
    let verified = ClientId {
        kind: ClientKind::VerifiedKey,
        ..key("d")
    };
    assert!(
        admit(&g, &cfg, &verified, "/x").is_ok(),
        "a verified key is its own client"
    );
}

#[test]
fn a_ban_heard_from_the_fleet_is_looked_up_once_and_refuses_by_that_verdict() {
    let cfg = config("  rate: { per_client: 100/s }\n");
    let (g, clock) = guard(&cfg);
    let c = addr("192.0.2.40");
    let flags = ConnFlags::default();
    let admit_judged = |ban| g.admit_judged(&cfg, &flags, &c, &Method::GET, "/", Some(ban));
    assert_eq!(g.ban_on(&c), None);
    // Set on another instance and heard here: in the one ban table.
    g.apply_shared_ban(
        "192.0.2.40",
        sightline_policy::clients::Ban {
            reason: "failed_logins".into(),
            since: T0,
            until: T0 + 60_000_000,
            strikes: 1,
        },
    );
    let ban = g.ban_on(&c);
    assert_eq!(
        ban.as_ref().map(|b| b.reason.as_str()),
        Some("failed_logins")
    );
    let refused = admit_judged(ban).unwrap_err();
    assert_eq!(refused.protection, Protection::Ban);
    assert!(
        admit(&g, &cfg, &c, "/").is_err(),
        "looked up by admit alike"
    );
    // The verdict given is the one used: the table is not read a second time.
    assert!(admit_judged(None).is_ok());
    clock.advance(Duration::from_secs(61));
    assert_eq!(g.ban_on(&c), None, "over");
    assert!(admit(&g, &cfg, &c, "/").is_ok());
}

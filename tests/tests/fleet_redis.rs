//! Fleet mode with Redis: three Sightline instances (in-process, each with its own listeners)
//! share one real redis-server started by the test on a loopback port. Limits hold for the
//! fleet, a ban on one instance is refused by the others, and a Redis outage neither stops
//! traffic (fail open) nor needs a restart to recover.

use sightline_tests::proxy::{metric_sum, simple, start_all};
use sightline_tests::redis::TestRedis;
use sightline_tests::upstream::login;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fleet_yaml(redis: &TestRedis, instance: &str, fail: &str, clients: &str) -> String {
    format!(
        "fleet:\n  instance: {instance}\n  redis: {}\n  fail: {fail}\nclients:\n{clients}",
        redis.url()
    )
}

/// Three instances in front of `up`, sharing `redis`; waits until each counts three members.
async fn three(up: SocketAddr, redis: &TestRedis, fail: &str, clients: &str) -> Vec<TestProxy> {
    let fleet = start_all(
        ["gw-1", "gw-2", "gw-3"].map(|name| simple(up, &fleet_yaml(redis, name, fail, clients))),
    )
    .await;
    for px in &fleet {
        eventually(
            "every instance connected and counting three members",
            || async {
                let s = px.admin_json("/api/status").await;
                let b = &s["fleet"]["backends"][0];
                (b["state"] == "up" && b["members"] == 3).then_some(())
            },
        )
        .await;
    }
    fleet
}

/// Polls `cond` every 10 ms until it holds; panics when `within` passes first.
async fn within<F, Fut>(what: &str, within: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !cond().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_held_to_the_shared_rate_across_three_instances_within_one_burst() {
    let up = TestUpstream::plain().await;
    let redis = TestRedis::start().await;
    // 30 a minute with a burst of 30: one cell every 2 s, so the load below meets the burst
    // plus a cell or two. Alone, each instance would let 30 through: 90 for the fleet.
    let fleet = three(up.addr, &redis, "open", "  rate: { per_client: 30/m }\n").await;
    let start = Instant::now();
    let mut admitted = 0u32;
    let mut limited = 0u32;
    for i in 0..90 {
        let px = &fleet[i % 3];
        let r = Client::http1().get(px.inbound, "/echo").await;
        match r.status.as_u16() {
            200 => admitted += 1,
            429 => {
                limited += 1;
                assert!(!r.header("retry-after").is_empty());
            }
            s => panic!("unexpected status {s}"),
        }
    }
    let refilled = (start.elapsed().as_secs_f64() / 2.0).ceil() as u32;
    assert!(
        admitted <= 30 + refilled,
        "the fleet let {admitted} through; the shared limit allows 30 + {refilled}"
    );
    assert!(
        admitted >= 30 - 30 / 2,
        "the fleet let only {admitted} through: slices held unspent must stay under half a burst"
    );
    assert_eq!(admitted + limited, 90);
    // Every instance took part: each refused some of the client's calls.
    for px in &fleet {
        let refused = px
            .metric(
                "sightline_client_actions_total{protection=\"rate_per_client\",action=\"limited\"}",
            )
            .await;
        assert!(refused > 0.0, "{} refused none", px.inbound);
    }
    // Leasing: far fewer Redis commands than calls for the limit itself.
    let ops = metric_sum(&fleet, "sightline_fleet_redis_ops_total").await;
    assert!(ops > 0.0);
    eprintln!("shared rate: {admitted} of 90 admitted; {ops} Redis commands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_on_one_instance_is_refused_by_the_others_within_a_second_and_lifted_everywhere() {
    let up = TestUpstream::plain().await;
    let redis = TestRedis::start().await;
    let fleet = three(
        up.addr,
        &redis,
        "open",
        "  logins: [ { route: \"POST /login\", failures: 3, within: 1m, ban: 10m } ]\n",
    )
    .await;
    let (a, others) = (&fleet[0], &fleet[1..]);
    for px in others {
        assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
    }
    for _ in 0..3 {
        let r = Client::http1()
            .send(a.inbound, login(a.inbound, "guess"))
            .await
            .unwrap();
        assert_eq!(r.status, 401);
    }
    assert_eq!(Client::http1().get(a.inbound, "/echo").await.status, 403);
    let banned_at = Instant::now();
    for px in others {
        within(
            "the ban set on gw-1 refused by the other instances",
            Duration::from_secs(1).saturating_sub(banned_at.elapsed()),
            || async {
                let r = Client::http1().get(px.inbound, "/echo").await;
                r.status == 403 && r.header("sightline-error") == "client_blocked"
            },
        )
        .await;
        let bans = px.admin_json("/api/bans").await;
        assert_eq!(bans["bans"][0]["client"], "127.0.0.1");
        assert_eq!(bans["bans"][0]["reason"], "failed_logins");
    }
    // The ban is stored in Redis too: an instance that starts now refuses the client as well.
    let late = TestProxy::start(simple(
        up.addr,
        &fleet_yaml(&redis, "gw-4", "open", "  logins: []\n"),
    ))
    .await;
    eventually("a late instance loads the stored ban", || async {
        (Client::http1().get(late.inbound, "/echo").await.status == 403).then_some(())
    })
    .await;
    // Lifted on another instance: lifted everywhere.
    assert_eq!(
        fleet[2]
            .admin_post("/api/bans/lift", r#"{"client":"127.0.0.1"}"#)
            .await
            .status,
        200
    );
    let lifted_at = Instant::now();
    for px in [&fleet[0], &fleet[1], &late] {
        within(
            "the lift reaches every instance",
            Duration::from_secs(1).saturating_sub(lifted_at.elapsed()),
            || async { Client::http1().get(px.inbound, "/echo").await.status == 200 },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_mid_load_traffic_keeps_flowing_counted_and_recovers() {
    let up = TestUpstream::plain().await;
    let mut redis = TestRedis::start().await;
    // A limit far above this test's pace: every call must pass, with or without Redis.
    let fleet = three(
        up.addr,
        &redis,
        "open",
        "  rate: { per_client: 100000/s, global: 100000/s }\n",
    )
    .await;
    // The load: calls round-robin over the three instances until told to stop (at most 20000
    // calls or 60 s).
    let inbound: Vec<SocketAddr> = fleet.iter().map(|p| p.inbound).collect();
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (sent, stop) = (sent.clone(), stop.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut statuses = Vec::new();
            for i in 0..20_000 {
                if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
                    break;
                }
                let r = Client::http1().get(inbound[i % 3], "/echo").await;
                statuses.push(r.status.as_u16());
                sent.fetch_add(1, Ordering::Relaxed);
            }
            statuses
        })
    };
    let more = |n: usize| {
        let sent = sent.clone();
        async move {
            let from = sent.load(Ordering::Relaxed);
            eventually(&format!("{n} more calls sent"), || async {
                (sent.load(Ordering::Relaxed) >= from + n).then_some(())
            })
            .await;
        }
    };
    more(60).await;
    redis.stop().await;
    for px in &fleet {
        eventually("the instance sees Redis down", || async {
            let s = px.admin_json("/api/status").await;
            (s["fleet"]["backends"][0]["state"] == "down").then_some(())
        })
        .await;
        // Fail open: still ready, and /readyz says which back-end is down.
        let ready = Client::http1().get(px.admin, "/readyz").await;
        assert_eq!(ready.status, 200);
        assert_eq!(ready.json()["backends"]["redis"], "down");
    }
    more(60).await;
    for px in &fleet {
        assert!(
            px.metric("sightline_fleet_local_decisions_total").await > 0.0,
            "decisions taken locally are counted"
        );
        eventually("fleet_backend_failing raised", || async {
            let alerts = px
                .admin_json("/api/alerts?kind=fleet_backend_failing")
                .await;
            (!alerts["alerts"].as_array()?.is_empty()).then_some(())
        })
        .await;
    }
    let mut ops_down = Vec::new();
    for px in &fleet {
        ops_down.push(px.metric("sightline_fleet_redis_ops_total").await);
    }
    redis.resume().await;
    for px in &fleet {
        eventually("the instance reconnects without a restart", || async {
            let s = px.admin_json("/api/status").await;
            (s["fleet"]["backends"][0]["state"] == "up").then_some(())
        })
        .await;
        let ready = Client::http1().get(px.admin, "/readyz").await;
        assert_eq!(ready.json()["backends"]["redis"], "up");
    }
    more(60).await;
    stop.store(true, Ordering::Relaxed);
    let statuses = load.await.unwrap();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every call passes while Redis goes away and comes back: {statuses:?}"
    );
    // Back on the shared limits: leases come from Redis again, no decision is local.
    for (px, before) in fleet.iter().zip(ops_down) {
        let local = px.metric("sightline_fleet_local_decisions_total").await;
        for _ in 0..5 {
            assert_eq!(Client::http1().get(px.inbound, "/echo").await.status, 200);
        }
        assert!(px.metric("sightline_fleet_redis_ops_total").await > before);
        assert_eq!(
            px.metric("sightline_fleet_local_decisions_total").await,
            local,
            "back on the shared limits"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_closed_a_redis_outage_refuses_limited_calls_with_503_until_it_is_back() {
    let up = TestUpstream::plain().await;
    let mut redis = TestRedis::start().await;
    let px = TestProxy::start(simple(
        up.addr,
        &fleet_yaml(&redis, "gw-1", "closed", "  rate: { per_client: 1000/s }\n"),
    ))
    .await;
    eventually("connected", || async {
        (Client::http1().get(px.inbound, "/echo").await.status == 200).then_some(())
    })
    .await;
    redis.stop().await;
    let r = eventually("calls refused while Redis is away", || async {
        let r = Client::http1().get(px.inbound, "/echo").await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_eq!(r.header("sightline-error"), "shared_limits_unavailable");
    assert!(String::from_utf8_lossy(&r.body).contains("shared_limits_unavailable"));
    let ready = Client::http1().get(px.admin, "/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(ready.json()["reason"].as_str().unwrap().contains("redis"));
    assert!(px.metric("sightline_fleet_refused_total").await > 0.0);
    redis.resume().await;
    eventually("served again once Redis is back", || async {
        (Client::http1().get(px.inbound, "/echo").await.status == 200).then_some(())
    })
    .await;
    assert_eq!(Client::http1().get(px.admin, "/readyz").await.status, 200);
}

/// Whether every instance of `fleet` answers `/echo` with `status`.
async fn all_answer(fleet: &[TestProxy], status: u16) -> bool {
    for px in fleet {
        if Client::http1().get(px.inbound, "/echo").await.status != status {
            return false;
        }
    }
    true
}

/// A brute force spread over three instances is banned fleet-wide after the rule's count of
/// failures in all (each instance saw a third of them), and so is a scan spread over them after
/// the rule's count of distinct missing paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_and_scans_spread_over_three_instances_are_counted_fleet_wide() {
    let up = TestUpstream::plain().await;
    let redis = TestRedis::start().await;
    let fleet = three(
        up.addr,
        &redis,
        "open",
        "  logins: [ { route: \"POST /login\", failures: 6, within: 1m, ban: 10m } ]
  scanning: { distinct_paths: 6, within: 1m, ban: 10m }
",
    )
    .await;
    // Five failures, spread: under the count, nobody bans.
    for i in 0..5 {
        let px = &fleet[i % 3];
        let r = Client::http1()
            .send(px.inbound, login(px.inbound, "guess"))
            .await
            .unwrap();
        assert_eq!(r.status, 401);
    }
    assert!(all_answer(&fleet, 200).await, "banned before the count");
    // The sixth, on an instance that saw only one before: the fleet's count is reached.
    let r = Client::http1()
        .send(fleet[2].inbound, login(fleet[2].inbound, "guess"))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    eventually("the brute force banned on every instance", || async {
        all_answer(&fleet, 403).await.then_some(())
    })
    .await;
    for px in &fleet {
        let bans = px.admin_json("/api/bans").await;
        assert_eq!(bans["bans"][0]["reason"], "failed_logins", "{bans}");
    }
    // The ban was set after the call that filled the window had gone; its signal rides on the
    // next call that instance records, so the fleet raises one `client_banned` alert.
    let banned = eventually("one client_banned alert in the fleet", || async {
        let mut n = 0;
        for px in &fleet {
            Client::http1().get(px.inbound, "/echo").await;
            let a = px.admin_json("/api/alerts?kind=client_banned").await;
            n += a["alerts"].as_array().unwrap().len();
        }
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(banned, 1);
    assert_eq!(
        fleet[0]
            .admin_post("/api/bans/lift", r#"{"client":"127.0.0.1"}"#)
            .await
            .status,
        200
    );
    eventually("lifted everywhere", || async {
        all_answer(&fleet, 200).await.then_some(())
    })
    .await;
    // A scan: five distinct missing paths spread over the instances, one of them twice.
    for i in 0..5 {
        let px = &fleet[i % 3];
        let path = format!("/probe-{i}/status/404");
        assert_eq!(Client::http1().get(px.inbound, &path).await.status, 404);
    }
    assert_eq!(
        Client::http1()
            .get(fleet[1].inbound, "/probe-0/status/404")
            .await
            .status,
        404
    );
    assert!(
        all_answer(&fleet, 200).await,
        "a repeated path counted twice"
    );
    assert_eq!(
        Client::http1()
            .get(fleet[1].inbound, "/probe-5/status/404")
            .await
            .status,
        404
    );
    eventually("the scanner banned on every instance", || async {
        all_answer(&fleet, 403).await.then_some(())
    })
    .await;
    let bans = fleet[2].admin_json("/api/bans").await;
    assert_eq!(bans["bans"][0]["reason"], "scanning", "{bans}");
    let filled = metric_sum(&fleet, "sightline_fleet_windows_filled_total").await;
    assert_eq!(filled, 2.0, "one instance filled each window");
}

/// A failed login from `ip` (a loopback address) through `to`; its status.
async fn failed_login_from(ip: &str, to: SocketAddr) -> u16 {
    let r = Client::http1()
        .from(ip.parse().unwrap())
        .send(to, login(to, "guess"))
        .await
        .unwrap();
    r.status.as_u16()
}

/// Credential stuffing spread over three instances: six clients fail on the login route, two
/// through each instance (under the rule's count of six on every one of them); the fleet's
/// distinct count reaches it and one `credential_stuffing` alert is raised for the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_stuffing_spread_over_three_instances_is_counted_fleet_wide() {
    let up = TestUpstream::plain().await;
    let redis = TestRedis::start().await;
    let fleet = three(
        up.addr,
        &redis,
        "open",
        "  logins: [ { route: \"POST /login\", failures: 100, within: 1m, ban: 10m } ]
  stuffing: { clients: 6, within: 5m }
",
    )
    .await;
    let stuffing = |px: &TestProxy| {
        let admin = px.admin;
        async move {
            let a = Client::http1()
                .get(admin, "/api/alerts?kind=credential_stuffing")
                .await
                .json();
            a["alerts"].as_array().unwrap().len()
        }
    };
    // Five clients, and the first again: five distinct, under the count everywhere.
    for (i, ip) in [
        "127.0.0.11",
        "127.0.0.12",
        "127.0.0.13",
        "127.0.0.14",
        "127.0.0.15",
        "127.0.0.11",
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(failed_login_from(ip, fleet[i % 3].inbound).await, 401);
    }
    // The sixth distinct client.
    assert_eq!(failed_login_from("127.0.0.16", fleet[2].inbound).await, 401);
    eventually("the fleet's window filled", || async {
        let n = metric_sum(&fleet, "sightline_fleet_windows_filled_total").await;
        (n == 1.0).then_some(())
    })
    .await;
    // The alert rides on the next call the instance that filled it observes.
    let raised = eventually("one credential_stuffing alert in the fleet", || async {
        let mut n = 0;
        for px in &fleet {
            assert_eq!(Client::http1().get(px.inbound, "/").await.status, 200);
            n += stuffing(px).await;
        }
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(
        raised, 1,
        "raised once, by the instance that filled the window"
    );
}

//! The embedded store through the real proxy: the graph's windows come back after a restart,
//! and a locked database never holds traffic up; its failures are counted and the writes
//! retried until they land.

use sightline_tests::proxy::config;
use sightline_tests::{eventually, Client, TestProxy, TestUpstream};
use std::path::{Path, PathBuf};

fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sightline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn proxy_config(upstream: std::net::SocketAddr, dir: &Path) -> sightline::config::Config {
    config(&format!(
        "inbound:\n  listen: 127.0.0.1:0\n  routes: [ {{ path_prefix: /, service: billing }} ]\nservices:\n  billing: {{ upstreams: [\"{upstream}\"] }}\nstorage: {{ path: \"{}\" }}\n",
        dir.display()
    ))
}

fn query_u64(dir: &Path, sql: &str) -> Option<u64> {
    let conn = rusqlite::Connection::open(dir.join("sightline.db")).ok()?;
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .ok()
        .map(|n| n as u64)
}

/// Calls counted on the one edge of the graph over the last hour.
async fn edge_count(px: &TestProxy) -> Option<u64> {
    let g = px.admin_json("/api/graph?window=1h").await;
    let edges = g["edges"].as_array()?;
    (edges.len() == 1).then(|| edges[0]["total"]["count"].as_u64())?
}

#[tokio::test]
async fn the_graph_windows_come_back_after_a_restart() {
    let dir = store_dir("minutes");
    let up = TestUpstream::plain().await;
    let first = TestProxy::start(proxy_config(up.addr, &dir)).await;
    for id in 1..=3 {
        let path = format!("/invoices/{id}");
        assert_eq!(Client::http1().get(first.inbound, &path).await.status, 200);
    }
    eventually(
        "the minute's totals of three calls to be stored",
        || async {
            let sql = "SELECT COALESCE(SUM(json_extract(totals, '$.count')), 0) FROM minutes";
            (query_u64(&dir, sql)? == 3).then_some(())
        },
    )
    .await;
    assert!(first.sightline.shutdown().await);

    let second = TestProxy::start(proxy_config(up.addr, &dir)).await;
    assert_eq!(
        edge_count(&second).await,
        Some(3),
        "the previous run's calls are in the windows before any new call"
    );
    assert_eq!(
        Client::http1()
            .get(second.inbound, "/invoices/4")
            .await
            .status,
        200
    );
    eventually("the new call to add to the restored ones", || async {
        (edge_count(&second).await? == 4).then_some(())
    })
    .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn shutdown_hands_the_last_calls_to_the_store() {
    let dir = store_dir("flush");
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(proxy_config(up.addr, &dir)).await;
    for id in 1..=200 {
        let path = format!("/invoices/{id}");
        assert_eq!(Client::http1().get(px.inbound, &path).await.status, 200);
    }
    // At once, while the last records may still wait for the recorder or the store.
    assert!(px.sightline.shutdown().await);
    assert_eq!(
        query_u64(&dir, "SELECT COUNT(*) FROM calls"),
        Some(200),
        "every call in the call log"
    );
    let sql = "SELECT COALESCE(SUM(json_extract(totals, '$.count')), 0) FROM minutes";
    assert_eq!(query_u64(&dir, sql), Some(200), "every call in the minutes");
    assert!(query_u64(&dir, "SELECT COUNT(*) FROM baselines").is_some_and(|n| n >= 1));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_locked_store_never_holds_traffic_up_and_its_writes_are_retried() {
    let dir = store_dir("locked");
    let up = TestUpstream::plain().await;
    let px = TestProxy::start(proxy_config(up.addr, &dir)).await;
    eventually("the store to be open", || async {
        query_u64(&dir, "SELECT COUNT(*) FROM calls")
    })
    .await;
    // Another process holds the write lock: every write of the proxy's store fails (busy).
    let lock = rusqlite::Connection::open(dir.join("sightline.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for id in 0..20 {
        let path = format!("/invoices/{id}");
        let started = std::time::Instant::now();
        assert_eq!(Client::http1().get(px.inbound, &path).await.status, 200);
        // Not a timing assertion on speed: a proxy waiting on the store would take the
        // store's whole busy timeout (5 s) per call.
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
    }
    eventually("the failed writes to be counted", || async {
        (px.metric("sightline_store_errors_total").await >= 1.0).then_some(())
    })
    .await;
    assert!(px.metric("sightline_store_pending").await >= 20.0);
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    eventually("the retried writes to land", || async {
        let pending = px.metric("sightline_store_pending").await;
        let calls = query_u64(&dir, "SELECT COUNT(*) FROM calls")?;
        (pending == 0.0 && calls >= 20).then_some(())
    })
    .await;
    assert_eq!(px.metric("sightline_store_dropped_total").await, 0.0);
    std::fs::remove_dir_all(&dir).ok();
}

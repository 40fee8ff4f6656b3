#![allow(clippy::unwrap_used)]
use super::*;
use crate::store::Op;

#[tokio::test]
async fn an_unreachable_database_never_blocks_the_sender_and_every_drop_is_counted() {
    // Nothing listens on port 1: every connection is refused.
    let (pg, store, restored) = Postgres::start(Settings {
        instance: "gw-1".into(),
        url: "postgres://sightline@127.0.0.1:1/sightline".into(),
        buffer: 8,
        retention: Duration::from_secs(60),
        max_calls: 10,
        admin: "127.0.0.1:9901".into(),
        claim_for: Duration::from_secs(60),
        detector: Default::default(),
        step: Duration::ZERO,
    })
    .await
    .unwrap();
    assert!(restored.nodes.is_empty());
    assert_eq!(pg.health().state, "down");
    const SENT: u64 = 10_000;
    for i in 0..SENT {
        store.send(Op::Call {
            at: i,
            json: "{}".into(),
        });
    }
    let s = &store.stats;
    // At most the queue and the one batch held for retry wait; the rest is counted.
    assert_eq!(s.written.load(Relaxed), 0);
    assert_eq!(s.dropped.load(Relaxed) + s.pending.load(Relaxed), SENT);
    assert!(s.pending.load(Relaxed) <= 8 + BATCH as u64);
    assert!(s.dropped.load(Relaxed) >= SENT - 8 - BATCH as u64);
    assert_eq!(
        pg.claim(
            "hook",
            "egress_blocked",
            "a -> b",
            "open",
            "{}",
            Duration::from_secs(5)
        )
        .await,
        Claim::Unknown,
        "an unanswered claim delivers anyway"
    );
}

#[test]
fn urls_are_checked() {
    assert!(check_url("postgres://u@127.0.0.1:5432/db").is_ok());
    assert!(check_url("postgresql://u:p@db/sightline?connect_timeout=3").is_ok());
    assert!(check_url("redis://127.0.0.1").is_err());
    assert!(check_url("postgres://u@h/db?sslmode=bogus").is_err());
}

//! The demo's scripted incident: a flash crowd on the catalogue, so a statistical anomaly shows
//! up within seconds (the demo's baselines use compressed steps and a short learning period).

use http::Method;
use std::net::SocketAddr;
use std::time::Duration;

/// A baseline step in the demo (a minute in production).
pub const STEP: &str = "500ms";
/// The demo's learning period: 20 steps.
pub const LEARNING: &str = "10s";
/// The demo's persistence: 3 steps.
pub const PERSISTENCE: &str = "1500ms";
/// Minimum traffic per step in the demo.
pub const MIN_RATE: u32 = 2;
/// When the first flash crowd begins, after the demo starts.
pub const FIRST: Duration = Duration::from_secs(15);
/// How long each flash crowd lasts.
pub const LENGTH: Duration = Duration::from_secs(10);
/// Time from one flash crowd to the next.
pub const EVERY: Duration = Duration::from_secs(120);

/// The crowd's loopback address.
const CROWD: [u8; 4] = [127, 0, 0, 30];
/// Distinct callers in the crowd.
const CROWD_SIZE: usize = 16;

/// The line the demo prints about its detector and the incident.
pub fn note() -> String {
    format!(
        "note: the demo's baselines use {STEP} steps (a minute in production) and learn for \
         {LEARNING} (default: 20% of a week); a flash crowd on GET /api/products begins {}s in and \
         every {}s, for {}s: watch /api/anomalies",
        FIRST.as_secs(),
        EVERY.as_secs(),
        LENGTH.as_secs()
    )
}

/// Sends the flash crowds (`rate` extra calls per second) to `inbound` until aborted.
pub async fn flash_crowds(inbound: SocketAddr, rate: u32) {
    // A crowd: many callers with their own keys, each well under the per-client limit.
    let client = super::traffic::client(CROWD);
    let keys: Vec<String> = (0..CROWD_SIZE).map(|i| format!("demo-crowd-{i}")).collect();
    let mut n = 0usize;
    tokio::time::sleep(FIRST).await;
    loop {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let end = tokio::time::Instant::now() + LENGTH;
        while tokio::time::Instant::now() < end {
            tick.tick().await;
            n = n.wrapping_add(1);
            let key = &keys[n % keys.len()];
            super::traffic::send(&client, inbound, (Method::GET, "/api/products"), key);
        }
        tokio::time::sleep(EVERY.saturating_sub(LENGTH)).await;
    }
}

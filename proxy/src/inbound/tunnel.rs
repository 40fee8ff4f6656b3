//! Relays an upgraded connection (WebSocket and the like) byte for byte after the 101,
//! closing it after the idle timeout without traffic.

use crate::record::CallGuard;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering::Relaxed;

/// Copies both ways until either side closes; the guard records the bytes and the duration.
pub(super) async fn relay(
    client: OnUpgrade,
    upstream: OnUpgrade,
    mut guard: CallGuard,
    idle: std::time::Duration,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            if let Some(rec) = guard.rec() {
                rec.error = Some("upgrade_failed");
                rec.reason = format!("protocol upgrade failed: {e}");
            }
            return;
        }
    };
    match crate::server::relay(TokioIo::new(client), TokioIo::new(upstream), idle, |_| {}).await {
        Ok((from_client, from_upstream)) => {
            guard.bytes_in().fetch_add(from_client, Relaxed);
            if let Some(rec) = guard.rec() {
                rec.bytes_out += from_upstream;
            }
            guard.complete();
        }
        Err(e) => {
            if let Some(rec) = guard.rec() {
                rec.error = Some("tunnel_failed");
                rec.reason = format!("upgraded connection failed: {e}");
            }
        }
    }
}

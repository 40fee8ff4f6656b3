//! Relaying a connection once it is no longer HTTP (after a 101 Switching Protocols, or a
//! CONNECT's 200), and the one way both stacks record how such a relay ended.

use crate::record::CallGuard;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Relays an upgraded connection (WebSocket and the like) byte for byte after the 101, closing
/// it after `idle` without traffic; the guard records the bytes and the duration.
pub async fn upgraded(
    client: OnUpgrade,
    upstream: OnUpgrade,
    mut guard: CallGuard,
    idle: Duration,
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
    let (client, upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    recorded(
        client,
        upstream,
        idle,
        &mut guard,
        "upgraded connection failed",
    )
    .await;
}

/// Copies both ways until either side closes (or nothing moves for `idle`) and records the
/// outcome: the bytes each way and a completed call, or `tunnel_failed` with `failure` and the
/// cause as the reason.
pub async fn recorded<C, U>(
    client: C,
    upstream: U,
    idle: Duration,
    guard: &mut CallGuard,
    failure: &str,
) where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let relayed = crate::server::relay(client, upstream, idle, |_| {}).await;
    record(relayed, guard, failure);
}

/// As [`recorded`], between two plain TCP sockets: spliced where the system allows.
pub async fn recorded_tcp(
    client: crate::server::TcpSide,
    upstream: tokio::net::TcpStream,
    idle: Duration,
    guard: &mut CallGuard,
    failure: &str,
) {
    let relayed = crate::server::relay_tcp(client, upstream, idle).await;
    record(relayed, guard, failure);
}

fn record(relayed: std::io::Result<(u64, u64)>, guard: &mut CallGuard, failure: &str) {
    match relayed {
        Ok((from_client, from_upstream)) => {
            guard.bytes_in().fetch_add(from_client, Relaxed);
            if let Some(rec) = guard.rec() {
                rec.bytes_out += from_upstream;
            }
            guard.complete();
        }
        Err(e) => failed(guard, failure, &e),
    }
}

/// Records a relay that broke: `tunnel_failed`, with `failure` and the cause as the reason.
pub fn failed(guard: &mut CallGuard, failure: &str, e: &dyn std::fmt::Display) {
    if let Some(rec) = guard.rec() {
        rec.error = Some("tunnel_failed");
        rec.reason = format!("{failure}: {e}");
    }
}

//! A CONNECT tunnel: after the 200, read the TLS ClientHello's server name (without terminating
//! TLS), report a name that differs from the CONNECT target, then relay bytes both ways.

use super::sni::{self, Hello};
use crate::record::CallGuard;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sightline_policy::{Decision, Host};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long to wait for the client's first bytes before relaying without an SNI.
const HELLO_WAIT: Duration = Duration::from_secs(5);

pub(super) async fn relay(
    upgrade: OnUpgrade,
    mut upstream: TcpStream,
    host: Host,
    mut guard: CallGuard,
    idle: Duration,
) {
    let client = match upgrade.await {
        Ok(u) => u,
        Err(e) => {
            if let Some(rec) = guard.rec() {
                rec.error = Some("tunnel_failed");
                rec.reason = format!("CONNECT upgrade failed: {e}");
            }
            return;
        }
    };
    let mut client = TokioIo::new(client);

    // Peek at the first record: the ClientHello names the server the client really wants.
    let mut first = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + HELLO_WAIT;
    loop {
        match sni::parse(&first) {
            Hello::Incomplete if first.len() < sni::MAX_HELLO => {}
            Hello::Tls(name) => {
                note_sni(&mut guard, &host, name);
                break;
            }
            _ => break,
        }
        match tokio::time::timeout_at(deadline, client.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => first.extend_from_slice(&buf[..n]),
        }
    }
    if !first.is_empty() && upstream.write_all(&first).await.is_err() {
        if let Some(rec) = guard.rec() {
            rec.error = Some("tunnel_failed");
            rec.reason = "destination closed the tunnel".into();
        }
        return;
    }
    guard.bytes_in().fetch_add(first.len() as u64, Relaxed);

    match crate::server::relay(client, upstream, idle).await {
        Ok((up, down)) => {
            guard.bytes_in().fetch_add(up, Relaxed);
            if let Some(rec) = guard.rec() {
                rec.bytes_out += down;
            }
            guard.complete();
        }
        Err(e) => {
            if let Some(rec) = guard.rec() {
                rec.error = Some("tunnel_failed");
                rec.reason = format!("tunnel failed: {e}");
            }
        }
    }
}

fn note_sni(guard: &mut CallGuard, host: &Host, name: Option<String>) {
    let Some(rec) = guard.rec() else { return };
    let Some(name) = name else { return };
    let differs = match host {
        Host::Name(h) => *h != name,
        // CONNECT to an address with a name in the hello: the name is the real destination.
        Host::Ip(_) => false,
    };
    if differs && rec.decision == Decision::Allowed {
        rec.decision = Decision::Reported;
        rec.reason = format!("TLS server name {name:?} differs from the CONNECT host {host}");
    }
    rec.sni = Some(name);
}

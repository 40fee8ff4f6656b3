//! A CONNECT tunnel: from the 200 on, read the client's first bytes until they are a whole TLS
//! ClientHello (reassembled across records) or plainly not TLS, then relay bytes both ways. TLS
//! is never terminated. A server name that differs from the CONNECT host is reported; a TLS
//! start whose ClientHello cannot be read within [`super::sni::MAX_HELLO`] bytes and the hello
//! timeout closes the tunnel before any of those bytes reach the destination (fail closed: the
//! server name check cannot be skipped by an unreadable hello).
//!
//! Server-first protocols are not held up: while the client's first bytes are awaited, the
//! destination's bytes flow to the client.

use super::sni::{Hello, HelloReader};
use crate::record::CallGuard;
use crate::upstream::relay;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sightline_policy::{Decision, Host};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

/// Bytes read at a time while the first bytes are awaited.
const BUF: usize = 16 * 1024;

/// Time limits of a tunnel.
#[derive(Clone, Copy, Debug)]
pub(super) struct TunnelTimeouts {
    /// No byte moving either way for this long closes the tunnel.
    pub idle: Duration,
    /// From the client's first byte, time for a TLS ClientHello to be complete.
    pub hello: Duration,
}

/// How the client's first bytes ended.
#[derive(Debug, PartialEq, Eq)]
enum Opening {
    /// Decided: TLS with this server name, or not TLS, or the client closed before sending
    /// anything. `held` goes to the destination next.
    Decided { sni: Option<String>, held: Vec<u8> },
    /// A TLS start whose ClientHello could not be read: the tunnel is refused.
    Unreadable(String),
    /// Nothing moved either way for the idle timeout: the tunnel is closed.
    Idle,
}

pub(super) async fn relay(
    upgrade: OnUpgrade,
    mut upstream: TcpStream,
    host: Host,
    mut guard: CallGuard,
    limits: TunnelTimeouts,
) {
    let client = match upgrade.await {
        Ok(u) => u,
        Err(e) => return relay::failed(&mut guard, "CONNECT upgrade failed", &e),
    };
    let mut client = TokioIo::new(client);
    let (opening, down) = match opening(&mut client, &mut upstream, limits).await {
        Ok(v) => v,
        Err(e) => {
            relay::failed(&mut guard, FAILED, &e);
            return;
        }
    };
    if let Some(rec) = guard.rec() {
        rec.bytes_out += down;
    }
    let held = match opening {
        Opening::Unreadable(why) => {
            refuse(&mut guard, &why);
            return;
        }
        Opening::Decided { sni, held } => {
            note_sni(&mut guard, &host, sni);
            held
        }
        Opening::Idle => {
            guard.complete();
            return;
        }
    };
    if !held.is_empty() {
        match timeout(limits.idle, upstream.write_all(&held)).await {
            Ok(Ok(())) => {
                guard.bytes_in().fetch_add(held.len() as u64, Relaxed);
            }
            Ok(Err(e)) => return relay::failed(&mut guard, FAILED, &e),
            Err(_) => return relay::failed(&mut guard, FAILED, &stalled()),
        }
    }
    // A plain TCP client is relayed socket to socket (spliced); any other through the copy loop.
    match crate::server::upgraded_tcp(client.into_inner()) {
        Ok(client) => relay::recorded_tcp(client, upstream, limits.idle, &mut guard, FAILED).await,
        Err(client) => {
            let client = TokioIo::new(client);
            relay::recorded(client, upstream, limits.idle, &mut guard, FAILED).await;
        }
    }
}

fn stalled() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "peer stopped reading")
}

/// The reason a broken tunnel is recorded with, before its cause.
const FAILED: &str = "tunnel failed";

/// Closes the tunnel over an unreadable ClientHello: blocked in every mode, since a hello the
/// proxy cannot read is one whose server name it cannot check.
fn refuse(guard: &mut CallGuard, why: &str) {
    if let Some(rec) = guard.rec() {
        rec.error = Some("tunnel_refused");
        rec.decision = Decision::Blocked;
        let note = format!("TLS ClientHello unreadable: {why}");
        rec.reason = if rec.reason.is_empty() {
            note
        } else {
            format!("{}; {note}", rec.reason)
        };
    }
}

/// Reads the client's first bytes until they decide what the tunnel carries, copying the
/// destination's bytes to the client meanwhile. Returns the opening and the bytes copied down.
async fn opening<C, U>(
    client: &mut C,
    upstream: &mut U,
    limits: TunnelTimeouts,
) -> std::io::Result<(Opening, u64)>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut reader = HelloReader::new();
    let mut held = Vec::new();
    let (mut a, mut b) = (vec![0u8; BUF], vec![0u8; BUF]);
    let mut down = 0u64;
    let mut upstream_open = true;
    // As in the relay, one timer moved only when it fires; bytes moving just note the time.
    let mut last = Instant::now();
    // Set by the client's first byte: the ClientHello must be whole by then.
    let mut hello_by: Option<Instant> = None;
    let timer = sleep_until(last + limits.idle);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            r = client.read(&mut a) => {
                let n = match r {
                    Ok(0) | Err(_) if held.is_empty() => {
                        return Ok((Opening::Decided { sni: None, held }, down));
                    }
                    Ok(0) | Err(_) => {
                        let why = "the client closed before the ClientHello ended";
                        return Ok((Opening::Unreadable(why.into()), down));
                    }
                    Ok(n) => n,
                };
                held.extend_from_slice(&a[..n]);
                last = Instant::now();
                if hello_by.is_none() {
                    let by = last + limits.hello;
                    hello_by = Some(by);
                    timer.as_mut().reset(by.min(last + limits.idle));
                }
                match reader.feed(&a[..n]) {
                    Hello::Incomplete => {}
                    Hello::NotTls => return Ok((Opening::Decided { sni: None, held }, down)),
                    Hello::Tls(sni) => return Ok((Opening::Decided { sni, held }, down)),
                    Hello::Unreadable(why) => return Ok((Opening::Unreadable(why.into()), down)),
                }
            }
            r = upstream.read(&mut b), if upstream_open => match r {
                Ok(0) | Err(_) => {
                    upstream_open = false;
                    let _ = timeout(limits.idle, client.shutdown()).await;
                }
                Ok(n) => {
                    timeout(limits.idle, client.write_all(&b[..n])).await.map_err(|_| stalled())??;
                    down += n as u64;
                    last = Instant::now();
                }
            },
            _ = timer.as_mut() => {
                let now = Instant::now();
                if hello_by.is_some_and(|by| by <= now) {
                    let why = format!("not whole within {:?}", limits.hello);
                    return Ok((Opening::Unreadable(why), down));
                }
                let idle_at = last + limits.idle;
                if idle_at <= now {
                    return Ok((Opening::Idle, down));
                }
                timer.as_mut().reset(hello_by.map_or(idle_at, |by| by.min(idle_at)));
            }
        }
    }
}

pub(super) fn note_sni(guard: &mut CallGuard, host: &Host, name: Option<String>) {
    let Some(rec) = guard.rec() else { return };
    let Some(name) = name else { return };
    let differs = match host {
        Host::Name(h) => *h != name,
        // CONNECT to an address with a name in the hello: the name is the real destination.
        Host::Ip(_) => false,
    };
    if differs {
        let note = format!("TLS server name {name:?} differs from the CONNECT host {host}");
        if rec.decision == Decision::Allowed {
            rec.decision = Decision::Reported;
            rec.reason = note;
        } else {
            rec.reason = format!("{}; {note}", rec.reason);
        }
    }
    rec.sni = Some(name);
}

#[cfg(test)]
mod tests;

//! A CONNECT tunnel: relay bytes both ways from the 200 on, reading the TLS ClientHello's
//! server name as it passes (TLS is never terminated), and report a name that differs from the
//! CONNECT target. Server-first protocols are not held up: nothing waits for the client.

use super::sni::{self, Hello};
use crate::record::CallGuard;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sightline_policy::{Decision, Host};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::TcpStream;

/// What the tunnel learned from the client's first bytes.
#[derive(Default)]
struct Sniffer {
    first: Vec<u8>,
    done: bool,
    sni: Option<String>,
}

impl Sniffer {
    fn feed(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        self.first.extend_from_slice(chunk);
        match sni::parse(&self.first) {
            Hello::Incomplete if self.first.len() < sni::MAX_HELLO => return,
            Hello::Tls(name) => self.sni = name,
            _ => {}
        }
        self.done = true;
        self.first = Vec::new();
    }
}

pub(super) async fn relay(
    upgrade: OnUpgrade,
    upstream: TcpStream,
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
    let mut sniffer = Sniffer::default();
    let result = crate::server::relay(TokioIo::new(client), upstream, idle, |chunk| {
        sniffer.feed(chunk)
    })
    .await;
    note_sni(&mut guard, &host, sniffer.sni);
    match result {
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

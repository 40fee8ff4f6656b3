//! Listening sockets handed over at start: by systemd socket activation (`LISTEN_FDS`, with
//! `LISTEN_PID` naming this process) or by the Sightline this one replaces on an upgrade. A
//! listener whose address a config names is taken from here instead of being bound, so a
//! restart or an upgrade never has a moment without a listening socket.

use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

static INHERITED: Mutex<Vec<TcpListener>> = Mutex::new(Vec::new());

/// Takes the sockets passed in the environment and clears its variables (so a process started
/// from this one does not take them too). Call before any thread starts.
pub fn from_env() {
    let mut fds = listenfd::ListenFd::from_env();
    let mut found = Vec::new();
    for i in 0..fds.len() {
        match fds.take_tcp_listener(i) {
            Ok(Some(l)) => found.push(l),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(index = i, error = %e, "passed socket is not a TCP listener; ignored")
            }
        }
    }
    if !found.is_empty() {
        tracing::info!(sockets = found.len(), "listening sockets inherited");
    }
    INHERITED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(found);
}

/// The inherited listener bound to `addr`, if one was passed.
pub(super) fn take(addr: SocketAddr) -> Option<TcpListener> {
    let mut all = INHERITED.lock().unwrap_or_else(|p| p.into_inner());
    let i = all
        .iter()
        .position(|l| l.local_addr().is_ok_and(|a| a == addr))?;
    Some(all.swap_remove(i))
}

/// Inherited sockets no config address claimed; closed (a warning names them).
pub(super) fn close_unclaimed() {
    let mut all = INHERITED.lock().unwrap_or_else(|p| p.into_inner());
    for l in all.drain(..) {
        tracing::warn!(addr = ?l.local_addr().ok(), "inherited socket matches no listen address; closed");
    }
}

//! systemd's service notification protocol (`sd_notify`): one datagram of `KEY=VALUE` lines
//! to the Unix socket named by `NOTIFY_SOCKET` — a path, or an abstract-namespace name written
//! with a leading `@`. Without the variable every call does nothing, so the same binary runs
//! under systemd (`Type=notify`) and anywhere else.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Where notifications go, read once from `NOTIFY_SOCKET`.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Target>,
    /// On an upgrade, the socket the Sightline being replaced waits on for this one's first
    /// READY=1 (`SIGHTLINE_READY_SOCKET`); told once.
    handoff: std::sync::Arc<std::sync::Mutex<Option<PathBuf>>>,
}

/// The variable naming the socket an upgrading Sightline waits on for its successor's READY=1.
pub const READY_SOCKET_VAR: &str = "SIGHTLINE_READY_SOCKET";

#[derive(Clone, Debug)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` names, or one that sends nothing.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|v| {
            let bytes = std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec();
            match bytes.first() {
                Some(b'@') => Some(Target::Abstract(bytes[1..].to_vec())),
                Some(b'/') => Some(Target::Path(PathBuf::from(v))),
                _ => {
                    tracing::warn!("NOTIFY_SOCKET is neither a path nor an @name; not notifying");
                    None
                }
            }
        });
        let handoff = std::env::var_os(READY_SOCKET_VAR).map(PathBuf::from);
        Notifier {
            target,
            handoff: std::sync::Arc::new(std::sync::Mutex::new(handoff)),
        }
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines). Failures are logged, never fatal:
    /// the service works without its supervisor hearing of it.
    pub fn send(&self, state: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send_to(target, state.as_bytes()) {
            tracing::warn!(error = %e, "cannot notify the service manager");
        }
    }

    /// The listeners are bound and serving.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        let handoff = self
            .handoff
            .lock()
            .map(|mut h| h.take())
            .unwrap_or_default();
        if let Some(path) = handoff {
            if let Err(e) = send_to(&Target::Path(path), b"READY=1") {
                tracing::warn!(error = %e, "cannot tell the Sightline being replaced");
            }
        }
    }

    /// A reload begins; [`Notifier::ready`] ends it.
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// The drain begins.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining");
    }
}

fn send_to(target: &Target, msg: &[u8]) -> std::io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    match target {
        Target::Path(p) => sock.send_to(msg, p),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg, &addr)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Target::Abstract(_) => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "abstract socket names exist on Linux only",
        )),
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as systemd expects with `RELOADING=1`.
fn monotonic_usec() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_to_a_path_and_to_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("sightline-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path)),
            ..Notifier::default()
        };
        n.reloading();
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(usec > 0);
        std::fs::remove_dir_all(dir).ok();

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("sightline-notify-test-{}", std::process::id());
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            let listener = UnixDatagram::bind_addr(&addr).unwrap();
            let n = Notifier {
                target: Some(Target::Abstract(name.into_bytes())),
                ..Notifier::default()
            };
            n.stopping();
            let len = listener.recv(&mut buf).unwrap();
            assert!(buf[..len].starts_with(b"STOPPING=1"));
        }
    }
}

//! Upgrade without refusing a connection (SIGUSR2): start the binary now at this process's
//! path with the same arguments, hand it the listening sockets (`LISTEN_FDS`, as systemd socket
//! activation does), wait for its READY=1, then drain. While both run they accept from the same
//! sockets; the kernel never has a moment without a listener.
//!
//! The sockets are passed as consecutive descriptors from `LISTEN_FDS_FIRST_FD`: copies made
//! above every descriptor in use, inheritable for the time of the spawn only.

use super::notify::READY_SOCKET_VAR;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long the successor gets to bind everything else and say READY=1.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Starts the successor and waits until it serves; returns its process id. On error the
/// successor (if it started) is stopped and this process keeps serving.
pub async fn start_successor(listeners: &[OwnedFd]) -> std::io::Result<u32> {
    let exe = std::env::current_exe()?;
    let ready_path = std::env::temp_dir().join(format!(
        "sightline-upgrade-{}-{}.sock",
        std::process::id(),
        fastrand::u64(..)
    ));
    let ready = tokio::net::UnixDatagram::bind(&ready_path)?;
    let result = async {
        let passed = consecutive_copies(listeners)?;
        let first = passed.first().map_or(3, AsRawFd::as_raw_fd);
        for fd in &passed {
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
        }
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(std::env::args_os().skip(1))
            .env("LISTEN_FDS", passed.len().to_string())
            .env("LISTEN_FDS_FIRST_FD", first.to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(READY_SOCKET_VAR, &ready_path)
            .stdin(std::process::Stdio::null());
        let spawned = cmd.spawn();
        // This process's copies close; the child has its own.
        drop(passed);
        let mut child = spawned?;
        let pid = child.id();
        tracing::info!(pid, exe = %exe.display(), "upgrade: successor started");
        let deadline = Instant::now() + READY_WITHIN;
        let mut buf = [0u8; 512];
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "the successor exited before it was ready ({status})"
                )));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::other(
                    "the successor was not ready in time; stopped",
                ));
            }
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), ready.recv(&mut buf)).await
            {
                if buf[..n].split(|b| *b == b'\n').any(|l| l == b"READY=1") {
                    return Ok(pid);
                }
            }
        }
    }
    .await;
    let _ = std::fs::remove_file(&ready_path);
    result
}

/// Copies of `fds` at consecutive descriptor numbers, above every descriptor in use (so the
/// lowest free number at or above the base is the base itself, then the next).
fn consecutive_copies(fds: &[OwnedFd]) -> std::io::Result<Vec<OwnedFd>> {
    let highest = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(1024);
    let mut base = highest.saturating_add(64);
    for _ in 0..8 {
        let mut copies = Vec::with_capacity(fds.len());
        for (i, fd) in fds.iter().enumerate() {
            let want = base + i32::try_from(i).unwrap_or(0);
            copies.push(rustix::io::fcntl_dupfd_cloexec(fd, want)?);
        }
        let consecutive = copies
            .iter()
            .enumerate()
            .all(|(i, c)| c.as_raw_fd() == base + i32::try_from(i).unwrap_or(0));
        if consecutive {
            return Ok(copies);
        }
        // Another thread opened descriptors there meanwhile: try higher up.
        base = copies
            .iter()
            .map(AsRawFd::as_raw_fd)
            .max()
            .unwrap_or(base)
            .saturating_add(64);
    }
    Err(std::io::Error::other(
        "cannot place the listening sockets at consecutive descriptors",
    ))
}

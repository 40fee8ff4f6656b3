//! Upgrade without refusing a connection (SIGUSR2): start the binary now at this process's
//! path with the same arguments, hand it the listening sockets (`LISTEN_FDS`, as systemd socket
//! activation does), wait for its READY=1, then drain. While both run they accept from the same
//! sockets; the kernel never has a moment without a listener.

use super::notify::READY_SOCKET_VAR;
use command_fds::{CommandFdExt, FdMapping};
use std::os::fd::OwnedFd;
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
        let mut mappings = Vec::new();
        for (i, fd) in listeners.iter().enumerate() {
            mappings.push(FdMapping {
                parent_fd: fd.try_clone()?,
                child_fd: 3 + i32::try_from(i).unwrap_or(0),
            });
        }
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(std::env::args_os().skip(1))
            .env("LISTEN_FDS", listeners.len().to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(READY_SOCKET_VAR, &ready_path)
            .stdin(std::process::Stdio::null());
        cmd.fd_mappings(mappings)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut child = cmd.spawn()?;
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

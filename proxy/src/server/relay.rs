//! Byte relay for upgraded connections and CONNECT tunnels, closed when idle: a copy loop for
//! any two streams, and for two plain TCP sockets a relay that splices ([`tcp`]).

#[cfg(target_os = "linux")]
mod pipe;
mod tcp;

pub use tcp::{relay_tcp, upgraded_tcp, TcpSide};

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, Instant};

/// Bytes read at a time from each side. (64 KiB reads cost more CPU per byte relayed on
/// loopback than 32 KiB ones: see BENCHMARKS.md, "Bodies and egress".)
const BUF: usize = 32 * 1024;

/// Copies both ways until both sides have closed, or nothing moved for `idle` (a peer that
/// stops reading counts as idle too). `inspect` sees every chunk the client sends, as it is
/// relayed (the egress tunnel reads the TLS server name from it). Returns the bytes sent by
/// the client and by the upstream.
pub async fn relay<C, U>(
    client: C,
    upstream: U,
    idle: Duration,
    mut inspect: impl FnMut(&[u8]),
) -> std::io::Result<(u64, u64)>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    // One task polls both reads; a write happens with both reads put down, so neither side's
    // stream is shared between futures (no split, no lock per poll).
    let (mut client, mut upstream) = (client, upstream);
    let (mut a, mut b) = (vec![0u8; BUF], vec![0u8; BUF]);
    let (mut up, mut down) = (0u64, 0u64);
    let (mut client_open, mut upstream_open) = (true, true);
    let stalled = || std::io::Error::new(std::io::ErrorKind::TimedOut, "peer stopped reading");
    // One timer for the whole relay, moved only when it fires: bytes moving just note the
    // time, so a busy tunnel does no timer work per chunk.
    let mut last = Instant::now();
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(quiet);
    while client_open || upstream_open {
        tokio::select! {
            r = client.read(&mut a), if client_open => match r {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = timeout(idle, upstream.shutdown()).await;
                }
                Ok(n) => {
                    inspect(&a[..n]);
                    timeout(idle, upstream.write_all(&a[..n])).await.map_err(|_| stalled())??;
                    up += n as u64;
                    last = Instant::now();
                }
            },
            r = upstream.read(&mut b), if upstream_open => match r {
                Ok(0) | Err(_) => {
                    upstream_open = false;
                    let _ = timeout(idle, client.shutdown()).await;
                }
                Ok(n) => {
                    timeout(idle, client.write_all(&b[..n])).await.map_err(|_| stalled())??;
                    down += n as u64;
                    last = Instant::now();
                }
            },
            _ = quiet.as_mut() => {
                let due = last + idle;
                if due <= Instant::now() {
                    break;
                }
                quiet.as_mut().reset(due);
            }
        }
    }
    Ok((up, down))
}

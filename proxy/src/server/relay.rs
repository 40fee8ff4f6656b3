//! Byte relay for upgraded connections and CONNECT tunnels, closed when idle.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, Instant};

/// Bytes read at a time from each side at first: a tunnel that carries little holds little.
const BUF_START: usize = 16 * 1024;
/// Bytes read at a time from a side whose reads filled the first buffer (a bulk transfer):
/// fewer reads and writes per byte.
const BUF_MAX: usize = 64 * 1024;

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
    let (mut a, mut b) = (vec![0u8; BUF_START], vec![0u8; BUF_START]);
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
                    grow(&mut a, n);
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
                    grow(&mut b, n);
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

/// A read that filled its buffer: the side sends in bulk, and reads more at a time from now on.
fn grow(buf: &mut Vec<u8>, read: usize) {
    if read == buf.len() && buf.len() < BUF_MAX {
        buf.resize(BUF_MAX, 0);
    }
}

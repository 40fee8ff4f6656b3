//! Byte relay for upgraded connections and CONNECT tunnels, closed when idle.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Copies both ways until both sides have closed, or nothing moved for `idle`; returns the
/// bytes sent by the client and by the upstream.
pub async fn relay<C, U>(client: C, upstream: U, idle: Duration) -> std::io::Result<(u64, u64)>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut up, mut down) = (0u64, 0u64);
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        tokio::select! {
            r = cr.read(&mut a), if client_open => match r {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = uw.shutdown().await;
                }
                Ok(n) => {
                    uw.write_all(&a[..n]).await?;
                    up += n as u64;
                }
            },
            r = ur.read(&mut b), if upstream_open => match r {
                Ok(0) | Err(_) => {
                    upstream_open = false;
                    let _ = cw.shutdown().await;
                }
                Ok(n) => {
                    cw.write_all(&b[..n]).await?;
                    down += n as u64;
                }
            },
            _ = tokio::time::sleep(idle) => break,
        }
    }
    Ok((up, down))
}

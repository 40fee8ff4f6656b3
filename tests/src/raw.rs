//! Raw sockets for hostile-input tests: bytes no well-behaved client library would send, and
//! upstreams that answer with bytes no well-behaved server would.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Writes `bytes` on a new connection, then reads until the peer closes, or panics if it
/// keeps the connection open past `deadline`.
pub async fn exchange(addr: SocketAddr, bytes: &[u8], deadline: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The peer may close before reading everything; what it answered is what counts.
    let _ = s.write_all(bytes).await;
    read_until_closed(&mut s, deadline).await
}

/// Reads until EOF or error; returns what was read, or panics if the peer keeps the
/// connection open past `deadline`.
pub async fn read_until_closed(s: &mut TcpStream, deadline: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {deadline:?}; read so far: {}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status codes of every HTTP/1.1 status line in `bytes`, in order.
pub fn statuses(bytes: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

/// An upstream that reads one request head and answers every connection with `reply`
/// verbatim, then closes. For malformed responses.
pub struct RawUpstream {
    /// Its address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpstream {
    /// Starts it on 127.0.0.1, port 0.
    pub async fn start(reply: &'static [u8]) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tcp.write_all(reply).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        RawUpstream { addr, task }
    }
}

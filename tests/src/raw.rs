//! Raw sockets for hostile-input tests: bytes no well-behaved client library would send, and
//! upstreams that answer with bytes no well-behaved server would.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
                    if next_head(&mut tcp, &mut Vec::new()).await.is_none() {
                        return;
                    }
                    let _ = tcp.write_all(reply).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        RawUpstream { addr, task }
    }
}

/// Reads from `tcp` into `buf` until `buf` begins with a whole request head, then takes the
/// head out of `buf` (what follows it stays) and returns it; `None` if the peer closes or
/// fails first.
pub async fn next_head(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if !read_more(tcp, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    Some(head)
}

/// Reads from `tcp` until `buf` holds at least `len` bytes; false if the peer closes or fails
/// first.
pub async fn read_to(tcp: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> bool {
    while buf.len() < len {
        if !read_more(tcp, buf).await {
            return false;
        }
    }
    true
}

async fn read_more(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match tcp.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A loopback upstream (127.0.0.1, port 0) that serves each connection it accepts with a
/// scripted function, counting the connections accepted and those whose serving has ended.
pub struct CountingUpstream {
    /// Its address.
    pub addr: SocketAddr,
    accepted: watch::Receiver<u64>,
    closed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingUpstream {
    /// Starts it; `serve` gets each accepted connection and a watch of the number accepted so
    /// far (this one included).
    pub async fn start<F, Fut>(serve: F) -> CountingUpstream
    where
        F: Fn(TcpStream, watch::Receiver<u64>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        CountingUpstream::on(listener, serve)
    }

    /// The same on a listener already bound.
    pub fn on<F, Fut>(listener: TcpListener, serve: F) -> CountingUpstream
    where
        F: Fn(TcpStream, watch::Receiver<u64>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let (accepted_tx, accepted) = watch::channel(0u64);
        let closed = Arc::new(AtomicU64::new(0));
        let counted = closed.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                accepted_tx.send_modify(|n| *n += 1);
                let serving = serve(tcp, accepted_tx.subscribe());
                let closed = counted.clone();
                tokio::spawn(async move {
                    serving.await;
                    closed.fetch_add(1, SeqCst);
                });
            }
        });
        CountingUpstream {
            addr,
            accepted,
            closed,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        *self.accepted.borrow()
    }

    /// Connections whose serving has ended.
    pub fn closed(&self) -> u64 {
        self.closed.load(SeqCst)
    }
}

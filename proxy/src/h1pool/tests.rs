//! The deadline of an exchange on a pooled connection, whose timer an earlier exchange may
//! have left set. Time is paused, so every wait below is exact rather than slept.

use super::*;
use http_body_util::Empty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant as TokioInstant;

type Body = Empty<Bytes>;

/// Dials the test upstream; every attempt waits for its head until `deadline`.
struct TestDial {
    addr: std::net::SocketAddr,
    deadline: TokioInstant,
}

impl Dial<Body> for TestDial {
    type Error = BoxError;

    fn connect(&self) -> impl Future<Output = Result<Box<Conn<Body>>, BoxError>> + Send {
        let addr = self.addr;
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let io = hyper_rustls::MaybeHttpsStream::Http(TokioIo::new(tcp));
            Ok(Conn::native(io, 8192))
        }
    }

    fn send<'c>(
        &'c self,
        conn: &'c mut Conn<Body>,
    ) -> impl Future<Output = Result<Sent<Body>, BoxError>> + Send + 'c {
        let sent = conn.sent_by(self.deadline);
        async move {
            sent.await
                .ok_or_else(|| BoxError::from("no response head by the deadline"))
        }
    }

    fn failed(&self, error: BoxError) -> BoxError {
        error
    }
}

/// An upstream on one connection answering its requests in turn: each at the instant given
/// (an empty `200`), or, for `None`, never.
async fn upstream(answers: Vec<Option<TokioInstant>>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        for at in answers {
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                match tcp.read(&mut chunk).await {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
            }
            buf.clear();
            let Some(at) = at else {
                // Holds the connection without an answer until the client closes it.
                let mut chunk = [0u8; 1024];
                while matches!(tcp.read(&mut chunk).await, Ok(n) if n > 0) {}
                return;
            };
            tokio::time::sleep_until(at).await;
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
            if tcp.write_all(reply).await.is_err() {
                return;
            }
        }
    });
    addr
}

/// One exchange through `pool`, its body released at once (empty): the connection goes back.
async fn call(
    pool: &Arc<Pool<Body>>,
    addr: std::net::SocketAddr,
    deadline: TokioInstant,
) -> Result<http::StatusCode, BoxError> {
    let req = Request::get("/").body(Empty::new()).unwrap();
    let dial = TestDial { addr, deadline };
    let now = TokioInstant::now().into_std();
    let (resp, conn) = exchange(Some(&**pool), dial, req, NextHop::none(), now).await?;
    let status = resp.status();
    drop(UpstreamBody::pooled(resp.into_body(), conn, pool.clone()));
    Ok(status)
}

#[tokio::test(start_paused = true)]
async fn a_timer_left_by_an_earlier_exchange_neither_cuts_the_next_short_nor_stretches_it() {
    let timeout = Duration::from_secs(10);
    let t0 = TokioInstant::now();
    // The second call is answered 12 s in: after the first call's deadline (10 s), before its
    // own (15 s). The third is never answered.
    let addr = upstream(vec![Some(t0), Some(t0 + Duration::from_secs(12)), None]).await;
    let pool = Pool::new(1, Duration::from_secs(3600));

    let first = call(&pool, addr, t0 + timeout)
        .await
        .expect("answered at once");
    assert_eq!(first, 200);
    assert_eq!(pool.idle(), 1, "the connection went back to the pool");

    tokio::time::sleep(Duration::from_secs(5)).await;
    let t1 = TokioInstant::now();
    let second = call(&pool, addr, t1 + timeout).await;
    assert_eq!(second.expect("answered within its own deadline"), 200);
    assert_eq!(
        pool.idle(),
        1,
        "the second call rode the same connection back"
    );

    let t2 = TokioInstant::now();
    let third = tokio::time::timeout(timeout * 2, call(&pool, addr, t2 + timeout))
        .await
        .expect("the unanswered call ends at its deadline");
    assert!(third.is_err(), "{third:?}");
    assert!(
        TokioInstant::now() >= t2 + timeout,
        "not before its deadline"
    );
}

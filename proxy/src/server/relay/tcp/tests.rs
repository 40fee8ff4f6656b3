use super::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Both ends of a loopback TCP connection.
async fn connected() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap());
    let (near, far) = tokio::join!(near, listener.accept());
    (near.unwrap(), far.unwrap().0)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// A relay between two fresh connections; the far ends of the client and the upstream.
async fn start(
    pending: &[u8],
    idle: Duration,
    splice: bool,
    stall: Option<(Duration, Arc<ConnActivity>)>,
) -> (
    tokio::task::JoinHandle<io::Result<(u64, u64)>>,
    TcpStream,
    TcpStream,
) {
    let ((client_far, client), (upstream, upstream_far)) = (connected().await, connected().await);
    let side = TcpSide {
        tcp: client,
        pending: pending.to_vec(),
        stall,
    };
    let relay = tokio::spawn(relay_sockets(side, upstream, idle, splice));
    (relay, client_far, upstream_far)
}

async fn both_ways(splice: bool) {
    const LEN: usize = 3 << 20;
    let (relay, client, upstream) = start(b"early", Duration::from_secs(30), splice, None).await;
    let (up, down) = (pattern(LEN, 1), pattern(LEN, 2));
    let sent_up = up.clone();
    let sent_down = down.clone();
    let client = tokio::spawn(async move {
        let (mut r, mut w) = client.into_split();
        w.write_all(&sent_up).await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    });
    // The upstream answers only once the client has ended its side: the half-close reaches it
    // and its bytes still reach the client.
    let mut upstream = upstream;
    let mut got_up = Vec::new();
    upstream.read_to_end(&mut got_up).await.unwrap();
    upstream.write_all(&sent_down).await.unwrap();
    upstream.shutdown().await.unwrap();
    let got_down = client.await.unwrap();
    assert_eq!(got_up.len(), LEN + 5);
    assert!(
        got_up[..5] == *b"early" && got_up[5..] == up[..],
        "client to upstream"
    );
    assert!(got_down == down, "upstream to client");
    let moved = relay.await.unwrap().unwrap();
    assert_eq!(moved, (LEN as u64 + 5, LEN as u64));
}

#[tokio::test]
async fn spliced_bytes_arrive_in_order_after_the_pending_ones_through_a_half_close() {
    both_ways(true).await;
}

#[tokio::test]
async fn copied_bytes_arrive_in_order_after_the_pending_ones_through_a_half_close() {
    both_ways(false).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_open_tunnel_with_nothing_in_flight_holds_no_pipe() {
    const LEN: usize = 4 << 20;
    let before = super::pipe::kept();
    let (relay, mut client, mut upstream) = start(b"", Duration::from_secs(30), true, None).await;
    let sent = pattern(LEN, 4);
    let mut got = vec![0u8; LEN];
    let (wrote, read) = tokio::join!(client.write_all(&sent), upstream.read_exact(&mut got));
    wrote.unwrap();
    read.unwrap();
    assert!(got == sent);
    // Every chunk was written whole: the pipes of the spliced ones are back on this worker's
    // free list (the test's one thread), while the tunnel stays open.
    assert!(super::pipe::kept() > before);
    assert!(!relay.is_finished());
    drop((client, upstream));
    assert_eq!(relay.await.unwrap().unwrap(), (LEN as u64, 0));
}

#[tokio::test]
async fn a_tunnel_where_nothing_moves_closes_after_the_idle_timeout() {
    let (relay, mut client, _upstream) = start(b"", Duration::from_millis(200), true, None).await;
    let moved = tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("closed when idle")
        .unwrap()
        .unwrap();
    assert_eq!(moved, (0, 0));
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_client_that_stops_reading_fails_the_relay_at_the_stall_limit() {
    for splice in [true, false] {
        let activity = Arc::new(ConnActivity::default());
        let stall = Some((Duration::from_millis(200), activity.clone()));
        let (relay, _client, mut upstream) =
            start(b"", Duration::from_secs(30), splice, stall).await;
        // The upstream sends until its writes stop being taken (bounded: 256 MiB).
        let sending = tokio::spawn(async move {
            let chunk = pattern(1 << 20, 3);
            for _ in 0..256 {
                if upstream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let err = tokio::time::timeout(Duration::from_secs(10), relay)
            .await
            .expect("the stalled relay fails")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("the client read nothing"), "{err}");
        assert!(activity.write_stalled());
        sending.abort();
    }
}

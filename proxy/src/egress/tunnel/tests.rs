use super::*;
use crate::egress::sni::tests::{message, records};
use tokio::io::{duplex, DuplexStream};

const LIMITS: TunnelTimeouts = TunnelTimeouts {
    idle: Duration::from_secs(30),
    hello: Duration::from_millis(200),
};

/// The proxy's ends of a client and a destination connection, and the far ends.
fn ends() -> ((DuplexStream, DuplexStream), (DuplexStream, DuplexStream)) {
    let (client, client_far) = duplex(1 << 20);
    let (upstream, upstream_far) = duplex(1 << 20);
    ((client, upstream), (client_far, upstream_far))
}

#[tokio::test]
async fn a_hello_split_across_records_and_writes_is_read_whole() {
    let ((mut client, mut upstream), (mut client_far, _upstream_far)) = ends();
    let hello = records(&message(Some("evil.example"), 300), 7);
    let sent = hello.clone();
    let writer = tokio::spawn(async move {
        for piece in sent.chunks(50) {
            client_far.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        client_far
    });
    let (got, down) = opening(&mut client, &mut upstream, LIMITS).await.unwrap();
    assert_eq!(
        got,
        Opening::Decided {
            sni: Some("evil.example".into()),
            held: hello
        }
    );
    assert_eq!(down, 0);
    writer.await.unwrap();
}

#[tokio::test]
async fn server_first_protocols_are_not_held_up() {
    let ((mut client, mut upstream), (mut client_far, mut upstream_far)) = ends();
    let far = tokio::spawn(async move {
        upstream_far.write_all(b"SSH-2.0-server\r\n").await.unwrap();
        let mut banner = [0u8; 16];
        client_far.read_exact(&mut banner).await.unwrap();
        assert_eq!(&banner, b"SSH-2.0-server\r\n");
        client_far.write_all(b"SSH-2.0-client\r\n").await.unwrap();
        (client_far, upstream_far)
    });
    let (got, down) = opening(&mut client, &mut upstream, LIMITS).await.unwrap();
    assert_eq!(
        got,
        Opening::Decided {
            sni: None,
            held: b"SSH-2.0-client\r\n".to_vec()
        }
    );
    assert_eq!(down, 16);
    far.await.unwrap();
}

#[tokio::test]
async fn an_unfinished_hello_fails_closed() {
    let hello = records(&message(Some("evil.example"), 0), 20);
    // Stalls after a few records.
    let ((mut client, mut upstream), (mut client_far, _upstream_far)) = ends();
    client_far.write_all(&hello[..60]).await.unwrap();
    let (got, _) = opening(&mut client, &mut upstream, LIMITS).await.unwrap();
    assert_eq!(
        got,
        Opening::Unreadable(format!("not whole within {:?}", LIMITS.hello))
    );
    // Leaves after a few records.
    let ((mut client, mut upstream), (mut client_far, _upstream_far)) = ends();
    client_far.write_all(&hello[..60]).await.unwrap();
    drop(client_far);
    let (got, _) = opening(&mut client, &mut upstream, LIMITS).await.unwrap();
    assert_eq!(
        got,
        Opening::Unreadable("the client closed before the ClientHello ended".into())
    );
    // Never ends within the size bound: 64 KiB of one-byte records.
    let ((mut client, mut upstream), (mut client_far, _upstream_far)) = ends();
    let endless = records(&message(Some("evil.example"), 20_000), 1);
    let writer = tokio::spawn(async move {
        let _ = client_far.write_all(&endless).await;
        client_far
    });
    let (got, _) = opening(&mut client, &mut upstream, LIMITS).await.unwrap();
    assert_eq!(
        got,
        Opening::Unreadable("the ClientHello exceeds 64 KiB".into())
    );
    writer.await.unwrap();
}

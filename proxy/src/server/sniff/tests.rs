use super::*;
use tokio::io::AsyncWriteExt;

/// Sends `parts` one write at a time, then closes; returns what the sniffer decided and every
/// byte read back through the replaying stream.
async fn sniffed(parts: &[&[u8]]) -> Option<(Proto, Vec<u8>)> {
    let (mut client, server) = tokio::io::duplex(64);
    let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
    let writer = tokio::spawn(async move {
        for p in parts {
            client.write_all(&p).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let found = sniff(server).await.unwrap();
    writer.await.unwrap();
    let (proto, mut replay) = found?;
    let mut all = Vec::new();
    replay.read_to_end(&mut all).await.unwrap();
    Some((proto, all))
}

#[tokio::test]
async fn an_http1_request_is_told_by_its_first_byte_and_replayed_whole() {
    let (proto, bytes) = sniffed(&[b"GET / HTTP/1.1\r\n", b"Host: a\r\n\r\n"])
        .await
        .unwrap();
    assert_eq!(proto, Proto::H1);
    assert_eq!(bytes, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[tokio::test]
async fn the_preface_in_pieces_is_http2() {
    let (proto, bytes) = sniffed(&[b"PRI * HT", b"TP/2.0\r\n\r\nSM\r\n\r\n", b"\x00\x00"])
        .await
        .unwrap();
    assert_eq!(proto, Proto::H2);
    assert_eq!(bytes, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00");
}

#[tokio::test]
async fn a_start_like_the_preface_that_departs_from_it_is_http1() {
    let (proto, bytes) = sniffed(&[b"PRI * HTTP/1.1\r\n\r\n"]).await.unwrap();
    assert_eq!(proto, Proto::H1);
    assert_eq!(bytes, b"PRI * HTTP/1.1\r\n\r\n");
}

#[tokio::test]
async fn a_client_that_closes_first_is_none() {
    assert!(sniffed(&[]).await.is_none());
    // Closed mid-preface: still undecided, and nothing to serve.
    assert!(sniffed(&[b"PRI * "]).await.is_none());
}

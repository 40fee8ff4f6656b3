use super::*;

#[test]
fn an_http_head_gives_its_method_path_and_host() {
    let o = parse_head(
        b"POST /v1/charges?x=1 HTTP/1.1\r\nHost: api.partner.example\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(
        o,
        Opening::Http {
            method: Method::POST,
            path: "/v1/charges".into(),
            host: Some("api.partner.example".into()),
        }
    );
}

#[test]
fn heads_that_could_mislead_the_judge_are_unreadable() {
    for head in [
        &b"GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\nHost: a.example\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a.example\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: a.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"G\xffT / HTTP/1.1\r\n\r\n",
    ] {
        assert!(
            matches!(parse_head(head), Opening::Unreadable(_)),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
}

#[tokio::test]
async fn the_opening_is_read_across_chunks_and_held_whole() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let head = b"GET /x HTTP/1.1\r\nHost: h.example\r\n\r\nbody";
    let writer = tokio::spawn(async move {
        for chunk in head.chunks(5) {
            a.write_all(chunk).await.unwrap();
        }
        a
    });
    let (o, held) = opening(&mut b, 4096, Duration::from_secs(5)).await;
    assert!(matches!(o, Opening::Http { ref host, .. } if host.as_deref() == Some("h.example")));
    assert!(held.starts_with(b"GET /x HTTP/1.1\r\n"));
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn an_endless_head_and_a_silent_caller_are_not_waited_on_forever() {
    let (mut a, mut b) = tokio::io::duplex(1 << 16);
    a.write_all(&[b'a'; 300]).await.unwrap();
    let (o, _) = opening(&mut b, 256, Duration::from_secs(5)).await;
    assert!(matches!(o, Opening::Unreadable(_)), "{o:?}");
    let (_a, mut b) = tokio::io::duplex(64);
    let (o, _) = opening(&mut b, 256, Duration::from_millis(50)).await;
    assert_eq!(o, Opening::Silent);
}

#[tokio::test]
async fn a_tls_hello_gives_its_server_name() {
    let m = crate::egress::sni::tests::message(Some("api.partner.example"), 0);
    let hello = crate::egress::sni::tests::records(&m, m.len());
    let (mut a, mut b) = tokio::io::duplex(1 << 16);
    a.write_all(&hello).await.unwrap();
    let (o, held) = opening(&mut b, 256, Duration::from_secs(5)).await;
    assert_eq!(o, Opening::Tls(Some("api.partner.example".into())));
    assert_eq!(held, hello);
}

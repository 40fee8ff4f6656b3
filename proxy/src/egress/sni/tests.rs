use super::*;

/// A ClientHello handshake message naming `host` (or no SNI), without a record header.
pub(crate) fn message(host: Option<&str>, padding: usize) -> Vec<u8> {
    let mut exts = Vec::new();
    if let Some(h) = host {
        let h = h.as_bytes();
        let mut sni = Vec::new();
        sni.extend_from_slice(&((h.len() + 3) as u16).to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(h.len() as u16).to_be_bytes());
        sni.extend_from_slice(h);
        exts.extend_from_slice(&0u16.to_be_bytes());
        exts.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        exts.extend_from_slice(&sni);
    }
    // Another extension after the name, and padding (RFC 7685) to make the hello large.
    exts.extend_from_slice(&[0x00, 0x0a, 0x00, 0x02, 0x00, 0x00]);
    exts.extend_from_slice(&[0x00, 0x15]);
    exts.extend_from_slice(&(padding as u16).to_be_bytes());
    exts.resize(exts.len() + padding, 0);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

/// `message` in handshake records of at most `size` payload bytes each.
pub(crate) fn records(message: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in message.chunks(size) {
        out.extend_from_slice(&[0x16, 3, 1]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// A ClientHello in one record.
fn hello(host: Option<&str>) -> Vec<u8> {
    records(&message(host, 0), usize::MAX)
}

/// Feeds `bytes` in pieces of `size`; the answers after each piece.
fn fed(bytes: &[u8], size: usize) -> Vec<Hello> {
    let mut r = HelloReader::new();
    bytes.chunks(size).map(|c| r.feed(c)).collect()
}

#[test]
fn reads_the_server_name() {
    assert_eq!(
        parse(&hello(Some("API.Example.com."))),
        Hello::Tls(Some("api.example.com".into()))
    );
    assert_eq!(parse(&hello(None)), Hello::Tls(None));
}

#[test]
fn a_hello_split_across_records_is_reassembled() {
    let msg = message(Some("evil.example"), 600);
    for size in [1, 2, 3, 4, 5, 40, 100, 333, msg.len() - 1] {
        let split = records(&msg, size);
        assert_eq!(
            parse(&split),
            Hello::Tls(Some("evil.example".into())),
            "records of {size} bytes"
        );
        // However the records arrive, the answer comes with the last byte, not before.
        for piece in [1, 7, 64] {
            let answers = fed(&split, piece);
            let (last, before) = answers.split_last().unwrap();
            assert_eq!(*last, Hello::Tls(Some("evil.example".into())));
            assert!(
                before.iter().all(|h| *h == Hello::Incomplete),
                "{size}/{piece}"
            );
        }
    }
}

#[test]
fn partial_and_foreign_bytes() {
    let full = hello(Some("a.example"));
    for cut in [0, 1, 4, 5, 20, full.len() - 1] {
        assert_eq!(parse(&full[..cut]), Hello::Incomplete, "cut at {cut}");
    }
    assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
    assert_eq!(parse(b"SSH-2.0-OpenSSH"), Hello::NotTls);
    assert_eq!(parse(&[0x16, 0x04, 0, 0, 5]), Hello::NotTls);
}

#[test]
fn unreadable_hellos_are_named() {
    let msg = message(Some("a.example"), 0);
    let split = records(&msg, 50);
    // Something other than a handshake record before the hello ends.
    let mut alert = split[..55].to_vec();
    alert.extend_from_slice(&[0x15, 3, 3, 0, 2, 2, 40]);
    // A record of another version in between.
    let mut version = split[..55].to_vec();
    version.extend_from_slice(&[0x16, 2, 0, 0, 1, 0]);
    // Handshake messages other than ClientHello.
    let mut server_hello = msg.clone();
    server_hello[0] = 2;
    // Two server names.
    let mut twice = message(Some("a.example"), 0);
    let ext_at = 4 + 2 + 32 + 1 + 4 + 2 + 2;
    let sni_ext: Vec<u8> = twice[ext_at..ext_at + 4 + 3 + 2 + 9].to_vec();
    twice.splice(ext_at..ext_at, sni_ext);
    let grow = |m: &mut Vec<u8>, by: usize| {
        let len = u32::from_be_bytes([0, m[1], m[2], m[3]]) as usize + by;
        m[1..4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
        let at = ext_at - 2;
        let ext_len = u16::from_be_bytes([m[at], m[at + 1]]) as usize + by;
        m[at..at + 2].copy_from_slice(&(ext_len as u16).to_be_bytes());
    };
    grow(&mut twice, 18);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            alert,
            "a record other than handshake inside the ClientHello",
        ),
        (version, "a record of another protocol version"),
        (
            records(&server_hello, 100),
            "the first handshake message is not a ClientHello",
        ),
        (vec![0x16, 3, 1, 0, 0], "an empty handshake record"),
        (vec![0x16, 3, 1, 0x50, 0], "a record larger than TLS allows"),
        (records(&twice, 1000), "two server name extensions"),
        // A handshake header announcing 64 KiB of body.
        (
            vec![0x16, 3, 1, 0, 4, 1, 1, 0, 0],
            "the ClientHello exceeds 64 KiB",
        ),
    ];
    for (bytes, why) in cases {
        assert_eq!(parse(&bytes), Hello::Unreadable(why), "{why}");
    }
}

#[test]
fn a_hello_at_the_bound_is_read_and_one_byte_more_is_not() {
    // Four records of up to 16 KiB: their headers and the message fill MAX_HELLO exactly.
    let fixed = message(Some("big.example"), 0).len();
    let fits = MAX_HELLO - 4 * 5 - fixed;
    let at_bound = records(&message(Some("big.example"), fits), 1 << 14);
    assert_eq!(at_bound.len(), MAX_HELLO);
    assert_eq!(parse(&at_bound), Hello::Tls(Some("big.example".into())));
    let over = records(&message(Some("big.example"), fits + 1), 1 << 14);
    assert_eq!(
        parse(&over),
        Hello::Unreadable("the ClientHello exceeds 64 KiB")
    );
    // Records that fill the bound without ending a hello announced at 64 KiB: the next byte is
    // one too many.
    let unfinished = records(&message(Some("big.example"), fits + 20), 1 << 14);
    let mut r = HelloReader::new();
    let filled = [
        &unfinished[..3 * (5 + (1 << 14))],
        &[0x16, 3, 1, 0x3f, 0xec],
        &[1; 0x3fec],
    ]
    .concat();
    assert_eq!(filled.len(), MAX_HELLO);
    assert_eq!(r.feed(&filled), Hello::Incomplete);
    assert_eq!(
        r.feed(&[0x16]),
        Hello::Unreadable("the ClientHello exceeds 64 KiB")
    );
}

#[test]
fn the_answer_never_changes_once_given() {
    let mut r = HelloReader::new();
    assert_eq!(r.feed(b"SSH-2.0"), Hello::NotTls);
    assert_eq!(r.feed(&hello(Some("a.example"))), Hello::NotTls);
    let mut r = HelloReader::new();
    assert_eq!(
        r.feed(&hello(Some("a.example"))),
        Hello::Tls(Some("a.example".into()))
    );
    assert_eq!(r.feed(&[0x15; 10]), Hello::Tls(Some("a.example".into())));
}

#[test]
fn malformed_hellos_never_panic_and_pieces_change_nothing() {
    let full = records(&message(Some("a.example"), 20), 30);
    for i in 0..full.len() {
        let mut m = full.clone();
        m[i] = m[i].wrapping_add(0x80);
        let _ = parse(&m[..i]);
        // However the bytes arrive, the answer is the same.
        let whole = parse(&m);
        for piece in [1, 3, 50] {
            assert_eq!(
                fed(&m, piece).last(),
                Some(&whole),
                "byte {i}, pieces of {piece}"
            );
        }
    }
}

use super::*;

const MAX: usize = 8192;

fn whole(raw: &[u8]) -> Whole {
    match read_whole(raw, false, MAX, true) {
        Ok(Some(w)) => w,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn refused(raw: &[u8]) -> ResponseError {
    match read_whole(raw, false, MAX, true) {
        Err(e) => e,
        other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn same(
    a: &Result<Option<Whole>, ResponseError>,
    b: &Result<Option<Whole>, ResponseError>,
) -> bool {
    match (a, b) {
        (Ok(Some(a)), Ok(Some(b))) => {
            (a.status, a.framing, a.keep_alive, &a.body, &a.trailers)
                == (b.status, b.framing, b.keep_alive, &b.body, &b.trailers)
        }
        (Ok(None), Ok(None)) => true,
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

const SEEDS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-Sum: 1\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end",
    b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
];

#[test]
fn lengths_chunks_and_closes_frame_the_body() {
    let w = whole(SEEDS[0]);
    assert_eq!(
        (w.status, &w.body[..], w.keep_alive),
        (200, &b"hello"[..], true)
    );
    assert_eq!(w.framing, Framing::Length(5));
    let w = whole(SEEDS[1]);
    assert_eq!(w.body, b"abcde");
    assert_eq!(w.trailers.unwrap()["x-sum"], "1");
    let w = whole(SEEDS[3]);
    assert_eq!(
        (w.framing, &w.body[..]),
        (Framing::Close, &b"until the end"[..])
    );
    assert!(!w.keep_alive);
}

#[test]
fn informational_responses_are_skipped() {
    let w = whole(SEEDS[2]);
    assert_eq!((w.status, &w.body[..]), (201, &b"ok"[..]));
    let raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(whole(raw).status, 200);
    assert_eq!(
        refused(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"),
        ResponseError::UnexpectedSwitch
    );
}

#[test]
fn head_204_and_304_have_no_body_whatever_they_say() {
    let w = whole(SEEDS[4]);
    assert_eq!(
        (w.framing, w.body.len(), w.keep_alive),
        (Framing::None, 0, false)
    );
    assert_eq!(whole(SEEDS[5]).framing, Framing::None);
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    let w = read_whole(raw, true, MAX, false).unwrap().unwrap();
    assert_eq!(
        (w.framing, w.used, w.keep_alive),
        (Framing::None, raw.len(), true)
    );
}

#[test]
fn keep_alive_follows_the_version_and_connection() {
    let keep = |raw: &[u8]| parse(raw, false, MAX, false).unwrap().unwrap().0.keep_alive;
    assert!(keep(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!keep(
        b"HTTP/1.1 200 OK\r\nConnection: x, Close\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!keep(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(keep(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ));
    // A body that ends with the connection leaves nothing to keep.
    assert!(!keep(b"HTTP/1.1 200 OK\r\n\r\n"));
}

#[test]
fn ambiguous_framing_and_malformed_heads_are_refused() {
    let cases: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
    ];
    for raw in cases {
        assert!(
            matches!(refused(raw), ResponseError::Malformed(_)),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    let same_twice = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(same_twice.body, b"ok");
}

#[test]
fn oversized_heads_and_too_many_fields_are_refused() {
    let mut raw = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', MAX));
    assert_eq!(
        parse(&raw, false, MAX, false).unwrap_err(),
        ResponseError::TooLarge(MAX)
    );
    let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        raw.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert_eq!(
        parse(&raw, false, 1 << 20, false).unwrap_err(),
        ResponseError::TooLarge(1 << 20)
    );
}

#[test]
fn a_body_cut_short_is_an_error_never_a_short_body() {
    assert_eq!(
        refused(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        ResponseError::ClosedMidBody
    );
    assert_eq!(
        refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
        ResponseError::ClosedMidBody
    );
    assert_eq!(
        refused(b"HTTP/1.1 200 OK\r\nContent-"),
        ResponseError::ClosedBeforeHead
    );
    assert!(matches!(
        refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ResponseError::Chunk(_)
    ));
}

#[test]
fn every_split_into_two_reads_reads_as_the_whole() {
    for raw in SEEDS {
        let all = read_whole(raw, false, MAX, true);
        for cut in 0..=raw.len() {
            let split = read_in_parts(raw, &[cut], false, MAX);
            assert!(
                same(&all, &split),
                "{} cut at {cut}",
                String::from_utf8_lossy(raw)
            );
        }
        // And a byte at a time.
        let cuts: Vec<usize> = (0..raw.len()).collect();
        assert!(same(&all, &read_in_parts(raw, &cuts, false, MAX)));
    }
}

/// The fuzz target's property on mutated responses: any split into two reads reads as the
/// whole does (same status, framing, body and trailers, or the same refusal); nothing panics.
#[test]
fn two_reads_decode_as_one_on_mutated_responses() {
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..20_000 {
        let mut raw = SEEDS[rng.usize(..SEEDS.len())].to_vec();
        for _ in 0..rng.usize(0..4) {
            let at = rng.usize(..raw.len());
            match rng.u8(0..3) {
                0 => raw[at] = rng.u8(..),
                1 => {
                    raw.remove(at);
                }
                _ => raw.insert(at, b"\r\n:;0aF \t1"[rng.usize(..10)]),
            }
        }
        let cut = rng.usize(..=raw.len());
        let head_request = rng.bool();
        let all = read_whole(&raw, head_request, MAX, true);
        let split = read_in_parts(&raw, &[cut], head_request, MAX);
        assert!(
            same(&all, &split),
            "{raw:?} cut at {cut}: {all:?} vs {split:?}"
        );
    }
}

/// The fields a parsed head keeps, in order, as `name: value` lines.
fn kept(headers: &HeaderMap) -> Vec<String> {
    let mut lines: Vec<String> = headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    lines.sort();
    lines
}

#[test]
fn fields_that_never_cross_a_hop_are_left_out_as_the_general_removal_leaves_them() {
    let heads: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nServer: s\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: x-secret, Close\r\nX-Secret: 1\r\nX-Kept: yes\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Secret: 1\r\nConnection: X-SECRET\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nSightline-Error: upstream_timeout\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: x\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTE: trailers, deflate\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, upgrade, te\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: ,\r\nX-A: a\r\nX-A: b\r\nContent-Length: 0\r\n\r\n",
    ];
    for raw in heads {
        let text = String::from_utf8_lossy(raw);
        let (head, _) = parse(raw, false, MAX, false).unwrap().unwrap();
        // The same head with every field kept, then stripped as any other message is.
        let mut whole = HeaderMap::new();
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut fields);
        resp.parse(raw).unwrap();
        for f in resp.headers.iter() {
            whole.append(
                HeaderName::from_bytes(f.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(f.value).unwrap(),
            );
        }
        crate::wire::headers::strip_for_next_hop(&mut whole, false);
        let map = head.fields.into_map();
        assert_eq!(kept(&map), kept(&whole), "{text}");
        // The framing and the connection's fate are read before the fields go.
        assert!(!map.contains_key(header::CONNECTION), "{text}");
    }
    let (head, _) = parse(heads[5], false, MAX, false).unwrap().unwrap();
    assert_eq!(head.framing, Framing::Chunked);
    let (head, _) = parse(heads[1], false, MAX, false).unwrap().unwrap();
    assert!(!head.keep_alive);
    assert_eq!(
        kept(&head.fields.into_map()),
        ["content-length: 0", "x-kept: yes"]
    );
}

#[test]
fn known_field_names_read_as_parsed_names_in_any_case() {
    let names = [
        "Date",
        "ETAG",
        "vary",
        "Server",
        "Expires",
        "Location",
        "Connection",
        "Set-Cookie",
        "Content-Type",
        "Last-Modified",
        "cache-control",
        "Accept-Ranges",
        "Content-Length",
        "Content-Encoding",
        "Transfer-Encoding",
        "X-Custom",
        "Age",
        "Content-Typf",
        "Dat\u{e9}",
    ];
    for n in names {
        assert_eq!(
            field_name(n.as_bytes()),
            HeaderName::from_bytes(n.as_bytes()).ok(),
            "{n}"
        );
    }
    assert_eq!(field_name(b"bad name"), None);
    assert_eq!(field_name(b""), None);
}

/// Heads with the fields the two forms treat apart: repeats, names in any case, hop-by-hop
/// fields, framing fields, fields the proxy sets, a `Connection` naming others.
const FIELD_SEEDS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nServer: s\r\nX-A: 1\r\nset-COOKIE: a=1\r\nX-A: 2\r\nContent-Length: 2\r\nContent-Length: 2\r\nDate: d\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nX-E:\r\nX-S: a  b\r\nUpgrade: h2c\r\nSightline-Error: x\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nVia: 1.0 up\r\nConnection: keep-alive\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Request-Id: up\r\nRateLimit: r\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 404 Not Found\r\nProxy-Authenticate: Basic\r\nTrailer: x\r\nProxy-Connection: close\r\nContent-Length: 1\r\n\r\n",
];

/// The fields of a map, in order, as `name: value` lines.
fn in_order(map: &HeaderMap) -> Vec<String> {
    map.iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

/// The wire form of a head keeps the fields a header map keeps, in the same order, frames the
/// body alike, and refuses what the map refuses; heads it cannot keep go into a map.
#[test]
fn the_wire_form_keeps_and_refuses_what_a_header_map_does() {
    let mut rng = fastrand::Rng::with_seed(16);
    let mut wire = 0;
    for round in 0..20_000 {
        let mut raw = FIELD_SEEDS[round % FIELD_SEEDS.len()].to_vec();
        for _ in 0..rng.usize(0..3) {
            let at = rng.usize(16..raw.len());
            match rng.u8(0..3) {
                0 => raw[at] = rng.u8(..),
                1 => {
                    raw.remove(at);
                }
                _ => raw.insert(at, b"\r\n:,0aF \t-\x7f"[rng.usize(..11)]),
            }
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(len)) = resp.parse(&raw) else {
            continue;
        };
        let version = match resp.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        };
        let text = String::from_utf8_lossy(&raw);
        let framed = |f: &FramingFields| (f.length, f.chunked, f.keep_alive(version));
        let map = map_fields(&raw[..len], resp.headers, version);
        match wire_fields(resp.headers, StatusCode::OK, version) {
            Ok(Some((w, f))) => {
                wire += 1;
                let (map, mf) = map.unwrap();
                assert_eq!(framed(&f), framed(&mf), "{text}");
                assert_eq!(w.length(), mf.length, "{text}");
                assert_eq!(w.has_date(), map.contains_key(header::DATE), "{text}");
                // A map keeps a name's values together, at its first's place; in that order,
                // the lines are the map's fields.
                let lines: Vec<(String, String)> = w
                    .iter()
                    .map(|(k, v)| {
                        let k = String::from_utf8_lossy(k).into_owned();
                        (k, String::from_utf8_lossy(&v).into_owned())
                    })
                    .collect();
                let mut grouped = Vec::new();
                for (i, (k, _)) in lines.iter().enumerate() {
                    if lines[..i].iter().all(|(seen, _)| seen != k) {
                        let values = lines.iter().filter(|(n, _)| n == k);
                        grouped.extend(values.map(|(n, v)| format!("{n}: {v}")));
                    }
                }
                assert_eq!(grouped, in_order(&map), "{text}");
                assert_eq!(Fields::Wire(w).into_map(), map, "{text}");
            }
            Ok(None) => {}
            Err(e) => assert_eq!(Err(e), map.map(|_| ()), "{text}"),
        }
    }
    assert!(wire > 5_000, "only {wire} heads kept in the wire form");
}

/// The wire form's reading of names agrees with the removal's list, the list of fields the
/// proxy sets, and the names' spellings, in any case.
#[test]
fn names_are_told_apart_as_the_lists_tell_them() {
    let others = [
        "content-length",
        "date",
        "etag",
        "vary",
        "server",
        "expires",
        "location",
        "set-cookie",
        "content-type",
        "last-modified",
        "cache-control",
        "accept-ranges",
        "content-encoding",
        "x-a",
        "tf",
        "vib",
        "x-request-ie",
        "ratelimit-polic",
        "keep-alivf",
        "sightline-errors",
    ];
    let lists = crate::wire::headers::HOP_ONLY_NAMES
        .iter()
        .chain(&crate::wire::SET_IN_RESPONSES);
    let mut names: Vec<String> = lists.chain(&others).map(|n| n.to_string()).collect();
    let upper: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
    names.extend(upper);
    for name in &names {
        let raw = name.as_bytes();
        let kind = name_kind(raw);
        let hop = matches!(
            kind,
            Name::TransferEncoding | Name::Connection | Name::Te | Name::HopOnly
        );
        assert_eq!(hop, names_hop_only(raw), "{name}");
        assert_eq!(
            kind == Name::SetByProxy,
            crate::wire::set_in_responses(raw),
            "{name}"
        );
        let spelled = match kind {
            Name::Passed(Some(s)) => Some(s),
            Name::ContentLength => Some("content-length"),
            _ => None,
        };
        if let Some(s) = spelled {
            assert_eq!(s, name.to_ascii_lowercase(), "{name}");
            assert!(HeaderName::from_static(s) == HeaderName::from_bytes(raw).unwrap());
        }
    }
    assert_eq!(name_kind(b"Date"), Name::Passed(Some("date")));
    assert_eq!(name_kind(b"X-Other"), Name::Passed(None));
}

#[test]
fn heads_the_proxy_changes_or_without_a_body_go_into_a_map() {
    let form = |raw: &[u8]| match parse(raw, false, MAX, false).unwrap().unwrap().0.fields {
        Fields::Wire(_) => "wire",
        Fields::Map(_) => "map",
    };
    assert_eq!(form(FIELD_SEEDS[0]), "wire");
    assert_eq!(form(FIELD_SEEDS[1]), "wire");
    assert_eq!(form(FIELD_SEEDS[5]), "wire");
    for raw in &FIELD_SEEDS[2..5] {
        assert_eq!(form(raw), "map", "{}", String::from_utf8_lossy(raw));
    }
    assert_eq!(form(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"), "map");
    let (head, _) = parse(FIELD_SEEDS[0], false, MAX, false).unwrap().unwrap();
    let Fields::Wire(w) = head.fields else {
        unreachable!()
    };
    let mut lines = Vec::new();
    w.write_to(&mut lines);
    assert_eq!(
        lines,
        b"server: s\r\nx-a: 1\r\nset-cookie: a=1\r\nx-a: 2\r\ncontent-length: 2\r\ndate: d\r\n"
    );
    assert_eq!((w.length(), w.has_date()), (Some(2), true));
    // For a client that reads a map, the same fields go into one, in the same order.
    let (head, _) = parse(FIELD_SEEDS[0], false, MAX, true).unwrap().unwrap();
    let Fields::Map(map) = head.fields else {
        panic!("a head for a map reader kept as wire lines")
    };
    let mut from_wire = HeaderMap::new();
    w.into_map(&mut from_wire);
    assert_eq!(in_order(&map), in_order(&from_wire));
}

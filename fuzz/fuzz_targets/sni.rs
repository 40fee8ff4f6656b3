//! Any first bytes of a CONNECT tunnel: the ClientHello reader gives the same answer whether the
//! bytes arrive at once or in pieces, a server name is lowercase without a trailing dot, and
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::egress::sni::{parse, Hello, HelloReader, MAX_HELLO};

fuzz_target!(|data: &[u8]| {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    let whole = parse(bytes);
    let mut reader = HelloReader::new();
    let mut pieces = Hello::Incomplete;
    for chunk in bytes.chunks(usize::from(step).max(1)) {
        pieces = reader.feed(chunk);
    }
    assert_eq!(whole, pieces, "same bytes, another split");
    match whole {
        Hello::Tls(Some(name)) => {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(!name.ends_with('.'));
        }
        Hello::Incomplete => assert!(bytes.len() <= MAX_HELLO, "held past the bound"),
        _ => {}
    }
});

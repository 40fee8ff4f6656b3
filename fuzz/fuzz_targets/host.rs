//! Any host or authority: a normalised host whose own text parses to the same host, or an
//! error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline_policy::{parse_authority, parse_host};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(host) = parse_host(text) {
        let again = parse_host(&host.to_string()).expect("a normalised host parses again");
        assert_eq!(host, again, "{text:?}");
    }
    let _ = parse_authority(text, 443);
    let _ = text.parse::<sightline_policy::HostPattern>();
});

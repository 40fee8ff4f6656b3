//! Any text as a config file: an error that names a line, or a config; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = sightline::Config::parse(text, "fuzz.yaml", std::path::Path::new("/")) {
            assert!(e.to_string().starts_with("fuzz.yaml"), "{e}");
        }
    }
});

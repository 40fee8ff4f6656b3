//! Any bytes as an upstream's HTTP/1.1 response: the native client's parser refuses them,
//! waits for more, or reads one response no longer than the input; the same bytes read in two
//! parts give the same status, framing, body and trailers (or the same refusal); never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::h1pool::response;

/// A small head limit, so that oversized heads are reached too.
const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let head_request = split & 1 == 1;
    let whole = response::read_whole(data, head_request, MAX, true);
    if let Ok(Some(w)) = &whole {
        assert!(w.used <= data.len());
    }
    let cut = usize::from(split >> 1).min(data.len());
    let parts = response::read_in_parts(data, &[cut], head_request, MAX);
    match (&whole, &parts) {
        (Ok(Some(a)), Ok(Some(b))) => {
            assert_eq!(
                (a.status, a.framing, a.keep_alive, &a.body, &a.trailers),
                (b.status, b.framing, b.keep_alive, &b.body, &b.trailers)
            );
        }
        (Ok(None), Ok(None)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (w, p) => panic!("whole {w:?} vs in parts {p:?}"),
    }
});

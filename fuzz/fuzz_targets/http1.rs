//! Any bytes as an HTTP/1.1 request: the head parser either refuses them, waits for more, or
//! returns a head no longer than the input; a chunked body decodes the same whether its bytes
//! come at once or in two reads; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::server::h1::{chunked, head};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let body = match head::parse(data) {
        Ok(Some((h, len))) => {
            assert!(len <= data.len());
            if h.framing != head::Framing::Chunked {
                return;
            }
            &data[len..]
        }
        Ok(None) | Err(_) => data,
    };
    let whole = chunked::decode_all(body);
    // The same body in two reads: what the first leaves unused is read again with the rest.
    let cut = usize::from(split).min(body.len());
    let mut d = chunked::Decoder::default();
    let mut got = Vec::new();
    let mut pending = body[..cut].to_vec();
    let mut rest = &body[cut..];
    let split_result = loop {
        match d.decode(&pending) {
            Err(e) => break Err(e),
            Ok((n, chunked::Step::Data(len))) => {
                got.extend_from_slice(&pending[n - len..n]);
                pending.drain(..n);
            }
            Ok((n, chunked::Step::Done(trailers))) => {
                pending.drain(..n);
                break Ok(Some((got, trailers)));
            }
            Ok((n, chunked::Step::NeedMore)) => {
                pending.drain(..n);
                if rest.is_empty() {
                    break Ok(None);
                }
                pending.extend_from_slice(rest);
                rest = &[];
            }
        }
    };
    match (whole, split_result) {
        (Ok(Some((a, ta, _))), Ok(Some((b, tb)))) => {
            assert_eq!(a, b);
            assert_eq!(ta, tb);
        }
        (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
        (w, s) => panic!("whole {w:?} vs split {s:?}"),
    }
});

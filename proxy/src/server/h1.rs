//! The native HTTP/1.1 server: request heads parsed with httparse, bodies framed and read on
//! demand, responses framed and written from per-worker buffers. A keep-alive connection
//! holds no buffer while it waits for its next request. Upgrades and CONNECT are handed to
//! hyper's server with the bytes read so far; HTTP/2 stays on hyper.

mod body;
pub(crate) mod buffers;
pub mod chunked;
mod conn;
pub mod head;

mod encode;
mod fields;
mod out;

pub use body::{NativeBody, RequestBody, ServerBody};
pub use fields::{field_name, into_map, HeadFields, WireFields};

/// Why the native server refused a request head, for the listener to answer in its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadRefused {
    /// Malformed (400), with the reason.
    Malformed(&'static str),
    /// Larger than this many bytes, or with too many fields (431).
    TooLarge(usize),
}
pub(super) use conn::{serve, Rewind};

#[cfg(test)]
mod tests;

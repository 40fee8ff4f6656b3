//! The native HTTP/1.1 server: request heads parsed with httparse, bodies framed and read on
//! demand, responses framed and written from per-worker buffers. A keep-alive connection
//! holds no buffer while it waits for its next request. Upgrades and CONNECT are handed to
//! hyper's server with the bytes read so far; HTTP/2 stays on hyper.

mod body;
mod buffers;
pub mod chunked;
mod conn;
pub mod head;

mod encode;

pub use body::{NativeBody, RequestBody, ServerBody};
pub(super) use conn::serve;

#[cfg(test)]
mod tests;

//! What both stacks share about HTTP on the wire: the connection a request arrived on, the
//! authority it names, the headers rewritten between client and upstream (hop-by-hop,
//! forwarding, `Via`, the proxy's own error header), the finishing of every response's
//! headers, the request-id header and the rounding of `Retry-After`.

mod authority;
pub mod headers;
pub mod next_hop;

pub use authority::{raw_authority, Authority, BadAuthority};

use crate::server::ConnActivity;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The response header that marks an answer as the proxy's own. Stripped from upstream
/// responses, so an upstream can never pass its errors off as Sightline's.
pub const ERROR_HEADER: HeaderName = HeaderName::from_static("sightline-error");

/// The header carrying the call's request id, to the upstream and back to the client.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the proxy knows about the client connection a request arrived on; `F` is what the
/// client guard's accept phase learned about it.
#[derive(Debug)]
pub struct ConnInfo<F> {
    /// The client's socket address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The verified client-certificate identity (URI SAN, else DNS SAN, else subject CN).
    pub identity: Option<Arc<str>>,
    /// Requests in flight, for the idle timer.
    pub activity: Arc<ConnActivity>,
    /// What the client guard's accept phase learned (allow/deny list, address slot).
    pub flags: F,
}

/// Sets the request-id header (an id that is not a header value is left out).
pub fn set_request_id(h: &mut HeaderMap, request_id: &(impl AsRef<[u8]> + ?Sized)) {
    if let Some(v) = request_id_value(request_id) {
        h.insert(REQUEST_ID, v);
    }
}

/// The request-id header's value, or none for an id that is not a header value. Made once, it
/// can go on both the upstream request and the response: a clone shares its bytes.
///
/// On HTTP/2 the value is sent as a literal never indexed (the value is marked sensitive,
/// which is what that flag means to HPACK): each id is used once, so indexing it would only
/// fill the connection's header table with ids that never come again, pushing out the
/// headers that do repeat, and make each later id search past them.
///
/// The value is cut from this worker's block of shared bytes, as parsed heads are: no
/// allocation of its own.
pub fn request_id_value(request_id: &(impl AsRef<[u8]> + ?Sized)) -> Option<HeaderValue> {
    let bytes = crate::server::h1::buffers::copy_shared(request_id.as_ref());
    let mut v = HeaderValue::from_maybe_shared(bytes).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Finishes an upstream response's headers for the client: its version, hop-by-hop and
/// spoofable headers removed, this hop in `Via`, and the request id.
pub fn finish_response_headers(
    version: &mut Version,
    h: &mut HeaderMap,
    status: StatusCode,
    request_id: &(impl AsRef<[u8]> + ?Sized),
) {
    let upgrade = status == StatusCode::SWITCHING_PROTOCOLS;
    finish_upstream_headers(version, h, Some(upgrade), request_id_value(request_id));
}

/// As [`finish_response_headers`], with the request id's value already made (none: left out),
/// and the removal of what never crosses a hop skipped when `strip` is `None`: for a head that
/// came without those fields (the native HTTP/1.1 client's, see
/// [`crate::h1pool::UpstreamBody::hop_by_hop_removed`]). `Some(upgrade)` strips them, keeping
/// an upgrade's.
pub fn finish_upstream_headers(
    version: &mut Version,
    h: &mut HeaderMap,
    strip: Option<bool>,
    request_id: Option<HeaderValue>,
) {
    // The client's connection decides its own version (an HTTP/1.0 upstream stays hidden).
    *version = Version::HTTP_11;
    if h.capacity() == 0 {
        // The fields came as wire lines: the map holds only what is added here.
        *h = crate::server::h1::buffers::take_map(0);
    }
    if let Some(upgrade) = strip {
        headers::strip_for_next_hop(h, upgrade);
    }
    headers::append_via(h, Version::HTTP_11);
    if let Some(v) = request_id {
        h.insert(REQUEST_ID, v);
    }
}

/// As [`finish_upstream_headers`] for a head whose fields stay as the wire carried them (see
/// [`crate::h1pool::response::Fields`]: hop-by-hop fields already left out, and none the proxy
/// sets among them): this hop in `Via` and the request id follow them as lines of their own,
/// for the native HTTP/1.1 server to write as they are.
pub fn finish_wire_fields(
    version: &mut Version,
    fields: &mut crate::server::WireFields,
    request_id: Option<&HeaderValue>,
) {
    let via = headers::this_hop(Version::HTTP_11).1;
    *version = Version::HTTP_11;
    match request_id {
        Some(id) => fields.push(&[(&http::header::VIA, &via), (&REQUEST_ID, id)]),
        None => fields.push(&[(&http::header::VIA, &via)]),
    }
}

/// Whether the proxy sets a field called `name` (any case) on the upstream responses it passes
/// on (`Via`, the request id, the rate headers): a head that carries one must be read into a
/// header map, where the proxy's value replaces the upstream's or joins it.
pub fn set_in_responses(name: &[u8]) -> bool {
    SET_IN_RESPONSES
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// The names [`set_in_responses`] is true of.
pub(crate) const SET_IN_RESPONSES: [&str; 4] =
    ["via", "x-request-id", "ratelimit", "ratelimit-policy"];

/// Whole seconds for `Retry-After` and the rate headers, rounded up: a client that waits this
/// long is let through.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

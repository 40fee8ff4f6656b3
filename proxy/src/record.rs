//! The call record: every finished call becomes a [`CallRecord`] (with the client protections'
//! [`ClientMark`]), counted exactly on the data path with atomics ([`Counters`]) through the
//! bodies and the [`CallGuard`] that turn a call into a record, then handed to a [`RecordSink`]
//! (the [`crate::recorder`]'s bounded queue). Also the security events a record sets off and
//! the call's JSON [`view`] the API and the store's call log show.

mod body;
mod call;
pub mod counters;
pub mod events;
mod kept;
mod mark;
pub mod queue;
mod view;

pub use body::{
    BodyLimitExceeded, BytesIn, CallGuard, ClientBodyFailed, ClientBodyTimeout, ClientSending,
    CountingBody, RecordedBody, ResponseBody, UpstreamBodyTimeout,
};
pub use call::{CallRecord, Direction, Protocol};
pub use counters::{Counters, ServiceCounters, StatusClass, UNKNOWN_SOURCE, UNROUTED};
pub use kept::KeptCall;
pub use mark::{ClientMark, ClientSignal};
pub use view::view;

/// Where a finished call's record goes (the recorder's queue): it counts the call exactly and
/// queues the record without ever waiting.
pub trait RecordSink: std::fmt::Debug + Send + Sync {
    /// Counts the call against `service` and queues its record; a full queue drops the record
    /// and counts the drop.
    fn record(&self, service: &ServiceCounters, rec: std::sync::Arc<CallRecord>);
}

/// Something a call holds until it ends, such as a concurrency slot: dropped with the call's
/// guard, whatever its type.
pub struct DropToken(#[allow(dead_code)] Box<dyn Send + Sync>);

impl DropToken {
    /// Wraps `held`, released when the token drops.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        DropToken(Box::new(held))
    }
}

impl std::fmt::Debug for DropToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropToken")
    }
}

/// `path` cut to at most `max` bytes on a character boundary, and whether it was cut.
pub fn cap_path(path: &str, max: usize) -> (String, bool) {
    if path.len() <= max {
        return (path.to_owned(), false);
    }
    let mut cut = max;
    while !path.is_char_boundary(cut) {
        cut -= 1;
    }
    (path[..cut].to_owned(), true)
}

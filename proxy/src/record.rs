//! Recording: every finished call becomes a [`CallRecord`]. Exact counters are bumped on the data
//! path with atomics; the record itself crosses a bounded queue to the recorder task, and a full
//! queue drops the record and counts the drop instead of waiting.

mod body;
mod call;
pub mod counters;
pub mod events;
mod recorder;

pub use body::{
    BodyLimitExceeded, CallGuard, ClientBodyFailed, ClientBodyTimeout, ClientSending, CountingBody,
    RecordedBody, ResponseBody, UpstreamBodyTimeout,
};
pub use call::{CallRecord, Direction, Protocol};
pub use counters::{Counters, ServiceCounters, StatusClass};
pub use recorder::{RecentCalls, Recorder};

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

//! Recording: every finished call becomes a [`CallRecord`]. Exact counters are bumped on the data
//! path with atomics; the record itself crosses a bounded queue to the recorder task, and a full
//! queue drops the record and counts the drop instead of waiting.

mod body;
mod call;
pub mod counters;
pub mod events;
mod recorder;

pub use body::{BodyLimitExceeded, CallGuard, CountingBody, RecordedBody, ResponseBody};
pub use call::{CallRecord, Direction, Protocol};
pub use counters::{Counters, ServiceCounters, StatusClass};
pub use recorder::{RecentCalls, Recorder};

//! Pure logic of the abusive-client protections: GCRA rate limits, failure windows and
//! escalating bans, CIDR list files, client identity, and the capped map every client-keyed
//! table uses. Time is always a parameter (microseconds since the Unix epoch), so each rule is
//! tested with tables and an injected clock.

mod capped;
mod cidrs;
mod gcra;
mod identity;
mod strikes;

pub use capped::CappedMap;
pub use cidrs::{CidrList, ListError};
pub use gcra::{Gcra, Passed, Rate, RateError, RateState, Throttled};
pub use identity::{forwarded_client, group_ip, identify, ClientId, ClientKind};
pub use strikes::{Ban, DistinctWindow, Escalation, FailureWindow};

/// A point in time: microseconds since the Unix epoch.
pub type Micros = u64;

/// Microseconds in a [`std::time::Duration`], saturating.
pub fn micros(d: std::time::Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Where the protections read the time from; tests inject a manual one.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in microseconds since the Unix epoch.
    fn now(&self) -> Micros;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, micros)
    }
}

/// A clock that moves only when told to: the system time at creation plus what was added.
#[derive(Debug)]
pub struct ManualClock {
    now: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    /// A clock starting at `start`.
    pub fn at(start: Micros) -> Self {
        ManualClock {
            now: std::sync::atomic::AtomicU64::new(start),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.now
            .fetch_add(micros(by), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

//! Time as the product shows it: the one RFC 3339 formatter every view, log line and alert uses,
//! the conversions from the unix times records keep, and the file stamps the watchers poll.
//! Also the clock a call's record is timed by ([`Mono`]), and how its readings become wall-clock
//! times ([`Dating`]).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC to the millisecond (`2026-01-02T03:04:05.678Z`); finer digits are cut, not
/// rounded.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The time `ms` unix milliseconds name.
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The time `ns` unix nanoseconds name.
pub fn from_nanos(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// The time `us` unix microseconds name.
pub fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// A reading of the monotonic clock (`CLOCK_MONOTONIC`, the clock [`std::time::Instant`] reads)
/// in nanoseconds, as one integer. Taking one is a single call into the kernel's vDSO, and the
/// time between two is a subtraction: a call's record is timed by these, with no checked
/// `Instant` arithmetic on the data path. Not for timers: they keep tokio's clock, which tests
/// may pause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mono(u64);

impl Mono {
    /// Now.
    #[inline]
    pub fn now() -> Mono {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        // Never negative; 64 bits of nanoseconds last 584 years past boot.
        Mono((t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64)
    }

    /// Nanoseconds from `earlier` to this reading (0 if `earlier` is later).
    #[inline]
    pub fn nanos_since(self, earlier: Mono) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The time from `earlier` to this reading (zero if `earlier` is later).
    #[inline]
    pub fn since(self, earlier: Mono) -> Duration {
        Duration::from_nanos(self.nanos_since(earlier))
    }
}

/// `t` in nanoseconds after the Unix epoch (0 before it; exact for 584 years after).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A wall-clock time and a [`Mono`] reading taken together: the wall-clock time of any other
/// reading is this one's, moved by the monotonic time between them. The recorder takes one
/// pair per batch of records and dates each record's arrival from it, so the data path reads
/// no wall clock; a record is dated as the wall clock stands when it is handled (a clock set
/// while a call was under way moves its start, never its duration).
#[derive(Clone, Copy, Debug)]
pub struct Dating {
    /// The wall-clock time, in Unix nanoseconds.
    wall: u64,
    mono: Mono,
}

impl Dating {
    /// The pair as of now.
    pub fn now() -> Dating {
        // The monotonic reading first: a reading taken before it is then never dated after
        // the wall-clock time read here.
        let mono = Mono::now();
        Dating {
            wall: unix_nanos(SystemTime::now()),
            mono,
        }
    }

    /// The wall-clock time of the reading `at`, in Unix nanoseconds.
    pub fn unix_nanos(&self, at: Mono) -> u64 {
        if at <= self.mono {
            self.wall.saturating_sub(self.mono.nanos_since(at))
        } else {
            self.wall.saturating_add(at.nanos_since(self.mono))
        }
    }
}

/// What a watched file looked like: its modification time and length, `None` when it cannot be
/// read. Polling compares stamps, which also sees editors that replace a file by renaming and
/// works on every filesystem.
pub fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unix_unit_formats_alike() {
        let t = UNIX_EPOCH + Duration::from_micros(1_767_323_045_678_901);
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05.678Z");
        assert_eq!(rfc3339(from_micros(1_767_323_045_678_901)), rfc3339(t));
        assert_eq!(rfc3339(from_millis(1_767_323_045_678)), rfc3339(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn readings_date_by_the_wall_clock_of_their_pair() {
        let pair = Dating {
            wall: 1_767_323_045_678_000_000,
            mono: Mono(5_000_000_000),
        };
        let date = |at| rfc3339(from_nanos(pair.unix_nanos(Mono(at))));
        assert_eq!(date(5_000_000_000), "2026-01-02T03:04:05.678Z");
        assert_eq!(date(3_500_000_000), "2026-01-02T03:04:04.178Z");
        assert_eq!(date(5_001_000_000), "2026-01-02T03:04:05.679Z");
        assert_eq!(
            unix_nanos(from_nanos(1_767_323_045_678_901_234)),
            1_767_323_045_678_901_234
        );
        assert_eq!(
            unix_nanos(UNIX_EPOCH - Duration::from_secs(1)),
            0,
            "before the epoch"
        );
        assert_eq!(Mono(7).since(Mono(9)), Duration::ZERO, "never negative");
    }

    #[test]
    fn a_missing_file_has_no_stamp() {
        assert_eq!(file_stamp(Path::new("/nonexistent/sightline/stamp")), None);
        let dir = std::env::temp_dir().join(format!("sightline-stamp-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        assert_eq!(file_stamp(&dir).map(|(_, len)| len), Some(3));
        std::fs::remove_file(&dir).unwrap();
    }
}

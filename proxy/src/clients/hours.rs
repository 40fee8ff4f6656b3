//! The hours of the day (UTC) a client calls in, remembered for a few weeks: an hour the client
//! stopped using becomes unusual again. Two 24-bit masks, one per two-week epoch (the current
//! one and the one before): an hour is usual when either has it, so an hour is remembered for
//! at least [`EPOCH_DAYS`] days after its last use and forgotten once unused for twice that.
//! Twelve bytes per client, whatever the traffic.

use sightline_policy::clients::Micros;

/// The length of one epoch, in days: an hour is remembered at least this long after its last
/// use, and never longer than twice this (4 weeks).
pub(super) const EPOCH_DAYS: u64 = 14;

const DAY_MICROS: u64 = 86_400_000_000;
const HOUR_MICROS: u64 = 3_600_000_000;

/// The hours of the day a client called in, over the current and the previous epoch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct UsualHours {
    /// The epoch `current` is of (days since the unix epoch / [`EPOCH_DAYS`]).
    epoch: u32,
    /// Bit `h`: called in hour `h` during epoch `epoch`.
    current: u32,
    /// Bit `h`: called in hour `h` during epoch `epoch - 1`.
    previous: u32,
}

impl UsualHours {
    /// Notes a call at `now` and returns its hour of the day (0–23) and whether the client had
    /// called in that hour within the remembered epochs.
    pub(super) fn note(&mut self, now: Micros) -> (u8, bool) {
        let epoch = (now / DAY_MICROS / EPOCH_DAYS) as u32;
        if epoch != self.epoch {
            // One epoch on: the current mask becomes the previous one. Further, or a clock that
            // went back: nothing recent is known.
            self.previous = if epoch == self.epoch.wrapping_add(1) {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.epoch = epoch;
        }
        let hour = hour_of_day(now);
        let bit = 1u32 << hour;
        let usual = (self.current | self.previous) & bit != 0;
        self.current |= bit;
        (hour, usual)
    }
}

/// The hour of the day (UTC, 0–23) of `now`.
fn hour_of_day(now: Micros) -> u8 {
    ((now / HOUR_MICROS) % 24) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Micros = 1_800_000_000_000_000;
    const WEEK: Micros = 7 * DAY_MICROS;

    #[test]
    fn an_hour_is_remembered_two_weeks_and_forgotten_after_four() {
        for start in [
            T0,
            T0 + 3 * DAY_MICROS,
            T0 + 10 * DAY_MICROS,
            T0 + 13 * DAY_MICROS,
        ] {
            let mut h = UsualHours::default();
            assert!(!h.note(start).1, "never used");
            assert!(h.note(start).1, "just used");
            let mut later = h;
            assert!(later.note(start + 2 * WEEK - HOUR_MICROS * 24).1);
            let mut later = h;
            assert!(later.note(start + WEEK).1, "used a week ago");
            let mut later = h;
            assert!(!later.note(start + 4 * WEEK).1, "unused for four weeks");
            let mut later = h;
            assert!(!later.note(start + 5 * WEEK).1, "unused for five weeks");
        }
    }

    #[test]
    fn each_use_restarts_the_memory_of_its_hour_only() {
        let mut h = UsualHours::default();
        h.note(T0);
        h.note(T0 + HOUR_MICROS);
        // Every week the first hour again, never the second.
        for week in 1..=6 {
            assert!(h.note(T0 + week * WEEK).1, "week {week}");
        }
        assert!(!h.note(T0 + 6 * WEEK + HOUR_MICROS).1);
    }

    #[test]
    fn a_clock_that_goes_back_forgets_rather_than_misreads() {
        let mut h = UsualHours::default();
        h.note(T0 + 4 * WEEK);
        assert!(!h.note(T0).1);
        assert!(h.note(T0).1);
    }
}

//! Per-minute traffic meters for flood and surge detection: calls this minute, a slowly moving
//! baseline of past minutes, and whether this minute already raised its signal.

use sightline_policy::clients::{DistinctWindow, Micros};
use std::time::Duration;

const MINUTE: Micros = 60_000_000;
/// Weight of each new minute in the baseline.
const ALPHA: f64 = 0.1;
/// Minutes of history before a flood can be judged.
const WARMUP: u64 = 10;

/// One scope's meter (all traffic, or one endpoint).
#[derive(Clone, Debug, Default)]
pub struct Meter {
    first_minute: Option<u64>,
    minute: u64,
    count: u64,
    total: u64,
    baseline: f64,
    flagged: bool,
    surged: bool,
    clients: DistinctWindow,
}

/// What a call's arrival says about its scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Nothing unusual.
    Normal,
    /// The minute just crossed the flood threshold.
    Flood {
        /// Calls this minute.
        per_minute: u64,
        /// Usual calls per minute.
        baseline: u64,
    },
}

impl Meter {
    /// Counts a call at `now` and says whether the minute is a flood (once per minute).
    pub fn count(&mut self, now: Micros, factor: f64, min_per_minute: u64) -> Reading {
        let minute = now / MINUTE;
        let first = *self.first_minute.get_or_insert(minute);
        if minute != self.minute {
            // Close the old minute and decay across silent ones.
            if self.minute >= first && minute > self.minute {
                let gap = minute - self.minute;
                self.baseline = self.baseline * (1.0 - ALPHA) + ALPHA * self.count as f64;
                let silent = i32::try_from(gap - 1).unwrap_or(i32::MAX);
                self.baseline *= (1.0 - ALPHA).powi(silent);
            }
            self.minute = minute;
            self.count = 0;
            self.flagged = false;
            self.surged = false;
        }
        self.count += 1;
        self.total += 1;
        if self.flagged || minute.saturating_sub(first) < WARMUP {
            return Reading::Normal;
        }
        let threshold = (self.baseline.max(1.0) * factor).max(min_per_minute as f64);
        if self.count as f64 >= threshold {
            self.flagged = true;
            return Reading::Flood {
                per_minute: self.count,
                baseline: self.baseline.round() as u64,
            };
        }
        Reading::Normal
    }

    /// For a rarely used endpoint (at most `rare_per_hour` calls per hour over at least an
    /// hour), notes `client` and returns the distinct clients this minute when they reach
    /// `surge_clients` (once per minute).
    pub fn surge(
        &mut self,
        now: Micros,
        client: u64,
        rare_per_hour: u32,
        surge_clients: u32,
    ) -> Option<u32> {
        let minute = now / MINUTE;
        let first = self.first_minute.unwrap_or(minute);
        let age_hours = (minute.saturating_sub(first)) as f64 / 60.0;
        let n = self
            .clients
            .note(client, now, Duration::from_secs(60), surge_clients as usize);
        if self.surged || age_hours < 1.0 {
            return None;
        }
        let before = self.total.saturating_sub(self.count) as f64;
        if before / age_hours > f64::from(rare_per_hour) {
            return None;
        }
        if n >= surge_clients as usize {
            self.surged = true;
            return Some(n as u32);
        }
        None
    }
}

#[cfg(test)]
mod tests;

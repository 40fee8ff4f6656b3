//! Failures counted in a sliding window, bans whose length grows with each strike, and the
//! distinct-value window that tells a scanner (many different missing paths) from a caller that
//! retries one.

use super::Micros;
use std::collections::VecDeque;
use std::time::Duration;

/// Failure times within a window; holds at most the threshold's worth.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureWindow {
    times: VecDeque<Micros>,
}

impl FailureWindow {
    /// Counts a failure at `now`; returns true when `threshold` failures fell within `within`
    /// (the window then starts over).
    pub fn fail(&mut self, now: Micros, within: Duration, threshold: u32) -> bool {
        let start = now.saturating_sub(super::micros(within));
        while self.times.front().is_some_and(|&t| t < start) {
            self.times.pop_front();
        }
        self.times.push_back(now);
        while self.times.len() > threshold as usize {
            self.times.pop_front();
        }
        if self.times.len() >= threshold as usize {
            self.times.clear();
            return true;
        }
        false
    }

    /// Failures currently in the window.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// Distinct values (hashes) seen within a window; holds at most `limit` of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinctWindow {
    seen: VecDeque<(Micros, u64)>,
}

impl DistinctWindow {
    /// Notes `value` at `now` and returns how many distinct values fell within `within`
    /// (counting at most `limit`).
    pub fn note(&mut self, value: u64, now: Micros, within: Duration, limit: usize) -> usize {
        let start = now.saturating_sub(super::micros(within));
        self.seen.retain(|&(t, _)| t >= start);
        if let Some(slot) = self.seen.iter_mut().find(|(_, v)| *v == value) {
            slot.0 = now;
        } else {
            self.seen.push_back((now, value));
            while self.seen.len() > limit.max(1) {
                self.seen.pop_front();
            }
        }
        self.seen.len()
    }

    /// Forgets everything (after a detection).
    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

/// How ban lengths grow: `base`, then times `factor` per repeated strike, at most `max`;
/// strikes are forgotten after `forget` without a ban.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escalation {
    /// The first ban's length.
    pub base: Duration,
    /// Each further strike multiplies the length by this.
    pub factor: u32,
    /// The longest ban.
    pub max: Duration,
    /// A ban that ended this long ago no longer counts as a strike.
    pub forget: Duration,
}

impl Escalation {
    /// The length of the ban for the `strikes`-th strike (1 = first).
    pub fn length(&self, strikes: u32) -> Duration {
        let mut d = self.base;
        for _ in 1..strikes {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max {
                return self.max;
            }
        }
        d.min(self.max)
    }

    /// The ban that follows `previous` (the client's last ban, if any) at `now`.
    pub fn next(&self, previous: Option<&Ban>, now: Micros, reason: &str) -> Ban {
        let strikes = match previous {
            Some(p) if p.until.saturating_add(super::micros(self.forget)) > now => {
                p.strikes.saturating_add(1)
            }
            _ => 1,
        };
        Ban {
            reason: reason.to_owned(),
            since: now,
            until: now.saturating_add(super::micros(self.length(strikes))),
            strikes,
        }
    }
}

/// One client's ban (current, or past and remembered for escalation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// Why (`failed_logins`, `scanning`, …).
    pub reason: String,
    /// When it began.
    pub since: Micros,
    /// When it ends.
    pub until: Micros,
    /// How many bans in a row this client earned (1 = first).
    pub strikes: u32,
}

impl Ban {
    /// Whether the ban holds at `now`.
    pub fn active(&self, now: Micros) -> bool {
        now < self.until
    }
}

#[cfg(test)]
mod tests;

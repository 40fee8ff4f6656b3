//! The generic cell rate algorithm: one timestamp per key (the theoretical arrival time) is the
//! whole state of a rate limit with a burst.

use super::Micros;
use std::fmt;
use std::time::Duration;

/// A rate with a burst: `count` calls per `per`, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Calls allowed per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
    /// Calls allowed at once from a rested state (at least 1).
    pub burst: u32,
}

/// Why a rate did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}; write e.g. 100/s, 20/m, 1000/h or 50/10s")]
pub struct RateError(pub String);

impl Rate {
    /// Parses `100/s`, `20/m`, `1000/h`, `50/10s`; the burst defaults to the count.
    pub fn parse(s: &str, burst: Option<u32>) -> Result<Rate, RateError> {
        let err = || RateError(s.to_owned());
        let (count, per) = s.trim().split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        let per = per.trim();
        let split = per.find(|c: char| !c.is_ascii_digit()).unwrap_or(per.len());
        let (n, unit) = per.split_at(split);
        let n: u64 = if n.is_empty() {
            1
        } else {
            n.parse().map_err(|_| err())?
        };
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        if count == 0 || n == 0 || burst == Some(0) {
            return Err(err());
        }
        Ok(Rate {
            count,
            per: Duration::from_secs(secs * n),
            burst: burst.unwrap_or(count),
        })
    }

    /// The limiter for this rate.
    pub fn gcra(&self) -> Gcra {
        let interval = (super::micros(self.per) / u64::from(self.count)).max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(self.burst.max(1) - 1)),
            rate: *self,
        }
    }

    /// The period in whole seconds (at least 1), for the `RateLimit-Policy` window.
    pub fn window_secs(&self) -> u64 {
        self.per.as_secs().max(1)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}s burst {}",
            self.count,
            self.per.as_secs(),
            self.burst
        )
    }
}

/// A GCRA limiter for one [`Rate`]; the per-key state is a [`RateState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    /// Time one call uses up.
    interval: Micros,
    /// How far ahead of now the arrival time may run (the burst).
    tolerance: Micros,
    /// The rate it was made from.
    pub rate: Rate,
}

/// One key's state: the theoretical arrival time of its next call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateState {
    tat: Micros,
}

/// A refused call: when to retry, and how long until the full burst is back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// Wait this long before the next call can pass.
    pub retry_after: Duration,
    /// Until the whole burst is available again.
    pub reset: Duration,
}

/// A passed call: what is left of the burst and when it is whole again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// Calls that could pass right now.
    pub remaining: u32,
    /// Until the whole burst is available again.
    pub reset: Duration,
}

impl Gcra {
    /// Takes one call at `now`: `Ok` with what is left, or `Err` with when to retry. A refused
    /// call does not use up anything.
    pub fn take(&self, state: &mut RateState, now: Micros) -> Result<Passed, Throttled> {
        let tat = state.tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(Throttled {
                retry_after: Duration::from_micros(ahead - self.tolerance),
                reset: Duration::from_micros(ahead),
            });
        }
        state.tat = tat + self.interval;
        let ahead = state.tat - now;
        let room = self.tolerance + self.interval - ahead;
        Ok(Passed {
            remaining: u32::try_from(room / self.interval).unwrap_or(u32::MAX),
            reset: Duration::from_micros(ahead),
        })
    }

    /// Whether a call at `now` would pass, without taking it.
    pub fn would_pass(&self, state: &RateState, now: Micros) -> bool {
        state.tat.max(now) - now <= self.tolerance
    }
}

#[cfg(test)]
mod tests;

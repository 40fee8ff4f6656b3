//! The context rule (off by default): a move between coarse values never made before.
//!
//! Each value is placed on one of a few levels, an even split of the range of values seen so
//! far whose width is rounded up to a power of two (so the levels move only when the range
//! doubles, not with every new extreme). A step's move is the pair (the previous step's level,
//! this one's); a bit per pair of levels remembers the moves made. A step is novel when its
//! move was never made before. Learning never stops, so a new move is novel once.
//!
//! Bounded and O(1): the range, the last level and one 64-bit mask per signal (at most 8
//! levels, 64 moves), one bit test per step.

use serde::{Deserialize, Serialize};

/// The most levels the range is split into: their moves fill one 64-bit mask.
pub(crate) const MAX_LEVELS: u64 = 8;

/// The rule's settings, in steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContextSettings {
    /// Levels the range is split into (below 2: the rule is off).
    pub levels: u64,
    /// Steps a novel step keeps breaching after it (so it can last the persistence).
    pub hold: u64,
    /// What a step that changes the range's rounded width does to the moves: 0 nothing, 1 its
    /// own move is not learned, 2 every move made before is forgotten (the levels now split
    /// another range).
    #[serde(default)]
    pub widening: u64,
}

impl ContextSettings {
    /// Whether the rule is on.
    pub fn on(&self) -> bool {
        self.levels >= 2
    }
}

/// The moves one signal has made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Moves {
    /// The lowest and highest value seen.
    range: Option<(f64, f64)>,
    /// The level of the last step.
    last: Option<u8>,
    /// Bit `from · levels + to` is set once the move from level `from` to `to` was made.
    made: u64,
    /// Steps the last novelty keeps breaching.
    hold: u64,
    /// The range's width rounded up to a power of two (0 while the range is a single value).
    #[serde(default)]
    width: f64,
}

impl Moves {
    /// Whether the move to `value` was never made (true while a novelty is held). `None`
    /// before the first step.
    pub fn novel(&self, value: f64, s: &ContextSettings) -> Option<bool> {
        let last = self.last.filter(|_| value.is_finite())?;
        Some(self.hold > 0 || self.made & self.bit(last, value, s) == 0)
    }

    /// Learns `value`: its move is remembered, its level becomes the last one.
    pub fn learn(&mut self, value: f64, s: &ContextSettings) {
        if !value.is_finite() {
            return;
        }
        let (lo, hi) = match self.range {
            Some((lo, hi)) => (lo.min(value), hi.max(value)),
            None => (value, value),
        };
        self.range = Some((lo, hi));
        let widened = rounded_width(lo, hi) != self.width;
        self.width = rounded_width(lo, hi);
        if widened && s.widening == 2 {
            self.made = 0;
        }
        if let Some(last) = self.last.filter(|_| !widened || s.widening == 0) {
            let bit = self.bit(last, value, s);
            self.hold = match self.made & bit == 0 {
                true => s.hold,
                false => self.hold.saturating_sub(1),
            };
            self.made |= bit;
        } else {
            self.hold = self.hold.saturating_sub(1);
        }
        self.last = Some(self.level(value, s));
    }

    /// The mask bit of the move from level `last` to the level of `value`.
    fn bit(&self, last: u8, value: f64, s: &ContextSettings) -> u64 {
        let levels = s.levels.clamp(2, MAX_LEVELS);
        1 << (u64::from(last) * levels + u64::from(self.level(value, s)))
    }

    /// The level of `value` in the range seen so far (widened to include it), its width
    /// rounded up to a power of two.
    fn level(&self, value: f64, s: &ContextSettings) -> u8 {
        let levels = s.levels.clamp(2, MAX_LEVELS);
        let (lo, hi) = self.range.unwrap_or((value, value));
        let (lo, hi) = (lo.min(value), hi.max(value));
        if hi <= lo {
            return 0;
        }
        let at = ((value - lo) / rounded_width(lo, hi) * levels as f64).floor();
        at.clamp(0.0, (levels - 1) as f64) as u8
    }
}

/// The width of the range `lo`–`hi` rounded up to a power of two (0 for a single value).
fn rounded_width(lo: f64, hi: f64) -> f64 {
    match hi > lo {
        true => (hi - lo).log2().ceil().exp2(),
        false => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(levels: u64) -> ContextSettings {
        ContextSettings {
            levels,
            hold: 0,
            widening: 0,
        }
    }

    #[test]
    fn a_repeated_sequence_is_known_and_a_new_move_is_novel() {
        let s = settings(4);
        let mut m = Moves::default();
        assert_eq!(m.novel(1.0, &s), None);
        // Levels of a range 0–4 (width 4): 0, 1, 2, 3.
        let wave = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0];
        for _ in 0..20 {
            for v in wave {
                m.learn(v, &s);
            }
        }
        // After 1 comes 0 in the wave: a known move.
        assert_eq!(m.novel(0.0, &s), Some(false));
        // 3 right after 1 never happened.
        assert_eq!(m.novel(3.0, &s), Some(true));
        m.learn(3.0, &s);
        // Made once, known after.
        for v in [2.0, 1.0] {
            m.learn(v, &s);
        }
        assert_eq!(m.novel(3.0, &s), Some(false));
    }

    #[test]
    fn a_novelty_is_held_for_the_persistence() {
        let s = ContextSettings {
            levels: 4,
            hold: 2,
            widening: 0,
        };
        let mut m = Moves::default();
        for v in [0.0, 3.9, 0.0, 3.9, 0.0] {
            m.learn(v, &s);
        }
        // 0 → 0 was never made: novel, and held for two more steps.
        m.learn(0.0, &s);
        assert_eq!(m.novel(3.9, &s), Some(true));
        m.learn(3.9, &s);
        assert_eq!(m.novel(0.0, &s), Some(true));
        m.learn(0.0, &s);
        assert_eq!(m.novel(3.9, &s), Some(false));
    }
}

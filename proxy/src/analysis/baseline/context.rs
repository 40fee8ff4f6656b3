//! The context rule (off by default): novelty of the recent sequence of coarse values.
//!
//! Each value is placed on one of a few levels, an even split of the range of values seen so
//! far. With the levels of the preceding steps it forms contexts: for every length `j` up to
//! the rule's depth, the last `j` levels (the left part) followed by the current one (the right
//! part). A bounded, set-associative table remembers the contexts seen (the least recently seen
//! of a set gives way to a new one). A step is novel when the share of its contexts never seen
//! before reaches the rule's threshold: at a share of 1, not even the move from the previous
//! level to this one has been seen. Learning never stops, so a new sequence is novel once.
//!
//! Bounded: a fixed number of fingerprints and stamps per signal (12 bytes each), the last
//! levels, and per step one lookup per depth in a set of four.

use serde::{Deserialize, Serialize};

/// The most levels the range is split into.
pub(crate) const MAX_LEVELS: u64 = 64;
/// The longest left part of a context, in steps.
pub(crate) const MAX_DEPTH: usize = 8;
/// The most contexts remembered per signal.
pub(crate) const MAX_CONTEXTS: usize = 1 << 16;
/// Contexts per set of the table: a new context replaces the least recently seen of its set.
const WAYS: usize = 4;

/// The rule's settings, in steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContextSettings {
    /// Levels the range is split into (below 2: the rule is off).
    pub levels: u64,
    /// The longest left part of a context, in steps (1 to `MAX_DEPTH`).
    pub depth: usize,
    /// The share of a step's contexts that must be new (0–1).
    pub share: f64,
    /// Contexts remembered (a multiple of the set size, at most `MAX_CONTEXTS`).
    pub capacity: usize,
    /// Steps a novel step keeps breaching after it (so it can last the persistence).
    pub hold: u64,
    /// The range's width is rounded up to a power of two, so the levels move only when it
    /// doubles rather than with every new extreme.
    #[serde(default)]
    pub coarse: bool,
}

impl ContextSettings {
    /// Whether the rule is on.
    pub fn on(&self) -> bool {
        self.levels >= 2 && self.depth >= 1 && self.capacity >= WAYS
    }
}

/// The contexts one signal has seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contexts {
    /// The lowest and highest value seen.
    range: Option<(f64, f64)>,
    /// The levels of the last steps, oldest first (at most the depth).
    last: Vec<u8>,
    /// Fingerprints of the contexts seen (0: an empty slot), in sets of `WAYS`.
    keys: Vec<u64>,
    /// When each slot was last seen, in steps.
    seen: Vec<u32>,
    /// Steps learned.
    clock: u32,
    /// Steps the last novelty keeps breaching.
    hold: u64,
}

impl Contexts {
    /// The share of the contexts ending with `value` never seen before (1 while a novelty is
    /// held). `None` until the last levels fill the depth.
    pub fn novelty(&self, value: f64, s: &ContextSettings) -> Option<f64> {
        if !value.is_finite() || self.last.len() < s.depth || self.keys.is_empty() {
            return None;
        }
        if self.hold > 0 {
            return Some(1.0);
        }
        let level = self.level(value, s);
        let new = self
            .fingerprints(level, s)
            .filter(|&key| self.find(key).is_none())
            .count();
        Some(new as f64 / s.depth as f64)
    }

    /// Learns `value`: its contexts are remembered, its level joins the last ones.
    pub fn learn(&mut self, value: f64, s: &ContextSettings) {
        if !value.is_finite() {
            return;
        }
        let capacity = s.capacity.clamp(WAYS, MAX_CONTEXTS) / WAYS * WAYS;
        if self.keys.len() != capacity {
            self.keys = vec![0; capacity];
            self.seen = vec![0; capacity];
        }
        self.range = Some(match self.range {
            Some((lo, hi)) => (lo.min(value), hi.max(value)),
            None => (value, value),
        });
        let level = self.level(value, s);
        self.clock = self.clock.wrapping_add(1);
        if self.last.len() >= s.depth {
            let keys: [u64; MAX_DEPTH] = {
                let mut keys = [0; MAX_DEPTH];
                for (slot, key) in keys.iter_mut().zip(self.fingerprints(level, s)) {
                    *slot = key;
                }
                keys
            };
            let new = keys[..s.depth.min(MAX_DEPTH)]
                .iter()
                .filter(|&&key| !self.remember(key))
                .count();
            self.hold = match new as f64 >= s.share * s.depth as f64 {
                true => s.hold,
                false => self.hold.saturating_sub(1),
            };
        }
        self.last.push(level);
        if self.last.len() > s.depth {
            let extra = self.last.len() - s.depth;
            self.last.drain(..extra);
        }
    }

    /// The level of `value` in the range seen so far (widened to include it).
    fn level(&self, value: f64, s: &ContextSettings) -> u8 {
        let levels = s.levels.clamp(2, MAX_LEVELS);
        let (lo, hi) = self.range.unwrap_or((value, value));
        let (lo, hi) = (lo.min(value), hi.max(value));
        if hi <= lo {
            return 0;
        }
        let width = match s.coarse {
            true => (hi - lo).log2().ceil().exp2(),
            false => hi - lo,
        };
        let at = ((value - lo) / width * levels as f64).floor();
        at.clamp(0.0, (levels - 1) as f64) as u8
    }

    /// The fingerprints of the contexts ending at `level`, left parts of 1 to `depth` steps.
    fn fingerprints<'a>(
        &'a self,
        level: u8,
        s: &ContextSettings,
    ) -> impl Iterator<Item = u64> + 'a {
        let depth = s.depth.min(self.last.len());
        let mut left = 0x9e37_79b9_7f4a_7c15_u64;
        self.last
            .iter()
            .rev()
            .take(depth)
            .enumerate()
            .map(move |(j, &earlier)| {
                left = mix(left ^ u64::from(earlier));
                mix(left ^ (u64::from(level) << 8 | j as u64)) | 1
            })
    }

    /// The slot holding `key`, if remembered.
    fn find(&self, key: u64) -> Option<usize> {
        let start = self.set(key);
        (start..start + WAYS).find(|&i| self.keys.get(i) == Some(&key))
    }

    /// Marks `key` seen now; remembers it in place of its set's least recently seen context
    /// when new. Returns whether it was known.
    fn remember(&mut self, key: u64) -> bool {
        let now = self.clock;
        if let Some(i) = self.find(key) {
            self.seen[i] = now;
            return true;
        }
        let start = self.set(key);
        let oldest = (start..start + WAYS)
            .max_by_key(|&i| (self.keys[i] == 0, now.wrapping_sub(self.seen[i])))
            .unwrap_or(start);
        self.keys[oldest] = key;
        self.seen[oldest] = now;
        false
    }

    /// The first slot of `key`'s set.
    fn set(&self, key: u64) -> usize {
        let sets = (self.keys.len() / WAYS).max(1);
        ((key >> 32) as usize % sets) * WAYS
    }
}

/// A 64-bit finaliser (xor-shift-multiply): spreads every input bit over the output.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(levels: u64, depth: usize) -> ContextSettings {
        ContextSettings {
            levels,
            depth,
            share: 1.0,
            capacity: 256,
            hold: 0,
            coarse: false,
        }
    }

    #[test]
    fn a_repeated_sequence_is_known_and_a_new_move_is_novel() {
        let s = settings(4, 3);
        let mut c = Contexts::default();
        let wave = [0.0, 1.0, 2.0, 3.0, 2.0, 1.0];
        for _ in 0..20 {
            for v in wave {
                c.learn(v, &s);
            }
        }
        // After 3, 2, 1 comes 0 in the wave: every context is known.
        assert_eq!(c.novelty(0.0, &s), Some(0.0));
        // 3 after 3, 2, 1 never happened: even the move from 1 to 3 is new.
        assert_eq!(c.novelty(3.0, &s), Some(1.0));
        c.learn(3.0, &s);
        // Learned once, known after.
        let mut again = c.clone();
        for v in [2.0, 1.0] {
            again.learn(v, &s);
        }
        assert_eq!(again.novelty(3.0, &s), Some(0.0));
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let s = settings(64, 8);
        let mut c = Contexts::default();
        let mut x = 1u64;
        for _ in 0..10_000 {
            x = mix(x);
            c.learn((x % 1000) as f64, &s);
        }
        assert_eq!(c.keys.len(), 256);
        assert_eq!(c.last.len(), 8);
    }
}

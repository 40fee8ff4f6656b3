//! The novelty rule: online clustering of the recent shape of one signal.
//!
//! The last `window` blocks of `block` steps (their means, normalised by the range of values
//! seen while learning) form a point in a `window`-dimensional space. Categories are boxes in
//! that space (a lower and an upper corner), learned online as in fuzzy adaptive resonance with
//! fast learning: a point joins the category whose box grows least to contain it, if the grown
//! box stays within `(1 − vigilance) · window` (the sum of its sides); otherwise it starts a
//! category of its own. A step is novel when the nearest category's grown box would exceed
//! `margin` times that limit: its recent shape matches nothing learned. Learning never stops
//! (a new shape is novel once, then known); categories are bounded, the least recently used
//! giving way. Per step: one pass over the categories, `categories · window` comparisons.

use serde::{Deserialize, Serialize};

/// The longest window of blocks the rule accepts.
pub(crate) const MAX_WINDOW: usize = 32;

/// The longest block, in steps.
pub(crate) const MAX_BLOCK: usize = 16;

/// The most categories the rule accepts.
pub(crate) const MAX_CATEGORIES: usize = 256;

/// A normalised block mean is clipped to this far beyond the learned range, so one wild value
/// counts as a bounded distance.
const REACH: f64 = 1.0;

/// The rule's settings, in steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct NoveltySettings {
    /// Blocks in the window (0: the rule is off).
    pub window: usize,
    /// Steps per block.
    pub block: usize,
    /// How close a point must be to a category to join it (0–1).
    pub vigilance: f64,
    /// A point is novel beyond this multiple of the joining limit.
    pub margin: f64,
    /// Categories kept at most.
    pub categories: usize,
    /// Steps over which the normalising range is learned.
    pub learning: u64,
    /// Steps a novelty keeps breaching after the novel one (so it can persist).
    pub hold: u64,
    /// A novelty must also exceed this multiple of the envelope of earlier novelties (0: no
    /// envelope).
    pub envelope: f64,
    /// The envelope's weight kept per step (its decay).
    pub keep: f64,
    /// A step is novel once this many consecutive windows were new shapes or shapes first seen
    /// in the same run (a new regime, not one odd window; 1: every novel window).
    #[serde(default)]
    pub run: u64,
}

impl NoveltySettings {
    /// Whether the rule runs.
    pub fn on(&self) -> bool {
        self.window > 0 && self.block > 0 && self.categories > 0 && self.vigilance < 1.0
    }

    /// The largest sum of sides a category's box may reach.
    fn limit(&self) -> f64 {
        (1.0 - self.vigilance).max(1e-6) * self.window as f64
    }

    /// The grown box beyond which a point is novel, given the envelope of earlier novelties.
    fn threshold(&self, envelope: f64) -> f64 {
        (self.limit() * self.margin.max(1.0)).max(self.envelope * envelope)
    }
}

/// The rule's state for one signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Novelty {
    /// Values learned.
    seen: u64,
    /// Lowest and highest value of the learning period.
    range: Option<(f64, f64)>,
    /// The last `window · block` values, oldest first once full (a ring).
    values: Vec<f64>,
    /// Where the next value goes in the ring.
    next: usize,
    /// Category boxes, `window` lower corners then `window` upper corners each.
    boxes: Vec<f32>,
    /// The step each category last matched (the least recent gives way when full).
    used: Vec<u64>,
    /// Steps the last novelty keeps breaching.
    held: u64,
    /// The grown box of the largest recent novelty, decaying: a series whose shapes are often
    /// new is judged by its own novelties.
    #[serde(default)]
    envelope: f64,
    /// Consecutive windows up to the last step that were new shapes or joined a category born
    /// in the same run, which began at step `since`.
    #[serde(default)]
    streak: u64,
    /// See `streak`.
    #[serde(default)]
    since: u64,
    /// The step each category was born.
    #[serde(default)]
    born: Vec<u64>,
}

impl Novelty {
    /// How novel the shape ending with `value` is: the nearest category's grown box as a
    /// fraction of the novelty limit (above 1: novel), or 1 while an earlier novelty holds.
    /// `None` until the ring is full and a category exists.
    pub fn score(&self, value: f64, floor: f64, s: &NoveltySettings) -> Option<f64> {
        let (point, n) = self.point(value, floor, s)?;
        let (i, grown) = self.nearest(&point[..n], n)?;
        let novelty = grown / s.threshold(self.envelope);
        Some(if self.held > 0 {
            novelty.max(1.0 + f64::EPSILON)
        } else if s.run <= 1 {
            novelty
        } else if self.continues(i, grown, s) && self.streak.saturating_add(1) == s.run {
            // The run of new shapes is long enough now.
            novelty.max(1.0 + f64::EPSILON)
        } else {
            novelty.min(1.0)
        })
    }

    /// Learns `value`: the range while learning, then the category of the shape it ends.
    pub fn learn(&mut self, value: f64, floor: f64, s: &NoveltySettings) {
        if !value.is_finite() || !s.on() {
            return;
        }
        let n = s.window.min(MAX_WINDOW);
        let len = n * s.block.min(MAX_BLOCK);
        if self.seen < s.learning {
            self.range = Some(match self.range {
                Some((lo, hi)) => (lo.min(value), hi.max(value)),
                None => (value, value),
            });
        }
        self.seen = self.seen.saturating_add(1);
        let point = self.point(value, floor, s);
        if self.values.len() < len {
            self.values.push(value);
        } else if let Some(slot) = self.values.get_mut(self.next) {
            *slot = value;
        }
        self.next = (self.next + 1) % len.max(1);
        self.held = self.held.saturating_sub(1);
        self.envelope *= s.keep;
        let Some((point, n)) = point else { return };
        let point = &point[..n];
        let limit = s.limit();
        match self.nearest(point, n) {
            Some((i, grown)) if grown <= limit => {
                self.follow_run(self.continues(i, grown, s), false, s);
                if let Some(b) = self.boxes.get_mut(2 * n * i..2 * n * (i + 1)) {
                    let (lower, upper) = b.split_at_mut(n);
                    for ((l, u), &x) in lower.iter_mut().zip(upper.iter_mut()).zip(point) {
                        *l = l.min(x);
                        *u = u.max(x);
                    }
                }
                if let Some(u) = self.used.get_mut(i) {
                    *u = self.seen;
                }
            }
            nearest => {
                let threshold = s.threshold(self.envelope);
                let novel = nearest.is_none_or(|(_, grown)| grown > threshold);
                self.follow_run(novel || self.streak > 0, novel, s);
                // Novelties from the second half of learning on raise the envelope.
                if let Some((_, grown)) = nearest.filter(|_| novel && 2 * self.seen > s.learning) {
                    self.envelope = self.envelope.max(grown);
                }
                self.add(point, n, s.categories.min(MAX_CATEGORIES));
            }
        }
    }

    /// Whether a window whose nearest category is `i` (grown to `grown`) continues a run of new
    /// shapes: it is novel, or a run is under way and it is a new shape or one born in the run.
    fn continues(&self, i: usize, grown: f64, s: &NoveltySettings) -> bool {
        if grown > s.threshold(self.envelope) {
            return true;
        }
        self.streak > 0 && (grown > s.limit() || self.born.get(i).is_some_and(|&b| b >= self.since))
    }

    /// Follows the run of new shapes after a window; a novelty after learning breaches (and
    /// holds): every novel window with `run` 1, else the window that makes the run `run` long.
    fn follow_run(&mut self, continues: bool, novel: bool, s: &NoveltySettings) {
        if !continues {
            self.streak = 0;
            return;
        }
        if self.streak == 0 {
            self.since = self.seen;
        }
        self.streak = self.streak.saturating_add(1);
        let breach = if s.run <= 1 {
            novel
        } else {
            self.streak == s.run
        };
        if breach && self.seen > s.learning {
            self.held = s.hold;
        }
        // A run is judged once: the next one starts with the next novel window.
        if self.streak >= s.run {
            self.streak = 0;
        }
    }

    /// A new category holding only `point`, in place of the least recently used when full.
    fn add(&mut self, point: &[f32], n: usize, most: usize) {
        let slot = if self.used.len() < most {
            self.used.push(0);
            self.born.push(0);
            self.boxes.extend_from_slice(point);
            self.boxes.extend_from_slice(point);
            self.used.len() - 1
        } else {
            let oldest = self.used.iter().enumerate().min_by_key(|(_, &u)| u);
            let Some((i, _)) = oldest else { return };
            if let Some(b) = self.boxes.get_mut(2 * n * i..2 * n * (i + 1)) {
                let (lower, upper) = b.split_at_mut(n);
                lower.copy_from_slice(point);
                upper.copy_from_slice(point);
            }
            i
        };
        if let Some(u) = self.used.get_mut(slot) {
            *u = self.seen;
        }
        if let Some(b) = self.born.get_mut(slot) {
            *b = self.seen;
        }
    }

    /// The category whose box grows least to contain `point`, and the grown box's sum of sides.
    fn nearest(&self, point: &[f32], n: usize) -> Option<(usize, f64)> {
        self.boxes
            .chunks_exact(2 * n)
            .map(|b| {
                let (lower, upper) = b.split_at(n);
                lower
                    .iter()
                    .zip(upper)
                    .zip(point)
                    .map(|((&l, &u), &x)| f64::from(u.max(x) - l.min(x)))
                    .sum::<f64>()
            })
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The normalised block means of the window ending with `value`, once the ring is full
    /// and the range is known.
    fn point(
        &self,
        value: f64,
        floor: f64,
        s: &NoveltySettings,
    ) -> Option<([f32; MAX_WINDOW], usize)> {
        if !s.on() || !value.is_finite() {
            return None;
        }
        let n = s.window.min(MAX_WINDOW);
        let block = s.block.min(MAX_BLOCK);
        let len = n * block;
        if self.values.len() < len {
            return None;
        }
        let (lo, hi) = self.range?;
        let scale = (hi - lo).max(floor).max(0.01 * hi.abs().max(lo.abs()));
        if scale <= 0.0 || !scale.is_finite() {
            return None;
        }
        // The window: the ring's values after the oldest one, then `value`.
        let at = |k: usize| -> f64 {
            if k + 1 == len {
                value
            } else {
                self.values
                    .get((self.next + 1 + k) % len)
                    .copied()
                    .unwrap_or(value)
            }
        };
        let mut point = [0f32; MAX_WINDOW];
        for (j, p) in point.iter_mut().take(n).enumerate() {
            let sum: f64 = (j * block..(j + 1) * block).map(at).sum();
            let mean = sum / block as f64;
            *p = ((mean - lo) / scale).clamp(-REACH, 1.0 + REACH) as f32;
        }
        Some((point, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NoveltySettings {
        NoveltySettings {
            window: 4,
            block: 2,
            vigilance: 0.9,
            margin: 1.0,
            categories: 32,
            learning: 40,
            hold: 0,
            envelope: 0.0,
            keep: 1.0,
            run: 1,
        }
    }

    /// Feeds `values`, returning the steps (indices) judged novel before being learned.
    fn novel_steps(n: &mut Novelty, values: impl IntoIterator<Item = f64>) -> Vec<usize> {
        novel_steps_with(n, &settings(), values)
    }

    fn novel_steps_with(
        n: &mut Novelty,
        s: &NoveltySettings,
        values: impl IntoIterator<Item = f64>,
    ) -> Vec<usize> {
        values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let novel = n.score(v, 1e-9, s).is_some_and(|x| x > 1.0);
                n.learn(v, 1e-9, s);

                novel.then_some(i)
            })
            .collect()
    }

    fn wave(i: usize) -> f64 {
        [10.0, 20.0, 30.0, 20.0][i % 4]
    }

    #[test]
    fn a_repeating_shape_is_learned_and_a_new_one_is_novel_once() {
        let mut n = Novelty::default();
        let learning = novel_steps(&mut n, (0..40).map(wave));
        assert!(!learning.is_empty(), "every shape is new at first");
        // Known shapes: nothing novel.
        assert_eq!(
            novel_steps(&mut n, (40..400).map(wave)),
            Vec::<usize>::new()
        );
        // A flat stretch at the top of the range is a new shape: novel at its first steps,
        // then learned.
        let flat = novel_steps(&mut n, (0..40).map(|_| 30.0));
        assert!(!flat.is_empty() && flat.iter().all(|&i| i < 8), "{flat:?}");
        // Back to the known wave, then the flat stretch again: known by now.
        novel_steps(&mut n, (0..40).map(wave));
        assert_eq!(
            novel_steps(&mut n, (0..40).map(|_| 30.0)),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn a_run_longer_than_the_window_tells_a_new_level_from_one_odd_value() {
        let judge = |run: u64| {
            let s = NoveltySettings { run, ..settings() };
            let mut n = Novelty::default();
            novel_steps_with(&mut n, &s, (0..400).map(wave));
            // One odd value in the known wave, then a lasting new level.
            let odd = novel_steps_with(
                &mut n,
                &s,
                (0..40).map(|i| match i {
                    0 => 40.0,
                    i => wave(i),
                }),
            );
            let level = novel_steps_with(&mut n, &s, (0..40).map(|_| 40.0));
            (odd, level)
        };
        let (odd, level) = judge(1);
        assert!(!odd.is_empty() && !level.is_empty(), "{odd:?} {level:?}");
        // The odd value leaves the window after 8 steps: a run of 10 never forms.
        let (odd, level) = judge(10);
        assert_eq!(odd, Vec::<usize>::new());
        assert_eq!(level.len(), 1, "{level:?}");
        assert!(level[0] >= 9, "{level:?}");
    }

    #[test]
    fn categories_are_bounded() {
        let mut n = Novelty::default();
        // Scattered values within the learned range: windows far apart, many new shapes.
        novel_steps(&mut n, (0..40).map(|i| i as f64));
        novel_steps(
            &mut n,
            (0..2000u64).map(|i| {
                let h = i.wrapping_mul(6_364_136_223_846_793_005) >> 33;
                (h % 1000) as f64 / 25.0
            }),
        );
        assert_eq!(n.used.len(), settings().categories);
        assert_eq!(n.boxes.len(), 2 * 4 * settings().categories);
        assert_eq!(n.values.len(), 8);
    }

    #[test]
    fn off_keeps_no_state() {
        let mut n = Novelty::default();
        let off = NoveltySettings {
            window: 0,
            ..settings()
        };
        for i in 0..100 {
            n.learn(wave(i), 1e-9, &off);
            assert_eq!(n.score(wave(i), 1e-9, &off), None);
        }
        assert_eq!(n, Novelty::default());
    }
}

//! One rule's episode: a breach must persist to open, fires once, and re-arms after recovery.

use serde::{Deserialize, Serialize};

/// The state of one rule between steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Episode {
    /// Consecutive breaching steps.
    run: u64,
    /// Consecutive calm steps while open.
    calm: u64,
    /// The breach has persisted long enough: an episode is under way.
    open: bool,
    /// The episode has been reported (or was suppressed because it began while learning).
    fired: bool,
    /// The breach lasted long enough to be adopted as the new normal: while the baseline
    /// settles (the seasonal profile still remembers the old level), re-arming waits for a
    /// calm as long as the adoption took.
    #[serde(default)]
    adopted: bool,
    /// Steps from the episode's first breach to its latest one.
    #[serde(default)]
    span: u64,
}

impl Episode {
    /// Feeds one step: whether it breaches the band, and whether an anomaly may be reported now
    /// (past learning, enough traffic). Returns `true` when the episode must be reported.
    /// `rearm` is the longest calm a reported episode needs to re-arm, `adopt` the breach after
    /// which it is the new normal; a short reported one re-arms after a calm `recovery.0` times
    /// as long as itself and at least `recovery.1` steps.
    ///
    /// An episode opens after `persist` consecutive breaching steps and closes (re-arms) after
    /// `persist` consecutive calm ones. It is reported once, at the first step it is open and
    /// reportable; an episode open while reporting is off (learning) stays silent to its end.
    pub fn step(
        &mut self,
        breach: bool,
        reportable: bool,
        learned: bool,
        persist: u64,
        (rearm, adopt, recovery): (u64, u64, (u64, u64)),
    ) -> bool {
        if breach {
            self.run = self.run.saturating_add(1);
            if self.open || self.run >= persist {
                // Counted from the first breach of the run that opened the episode.
                self.span = self
                    .span
                    .saturating_add(self.calm)
                    .saturating_add(if self.open { 1 } else { self.run });
            }
            self.calm = 0;
            if self.run >= persist {
                self.open = true;
            }
            if self.run >= adopt {
                self.adopted = true;
            }
        } else {
            self.run = 0;
            if self.open {
                self.calm = self.calm.saturating_add(1);
                // A reported or adopted episode re-arms only after a calm as long as adoption
                // takes, so a baseline settling after a level change is not a second episode.
                // A reported one that was short re-arms sooner: after a calm several times
                // its own length (at least `recovery`), once it has recovered.
                let needed = if self.adopted || self.fired {
                    let (factor, least) = recovery;
                    let recovered = factor.saturating_mul(self.span).max(least);
                    rearm.max(adopt).min(recovered)
                } else {
                    rearm
                };
                if self.calm >= needed {
                    *self = Self::default();
                }
            }
        }
        if self.open && !self.fired {
            if !learned {
                self.fired = true;
            } else if breach && reportable {
                self.fired = true;
                return true;
            }
        }
        false
    }

    /// An episode is under way and was reported.
    pub fn is_reported(&self) -> bool {
        self.open && self.fired
    }

    /// An episode is under way.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Consecutive breaching steps up to now.
    pub fn run(&self) -> u64 {
        self.run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(e: &mut Episode, steps: &[bool], persist: u64) -> Vec<usize> {
        steps
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| {
                e.step(b, true, true, persist, (persist, persist, (4, persist)))
                    .then_some(i)
            })
            .collect()
    }

    #[test]
    fn fires_after_persistence_once() {
        let mut e = Episode::default();
        let fired = feed(&mut e, &[true, true, true, true, true, true], 3);
        assert_eq!(fired, vec![2]);
    }

    #[test]
    fn short_breaches_never_fire() {
        let mut e = Episode::default();
        let fired = feed(&mut e, &[true, true, false, true, true, false, true], 3);
        assert!(fired.is_empty());
    }

    #[test]
    fn re_arms_after_recovery() {
        let mut e = Episode::default();
        let steps = [
            true, true, true, false, true, false, false, false, true, true, true,
        ];
        assert_eq!(feed(&mut e, &steps, 3), vec![2, 10]);
    }

    #[test]
    fn a_short_reported_episode_re_arms_after_a_calm_several_times_its_length() {
        let mut e = Episode::default();
        let mut fired = Vec::new();
        // Three breaching steps (reported), 11 calm, a second incident: within four times the
        // first one's length, still the same episode; then 12 calm, and a third is new.
        let steps: Vec<bool> = [vec![true; 3], vec![false; 11], vec![true; 3]]
            .concat()
            .into_iter()
            .chain([vec![false; 12], vec![true; 3]].concat())
            .collect();
        for (i, &b) in steps.iter().enumerate() {
            if e.step(b, true, true, 3, (100, 10, (4, 5))) {
                fired.push(i);
            }
        }
        // The second run makes the episode 17 steps long: 68 calm steps would be needed.
        assert_eq!(fired, vec![2]);
        let mut e = Episode::default();
        let steps = [vec![true; 3], vec![false; 12], vec![true; 3]].concat();
        let fired: Vec<usize> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| e.step(b, true, true, 3, (100, 10, (4, 5))).then_some(i))
            .collect();
        assert_eq!(fired, vec![2, 17]);
    }

    #[test]
    fn waits_for_traffic_then_fires() {
        let mut e = Episode::default();
        assert!(!e.step(true, false, true, 1, (1, 1, (4, 1))));
        assert!(e.step(true, true, true, 1, (1, 1, (4, 1))));
        assert!(!e.step(true, true, true, 1, (1, 1, (4, 1))));
    }

    #[test]
    fn episode_open_while_learning_stays_silent() {
        let mut e = Episode::default();
        assert!(!e.step(true, true, false, 1, (1, 1, (4, 1))));
        assert!(!e.step(true, true, true, 1, (1, 1, (4, 1))));
        assert!(!e.step(false, true, true, 1, (1, 1, (4, 1))));
        assert!(e.step(true, true, true, 1, (1, 1, (4, 1))));
    }
}

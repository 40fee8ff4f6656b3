//! The endpoints under watch: a detector per endpoint of each edge (caller → callee) and per
//! endpoint across all its callers, fed one step at a time with that step's calls.
//!
//! A step lasts a minute in production. `analysis.step` compresses it (demos, tests): every
//! duration of the detector (learning, persistence, half-lives) then counts steps as minutes.

use super::baseline::{Anomaly, Detector, DetectorConfig, MinuteSample};
use super::graph::{Bucket, Observation};
use super::keyed::{KeyedMap, Quad};
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// Endpoints (edge endpoints and endpoints across callers) with a baseline; more are counted,
/// not tracked.
pub const MAX_WATCHES: usize = 5_000;

/// The caller of a watch across every caller of the endpoint.
pub const ANY_CALLER: &str = "*";

/// After a pause longer than this many steps, only this many silent steps are replayed.
const MAX_CATCH_UP: u64 = 60;

/// A stored baseline last fed longer ago than this many steps (four weeks of minutes) is not
/// resumed: it is out of date, or it comes from a run with longer steps.
const STALE_STEPS: u64 = 4 * 7 * 1440;

/// One watched endpoint: caller id (or [`ANY_CALLER`]), callee id, method, template.
pub type WatchKey = (Arc<str>, Arc<str>, String, Arc<str>);

/// Where the two watches of one edge endpoint are (the edge's, the endpoint's across callers),
/// once known; kept with the endpoint by the graph.
#[derive(Clone, Copy, Debug, Default)]
pub struct WatchPlaces([Option<u32>; 2]);

/// A statistical anomaly of one watched endpoint, as [`Watches::advance`] reports it.
#[derive(Clone, Debug)]
pub struct Fired {
    /// `from -> to METHOD template`, or `to METHOD template` across callers.
    pub subject: String,
    /// The caller's node id, or [`ANY_CALLER`].
    pub from: Arc<str>,
    /// The endpoint's node id.
    pub to: Arc<str>,
    /// The anomaly.
    pub anomaly: Anomaly,
    /// For a watch across callers: the callers whose own edge watch breached the same way at
    /// the same step (merged into this finding).
    pub callers: Vec<String>,
}

/// A detector and the calls of the step under way.
#[derive(Debug)]
struct Watch {
    detector: Detector,
    open: Bucket,
}

/// Every watched endpoint, and the step clock.
#[derive(Debug)]
pub struct Watches {
    config: DetectorConfig,
    step_ms: u64,
    /// The step under way; 0 before the first call.
    step: u64,
    /// Each watch's place in `slots` (watches are never removed, so a place stays valid).
    watches: KeyedMap<WatchKey, u32>,
    slots: Vec<Watch>,
    /// [`ANY_CALLER`], allocated once.
    any: Arc<str>,
    /// Endpoints not watched because of [`MAX_WATCHES`].
    pub overflow: u64,
    /// Whether closed steps are kept for [`Watches::take_closed`] (a fleet's detection).
    export: bool,
    /// The closed steps' samples with calls, by key, until taken.
    closed: Vec<(String, MinuteSample)>,
}

impl Watches {
    /// No watch yet; steps of `step` (a minute unless compressed; at least 10 ms).
    pub fn new(config: DetectorConfig, step: Duration) -> Self {
        let step_ms = if step.is_zero() {
            60_000
        } else {
            (step.as_millis() as u64).max(10)
        };
        Self {
            config,
            step_ms,
            step: 0,
            watches: KeyedMap::default(),
            slots: Vec::new(),
            any: Arc::from(ANY_CALLER),
            overflow: 0,
            export: false,
            closed: Vec::new(),
        }
    }

    /// How long a baseline learns before any statistical anomaly (its learning steps).
    pub fn learning(&self) -> Duration {
        Duration::from_millis(self.config.learning_minutes.saturating_mul(self.step_ms))
    }

    /// The length of a step.
    pub fn step(&self) -> Duration {
        Duration::from_millis(self.step_ms)
    }

    /// The step a time (milliseconds since the epoch) falls in.
    pub fn step_of(&self, unix_ms: u64) -> u64 {
        unix_ms / self.step_ms
    }

    /// Unix seconds at the start of `step`.
    pub fn step_start_secs(&self, step: u64) -> u64 {
        step.saturating_mul(self.step_ms) / 1000
    }

    /// Counts one call of the edge endpoint `key` and of its endpoint across callers, in the
    /// step under way (a call that started in a step already closed counts in the open one).
    pub fn count(&mut self, key: WatchKey, o: &Observation) {
        self.count_endpoint(&key.0, &key.1, &key.2, &key.3, o);
    }

    /// [`Watches::count`] for the call `o` from node `from` to node `to` (its method and
    /// template), copying no key unless the call starts a watch. `places` remembers, for the
    /// caller's edge endpoint, where its two watches are: a call of a known endpoint then
    /// looks nothing up.
    pub fn count_call(
        &mut self,
        from: &Arc<str>,
        to: &Arc<str>,
        o: &Observation,
        places: &mut WatchPlaces,
    ) {
        for (caller, place) in [from, &self.any].into_iter().zip(&mut places.0) {
            let slot = match *place {
                Some(slot) => Some(slot),
                None => {
                    let found = Self::place(
                        &mut self.watches,
                        &mut self.slots,
                        &mut self.overflow,
                        &self.config,
                        Quad(caller, to, &o.method, &o.template),
                    );
                    *place = found;
                    found
                }
            };
            if let Some(w) = slot.and_then(|s| self.slots.get_mut(s as usize)) {
                w.open.add(o);
            }
        }
    }

    fn count_endpoint(
        &mut self,
        from: &Arc<str>,
        to: &Arc<str>,
        method: &str,
        template: &Arc<str>,
        o: &Observation,
    ) {
        for caller in [from, &self.any] {
            let slot = Self::place(
                &mut self.watches,
                &mut self.slots,
                &mut self.overflow,
                &self.config,
                Quad(caller, to, method, template),
            );
            if let Some(w) = slot.and_then(|s| self.slots.get_mut(s as usize)) {
                w.open.add(o);
            }
        }
    }

    /// The place of the watch of `key`, started when new; `None` (counted) past the cap.
    fn place(
        watches: &mut KeyedMap<WatchKey, u32>,
        slots: &mut Vec<Watch>,
        overflow: &mut u64,
        config: &DetectorConfig,
        key: Quad<'_>,
    ) -> Option<u32> {
        if let Some(&slot) = watches.get(&key) {
            return Some(slot);
        }
        if slots.len() >= MAX_WATCHES {
            *overflow += 1;
            return None;
        }
        let slot = u32::try_from(slots.len()).ok()?;
        slots.push(Watch {
            detector: Detector::new(config.clone()),
            open: Bucket::default(),
        });
        let Quad(from, to, method, template) = key;
        watches.insert(
            (from.into(), to.into(), method.to_owned(), template.into()),
            slot,
        );
        Some(slot)
    }

    /// Whether [`Watches::advance`] to `step` would change anything: the first step, or one
    /// past the step under way.
    pub fn closes(&self, step: u64) -> bool {
        self.step == 0 || step > self.step
    }

    /// Closes every step before `step`: the open one with its calls, the ones after it silent
    /// (a busy endpoint falling silent is a drop). Returns the anomalies, one per endpoint and
    /// kind: see [`Watches::merge`].
    pub fn advance(&mut self, step: u64) -> Vec<Fired> {
        if self.step == 0 {
            self.step = step;
            return Vec::new();
        }
        if step <= self.step {
            return Vec::new();
        }
        let mut found = Vec::new();
        let start = self.step.max(step.saturating_sub(MAX_CATCH_UP));
        for (key, &slot) in &self.watches {
            let Some(w) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let open = std::mem::take(&mut w.open);
            for s in start..step {
                let sample = if s == self.step && open.count > 0 {
                    MinuteSample {
                        minute: s,
                        count: open.count,
                        errors: open.e5xx,
                        latency_ms: open.latency.quantile(0.9),
                    }
                } else {
                    MinuteSample::silent(s)
                };
                if self.export && sample.count > 0 {
                    let (from, to, method, template) = key;
                    self.closed
                        .push((join_key(from, to, method, template), sample));
                }
                for a in w.detector.observe(&sample) {
                    found.push((key.clone(), a));
                }
            }
        }
        self.step = step;
        self.merge(found)
    }

    /// One finding per statistical anomaly: an endpoint's edge watch (one caller) and its watch
    /// across callers usually breach together. Of those breaching the same way at the same
    /// step, the watch across callers speaks for all (naming the callers that breached too);
    /// a watch whose sibling already reported the episode under way stays silent.
    fn merge(&self, found: Vec<(WatchKey, Anomaly)>) -> Vec<Fired> {
        let mut groups: Vec<(WatchKey, Anomaly, Vec<String>)> = Vec::new();
        for (key, a) in found {
            let same = groups.iter_mut().find(|(k, g, _)| {
                k.1 == key.1
                    && k.2 == key.2
                    && k.3 == key.3
                    && g.kind == a.kind
                    && g.minute == a.minute
            });
            match same {
                Some((k, g, callers)) => {
                    if &*key.0 == ANY_CALLER {
                        callers.push(k.0.to_string());
                        *k = key;
                        *g = a;
                    } else {
                        callers.push(key.0.to_string());
                    }
                }
                None => groups.push((key, a, Vec::new())),
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (key, anomaly, mut callers) in groups {
            let (from, to, method, template) = &key;
            let reported_elsewhere = self.watches.iter().any(|((f, t, m, tp), &slot)| {
                t == to
                    && m == method
                    && tp == template
                    && f != from
                    && !callers.iter().any(|c| **c == **f)
                    && self
                        .slots
                        .get(slot as usize)
                        .is_some_and(|w| w.detector.reported(anomaly.kind))
            });
            if reported_elsewhere {
                continue;
            }
            callers.sort();
            out.push(Fired {
                subject: subject(from, to, method, template),
                from: from.clone(),
                to: to.clone(),
                anomaly,
                callers,
            });
        }
        out.sort_by(|a, b| a.subject.cmp(&b.subject));
        out
    }

    /// Whether an edge endpoint from node `from` to node `to` is watched (the two have talked).
    pub fn has_edge(&self, from: &str, to: &str) -> bool {
        self.watches
            .keys()
            .any(|(f, t, _, _)| &**f == from && &**t == to)
    }

    /// Keeps each closed step's samples (of endpoints with calls) for
    /// [`Watches::take_closed`]: a fleet sums them over its instances.
    pub fn export_closed(&mut self) {
        self.export = true;
    }

    /// The samples of the steps closed since the last call, as `(key, sample)`.
    pub fn take_closed(&mut self) -> Vec<(String, MinuteSample)> {
        std::mem::take(&mut self.closed)
    }

    /// The detector of `key`, if watched.
    pub fn detector(&self, key: &WatchKey) -> Option<&Detector> {
        let slot = *self.watches.get(key)?;
        self.slots.get(slot as usize).map(|w| &w.detector)
    }

    /// Watched endpoints.
    pub fn len(&self) -> usize {
        self.watches.len()
    }

    /// No endpoint is watched.
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty()
    }

    /// Every baseline as `(key, json)`, for the store.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.watches
            .iter()
            .filter_map(|((from, to, method, template), &slot)| {
                let w = self.slots.get(slot as usize)?;
                let json = serde_json::to_string(w.detector.baseline()).ok()?;
                Some((join_key(from, to, method, template), json))
            })
            .collect()
    }

    /// Resumes a baseline stored by [`snapshot`](Self::snapshot), at `now_ms` (milliseconds
    /// since the epoch); unreadable, stale and future ones are skipped.
    pub fn restore(&mut self, key: &str, state: &str, now_ms: u64) -> bool {
        let Some((from, to, method, template)) = split_key(key) else {
            return false;
        };
        let Ok(baseline) = serde_json::from_str::<super::baseline::Baseline>(state) else {
            return false;
        };
        let now = self.step_of(now_ms);
        if baseline
            .last_minute()
            .is_some_and(|last| last > now || now - last > STALE_STEPS)
        {
            return false;
        }
        if self.slots.len() >= MAX_WATCHES {
            self.overflow += 1;
            return false;
        }
        let watch = Watch {
            detector: Detector::from_baseline(self.config.clone(), baseline),
            open: Bucket::default(),
        };
        if let Some(&slot) = self.watches.get(&Quad(from, to, method, template)) {
            if let Some(w) = self.slots.get_mut(slot as usize) {
                *w = watch;
            }
            return true;
        }
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            return false;
        };
        self.slots.push(watch);
        let key = (from.into(), to.into(), method.to_owned(), template.into());
        self.watches.insert(key, slot);
        true
    }
}

/// How a finding names a watched endpoint: `from -> to METHOD template` for an edge endpoint,
/// `to METHOD template` across callers.
pub fn subject(from: &str, to: &str, method: &str, template: &str) -> String {
    if from == ANY_CALLER {
        format!("{to} {method} {template}")
    } else {
        format!("{from} -> {to} {method} {template}")
    }
}

/// Joins the parts of an endpoint key for the store (caller, callee, method, template).
pub fn join_key(from: &str, to: &str, method: &str, template: &str) -> String {
    [from, to, method, template].join("\u{1f}")
}

/// The parts of a key made by [`join_key`].
pub fn split_key(key: &str) -> Option<(&str, &str, &str, &str)> {
    let mut parts = key.splitn(4, '\u{1f}');
    Some((parts.next()?, parts.next()?, parts.next()?, parts.next()?))
}

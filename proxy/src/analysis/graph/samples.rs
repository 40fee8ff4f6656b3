//! Sample raw paths of the endpoints whose template stands for paths it does not show:
//! `/{unmatched}` (calls answered 404 or 405 that match no template) and `/{overflow}` (past
//! a host's template cap). The caps keep a scanner from growing the graph; these few samples
//! show what it tried. Bounded: at most [`MAX_SAMPLES`] distinct paths per endpoint, each cut
//! at [`MAX_SAMPLE_LEN`] bytes, the most recently seen kept. Paths only: a query is never kept.

use crate::analysis::template::{OVERFLOW, UNMATCHED};
use serde::{Deserialize, Serialize};

/// Distinct sample paths kept per endpoint.
pub const MAX_SAMPLES: usize = 8;
/// The longest sample kept, in bytes (longer paths are cut on a character boundary).
pub const MAX_SAMPLE_LEN: usize = 160;

/// Whether calls under `template` keep sample paths.
pub fn hides_paths(template: &str) -> bool {
    template == UNMATCHED || template == OVERFLOW
}

/// `path` without its query or fragment, cut to [`MAX_SAMPLE_LEN`] bytes.
pub fn sample_of(path: &str) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.len() <= MAX_SAMPLE_LEN {
        return path;
    }
    let mut end = MAX_SAMPLE_LEN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// A raw path seen under an endpoint, and when it was last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSample {
    /// The path as sent (no query), at most [`MAX_SAMPLE_LEN`] bytes.
    pub path: String,
    /// Unix seconds.
    pub last_seen: u64,
}

/// One endpoint's samples, least recently noted first.
#[derive(Debug, Default)]
pub(super) struct Samples(Vec<(Box<str>, u64)>);

impl Samples {
    /// Notes `path` (already cut by [`sample_of`]) seen at `at`: a known path is seen again;
    /// a new one takes a free place or the place of the least recent, unless that one is newer.
    pub(super) fn note(&mut self, path: &str, at: u64) {
        if let Some(i) = self.0.iter().position(|(p, _)| &**p == path) {
            let (p, t) = self.0.remove(i);
            self.0.push((p, t.max(at)));
            return;
        }
        if self.0.len() >= MAX_SAMPLES {
            // The first of the oldest is the least recently noted of them.
            let oldest = self.0.iter().enumerate().min_by_key(|(_, (_, t))| *t);
            match oldest {
                Some((i, (_, t))) if *t <= at => {
                    self.0.remove(i);
                }
                _ => return,
            }
        }
        self.0.push((path.into(), at));
    }

    /// The samples last seen from `since` to `until` (unix seconds), most recent first.
    pub(super) fn between(&self, since: u64, until: u64) -> Vec<PathSample> {
        let mut out: Vec<PathSample> = self
            .0
            .iter()
            .rev()
            .filter(|(_, t)| (since..=until).contains(t))
            .map(|(p, t)| PathSample {
                path: p.to_string(),
                last_seen: *t,
            })
            .collect();
        sort(&mut out);
        out
    }
}

/// Most recent first (a stable sort: equal times keep their order).
fn sort(samples: &mut [PathSample]) {
    samples.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
}

/// Merges `more` into `into`: one entry per path (its latest time), most recent first, at
/// most [`MAX_SAMPLES`].
pub fn merge_samples(into: &mut Vec<PathSample>, more: impl IntoIterator<Item = PathSample>) {
    for s in more {
        match into.iter_mut().find(|x| x.path == s.path) {
            Some(x) => x.last_seen = x.last_seen.max(s.last_seen),
            None => into.push(s),
        }
    }
    sort(into);
    into.truncate(MAX_SAMPLES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bounded_distinct_most_recent_and_cut() {
        let mut s = Samples::default();
        for i in 0..20u64 {
            s.note(&format!("/probe-{i}"), 100 + i);
            s.note("/again", 100 + i);
        }
        let all = s.between(0, u64::MAX);
        assert_eq!(all.len(), MAX_SAMPLES);
        assert_eq!(all[0].path, "/again");
        assert_eq!(all[0].last_seen, 119);
        // The seven most recent probes, newest first.
        let probes: Vec<&str> = all[1..].iter().map(|p| p.path.as_str()).collect();
        assert_eq!(probes[0], "/probe-19");
        assert_eq!(probes[6], "/probe-13");
        // A late (older) path does not push out a newer one.
        s.note("/late", 50);
        assert!(s.between(0, u64::MAX).iter().all(|p| p.path != "/late"));
        // Only those seen in the window.
        assert_eq!(s.between(119, 200).len(), 2);
        let long = format!("/{}", "é".repeat(200));
        let cut = sample_of(&long);
        assert!(cut.len() <= MAX_SAMPLE_LEN && cut.starts_with("/é"));
        assert_eq!(sample_of("/a?token=secret#x"), "/a");
        // Within one second, the last noted are kept, newest first.
        let mut s = Samples::default();
        for i in 0..20 {
            s.note(&format!("/p{i}"), 7);
        }
        let kept: Vec<String> = s.between(0, 7).into_iter().map(|p| p.path).collect();
        let want: Vec<String> = (12..20).rev().map(|i| format!("/p{i}")).collect();
        assert_eq!(kept, want);
        assert!(hides_paths(UNMATCHED) && hides_paths(OVERFLOW) && !hides_paths("/users/{int}"));
    }

    /// A scan answered 404 is one `/{unmatched}` endpoint whose samples show the paths tried
    /// (no query), in the API's window and in the stored minute totals, which a restart (or
    /// another instance) reads back.
    #[test]
    fn a_scan_collapsed_into_unmatched_keeps_its_paths_through_the_store() {
        use crate::analysis::engine::{Analysis, AnalysisConfig};
        use crate::analysis::graph::Window;
        use crate::record::CallRecord;
        let now = std::time::SystemTime::now();
        let secs = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut a = Analysis::new(AnalysisConfig::default());
        for i in 0..30 {
            a.observe(&CallRecord {
                service: Some("web".into()),
                path: format!("/wp-admin/{i}.php?key=secret"),
                status: Some(404),
                start: now,
                ..CallRecord::sample()
            });
        }
        let ok = CallRecord {
            service: Some("web".into()),
            path: "/home".into(),
            ..CallRecord::sample()
        };
        a.observe(&ok);
        let endpoints = a.endpoints_view(Window::FiveMinutes, secs);
        assert_eq!(
            endpoints.len(),
            2,
            "the scan is one endpoint: {endpoints:?}"
        );
        let scan = endpoints
            .iter()
            .find(|e| e.stats.template == UNMATCHED)
            .unwrap_or_else(|| panic!("no /{{unmatched}}: {endpoints:?}"));
        assert_eq!(scan.stats.count, 30);
        let paths: Vec<&str> = scan.stats.samples.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths.len(), MAX_SAMPLES);
        assert!(paths
            .iter()
            .all(|p| p.starts_with("/wp-admin/") && !p.contains('?')));
        let home = endpoints.iter().find(|e| e.stats.template == "/home");
        assert!(home.is_some_and(|e| e.stats.samples.is_empty()));
        // The stored minute carries them; a fresh analysis restored from it shows them.
        let minutes = a.minutes_to_store(now);
        let (key, _, json) = minutes
            .iter()
            .find(|(k, _, _)| k.ends_with(UNMATCHED))
            .unwrap_or_else(|| panic!("{minutes:?}"));
        assert!(
            json.contains("\"samples\"") && json.contains("/wp-admin/29.php"),
            "{json}"
        );
        let parts = crate::analysis::watch::split_key(key).unwrap_or_default();
        let mut b = Analysis::new(AnalysisConfig::default());
        b.restore(crate::analysis::engine::Restored {
            edges: vec![(parts.0.into(), parts.1.into(), secs)],
            minutes: minutes
                .iter()
                .map(|(k, _, j)| (k.clone(), j.clone()))
                .collect(),
            ..Default::default()
        });
        let restored = b.endpoints_view(Window::FiveMinutes, secs);
        let scan = restored.iter().find(|e| e.stats.template == UNMATCHED);
        let got: Vec<&str> = scan
            .map(|e| e.stats.samples.iter().map(|s| s.path.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(got, paths);
    }

    #[test]
    fn merged_samples_keep_each_path_once_with_its_latest_time() {
        let mut a = vec![PathSample {
            path: "/x".into(),
            last_seen: 5,
        }];
        let more = (0..10).map(|i| PathSample {
            path: if i == 0 {
                "/x".into()
            } else {
                format!("/y{i}")
            },
            last_seen: 10 + i,
        });
        merge_samples(&mut a, more);
        assert_eq!(a.len(), MAX_SAMPLES);
        assert_eq!(a[0].path, "/y9");
        assert!(
            a.iter().all(|s| s.path != "/x"),
            "the oldest falls out: {a:?}"
        );
    }
}

//! `sightline baseline score`: backtests the detector on labelled series and scores it the way
//! the Numenta Anomaly Benchmark (NAB) scores detectors.
//!
//! Each labelled window of a series is worth one true positive if the detector flags a row
//! inside it (the earlier the better, on a scaled sigmoid of the position in the window), and
//! costs a false negative if not; a detection outside every window costs a false positive
//! (less when it falls just after a window). The first 15% of a series (at most 750 rows) is a
//! probation: nothing there counts. A profile weighs the three outcomes; the raw sum is
//! normalised so that the detector that never fires scores 0 and the one that fires at the
//! left edge of every window scores 100.
//!
//! The detector's output is binary (an anomaly or not), so there is no threshold to sweep: the
//! detections are scored as they are.

#[cfg(test)]
mod tests;

use super::{csv, detect, read_series, ReplayError, TuningArgs};
use crate::analysis::baseline::DetectorConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// `sightline baseline score`: the labels, the series and the tunables to override.
#[derive(Clone, Debug, clap::Args)]
pub struct ScoreArgs {
    /// The labelled windows: a JSON object mapping each series' path under `--data` (with `/`
    /// separators, e.g. `realTweets/Twitter_volume_AAPL.csv`) to its `[start, end]` timestamp
    /// pairs, as NAB's `combined_windows.json`. A series missing from it has no anomaly.
    #[arg(long)]
    pub windows: PathBuf,
    /// The directory holding the series: every `*.csv` under it (a `timestamp,value` CSV) is
    /// replayed and scored, grouped by the folder it lies in.
    #[arg(long)]
    pub data: PathBuf,
    /// Print the result as one JSON object (folders, totals and every file) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The detector's tunables.
    #[command(flatten)]
    pub tuning: TuningArgs,
}

/// How a profile weighs true positives, false positives and false negatives.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// The profile's name, as NAB spells it.
    pub name: &'static str,
    /// Weight of a window detected at its left edge.
    pub tp: f64,
    /// Cost of a detection far from any window.
    pub fp: f64,
    /// Cost of a window without detection.
    pub fn_: f64,
}

/// NAB's three application profiles: standard, few false positives, few false negatives.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// Share of a series spent in probation, and the longest probation in rows.
const PROBATION_SHARE: f64 = 0.15;
const PROBATION_MAX_ROWS: usize = 750;

/// Rows at the start of a series of `rows` rows whose detections do not count.
pub fn probation_rows(rows: usize) -> usize {
    ((PROBATION_SHARE * rows as f64).floor() as usize).min(PROBATION_MAX_ROWS)
}

/// NAB's scaled sigmoid of a relative position: about 1 at the left edge of a window (-1),
/// 0 at its right edge, towards -1 after it, and -1 from three window lengths on.
pub fn scaled_sigmoid(position: f64) -> f64 {
    if position >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * position).exp()) - 1.0
    }
}

/// The score of one series, or the sum over several.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Series scored.
    pub files: usize,
    /// Rows replayed.
    pub rows: usize,
    /// Labelled windows that count (reaching past the probation).
    pub windows: usize,
    /// Windows with at least one detection inside (after the probation).
    pub detected: usize,
    /// Detections outside every window (after the probation).
    pub false_positives: usize,
    /// Raw score per profile, in the order of [`PROFILES`].
    pub raw: [f64; 3],
    /// The detector that never fires, per profile.
    pub null: [f64; 3],
    /// The detector that fires at the left edge of every window, per profile.
    pub perfect: [f64; 3],
}

impl Tally {
    /// Adds another tally (another series, or another folder).
    pub fn add(&mut self, other: &Tally) {
        self.files += other.files;
        self.rows += other.rows;
        self.windows += other.windows;
        self.detected += other.detected;
        self.false_positives += other.false_positives;
        for i in 0..PROFILES.len() {
            self.raw[i] += other.raw[i];
            self.null[i] += other.null[i];
            self.perfect[i] += other.perfect[i];
        }
    }

    /// The normalised score per profile: 100 × (raw − null) / (perfect − null). Without any
    /// window there is nothing to normalise by: `None`.
    pub fn normalised(&self) -> [Option<f64>; 3] {
        std::array::from_fn(|i| {
            let span = self.perfect[i] - self.null[i];
            (span > 0.0).then(|| 100.0 * (self.raw[i] - self.null[i]) / span)
        })
    }
}

/// Scores the detections (row indices) of one series of `rows` rows against its labelled
/// windows (inclusive row ranges, in time order, not overlapping).
pub fn score_series(rows: usize, windows: &[(usize, usize)], detections: &[usize]) -> Tally {
    let probation = probation_rows(rows);
    let mut detections: Vec<usize> = detections
        .iter()
        .copied()
        .filter(|&i| i >= probation && i < rows)
        .collect();
    detections.sort_unstable();
    detections.dedup();
    let counted: Vec<bool> = windows.iter().map(|&(_, hi)| hi >= probation).collect();
    let left_edge = scaled_sigmoid(-1.0);
    let mut tally = Tally {
        files: 1,
        rows,
        windows: counted.iter().filter(|&&c| c).count(),
        ..Tally::default()
    };
    // Per window, the position score of its earliest detection.
    let mut best: Vec<Option<f64>> = vec![None; windows.len()];
    let mut fp_positions = Vec::new();
    for &i in &detections {
        match windows.iter().position(|&(lo, hi)| lo <= i && i <= hi) {
            Some(k) => {
                let (lo, hi) = windows[k];
                let width = (hi - lo + 1) as f64;
                let position = -((hi - i + 1) as f64) / width;
                let value = scaled_sigmoid(position) / left_edge;
                if let Some(slot) = best.get_mut(k) {
                    *slot = Some(slot.map_or(value, |v: f64| v.max(value)));
                }
            }
            None => {
                let previous = windows.iter().rev().find(|&&(_, hi)| hi < i);
                let position = match previous {
                    Some(&(lo, hi)) if hi > lo => (i - hi) as f64 / (hi - lo) as f64,
                    _ => 3.0,
                };
                fp_positions.push(position);
            }
        }
    }
    tally.false_positives = fp_positions.len();
    tally.detected = best
        .iter()
        .zip(&counted)
        .filter(|(b, &c)| c && b.is_some())
        .count();
    for (p, profile) in PROFILES.iter().enumerate() {
        let fp: f64 = fp_positions
            .iter()
            .map(|&y| scaled_sigmoid(y) * profile.fp)
            .sum();
        let windows_score: f64 = best
            .iter()
            .zip(&counted)
            .filter(|(_, &c)| c)
            .map(|(b, _)| b.map_or(-profile.fn_, |v| v * profile.tp))
            .sum();
        tally.raw[p] = fp + windows_score;
        tally.null[p] = -profile.fn_ * tally.windows as f64;
        tally.perfect[p] = profile.tp * windows.len() as f64;
    }
    tally
}

/// The score of one series, with its name.
#[derive(Clone, Debug, Serialize)]
pub struct FileScore {
    /// The series' path under the data directory, `/`-separated.
    pub name: String,
    /// Its score.
    #[serde(flatten)]
    pub tally: Tally,
}

/// Scores per folder, the totals, and every series.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Per folder (the series' directory under the data directory, `.` for the top).
    pub folders: BTreeMap<String, Tally>,
    /// Every series.
    pub total: Tally,
    /// Each series on its own.
    pub files: Vec<FileScore>,
    /// Series that are not in the windows file (scored as anomaly-free).
    pub unlabelled: Vec<String>,
}

/// Why a score failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A series cannot be read or parsed.
    #[error(transparent)]
    Series(#[from] ReplayError),
    /// The windows file cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The windows file is not a map of series to `[start, end]` pairs.
    #[error("{}: {reason}", path.display())]
    Windows {
        /// The windows file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data directory holds no series.
    #[error("{}: no *.csv series under it", .0.display())]
    Empty(PathBuf),
    /// The table cannot be written out.
    #[error("cannot write the scores: {0}")]
    Write(#[source] std::io::Error),
}

/// Labelled windows per series, as timestamps.
type Windows = BTreeMap<String, Vec<(String, String)>>;

/// Replays every series under `args.data` and scores it against `args.windows`.
pub fn run(args: &ScoreArgs, out: &mut impl Write) -> Result<Report, ScoreError> {
    let windows = read_windows(&args.windows)?;
    let report = score_dir(&args.data, &windows, &args.tuning.config())?;
    if args.json {
        let text = serde_json::to_string(&report)
            .map_err(|e| ScoreError::Write(std::io::Error::other(e)))?;
        writeln!(out, "{text}").map_err(ScoreError::Write)?;
    } else {
        write_table(&report, out).map_err(ScoreError::Write)?;
    }
    out.flush().map_err(ScoreError::Write)?;
    Ok(report)
}

fn read_windows(path: &Path) -> Result<Windows, ScoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ScoreError::Windows {
        path: path.to_path_buf(),
        reason: format!("expected {{\"folder/file.csv\": [[start, end], ...]}}: {e}"),
    })
}

/// Scores every `*.csv` under `dir` (recursively, in name order) with `config`.
pub fn score_dir(
    dir: &Path,
    windows: &Windows,
    config: &DetectorConfig,
) -> Result<Report, ScoreError> {
    let mut names = Vec::new();
    collect_series(dir, "", &mut names)?;
    if names.is_empty() {
        return Err(ScoreError::Empty(dir.to_path_buf()));
    }
    names.sort();
    let mut report = Report::default();
    for name in names {
        let path = dir.join(&name);
        let file = std::fs::File::open(&path).map_err(|source| ReplayError::Read {
            path: path.clone(),
            source,
        })?;
        let rows = read_series(&path, BufReader::new(file))?;
        let spans = match windows.get(&name) {
            Some(labelled) => window_rows(&path, &rows, labelled)?,
            None => {
                report.unlabelled.push(name.clone());
                Vec::new()
            }
        };
        let (_, found) = detect(&rows, config);
        let detections: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
        let tally = score_series(rows.len(), &spans, &detections);
        let folder = name
            .rsplit_once('/')
            .map_or(".".to_string(), |(d, _)| d.to_string());
        report.folders.entry(folder).or_default().add(&tally);
        report.total.add(&tally);
        report.files.push(FileScore { name, tally });
    }
    Ok(report)
}

/// The `*.csv` files under `dir`, as `/`-separated paths relative to the data directory.
fn collect_series(dir: &Path, prefix: &str, names: &mut Vec<String>) -> Result<(), ScoreError> {
    let read_error = |source| ScoreError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(read_error)?;
        let relative = format!("{prefix}{name}");
        if kind.is_dir() {
            collect_series(&entry.path(), &format!("{relative}/"), names)?;
        } else if name.ends_with(".csv") {
            names.push(relative);
        }
    }
    Ok(())
}

/// The row ranges of labelled windows: from the first row at or after the start to the last row
/// at or before the end.
fn window_rows(
    path: &Path,
    rows: &[csv::Row],
    labelled: &[(String, String)],
) -> Result<Vec<(usize, usize)>, ScoreError> {
    let mut spans = Vec::with_capacity(labelled.len());
    for (start, end) in labelled {
        let bad = |reason: String| {
            ScoreError::Series(ReplayError::Malformed {
                path: path.to_path_buf(),
                line: 0,
                reason,
            })
        };
        let (Some(from), Some(to)) = (csv::parse_timestamp(start), csv::parse_timestamp(end))
        else {
            return Err(bad(format!("window [{start}, {end}]: bad timestamp")));
        };
        let lo = rows.iter().position(|r| r.seconds >= from);
        let hi = rows.iter().rposition(|r| r.seconds <= to);
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => spans.push((lo, hi)),
            _ => return Err(bad(format!("window [{start}, {end}] covers no row"))),
        }
    }
    spans.sort_unstable();
    Ok(spans)
}

/// The table: one row per folder, then the totals.
pub fn write_table(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    let header = format!(
        "{:<28} {:>5} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "folder", "files", "windows", "detected", "false pos", "standard", "low FP", "low FN"
    );
    writeln!(out, "{header}")?;
    writeln!(out, "{}", "-".repeat(header.len()))?;
    for (folder, tally) in &report.folders {
        write_row(out, folder, tally)?;
    }
    writeln!(out, "{}", "-".repeat(header.len()))?;
    write_row(out, "all", &report.total)?;
    for name in &report.unlabelled {
        writeln!(
            out,
            "not in the windows file (scored as anomaly-free): {name}"
        )?;
    }
    Ok(())
}

fn write_row(out: &mut impl Write, name: &str, t: &Tally) -> std::io::Result<()> {
    let scores = t.normalised();
    let cell = |i: usize| match scores[i] {
        Some(s) => format!("{s:9.1}"),
        // No window: only the false positives' cost, raw.
        None if t.false_positives > 0 => format!("{:+9.2}", t.raw[i]),
        None => format!("{:>9}", "n/a"),
    };
    writeln!(
        out,
        "{:<28} {:>5} {:>7} {:>8} {:>9} {} {} {}",
        name,
        t.files,
        t.windows,
        t.detected,
        t.false_positives,
        cell(0),
        cell(1),
        cell(2)
    )
}

//! Offline replay: runs the live detector over a `timestamp,value` CSV and prints its anomalies.
//!
//! Each row is one step of the rate signal (the value is the count of that step). The step
//! length is read from the first rows; the learning period is the configured one or 15% of the
//! series, whichever is shorter, so short series still get detections. One JSON line per
//! anomaly: `{"timestamp", "line", "kind", "signal", "observed", "expected", "band", ...}`.

mod csv;
pub mod score;

#[cfg(test)]
mod tests;

use crate::analysis::baseline::{
    Anomaly, AnomalyKind, Detector, DetectorConfig, Observation, Rule, Signal,
};
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Share of a replayed series that may be spent learning, at most (NAB's probation period).
pub const SERIES_LEARNING_SHARE: f64 = 0.15;

/// `sightline baseline replay`: the series and the tunables to override.
#[derive(Clone, Debug, clap::Args)]
pub struct ReplayArgs {
    /// The series: a CSV with the header `timestamp,value`.
    #[arg(long)]
    pub csv: PathBuf,
    /// The detector's tunables.
    #[command(flatten)]
    pub tuning: TuningArgs,
}

impl ReplayArgs {
    /// The detector config: defaults with the flags given applied.
    pub fn config(&self) -> DetectorConfig {
        self.tuning.config()
    }
}

/// The tunables a replay or a score may override.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TuningArgs {
    /// Learning period in minutes (capped at 15% of the series). Default 2016.
    #[arg(long)]
    pub learning: Option<u64>,
    /// Minimum traffic per minute (the series' value per step divided by the step). Default 10.
    #[arg(long)]
    pub min_rate: Option<f64>,
    /// Minutes a breach must last before it fires. Default 3.
    #[arg(long)]
    pub persistence: Option<u64>,
    /// Absolute rule: how far the short window of standardised errors must lie from its usual
    /// value, in its standard deviations. Default 4.
    #[arg(long)]
    pub sigmas: Option<f64>,
    /// Relative rule, as a fraction of the expected value. Default 0.2.
    #[arg(long)]
    pub relative_change: Option<f64>,
    /// Half-life of the adaptive level, in minutes. Default 720.
    #[arg(long)]
    pub level_half_life: Option<f64>,
    /// Any other tunables, as a JSON object of `DetectorConfig` fields (the flags above win).
    #[arg(long, value_parser = parse_tuning)]
    pub tuning: Option<Box<DetectorConfig>>,
}

fn parse_tuning(text: &str) -> Result<Box<DetectorConfig>, String> {
    serde_json::from_str(text).map_err(|e| format!("bad --tuning: {e}"))
}

impl TuningArgs {
    /// The detector config: defaults with the flags given applied.
    pub fn config(&self) -> DetectorConfig {
        let mut c = self.tuning.as_deref().cloned().unwrap_or_default();
        if let Some(v) = self.learning {
            c.learning_minutes = v;
        }
        if let Some(v) = self.min_rate {
            c.min_rate = v;
        }
        if let Some(v) = self.persistence {
            c.persistence_minutes = v;
        }
        if let Some(v) = self.sigmas {
            c.sigmas = v;
        }
        if let Some(v) = self.relative_change {
            c.relative_change = v;
        }
        if let Some(v) = self.level_half_life {
            c.level_half_life_minutes = v;
        }
        c
    }
}

/// What a replay went through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplayStats {
    /// Data rows read.
    pub rows: u64,
    /// Rows ignored because their minute was not after the previous row's.
    pub skipped: u64,
    /// The step length detected, in minutes.
    pub step_minutes: u64,
    /// Steps of learning before any anomaly.
    pub learning_steps: u64,
    /// Steps a breach must last before it fires.
    pub persistence_steps: u64,
    /// Anomalies printed.
    pub anomalies: u64,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The series.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line of the file is not part of a `timestamp,value` series.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        /// The series.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The anomalies cannot be written out.
    #[error("cannot write the anomalies: {0}")]
    Write(#[source] std::io::Error),
}

/// One output line.
#[derive(Serialize)]
struct Line<'a> {
    timestamp: &'a str,
    line: usize,
    kind: AnomalyKind,
    signal: Signal,
    observed: f64,
    expected: f64,
    band: (f64, f64),
    score: f64,
    window_minutes: u64,
    rule: Rule,
    margin: f64,
}

/// Replays the series at `path` through a [`Detector`] and writes one JSON line per anomaly.
pub fn run(
    path: &Path,
    config: &DetectorConfig,
    out: &mut impl Write,
) -> Result<ReplayStats, ReplayError> {
    let file = std::fs::File::open(path).map_err(|source| ReplayError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    run_from(path, BufReader::new(file), config, out)
}

/// [`run`] over any reader; `path` only names the source in errors.
pub fn run_from(
    path: &Path,
    input: impl BufRead,
    config: &DetectorConfig,
    out: &mut impl Write,
) -> Result<ReplayStats, ReplayError> {
    let rows = read_series(path, input)?;
    let (mut stats, found) = detect(&rows, config);
    for (index, anomaly) in &found {
        if let Some(row) = rows.get(*index) {
            write_line(out, &row.timestamp, row.line, anomaly)?;
            stats.anomalies += 1;
        }
    }
    out.flush().map_err(ReplayError::Write)?;
    Ok(stats)
}

/// Reads a `timestamp,value` series; `path` only names the source in errors.
pub(crate) fn read_series(path: &Path, input: impl BufRead) -> Result<Vec<csv::Row>, ReplayError> {
    csv::read_rows(input).map_err(|e| match e {
        csv::ReadError::Io(source) => ReplayError::Read {
            path: path.to_path_buf(),
            source,
        },
        csv::ReadError::Malformed { line, reason } => ReplayError::Malformed {
            path: path.to_path_buf(),
            line,
            reason,
        },
    })
}

/// Runs the detector over `rows` in one pass, as the live analysis would: the anomalies, each
/// with the index of the row that raised it.
pub(crate) fn detect(
    rows: &[csv::Row],
    config: &DetectorConfig,
) -> (ReplayStats, Vec<(usize, Anomaly)>) {
    let step = csv::step_minutes(rows);
    let mut config = config.clone();
    let share = (rows.len() as f64 * SERIES_LEARNING_SHARE).floor() as u64;
    config.learning_minutes = config.learning_minutes.min(share.saturating_mul(step));
    let mut stats = ReplayStats {
        rows: rows.len() as u64,
        step_minutes: step,
        learning_steps: config.learning_steps(step),
        persistence_steps: config.persistence_steps(step),
        ..ReplayStats::default()
    };
    let mut detector = Detector::with_step(config, step);
    let mut found = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        if detector
            .baseline()
            .last_minute()
            .is_some_and(|last| row.minute <= last)
        {
            stats.skipped += 1;
            continue;
        }
        let anomalies = detector.observe_values(&Observation::rate_only(row.minute, row.value));
        found.extend(anomalies.into_iter().map(|a| (index, a)));
    }
    (stats, found)
}

fn write_line(
    out: &mut impl Write,
    timestamp: &str,
    line: usize,
    a: &Anomaly,
) -> Result<(), ReplayError> {
    let record = Line {
        timestamp,
        line,
        kind: a.kind,
        signal: a.signal,
        observed: a.observed,
        expected: a.expected,
        band: a.band,
        score: a.score,
        window_minutes: a.window_minutes,
        rule: a.rule,
        margin: a.margin,
    };
    let text =
        serde_json::to_string(&record).map_err(|e| ReplayError::Write(std::io::Error::other(e)))?;
    writeln!(out, "{text}").map_err(ReplayError::Write)
}

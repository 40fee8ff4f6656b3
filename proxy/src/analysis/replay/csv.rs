//! Reading a `timestamp,value` series: its rows, their unix minutes and the series' step.

use std::io::BufRead;

/// One data row of the series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// 1-based line number in the file.
    pub line: usize,
    /// The timestamp as written in the file.
    pub timestamp: String,
    /// Unix time of the timestamp, in seconds.
    pub seconds: u64,
    /// Unix minute of the timestamp.
    pub minute: u64,
    /// The value.
    pub value: f64,
}

/// Why reading failed: the reader broke, or a line is malformed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The underlying reader failed.
    Io(std::io::Error),
    /// Line `line` is not what a `timestamp,value` series holds.
    Malformed { line: usize, reason: String },
}

/// Reads every row after the `timestamp,value` header. Blank lines are skipped.
pub(crate) fn read_rows<R: BufRead>(input: R) -> Result<Vec<Row>, ReadError> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(ReadError::Io)?;
        let line = line.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |reason: String| ReadError::Malformed {
            line: number,
            reason,
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if !header_seen {
            let is_header = fields.len() == 2
                && fields[0].eq_ignore_ascii_case("timestamp")
                && fields[1].eq_ignore_ascii_case("value");
            if !is_header {
                return Err(malformed(format!(
                    "expected the header `timestamp,value`, found `{}`",
                    clip(line)
                )));
            }
            header_seen = true;
            continue;
        }
        let [timestamp, value] = fields[..] else {
            return Err(malformed(format!(
                "expected 2 fields `timestamp,value`, found {}",
                fields.len()
            )));
        };
        let seconds = parse_timestamp(timestamp).ok_or_else(|| {
            malformed(format!(
                "bad timestamp `{}` (expected `YYYY-MM-DD HH:MM:SS`)",
                clip(timestamp)
            ))
        })?;
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| malformed(format!("bad value `{}` (expected a number)", clip(value))))?;
        rows.push(Row {
            line: number,
            timestamp: timestamp.to_string(),
            seconds,
            minute: seconds / 60,
            value,
        });
    }
    if !header_seen {
        return Err(ReadError::Malformed {
            line: 1,
            reason: "empty file: expected the header `timestamp,value`".to_string(),
        });
    }
    Ok(rows)
}

/// The series' step in minutes: the median gap between the first rows, rounded, at least 1.
pub(crate) fn step_minutes(rows: &[Row]) -> u64 {
    let mut gaps: Vec<u64> = rows
        .windows(2)
        .take(64)
        .filter_map(|w| w[1].minute.checked_sub(w[0].minute))
        .filter(|&g| g > 0)
        .collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(1).max(1)
}

/// Seconds since the epoch of `YYYY-MM-DD HH:MM[:SS[.fff]]` (UTC; `T` and a final `Z` accepted).
pub(crate) fn parse_timestamp(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = number(date_parts.next()?, 4)?;
    let month: u32 = number(date_parts.next()?, 2)?;
    let day: u32 = number(date_parts.next()?, 2)?;
    let time = time.split_once('.').map_or(time, |(whole, fraction)| {
        if fraction.bytes().all(|b| b.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let mut time_parts = time.split(':');
    let hour: u32 = number(time_parts.next()?, 2)?;
    let minute: u32 = number(time_parts.next()?, 2)?;
    let second: u32 = match time_parts.next() {
        Some(s) => number(s, 2)?,
        None => 0,
    };
    if time_parts.next().is_some()
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(seconds).ok()
}

/// Parses exactly `width` ASCII digits.
fn number<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Shortens what an error message quotes from the file.
fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

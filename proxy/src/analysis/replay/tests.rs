//! Replay over in-memory series: parsing, step detection, output lines and errors.

use super::csv::{parse_timestamp, read_rows, step_minutes};
use super::*;
use std::fmt::Write as _;
use std::io::Cursor;

fn replay(text: &str, config: &DetectorConfig) -> Result<(ReplayStats, String), ReplayError> {
    let mut out = Vec::new();
    let stats = run_from(Path::new("series.csv"), Cursor::new(text), config, &mut out)?;
    Ok((stats, String::from_utf8(out).unwrap()))
}

/// A 5-minute series of `n` rows around 100 with a small deterministic wobble.
fn series(n: usize, value: impl Fn(usize) -> f64) -> String {
    let start = parse_timestamp("2015-03-02 00:00:00").unwrap();
    let mut text = "timestamp,value\n".to_string();
    for i in 0..n {
        let t = start + i as u64 * 300;
        let (days, rest) = (t / 86_400, t % 86_400);
        // 2015-03-02 is day 16496; keep within March for the formatting below.
        let day = days - 16_496 + 2;
        writeln!(
            text,
            "2015-03-{day:02} {:02}:{:02}:{:02},{}",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60,
            value(i)
        )
        .unwrap();
    }
    text
}

fn wobble(i: usize) -> f64 {
    100.0 + ((i * 7919) % 13) as f64 - 6.0
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
    assert_eq!(parse_timestamp("2015-02-26 21:42:53"), Some(1_424_986_973));
    assert_eq!(
        parse_timestamp("2014-04-10 07:15:00.000000"),
        parse_timestamp("2014-04-10T07:15:00Z")
    );
    assert_eq!(parse_timestamp("2016-02-29 00:00"), Some(1_456_704_000));
    for bad in [
        "2015-02-29 00:00:00",
        "2015-13-01 00:00:00",
        "2015-01-01",
        "15-01-01 00:00:00",
        "2015-01-01 24:00:00",
        "2015-01-01 00:00:00.5x",
        "yesterday",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn step_is_detected() {
    let rows = read_rows(Cursor::new(series(30, wobble))).unwrap();
    assert_eq!(rows.len(), 30);
    assert_eq!(rows[0].line, 2);
    assert_eq!(step_minutes(&rows), 5);
    assert_eq!(step_minutes(&rows[..1]), 1);
}

#[test]
fn a_level_drop_is_reported_once_as_json() {
    let text = series(2000, |i| if i >= 1500 { 10.0 } else { wobble(i) });
    let (stats, out) = replay(&text, &DetectorConfig::default()).unwrap();
    assert_eq!(stats.rows, 2000);
    assert_eq!(stats.step_minutes, 5);
    assert_eq!(
        stats.learning_steps, 300,
        "15% of the series is less than 2016 min"
    );
    assert_eq!(stats.persistence_steps, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    let a = &lines[0];
    assert_eq!(a["kind"], "rate_drop");
    assert_eq!(a["line"], 1502);
    assert_eq!(a["observed"], 10.0);
    assert!(a["timestamp"].as_str().unwrap().starts_with("2015-03-07"));
    let band = a["band"].as_array().unwrap();
    assert!(band[0].as_f64().unwrap() > 10.0 && band[1].as_f64().unwrap() > 100.0);
    assert!((a["expected"].as_f64().unwrap() - 100.0).abs() < 10.0);
}

#[test]
fn a_steady_series_is_silent() {
    let (stats, out) = replay(&series(3000, wobble), &DetectorConfig::default()).unwrap();
    assert_eq!(stats.anomalies, 0);
    assert!(out.is_empty());
}

#[test]
fn malformed_lines_name_file_and_line() {
    let cases = [
        ("", 1, "header"),
        ("time,value\n", 1, "header"),
        (
            "timestamp,value\n2015-03-02 00:00:00,1\n2015-03-02 00:05:00\n",
            3,
            "2 fields",
        ),
        ("timestamp,value\n2015-03-02 00:00:00,abc\n", 2, "bad value"),
        ("timestamp,value\n2015-03-02 00:00:00,NaN\n", 2, "bad value"),
        (
            "timestamp,value\n\n02/03/2015 00:00,1\n",
            3,
            "bad timestamp",
        ),
    ];
    for (text, line, what) in cases {
        let e = replay(text, &DetectorConfig::default()).unwrap_err();
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("series.csv:{line}: ")) && message.contains(what),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn rows_out_of_order_are_skipped() {
    let text = "timestamp,value\n2015-03-02 00:05:00,1\n2015-03-02 00:00:00,1\n";
    let (stats, _) = replay(text, &DetectorConfig::default()).unwrap();
    assert_eq!((stats.rows, stats.skipped), (2, 1));
}

#[test]
fn missing_file_is_a_read_error() {
    let e = run(
        Path::new("/nonexistent/series.csv"),
        &DetectorConfig::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, ReplayError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/series.csv: "));
}

#[test]
fn flags_override_defaults() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ReplayArgs,
    }
    let cli = Cli::parse_from([
        "x",
        "--csv",
        "a.csv",
        "--min-rate",
        "0",
        "--learning",
        "100",
    ]);
    let c = cli.args.config();
    assert_eq!(c.min_rate, 0.0);
    assert_eq!(c.learning_minutes, 100);
    assert_eq!(
        c.persistence_minutes,
        DetectorConfig::default().persistence_minutes
    );
}

//! Time as the product shows it: the one RFC 3339 formatter every view, log line and alert uses,
//! the conversions from the unix times records keep, and the file stamps the watchers poll.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC to the millisecond (`2026-01-02T03:04:05.678Z`); finer digits are cut, not
/// rounded.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The time `ms` unix milliseconds name.
pub fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The time `us` unix microseconds name.
pub fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// What a watched file looked like: its modification time and length, `None` when it cannot be
/// read. Polling compares stamps, which also sees editors that replace a file by renaming and
/// works on every filesystem.
pub fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unix_unit_formats_alike() {
        let t = UNIX_EPOCH + Duration::from_micros(1_767_323_045_678_901);
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05.678Z");
        assert_eq!(rfc3339(from_micros(1_767_323_045_678_901)), rfc3339(t));
        assert_eq!(rfc3339(from_millis(1_767_323_045_678)), rfc3339(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_missing_file_has_no_stamp() {
        assert_eq!(file_stamp(Path::new("/nonexistent/sightline/stamp")), None);
        let dir = std::env::temp_dir().join(format!("sightline-stamp-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        assert_eq!(file_stamp(&dir).map(|(_, len)| len), Some(3));
        std::fs::remove_file(&dir).unwrap();
    }
}

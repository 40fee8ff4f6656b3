//! The `recording:` section: the queue from the data path to the recorder, the recent-calls
//! buffer, path length and the access log.

use super::context::Convert;
use super::file::RecordingFile;

/// Call recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Capacity of the queue from the data path to the recorder; overflow is counted.
    pub queue: usize,
    /// How many recent calls the API can show.
    pub recent_calls: usize,
    /// Paths longer than this are cut (the record says so).
    pub max_path_bytes: usize,
    /// Write a JSON access-log line per call through `tracing`.
    pub access_log: bool,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            queue: 65_536,
            recent_calls: 10_000,
            max_path_bytes: 2048,
            access_log: true,
        }
    }
}

/// Checks the section.
pub(super) fn convert(r: RecordingFile, cx: &mut Convert<'_>) -> RecordingConfig {
    let d = RecordingConfig::default();
    let recording = RecordingConfig {
        queue: r.queue.unwrap_or(d.queue),
        recent_calls: r.recent_calls.unwrap_or(d.recent_calls),
        max_path_bytes: r.max_path_bytes.map_or(d.max_path_bytes, |v| v.0 as usize),
        access_log: r.access_log.unwrap_or(d.access_log),
    };
    if recording.queue == 0 {
        cx.issue("recording.queue", "must be at least 1");
    }
    recording
}

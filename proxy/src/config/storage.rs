//! The `storage:` section: where the embedded store keeps its database and how much it keeps.

use super::context::Convert;
use super::file::StorageFile;
use std::path::PathBuf;
use std::time::Duration;

/// Where and how much to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The folder holding `sightline.db`.
    pub path: PathBuf,
    /// Raw calls older than this are deleted.
    pub retention: Duration,
    /// At most this many raw calls are kept.
    pub max_calls: u64,
}

/// Checks the section; `None` keeps everything in memory only.
pub(super) fn convert(raw: Option<StorageFile>, cx: &mut Convert<'_>) -> Option<StoreConfig> {
    raw.map(|s| StoreConfig {
        path: cx.resolve(s.path),
        retention: s.retention.map_or(Duration::from_secs(86_400), |d| d.0),
        max_calls: s.max_calls.unwrap_or(1_000_000),
    })
}

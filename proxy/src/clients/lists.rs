//! Deny and allow lists: CIDR files read at start and again whenever one changes (the runtime
//! asks each second, [`ClientGuard::refresh_lists`]). A file that stops parsing keeps its
//! previous contents in force and is reported.

use super::ClientGuard;
use crate::config::clients::ClientsConfig;
use sightline_policy::clients::CidrList;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

/// The lists in force.
#[derive(Debug, Default)]
pub struct Lists {
    /// Networks refused at accept.
    pub deny: CidrList,
    /// Networks exempt from every protection.
    pub allow: CidrList,
    /// What each file looked like when read: path, modified time, length.
    stamps: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
}

/// Why a list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ListFileError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Its index in its key (`deny_lists` or `allow_lists`).
    pub index: usize,
    /// `deny_lists` or `allow_lists`.
    pub key: &'static str,
}

fn stamp(path: &Path) -> (PathBuf, Option<(SystemTime, u64)>) {
    (path.to_owned(), crate::clock::file_stamp(path))
}

fn read(paths: &[PathBuf], key: &'static str) -> Result<CidrList, ListFileError> {
    let mut all = CidrList::default();
    for (index, p) in paths.iter().enumerate() {
        let err = |message: String| ListFileError {
            path: p.display().to_string(),
            message,
            index,
            key,
        };
        let text = std::fs::read_to_string(p).map_err(|e| err(e.to_string()))?;
        let list = CidrList::parse(&text).map_err(|e| err(e.to_string()))?;
        all.extend(&list);
    }
    Ok(all)
}

impl Lists {
    /// Reads every file.
    pub fn load(deny: &[PathBuf], allow: &[PathBuf]) -> Result<Lists, ListFileError> {
        let stamps = deny.iter().chain(allow).map(|p| stamp(p)).collect();
        Ok(Lists {
            deny: read(deny, "deny_lists")?,
            allow: read(allow, "allow_lists")?,
            stamps,
        })
    }

    /// Whether these files (or their modification times and sizes) differ from what was read.
    pub fn stale(&self, deny: &[PathBuf], allow: &[PathBuf]) -> bool {
        let now: Vec<_> = deny.iter().chain(allow).map(|p| stamp(p)).collect();
        now != self.stamps
    }

    /// Networks listed, deny then allow.
    pub fn entries(&self) -> (usize, usize) {
        (self.deny.entries(), self.allow.entries())
    }
}

/// Checks the list files of a config (for `check` and reload).
pub fn check_lists(cfg: &ClientsConfig) -> Result<(), ListFileError> {
    Lists::load(&cfg.deny_lists, &cfg.allow_lists).map(|_| ())
}

impl ClientGuard {
    /// Re-reads the list files when they changed; a file that fails keeps the old lists.
    pub fn refresh_lists(&self, cfg: &ClientsConfig) {
        if !self.lists.load().stale(&cfg.deny_lists, &cfg.allow_lists) {
            return;
        }
        match Lists::load(&cfg.deny_lists, &cfg.allow_lists) {
            Ok(l) => {
                let (deny, allow) = l.entries();
                tracing::info!(deny, allow, "client lists reloaded");
                self.lists.store(Arc::new(l));
                self.stats.list_reloads.fetch_add(1, Relaxed);
            }
            Err(e) => {
                // Counted once per change: the stamps are not updated, so retry next time.
                self.stats.list_reload_failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "client list rejected; the previous lists stay in force");
            }
        }
    }

    /// The lists in force.
    pub fn lists(&self) -> Arc<Lists> {
        self.lists.load_full()
    }

    /// Whether any network is listed in force (lists read earlier may have to be dropped
    /// after a reload that removed their files).
    pub fn has_lists(&self) -> bool {
        let (d, a) = self.lists.load().entries();
        d + a > 0
    }
}

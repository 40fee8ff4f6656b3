//! Process lifecycle: reload on SIGHUP and when the config file changes; drain on SIGTERM/SIGINT.

use crate::runtime::{Shared, Sightline};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::signal::unix::{signal, SignalKind};

/// How often the config file is checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Serves until SIGTERM or SIGINT, reloading on SIGHUP and on config file changes, then drains.
/// Returns whether the drain finished before its deadline.
pub async fn run_until_stopped(sightline: Sightline) -> std::io::Result<bool> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let shared = sightline.shared().clone();
    let watcher = shared
        .config_path
        .clone()
        .map(|path| tokio::spawn(watch_file(shared.clone(), path)));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                if shared.config_path.is_some() {
                    tracing::info!("SIGHUP: reloading config");
                    let _ = shared.reload_file();
                } else {
                    tracing::warn!("SIGHUP ignored: started without a config file");
                }
            }
        }
    }
    tracing::info!("stopping: no new connections, draining in-flight requests");
    if let Some(w) = watcher {
        w.abort();
    }
    Ok(sightline.shutdown().await)
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Polls the file's modification time and size; polling also sees editors that replace the
/// file by renaming, and works on every filesystem.
async fn watch_file(shared: Arc<Shared>, path: PathBuf) {
    let mut last = stamp(&path);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&path);
        if now.is_some() && now != last {
            last = now;
            tracing::info!(file = %path.display(), "config file changed: reloading");
            let _ = shared.reload_file();
        }
    }
}

//! Process lifecycle: reload on SIGHUP and when the config file changes; drain on SIGTERM/SIGINT;
//! each step told to systemd when it supervises the process (`Type=notify`).

mod notify;
mod upgrade;

pub use notify::Notifier;

use crate::clock::file_stamp;
use crate::runtime::Sightline;
use crate::state::Shared;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// How often the config file is checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Serves until SIGTERM or SIGINT, reloading on SIGHUP and on config file changes, then drains.
/// The listeners are bound already: this tells systemd the service is ready (and, later, about
/// each reload and the drain). Returns whether the drain finished before its deadline.
pub async fn run_until_stopped(sightline: Sightline) -> std::io::Result<bool> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let notifier = Notifier::from_env();
    let shared = sightline.shared().clone();
    notifier.ready(&status(&shared));
    let watcher = shared
        .config_path
        .clone()
        .map(|path| tokio::spawn(watch_file(shared.clone(), path, notifier.clone())));
    let mut upgraded = false;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr2.recv() => {
                tracing::info!("SIGUSR2: upgrading");
                match upgrade::start_successor(sightline.listen_fds()).await {
                    Ok(pid) => {
                        tracing::info!(pid, "upgrade: the successor serves; draining");
                        println!("upgraded: successor pid {pid}");
                        // Under systemd the successor becomes the service's main process.
                        notifier.send(&format!("MAINPID={pid}"));
                        upgraded = true;
                        break;
                    }
                    Err(e) => tracing::error!(error = %e, "upgrade failed; still serving"),
                }
            }
            _ = hup.recv() => {
                if shared.config_path.is_some() {
                    tracing::info!("SIGHUP: reloading config");
                    reload(&shared, &notifier);
                } else {
                    tracing::warn!("SIGHUP ignored: started without a config file");
                    // systemd waits for READY=1 after `systemctl reload`; say the (unchanged)
                    // config is in force.
                    notifier.reloading();
                    notifier.ready(&status(&shared));
                }
            }
        }
    }
    if let Some(w) = watcher {
        w.abort();
    }
    if upgraded {
        return Ok(sightline.hand_over().await);
    }
    notifier.stopping();
    tracing::info!("stopping: not ready; draining connections");
    Ok(sightline.shutdown().await)
}

/// Reloads the file between RELOADING=1 and READY=1; a rejected file leaves the old config
/// serving, which is ready too.
fn reload(shared: &Shared, notifier: &Notifier) {
    notifier.reloading();
    let _ = shared.reload_file();
    notifier.ready(&status(shared));
}

/// The STATUS= line: the config generation in force and the last reload's outcome.
fn status(shared: &Shared) -> String {
    let generation = shared.active().generation;
    match shared.reload_status().error {
        Some(e) => format!("serving config generation {generation}; last reload rejected: {e}")
            .replace('\n', " "),
        None => format!("serving config generation {generation}"),
    }
}

/// Polls the file's modification time and size; polling also sees editors that replace the
/// file by renaming, and works on every filesystem.
async fn watch_file(shared: Arc<Shared>, path: PathBuf, notifier: Notifier) {
    let mut last = file_stamp(&path);
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = file_stamp(&path);
        if now.is_some() && now != last {
            last = now;
            tracing::info!(file = %path.display(), "config file changed: reloading");
            reload(&shared, &notifier);
        }
    }
}

//! The running proxy: starting it (store, analysis, alerts, recorder, then the [`Shared`]
//! state), the listeners and their accept loops, and graceful shutdown. What the stacks read per
//! request, and applying a new config, is in [`crate::state`].

pub mod inherit;
mod listen;
mod watchers;

use crate::config::{Config, ConfigError};
use crate::record::Counters;
use crate::recorder::Recorder;
use crate::state::{import_openapi, Active, Shared, SharedParts};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The alert pipeline, its alerts kept with the store (in memory without one, or when the
/// store's folder cannot hold them).
fn start_alerts(
    config: &Config,
    counters: &Arc<Counters>,
    store: Option<&crate::store::Store>,
    claims: Option<Arc<crate::fleet::postgres::Postgres>>,
    clock: Arc<dyn sightline_policy::clients::Clock>,
) -> crate::alerts::Alerts {
    let faults = crate::alerts::Faults {
        counters: Some(counters.clone()),
        store: store.map(|s| s.stats.clone()),
        mirror: claims.as_ref().and(store.cloned()),
        claims: claims.map(|p| -> Arc<dyn crate::alerts::Claims> { p }),
    };
    let dir = config
        .storage
        .as_ref()
        .filter(|_| config.alerts.persist)
        .map(|s| s.path.as_path());
    match crate::alerts::Alerts::start_with_clock(
        &config.alerts,
        dir.filter(|_| store.is_some()),
        faults.clone(),
        clock.clone(),
    ) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "alert store unavailable; alerts kept in memory only");
            counters.store_open_failures.fetch_add(1, Ordering::Relaxed);
            match crate::alerts::Alerts::start_with_clock(&config.alerts, None, faults, clock) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "alerts disabled");
                    crate::alerts::Alerts::disabled()
                }
            }
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running proxy. Dropping it without [`Sightline::shutdown`] aborts its listeners.
#[derive(Debug)]
pub struct Sightline {
    shared: Arc<Shared>,
    inbound_addr: SocketAddr,
    admin_addr: SocketAddr,
    egress_addr: Option<SocketAddr>,
    transparent_addr: Option<SocketAddr>,
    stop_accepting: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
    admin_shutdown: watch::Sender<bool>,
    accept_tasks: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    listen_fds: Vec<std::os::fd::OwnedFd>,
    admin_task: JoinHandle<()>,
}

/// Time the recorder and the store get on shutdown to take the last records, even when the
/// connections used up the drain timeout.
const FLUSH_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(2);

/// Pending connections the kernel queues per listener before the accept loop takes them
/// (capped by `net.core.somaxconn`). The usual 128 drops the SYNs of a burst of new clients,
/// each of which then waits a full second to retry.
pub const LISTEN_BACKLOG: u32 = 4096;

/// The listening socket for `addr`: the one systemd or the previous Sightline passed, else a new
/// one with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if let Some(l) = inherit::take(addr) {
        l.set_nonblocking(true)?;
        return TcpListener::from_std(l);
    }
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The listeners, bound (or inherited) before anything serves.
struct Bound {
    inbound: (TcpListener, SocketAddr),
    admin: (TcpListener, SocketAddr),
    egress: Option<(TcpListener, SocketAddr)>,
    /// The transparent egress listener, when `egress.transparent` is set.
    transparent: Option<(TcpListener, SocketAddr)>,
    /// Duplicates kept for an upgrade's successor.
    listen_fds: Vec<std::os::fd::OwnedFd>,
}

impl Bound {
    fn bind(config: &Config) -> Result<Bound, StartError> {
        let bind = |addr: SocketAddr| {
            let l = listen(addr).map_err(|source| StartError::Bind { addr, source })?;
            let local = l
                .local_addr()
                .map_err(|source| StartError::Bind { addr, source })?;
            Ok::<_, StartError>((l, local))
        };
        let inbound = bind(config.inbound.listen)?;
        let admin = bind(config.admin.listen)?;
        let egress = match &config.egress {
            Some(e) => Some(bind(e.listen)?),
            None => None,
        };
        let transparent = match config.egress.as_ref().and_then(|e| e.transparent) {
            Some(addr) => Some(bind(addr)?),
            None => None,
        };
        inherit::close_unclaimed();
        let mut listen_fds = Vec::new();
        let all = [
            Some(&inbound),
            Some(&admin),
            egress.as_ref(),
            transparent.as_ref(),
        ];
        for (l, _) in all.into_iter().flatten() {
            // Kept for an upgrade's successor (a duplicate: closing it never closes the socket).
            match std::os::fd::AsFd::as_fd(l).try_clone_to_owned() {
                Ok(fd) => listen_fds.push(fd),
                Err(e) => tracing::warn!(error = %e, "cannot keep a listener for upgrades"),
            }
        }
        Ok(Bound {
            inbound,
            admin,
            egress,
            transparent,
            listen_fds,
        })
    }

    /// The bound addresses: inbound, admin, then egress and the transparent listener.
    fn addrs(&self) -> Vec<SocketAddr> {
        let mut out = vec![self.inbound.1, self.admin.1];
        out.extend(self.egress.as_ref().map(|(_, a)| *a));
        out.extend(self.transparent.as_ref().map(|(_, a)| *a));
        out
    }
}

/// The analysis for `config`, with what the store kept from a previous run, the store, and the
/// client bans it kept. A store that cannot open is reported and skipped: traffic never waits
/// on storage.
async fn restore(config: &Config, counters: &Counters, admin: SocketAddr) -> Restoration {
    let mut analysis =
        crate::analysis::engine::Analysis::new(crate::analysis::engine::AnalysisConfig {
            detector: crate::analysis::baseline::DetectorConfig::from(&config.analysis),
            step: config.analysis.step,
            ..Default::default()
        });
    analysis.set_enclave(config.enclave.networks.clone());
    // A fleet's PostgreSQL takes the embedded store's place.
    let mut postgres = None;
    let opened = match crate::fleet::postgres::Settings::from_config(config, admin) {
        Some(settings) => Some(crate::fleet::postgres::Postgres::start(settings).await.map(
            |(pg, store, restored)| {
                postgres = Some(pg);
                (store, restored)
            },
        )),
        None => config.storage.as_ref().map(crate::store::Store::open),
    };
    if let Some(d) = postgres.as_ref().and_then(|p| p.detection()) {
        analysis.set_fleet_detection(d);
    }
    let (store, bans) = match opened {
        None => (None, Vec::new()),
        Some(Ok((store, mut restored))) => {
            let bans = std::mem::take(&mut restored.bans);
            tracing::info!(
                shared = postgres.is_some(),
                nodes = restored.nodes.len(),
                findings = restored.findings.len(),
                baselines = restored.baselines.len(),
                "store opened"
            );
            analysis.restore(restored);
            (Some(store), bans)
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "store unavailable; running without persistence");
            counters.store_open_failures.fetch_add(1, Ordering::Relaxed);
            (None, Vec::new())
        }
    };
    Restoration {
        analysis,
        store,
        bans,
        postgres,
    }
}

/// What start restores before serving: the analysis state, the store and the bans it kept,
/// and the fleet's shared store when there is one.
struct Restoration {
    analysis: crate::analysis::engine::Analysis,
    store: Option<crate::store::Store>,
    bans: Vec<(String, sightline_policy::clients::Ban)>,
    postgres: Option<Arc<crate::fleet::postgres::Postgres>>,
}

impl Sightline {
    /// Binds the listeners and starts serving `config`. Must run inside a tokio runtime.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Sightline, StartError> {
        let clock = Arc::new(sightline_policy::clients::SystemClock);
        Sightline::start_with_clock(config, config_path, clock).await
    }

    /// [`Sightline::start`] with the clock the client protections, the analysis and the alert
    /// engine read (tests move it).
    pub async fn start_with_clock(
        config: Config,
        config_path: Option<PathBuf>,
        clock: Arc<dyn sightline_policy::clients::Clock>,
    ) -> Result<Sightline, StartError> {
        let counters = Arc::new(Counters::default());
        // Check everything but sockets first, so a bad config never binds a port.
        Active::build(config.clone(), &counters, 0, &config.listen_addrs())?;
        let bound = Bound::bind(&config)?;
        let Restoration {
            mut analysis,
            store,
            bans,
            postgres,
        } = restore(&config, &counters, bound.admin.1).await;
        analysis.set_clock(clock.clone());
        let clients = Arc::new(crate::clients::ClientGuard::new(
            &config.clients,
            clock.clone(),
            store.clone(),
            bans,
        ));
        let active = Active::build(config, &counters, 1, &bound.addrs())?;
        import_openapi(&mut analysis, &active.openapi);
        let alerts = start_alerts(
            &active.config,
            &counters,
            store.as_ref(),
            postgres.clone(),
            clock,
        );
        if let Some(pg) = &postgres {
            crate::fleet::postgres::adopt::start(pg, alerts.clone());
        }
        let telemetry =
            crate::telemetry::Telemetry::start(&active.config.telemetry, counters.clone());
        let recorder = Recorder::start_with(
            &active.config.recording,
            counters.clone(),
            analysis,
            store,
            Some(alerts.clone()),
            telemetry,
        );
        let shared = Arc::new(Shared::new(
            active,
            SharedParts {
                recorder,
                config_path,
                listeners: bound.addrs(),
                clients,
                alerts,
                postgres,
            },
        ));
        Ok(Sightline::serve(shared, bound))
    }

    /// Starts the accept loops, the list watcher and the admin listener on `bound`.
    fn serve(shared: Arc<Shared>, bound: Bound) -> Sightline {
        let (stop_accepting, stop_rx) = watch::channel(false);
        let (shutdown, rx) = watch::channel(false);
        let (admin_shutdown, admin_rx) = watch::channel(false);
        let Bound {
            inbound: (inbound, inbound_addr),
            admin: (admin, admin_addr),
            egress,
            transparent,
            listen_fds,
        } = bound;
        let mut accept_tasks = vec![tokio::spawn(listen::inbound(
            inbound,
            shared.clone(),
            stop_rx.clone(),
            rx.clone(),
        ))];
        let mut tasks = vec![tokio::spawn(watchers::watch_lists(shared.clone()))];
        let fleet = shared.active().config.fleet.clone();
        tasks.extend(crate::fleet::start(
            fleet.as_ref(),
            &shared.clients,
            &shared.alerts,
        ));
        // The admin listener outlives the drain, so probes see /readyz turn 503.
        let admin_task = tokio::spawn(listen::admin(admin, shared.clone(), admin_rx));
        let egress_addr = egress.as_ref().map(|(_, a)| *a);
        if let Some((l, _)) = egress {
            let (stop, shutdown) = (stop_rx.clone(), rx.clone());
            accept_tasks.push(tokio::spawn(listen::egress(
                l,
                shared.clone(),
                stop,
                shutdown,
            )));
        }
        let transparent_addr = transparent.as_ref().map(|(_, a)| *a);
        if let Some((l, _)) = transparent {
            accept_tasks.push(tokio::spawn(listen::transparent(
                l,
                shared.clone(),
                stop_rx,
            )));
        }
        tracing::info!(inbound = %inbound_addr, admin = %admin_addr, egress = ?egress_addr, "sightline serving");
        Sightline {
            shared,
            inbound_addr,
            admin_addr,
            egress_addr,
            transparent_addr,
            stop_accepting,
            shutdown,
            admin_shutdown,
            accept_tasks,
            tasks,
            listen_fds,
            admin_task,
        }
    }

    /// Duplicates of the listening sockets (inbound, admin, then egress), for a successor.
    pub fn listen_fds(&self) -> &[std::os::fd::OwnedFd] {
        &self.listen_fds
    }

    /// The transparent egress listener's bound address, when `egress.transparent` is set.
    pub fn transparent_addr(&self) -> Option<SocketAddr> {
        self.transparent_addr
    }

    /// The egress listener's bound address, when egress is enabled.
    pub fn egress_addr(&self) -> Option<SocketAddr> {
        self.egress_addr
    }

    /// The inbound listener's bound address (useful with port 0).
    pub fn inbound_addr(&self) -> SocketAddr {
        self.inbound_addr
    }

    /// The admin listener's bound address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The shared state (config in force, recorder, counters).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Applies a new config; on error the running one keeps serving.
    pub fn reload(&self, config: Config) -> Result<u64, ConfigError> {
        self.shared.apply(config)
    }

    /// Shuts down without refusing a connection or losing a request a client has sent:
    /// `/readyz` turns 503 at once; the listeners keep accepting for `limits.accept_grace`;
    /// then they close, and the open connections drain (each answers its next request with
    /// `Connection: close`, HTTP/2 gets GOAWAY, idle ones close after `limits.drain_idle_grace`)
    /// within `limits.drain_timeout`. Returns whether every connection closed in time.
    pub async fn shutdown(self) -> bool {
        let grace = self.shared.active().config.limits.accept_grace;
        self.drain(grace).await
    }

    /// [`Sightline::shutdown`] once a successor serves the same listening sockets: it accepts
    /// already, so this process stops accepting at once and drains.
    pub async fn hand_over(self) -> bool {
        self.drain(std::time::Duration::ZERO).await
    }

    async fn drain(mut self, accept_grace: std::time::Duration) -> bool {
        let limits = self.shared.active().config.limits;
        self.shared.draining.store(true, Ordering::Release);
        if !accept_grace.is_zero() {
            tracing::info!(grace = ?accept_grace, "not ready; still accepting connections");
            tokio::time::sleep(accept_grace).await;
        }
        // The listeners close before any connection is told to drain: a client that reconnects
        // after its `Connection: close` answer is refused at once instead of landing in a
        // backlog that is about to be reset.
        let _ = self.stop_accepting.send(true);
        for t in std::mem::take(&mut self.accept_tasks) {
            t.abort();
            let _ = t.await;
        }
        // The copies kept for an upgrade hold the sockets open too (a successor has its own).
        self.listen_fds.clear();
        let deadline = limits.drain_timeout;
        let _ = self.shutdown.send(true);
        self.shared.drain.send_replace(true);
        if let Some(pg) = &self.shared.postgres {
            pg.stop();
        }
        for t in &self.tasks {
            t.abort();
        }
        let start = std::time::Instant::now();
        let inbound = self.shared.inbound_conns.drained(deadline).await;
        let left = deadline.saturating_sub(start.elapsed());
        let egress = self.shared.egress_conns.drained(left).await;
        let drained = inbound && egress;
        if drained {
            tracing::info!("drained; all connections closed");
        } else {
            tracing::warn!(
                inbound = self.shared.inbound_conns.count(),
                egress = self.shared.egress_conns.count(),
                "drain deadline passed with connections open"
            );
        }
        // What the last calls left in the recorder's queue reaches the graph, the store and
        // the alerts before they stop.
        let left = deadline.saturating_sub(start.elapsed()).max(FLUSH_AT_LEAST);
        if !self.shared.recorder.flush(left).await {
            tracing::warn!(
                queued = self.shared.recorder.queue_depth(),
                "stopping before every record reached the store"
            );
        }
        self.shared.alerts.stop().await;
        let _ = self.admin_shutdown.send(true);
        self.admin_task.abort();
        drained
    }
}

impl Drop for Sightline {
    fn drop(&mut self) {
        self.shared.alerts.stop_now();
        let _ = self.stop_accepting.send(true);
        let _ = self.shutdown.send(true);
        let _ = self.admin_shutdown.send(true);
        for t in self.tasks.iter().chain(&self.accept_tasks) {
            t.abort();
        }
        self.admin_task.abort();
    }
}

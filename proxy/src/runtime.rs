//! The running proxy: the config in force (swapped atomically on reload), the listeners, and
//! graceful shutdown.

pub mod inherit;
mod listen;

use crate::config::{Config, ConfigError, ConfigIssue};
use crate::inbound::router::Router;
use crate::record::counters::UNROUTED;
use crate::record::{Counters, Direction, Recorder, ServiceCounters};
use crate::server::ConnTracker;
use crate::upstream::ServicePool;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// One config, built for the data path: routes with their pools, TLS acceptor, counters.
pub struct Active {
    /// The config this was built from.
    pub config: Arc<Config>,
    /// Routes to service pools.
    pub router: Router,
    /// Each service's pool, by name.
    pub pools: BTreeMap<String, Arc<ServicePool>>,
    /// TLS for the inbound listener, when configured.
    pub tls: Option<TlsAcceptor>,
    /// TLS for the admin listener, when configured.
    pub admin_tls: Option<TlsAcceptor>,
    /// Counters for calls that matched no route.
    pub unrouted: Arc<ServiceCounters>,
    /// The egress side, when the config enables it.
    pub egress: Option<crate::egress::EgressRuntime>,
    /// OpenAPI documents to import: (host, or every host; document text).
    pub openapi: Vec<(Option<String>, String)>,
    /// Increases with every applied config.
    pub generation: u64,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("generation", &self.generation)
            .field("router", &self.router)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Active {
    /// Builds everything a config needs except sockets: TLS material is loaded here, so a
    /// config whose files are missing fails `check` and reload alike.
    /// `own` are the proxy's listening addresses, never allowed as egress destinations.
    pub fn build(
        config: Config,
        counters: &Arc<Counters>,
        generation: u64,
        own: &[SocketAddr],
    ) -> Result<Active, ConfigError> {
        let src = &config.source;
        let mut issues: Vec<ConfigIssue> = Vec::new();
        let mut acceptor = |tls: Option<&crate::config::InboundTls>, key: &str| {
            let t = tls?;
            let auth = t
                .client_ca
                .as_deref()
                .map(|ca| sightline_certs::ClientAuth {
                    ca,
                    required: t.client_auth_required,
                });
            match sightline_certs::server_config(&t.cert, &t.key, auth) {
                Ok(cfg) => Some(TlsAcceptor::from(cfg)),
                Err(e) => {
                    issues.push(src.issue(key, e.to_string()));
                    None
                }
            }
        };
        let tls = acceptor(config.inbound.tls.as_ref(), "inbound.tls");
        let admin_tls = acceptor(config.admin.tls.as_ref(), "admin.tls");
        let egress_tls = acceptor(
            config.egress.as_ref().and_then(|e| e.tls.as_ref()),
            "egress.tls",
        );
        let inspector = match config.egress.as_ref().and_then(|e| e.inspect.as_ref()) {
            None => None,
            Some(i) => match crate::egress::inspect::Inspector::load(i) {
                Ok(v) => Some(v),
                Err(e) => {
                    issues.push(src.issue("egress.inspect", e.to_string()));
                    None
                }
            },
        };
        let mut pools = BTreeMap::new();
        for (name, svc) in &config.services {
            let c = counters.service(Direction::Inbound, name);
            match ServicePool::new(name, svc, &config.limits, c, counters.clone()) {
                Ok(pool) => {
                    pools.insert(name.clone(), Arc::new(pool));
                }
                Err(e) => issues.push(src.issue(&format!("services.{name}.tls"), e.to_string())),
            }
        }
        let openapi = load_openapi(&config, &mut issues);
        if let Err(e) = crate::clients::check_lists(&config.clients) {
            let key = format!("clients.{}[{}]", e.key, e.index);
            issues.push(src.issue(&key, e.to_string()));
        }
        if !issues.is_empty() {
            return Err(ConfigError { issues });
        }
        let router = Router::new(&config.inbound.routes, |s| pools.get(s).cloned());
        let egress = config.egress.as_ref().map(|e| {
            crate::egress::EgressRuntime::build(&config, e, own, counters, egress_tls, inspector)
        });
        Ok(Active {
            openapi,
            egress,
            router,
            pools,
            tls,
            admin_tls,
            unrouted: counters.service(Direction::Inbound, UNROUTED),
            generation,
            config: Arc::new(config),
        })
    }
}

/// Reads each service's OpenAPI document and checks it parses; returns (host, text) pairs for
/// every host that routes to the service.
fn load_openapi(config: &Config, issues: &mut Vec<ConfigIssue>) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for (name, svc) in &config.services {
        let Some(path) = &svc.openapi else { continue };
        let key = format!("services.{name}.openapi");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                issues.push(
                    config
                        .source
                        .issue(&key, format!("{}: {e}", path.display())),
                );
                continue;
            }
        };
        let mut probe = crate::analysis::template::Templater::default();
        if let Err(e) = probe.import_openapi(None, &text) {
            issues.push(
                config
                    .source
                    .issue(&key, format!("{}: {e}", path.display())),
            );
            continue;
        }
        // Templates are kept per request host: a document applies to the exact hosts routed to
        // its service, or to every host when this is the only service.
        let only_service = config.services.len() == 1;
        for r in config.inbound.routes.iter().filter(|r| r.service == *name) {
            match &r.host {
                crate::config::HostMatch::Exact(h) => out.push((Some(h.clone()), text.clone())),
                _ if only_service => out.push((None, text.clone())),
                _ => tracing::warn!(
                    service = %name,
                    "openapi: a route without an exact host cannot scope the document; it applies only to exact-host routes"
                ),
            }
        }
    }
    out
}

fn import_openapi(
    analysis: &mut crate::analysis::engine::Analysis,
    docs: &[(Option<String>, String)],
) {
    for (host, text) in docs {
        // Checked when the config was built.
        let _ = analysis.templater().import_openapi(host.as_deref(), text);
    }
}

/// The alert pipeline, its alerts kept with the store (in memory without one, or when the
/// store's folder cannot hold them).
fn start_alerts(
    config: &Config,
    counters: &Arc<Counters>,
    store: Option<&crate::store::Store>,
) -> crate::alerts::Alerts {
    let faults = crate::alerts::Faults {
        counters: Some(counters.clone()),
        store: store.map(|s| s.stats.clone()),
    };
    let dir = config
        .storage
        .as_ref()
        .filter(|_| config.alerts.persist)
        .map(|s| s.path.as_path());
    match crate::alerts::Alerts::start(
        &config.alerts,
        dir.filter(|_| store.is_some()),
        faults.clone(),
    ) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "alert store unavailable; alerts kept in memory only");
            counters.store_open_failures.fetch_add(1, Ordering::Relaxed);
            match crate::alerts::Alerts::start(&config.alerts, None, faults) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "alerts disabled");
                    crate::alerts::Alerts::disabled()
                }
            }
        }
    }
}

/// The outcome of the last reload, for the API and logs.
#[derive(Clone, Debug, Default)]
pub struct ReloadStatus {
    /// When the last reload was tried.
    pub at: Option<SystemTime>,
    /// Whether it was applied.
    pub ok: bool,
    /// The errors that rejected it.
    pub error: Option<String>,
}

/// State shared by every listener and request.
#[derive(Debug)]
pub struct Shared {
    active: ArcSwap<Active>,
    /// The recorder and counters.
    pub recorder: Arc<Recorder>,
    /// Set when shutdown begins.
    pub draining: AtomicBool,
    generation: AtomicU64,
    reload: Mutex<ReloadStatus>,
    /// The config file, when the proxy was started from one.
    pub config_path: Option<PathBuf>,
    /// When the process started.
    pub started: SystemTime,
    /// The bound listener addresses.
    pub listeners: Vec<SocketAddr>,
    /// Open inbound connections (the connection cap counts these).
    pub inbound_conns: Arc<ConnTracker>,
    /// Open egress connections.
    pub egress_conns: Arc<ConnTracker>,
    /// The client guard (limits, bans, lists), kept across reloads.
    pub clients: Arc<crate::clients::ClientGuard>,
    /// The alert pipeline.
    pub alerts: crate::alerts::Alerts,
}

impl Shared {
    /// The config in force now. Requests hold the `Arc` they got for their whole life, so a
    /// reload never changes a request midway.
    pub fn active(&self) -> Arc<Active> {
        self.active.load_full()
    }

    /// The last reload's outcome.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reload.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Builds and applies `config`; on error the running config keeps serving.
    pub fn apply(&self, config: Config) -> Result<u64, ConfigError> {
        let old = self.active();
        if config.listen_addrs() != old.config.listen_addrs() {
            tracing::warn!("listen addresses changed; they take effect at the next restart");
        }
        if config.analysis != old.config.analysis || config.storage != old.config.storage {
            tracing::warn!("analysis and storage settings take effect at the next restart");
        }
        if config.runtime != old.config.runtime {
            tracing::warn!("runtime.workers takes effect at the next restart");
        }
        let (new, was) = (&config.recording, &old.config.recording);
        if (new.queue, new.recent_calls, new.access_log)
            != (was.queue, was.recent_calls, was.access_log)
        {
            tracing::warn!("recording settings changed; they take effect at the next restart");
        }
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let result = Active::build(
            config,
            self.recorder.counters(),
            generation,
            &self.listeners,
        );
        let mut status = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        status.at = Some(SystemTime::now());
        match result {
            Ok(active) => {
                {
                    let mut analysis = self.recorder.analysis();
                    analysis.set_enclave(active.config.enclave.networks.clone());
                    import_openapi(&mut analysis, &active.openapi);
                }
                self.active.store(Arc::new(active));
                self.recorder
                    .counters()
                    .reloads_ok
                    .fetch_add(1, Ordering::Relaxed);
                status.ok = true;
                status.error = None;
                tracing::info!(generation, "config applied");
                Ok(generation)
            }
            Err(e) => {
                self.recorder
                    .counters()
                    .reloads_failed
                    .fetch_add(1, Ordering::Relaxed);
                status.ok = false;
                status.error = Some(e.to_string());
                tracing::error!(error = %e, "config rejected; the running config keeps serving");
                Err(e)
            }
        }
    }

    /// Reads the config file again and applies it.
    pub fn reload_file(&self) -> Result<u64, ConfigError> {
        let Some(path) = &self.config_path else {
            return Err(ConfigError::whole_file(
                "-",
                "started without a config file",
            ));
        };
        match Config::load(path) {
            Ok(c) => self.apply(c),
            Err(e) => {
                self.recorder
                    .counters()
                    .reloads_failed
                    .fetch_add(1, Ordering::Relaxed);
                let mut status = self.reload.lock().unwrap_or_else(|p| p.into_inner());
                *status = ReloadStatus {
                    at: Some(SystemTime::now()),
                    ok: false,
                    error: Some(e.to_string()),
                };
                tracing::error!(error = %e, "config rejected; the running config keeps serving");
                Err(e)
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

impl Sightline {
    /// Binds the listeners and starts serving `config`. Must run inside a tokio runtime.
    pub async fn start(
        config: Config,
        config_path: Option<PathBuf>,
    ) -> Result<Sightline, StartError> {
        let clock = Arc::new(sightline_policy::clients::SystemClock);
        Sightline::start_with_clock(config, config_path, clock).await
    }

    /// [`Sightline::start`] with the clock the client protections read (tests move it).
    pub async fn start_with_clock(
        config: Config,
        config_path: Option<PathBuf>,
        clock: Arc<dyn sightline_policy::clients::Clock>,
    ) -> Result<Sightline, StartError> {
        let counters = Arc::new(Counters::default());
        // Check everything but sockets first, so a bad config never binds a port.
        Active::build(config.clone(), &counters, 0, &config.listen_addrs())?;
        let bind = |addr: SocketAddr| async move {
            let l = listen(addr).map_err(|source| StartError::Bind { addr, source })?;
            let local = l
                .local_addr()
                .map_err(|source| StartError::Bind { addr, source })?;
            Ok::<_, StartError>((l, local))
        };
        let (inbound, inbound_addr) = bind(config.inbound.listen).await?;
        let (admin, admin_addr) = bind(config.admin.listen).await?;
        let egress = match &config.egress {
            Some(e) => Some(bind(e.listen).await?),
            None => None,
        };
        inherit::close_unclaimed();
        let mut listen_fds = Vec::new();
        for l in [
            Some(&inbound),
            Some(&admin),
            egress.as_ref().map(|(l, _)| l),
        ]
        .into_iter()
        .flatten()
        {
            // Kept for an upgrade's successor (a duplicate: closing it never closes the socket).
            match std::os::fd::AsFd::as_fd(l).try_clone_to_owned() {
                Ok(fd) => listen_fds.push(fd),
                Err(e) => tracing::warn!(error = %e, "cannot keep a listener for upgrades"),
            }
        }
        let mut listeners = vec![inbound_addr, admin_addr];
        listeners.extend(egress.as_ref().map(|(_, a)| *a));
        let mut analysis =
            crate::analysis::engine::Analysis::new(crate::analysis::engine::AnalysisConfig {
                detector: config.analysis.detector(),
                step: config.analysis.step,
                ..Default::default()
            });
        analysis.set_enclave(config.enclave.networks.clone());
        // A store that cannot open is reported and skipped: traffic never waits on storage.
        let mut bans = Vec::new();
        let store = match &config.storage {
            None => None,
            Some(s) => match crate::store::Store::open(s) {
                Ok((store, mut restored)) => {
                    bans = std::mem::take(&mut restored.bans);
                    tracing::info!(
                        path = %s.path.display(),
                        nodes = restored.nodes.len(),
                        findings = restored.findings.len(),
                        baselines = restored.baselines.len(),
                        "store opened"
                    );
                    analysis.restore(restored);
                    Some(store)
                }
                Err(e) => {
                    tracing::error!(error = %e, "store unavailable; running without persistence");
                    counters.store_open_failures.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
        };
        let clients = Arc::new(crate::clients::ClientGuard::new(
            &config.clients,
            clock,
            store.clone(),
            bans,
        ));
        let active = Active::build(config, &counters, 1, &listeners)?;
        import_openapi(&mut analysis, &active.openapi);
        let alerts = start_alerts(&active.config, &counters, store.as_ref());
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
        let shared = Arc::new(Shared {
            active: ArcSwap::from_pointee(active),
            recorder,
            draining: AtomicBool::new(false),
            generation: AtomicU64::new(1),
            reload: Mutex::new(ReloadStatus::default()),
            config_path,
            started: SystemTime::now(),
            listeners,
            inbound_conns: Arc::new(ConnTracker::default()),
            egress_conns: Arc::new(ConnTracker::default()),
            clients,
            alerts,
        });
        let (stop_accepting, stop_rx) = watch::channel(false);
        let (shutdown, rx) = watch::channel(false);
        let (admin_shutdown, admin_rx) = watch::channel(false);
        let mut accept_tasks = vec![tokio::spawn(listen::inbound(
            inbound,
            shared.clone(),
            stop_rx.clone(),
            rx.clone(),
        ))];
        let tasks = vec![tokio::spawn(crate::clients::watch_lists(shared.clone()))];
        // The admin listener outlives the drain, so probes see /readyz turn 503.
        let admin_task = tokio::spawn(listen::admin(admin, shared.clone(), admin_rx));
        let egress_addr = egress.as_ref().map(|(_, a)| *a);
        if let Some((l, _)) = egress {
            accept_tasks.push(tokio::spawn(listen::egress(l, shared.clone(), stop_rx, rx)));
        }
        tracing::info!(inbound = %inbound_addr, admin = %admin_addr, egress = ?egress_addr, "sightline serving");
        Ok(Sightline {
            shared,
            inbound_addr,
            admin_addr,
            egress_addr,
            stop_accepting,
            shutdown,
            admin_shutdown,
            accept_tasks,
            tasks,
            listen_fds,
            admin_task,
        })
    }

    /// Duplicates of the listening sockets (inbound, admin, then egress), for a successor.
    pub fn listen_fds(&self) -> &[std::os::fd::OwnedFd] {
        &self.listen_fds
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

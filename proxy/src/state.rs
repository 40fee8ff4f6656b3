//! What the stacks read per request: the config in force, built for the data path ([`Active`]),
//! swapped atomically on reload, and the state every listener and request shares ([`Shared`]):
//! the recorder, the client guard, the alerts, the connection trackers and the last reload's
//! outcome.

use crate::config::{Config, ConfigError, ConfigIssue};
use crate::record::counters::UNROUTED;
use crate::record::{Counters, Direction, ServiceCounters};
use crate::recorder::Recorder;
use crate::server::ConnTracker;
use crate::upstream::router::Router;
use crate::upstream::ServicePool;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
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
    pub egress: Option<crate::enclave::EgressRuntime>,
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
            Some(i) => match crate::enclave::Inspector::load(i) {
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
            match ServicePool::new(
                name,
                svc,
                &config.limits,
                config.runtime.upstream_http1,
                c,
                counters.clone(),
            ) {
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
            crate::enclave::EgressRuntime::build(&config, e, own, counters, egress_tls, inspector)
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

/// Hands the analysis the OpenAPI documents the config names (checked when it was built).
pub(crate) fn import_openapi(
    analysis: &mut crate::analysis::engine::Analysis,
    docs: &[(Option<String>, String)],
) {
    for (host, text) in docs {
        // Checked when the config was built.
        let _ = analysis.templater().import_openapi(host.as_deref(), text);
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
    /// Turns true when the connections are told to drain: inspected tunnels, served apart from
    /// the listener's connection, drain on it too.
    pub drain: tokio::sync::watch::Sender<bool>,
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
    /// The fleet's shared store, when `fleet.postgres` is set.
    pub postgres: Option<Arc<crate::fleet::postgres::Postgres>>,
}

/// What [`Shared::new`] is made of besides the config in force.
#[derive(Debug)]
pub struct SharedParts {
    /// The recorder and counters.
    pub recorder: Arc<Recorder>,
    /// The config file, when the proxy was started from one.
    pub config_path: Option<PathBuf>,
    /// The bound listener addresses.
    pub listeners: Vec<SocketAddr>,
    /// The client guard.
    pub clients: Arc<crate::clients::ClientGuard>,
    /// The alert pipeline.
    pub alerts: crate::alerts::Alerts,
    /// The fleet's shared store, when `fleet.postgres` is set.
    pub postgres: Option<Arc<crate::fleet::postgres::Postgres>>,
}

impl Shared {
    /// The state of a proxy starting with `active` (generation 1) now.
    pub fn new(active: Active, parts: SharedParts) -> Shared {
        let SharedParts {
            recorder,
            config_path,
            listeners,
            clients,
            alerts,
            postgres,
        } = parts;
        Shared {
            generation: AtomicU64::new(active.generation),
            active: ArcSwap::from_pointee(active),
            recorder,
            draining: AtomicBool::new(false),
            drain: tokio::sync::watch::Sender::new(false),
            reload: Mutex::new(ReloadStatus::default()),
            config_path,
            started: SystemTime::now(),
            listeners,
            inbound_conns: Arc::new(ConnTracker::default()),
            egress_conns: Arc::new(ConnTracker::default()),
            clients,
            alerts,
            postgres,
        }
    }

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
        if config.runtime.workers != old.config.runtime.workers {
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

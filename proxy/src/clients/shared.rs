//! Limits and bans shared with the other instances of a fleet, as the guard sees them: a
//! back-end (Redis, in `fleet`) answers for a shared limit from its lease, hears of bans set
//! elsewhere and is told of those set here. Without one, every decision is local.

use super::ClientGuard;
use crate::config::clients::RouteSpec;
use crate::record::ClientSignal;
use sightline_dashboard::views::FleetBackend;
use sightline_policy::clients::ClientId;
use sightline_policy::clients::{Ban, Passed, Rate, Throttled};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Which limit a shared decision is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The per-client rate.
    Client,
    /// A per-client rate on one route.
    Route(&'a RouteSpec),
    /// The rate over all clients.
    Global,
}

/// An event of a window the fleet counts together: a failed login, or a missing path. The
/// instance whose event fills the window (`threshold` events, or distinct paths, within
/// `within`) bans the client with the rule's escalation.
#[derive(Clone, Debug)]
pub struct WindowEvent {
    /// The client that answers for the event.
    pub client: Arc<str>,
    /// `failed_logins` or `scanning`.
    pub reason: &'static str,
    /// Which window of the client: `login <rule index>` or `scan`.
    pub window: String,
    /// For a distinct-path window, the path: events of one path count once. `None`: every
    /// event counts.
    pub path: Option<String>,
    /// The window's length.
    pub within: std::time::Duration,
    /// Events (or distinct paths) that fill it.
    pub threshold: u32,
    /// The ban's escalation.
    pub escalation: sightline_policy::clients::Escalation,
    /// Whether the ban is enforced (the rule's mode).
    pub enforce: bool,
}

/// A future the guard awaits for a shared back-end.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The fleet's shared protections.
pub trait SharedProtections: Send + Sync + std::fmt::Debug {
    /// One call taken from the lease on a shared limit; `None` when the back-end has no
    /// answer for the key (the guard's local limit decides).
    fn take(&self, scope: Scope<'_>, id: &str, rate: &Rate) -> Option<Result<Passed, Throttled>>;
    /// Makes the leases of `keys` ready, waiting a bounded time; false when the call must be
    /// refused (the back-end cannot answer and fails closed).
    fn prepare<'a>(&'a self, keys: &'a [(Scope<'a>, &'a str, Rate)]) -> Pending<'a, bool>;
    /// Tells the fleet about a ban set here, kept until `keep_until` (Unix µs).
    fn ban(&self, client: &str, ban: &Ban, keep_until: u64);
    /// Tells the fleet a ban was lifted here.
    fn lift(&self, client: &str);
    /// Counts an event of a fleet-wide window; when it fills the window, the back-end calls
    /// [`ClientGuard::fleet_window_full`]. Must not block. Without a back-end answer (down),
    /// only the local windows count.
    fn count(&self, _event: WindowEvent) {}
    /// Readiness: `Err` names why calls are refused.
    fn ready(&self) -> Result<(), String>;
    /// The back-end's state for `/api/status`.
    fn status(&self) -> FleetBackend;
    /// The back-end's families of `/metrics`.
    fn render_metrics(&self, out: &mut crate::metrics::Writer);
}

impl ClientGuard {
    /// Shares this guard's limits and bans with the fleet (once, at start).
    pub fn set_fleet(&self, fleet: Arc<dyn SharedProtections>) {
        let _ = self.fleet.set(fleet);
    }

    /// The fleet's shared limits and bans, when configured.
    pub fn fleet(&self) -> Option<&Arc<dyn SharedProtections>> {
        self.fleet.get()
    }

    /// A shared limit's decision from this instance's lease, `None` to decide locally.
    pub(super) fn shared_take(
        &self,
        scope: Scope<'_>,
        id: &str,
        rate: &Rate,
    ) -> Option<Result<Passed, Throttled>> {
        self.fleet.get()?.take(scope, id, rate)
    }

    /// The ban in force now on the client (or on the address that answers for it): what
    /// [`ClientGuard::admit_judged`] refuses by. Bans set by other instances of the fleet are
    /// in the same table (applied as they are heard), so this is the fleet's answer too.
    pub fn ban_on(&self, client: &ClientId) -> Option<Ban> {
        self.ban_at(client, self.now())
    }

    /// A fleet-wide window of `event`'s client filled with `event`: the client is banned as
    /// the rule says, unless a ban is already in force (set here or heard from the fleet).
    pub fn fleet_window_full(&self, event: &WindowEvent) {
        if event.reason == STUFFING {
            // A report, not a ban: `client` is the login route.
            self.fleet_signals.push(ClientSignal::CredentialStuffing {
                route: event.client.to_string(),
                clients: event.threshold,
            });
            return;
        }
        let now = self.now();
        if self.active_ban(&event.client, now).is_some() {
            return;
        }
        let signal = self.ban_key(
            &event.client,
            event.reason,
            &event.escalation,
            event.enforce,
            now,
        );
        tracing::info!(client = %event.client, reason = event.reason, ?signal, "banned by a fleet-wide window");
        self.fleet_signals.push(signal);
    }

    /// The fleet windows' signals waiting for a call to carry them (cheap when none wait).
    pub(crate) fn take_fleet_signals(&self) -> Vec<ClientSignal> {
        self.fleet_signals.take()
    }

    /// Hands the call's failed logins and missing path to the fleet's shared windows (the
    /// local windows judged them already).
    pub(super) fn share_windows(
        &self,
        cfg: &crate::config::clients::ClientsConfig,
        client: &Arc<str>,
        failed_logins: &[usize],
        path: &str,
        status: u16,
    ) {
        let Some(fleet) = self.fleet.get() else {
            return;
        };
        for &i in failed_logins {
            let Some(rule) = cfg.logins.get(i) else {
                continue;
            };
            fleet.count(WindowEvent {
                client: client.clone(),
                reason: "failed_logins",
                window: format!("login {i}"),
                path: None,
                within: rule.within,
                threshold: rule.failures,
                escalation: rule.escalation,
                enforce: cfg.modes.logins == sightline_policy::Mode::Enforce,
            });
        }
        for &i in failed_logins {
            let Some(rule) = cfg.logins.get(i) else {
                continue;
            };
            // Credential stuffing: distinct failing clients on the route, fleet-wide.
            fleet.count(WindowEvent {
                client: rule.route.label().into(),
                reason: STUFFING,
                window: format!("stuffing {i}"),
                path: Some(client.to_string()),
                within: cfg.watch.stuffing_within,
                threshold: cfg.watch.stuffing_clients,
                escalation: rule.escalation,
                enforce: false,
            });
        }
        if let (Some(scan), 404 | 405) = (&cfg.scanning, status) {
            // Without a ban to set, the local signal is all the rule asks for.
            if let Some(escalation) = scan.ban {
                fleet.count(WindowEvent {
                    client: client.clone(),
                    reason: "scanning",
                    window: "scan".into(),
                    path: Some(path.to_owned()),
                    within: scan.within,
                    threshold: scan.distinct_paths,
                    escalation,
                    enforce: cfg.modes.scanning == sightline_policy::Mode::Enforce,
                });
            }
        }
    }

    /// A ban another instance of the fleet set.
    pub fn apply_shared_ban(&self, client: &str, ban: Ban) {
        let key: Arc<str> = client.into();
        self.bans.shard(&key).insert(key.clone(), ban);
    }

    /// A ban another instance of the fleet lifted.
    pub fn apply_shared_lift(&self, client: &str) {
        let key: Arc<str> = client.into();
        self.bans.shard(&key).remove(&key);
    }
}

/// The reason of a fleet window that counts distinct clients failing on one login route.
pub(super) const STUFFING: &str = "credential_stuffing";

/// Most signals held for the next call; beyond that they are dropped (the ban itself is set).
const LATER_MAX: usize = 1_000;

/// Signals held for the next observed call.
#[derive(Debug, Default)]
pub(super) struct Later {
    any: std::sync::atomic::AtomicBool,
    held: std::sync::Mutex<Vec<ClientSignal>>,
}

impl Later {
    fn push(&self, s: ClientSignal) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.len() < LATER_MAX {
            held.push(s);
            self.any.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    fn take(&self) -> Vec<ClientSignal> {
        // A plain load first: every call asks, and a write per call would bounce the line
        // between cores.
        if !self.any.load(std::sync::atomic::Ordering::Acquire)
            || !self.any.swap(false, std::sync::atomic::Ordering::Acquire)
        {
            return Vec::new();
        }
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

//! The client guard: the inbound phase that decides, before routing, whether a client may be
//! served. It runs on the data path and never waits: every table is a capped, sharded map
//! behind short std mutexes, never held across an await. In order, per request:
//!
//! 1. [`ClientGuard::accept`] (per connection, before TLS or HTTP): allow list → exempt; deny
//!    list → closed; a banned address with `bans.action: close` → closed; per-address cap;
//! 2. [`ClientGuard::identify`]: certificate, API key (verified against the configured hashes,
//!    else only claimed: charged to its address too, a few per address), named network, else
//!    address;
//! 3. [`ClientGuard::admit`]: ban → 403; per-client, per-client-route and global GCRA rates →
//!    429 with `Retry-After` and `RateLimit` headers; concurrency (anonymous clients shed
//!    first) → 503;
//! 4. [`ClientGuard::observe`] (after the response status is known): failed logins and
//!    scanning ban with escalation; credential stuffing, uncommon endpoints, surges and floods
//!    are signals on the record, raised as events by the recorder.

mod lists;
mod mark;
mod meter;
mod table;
mod views;

pub use lists::{ListFileError, Lists};
pub use mark::{ClientMark, ClientSignal};
pub use views::{rfc3339 as views_rfc3339, BanView, ClientView};

use crate::config::clients::{BanAction, ClientsConfig};
use crate::errors::ProxyError;
use crate::fleet::Scope;
use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderValue, Method};
use sightline_policy::clients::{
    forwarded_client, group_ip, identify, Ban, ClientId, ClientKind, Clock, DistinctWindow,
    Escalation, FailureWindow, Micros, Passed, Rate, RateState, Throttled,
};
use sightline_policy::{Decision, Mode};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use table::Table;

/// Which protection acted, as records, events and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protection {
    /// The per-client rate.
    RatePerClient,
    /// A per-client rate on one route.
    RatePerRoute,
    /// The rate over all clients.
    RateGlobal,
    /// The concurrency limit.
    Concurrency,
    /// A ban (failed logins, scanning).
    Ban,
    /// A deny list.
    DenyList,
    /// The per-address connection cap.
    Connections,
}

impl Protection {
    /// Every protection, for metrics.
    pub const ALL: [Protection; 7] = [
        Protection::RatePerClient,
        Protection::RatePerRoute,
        Protection::RateGlobal,
        Protection::Concurrency,
        Protection::Ban,
        Protection::DenyList,
        Protection::Connections,
    ];

    /// `rate_per_client`, `rate_per_route`, `rate_global`, `concurrency`, `ban`, `deny_list`,
    /// `connections`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protection::RatePerClient => "rate_per_client",
            Protection::RatePerRoute => "rate_per_route",
            Protection::RateGlobal => "rate_global",
            Protection::Concurrency => "concurrency",
            Protection::Ban => "ban",
            Protection::DenyList => "deny_list",
            Protection::Connections => "connections",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct GuardStats {
    /// Per protection: calls refused with 429/503.
    pub limited: [AtomicU64; 7],
    /// Per protection: calls or connections refused with 403 or a close.
    pub blocked: [AtomicU64; 7],
    /// Per protection: calls let through in report mode.
    pub reported: [AtomicU64; 7],
    /// Bans started, by failed logins.
    pub bans_logins: AtomicU64,
    /// Bans started, by scanning.
    pub bans_scanning: AtomicU64,
    /// Bans lifted through the admin API.
    pub bans_lifted: AtomicU64,
    /// List files re-read after a change.
    pub list_reloads: AtomicU64,
    /// List files that failed to read or parse (the previous lists stay).
    pub list_reload_failures: AtomicU64,
}

/// One client's state.
#[derive(Debug)]
struct ClientState {
    kind: ClientKind,
    rate: RateState,
    requests: u64,
    limited: u64,
    blocked: u64,
    errors_4xx: u64,
    last_seen: Micros,
    failures: Vec<(usize, FailureWindow)>,
    scan: DistinctWindow,
    endpoints: Vec<u64>,
}

impl ClientState {
    fn new(kind: ClientKind, now: Micros) -> Self {
        ClientState {
            kind,
            rate: RateState::default(),
            requests: 0,
            limited: 0,
            blocked: 0,
            errors_4xx: 0,
            last_seen: now,
            failures: Vec::new(),
            scan: DistinctWindow::default(),
            endpoints: Vec::new(),
        }
    }
}

/// Most endpoints remembered per known client.
const MAX_ENDPOINTS_PER_CLIENT: usize = 64;
/// Most endpoints metered for surges and floods.
const MAX_ENDPOINTS: usize = 10_000;

/// The `RateLimit-Policy` and `RateLimit` header values of the limit closest to refusing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    name: &'static str,
    limit: u32,
    window: u64,
    remaining: u32,
    reset: u64,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateHeaders {
    fn passed(name: &'static str, rate: &Rate, p: Passed) -> Self {
        RateHeaders {
            name,
            limit: rate.burst,
            window: rate.window_secs(),
            remaining: p.remaining,
            reset: ceil_secs(p.reset),
        }
    }

    fn throttled(name: &'static str, rate: &Rate, t: Throttled) -> Self {
        RateHeaders {
            name,
            limit: rate.burst,
            window: rate.window_secs(),
            remaining: 0,
            reset: ceil_secs(t.retry_after).max(1),
        }
    }

    /// Adds `RateLimit-Policy` and `RateLimit` (structured fields, as the IETF draft writes
    /// them: `"name";q=LIMIT;w=WINDOW` and `"name";r=REMAINING;t=SECONDS`).
    pub fn apply(&self, h: &mut HeaderMap) {
        let policy = format!("\"{}\";q={};w={}", self.name, self.limit, self.window);
        let now = format!("\"{}\";r={};t={}", self.name, self.remaining, self.reset);
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&now) {
            h.insert("ratelimit", v);
        }
    }

    fn tighter(self, other: Option<RateHeaders>) -> RateHeaders {
        match other {
            Some(o) if o.remaining < self.remaining => o,
            _ => self,
        }
    }
}

/// A call let through: headers to add, a concurrency slot to hold, and an objection in
/// report mode.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Rate-limit headers for the response.
    pub rate: Option<RateHeaders>,
    /// Held until the call ends.
    pub permit: Option<Permit>,
    /// The protection that would have refused the call, in report mode.
    pub reported: Option<(Protection, String)>,
}

/// A call refused before any upstream work.
#[derive(Debug)]
pub struct Refused {
    /// Which protection refused it.
    pub protection: Protection,
    /// The response cause.
    pub error: ProxyError,
    /// `limited` or `blocked`.
    pub decision: Decision,
    /// Rate-limit headers for the response.
    pub rate: Option<RateHeaders>,
    /// Close the connection after answering.
    pub close: bool,
}

/// A slot under the concurrency limit.
#[derive(Debug)]
pub struct Permit {
    inflight: Arc<AtomicUsize>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inflight.fetch_sub(1, Relaxed);
    }
}

/// A connection's place under its address's cap.
#[derive(Debug)]
pub struct ConnSlot {
    table: Arc<Table<Arc<str>, usize>>,
    key: Arc<str>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut shard = self.table.shard(&self.key);
        let empty = shard.get_mut(&self.key).is_some_and(|n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        if empty {
            shard.remove(&self.key);
        }
    }
}

/// What the accept phase decided about a new connection.
#[derive(Debug)]
pub enum Accept {
    /// Close it now.
    Refuse(Protection),
    /// Serve it.
    Serve(ConnFlags),
}

/// What the accept phase learned about a connection, for each of its requests.
#[derive(Debug, Default)]
pub struct ConnFlags {
    /// On an allow list: every protection is skipped.
    pub exempt: bool,
    /// On a deny list in report mode: each call is reported.
    pub listed: bool,
    /// A client behind a trusted proxy whose forwarded address is on a deny list in enforce
    /// mode: each call is refused (the proxy's connection stays open).
    pub denied: bool,
    /// Held while the connection is open.
    pub slot: Option<ConnSlot>,
}

/// The client's address: the peer, or behind a trusted proxy the address it forwarded.
fn client_addr(cfg: &ClientsConfig, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if cfg.trusted_proxies.is_empty() {
        return sightline_policy::canonical(peer);
    }
    let values: Vec<&str> = headers
        .get_all(&cfg.forwarded_header)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let joined = values.join(",");
    let forwarded = (!values.is_empty()).then_some(joined.as_str());
    forwarded_client(peer, forwarded, &cfg.trusted_proxies)
}

/// The client guard's state, kept across reloads (the config in force is passed to each call).
#[derive(Debug)]
pub struct ClientGuard {
    clock: Arc<dyn Clock>,
    clients: Table<Arc<str>, ClientState>,
    route_rates: Table<(Arc<str>, usize), RateState>,
    bans: Table<Arc<str>, Ban>,
    conns: Arc<Table<Arc<str>, usize>>,
    /// Per (grouped) address: the unverified API keys it used lately (a hash and when).
    keys: Table<Arc<str>, Vec<(u64, Micros)>>,
    endpoints: Table<Arc<str>, meter::Meter>,
    global_rate: Mutex<RateState>,
    global_meter: Mutex<meter::Meter>,
    stuffing: Mutex<Vec<DistinctWindow>>,
    inflight: Arc<AtomicUsize>,
    lists: ArcSwap<Lists>,
    store: Option<crate::store::Store>,
    /// The fleet's shared limits and bans, when `fleet.redis` is set.
    fleet: std::sync::OnceLock<Arc<crate::fleet::RedisFleet>>,
    hasher: RandomState,
    /// Counters for `/metrics`.
    pub stats: GuardStats,
}

impl ClientGuard {
    /// A guard for `config` with `clock`, writing bans to `store` and starting from the bans
    /// a previous run left.
    pub fn new(
        config: &ClientsConfig,
        clock: Arc<dyn Clock>,
        store: Option<crate::store::Store>,
        restored: Vec<(String, Ban)>,
    ) -> Self {
        let lists = Lists::load(&config.deny_lists, &config.allow_lists).unwrap_or_default();
        let guard = ClientGuard {
            clock,
            clients: Table::new(config.max_clients),
            route_rates: Table::new(config.max_clients),
            bans: Table::new(config.max_bans),
            conns: Arc::new(Table::new(config.max_clients)),
            keys: Table::new(config.max_clients),
            endpoints: Table::new(MAX_ENDPOINTS),
            global_rate: Mutex::new(RateState::default()),
            global_meter: Mutex::new(meter::Meter::default()),
            stuffing: Mutex::new(Vec::new()),
            inflight: Arc::new(AtomicUsize::new(0)),
            lists: ArcSwap::from_pointee(lists),
            store,
            fleet: std::sync::OnceLock::new(),
            hasher: RandomState::new(),
            stats: GuardStats::default(),
        };
        for (client, ban) in restored {
            let client: Arc<str> = client.into();
            guard.bans.shard(&client).insert(client.clone(), ban);
        }
        guard
    }

    /// Now, by the guard's clock.
    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    /// The accept phase for a connection from `peer`.
    pub fn accept(&self, cfg: &ClientsConfig, peer: IpAddr) -> Accept {
        if !cfg.enabled {
            return Accept::Serve(ConnFlags::default());
        }
        let lists = self.lists.load();
        if lists.allow.contains(peer) {
            return Accept::Serve(ConnFlags {
                exempt: true,
                ..ConnFlags::default()
            });
        }
        let mut flags = ConnFlags::default();
        if lists.deny.contains(peer) {
            if cfg.modes.lists == Mode::Enforce {
                self.count(&self.stats.blocked, Protection::DenyList);
                return Accept::Refuse(Protection::DenyList);
            }
            flags.listed = true;
        }
        let key: Arc<str> = group_ip(peer, cfg.ipv6_prefix).into();
        if cfg.ban_action == BanAction::Close && self.active_ban(&key, self.now()).is_some() {
            self.count(&self.stats.blocked, Protection::Ban);
            return Accept::Refuse(Protection::Ban);
        }
        let behind_proxy = cfg.trusted_proxy(peer);
        if let (Some(cap), false) = (cfg.per_ip_connections, behind_proxy) {
            let over = self.conns.with(
                &key,
                || 0,
                |n| {
                    *n += 1;
                    *n > cap
                },
            );
            let slot = ConnSlot {
                table: self.conns.clone(),
                key,
            };
            if over {
                if cfg.modes.connections == Mode::Enforce {
                    self.count(&self.stats.blocked, Protection::Connections);
                    return Accept::Refuse(Protection::Connections);
                }
                self.count(&self.stats.reported, Protection::Connections);
            }
            flags.slot = Some(slot);
        }
        Accept::Serve(flags)
    }

    /// Who the client is. An API key in the configured hashes is a verified identity; any
    /// other key is only claimed, and an address may claim at most `api_keys.per_address`
    /// distinct keys within `api_keys.within`: calls with further keys are the address's own.
    pub fn identify(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        certificate: Option<&str>,
        headers: &HeaderMap,
    ) -> ClientId {
        let addr = client_addr(cfg, peer, headers);
        let key = match (certificate, &cfg.api_key_header) {
            (None, Some(h)) => headers.get(h).filter(|v| !v.is_empty()),
            _ => None,
        };
        let key = key.and_then(|v| {
            let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
            let digest: &[u8] = digest.as_ref();
            let hash = crate::trace::hex(&digest[..16]);
            if <[u8; 32]>::try_from(digest).is_ok_and(|d| cfg.api_keys.verified.contains(&d)) {
                return Some((hash, true));
            }
            self.claim_key(cfg, addr, self.hasher.hash_one(digest))
                .then_some((hash, false))
        });
        identify(
            certificate,
            key.as_ref().map(|(h, verified)| (h.as_str(), *verified)),
            addr,
            &cfg.named,
            cfg.ipv6_prefix,
        )
    }

    /// Whether the address `addr` may use one more (or this already seen) unverified key.
    fn claim_key(&self, cfg: &ClientsConfig, addr: IpAddr, key: u64) -> bool {
        let now = self.now();
        let within = sightline_policy::clients::micros(cfg.api_keys.within);
        let address: Arc<str> = group_ip(addr, cfg.ipv6_prefix).into();
        self.keys.with(&address, Vec::new, |seen| {
            seen.retain(|(_, at)| now.saturating_sub(*at) < within);
            if let Some(entry) = seen.iter_mut().find(|(k, _)| *k == key) {
                entry.1 = now;
                true
            } else if seen.len() < cfg.api_keys.per_address {
                seen.push((key, now));
                true
            } else {
                false
            }
        })
    }

    /// The client's address when a trusted proxy forwarded the request, `None` when the client
    /// is the peer.
    pub fn forwarded_for(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
        Some(client_addr(cfg, peer, headers)).filter(|a| *a != peer)
    }

    /// The allow and deny lists judged on the client of one request, when a trusted proxy
    /// forwarded it: the proxy's own connection may well be allow-listed, but what counts is
    /// the address behind it. `None` when the client is the peer (the connection's flags hold).
    pub fn forwarded_flags(
        &self,
        cfg: &ClientsConfig,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Option<ConnFlags> {
        if !cfg.enabled || !cfg.trusted_proxy(peer) {
            return None;
        }
        let addr = client_addr(cfg, peer, headers);
        if addr == sightline_policy::canonical(peer) {
            return None;
        }
        let lists = self.lists.load();
        let deny = lists.deny.contains(addr);
        Some(ConnFlags {
            exempt: lists.allow.contains(addr),
            listed: deny && cfg.modes.lists != Mode::Enforce,
            denied: deny && cfg.modes.lists == Mode::Enforce,
            slot: None,
        })
    }

    /// Decides whether the call may go on. `flags` come from the accept phase, or from
    /// [`ClientGuard::forwarded_flags`] for a client behind a trusted proxy.
    pub fn admit(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        method: &Method,
        path: &str,
    ) -> Result<Admitted, Refused> {
        let mut out = Admitted::default();
        if !cfg.enabled {
            return Ok(out);
        }
        let now = self.now();
        let known = client.known();
        let rate = self.clients.with(
            &client.id,
            || ClientState::new(client.kind, now),
            |st| {
                st.requests += 1;
                st.last_seen = now;
                if flags.exempt {
                    return None;
                }
                cfg.per_client.map(|r| {
                    let shared = self.shared_take(Scope::Client, &client.id, &r);
                    (
                        r,
                        shared.unwrap_or_else(|| r.gcra().take(&mut st.rate, now)),
                    )
                })
            },
        );
        if flags.exempt {
            return Ok(out);
        }
        if flags.denied {
            self.note(client, |s| s.blocked += 1);
            self.count(&self.stats.blocked, Protection::DenyList);
            return Err(Refused {
                protection: Protection::DenyList,
                error: ProxyError::ClientBlocked("the client address is on a deny list".into()),
                decision: Decision::Blocked,
                rate: None,
                close: false,
            });
        }
        if flags.listed {
            self.count(&self.stats.reported, Protection::DenyList);
            out.reported = Some((Protection::DenyList, "the address is on a deny list".into()));
        }
        let ban = self.active_ban(&client.id, now).or_else(|| {
            let other = client.accountable();
            (other != &client.id)
                .then(|| self.active_ban(other, now))
                .flatten()
        });
        if let Some(ban) = ban {
            self.note(client, |s| s.blocked += 1);
            self.count(&self.stats.blocked, Protection::Ban);
            return Err(Refused {
                protection: Protection::Ban,
                error: ProxyError::ClientBlocked(format!(
                    "client banned ({}) until {}",
                    ban.reason,
                    views::rfc3339(ban.until)
                )),
                decision: Decision::Blocked,
                rate: None,
                close: cfg.ban_action == BanAction::Close,
            });
        }
        if let Some((r, taken)) = rate {
            let h =
                self.rate_outcome(cfg, client, Protection::RatePerClient, &r, taken, &mut out)?;
            out.rate = Some(h);
            // A claimed key never earns more than its address: the address pays too.
            if client.claimed() {
                let taken = self.clients.with(
                    &client.address,
                    || ClientState::new(ClientKind::Address, now),
                    |st| {
                        self.shared_take(Scope::Client, &client.address, &r)
                            .unwrap_or_else(|| r.gcra().take(&mut st.rate, now))
                    },
                );
                let h =
                    self.rate_outcome(cfg, client, Protection::RatePerClient, &r, taken, &mut out)?;
                out.rate = Some(h.tighter(out.rate.take()));
            }
        }
        if let Some((i, limit)) = cfg
            .routes
            .iter()
            .enumerate()
            .find(|(_, l)| l.route.matches(method, path))
        {
            let mut payers = vec![&client.id];
            if client.claimed() {
                payers.push(&client.address);
            }
            for payer in payers {
                let key = (payer.clone(), i);
                let taken = self.route_rates.with(&key, RateState::default, |st| {
                    self.shared_take(Scope::Route(&limit.route), payer, &limit.rate)
                        .unwrap_or_else(|| limit.rate.gcra().take(st, now))
                });
                let h = self.rate_outcome(
                    cfg,
                    client,
                    Protection::RatePerRoute,
                    &limit.rate,
                    taken,
                    &mut out,
                )?;
                out.rate = Some(h.tighter(out.rate.take()));
            }
        }
        if let Some(g) = &cfg.global {
            let taken = {
                let mut st = self.global_rate.lock().unwrap_or_else(|p| p.into_inner());
                self.shared_take(Scope::Global, "", g)
                    .unwrap_or_else(|| g.gcra().take(&mut st, now))
            };
            self.rate_outcome(cfg, client, Protection::RateGlobal, g, taken, &mut out)?;
        }
        if let Some(c) = cfg.concurrency {
            let max = if known {
                c.max
            } else {
                ((c.max as f64 * c.anonymous_share).floor() as usize).max(1)
            };
            let before = self.inflight.fetch_add(1, Relaxed);
            let permit = Permit {
                inflight: self.inflight.clone(),
            };
            if before >= max {
                if cfg.modes.concurrency == Mode::Enforce {
                    drop(permit);
                    self.note(client, |s| s.limited += 1);
                    self.count(&self.stats.limited, Protection::Concurrency);
                    return Err(Refused {
                        protection: Protection::Concurrency,
                        error: ProxyError::Overloaded,
                        decision: Decision::Limited,
                        rate: out.rate.take(),
                        close: false,
                    });
                }
                self.count(&self.stats.reported, Protection::Concurrency);
                out.reported.get_or_insert((
                    Protection::Concurrency,
                    "would be shed: too many requests in flight".into(),
                ));
            }
            out.permit = Some(permit);
        }
        Ok(out)
    }

    fn rate_outcome(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        p: Protection,
        rate: &Rate,
        taken: Result<Passed, Throttled>,
        out: &mut Admitted,
    ) -> Result<RateHeaders, Refused> {
        match taken {
            Ok(passed) => Ok(RateHeaders::passed(p.as_str(), rate, passed)),
            Err(t) => {
                let headers = RateHeaders::throttled(p.as_str(), rate, t);
                if cfg.modes.rate == Mode::Report {
                    self.count(&self.stats.reported, p);
                    out.reported
                        .get_or_insert((p, format!("would be limited: {} {rate}", p.as_str())));
                    return Ok(headers);
                }
                self.note(client, |s| s.limited += 1);
                self.count(&self.stats.limited, p);
                Err(Refused {
                    protection: p,
                    error: ProxyError::Limited {
                        retry_after: Some(t.retry_after),
                    },
                    decision: Decision::Limited,
                    rate: Some(headers),
                    close: false,
                })
            }
        }
    }

    /// Learns from a finished call's status: failed logins and scans may ban; stuffing,
    /// uncommon endpoints, surges and floods become signals. `endpoint` is `METHOD route`
    /// when the call was routed.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        method: &Method,
        path: &str,
        status: u16,
        endpoint: Option<&str>,
    ) -> Vec<ClientSignal> {
        let mut signals = Vec::new();
        if !cfg.enabled {
            return signals;
        }
        let now = self.now();
        let w = &cfg.watch;
        let mut ban: Option<(&'static str, Escalation, Mode)> = None;
        let endpoint_hash = endpoint.map(|e| self.hasher.hash_one(e));
        let path_hash = self.hasher.hash_one(path);
        let mut stuffing_routes = Vec::new();
        self.clients.with(
            &client.id,
            || ClientState::new(client.kind, now),
            |st| {
                if (400..500).contains(&status) {
                    st.errors_4xx += 1;
                }
                let named = client.kind != ClientKind::Address;
                if let (Some(h), true, false) = (endpoint_hash, named, flags.exempt) {
                    let learned = st.requests > w.known_after;
                    if !st.endpoints.contains(&h) && st.endpoints.len() < MAX_ENDPOINTS_PER_CLIENT {
                        st.endpoints.push(h);
                        if learned {
                            signals.push(ClientSignal::UncommonEndpoint {
                                endpoint: endpoint.unwrap_or_default().to_owned(),
                            });
                        }
                    }
                }
            },
        );
        // Failures and scans count against whoever answers for them (an API-key client's
        // address), in that entry's own state.
        let accountable = client.accountable();
        let kind = if accountable == &client.id {
            client.kind
        } else {
            ClientKind::Address
        };
        self.clients.with(
            accountable,
            || ClientState::new(kind, now),
            |st| {
                // An allow-listed client is exempt from bans and from being judged a scanner.
                if flags.exempt {
                    return;
                }
                for (i, rule) in cfg.logins.iter().enumerate() {
                    if !rule.statuses.contains(&status) || !rule.route.matches(method, path) {
                        continue;
                    }
                    stuffing_routes.push(i);
                    let pos = match st.failures.iter().position(|(j, _)| *j == i) {
                        Some(p) => p,
                        None => {
                            st.failures.push((i, FailureWindow::default()));
                            st.failures.len() - 1
                        }
                    };
                    if st.failures[pos].1.fail(now, rule.within, rule.failures) {
                        ban = Some(("failed_logins", rule.escalation, cfg.modes.logins));
                    }
                }
                if let (Some(scan), 404 | 405) = (&cfg.scanning, status) {
                    let n = st
                        .scan
                        .note(path_hash, now, scan.within, scan.distinct_paths as usize);
                    if n >= scan.distinct_paths as usize {
                        st.scan.clear();
                        signals.push(ClientSignal::Scanning {
                            distinct_paths: n as u32,
                        });
                        if let (Some(esc), None) = (scan.ban, &ban) {
                            ban = Some(("scanning", esc, cfg.modes.scanning));
                        }
                    }
                }
            },
        );
        for i in stuffing_routes {
            let n = {
                let mut all = self.stuffing.lock().unwrap_or_else(|p| p.into_inner());
                if all.len() < cfg.logins.len() {
                    all.resize_with(cfg.logins.len(), DistinctWindow::default);
                }
                let win = &mut all[i];
                let n = win.note(
                    self.hasher.hash_one(&**accountable),
                    now,
                    w.stuffing_within,
                    w.stuffing_clients as usize,
                );
                if n >= w.stuffing_clients as usize {
                    win.clear();
                }
                n
            };
            if n >= w.stuffing_clients as usize {
                signals.push(ClientSignal::CredentialStuffing {
                    route: cfg.logins[i].route.label(),
                    clients: n as u32,
                });
            }
        }
        if let (Some((reason, esc, mode)), false) = (ban, flags.exempt) {
            signals.push(self.ban(client, reason, &esc, mode == Mode::Enforce, now));
        }
        signals.extend(self.global_flood(cfg));
        if let Some(e) = endpoint {
            let key: Arc<str> = e.into();
            let client_hash = self.hasher.hash_one(&*client.id);
            let (reading, surge) = self.endpoints.with(&key, meter::Meter::default, |m| {
                let r = m.count(now, w.flood_factor, w.flood_min_per_minute);
                (
                    r,
                    m.surge(now, client_hash, w.rare_per_hour, w.surge_clients),
                )
            });
            if let meter::Reading::Flood {
                per_minute,
                baseline,
            } = reading
            {
                signals.push(ClientSignal::Flood {
                    scope: e.to_owned(),
                    per_minute,
                    baseline,
                });
            }
            if let Some(clients) = surge {
                signals.push(ClientSignal::EndpointSurge {
                    endpoint: e.to_owned(),
                    clients,
                });
            }
        }
        signals
    }

    /// Counts a call (refused ones too) on the global meter; a flood signal once per minute.
    pub fn global_flood(&self, cfg: &ClientsConfig) -> Option<ClientSignal> {
        if !cfg.enabled {
            return None;
        }
        let w = &cfg.watch;
        let reading = self
            .global_meter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(self.now(), w.flood_factor, w.flood_min_per_minute);
        match reading {
            meter::Reading::Flood {
                per_minute,
                baseline,
            } => Some(ClientSignal::Flood {
                scope: "global".into(),
                per_minute,
                baseline,
            }),
            meter::Reading::Normal => None,
        }
    }

    /// Bans `client` (the next strike after its last ban) and persists the ban.
    fn ban(
        &self,
        client: &ClientId,
        reason: &'static str,
        esc: &Escalation,
        enforce: bool,
        now: Micros,
    ) -> ClientSignal {
        let key = client.accountable();
        let ban = {
            let mut shard = self.bans.shard(key);
            let ban = esc.next(shard.peek(key), now, reason);
            if enforce {
                shard.insert(key.clone(), ban.clone());
            }
            ban
        };
        if enforce {
            let c = if reason == "scanning" {
                &self.stats.bans_scanning
            } else {
                &self.stats.bans_logins
            };
            c.fetch_add(1, Relaxed);
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Ban {
                    client: key.to_string(),
                    ban: ban.clone(),
                });
            }
            if let Some(fleet) = self.fleet.get() {
                let keep = ban
                    .until
                    .saturating_add(sightline_policy::clients::micros(esc.forget));
                fleet.ban(key, &ban, keep);
            }
        }
        ClientSignal::Banned {
            client: key.clone(),
            reason,
            strikes: ban.strikes,
            until: ban.until,
            enforced: enforce,
        }
    }

    fn active_ban(&self, client: &Arc<str>, now: Micros) -> Option<Ban> {
        self.bans
            .shard(client)
            .peek(client)
            .filter(|b| b.active(now))
            .cloned()
    }

    /// Lifts a client's ban and forgets its strikes; false when it had none.
    pub fn lift(&self, client: &str) -> bool {
        let key: Arc<str> = client.into();
        let had = self.bans.shard(&key).remove(&key).is_some();
        if let Some(st) = self.clients.shard(&key).get_mut(&key) {
            st.failures.clear();
            st.scan.clear();
        }
        if let Some(fleet) = self.fleet.get() {
            fleet.lift(client);
        }
        if had {
            self.stats.bans_lifted.fetch_add(1, Relaxed);
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Unban {
                    client: client.to_owned(),
                });
            }
        }
        had
    }

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

    /// Requests in flight under the concurrency limit.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }

    fn note(&self, client: &ClientId, f: impl FnOnce(&mut ClientState)) {
        let now = self.now();
        self.clients
            .with(&client.id, || ClientState::new(client.kind, now), f);
    }

    fn count(&self, counters: &[AtomicU64; 7], p: Protection) {
        counters[p.index()].fetch_add(1, Relaxed);
    }

    /// Sizes, caps and evictions of each client-keyed table: (name, len, cap, evictions).
    pub fn tables(&self) -> [(&'static str, usize, usize, u64); 6] {
        [
            (
                "clients",
                self.clients.len(),
                self.clients.cap(),
                self.clients.evictions(),
            ),
            (
                "route_rates",
                self.route_rates.len(),
                self.route_rates.cap(),
                self.route_rates.evictions(),
            ),
            (
                "bans",
                self.bans.len(),
                self.bans.cap(),
                self.bans.evictions(),
            ),
            (
                "connections",
                self.conns.len(),
                self.conns.cap(),
                self.conns.evictions(),
            ),
            (
                "endpoints",
                self.endpoints.len(),
                self.endpoints.cap(),
                self.endpoints.evictions(),
            ),
            (
                "api_keys",
                self.keys.len(),
                self.keys.cap(),
                self.keys.evictions(),
            ),
        ]
    }
}

/// An API key as kept: the first 16 bytes of its SHA-256, in hex. The key itself is never
/// stored or shown.
pub fn hash_api_key(key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    crate::trace::hex(&digest.as_ref()[..16])
}

/// Checks the list files of a config (for `check` and reload).
pub fn check_lists(cfg: &ClientsConfig) -> Result<(), ListFileError> {
    Lists::load(&cfg.deny_lists, &cfg.allow_lists).map(|_| ())
}

/// Re-reads changed list files each second until the proxy stops.
pub async fn watch_lists(shared: Arc<crate::runtime::Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let active = shared.active();
        let cfg = &active.config.clients;
        if cfg.deny_lists.is_empty() && cfg.allow_lists.is_empty() && !shared.clients.has_lists() {
            continue;
        }
        shared.clients.refresh_lists(cfg);
    }
}

impl ClientGuard {
    fn has_lists(&self) -> bool {
        let (d, a) = self.lists.load().entries();
        d + a > 0
    }

    /// Shares this guard's limits and bans with the fleet (once, at start).
    pub fn set_fleet(&self, fleet: Arc<crate::fleet::RedisFleet>) {
        let _ = self.fleet.set(fleet);
    }

    /// The fleet's shared limits and bans, when configured.
    pub fn fleet(&self) -> Option<&Arc<crate::fleet::RedisFleet>> {
        self.fleet.get()
    }

    /// A shared limit's decision from this instance's lease, `None` to decide locally.
    fn shared_take(
        &self,
        scope: Scope<'_>,
        id: &str,
        rate: &Rate,
    ) -> Option<Result<Passed, Throttled>> {
        self.fleet.get()?.take(scope, id, rate)
    }

    /// Whether the client (or the address that answers for it) is banned now.
    pub fn banned(&self, client: &ClientId) -> bool {
        let now = self.now();
        self.active_ban(&client.id, now).is_some()
            || self.active_ban(client.accountable(), now).is_some()
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

#[cfg(test)]
mod tests;

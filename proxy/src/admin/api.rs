//! The JSON API's answers: `AdminState` for `AdminView`, reading the analysis, alerts, clients,
//! recent calls and config in force into the dashboard crate's typed views.

use super::views::{
    alert_view, edge_view, finding_view, incident_view, node_kind, silence_view, source_service,
    stats_view,
};
use super::{exposition, policy, AdminView};
use crate::analysis::graph::Window;
use crate::clock::rfc3339;
use sightline_dashboard::views::{
    self, AlertList, AlertView, BanLifted, BanList, ClientList, History, HistoryQuery, StatusView,
};
use sightline_dashboard::{
    AdminState, AlertAction, AlertFilter, CallPage, CallQuery, CallView, Readiness,
};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

impl AdminState for AdminView {
    fn readiness(&self) -> Readiness {
        let mut backends = std::collections::BTreeMap::new();
        if let Some(f) = self.shared.clients.fleet() {
            let s = f.status();
            backends.insert(s.name, s.state);
        }
        if let Some(pg) = &self.shared.postgres {
            backends.insert("postgres".to_owned(), pg.health().state.to_owned());
        }
        let (ready, reason) = if self.shared.draining.load(Ordering::Acquire) {
            (false, "draining".into())
        } else if let Some(Err(reason)) = self.shared.clients.fleet().map(|f| f.ready()) {
            (false, reason)
        } else {
            (true, String::new())
        };
        Readiness {
            ready,
            reason,
            backends,
        }
    }

    fn metrics(&self) -> String {
        let shared = &self.shared;
        let active = shared.active();
        exposition::render(&exposition::Exposition {
            recorder: &shared.recorder,
            pools: &active.pools,
            generation: active.generation,
            inbound_connections: shared.inbound_conns.count(),
            egress_connections: shared.egress_conns.count(),
            clients: &shared.clients,
            alerts: &shared.alerts,
            postgres: shared.postgres.as_deref(),
            started: shared.started,
        })
    }

    fn calls(&self, query: &CallQuery) -> CallPage {
        let store = self
            .shared
            .active()
            .config
            .storage
            .as_ref()
            .map(|s| s.path.clone());
        super::calls::page(query, store.as_deref(), |q| {
            self.shared.recorder.recent().query(q)
        })
    }

    fn call(&self, id: &str) -> Option<CallView> {
        let q = CallQuery {
            limit: 1000,
            ..CallQuery::default()
        };
        self.calls(&q).calls.into_iter().find(|c| c.id == id)
    }

    fn graph(&self, w: &str) -> Result<views::GraphView, String> {
        let g = self
            .shared
            .recorder
            .analysis()
            .graph_view(window(w)?, now());
        Ok(views::GraphView {
            window: w.into(),
            now: g.now,
            nodes: g
                .nodes
                .into_iter()
                .map(|n| views::GraphNode {
                    node: views::Node {
                        id: n.id,
                        kind: node_kind(n.kind),
                        label: n.label,
                        first_seen: n.first_seen,
                        last_seen: n.last_seen,
                    },
                    new: n.new,
                })
                .collect(),
            edges: g.edges.iter().map(edge_view).collect(),
            dependencies: g
                .dependencies
                .into_iter()
                .map(|d| views::Dependency {
                    service: d.dependency.service,
                    endpoint: d.dependency.endpoint,
                    to: d.dependency.to,
                    calls: d.calls,
                })
                .collect(),
            overflow: g.overflow,
        })
    }

    fn endpoints(&self, w: &str) -> Result<views::EndpointList, String> {
        let (endpoints, step) = {
            let analysis = self.shared.recorder.analysis();
            (analysis.endpoints_view(window(w)?, now()), analysis.step())
        };
        // Baselines count calls per step (a minute by default, shorter in the demo): shown per
        // minute, the unit of the rate beside them.
        let per_min = 60.0 / step.as_secs_f64().max(0.001);
        Ok(views::EndpointList {
            window: w.into(),
            endpoints: endpoints
                .into_iter()
                .map(|e| views::Endpoint {
                    node: e.node,
                    caller: e.caller,
                    shadow: e.shadow,
                    stats: stats_view(&e.stats),
                    baseline: e.baseline.map(|b| views::Baseline {
                        learning: b.learning,
                        rate_per_min: b.rate_per_min * per_min,
                        band: [b.band[0] * per_min, b.band[1] * per_min],
                        step_seconds: step.as_secs_f64(),
                    }),
                })
                .collect(),
        })
    }

    fn graph_of(&self, w: &str, instance: Option<&str>) -> Result<views::GraphView, String> {
        let mut g = self.graph(w)?;
        if let Some(pg) = &self.shared.postgres {
            let secs = window(w)?.secs();
            let fleet = pg.view();
            crate::fleet::postgres::merge::graph(&mut g, &fleet, pg.instance(), secs, instance);
        }
        Ok(g)
    }

    fn endpoints_of(&self, w: &str, instance: Option<&str>) -> Result<views::EndpointList, String> {
        let mut list = self.endpoints(w)?;
        if let Some(pg) = &self.shared.postgres {
            let secs = window(w)?.secs();
            let fleet = pg.view();
            crate::fleet::postgres::merge::endpoints(
                &mut list,
                &fleet,
                pg.instance(),
                secs,
                instance,
            );
        }
        Ok(list)
    }

    fn anomalies(&self) -> views::FindingList {
        let analysis = self.shared.recorder.analysis();
        let mut anomalies: Vec<_> = analysis.findings().map(finding_view).collect();
        if let Some(pg) = &self.shared.postgres {
            crate::fleet::postgres::shown::findings(&mut anomalies, &pg.view());
        }
        views::FindingList { anomalies }
    }

    fn node(&self, id: &str, w: &str) -> Result<Option<views::NodeDetail>, String> {
        let w = window(w)?;
        let analysis = self.shared.recorder.analysis();
        let Some(n) = analysis.graph().node_by_id(id) else {
            return Ok(None);
        };
        let edges = analysis
            .graph()
            .edges(w, now())
            .iter()
            .filter(|e| e.from == id || e.to == id)
            .map(edge_view)
            .collect();
        let findings = analysis
            .findings()
            .filter(|f| f.subject.split_whitespace().any(|t| t == id))
            .take(50)
            .map(finding_view)
            .collect();
        Ok(Some(views::NodeDetail {
            node: views::Node {
                id: n.id.to_string(),
                kind: node_kind(n.kind),
                label: n.label.to_string(),
                first_seen: n.first_seen,
                last_seen: n.last_seen,
            },
            edges,
            findings,
        }))
    }

    fn clients(&self, limit: usize) -> ClientList {
        let clients = self.shared.clients.client_views(limit);
        let active = self.shared.active();
        let egress = active.config.egress.as_ref();
        let lists = self.shared.clients.lists();
        let address = |c: &crate::clients::ClientView| {
            (c.kind == "address")
                .then(|| c.id.parse::<std::net::IpAddr>().ok())
                .flatten()
        };
        ClientList {
            clients: clients
                .into_iter()
                .map(|c| views::ClientView {
                    service: egress.and_then(|e| match address(&c) {
                        Some(ip) => source_service(&e.sources, ip),
                        None if c.kind == "certificate" => e.identities.get(&c.id).cloned(),
                        None => None,
                    }),
                    allow_listed: address(&c).is_some_and(|ip| lists.allow.contains(ip)),
                    id: c.id,
                    kind: c.kind.into(),
                    requests: c.requests,
                    limited: c.limited,
                    blocked: c.blocked,
                    errors_4xx: c.errors_4xx,
                    last_seen: c.last_seen,
                    banned_until: c.banned_until,
                })
                .collect(),
        }
    }

    fn bans(&self) -> BanList {
        BanList {
            bans: self
                .shared
                .clients
                .bans()
                .into_iter()
                .map(|b| views::BanView {
                    client: b.client,
                    reason: b.reason,
                    since: b.since,
                    until: b.until,
                    strikes: b.strikes,
                })
                .collect(),
        }
    }

    fn lift_ban(&self, client: &str) -> Option<BanLifted> {
        self.shared.clients.lift(client).then(|| {
            tracing::info!(client = %client, "ban lifted through the admin API");
            BanLifted {
                client: client.into(),
                lifted: true,
            }
        })
    }

    fn history(&self, q: &HistoryQuery) -> Option<History> {
        let analysis = self.shared.recorder.analysis();
        let minutes = analysis.graph().history(now(), |f, t| {
            q.node.as_deref().is_none_or(|n| f == n || t == n)
                && q.from.as_deref().is_none_or(|x| f == x)
                && q.to.as_deref().is_none_or(|x| t == x)
        })?;
        Some(History {
            minutes: minutes
                .into_iter()
                .map(|m| views::Minute {
                    at: m.at,
                    count: m.count,
                    errors: m.errors,
                    blocked: m.blocked,
                    p90_ms: m.p90_ms,
                })
                .collect(),
        })
    }

    fn policy(&self) -> views::PolicyView {
        policy::view(&self.shared)
    }

    fn alerts(&self, f: &AlertFilter) -> Result<AlertList, String> {
        use crate::alerts::model::{Kind, Severity, State};
        let q = crate::alerts::AlertQuery {
            state: f
                .state
                .as_deref()
                .map(|s| State::parse(s).ok_or(format!("state: unknown value {s:?}")))
                .transpose()?,
            kind: f
                .kind
                .as_deref()
                .map(|k| Kind::parse(k).ok_or(format!("kind: unknown value {k:?}")))
                .transpose()?,
            severity: f
                .severity
                .as_deref()
                .map(|s| Severity::parse(s).ok_or(format!("severity: unknown value {s:?}")))
                .transpose()?,
            limit: f.limit,
        };
        let (mut alerts, mut incidents) =
            self.shared.alerts.list_with(&q, alert_view, incident_view);
        if let Some(pg) = &self.shared.postgres {
            let keep = |a: &crate::alerts::model::Alert| {
                q.state.is_none_or(|s| a.state == s)
                    && q.kind.is_none_or(|k| a.kind == k)
                    && q.severity.is_none_or(|s| a.severity >= s)
            };
            crate::fleet::postgres::shown::alerts(
                &mut alerts,
                &mut incidents,
                &pg.view(),
                keep,
                alert_view,
                incident_view,
                if q.limit == 0 { 100 } else { q.limit },
            );
        }
        Ok(AlertList { alerts, incidents })
    }

    fn silences(&self) -> views::SilenceList {
        views::SilenceList {
            silences: self.shared.alerts.silences_with(silence_view),
        }
    }

    fn add_silence(
        &self,
        r: &sightline_dashboard::SilenceRequest,
    ) -> Result<views::SilenceView, String> {
        let kind = crate::alerts::model::Kind::parse(&r.kind)
            .ok_or(format!("kind: unknown value {:?}", r.kind))?;
        let now = crate::alerts::now_ms();
        let until = match (&r.duration, &r.until) {
            (Some(d), _) => {
                let d = silence_duration(d)
                    .ok_or("duration: a number and m, h or d, such as 30m, 2h or 1d")?;
                now.saturating_add(d.as_millis() as u64)
            }
            (None, Some(t)) => {
                let t: jiff::Timestamp = t
                    .parse()
                    .map_err(|e| format!("until: {e} (an RFC 3339 time)"))?;
                // A time already past makes a silence that is over (it mutes nothing).
                u64::try_from(t.as_millisecond()).unwrap_or(0)
            }
            (None, None) => return Err("give exactly one of duration and until".into()),
        };
        // The longest silence: one asked for longer ends then (its `until` says so).
        let until = until.min(now.saturating_add(crate::alerts::MAX_SILENCE.as_millis() as u64));
        self.shared.alerts.silence_with(
            kind,
            r.subject.clone(),
            until,
            r.reason.clone(),
            silence_view,
        )
    }

    fn delete_silence(&self, id: u64) -> Option<views::SilenceView> {
        self.shared.alerts.unsilence_with(id, silence_view)
    }

    fn alert_action(&self, id: u64, action: AlertAction) -> Option<AlertView> {
        match action {
            AlertAction::Acknowledge => self.shared.alerts.acknowledge_with(id, alert_view),
            AlertAction::Resolve => self.shared.alerts.resolve_with(id, alert_view),
            AlertAction::Reopen => self.shared.alerts.reopen_with(id, alert_view),
        }
    }

    fn status(&self) -> StatusView {
        let active = self.shared.active();
        let reload = self.shared.reload_status();
        let services = active
            .pools
            .iter()
            .map(|(name, pool)| views::ServiceStatus {
                name: name.clone(),
                upstreams: active
                    .config
                    .services
                    .get(name)
                    .map(|s| s.upstreams.clone())
                    .unwrap_or_default(),
                healthy_upstreams: pool.healthy() as u64,
            })
            .collect();
        StatusView {
            version: env!("CARGO_PKG_VERSION").into(),
            started: rfc3339(self.shared.started),
            config: views::ConfigStatus {
                file: self
                    .shared
                    .config_path
                    .as_ref()
                    .map(|p| p.display().to_string()),
                generation: active.generation,
                last_reload: reload.at.map(rfc3339),
                last_reload_ok: reload.at.map(|_| reload.ok),
                last_reload_error: reload.error,
            },
            listeners: views::Listeners {
                inbound: self.shared.listeners.first().map(ToString::to_string),
                inbound_tls: active.config.inbound.tls.is_some(),
                admin: self.shared.listeners.get(1).map(ToString::to_string),
                egress: self.shared.listeners.get(2).map(ToString::to_string),
            },
            services,
            fleet: self.fleet_status(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn window(w: &str) -> Result<Window, String> {
    Window::parse(w).ok_or_else(|| format!("unknown window {w:?}; use 1m, 5m, 1h or 24h"))
}

/// A silence's duration: a whole number, then `m`, `h` or `d`.
fn silence_duration(text: &str) -> Option<std::time::Duration> {
    let unit = match text.chars().last()? {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let n: u64 = text[..text.len() - 1].trim_end().parse().ok()?;
    (n > 0).then(|| std::time::Duration::from_secs(n.saturating_mul(unit)))
}

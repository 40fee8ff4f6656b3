//! The admit phase, per request before routing: the deny list behind a trusted proxy and bans
//! → 403; per-client, per-client-route and global GCRA rates → 429 with `Retry-After` and rate
//! headers; concurrency (anonymous clients shed first) → 503. In report mode the call goes on
//! with the objection noted.

use super::entry::ClientState;
use super::shared::Scope;
use super::{ClientGuard, ConnFlags, Protection, RateHeaders};
use crate::config::clients::{BanAction, ClientsConfig};
use crate::errors::ProxyError;
use http::Method;
use sightline_policy::clients::{
    Ban, ClientId, ClientKind, Micros, Passed, Rate, RateState, Throttled,
};
use sightline_policy::{Decision, Mode};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

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

impl Refused {
    /// A 403 by `protection`.
    fn blocked(protection: Protection, why: String, close: bool) -> Self {
        Refused {
            protection,
            error: ProxyError::ClientBlocked(why),
            decision: Decision::Blocked,
            rate: None,
            close,
        }
    }
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

impl ClientGuard {
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
        self.admit_judged(cfg, flags, client, method, path, None)
    }

    /// [`ClientGuard::admit`] with the client's ban already looked up by the caller
    /// (`Some`, from [`ClientGuard::ban_on`]), so that it is looked up once per call; `None`
    /// looks it up here.
    pub fn admit_judged(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        method: &Method,
        path: &str,
        ban: Option<Option<Ban>>,
    ) -> Result<Admitted, Refused> {
        let mut out = Admitted::default();
        if !cfg.enabled {
            return Ok(out);
        }
        let now = self.now();
        let rate = self.count_call(cfg, flags, client, now);
        if flags.exempt {
            return Ok(out);
        }
        self.check_listed(flags, client, &mut out)?;
        let ban = ban.unwrap_or_else(|| self.ban_at(client, now));
        self.check_banned(cfg, client, ban)?;
        if let Some((r, taken)) = rate {
            self.client_rate(cfg, client, &r, taken, now, &mut out)?;
        }
        self.route_rate(cfg, client, method, path, now, &mut out)?;
        self.global_rate(cfg, client, now, &mut out)?;
        out.permit = self.concurrency_slot(cfg, client, &mut out)?;
        Ok(out)
    }

    /// Counts the call on the client's entry and, unless exempt, takes one call from its
    /// per-client rate.
    fn count_call(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        now: Micros,
    ) -> Option<(Rate, Result<Passed, Throttled>)> {
        self.clients.with(
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
        )
    }

    /// A client behind a trusted proxy on a deny list: refused, or reported in report mode.
    fn check_listed(
        &self,
        flags: &ConnFlags,
        client: &ClientId,
        out: &mut Admitted,
    ) -> Result<(), Refused> {
        if flags.denied {
            self.note(client, |s| s.blocked += 1);
            self.count(&self.stats.blocked, Protection::DenyList);
            return Err(Refused::blocked(
                Protection::DenyList,
                "the client address is on a deny list".into(),
                false,
            ));
        }
        if flags.listed {
            self.count(&self.stats.reported, Protection::DenyList);
            out.reported = Some((Protection::DenyList, "the address is on a deny list".into()));
        }
        Ok(())
    }

    /// The ban in force at `now` on the client, or on the address that answers for it.
    pub(super) fn ban_at(&self, client: &ClientId, now: Micros) -> Option<Ban> {
        self.active_ban(&client.id, now).or_else(|| {
            let other = client.accountable();
            (other != &client.id)
                .then(|| self.active_ban(other, now))
                .flatten()
        })
    }

    /// A ban on the client, or on the address that answers for it: refused.
    fn check_banned(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        ban: Option<Ban>,
    ) -> Result<(), Refused> {
        let Some(ban) = ban else {
            return Ok(());
        };
        self.note(client, |s| s.blocked += 1);
        self.count(&self.stats.blocked, Protection::Ban);
        Err(Refused::blocked(
            Protection::Ban,
            format!(
                "client banned ({}) until {}",
                ban.reason,
                crate::clock::rfc3339(crate::clock::from_micros(ban.until))
            ),
            cfg.ban_action == BanAction::Close,
        ))
    }

    /// The per-client rate's outcome; a claimed key's address pays too.
    fn client_rate(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        r: &Rate,
        taken: Result<Passed, Throttled>,
        now: Micros,
        out: &mut Admitted,
    ) -> Result<(), Refused> {
        let h = self.rate_outcome(cfg, client, Protection::RatePerClient, r, taken, out)?;
        out.rate = Some(h);
        // A claimed key never earns more than its address: the address pays too.
        if client.claimed() {
            let taken = self.clients.with(
                &client.address,
                || ClientState::new(ClientKind::Address, now),
                |st| {
                    self.shared_take(Scope::Client, &client.address, r)
                        .unwrap_or_else(|| r.gcra().take(&mut st.rate, now))
                },
            );
            let h = self.rate_outcome(cfg, client, Protection::RatePerClient, r, taken, out)?;
            out.rate = Some(h.tighter(out.rate.take()));
        }
        Ok(())
    }

    /// One call from the first route limit matching the call (from the client's bucket, and
    /// from its address's for a claimed key).
    fn route_rate(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        method: &Method,
        path: &str,
        now: Micros,
        out: &mut Admitted,
    ) -> Result<(), Refused> {
        let Some((i, limit)) = cfg
            .routes
            .iter()
            .enumerate()
            .find(|(_, l)| l.route.matches(method, path))
        else {
            return Ok(());
        };
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
                out,
            )?;
            out.rate = Some(h.tighter(out.rate.take()));
        }
        Ok(())
    }

    /// One call from the rate over all clients.
    fn global_rate(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        now: Micros,
        out: &mut Admitted,
    ) -> Result<(), Refused> {
        if let Some(g) = &cfg.global {
            let taken = {
                let mut st = self.global_rate.lock().unwrap_or_else(|p| p.into_inner());
                self.shared_take(Scope::Global, "", g)
                    .unwrap_or_else(|| g.gcra().take(&mut st, now))
            };
            self.rate_outcome(cfg, client, Protection::RateGlobal, g, taken, out)?;
        }
        Ok(())
    }

    /// A slot under the concurrency limit; anonymous clients get only their share of it.
    fn concurrency_slot(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        out: &mut Admitted,
    ) -> Result<Option<Permit>, Refused> {
        let Some(c) = cfg.concurrency else {
            return Ok(None);
        };
        let max = if client.known() {
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
        Ok(Some(permit))
    }

    /// What one limit's take means: rate headers when it passed (or in report mode), else a
    /// 429 refusal.
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
}

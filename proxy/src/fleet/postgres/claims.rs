//! Fleet-wide alert delivery claims: of the instances raising the same alert, one delivers it
//! to each sink; the alerts' delivery tasks reach them through the [`crate::alerts::Claims`]
//! trait.

use super::{pg, Claim, Postgres, ROUND};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

impl Postgres {
    /// Claims the delivery of an alert to `sink` for the fleet: of the instances raising the
    /// same alert (kind and subject) in the same state, the first to claim delivers it. A claim
    /// lasts the alerts' quiet period. Its holder renews it at each try; a claim neither
    /// delivered nor renewed for `stale` (its instance died, or lost the database) is taken
    /// over by the next instance that claims the alert, so the alert still goes out.
    pub async fn claim(
        &self,
        sink: &str,
        kind: &str,
        subject: &str,
        state: &str,
        alert: &str,
        stale: Duration,
    ) -> Claim {
        let run = async {
            let client = self.client().await?;
            let hold = self.settings.claim_for.as_secs_f64();
            let stale = stale.as_secs_f64();
            // The outer SELECT reads the row as it was before the statement: when the claim is
            // not won, it tells whether the holder has delivered yet.
            let row = client
                .query_one(
                    "WITH won AS (
                       INSERT INTO alert_claims AS c
                         (sink, kind, subject, state, instance, claimed_at, delivered_at, alert)
                       VALUES ($1, $2, $3, $4, $5, now(), NULL, $6)
                       ON CONFLICT (sink, kind, subject, state) DO UPDATE SET
                         instance = excluded.instance, claimed_at = now(), delivered_at = NULL,
                         alert = excluded.alert
                       WHERE c.claimed_at < now() - make_interval(secs => $7)
                          OR (c.delivered_at IS NULL AND c.instance = excluded.instance)
                          OR (c.delivered_at IS NULL AND c.claimed_at < now() - make_interval(secs => $8))
                       RETURNING instance)
                     SELECT EXISTS (SELECT 1 FROM won),
                       COALESCE((SELECT delivered_at IS NOT NULL FROM alert_claims
                         WHERE sink = $1 AND kind = $2 AND subject = $3 AND state = $4), false)",
                    &[&sink, &kind, &subject, &state, &self.settings.instance, &alert, &hold, &stale],
                )
                .await
                .map_err(pg)?;
            Ok::<_, String>((row.get::<_, bool>(0), row.get::<_, bool>(1)))
        };
        match tokio::time::timeout(ROUND, run).await {
            Ok(Ok((true, _))) => Claim::Mine,
            Ok(Ok((false, true))) => Claim::Theirs,
            Ok(Ok((false, false))) => Claim::Pending,
            Ok(Err(e)) => {
                self.claim_errors.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "alert claim failed; delivering anyway");
                Claim::Unknown
            }
            Err(_) => {
                self.claim_errors.fetch_add(1, Relaxed);
                Claim::Unknown
            }
        }
    }

    /// Marks a claimed alert delivered, so no other instance takes it over.
    pub async fn delivered(&self, sink: &str, kind: &str, subject: &str, state: &str) {
        let run = async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE alert_claims SET delivered_at = now()
                     WHERE sink = $1 AND kind = $2 AND subject = $3 AND state = $4 AND instance = $5",
                    &[&sink, &kind, &subject, &state, &self.settings.instance],
                )
                .await
                .map_err(pg)?;
            Ok::<_, String>(())
        };
        if !matches!(tokio::time::timeout(ROUND, run).await, Ok(Ok(()))) {
            self.claim_errors.fetch_add(1, Relaxed);
        }
    }
}

impl crate::alerts::Claims for Postgres {
    fn claim<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
        alert: &'a str,
        stale: Duration,
    ) -> crate::alerts::ClaimFuture<'a, Claim> {
        Box::pin(Postgres::claim(
            self, sink, kind, subject, state, alert, stale,
        ))
    }

    fn delivered<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
    ) -> crate::alerts::ClaimFuture<'a, ()> {
        Box::pin(Postgres::delivered(self, sink, kind, subject, state))
    }
}

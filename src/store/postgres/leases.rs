//! Named leases in PostgreSQL: the leader lease and per-tick poll claims. Each is one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`, which PostgreSQL runs atomically
//! (a concurrent claimer of the same row waits for this one, then re-checks the `WHERE`).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{PgStore, ts};
use crate::store::StoreError;

fn until(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    ts(now + chrono::Duration::from_std(ttl).unwrap_or_default())
}

impl PgStore {
    pub(super) async fn acquire_lease_impl(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
               WHERE leases.holder = excluded.holder OR leases.until < $4
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until(now, ttl))
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    pub(super) async fn release_lease_impl(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET until = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn release_worker_impl(&self, holder: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deliveries = sqlx::query(
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = $1 AND state = 'queued'",
        )
        .bind(holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let leases = sqlx::query("UPDATE leases SET until = $2 WHERE holder = $1 AND until > $2")
            .bind(holder)
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deliveries + leases)
    }

    pub(super) async fn first_poll_at_impl(
        &self,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sources (id, next_poll) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET next_poll = coalesce(sources.next_poll, excluded.next_poll)
             RETURNING next_poll",
        )
        .bind(source)
        .bind(ts(at))
        .fetch_one(&self.pool)
        .await?)
    }

    pub(super) async fn claim_poll_impl(
        &self,
        source: &str,
        tick: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // A later tick once the earlier one is done (or its holder's lease ran out); the
        // same tick again only when its holder died before finishing it.
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until, tick, done) VALUES ('poll:' || $1, $2, $3, $4, false)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,
               tick = excluded.tick, done = false
               WHERE (leases.tick IS NULL OR leases.tick < excluded.tick) AND (leases.done OR leases.until < $5)
                  OR leases.tick = excluded.tick AND NOT leases.done AND leases.until < $5
             RETURNING holder",
        )
        .bind(source)
        .bind(holder)
        .bind(until(now, ttl))
        .bind(ts(tick))
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    pub(super) async fn finish_poll_impl(
        &self,
        source: &str,
        tick: DateTime<Utc>,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET done = true WHERE name = 'poll:' || $1 AND holder = $2 AND tick = $3")
            .bind(source)
            .bind(holder)
            .bind(ts(tick))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

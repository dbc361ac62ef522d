//! Named leases in SQLite: the leader lease and per-tick poll claims. Each is one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`, which SQLite runs atomically.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SqliteStore, parse_ts, ts};
use crate::store::StoreError;

fn until(now: DateTime<Utc>, ttl: Duration) -> String {
    ts(now + chrono::Duration::from_std(ttl).unwrap_or_default())
}

impl SqliteStore {
    pub(super) async fn acquire_lease_impl(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
               WHERE leases.holder = excluded.holder OR leases.until < ?4
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
        sqlx::query("UPDATE leases SET until = ?3 WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .bind(ts(DateTime::UNIX_EPOCH))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn release_worker_impl(&self, holder: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deliveries = sqlx::query(
            "UPDATE deliveries SET claimed_by = NULL, lease_until = NULL
             WHERE claimed_by = ?1 AND state = 'queued'",
        )
        .bind(holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let leases = sqlx::query("UPDATE leases SET until = ?2 WHERE holder = ?1 AND until > ?2")
            .bind(holder)
            .bind(ts(DateTime::UNIX_EPOCH))
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
        let stored: String = sqlx::query_scalar(
            "INSERT INTO sources (id, next_poll) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET next_poll = coalesce(sources.next_poll, excluded.next_poll)
             RETURNING next_poll",
        )
        .bind(source)
        .bind(ts(at))
        .fetch_one(&self.pool)
        .await?;
        parse_ts(&stored, "next_poll")
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
            "INSERT INTO leases (name, holder, until, tick, done) VALUES ('poll:' || ?1, ?2, ?3, ?4, 0)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until,
               tick = excluded.tick, done = 0
               WHERE (leases.tick IS NULL OR leases.tick < excluded.tick) AND (leases.done = 1 OR leases.until < ?5)
                  OR leases.tick = excluded.tick AND leases.done = 0 AND leases.until < ?5
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
        sqlx::query("UPDATE leases SET done = 1 WHERE name = 'poll:' || ?1 AND holder = ?2 AND tick = ?3")
            .bind(source)
            .bind(holder)
            .bind(ts(tick))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_tick_is_claimed_once_and_again_only_after_its_holder_died() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let t0 = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
        let tick = t0 + chrono::Duration::seconds(5);
        let ttl = Duration::from_secs(60);
        assert_eq!(store.first_poll_at("s", tick).await.unwrap(), tick);
        assert_eq!(
            store.first_poll_at("s", t0).await.unwrap(),
            tick,
            "the first one wins"
        );
        assert!(store.claim_poll("s", tick, "a", t0, ttl).await.unwrap());
        assert!(
            !store.claim_poll("s", tick, "b", t0, ttl).await.unwrap(),
            "one per tick"
        );
        store.finish_poll("s", tick, "a").await.unwrap();
        assert!(
            !store.claim_poll("s", tick, "b", t0, ttl).await.unwrap(),
            "a done tick stays done"
        );
        let next = tick + chrono::Duration::minutes(10);
        assert!(
            store.claim_poll("s", next, "b", t0, ttl).await.unwrap(),
            "the next tick"
        );
        // b dies mid-poll: the same tick is claimed again after its lease.
        let later = t0 + chrono::Duration::seconds(61);
        assert!(!store.claim_poll("s", next, "a", t0, ttl).await.unwrap());
        assert!(store.claim_poll("s", next, "a", later, ttl).await.unwrap());
    }

    #[tokio::test]
    async fn a_lease_has_one_holder_until_it_expires_or_is_released() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let t0 = Utc::now();
        let ttl = Duration::from_secs(30);
        assert!(store.acquire_lease("leader", "a", t0, ttl).await.unwrap());
        assert!(!store.acquire_lease("leader", "b", t0, ttl).await.unwrap());
        assert!(
            store.acquire_lease("leader", "a", t0, ttl).await.unwrap(),
            "renewed"
        );
        let later = t0 + chrono::Duration::seconds(31);
        assert!(
            store.acquire_lease("leader", "b", later, ttl).await.unwrap(),
            "taken over"
        );
        store.release_lease("leader", "b").await.unwrap();
        assert!(
            store.acquire_lease("leader", "a", later, ttl).await.unwrap(),
            "released"
        );
    }
}

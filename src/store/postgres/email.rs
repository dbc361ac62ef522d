//! Email double opt-in in PostgreSQL: pending confirmations, applied in one transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::outbox::{count_bounce, update_prefs, upsert_recipient};
use super::{PgStore, nul_free, ts};
use crate::store::{ConfirmOutcome, NewConfirmation, RecipientSpec, StoreError, SubscriptionRequest};

impl PgStore {
    pub(super) async fn create_confirmation_impl(&self, c: &NewConfirmation) -> Result<(), StoreError> {
        let request = serde_json::to_string(&c.request).map_err(|e| StoreError::Corrupt {
            table: "confirmations",
            column: "request",
            detail: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO confirmations (token_hash, address, request, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.token_hash)
        .bind(&c.request.address)
        .bind(request)
        .bind(ts(c.created_at))
        .bind(ts(c.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn confirm_impl(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locked: the same link followed twice at once (two instances) confirms once; the
        // second waits and then finds it used.
        let Some(row) = sqlx::query(
            "SELECT request, expires_at, confirmed_at, recipient_id FROM confirmations
             WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(nul_free(token_hash).into_owned())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(ConfirmOutcome::Unknown);
        };
        if row.try_get::<Option<DateTime<Utc>>, _>("confirmed_at")?.is_some() {
            let id: Option<i64> = row.try_get("recipient_id")?;
            let exists = match id {
                Some(id) => sqlx::query_scalar::<_, i64>("SELECT id FROM recipients WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some(),
                None => false,
            };
            return Ok(ConfirmOutcome::AlreadyConfirmed(id.filter(|_| exists)));
        }
        if row.try_get::<DateTime<Utc>, _>("expires_at")? <= now {
            return Ok(ConfirmOutcome::Expired);
        }
        let request: SubscriptionRequest = serde_json::from_str(&row.try_get::<String, _>("request")?)
            .map_err(|e| StoreError::Corrupt {
                table: "confirmations",
                column: "request",
                detail: e.to_string(),
            })?;
        let spec = RecipientSpec {
            kind: "email".into(),
            address: request.address.clone(),
            thread_id: 0,
            origin: "web".into(),
            topics: request.topics.clone(),
            filters: Some(request.filters.clone()),
        };
        let id = upsert_recipient(&mut tx, &spec, now).await?;
        update_prefs(&mut tx, id, &request.prefs).await?;
        sqlx::query("UPDATE confirmations SET confirmed_at = $1, recipient_id = $2 WHERE token_hash = $3")
            .bind(ts(now))
            .bind(id)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ConfirmOutcome::Confirmed(id))
    }

    pub(super) async fn confirmations_since_impl(
        &self,
        address: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM confirmations WHERE address = $1 AND created_at >= $2")
                .bind(nul_free(address).into_owned())
                .bind(ts(since))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(super) async fn record_bounce_impl(
        &self,
        recipient_id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let suspended = count_bounce(&mut tx, recipient_id, error).await?;
        if suspended {
            raise_delivery_alert(&mut tx, recipient_id, error, now).await?;
        }
        tx.commit().await?;
        Ok(suspended)
    }

    pub(super) async fn remove_recipient_id_impl(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM recipients WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// One operator alert per recipient while its delivery failures are unresolved.
pub(super) async fn raise_delivery_alert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    recipient_id: i64,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alerts (source, input, kind, message, created_at)
         SELECT 'delivery', r.kind || ' ' || r.address, 'delivery',
                'delivery to ' || r.kind || ' ' || r.address || ' failed for good: ' || $1, $2
         FROM recipients r WHERE r.id = $3
           AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.kind = 'delivery' AND a.resolved_at IS NULL
                             AND a.input = r.kind || ' ' || r.address)",
    )
    .bind(nul_free(error).into_owned())
    .bind(ts(now))
    .bind(recipient_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

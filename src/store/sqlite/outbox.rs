//! The outbox in SQLite: recipients, topics, deliveries claimed with leases.
//!
//! SQLite has no `SKIP LOCKED`: a claim is one `UPDATE … RETURNING` on the lease columns,
//! which SQLite runs atomically, so two workers never get the same row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Row, SqlitePool};

use super::email::raise_delivery_alert;
use super::{SqliteStore, opt_ts, ts};
use crate::store::{
    ChannelStats, Claimed, DeliveryOutcome, MAX_BOUNCES, OutboxStats, Recipient, RecipientPrefs,
    RecipientSpec, StoreError, Topic,
};

/// Active recipients (`r`) with a topic matching item `?1` in region `?3`: a topic's empty
/// region or tag means "any"; its tag must be among the item's tags.
const MATCHING: &str = "r.state = 'active' AND EXISTS (
    SELECT 1 FROM topics t WHERE t.recipient_id = r.id
      AND (t.region = '' OR t.region = ?3)
      AND (t.tag = '' OR EXISTS (SELECT 1 FROM item_tags it WHERE it.item_id = ?1 AND it.tag = t.tag)))";

/// Queues the item for every matching recipient inside the transaction that stored it (its
/// tags must already be in `item_tags`): one delivery per instant recipient, and digest
/// membership for digest-mode ones. Returns how many deliveries were queued.
pub(super) async fn queue_deliveries(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: &str,
    region: Option<&str>,
    now: &str,
) -> Result<u64, StoreError> {
    let instant = format!(
        "INSERT INTO deliveries (item_id, recipient_id, due_at, created_at)
         SELECT ?1, r.id, ?2, ?2 FROM recipients r WHERE r.mode = 'instant' AND {MATCHING}
         ON CONFLICT (item_id, recipient_id) DO NOTHING"
    );
    let digest = format!(
        "INSERT INTO digest_entries (recipient_id, item_id, created_at)
         SELECT r.id, ?1, ?2 FROM recipients r WHERE r.mode <> 'instant' AND {MATCHING}
         ON CONFLICT (recipient_id, item_id) DO NOTHING"
    );
    let queued = insert_matching(tx, instant, item_id, region, now).await?;
    insert_matching(tx, digest, item_id, region, now).await?;
    Ok(queued)
}

/// Runs one of the statements above with its parameters (`?1` item, `?2` now, `?3` region).
async fn insert_matching(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: String,
    item_id: &str,
    region: Option<&str>,
    now: &str,
) -> Result<u64, StoreError> {
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(item_id)
        .bind(now)
        .bind(region)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// Adds or updates a recipient (by kind, address and thread) with exactly `spec`'s topics,
/// active again with its refusals forgotten; returns its id.
pub(super) async fn upsert_recipient(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    spec: &RecipientSpec,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO recipients (kind, address, thread_id, origin, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (kind, address, thread_id) DO UPDATE SET state = 'active', state_reason = NULL,
           bounces = 0, origin = excluded.origin
         RETURNING id",
    )
    .bind(&spec.kind)
    .bind(&spec.address)
    .bind(spec.thread_id)
    .bind(&spec.origin)
    .bind(ts(now))
    .fetch_one(&mut **tx)
    .await?;
    if let Some(f) = &spec.filters {
        sqlx::query("UPDATE recipients SET include_pattern = ?, exclude_pattern = ? WHERE id = ?")
            .bind(f.include.as_deref().filter(|p| !p.is_empty()))
            .bind(f.exclude.as_deref().filter(|p| !p.is_empty()))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM topics WHERE recipient_id = ?")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    for t in &spec.topics {
        sqlx::query("INSERT INTO topics (recipient_id, region, tag) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(t.region.as_deref().unwrap_or(""))
            .bind(t.tag.as_deref().unwrap_or(""))
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

/// Sets the preferences given in `prefs` (others unchanged) of recipient `id`.
pub(super) async fn update_prefs(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: i64,
    prefs: &RecipientPrefs,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE recipients SET mode = coalesce(?2, mode), digest_at = coalesce(?3, digest_at),
           digest_weekday = coalesce(?4, digest_weekday), tz = coalesce(?5, tz)
         WHERE id = ?1",
    )
    .bind(id)
    .bind(&prefs.mode)
    .bind(&prefs.digest_at)
    .bind(&prefs.digest_weekday)
    .bind(&prefs.tz)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Counts one permanent refusal of mail to recipient `id`; at [`MAX_BOUNCES`] in a row the
/// recipient is suspended with `error` as the reason and its queued deliveries cancelled.
/// Returns whether it is suspended now.
pub(super) async fn count_bounce(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: i64,
    error: &str,
) -> Result<bool, StoreError> {
    let suspended: Option<bool> = sqlx::query_scalar(
        "UPDATE recipients SET bounces = bounces + 1,
           state = CASE WHEN bounces + 1 >= ?2 THEN 'suspended' ELSE state END,
           state_reason = CASE WHEN bounces + 1 >= ?2 THEN ?3 ELSE state_reason END
         WHERE id = ?1 RETURNING state = 'suspended'",
    )
    .bind(id)
    .bind(MAX_BOUNCES)
    .bind(format!(
        "mail refused {MAX_BOUNCES} times in a row; last: {error}"
    ))
    .fetch_optional(&mut **tx)
    .await?;
    let suspended = suspended.unwrap_or(false);
    if suspended {
        sqlx::query(
            "UPDATE deliveries SET state = 'cancelled', last_error = 'recipient suspended',
               claimed_by = NULL, lease_until = NULL
             WHERE state = 'queued' AND recipient_id = ?",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(suspended)
}

fn topic_row(region: String, tag: String) -> Topic {
    Topic {
        region: (!region.is_empty()).then_some(region),
        tag: (!tag.is_empty()).then_some(tag),
    }
}

impl SqliteStore {
    pub(super) async fn digest_items_impl(
        &self,
        recipient_id: i64,
    ) -> Result<Vec<crate::domain::Item>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.* FROM digest_entries e JOIN items i ON i.id = e.item_id
             WHERE e.recipient_id = ? ORDER BY coalesce(i.published_at, i.created_at) DESC, i.id",
        )
        .bind(recipient_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::row_to_item).collect()
    }

    pub(super) async fn finish_digest_impl(
        &self,
        recipient_id: i64,
        item_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let ids = serde_json::to_string(item_ids).unwrap_or_else(|_| "[]".into());
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM digest_entries WHERE recipient_id = ? AND item_id IN (SELECT value FROM json_each(?))",
        )
        .bind(recipient_id)
        .bind(ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recipients SET last_digest_at = ?1,
               bounces = CASE WHEN ?3 THEN 0 ELSE bounces END WHERE id = ?2",
        )
        .bind(ts(now))
        .bind(recipient_id)
        .bind(!item_ids.is_empty())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn save_recipient_impl(
        &self,
        spec: &RecipientSpec,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id = upsert_recipient(&mut tx, spec, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn remove_recipient_impl(
        &self,
        kind: &str,
        address: &str,
        thread_id: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM recipients WHERE kind = ? AND address = ? AND thread_id = ?")
            .bind(kind)
            .bind(address)
            .bind(thread_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn set_recipient_prefs_impl(
        &self,
        kind: &str,
        address: &str,
        thread_id: i64,
        prefs: &RecipientPrefs,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recipients SET mode = coalesce(?4, mode), digest_at = coalesce(?5, digest_at),
               digest_weekday = coalesce(?6, digest_weekday), tz = coalesce(?7, tz)
             WHERE kind = ?1 AND address = ?2 AND thread_id = ?3",
        )
        .bind(kind)
        .bind(address)
        .bind(thread_id)
        .bind(&prefs.mode)
        .bind(&prefs.digest_at)
        .bind(&prefs.digest_weekday)
        .bind(&prefs.tz)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn recipients_impl(&self) -> Result<Vec<Recipient>, StoreError> {
        recipients_where(&self.pool, Scope::All).await
    }

    pub(super) async fn digest_recipients_impl(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Recipient>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM recipients WHERE state = 'active' AND mode <> 'instant' AND id > ?1
             ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut page = recipients_where(&self.pool, Scope::Ids(&ids)).await?;
        page.sort_by_key(|r| r.id);
        Ok(page)
    }

    pub(super) async fn recipient_impl(&self, id: i64) -> Result<Option<Recipient>, StoreError> {
        Ok(recipients_where(&self.pool, Scope::One(id)).await?.pop())
    }

    pub(super) async fn claim_impl(
        &self,
        kind: &str,
        worker: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let rows = sqlx::query(
            "UPDATE deliveries SET claimed_by = ?1, lease_until = ?2, attempts = attempts + 1
             WHERE id IN (
               SELECT d.id FROM deliveries d JOIN items i ON i.id = d.item_id
               JOIN recipients r ON r.id = d.recipient_id
               WHERE d.state = 'queued' AND r.state = 'active' AND r.kind = ?5 AND d.due_at <= ?3
                 AND (d.lease_until IS NULL OR d.lease_until <= ?3)
               ORDER BY d.due_at, coalesce(i.published_at, i.created_at), d.id
               LIMIT ?4)
             RETURNING id, item_id, recipient_id, attempts",
        )
        .bind(worker)
        .bind(ts(until))
        .bind(ts(now))
        .bind(limit)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        // The claimed rows' recipients and items, each read once, in two queries.
        let mut recipient_ids: Vec<i64> = Vec::with_capacity(rows.len());
        let mut item_ids: Vec<String> = Vec::with_capacity(rows.len());
        for r in &rows {
            recipient_ids.push(r.try_get("recipient_id")?);
            item_ids.push(r.try_get("item_id")?);
        }
        recipient_ids.sort_unstable();
        recipient_ids.dedup();
        item_ids.sort_unstable();
        item_ids.dedup();
        let recipients: HashMap<i64, Recipient> = recipients_where(&self.pool, Scope::Ids(&recipient_ids))
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let item_rows = sqlx::query("SELECT * FROM items WHERE id IN (SELECT value FROM json_each(?))")
            .bind(serde_json::to_string(&item_ids).unwrap_or_else(|_| "[]".into()))
            .fetch_all(&self.pool)
            .await?;
        let mut items: HashMap<String, crate::domain::Item> = HashMap::with_capacity(item_rows.len());
        for row in &item_rows {
            let item = Self::row_to_item(row)?;
            items.insert(item.id.clone(), item);
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for r in rows {
            let item_id: String = r.try_get("item_id")?;
            let recipient_id: i64 = r.try_get("recipient_id")?;
            let (Some(item), Some(recipient)) = (items.get(&item_id), recipients.get(&recipient_id)) else {
                continue;
            };
            claimed.push(Claimed {
                id: r.try_get("id")?,
                attempts: r.try_get("attempts")?,
                item: item.clone(),
                recipient: recipient.clone(),
            });
        }
        // Oldest item first, as claimed.
        claimed.sort_by(|a, b| {
            let key = |c: &Claimed| {
                c.item
                    .article
                    .published
                    .map(|p| p.with_timezone(&Utc))
                    .unwrap_or(c.item.created)
            };
            key(a).cmp(&key(b)).then(a.id.cmp(&b.id))
        });
        Ok(claimed)
    }

    pub(super) async fn finish_impl(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = ts(now);
        let mut tx = self.pool.begin().await?;
        let release = "claimed_by = NULL, lease_until = NULL";
        match outcome {
            DeliveryOutcome::Sent => {
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'sent', sent_at = ?, last_error = NULL, {release}
                     WHERE id = ? AND claimed_by = ?"
                )))
                .bind(&now)
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    sqlx::query(
                        "UPDATE recipients SET bounces = 0
                         WHERE bounces > 0 AND id = (SELECT recipient_id FROM deliveries WHERE id = ?)",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            DeliveryOutcome::Bounced { error } => {
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'failed', last_error = ?, {release} WHERE id = ? AND claimed_by = ?"
                )))
                .bind(error)
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() > 0 {
                    let recipient: i64 =
                        sqlx::query_scalar("SELECT recipient_id FROM deliveries WHERE id = ?")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                    if count_bounce(&mut tx, recipient, error).await? {
                        raise_delivery_alert(&mut tx, recipient, error, chrono::Utc::now()).await?;
                    }
                }
            }
            DeliveryOutcome::Retry { due, error } => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET due_at = ?, last_error = ?, {release} WHERE id = ? AND claimed_by = ?"
                )))
                .bind(ts(*due))
                .bind(error)
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
            }
            DeliveryOutcome::Postpone { due } => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET due_at = coalesce(?, due_at), attempts = max(attempts - 1, 0),
                       {release} WHERE id = ? AND claimed_by = ?"
                )))
                .bind(due.map(ts))
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
            }
            DeliveryOutcome::Failed { error } => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'failed', last_error = ?, {release} WHERE id = ? AND claimed_by = ?"
                )))
                .bind(error)
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
                let recipient: Option<i64> =
                    sqlx::query_scalar("SELECT recipient_id FROM deliveries WHERE id = ?")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(recipient) = recipient {
                    raise_delivery_alert(&mut tx, recipient, error, chrono::Utc::now()).await?;
                }
            }
            DeliveryOutcome::Filtered => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'cancelled', last_error = 'left out by the recipient''s filters',
                       {release} WHERE id = ? AND claimed_by = ?"
                )))
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
            }
            DeliveryOutcome::Deactivate { reason } => {
                sqlx::query(
                    "UPDATE recipients SET state = 'inactive', state_reason = ?
                     WHERE id = (SELECT recipient_id FROM deliveries WHERE id = ?)",
                )
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET state = 'cancelled', last_error = ?, {release}
                     WHERE state = 'queued' AND recipient_id = (SELECT recipient_id FROM deliveries WHERE id = ?)"
                )))
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            DeliveryOutcome::Migrate { address } => {
                sqlx::query(
                    "UPDATE OR IGNORE recipients SET address = ?
                     WHERE id = (SELECT recipient_id FROM deliveries WHERE id = ?)",
                )
                .bind(address)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET due_at = ?, last_error = 'chat migrated', {release}
                     WHERE id = ? AND claimed_by = ?"
                )))
                .bind(&now)
                .bind(id)
                .bind(worker)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn outbox_channel_stats_impl(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ChannelStats>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.kind AS channel,
               SUM(d.state = 'queued') AS queued,
               SUM(d.state = 'sent') AS sent,
               SUM(d.state = 'failed') AS failed,
               SUM(d.state = 'cancelled') AS cancelled,
               SUM(d.attempts > 1) AS retried,
               MIN(CASE WHEN d.state = 'queued' THEN d.created_at END) AS oldest
             FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
             GROUP BY r.kind ORDER BY r.kind",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let oldest = opt_ts(r.try_get("oldest")?, "created_at")?;
                Ok(ChannelStats {
                    channel: r.try_get("channel")?,
                    stats: OutboxStats {
                        queued: r.try_get("queued")?,
                        sent: r.try_get("sent")?,
                        failed: r.try_get("failed")?,
                        cancelled: r.try_get("cancelled")?,
                        retried: r.try_get("retried")?,
                        oldest_queued_secs: oldest.map(|o| (now - o).num_seconds().max(0)),
                    },
                })
            })
            .collect()
    }
}

/// Each recipient's deliveries by state, as columns `q`, `s`, `f`, `c`.
const COUNTS: &str =
    "(SELECT COUNT(*) FROM deliveries d WHERE d.recipient_id = r.id AND d.state = 'queued') AS q,
   (SELECT COUNT(*) FROM deliveries d WHERE d.recipient_id = r.id AND d.state = 'sent') AS s,
   (SELECT COUNT(*) FROM deliveries d WHERE d.recipient_id = r.id AND d.state = 'failed') AS f,
   (SELECT COUNT(*) FROM deliveries d WHERE d.recipient_id = r.id AND d.state = 'cancelled') AS c";

/// Which recipients [`recipients_where`] reads.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// Every recipient, with delivery counts.
    All,
    /// One, with delivery counts.
    One(i64),
    /// These (the recipients of claimed deliveries, a page of digest recipients), without
    /// counts.
    Ids(&'a [i64]),
}

impl Scope<'_> {
    /// The condition on `r` (recipients), and whether delivery counts are wanted.
    fn clause(self) -> (&'static str, bool) {
        match self {
            Scope::All => ("TRUE", true),
            Scope::One(_) => ("r.id = ?1", true),
            Scope::Ids(_) => ("r.id IN (SELECT value FROM json_each(?1))", false),
        }
    }

    fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        match self {
            Scope::One(id) => q.bind(id),
            Scope::Ids(ids) => q.bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())),
            Scope::All => q,
        }
    }
}

/// Recipients with their topics (delivery counts left at zero when the scope has none).
async fn recipients_where(pool: &SqlitePool, scope: Scope<'_>) -> Result<Vec<Recipient>, StoreError> {
    let (only, with_counts) = scope.clause();
    let counts = if with_counts {
        COUNTS
    } else {
        "0 AS q, 0 AS s, 0 AS f, 0 AS c"
    };
    let sql = format!(
        "SELECT r.*, {counts} FROM recipients r WHERE {only} ORDER BY r.kind, r.address, r.thread_id"
    );
    let rows = scope
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(pool)
        .await?;
    let sql = format!(
        "SELECT t.recipient_id, t.region, t.tag FROM topics t JOIN recipients r ON r.id = t.recipient_id
         WHERE {only} ORDER BY t.recipient_id, t.region, t.tag"
    );
    let topics = scope
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(pool)
        .await?;
    let mut by_id: HashMap<i64, Vec<Topic>> = HashMap::new();
    for t in topics {
        by_id
            .entry(t.try_get("recipient_id")?)
            .or_default()
            .push(topic_row(t.try_get("region")?, t.try_get("tag")?));
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            Ok(Recipient {
                id,
                kind: r.try_get("kind")?,
                address: r.try_get("address")?,
                thread_id: r.try_get("thread_id")?,
                state: r.try_get("state")?,
                state_reason: r.try_get("state_reason")?,
                origin: r.try_get("origin")?,
                tz: r.try_get("tz")?,
                mode: r.try_get("mode")?,
                digest_at: r.try_get("digest_at")?,
                digest_weekday: r.try_get("digest_weekday")?,
                last_digest_at: opt_ts(r.try_get("last_digest_at")?, "last_digest_at")?,
                filters: crate::store::Filters {
                    include: r.try_get("include_pattern")?,
                    exclude: r.try_get("exclude_pattern")?,
                },
                created_at: opt_ts(r.try_get("created_at")?, "created_at")?.unwrap_or_default(),
                topics: by_id.remove(&id).unwrap_or_default(),
                counts: [r.try_get("q")?, r.try_get("s")?, r.try_get("f")?, r.try_get("c")?],
            })
        })
        .collect()
}

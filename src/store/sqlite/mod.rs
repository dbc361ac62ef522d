//! The embedded SQLite backend: WAL, `synchronous=FULL`, a busy timeout, foreign keys.

mod email;
mod leases;
mod outbox;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    Alert, ChannelStats, Claimed, CommitOutcome, ConfirmOutcome, DaemonLock, DeliveryOutcome, Facet,
    FeedQuery, InputState, Known, NewConfirmation, PollCommit, Recipient, RecipientPrefs, RecipientSpec,
    SourceState, Store, StoreError,
};
use crate::domain::{Article, Item, RegionRef};
use crate::source::fetch::Validators;

/// Items and state in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: Option<PathBuf>,
}

/// Fixed-width UTC timestamps, so that text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            table: "items",
            column,
            detail: format!("{s}: {e}"),
        })
}

fn opt_ts(s: Option<String>, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(&s, column)).transpose()
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite::memory:`), creating the file and its directory, and
    /// applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let path = {
            let p = opts.get_filename();
            (p.as_os_str() != ":memory:" && !p.as_os_str().is_empty()).then(|| p.to_owned())
        };
        if let Some(dir) = path
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        let max = if path.is_some() { 4 } else { 1 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool, path })
    }

    fn row_to_item(row: &sqlx::sqlite::SqliteRow) -> Result<Item, StoreError> {
        let published: Option<String> = row.try_get("published")?;
        let published = published
            .map(|p| {
                DateTime::parse_from_rfc3339(&p).map_err(|e| StoreError::Corrupt {
                    table: "items",
                    column: "published",
                    detail: e.to_string(),
                })
            })
            .transpose()?;
        let list = |col: &'static str| -> Result<Vec<String>, StoreError> {
            let s: String = row.try_get(col)?;
            serde_json::from_str(&s).map_err(|e| StoreError::Corrupt {
                table: "items",
                column: col,
                detail: e.to_string(),
            })
        };
        let region_slug: Option<String> = row.try_get("region_slug")?;
        let region = match region_slug {
            Some(slug) => Some(RegionRef {
                slug,
                name: row
                    .try_get::<Option<String>, _>("region_name")?
                    .unwrap_or_default(),
                known: row.try_get::<i64, _>("region_known")? != 0,
            }),
            None => None,
        };
        let comments: Option<i64> = row.try_get("comments")?;
        Ok(Item {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            created: parse_ts(&row.try_get::<String, _>("created_at")?, "created_at")?,
            updated: parse_ts(&row.try_get::<String, _>("updated_at")?, "updated_at")?,
            article: Article {
                url: row.try_get("url")?,
                guid: row.try_get("guid")?,
                title: row.try_get("title")?,
                author: row.try_get("author")?,
                region,
                published,
                tags: list("tags")?,
                summary: row.try_get("summary")?,
                body_html: row.try_get("body_html")?,
                images: list("images")?,
                comments: comments.and_then(|c| u32::try_from(c).ok()),
            },
        })
    }

    /// Source states (one source, or all), with their item counts.
    async fn source_states_where(&self, source: Option<&str>) -> Result<Vec<SourceState>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.*, (SELECT COUNT(*) FROM items i WHERE i.source = s.id) AS n
             FROM sources s WHERE (?1 IS NULL OR s.id = ?1) ORDER BY s.id",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceState {
                    id: r.try_get("id")?,
                    last_success: opt_ts(r.try_get("last_success")?, "last_success")?,
                    last_attempt: opt_ts(r.try_get("last_attempt")?, "last_attempt")?,
                    consecutive_failures: r.try_get("consecutive_failures")?,
                    last_error: r.try_get("last_error")?,
                    next_poll: opt_ts(r.try_get("next_poll")?, "next_poll")?,
                    baseline_done: r.try_get::<i64, _>("baseline_done")? != 0,
                    accept_flood: r.try_get::<i64, _>("accept_flood")? != 0,
                    items: r.try_get("n")?,
                })
            })
            .collect()
    }
}

/// The local calendar day of the publish time, `YYYY-MM-DD`.
pub fn pub_day(a: &Article) -> Option<String> {
    a.published.map(|p| p.format("%Y-%m-%d").to_string())
}

#[async_trait]
impl Store for SqliteStore {
    async fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError> {
        Ok(self.source_states_where(Some(source)).await?.pop())
    }

    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        self.source_states_where(None).await
    }

    async fn input_states(&self, source: &str) -> Result<Vec<InputState>, StoreError> {
        let rows = sqlx::query("SELECT * FROM inputs WHERE source = ? ORDER BY input")
            .bind(source)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InputState {
                    source: r.try_get("source")?,
                    input: r.try_get("input")?,
                    last_entries: r.try_get("last_entries")?,
                    degraded: r.try_get("degraded")?,
                    held: r.try_get("held")?,
                })
            })
            .collect()
    }

    async fn known(&self, source: &str, keys: &[String]) -> Result<HashMap<String, Known>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.key, i.id, i.listing_hash, i.content_hash, i.fetched_at
             FROM item_keys k JOIN items i ON i.id = k.item_id
             WHERE k.source = ? AND k.key IN (SELECT value FROM json_each(?))",
        )
        .bind(source)
        .bind(json_list(keys))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key")?,
                    Known {
                        item_id: r.try_get("id")?,
                        listing_hash: r.try_get("listing_hash")?,
                        content_hash: r.try_get("content_hash")?,
                        fetched_at: parse_ts(&r.try_get::<String, _>("fetched_at")?, "fetched_at")?,
                    },
                ))
            })
            .collect()
    }

    async fn match_title_day(
        &self,
        source: &str,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), String>, StoreError> {
        let json = serde_json::to_string(pairs).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT title, pub_day, MIN(id) AS id FROM items
             WHERE source = ? AND (title, pub_day) IN
               (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))
             GROUP BY title, pub_day",
        )
        .bind(source)
        .bind(json)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(((r.try_get("title")?, r.try_get("pub_day")?), r.try_get("id")?)))
            .collect()
    }

    async fn validators(&self, url: &str) -> Result<Validators, StoreError> {
        let row = sqlx::query("SELECT etag, last_modified FROM http_cache WHERE url = ?")
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Validators {
                etag: r.try_get("etag")?,
                last_modified: r.try_get("last_modified")?,
            },
            None => Validators::default(),
        })
    }

    async fn commit_poll(&self, poll: PollCommit) -> Result<CommitOutcome, StoreError> {
        let now = ts(poll.now);
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO sources (id) VALUES (?) ON CONFLICT (id) DO NOTHING")
            .bind(&poll.source)
            .execute(&mut *tx)
            .await?;
        let baseline: i64 = sqlx::query_scalar("SELECT 1 - baseline_done FROM sources WHERE id = ?")
            .bind(&poll.source)
            .fetch_one(&mut *tx)
            .await?;
        let mut out = CommitOutcome::default();
        for w in &poll.writes {
            let a = &w.article;
            let hash = a.content_hash();
            let inserted = bind_article(
                sqlx::query(
                    "INSERT INTO items (url, guid, title, author, region_slug, region_name, region_known,
                       published, published_at, pub_day, tags, summary, body_html, images, id, source,
                       comments, content_hash, listing_hash, baseline, created_at, updated_at, fetched_at, seen_at)
                     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                     ON CONFLICT (id) DO NOTHING",
                ),
                a,
            )
            .bind(&w.id)
            .bind(&poll.source)
            .bind(a.comments.map(i64::from))
            .bind(&hash)
            .bind(&w.listing_hash)
            .bind(baseline)
            .bind(&now)
            .bind(&now)
            .bind(&now)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                out.new.push(w.id.clone());
            } else {
                let changed = bind_article(
                    sqlx::query(
                        "UPDATE items SET url = ?, guid = ?, title = ?, author = ?, region_slug = ?,
                           region_name = ?, region_known = ?, published = ?, published_at = ?, pub_day = ?,
                           tags = ?, summary = ?, body_html = ?, images = ?, content_hash = ?, updated_at = ?
                         WHERE id = ? AND content_hash <> ?",
                    ),
                    a,
                )
                .bind(&hash)
                .bind(&now)
                .bind(&w.id)
                .bind(&hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if changed {
                    out.updated.push(w.id.clone());
                    sqlx::query("DELETE FROM item_tags WHERE item_id = ?")
                        .bind(&w.id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE items SET comments = ?, listing_hash = ?, fetched_at = ?, seen_at = ? WHERE id = ?")
                    .bind(a.comments.map(i64::from))
                    .bind(&w.listing_hash)
                    .bind(&now)
                    .bind(&now)
                    .bind(&w.id)
                    .execute(&mut *tx)
                    .await?;
            }
            for tag in &a.tags {
                sqlx::query("INSERT INTO item_tags (item_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING")
                    .bind(&w.id)
                    .bind(tag)
                    .execute(&mut *tx)
                    .await?;
            }
            for key in &w.keys {
                insert_key(&mut tx, &poll.source, key, &w.id).await?;
            }
            if inserted && w.push {
                let region = a.region.as_ref().map(|r| r.slug.as_str());
                outbox::queue_deliveries(&mut tx, &w.id, region, &now).await?;
            }
        }
        for t in &poll.touches {
            sqlx::query("UPDATE items SET listing_hash = ?, seen_at = ? WHERE id = ?")
                .bind(&t.listing_hash)
                .bind(&now)
                .bind(&t.item_id)
                .execute(&mut *tx)
                .await?;
            for key in &t.keys {
                insert_key(&mut tx, &poll.source, key, &t.item_id).await?;
            }
        }
        for (url, v) in &poll.validators {
            sqlx::query(
                "INSERT INTO http_cache (url, etag, last_modified) VALUES (?, ?, ?)
                 ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified",
            )
            .bind(url)
            .bind(&v.etag)
            .bind(&v.last_modified)
            .execute(&mut *tx)
            .await?;
        }
        for i in &poll.inputs {
            sqlx::query(
                "INSERT INTO inputs (source, input, last_entries, degraded, held) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (source, input) DO UPDATE SET last_entries = excluded.last_entries,
                   degraded = excluded.degraded, held = excluded.held",
            )
            .bind(&i.source)
            .bind(&i.input)
            .bind(i.last_entries)
            .bind(&i.degraded)
            .bind(&i.held)
            .execute(&mut *tx)
            .await?;
        }
        for (kind, input, message) in &poll.alerts {
            sqlx::query(
                "INSERT INTO alerts (source, input, kind, message, created_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&poll.source)
            .bind(input)
            .bind(kind)
            .bind(message)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        for kind in &poll.resolved {
            sqlx::query(
                "UPDATE alerts SET resolved_at = ? WHERE source = ? AND kind = ? AND resolved_at IS NULL",
            )
            .bind(&now)
            .bind(&poll.source)
            .bind(kind)
            .execute(&mut *tx)
            .await?;
        }
        if !out.new.is_empty() || !out.updated.is_empty() {
            bump_version(&mut tx).await?;
        }
        if poll.backfill {
            tx.commit().await?;
            return Ok(out);
        }
        let sql = match poll.error {
            None => {
                "UPDATE sources SET last_attempt = ?1, last_success = ?1, consecutive_failures = 0,
                   last_error = NULL, baseline_done = 1, accept_flood = accept_flood AND NOT ?3 WHERE id = ?2"
            }
            Some(_) => {
                "UPDATE sources SET last_attempt = ?1, consecutive_failures = consecutive_failures + 1,
                   last_error = ?4, baseline_done = 1, accept_flood = accept_flood AND NOT ?3 WHERE id = ?2"
            }
        };
        sqlx::query(sql)
            .bind(&now)
            .bind(&poll.source)
            .bind(poll.consumed_accept)
            .bind(&poll.error)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn record_failure(&self, source: &str, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sources (id, last_attempt, consecutive_failures, last_error) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (id) DO UPDATE SET last_attempt = ?2,
               consecutive_failures = consecutive_failures + 1, last_error = ?3",
        )
        .bind(source)
        .bind(ts(now))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_next_poll(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sources (id, next_poll) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET next_poll = ?2",
        )
        .bind(source)
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn accept_flood(&self, source: &str) -> Result<bool, StoreError> {
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inputs WHERE source = ? AND held IS NOT NULL")
                .bind(source)
                .fetch_one(&self.pool)
                .await?;
        if held == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE sources SET accept_flood = 1 WHERE id = ?")
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    async fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT * FROM items WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::row_to_item).transpose()
    }

    async fn feed_items(&self, q: &FeedQuery) -> Result<Vec<Item>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM items i
             WHERE (?1 IS NULL OR i.source = ?1)
               AND (?2 IS NULL OR i.region_slug = ?2)
               AND (?3 IS NULL OR EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = i.id AND t.tag = ?3))
               AND (?4 IS NULL OR instr(lower(i.title || ' ' || coalesce(i.summary, '')), lower(?4)) > 0)
               AND (?5 IS NULL OR instr(lower(i.title || ' ' || coalesce(i.summary, '')), lower(?5)) = 0)
             ORDER BY coalesce(i.published_at, i.created_at) DESC, i.id
             LIMIT ?6",
        )
        .bind(&q.source)
        .bind(&q.region)
        .bind(&q.tag)
        .bind(&q.q)
        .bind(&q.exclude)
        .bind(q.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::row_to_item).collect()
    }

    async fn feed_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'items_version'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn region_facets(&self) -> Result<Vec<Facet>, StoreError> {
        let rows = sqlx::query(
            "SELECT region_slug AS k, MAX(region_name) AS name, COUNT(*) AS n, MAX(updated_at) AS last
             FROM items WHERE region_slug IS NOT NULL GROUP BY region_slug ORDER BY region_slug",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(facet).collect()
    }

    async fn tag_facets(&self) -> Result<Vec<Facet>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.tag AS k, t.tag AS name, COUNT(*) AS n, MAX(i.updated_at) AS last
             FROM item_tags t JOIN items i ON i.id = t.item_id GROUP BY t.tag ORDER BY n DESC, t.tag",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(facet).collect()
    }

    async fn source_facets(&self) -> Result<Vec<Facet>, StoreError> {
        let rows = sqlx::query(
            "SELECT source AS k, source AS name, COUNT(*) AS n, MAX(updated_at) AS last
             FROM items GROUP BY source ORDER BY source",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(facet).collect()
    }

    async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query("SELECT * FROM alerts ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Alert {
                    id: r.try_get("id")?,
                    source: r.try_get("source")?,
                    input: r.try_get("input")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?, "created_at")?,
                    resolved_at: opt_ts(r.try_get("resolved_at")?, "resolved_at")?,
                    announced_at: opt_ts(r.try_get("announced_at")?, "announced_at")?,
                })
            })
            .collect()
    }

    async fn mark_alert_announced(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE alerts SET announced_at = ? WHERE id = ? AND announced_at IS NULL")
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("DELETE FROM items WHERE updated_at < ?1 AND coalesce(seen_at, updated_at) < ?1")
                .bind(ts(cutoff))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if done > 0 {
            bump_version(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn save_recipient(&self, spec: &RecipientSpec, now: DateTime<Utc>) -> Result<i64, StoreError> {
        self.save_recipient_impl(spec, now).await
    }

    async fn remove_recipient(&self, kind: &str, address: &str, thread_id: i64) -> Result<bool, StoreError> {
        self.remove_recipient_impl(kind, address, thread_id).await
    }

    async fn recipients(&self) -> Result<Vec<Recipient>, StoreError> {
        self.recipients_impl().await
    }

    async fn digest_recipients(&self, after: i64, limit: i64) -> Result<Vec<Recipient>, StoreError> {
        self.digest_recipients_impl(after, limit).await
    }

    async fn recipient(&self, id: i64) -> Result<Option<Recipient>, StoreError> {
        self.recipient_impl(id).await
    }

    async fn remove_recipient_id(&self, id: i64) -> Result<bool, StoreError> {
        self.remove_recipient_id_impl(id).await
    }

    async fn create_confirmation(&self, confirmation: &NewConfirmation) -> Result<(), StoreError> {
        self.create_confirmation_impl(confirmation).await
    }

    async fn confirm_subscription(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmOutcome, StoreError> {
        self.confirm_impl(token_hash, now).await
    }

    async fn confirmations_since(&self, address: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
        self.confirmations_since_impl(address, since).await
    }

    async fn record_bounce(
        &self,
        recipient_id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.record_bounce_impl(recipient_id, error, now).await
    }

    async fn set_recipient_prefs(
        &self,
        kind: &str,
        address: &str,
        thread_id: i64,
        prefs: &RecipientPrefs,
    ) -> Result<bool, StoreError> {
        self.set_recipient_prefs_impl(kind, address, thread_id, prefs)
            .await
    }

    async fn claim_deliveries(
        &self,
        kind: &str,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_impl(kind, worker, now, lease, limit).await
    }

    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_impl(id, worker, outcome, now).await
    }

    async fn outbox_channel_stats(&self, now: DateTime<Utc>) -> Result<Vec<ChannelStats>, StoreError> {
        self.outbox_channel_stats_impl(now).await
    }

    async fn digest_items(&self, recipient_id: i64) -> Result<Vec<Item>, StoreError> {
        self.digest_items_impl(recipient_id).await
    }

    async fn finish_digest(
        &self,
        recipient_id: i64,
        item_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish_digest_impl(recipient_id, item_ids, now).await
    }

    async fn prune_deliveries(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM deliveries WHERE state IN ('sent', 'cancelled') AND coalesce(sent_at, created_at) < ?",
        )
        .bind(ts(cutoff))
        .execute(&self.pool)
        .await?;
        // Confirmation links long expired (used or not) are of no further use.
        sqlx::query("DELETE FROM confirmations WHERE expires_at < ?")
            .bind(ts(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.acquire_lease_impl(name, holder, now, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.release_lease_impl(name, holder).await
    }

    async fn release_worker(&self, holder: &str) -> Result<u64, StoreError> {
        self.release_worker_impl(holder).await
    }

    async fn first_poll_at(&self, source: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        self.first_poll_at_impl(source, at).await
    }

    async fn claim_poll(
        &self,
        source: &str,
        tick: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.claim_poll_impl(source, tick, holder, now, ttl).await
    }

    async fn finish_poll(&self, source: &str, tick: DateTime<Utc>, holder: &str) -> Result<(), StoreError> {
        self.finish_poll_impl(source, tick, holder).await
    }

    async fn lock_daemon(&self) -> Result<DaemonLock, StoreError> {
        let Some(path) = &self.path else {
            return Ok(DaemonLock::exclusive(None));
        };
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        match file.try_lock() {
            Ok(()) => Ok(DaemonLock::exclusive(Some(file))),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(path.display().to_string())),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io(e)),
        }
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds the article's columns, in this order: url, guid, title, author, region_slug,
/// region_name, region_known, published, published_at, pub_day, tags, summary, body_html, images.
fn bind_article<'q>(q: SqliteQuery<'q>, a: &'q Article) -> SqliteQuery<'q> {
    let region = a.region.as_ref();
    q.bind(&a.url)
        .bind(&a.guid)
        .bind(&a.title)
        .bind(&a.author)
        .bind(region.map(|r| &r.slug))
        .bind(region.map(|r| &r.name))
        .bind(region.is_some_and(|r| r.known))
        .bind(a.published.map(|p| p.to_rfc3339()))
        .bind(a.published.map(|p| ts(p.with_timezone(&Utc))))
        .bind(pub_day(a))
        .bind(json_list(&a.tags))
        .bind(&a.summary)
        .bind(&a.body_html)
        .bind(json_list(&a.images))
}

fn facet(r: &sqlx::sqlite::SqliteRow) -> Result<Facet, StoreError> {
    Ok(Facet {
        key: r.try_get("k")?,
        name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
        count: r.try_get("n")?,
        last_updated: opt_ts(r.try_get("last")?, "updated_at")?,
    })
}

async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<(), StoreError> {
    sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'items_version'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    source: &str,
    key: &str,
    item_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO item_keys (source, key, item_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(source)
        .bind(key)
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

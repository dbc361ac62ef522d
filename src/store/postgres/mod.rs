//! The PostgreSQL backend, for several `tidings run` instances sharing one database.
//!
//! Every method behaves as the SQLite backend's does (same rows, orderings, tie-breaks and
//! return values); what differs is how each stays correct when instances run at once:
//! deliveries are claimed with `FOR UPDATE SKIP LOCKED` ([`outbox`]), leases are atomic
//! upserts ([`leases`]), item inserts are `ON CONFLICT` and a poll commit first takes
//! advisory locks on its items in one global order ([`lock_items`]), so that two instances
//! storing the same items queue up instead of deadlocking (one that still loses a deadlock
//! is run again). There is no daemon lock: several daemons are the point.
//!
//! Differences of representation, none visible through [`Store`]: times are `timestamptz`
//! truncated to microseconds (SQLite's text precision), flags are `boolean`, text columns
//! are `COLLATE "C"` (byte order and ASCII-only `lower()`, as SQLite's defaults), and
//! U+0000, which PostgreSQL text cannot hold, is left out of stored article text ([`nul_free`];
//! the feeds never show it anyway).

mod email;
mod leases;
mod outbox;

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgPool, Row};

use super::sqlite::pub_day;
use super::{
    Alert, ChannelStats, Claimed, CommitOutcome, ConfirmOutcome, DaemonLock, DeliveryOutcome, Facet,
    FeedQuery, InputState, Known, NewConfirmation, PollCommit, Recipient, RecipientPrefs, RecipientSpec,
    SourceState, Store, StoreError,
};
use crate::domain::{Article, Item, RegionRef};
use crate::source::fetch::Validators;

/// Connections per instance: a poll commit, a few delivery workers and the HTTP server.
const MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a free connection (and `open` for the server to answer).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll commits tried before a deadlock with another instance's commit is reported.
const COMMIT_ATTEMPTS: u32 = 5;

/// Items and state in a PostgreSQL database shared by every instance.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A time at the precision both backends store: microseconds, truncated (as SQLite's
/// `%.6f` text does), so that what is read back equals what SQLite gives.
fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// `s` without U+0000, which PostgreSQL text cannot store (SQLite can; the renderers drop it).
fn nul_free(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', ""))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_nul_free(s: Option<&str>) -> Option<String> {
    s.map(|s| nul_free(s).into_owned())
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// `url` with its password (user info or `password=` parameter) left out, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "the configured postgres:// URL".into();
    };
    let _ = u.set_password(None);
    if u.query().is_some() {
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            u.set_query(None);
        } else {
            u.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    u.to_string()
}

/// Whether a failed transaction lost to a concurrent one and can simply be run again.
fn retryable(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    // deadlock_detected, serialization_failure
    matches!(db.code().as_deref(), Some("40P01" | "40001"))
}

/// SQLite reads a negative `LIMIT` as "no limit"; PostgreSQL refuses it (NULL is none).
fn limit(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
}

impl PgStore {
    /// Connects to `postgres://…` (or `postgresql://…`) and applies migrations. Several
    /// instances may open the same database at once: the migrator holds an advisory lock.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)?.application_name("tidings");
        let pool = match PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts.clone())
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                // A refused connection is retried until the timeout, which then hides the
                // cause: one more direct attempt names it.
                let cause = match e {
                    sqlx::Error::PoolTimedOut => {
                        match tokio::time::timeout(
                            Duration::from_secs(5),
                            sqlx::PgConnection::connect_with(&opts),
                        )
                        .await
                        {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {}s", ACQUIRE_TIMEOUT.as_secs()),
                        }
                    }
                    e => e.to_string(),
                };
                return Err(StoreError::Io(std::io::Error::other(format!(
                    "cannot connect to PostgreSQL at {}: {cause} — is the server running and the URL right?",
                    redact(url)
                ))));
            }
        };
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    fn row_to_item(row: &PgRow) -> Result<Item, StoreError> {
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
                known: row.try_get("region_known")?,
            }),
            None => None,
        };
        let comments: Option<i64> = row.try_get("comments")?;
        Ok(Item {
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            created: row.try_get("created_at")?,
            updated: row.try_get("updated_at")?,
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
             FROM sources s WHERE ($1::text IS NULL OR s.id = $1) ORDER BY s.id",
        )
        .bind(source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SourceState {
                    id: r.try_get("id")?,
                    last_success: r.try_get("last_success")?,
                    last_attempt: r.try_get("last_attempt")?,
                    consecutive_failures: r.try_get("consecutive_failures")?,
                    last_error: r.try_get("last_error")?,
                    next_poll: r.try_get("next_poll")?,
                    baseline_done: r.try_get("baseline_done")?,
                    accept_flood: r.try_get("accept_flood")?,
                    items: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// One attempt at [`Store::commit_poll`]: the same statements, in the same order, as
    /// SQLite's, with the inserts race-safe (`ON CONFLICT`) against other instances.
    async fn try_commit_poll(&self, poll: &PollCommit) -> Result<CommitOutcome, StoreError> {
        let now = ts(poll.now);
        let mut tx = self.pool.begin().await?;
        lock_items(&mut tx, poll).await?;
        sqlx::query("INSERT INTO sources (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(&poll.source)
            .execute(&mut *tx)
            .await?;
        let baseline: bool = sqlx::query_scalar("SELECT NOT baseline_done FROM sources WHERE id = $1")
            .bind(&poll.source)
            .fetch_one(&mut *tx)
            .await?;
        let mut out = CommitOutcome::default();
        for w in &poll.writes {
            let a = &w.article;
            let hash = a.content_hash();
            // Another instance inserting the same id makes this wait for its commit, then
            // do nothing: the item is then refreshed below like any known one.
            let inserted = bind_article(
                sqlx::query(
                    "INSERT INTO items (url, guid, title, author, region_slug, region_name, region_known,
                       published, published_at, pub_day, tags, summary, body_html, images, id, source,
                       comments, content_hash, listing_hash, baseline, created_at, updated_at, fetched_at, seen_at)
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$21,$21,$21)
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
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                out.new.push(w.id.clone());
            } else {
                let changed = bind_article(
                    sqlx::query(
                        "UPDATE items SET url = $1, guid = $2, title = $3, author = $4, region_slug = $5,
                           region_name = $6, region_known = $7, published = $8, published_at = $9, pub_day = $10,
                           tags = $11, summary = $12, body_html = $13, images = $14, content_hash = $15,
                           updated_at = $16
                         WHERE id = $17 AND content_hash <> $15",
                    ),
                    a,
                )
                .bind(&hash)
                .bind(now)
                .bind(&w.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if changed {
                    out.updated.push(w.id.clone());
                    sqlx::query("DELETE FROM item_tags WHERE item_id = $1")
                        .bind(&w.id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "UPDATE items SET comments = $1, listing_hash = $2, fetched_at = $3, seen_at = $3 WHERE id = $4",
                )
                .bind(a.comments.map(i64::from))
                .bind(&w.listing_hash)
                .bind(now)
                .bind(&w.id)
                .execute(&mut *tx)
                .await?;
            }
            for tag in &a.tags {
                sqlx::query("INSERT INTO item_tags (item_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&w.id)
                    .bind(nul_free(tag).into_owned())
                    .execute(&mut *tx)
                    .await?;
            }
            for key in &w.keys {
                insert_key(&mut tx, &poll.source, key, &w.id).await?;
            }
            if inserted && w.push {
                let region = a.region.as_ref().map(|r| nul_free(&r.slug).into_owned());
                outbox::queue_deliveries(&mut tx, &w.id, region.as_deref(), now).await?;
            }
        }
        for t in &poll.touches {
            sqlx::query("UPDATE items SET listing_hash = $1, seen_at = $2 WHERE id = $3")
                .bind(&t.listing_hash)
                .bind(now)
                .bind(&t.item_id)
                .execute(&mut *tx)
                .await?;
            for key in &t.keys {
                insert_key(&mut tx, &poll.source, key, &t.item_id).await?;
            }
        }
        for (url, v) in &poll.validators {
            sqlx::query(
                "INSERT INTO http_cache (url, etag, last_modified) VALUES ($1, $2, $3)
                 ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified",
            )
            .bind(nul_free(url).into_owned())
            .bind(opt_nul_free(v.etag.as_deref()))
            .bind(opt_nul_free(v.last_modified.as_deref()))
            .execute(&mut *tx)
            .await?;
        }
        for i in &poll.inputs {
            sqlx::query(
                "INSERT INTO inputs (source, input, last_entries, degraded, held) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (source, input) DO UPDATE SET last_entries = excluded.last_entries,
                   degraded = excluded.degraded, held = excluded.held",
            )
            .bind(&i.source)
            .bind(nul_free(&i.input).into_owned())
            .bind(i.last_entries)
            .bind(opt_nul_free(i.degraded.as_deref()))
            .bind(opt_nul_free(i.held.as_deref()))
            .execute(&mut *tx)
            .await?;
        }
        for (kind, input, message) in &poll.alerts {
            sqlx::query(
                "INSERT INTO alerts (source, input, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&poll.source)
            .bind(nul_free(input).into_owned())
            .bind(kind)
            .bind(nul_free(message).into_owned())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for kind in &poll.resolved {
            sqlx::query(
                "UPDATE alerts SET resolved_at = $1 WHERE source = $2 AND kind = $3 AND resolved_at IS NULL",
            )
            .bind(now)
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
        let update = match &poll.error {
            None => sqlx::query(
                "UPDATE sources SET last_attempt = $1, last_success = $1, consecutive_failures = 0,
                   last_error = NULL, baseline_done = true, accept_flood = accept_flood AND NOT $3 WHERE id = $2",
            )
            .bind(now)
            .bind(&poll.source)
            .bind(poll.consumed_accept),
            Some(error) => sqlx::query(
                "UPDATE sources SET last_attempt = $1, consecutive_failures = consecutive_failures + 1,
                   last_error = $4, baseline_done = true, accept_flood = accept_flood AND NOT $3 WHERE id = $2",
            )
            .bind(now)
            .bind(&poll.source)
            .bind(poll.consumed_accept)
            .bind(nul_free(error).into_owned()),
        };
        update.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError> {
        Ok(self.source_states_where(Some(source)).await?.pop())
    }

    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        self.source_states_where(None).await
    }

    async fn input_states(&self, source: &str) -> Result<Vec<InputState>, StoreError> {
        let rows = sqlx::query("SELECT * FROM inputs WHERE source = $1 ORDER BY input")
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
        let stored: Vec<String> = keys.iter().map(|k| nul_free(k).into_owned()).collect();
        let rows = sqlx::query(
            "SELECT k.key, i.id, i.listing_hash, i.content_hash, i.fetched_at
             FROM item_keys k JOIN items i ON i.id = k.item_id
             WHERE k.source = $1 AND k.key = ANY($2)",
        )
        .bind(source)
        .bind(&stored)
        .fetch_all(&self.pool)
        .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for r in &rows {
            let known = Known {
                item_id: r.try_get("id")?,
                listing_hash: r.try_get("listing_hash")?,
                content_hash: r.try_get("content_hash")?,
                fetched_at: r.try_get("fetched_at")?,
            };
            found.insert(r.try_get::<String, _>("key")?, known);
        }
        // Answered under the caller's keys (the same unless one held a NUL).
        Ok(keys
            .iter()
            .zip(&stored)
            .filter_map(|(k, s)| found.get(s).map(|v| (k.clone(), v.clone())))
            .collect())
    }

    async fn match_title_day(
        &self,
        source: &str,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), String>, StoreError> {
        let titles: Vec<String> = pairs.iter().map(|(t, _)| nul_free(t).into_owned()).collect();
        let days: Vec<String> = pairs.iter().map(|(_, d)| d.clone()).collect();
        let rows = sqlx::query(
            "SELECT title, pub_day, MIN(id) AS id FROM items
             WHERE source = $1 AND (title, pub_day) IN (SELECT * FROM unnest($2::text[], $3::text[]))
             GROUP BY title, pub_day",
        )
        .bind(source)
        .bind(&titles)
        .bind(&days)
        .fetch_all(&self.pool)
        .await?;
        let mut found: HashMap<(String, String), String> = HashMap::with_capacity(rows.len());
        for r in &rows {
            found.insert((r.try_get("title")?, r.try_get("pub_day")?), r.try_get("id")?);
        }
        Ok(pairs
            .iter()
            .zip(titles)
            .filter_map(|(p, t)| found.get(&(t, p.1.clone())).map(|id| (p.clone(), id.clone())))
            .collect())
    }

    async fn validators(&self, url: &str) -> Result<Validators, StoreError> {
        let row = sqlx::query("SELECT etag, last_modified FROM http_cache WHERE url = $1")
            .bind(nul_free(url).into_owned())
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

    #[tracing::instrument(skip_all, fields(source = %poll.source))]
    async fn commit_poll(&self, poll: PollCommit) -> Result<CommitOutcome, StoreError> {
        // Two instances storing the same items can deadlock on their rows; PostgreSQL then
        // aborts one, which starts again (and finds the other's items stored).
        let mut attempt = 1;
        loop {
            match self.try_commit_poll(&poll).await {
                Err(e) if attempt < COMMIT_ATTEMPTS && retryable(&e) => {
                    tracing::debug!("poll commit lost to a concurrent one, again: {e}");
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn record_failure(&self, source: &str, error: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sources (id, last_attempt, consecutive_failures, last_error) VALUES ($1, $2, 1, $3)
             ON CONFLICT (id) DO UPDATE SET last_attempt = $2,
               consecutive_failures = sources.consecutive_failures + 1, last_error = $3",
        )
        .bind(source)
        .bind(ts(now))
        .bind(nul_free(error).into_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_next_poll(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sources (id, next_poll) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET next_poll = $2",
        )
        .bind(source)
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn accept_flood(&self, source: &str) -> Result<bool, StoreError> {
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM inputs WHERE source = $1 AND held IS NOT NULL")
                .bind(source)
                .fetch_one(&self.pool)
                .await?;
        if held == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE sources SET accept_flood = true WHERE id = $1")
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    async fn item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT * FROM items WHERE id = $1")
            .bind(nul_free(id).into_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::row_to_item).transpose()
    }

    async fn feed_items(&self, q: &FeedQuery) -> Result<Vec<Item>, StoreError> {
        // Stored text holds no NUL: text searched for one is in no item.
        let has_nul = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
        if has_nul(&q.q) {
            return Ok(Vec::new());
        }
        let exclude = if has_nul(&q.exclude) {
            None
        } else {
            q.exclude.clone()
        };
        // `lower()` under the "C" collation folds ASCII only, as SQLite's does; `strpos` is
        // SQLite's `instr` (no wildcards to escape).
        let rows = sqlx::query(
            "SELECT * FROM items i
             WHERE ($1::text IS NULL OR i.source = $1)
               AND ($2::text IS NULL OR i.region_slug = $2)
               AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = i.id AND t.tag = $3))
               AND ($4::text IS NULL OR strpos(lower((i.title || ' ' || coalesce(i.summary, '')) COLLATE \"C\"),
                                               lower($4 COLLATE \"C\")) > 0)
               AND ($5::text IS NULL OR strpos(lower((i.title || ' ' || coalesce(i.summary, '')) COLLATE \"C\"),
                                               lower($5 COLLATE \"C\")) = 0)
             ORDER BY coalesce(i.published_at, i.created_at) DESC, i.id
             LIMIT $6",
        )
        .bind(opt_nul_free(q.source.as_deref()))
        .bind(opt_nul_free(q.region.as_deref()))
        .bind(opt_nul_free(q.tag.as_deref()))
        .bind(&q.q)
        .bind(exclude)
        .bind(limit(q.limit))
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
                    created_at: r.try_get("created_at")?,
                    resolved_at: r.try_get("resolved_at")?,
                    announced_at: r.try_get("announced_at")?,
                })
            })
            .collect()
    }

    async fn mark_alert_announced(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE alerts SET announced_at = $1 WHERE id = $2 AND announced_at IS NULL")
            .bind(ts(Utc::now()))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("DELETE FROM items WHERE updated_at < $1 AND coalesce(seen_at, updated_at) < $1")
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
            "DELETE FROM deliveries WHERE state IN ('sent', 'cancelled') AND coalesce(sent_at, created_at) < $1",
        )
        .bind(ts(cutoff))
        .execute(&self.pool)
        .await?;
        // Confirmation links long expired (used or not) are of no further use.
        sqlx::query("DELETE FROM confirmations WHERE expires_at < $1")
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

    /// Several daemons on one PostgreSQL database is the point: the lock holds nothing
    /// (leases share the work instead).
    async fn lock_daemon(&self) -> Result<DaemonLock, StoreError> {
        Ok(DaemonLock::shared())
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the article's columns, in this order: url, guid, title, author, region_slug,
/// region_name, region_known, published, published_at, pub_day, tags, summary, body_html, images.
fn bind_article<'q>(q: PgQuery<'q>, a: &'q Article) -> PgQuery<'q> {
    let region = a.region.as_ref();
    q.bind(nul_free(&a.url).into_owned())
        .bind(opt_nul_free(a.guid.as_deref()))
        .bind(nul_free(&a.title).into_owned())
        .bind(opt_nul_free(a.author.as_deref()))
        .bind(opt_nul_free(region.map(|r| r.slug.as_str())))
        .bind(opt_nul_free(region.map(|r| r.name.as_str())))
        .bind(region.is_some_and(|r| r.known))
        .bind(a.published.map(|p| p.to_rfc3339()))
        .bind(a.published.map(|p| ts(p.with_timezone(&Utc))))
        .bind(pub_day(a))
        // JSON escapes U+0000: the lists keep it, exactly as SQLite stores them.
        .bind(json_list(&a.tags))
        .bind(opt_nul_free(a.summary.as_deref()))
        .bind(opt_nul_free(a.body_html.as_deref()))
        .bind(json_list(&a.images))
}

fn facet(r: &PgRow) -> Result<Facet, StoreError> {
    Ok(Facet {
        key: r.try_get("k")?,
        name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
        count: r.try_get("n")?,
        last_updated: r.try_get("last")?,
    })
}

/// Bumps the feed version in the writing transaction: readers in any instance see the new
/// number exactly when they can see the write.
async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'items_version'")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes a transaction-scoped advisory lock for every item and identity key the poll
/// writes, in one global order (by lock key), before touching any row. Two instances
/// committing overlapping items then run one after the other instead of locking rows
/// crosswise (in write order) and deadlocking; the later one finds the items stored.
async fn lock_items(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    poll: &PollCommit,
) -> Result<(), StoreError> {
    let mut names: Vec<String> = Vec::new();
    for w in &poll.writes {
        names.push(format!("item:{}", w.id));
        names.extend(w.keys.iter().map(|k| format!("key:{}:{k}", poll.source)));
    }
    for t in &poll.touches {
        names.push(format!("item:{}", t.item_id));
        names.extend(t.keys.iter().map(|k| format!("key:{}:{k}", poll.source)));
    }
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = names.iter().map(|n| nul_free(n).into_owned()).collect();
    // The aggregate consumes the sorted subquery in order: the locks are taken by key.
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(k)) FROM
           (SELECT DISTINCT hashtextextended(n, 0) AS k FROM unnest($1::text[]) AS n ORDER BY k) AS s",
    )
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    source: &str,
    key: &str,
    item_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO item_keys (source, key, item_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(source)
        .bind(nul_free(key).into_owned())
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_the_url_without_its_password() {
        assert_eq!(
            redact("postgres://u:secret@db.example:5432/news?sslmode=require&password=x"),
            "postgres://u@db.example:5432/news?sslmode=require"
        );
        assert_eq!(redact("postgresql://db/news?password=x"), "postgresql://db/news");
        assert_eq!(redact("postgres://db/news"), "postgres://db/news");
    }

    #[test]
    fn nul_is_left_out_and_other_text_kept() {
        assert_eq!(nul_free("晋中\0新闻"), "晋中新闻");
        assert!(matches!(nul_free("晋中"), Cow::Borrowed("晋中")));
    }
}

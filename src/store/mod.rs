//! Persistence behind one [`Store`] trait: items, their identity keys, per-source and
//! per-input state, HTTP validators and operator alerts.
//!
//! The backend is picked once from the storage URL ([`open`]). SQLite is the embedded
//! default; every write a poll makes happens in one transaction ([`Store::commit_poll`]).

mod outbox;
mod postgres;
mod sqlite;

pub use outbox::{
    ChannelStats, Claimed, ConfirmOutcome, DeliveryOutcome, Filters, MAX_BOUNCES, NewConfirmation,
    OutboxStats, Recipient, RecipientPrefs, RecipientSpec, SubscriptionRequest, Topic,
};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Article, Item};
use crate::source::fetch::Validators;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another `tidings run` holds this database.
    #[error(
        "another `tidings run` is already using {0}; stop it first (short commands such as `tidings poll` still work)"
    )]
    Locked(String),
    /// The storage URL is not supported.
    #[error("unsupported storage URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DATABASE")]
    Unsupported(String),
    /// A stored value could not be read back.
    #[error("corrupt stored value in {table}.{column}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Filesystem trouble (creating the database directory, the lock file).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the store knows about an identity key.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    /// The item the key belongs to.
    pub item_id: String,
    /// Hash of the listing entry (title, date, summary) when last seen.
    pub listing_hash: Option<String>,
    /// Hash of the extracted fields.
    pub content_hash: String,
    /// When the article page was last fetched.
    pub fetched_at: DateTime<Utc>,
}

/// An item to insert or refresh.
#[derive(Debug, Clone)]
pub struct ItemWrite {
    /// Stable id (from the first identity key).
    pub id: String,
    /// Every identity key that names it.
    pub keys: Vec<String>,
    /// The extracted article.
    pub article: Article,
    /// Hash of the listing entry it came from.
    pub listing_hash: Option<String>,
    /// Whether, if new, it is pushed (queued for delivery); false for a silent baseline.
    pub push: bool,
}

/// A known item seen again unchanged in its listing (not fetched).
#[derive(Debug, Clone)]
pub struct Touch {
    /// Item id.
    pub item_id: String,
    /// Keys to attach (a known article seen under a new key).
    pub keys: Vec<String>,
    /// New listing hash.
    pub listing_hash: Option<String>,
}

/// Health of one input of a source (a listing URL or a feed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputState {
    /// Source id.
    pub source: String,
    /// Input name (URL path).
    pub input: String,
    /// Entries found by the last successful poll of this input.
    pub last_entries: i64,
    /// Why the input is degraded (selector drift), if it is.
    pub degraded: Option<String>,
    /// Why the input is held by the flood guard, if it is.
    pub held: Option<String>,
}

/// Per-source state shown by `tidings sources` and `/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceState {
    /// Source id.
    pub id: String,
    /// Last poll that completed without an error.
    pub last_success: Option<DateTime<Utc>>,
    /// Last poll attempt.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Polls in a row that failed.
    pub consecutive_failures: i64,
    /// The last error, if the last poll had one.
    pub last_error: Option<String>,
    /// When the next poll is due.
    pub next_poll: Option<DateTime<Utc>>,
    /// Whether the baseline poll has happened.
    pub baseline_done: bool,
    /// Whether the operator accepted a held poll (consumed by the next poll).
    pub accept_flood: bool,
    /// Stored items.
    pub items: i64,
}

/// An operator alert: raised once when an input becomes degraded or held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Row id.
    pub id: i64,
    /// Source id.
    pub source: String,
    /// The inputs concerned, comma-separated.
    pub input: String,
    /// `drift` or `flood`.
    pub kind: String,
    /// Human-readable text.
    pub message: String,
    /// When raised.
    pub created_at: DateTime<Utc>,
    /// When the condition cleared.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was sent to the operator (`[telegram] operator_chat`), if it was.
    pub announced_at: Option<DateTime<Utc>>,
}

/// Which items a feed shows: all conditions are AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FeedQuery {
    /// Only this source.
    pub source: Option<String>,
    /// Only this region slug.
    pub region: Option<String>,
    /// Only items carrying this tag.
    pub tag: Option<String>,
    /// Only items whose title or summary contains this text (case-insensitive for ASCII).
    pub q: Option<String>,
    /// Leave out items whose title or summary contains this text.
    pub exclude: Option<String>,
    /// At most this many items, newest first.
    pub limit: i64,
}

/// One region, tag or source with how many items it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facet {
    /// Region slug, tag, or source id.
    pub key: String,
    /// Display name (region name; the key itself for tags and sources).
    pub name: String,
    /// Stored items.
    pub count: i64,
    /// The latest `updated` time among them.
    pub last_updated: Option<DateTime<Utc>>,
}

/// Everything one poll writes, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct PollCommit {
    /// Source id.
    pub source: String,
    /// Poll time.
    pub now: DateTime<Utc>,
    /// Items fetched this poll (new, edited or re-checked).
    pub writes: Vec<ItemWrite>,
    /// Known items seen unchanged.
    pub touches: Vec<Touch>,
    /// HTTP validators to remember, by URL.
    pub validators: Vec<(String, Validators)>,
    /// New state of every input polled.
    pub inputs: Vec<InputState>,
    /// Alerts to raise: `(kind, inputs, message)` for transitions into drift or a hold.
    pub alerts: Vec<(String, String, String)>,
    /// Kinds (`drift`, `flood`) no input of the source is in any more: their alerts resolve.
    pub resolved: Vec<String>,
    /// An error to record; `None` marks the poll successful.
    pub error: Option<String>,
    /// Whether the poll consumed an operator's flood acceptance.
    pub consumed_accept: bool,
    /// A backfill batch (`tidings backfill`): only items, their keys and tags, and article
    /// validators are written; the source's poll state (last attempt and success, error,
    /// baseline, flood acceptance) is left as it is.
    pub backfill: bool,
}

/// Which items a commit inserted and which it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Ids inserted by this commit.
    pub new: Vec<String>,
    /// Ids whose extracted fields changed.
    pub updated: Vec<String>,
}

/// The storage operations Tidings needs; one implementation per backend.
#[async_trait]
pub trait Store: Send + Sync {
    /// State of one source, if it was ever polled.
    async fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError>;
    /// State of every source ever polled.
    async fn source_states(&self) -> Result<Vec<SourceState>, StoreError>;
    /// State of a source's inputs.
    async fn input_states(&self, source: &str) -> Result<Vec<InputState>, StoreError>;
    /// What is known about these identity keys.
    async fn known(&self, source: &str, keys: &[String]) -> Result<HashMap<String, Known>, StoreError>;
    /// Items of a source matching `(title, local publish day)` pairs, by pair.
    async fn match_title_day(
        &self,
        source: &str,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), String>, StoreError>;
    /// Stored HTTP validators for a URL.
    async fn validators(&self, url: &str) -> Result<Validators, StoreError>;
    /// Writes one poll (or one backfill batch) atomically and reports what was new and
    /// what changed.
    async fn commit_poll(&self, poll: PollCommit) -> Result<CommitOutcome, StoreError>;
    /// Records a poll that failed before anything could be stored.
    async fn record_failure(&self, source: &str, error: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records when the source is next due.
    async fn set_next_poll(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Lets the next poll of a held source through the flood guard. False if nothing was held.
    async fn accept_flood(&self, source: &str) -> Result<bool, StoreError>;
    /// One item by id.
    async fn item(&self, id: &str) -> Result<Option<Item>, StoreError>;
    /// Every item of a source (or all sources), newest first.
    async fn items(&self, source: Option<&str>, limit: i64) -> Result<Vec<Item>, StoreError> {
        let q = FeedQuery {
            source: source.map(str::to_owned),
            limit,
            ..FeedQuery::default()
        };
        self.feed_items(&q).await
    }
    /// The items a feed shows: newest first by publish time (then first stored), ties by id.
    async fn feed_items(&self, query: &FeedQuery) -> Result<Vec<Item>, StoreError>;
    /// A number that changes whenever an item is inserted, edited or pruned (in any process).
    async fn feed_version(&self) -> Result<i64, StoreError>;
    /// Regions with item counts, by slug.
    async fn region_facets(&self) -> Result<Vec<Facet>, StoreError>;
    /// Tags with item counts, most used first.
    async fn tag_facets(&self) -> Result<Vec<Facet>, StoreError>;
    /// Sources with item counts, by id.
    async fn source_facets(&self) -> Result<Vec<Facet>, StoreError>;
    /// Alerts, newest first.
    async fn alerts(&self) -> Result<Vec<Alert>, StoreError>;
    /// Records that an alert was sent to the operator. False if it already was (or there is
    /// no such alert).
    async fn mark_alert_announced(&self, id: i64) -> Result<bool, StoreError>;
    /// Deletes items last updated before `cutoff`; returns how many.
    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Adds or updates a recipient (by kind, address and thread) with exactly these topics;
    /// it becomes active again. Returns its id.
    async fn save_recipient(&self, spec: &RecipientSpec, now: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Removes a recipient and its queued deliveries. False if there was none.
    async fn remove_recipient(&self, kind: &str, address: &str, thread_id: i64) -> Result<bool, StoreError>;
    /// Every recipient with its topics and delivery counts.
    async fn recipients(&self) -> Result<Vec<Recipient>, StoreError>;
    /// Up to `limit` active recipients in daily or weekly mode whose id is above `after`, by
    /// id, with their topics (delivery counts left at zero): what the digest scheduler pages
    /// through.
    async fn digest_recipients(&self, after: i64, limit: i64) -> Result<Vec<Recipient>, StoreError>;
    /// One recipient by id.
    async fn recipient(&self, id: i64) -> Result<Option<Recipient>, StoreError>;
    /// Removes a recipient by id (unsubscribe links). False if there was none.
    async fn remove_recipient_id(&self, id: i64) -> Result<bool, StoreError>;
    /// Stores a pending email confirmation (double opt-in).
    async fn create_confirmation(&self, confirmation: &NewConfirmation) -> Result<(), StoreError>;
    /// Follows a confirmation link: in one transaction, creates or updates the email
    /// recipient exactly as requested (active again, refusals forgotten) and marks the
    /// token used. Using a token twice changes nothing.
    async fn confirm_subscription(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmOutcome, StoreError>;
    /// Confirmations asked for this address since `since` (the per-address rate limit).
    async fn confirmations_since(&self, address: &str, since: DateTime<Utc>) -> Result<i64, StoreError>;
    /// Counts a permanent refusal (SMTP 5xx) of mail to a recipient outside a delivery
    /// (a digest); at [`MAX_BOUNCES`] in a row it is suspended and its queue cancelled.
    /// Returns whether it is now suspended.
    async fn record_bounce(
        &self,
        recipient_id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Changes a recipient's delivery preferences (see [`RecipientPrefs`]). False if there is
    /// no such recipient.
    async fn set_recipient_prefs(
        &self,
        kind: &str,
        address: &str,
        thread_id: i64,
        prefs: &RecipientPrefs,
    ) -> Result<bool, StoreError>;
    /// Claims up to `limit` due deliveries to recipients of `kind` (`telegram`, `email`)
    /// for `worker` until `now + lease` (oldest item first).
    async fn claim_deliveries(
        &self,
        kind: &str,
        worker: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records what happened to a claimed delivery (ignored if the lease was lost).
    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Queue depth and totals by state, over every channel.
    async fn outbox_stats(&self, now: DateTime<Utc>) -> Result<OutboxStats, StoreError> {
        Ok(OutboxStats::total(&self.outbox_channel_stats(now).await?))
    }
    /// [`Store::outbox_stats`] per channel (recipient kind), by channel name; only channels
    /// with deliveries are listed.
    async fn outbox_channel_stats(&self, now: DateTime<Utc>) -> Result<Vec<ChannelStats>, StoreError>;
    /// The items waiting for a recipient's next digest, newest first.
    async fn digest_items(&self, recipient_id: i64) -> Result<Vec<Item>, StoreError>;
    /// Records a digest sent (or found empty): its items leave the queue, and a sent digest
    /// clears the recipient's refusal count.
    async fn finish_digest(
        &self,
        recipient_id: i64,
        item_ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Deletes sent and cancelled deliveries finished before `cutoff` (returns how many),
    /// and confirmation links that expired before it.
    async fn prune_deliveries(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `now + ttl`, if it is free,
    /// expired or already `holder`'s. Returns whether `holder` holds it now.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;
    /// Gives up `holder`'s lease `name` (nothing if another holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Gives up everything `holder` has claimed — queued deliveries, poll ticks, named
    /// leases — so that another instance takes it over at once (a draining daemon's last
    /// step). Returns how many claims were released.
    async fn release_worker(&self, holder: &str) -> Result<u64, StoreError>;
    /// The source's next scheduled poll, set to `at` if it has none yet: every instance
    /// agrees on the first tick.
    async fn first_poll_at(&self, source: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError>;
    /// Claims the poll of `source` scheduled at `tick` for `holder` until `now + ttl`: true
    /// for exactly one caller per tick — unless its holder dies, when the tick is claimed
    /// again once the lease has expired.
    async fn claim_poll(
        &self,
        source: &str,
        tick: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;
    /// Records that `holder` finished the poll of `tick`.
    async fn finish_poll(&self, source: &str, tick: DateTime<Utc>, holder: &str) -> Result<(), StoreError>;
    /// Takes the daemon lock: a second `tidings run` on the same database fails with
    /// [`StoreError::Locked`]. Held until the returned guard is dropped.
    async fn lock_daemon(&self) -> Result<DaemonLock, StoreError>;
}

/// Holds the daemon lock until dropped.
#[derive(Debug)]
pub struct DaemonLock {
    _file: Option<std::fs::File>,
    exclusive: bool,
}

impl DaemonLock {
    /// A lock that keeps every other daemon off the database (SQLite).
    pub(crate) fn exclusive(file: Option<std::fs::File>) -> DaemonLock {
        DaemonLock {
            _file: file,
            exclusive: true,
        }
    }

    /// No lock: several daemons share the database (PostgreSQL) and split the work.
    pub(crate) fn shared() -> DaemonLock {
        DaemonLock {
            _file: None,
            exclusive: false,
        }
    }

    /// Whether this daemon is the only one on the database (then it leads at once, with
    /// no lease to wait for).
    pub fn is_exclusive(&self) -> bool {
        self.exclusive
    }
}

/// A storage URL fit for messages and logs: a PostgreSQL password is left out.
pub fn redacted(url: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::redact(url)
    } else {
        url.to_owned()
    }
}

/// Opens (creating and migrating) the store named by a storage URL: `sqlite:…`, or
/// `postgres://…` / `postgresql://…` for a database several instances share.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::Unsupported(url.to_owned()))
    }
}

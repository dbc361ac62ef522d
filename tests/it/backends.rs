//! The store story on both backends: every [`Store`] method, each test run against a fresh
//! SQLite file (`<test>::sqlite`) and a fresh PostgreSQL database (`<test>::postgres`, see
//! [`crate::pg`]) with the same assertions, so the two behave alike down to orderings and
//! tie-breaks. Then what only PostgreSQL has: several instances at once
//! ([`concurrency`]), and the same feeds as SQLite end to end ([`same_feeds`]).

mod concurrency;
mod email;
mod feeds;
mod items;
mod leases;
mod outbox;
mod same_feeds;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, SubsecRound, TimeZone, Utc};
use tidings::domain::{Article, RegionRef};
use tidings::store::{CommitOutcome, ItemWrite, PollCommit, RecipientSpec, Store, Topic};

use crate::pg::PgDatabase;

/// What keeps a test's store alive: its temp directory or its PostgreSQL database.
pub enum Backing {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] PgDatabase),
}

/// A fresh SQLite store in a temp file, opened through [`tidings::store::open`].
pub async fn sqlite_store() -> (Arc<dyn Store>, Backing) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = tidings::store::open(&url).await.expect("open sqlite");
    (store, Backing::Sqlite(dir))
}

/// A fresh PostgreSQL store, or `None` (skip) when no test server is configured.
pub async fn pg_store() -> Option<(Arc<dyn Store>, Backing)> {
    let db = PgDatabase::create().await?;
    let store = tidings::store::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url));
    Some((store, Backing::Postgres(db)))
}

/// For each `async fn name(store: Arc<dyn Store>)` listed, tests `name::sqlite` and
/// `name::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _backing) = crate::backends::sqlite_store().await;
                super::$name(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((store, _backing)) = crate::backends::pg_store().await else {
                    return;
                };
                super::$name(store).await;
            }
        }
    )*};
}
use on_both_backends;

/// A fixed instant with nanoseconds (stored times keep microseconds), plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap()
        + chrono::Duration::nanoseconds(123_456_789)
        + chrono::Duration::minutes(minutes)
}

/// `t` as the store gives it back: microseconds, truncated.
pub fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Beijing time 2026-11-20 08:00 plus `minutes`.
pub fn beijing(minutes: i64) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 20, 8, 0, 0)
        .unwrap()
        + chrono::Duration::minutes(minutes)
}

/// An article titled `title` in region `(slug, name)` with `tags`.
pub fn article(title: &str, region: Option<(&str, &str)>, tags: &[&str], published: Option<i64>) -> Article {
    Article {
        url: format!("https://news.example.cn/{title}.html"),
        guid: None,
        title: title.to_owned(),
        author: None,
        region: region.map(|(slug, name)| RegionRef {
            slug: slug.into(),
            name: name.into(),
            known: true,
        }),
        published: published.map(beijing),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        summary: None,
        body_html: None,
        images: vec![],
        comments: None,
    }
}

/// A write of item `id` under key `key:<id>`, pushed if new.
pub fn write(id: &str, article: Article) -> ItemWrite {
    ItemWrite {
        id: id.to_owned(),
        keys: vec![format!("key:{id}")],
        article,
        listing_hash: Some(format!("listing:{id}")),
        push: true,
    }
}

/// Commits `writes` for `source` at `now` as one poll.
pub async fn commit(
    store: &dyn Store,
    source: &str,
    now: DateTime<Utc>,
    writes: Vec<ItemWrite>,
) -> CommitOutcome {
    store
        .commit_poll(PollCommit {
            source: source.into(),
            now,
            writes,
            ..PollCommit::default()
        })
        .await
        .expect("commit_poll")
}

/// A topic: region slug and/or tag.
pub fn topic(region: Option<&str>, tag: Option<&str>) -> Topic {
    Topic {
        region: region.map(str::to_owned),
        tag: tag.map(str::to_owned),
    }
}

/// A recipient of `kind` at `address` (no thread) with `topics`, managed by the CLI.
pub fn spec(kind: &str, address: &str, topics: Vec<Topic>) -> RecipientSpec {
    RecipientSpec {
        kind: kind.into(),
        address: address.into(),
        thread_id: 0,
        origin: "cli".into(),
        topics,
        filters: None,
    }
}

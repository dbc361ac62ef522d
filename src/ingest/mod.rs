//! One poll of one source: read inputs → judge drift and floods → fetch the articles that
//! need it → extract → store in one transaction, reporting what is new. A backfill walks
//! the listings deeper the same way, storing in batches and pushing nothing.

mod article;
mod batch;
mod gather;
mod guard;

pub use article::{ArticleError, build_article};
pub use gather::{Entry, InputRead, read_inputs};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{IdentityPolicy, Recipe};
use crate::domain::{Article, RegionTable};
use crate::source::dates::DateParser;
use crate::source::fetch::{Fetcher, Validators};
use crate::source::html::extract_article;
use crate::store::{CommitOutcome, PollCommit, Store, StoreError};

/// Articles a backfill stores per transaction: a daemon on the same database waits for
/// one batch at most, and an interrupted backfill keeps what it stored.
const BACKFILL_BATCH: usize = 100;

/// What ingest needs: the fetcher, the store and the region table.
#[derive(Clone)]
pub struct Ingest {
    /// Shared fetcher.
    pub fetcher: Fetcher,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Regions for resolving names found on pages.
    pub regions: RegionTable,
    /// Whether a new source's first poll pushes its items (normally a silent baseline).
    pub baseline_push: bool,
}

/// What one poll (or backfill) did, for `tidings poll`, `tidings backfill` and the logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    /// Source id.
    pub source: String,
    /// Whether this was the source's baseline poll (items stored, not pushed).
    pub baseline: bool,
    /// Listing pages read.
    pub pages: usize,
    /// Feeds read.
    pub feeds: usize,
    /// Distinct entries found in them.
    pub found: usize,
    /// Ids of new items.
    pub new: Vec<String>,
    /// Ids of edited items.
    pub updated: Vec<String>,
    /// Entries that were already stored (seen again, refreshed or edited).
    pub known: usize,
    /// Entries seen that needed no work.
    pub unchanged: usize,
    /// Articles or inputs that failed.
    pub failed: usize,
    /// Error messages, one per failure.
    pub errors: Vec<String>,
    /// Inputs held by the flood guard.
    pub held: Vec<String>,
    /// Inputs degraded by selector drift.
    pub degraded: Vec<String>,
}

impl PollReport {
    /// Counts the pages and feeds read and names the inputs that could not be read.
    fn note_reads(&mut self, reads: &[InputRead]) {
        for r in reads {
            if r.feed {
                self.feeds += r.pages;
            } else {
                self.pages += r.pages;
            }
            if let Err(e) = &r.result {
                self.failed += 1;
                self.errors.push(format!("{}: {e}", r.name));
            }
        }
    }
}

/// Where ingest reports how far it got (a backfill's progress bar). Every hook defaults
/// to doing nothing.
pub trait Progress: Send + Sync {
    /// A listing page or a feed was read, listing `entries` entries.
    fn page_read(&self, _entries: usize) {}
    /// `articles` articles are about to be fetched.
    fn articles_planned(&self, _articles: usize) {}
    /// One article was fetched (or failed).
    fn article_done(&self) {}
}

/// Progress that nobody watches (polls, `tidings check`).
pub struct NoProgress;

impl Progress for NoProgress {}

/// The identity key of an entry under a policy (prefixed so policies never collide).
pub fn identity_key(policy: IdentityPolicy, e: &Entry) -> String {
    let guid = e.feed.as_ref().map(|f| f.guid.as_str()).filter(|g| !g.is_empty());
    match (policy, guid, &e.title, e.date) {
        (IdentityPolicy::Guid, Some(g), _, _) => format!("guid:{g}"),
        (IdentityPolicy::TitleDate, _, Some(t), Some(d)) => format!("td:{t}\u{1f}{}", d.format("%Y-%m-%d")),
        _ => format!("url:{}", e.url),
    }
}

/// `(title, local day)` of an entry, for matching moved articles.
fn title_day(e: &Entry) -> Option<(String, String)> {
    Some((e.title.clone()?, e.date?.format("%Y-%m-%d").to_string()))
}

/// Every entry once (first input wins), with its identity key.
fn distinct_entries(recipe: &Recipe, reads: &[InputRead]) -> Vec<(String, Entry)> {
    let mut entries = Vec::new();
    let mut seen_urls = HashSet::new();
    for read in reads {
        if let Ok(Some(list)) = &read.result {
            for e in list {
                if seen_urls.insert(e.url.clone()) {
                    entries.push((identity_key(recipe.identity, e), e.clone()));
                }
            }
        }
    }
    entries
}

impl Ingest {
    /// Polls one source now and stores the result.
    #[tracing::instrument(skip_all, fields(source = %recipe.id))]
    pub async fn poll(&self, recipe: &Recipe, now: DateTime<Utc>) -> Result<PollReport, StoreError> {
        let state = self.store.source_state(&recipe.id).await?;
        let accept = state.as_ref().is_some_and(|s| s.accept_flood);
        let mut report = PollReport {
            source: recipe.id.clone(),
            baseline: !state.as_ref().is_some_and(|s| s.baseline_done),
            ..PollReport::default()
        };
        let prev: HashMap<String, _> = self
            .store
            .input_states(&recipe.id)
            .await?
            .into_iter()
            .map(|s| (s.input.clone(), s))
            .collect();
        let fresh: HashSet<String> = prev
            .values()
            .filter(|s| accept || s.held.is_some() || s.degraded.is_some())
            .map(|s| s.input.clone())
            .collect();
        let reads = read_inputs(
            &self.fetcher,
            recipe,
            Some(self.store.as_ref()),
            &fresh,
            &NoProgress,
        )
        .await;
        report.note_reads(&reads);
        let entries = distinct_entries(recipe, &reads);
        report.found = entries.len();
        let lookup = self.lookup(recipe, &entries).await?;
        let judged = guard::judge_inputs(recipe, &reads, &entries, &lookup.known, &lookup.moved, accept);
        let mut commit = PollCommit {
            source: recipe.id.clone(),
            now,
            consumed_accept: accept,
            ..PollCommit::default()
        };
        let plans = self
            .plan(recipe, entries, &lookup, &judged.held_inputs, now, &mut report)
            .await?;
        // An input read for the first time is a baseline of its own (a feed that failed at
        // the source's first poll must not flood chats later).
        let push =
            |e: &Entry| self.baseline_push || reads.get(e.input).is_some_and(|r| prev.contains_key(&r.name));
        let tally = self
            .work(recipe, plans, &push, &mut commit, &mut report, &NoProgress)
            .await;
        // A listing is only marked "seen" when all of it was processed: otherwise its next
        // fetch must not be a 304 that hides the entries still to do.
        for (i, r) in reads.iter().enumerate() {
            if !tally.failed_inputs.contains(&i) && !judged.held_inputs.contains(&i) {
                commit.validators.extend(r.validators.iter().cloned());
            }
        }
        guard::finish_inputs(
            recipe,
            &reads,
            &prev,
            judged,
            &tally.missing_fields,
            &mut commit,
            &mut report,
        );
        if !report.errors.is_empty() {
            commit.error = Some(summarize_errors(&report.errors));
        }
        let all_failed = !reads.is_empty() && reads.iter().all(|r| r.result.is_err());
        if all_failed && report.baseline {
            // Nothing was read: keep the baseline for the first poll that reads something.
            let msg = commit.error.clone().unwrap_or_default();
            self.store.record_failure(&recipe.id, &msg, now).await?;
            return Ok(report);
        }
        self.commit(commit, &mut report).await?;
        for id in &report.updated {
            tracing::info!(item = %id, "article edited: item updated");
        }
        Ok(report)
    }

    /// Walks each listing of the source up to `pages` pages deep (feeds, which have no
    /// pages, are read once) and stores the articles not stored yet exactly as a poll
    /// would, but **pushes none of them**: no delivery and no digest membership is queued.
    /// The source's poll state — validators of its listings, drift and flood verdicts,
    /// last success, baseline, schedule — is left as it is. Stored in batches of
    /// [`BACKFILL_BATCH`] articles, each in one transaction.
    #[tracing::instrument(skip_all, fields(source = %recipe.id, pages))]
    pub async fn backfill(
        &self,
        recipe: &Recipe,
        pages: u32,
        now: DateTime<Utc>,
        progress: &dyn Progress,
    ) -> Result<PollReport, StoreError> {
        let mut deep = recipe.clone();
        for listing in &mut deep.listings {
            listing.max_pages = pages;
        }
        let mut report = PollReport {
            source: recipe.id.clone(),
            ..PollReport::default()
        };
        // Read without validators: a 304 on page 1 would hide the older pages.
        let reads = read_inputs(&self.fetcher, &deep, None, &HashSet::new(), progress).await;
        report.note_reads(&reads);
        let entries = distinct_entries(recipe, &reads);
        report.found = entries.len();
        let lookup = self.lookup(recipe, &entries).await?;
        let plans = self
            .plan(recipe, entries, &lookup, &HashSet::new(), now, &mut report)
            .await?;
        progress.articles_planned(plans.iter().filter(|p| p.writes()).count());
        let mut plans = plans.into_iter().peekable();
        while plans.peek().is_some() {
            let batch: Vec<_> = plans.by_ref().take(BACKFILL_BATCH).collect();
            let mut commit = PollCommit {
                source: recipe.id.clone(),
                now,
                backfill: true,
                ..PollCommit::default()
            };
            self.work(recipe, batch, &|_| false, &mut commit, &mut report, progress)
                .await;
            if !(commit.writes.is_empty() && commit.touches.is_empty()) {
                self.commit(commit, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// Stores a commit and adds what it did to the report: every entry written or touched
    /// that did not come out new was already known.
    async fn commit(&self, commit: PollCommit, report: &mut PollReport) -> Result<(), StoreError> {
        let seen = commit.writes.len() + commit.touches.len();
        let CommitOutcome { new, updated } = self.store.commit_poll(commit).await?;
        report.known += seen.saturating_sub(new.len());
        report.new.extend(new);
        report.updated.extend(updated);
        Ok(())
    }
}

/// Fetches and extracts one entry's article (or builds it from its feed item).
pub async fn extract_entry(
    fetcher: &Fetcher,
    regions: &RegionTable,
    recipe: &Recipe,
    e: &Entry,
    validators: Validators,
    dates: &DateParser,
) -> Result<Fetched, ArticleError> {
    let draft = match (&recipe.article, e.fetch_page) {
        (Some(sel), true) => match gather::fetch(fetcher, recipe, &e.url, validators).await {
            Ok(None) => return Ok(Fetched::NotModified),
            Ok(Some((text, final_url, v))) => Some((extract_article(&text, &final_url, sel, dates), v)),
            Err(msg) => return Err(ArticleError::Fetch(msg)),
        },
        _ => None,
    };
    let page_complete = draft
        .as_ref()
        .is_none_or(|(d, _)| d.title.is_some() && d.published.is_some());
    let (draft, validators) = match draft {
        Some((d, v)) => (Some(d), Some(v)),
        None => (None, None),
    };
    let article = build_article(e, draft, regions)?;
    Ok(Fetched::Article {
        article: Box::new(article),
        page_complete,
        validators,
    })
}

/// The result of fetching one article.
pub enum Fetched {
    /// 304: unchanged since the last fetch.
    NotModified,
    /// Extracted.
    Article {
        /// The merged article.
        article: Box<Article>,
        /// The page itself gave a title and a date (no fallback needed).
        page_complete: bool,
        /// The page's validators, to store.
        validators: Option<Validators>,
    },
}

/// At most three errors, then a count.
pub fn summarize_errors(errors: &[String]) -> String {
    let mut s = errors.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if errors.len() > 3 {
        s.push_str(&format!("; and {} more", errors.len() - 3));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::feed::FeedEntry;

    fn entry(url: &str, title: Option<&str>, guid: Option<&str>) -> Entry {
        Entry {
            input: 0,
            url: url::Url::parse(url).unwrap(),
            title: title.map(str::to_owned),
            date: chrono::DateTime::parse_from_rfc3339("2022-02-23T10:43:56+08:00").ok(),
            summary: None,
            feed: guid.map(|g| FeedEntry {
                guid: g.to_owned(),
                url: None,
                title: None,
                published: None,
                updated: None,
                summary: None,
                content_html: None,
                author: None,
                categories: Vec::new(),
            }),
            fetch_page: false,
            region: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn identity_keys_follow_the_recipe_policy_with_url_fallback() {
        let e = entry("http://a.cn/1.html", Some("标题"), Some("g-1"));
        assert_eq!(identity_key(IdentityPolicy::Url, &e), "url:http://a.cn/1.html");
        assert_eq!(identity_key(IdentityPolicy::Guid, &e), "guid:g-1");
        assert_eq!(
            identity_key(IdentityPolicy::TitleDate, &e),
            "td:标题\u{1f}2022-02-23"
        );
        // Without a guid or a title, the URL identifies the article.
        let bare = entry("http://a.cn/2.html", None, None);
        assert_eq!(
            identity_key(IdentityPolicy::Guid, &bare),
            "url:http://a.cn/2.html"
        );
        assert_eq!(
            identity_key(IdentityPolicy::TitleDate, &bare),
            "url:http://a.cn/2.html"
        );
        // The same title and day under a new URL is the same article for title_date.
        let moved = entry("http://a.cn/moved.html", Some("标题"), None);
        assert_eq!(
            identity_key(IdentityPolicy::TitleDate, &moved),
            identity_key(IdentityPolicy::TitleDate, &e)
        );
    }

    #[test]
    fn an_article_without_summary_gets_one_from_its_body() {
        let e = entry("http://a.cn/1.html", Some("标题"), None);
        let draft = crate::source::html::ArticleDraft {
            body_text: Some("正文".repeat(100)),
            body_html: Some("<p>正文</p>".into()),
            ..Default::default()
        };
        let a = build_article(&e, Some(draft), &RegionTable::shanxi()).unwrap();
        let summary = a.summary.unwrap();
        assert_eq!(summary.chars().count(), crate::source::html::SUMMARY_CHARS + 1);
        assert!(summary.ends_with('…'));
        let none = build_article(&entry("http://a.cn/x", None, None), None, &RegionTable::shanxi());
        assert!(matches!(none, Err(ArticleError::NoTitle)));
    }
}

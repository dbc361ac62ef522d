//! One poll of one source: read inputs → judge drift and floods → fetch the articles that
//! need it → extract → store in one transaction, reporting what is new.

mod article;
mod gather;
mod guard;

pub use article::{ArticleError, build_article};
pub use gather::{Entry, InputRead, read_inputs};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;

use crate::config::{IdentityPolicy, Recipe};
use crate::domain::{Article, RegionTable, item_id};
use crate::source::dates::DateParser;
use crate::source::fetch::{Fetcher, Validators};
use crate::source::html::extract_article;
use crate::store::{ItemWrite, PollCommit, Store, StoreError, Touch};

/// Articles fetched at once within one poll (per-host politeness still applies).
const ARTICLE_CONCURRENCY: usize = 8;

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

/// What one poll did, for `tidings poll` and the logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    /// Source id.
    pub source: String,
    /// Whether this was the source's baseline poll (items stored, not pushed).
    pub baseline: bool,
    /// Ids of new items.
    pub new: Vec<String>,
    /// Ids of edited items.
    pub updated: Vec<String>,
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

/// What to do with an entry.
enum Plan {
    /// Fetch (or build from the feed) and write; `id` of a known item, or a new id.
    Write { id: String, validators: Validators },
    /// Known and unchanged: only record the listing hash and keys.
    Touch(Touch),
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
        let reads = read_inputs(&self.fetcher, recipe, Some(self.store.as_ref()), &fresh).await;

        // Every entry once (first input wins), with its identity key.
        let mut entries: Vec<(String, Entry)> = Vec::new();
        let mut seen_urls = HashSet::new();
        for read in &reads {
            if let Ok(Some(list)) = &read.result {
                for e in list {
                    if seen_urls.insert(e.url.clone()) {
                        entries.push((identity_key(recipe.identity, e), e.clone()));
                    }
                }
            }
        }
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let known = self.store.known(&recipe.id, &keys).await?;
        let pairs: Vec<(String, String)> = entries
            .iter()
            .filter(|(k, _)| !known.contains_key(k))
            .filter_map(|(_, e)| title_day(e))
            .collect();
        let moved = self.store.match_title_day(&recipe.id, &pairs).await?;

        let judged = guard::judge_inputs(recipe, &reads, &entries, &known, &moved, accept);
        let mut commit = PollCommit {
            source: recipe.id.clone(),
            now,
            consumed_accept: accept,
            ..PollCommit::default()
        };
        for r in &reads {
            if let Err(e) = &r.result {
                report.failed += 1;
                report.errors.push(format!("{}: {e}", r.name));
            }
        }

        let mut plans: Vec<(Plan, Entry, String)> = Vec::new();
        for (key, e) in entries {
            if judged.held_inputs.contains(&e.input) {
                continue;
            }
            let hash = e.listing_hash();
            let plan = match known.get(&key) {
                Some(k) => {
                    let due =
                        k.fetched_at + chrono::Duration::from_std(recipe.revisit).unwrap_or_default() <= now;
                    if k.listing_hash.as_deref() == Some(hash.as_str()) && !due {
                        report.unchanged += 1;
                        Plan::Touch(Touch {
                            item_id: k.item_id.clone(),
                            keys: Vec::new(),
                            listing_hash: Some(hash.clone()),
                        })
                    } else {
                        let validators = if due && e.fetch_page {
                            self.store.validators(e.url.as_str()).await?
                        } else {
                            Validators::default()
                        };
                        Plan::Write {
                            id: k.item_id.clone(),
                            validators,
                        }
                    }
                }
                None => match title_day(&e).and_then(|p| moved.get(&p)) {
                    Some(id) => Plan::Write {
                        id: id.clone(),
                        validators: Validators::default(),
                    },
                    None => Plan::Write {
                        id: item_id(&recipe.id, &key),
                        validators: Validators::default(),
                    },
                },
            };
            plans.push((plan, e, key));
        }

        let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
        let mut missing_fields: HashMap<usize, (usize, usize)> = HashMap::new();
        let mut failed_inputs: HashSet<usize> = HashSet::new();
        let results = futures::stream::iter(plans)
            .map(|(plan, e, key)| {
                let dates = &dates;
                async move {
                    let outcome = match &plan {
                        Plan::Touch(_) => None,
                        Plan::Write { validators, .. } => Some(
                            extract_entry(
                                &self.fetcher,
                                &self.regions,
                                recipe,
                                &e,
                                validators.clone(),
                                dates,
                            )
                            .await,
                        ),
                    };
                    (plan, e, key, outcome)
                }
            })
            .buffer_unordered(ARTICLE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for (plan, e, key, outcome) in results {
            let hash = e.listing_hash();
            match (plan, outcome) {
                (Plan::Touch(mut t), _) => {
                    t.keys.push(key);
                    commit.touches.push(t);
                }
                (Plan::Write { id, .. }, Some(Ok(Fetched::NotModified))) => {
                    report.unchanged += 1;
                    commit.touches.push(Touch {
                        item_id: id,
                        keys: vec![key],
                        listing_hash: Some(hash),
                    });
                }
                (
                    Plan::Write { id, .. },
                    Some(Ok(Fetched::Article {
                        article,
                        page_complete,
                        validators,
                    })),
                ) => {
                    let tally = missing_fields.entry(e.input).or_default();
                    tally.0 += 1;
                    if !page_complete {
                        tally.1 += 1;
                    }
                    if let Some(v) = validators {
                        commit.validators.push((e.url.to_string(), v));
                    }
                    // An input read for the first time is a baseline of its own (a feed that
                    // failed at the source's first poll must not flood chats later).
                    let input_known = reads.get(e.input).is_some_and(|r| prev.contains_key(&r.name));
                    commit.writes.push(ItemWrite {
                        id,
                        keys: vec![key],
                        article: *article,
                        listing_hash: Some(hash),
                        push: self.baseline_push || input_known,
                    });
                }
                (Plan::Write { .. }, Some(Err(err))) => {
                    failed_inputs.insert(e.input);
                    report.failed += 1;
                    report.errors.push(format!("{}: {err}", e.url));
                }
                (Plan::Write { .. }, None) => {}
            }
        }
        // A listing is only marked "seen" when all of it was processed: otherwise its next
        // fetch must not be a 304 that hides the entries still to do.
        for (i, r) in reads.iter().enumerate() {
            if !failed_inputs.contains(&i) && !judged.held_inputs.contains(&i) {
                commit.validators.extend(r.validators.iter().cloned());
            }
        }
        guard::finish_inputs(
            recipe,
            &reads,
            &prev,
            judged,
            &missing_fields,
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
        let out = self.store.commit_poll(commit).await?;
        report.new = out.new;
        report.updated = out.updated;
        for id in &report.updated {
            tracing::info!(item = %id, "article edited: item updated");
        }
        Ok(report)
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
fn summarize_errors(errors: &[String]) -> String {
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

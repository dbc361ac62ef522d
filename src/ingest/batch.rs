//! The article half of a poll or a backfill: deciding what each entry needs (a fetch, or
//! only a touch), fetching those a few at a time, and folding the outcomes into a commit.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::config::Recipe;
use crate::domain::item_id;
use crate::source::dates::DateParser;
use crate::source::fetch::Validators;
use crate::store::{ItemWrite, Known, PollCommit, StoreError, Touch};

use super::gather::Entry;
use super::{Fetched, Ingest, PollReport, Progress, extract_entry, title_day};

/// Articles fetched at once (per-host politeness still applies).
const ARTICLE_CONCURRENCY: usize = 8;

/// What to do with an entry.
enum Plan {
    /// Fetch (or build from the feed) and write; `id` of a known item, or a new id.
    Write { id: String, validators: Validators },
    /// Known and unchanged: only record the listing hash and keys.
    Touch(Touch),
}

/// An entry, its identity key, and what to do with it.
pub(super) struct Planned {
    plan: Plan,
    entry: Entry,
    key: String,
}

impl Planned {
    /// Whether the entry's article is fetched (or built from its feed item) and written.
    pub(super) fn writes(&self) -> bool {
        matches!(self.plan, Plan::Write { .. })
    }
}

/// What the articles of a run said about their inputs, for the drift guard and the
/// listing validators.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Per input: articles extracted, and how many of them lacked a title or a date on
    /// their page.
    pub missing_fields: HashMap<usize, (usize, usize)>,
    /// Inputs with an article that could not be fetched or extracted.
    pub failed_inputs: HashSet<usize>,
}

/// What the store already knows about a run's entries.
pub(super) struct Lookup {
    /// By identity key.
    pub known: HashMap<String, Known>,
    /// Stored items matching an unknown entry's `(title, local day)`: a moved article.
    pub moved: HashMap<(String, String), String>,
}

impl Ingest {
    /// Looks up the entries' identity keys, and the unknown ones by title and day.
    pub(super) async fn lookup(
        &self,
        recipe: &Recipe,
        entries: &[(String, Entry)],
    ) -> Result<Lookup, StoreError> {
        let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let known = self.store.known(&recipe.id, &keys).await?;
        let pairs: Vec<(String, String)> = entries
            .iter()
            .filter(|(k, _)| !known.contains_key(k))
            .filter_map(|(_, e)| title_day(e))
            .collect();
        let moved = self.store.match_title_day(&recipe.id, &pairs).await?;
        Ok(Lookup { known, moved })
    }

    /// Plans every entry outside the `held` inputs: a known entry whose listing is unchanged
    /// and whose revisit is not due is only touched; any other is fetched, under its known
    /// id, a moved article's id, or a new one.
    pub(super) async fn plan(
        &self,
        recipe: &Recipe,
        entries: Vec<(String, Entry)>,
        lookup: &Lookup,
        held: &HashSet<usize>,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<Vec<Planned>, StoreError> {
        let mut plans = Vec::new();
        for (key, e) in entries {
            if held.contains(&e.input) {
                continue;
            }
            let hash = e.listing_hash();
            let plan = match lookup.known.get(&key) {
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
                None => match title_day(&e).and_then(|p| lookup.moved.get(&p)) {
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
            plans.push(Planned { plan, entry: e, key });
        }
        Ok(plans)
    }

    /// Fetches and extracts the planned articles, [`ARTICLE_CONCURRENCY`] at a time, and
    /// adds the outcomes to `commit`: writes (new ones pushed when `push` says so for their
    /// entry), touches and article validators. Failures go to `report`; what the articles
    /// said about their inputs is returned.
    pub(super) async fn work(
        &self,
        recipe: &Recipe,
        plans: Vec<Planned>,
        push: &(dyn Fn(&Entry) -> bool + Sync),
        commit: &mut PollCommit,
        report: &mut PollReport,
        progress: &dyn Progress,
    ) -> Tally {
        let mut tally = Tally::default();
        let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
        let results = futures::stream::iter(plans)
            .map(|p| {
                let dates = &dates;
                async move {
                    let outcome = match &p.plan {
                        Plan::Touch(_) => None,
                        Plan::Write { validators, .. } => {
                            let fetched = extract_entry(
                                &self.fetcher,
                                &self.regions,
                                recipe,
                                &p.entry,
                                validators.clone(),
                                dates,
                            )
                            .await;
                            progress.article_done();
                            Some(fetched)
                        }
                    };
                    (p, outcome)
                }
            })
            .buffer_unordered(ARTICLE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for (Planned { plan, entry: e, key }, outcome) in results {
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
                    let counts = tally.missing_fields.entry(e.input).or_default();
                    counts.0 += 1;
                    if !page_complete {
                        counts.1 += 1;
                    }
                    if let Some(v) = validators {
                        commit.validators.push((e.url.to_string(), v));
                    }
                    commit.writes.push(ItemWrite {
                        id,
                        keys: vec![key],
                        article: *article,
                        listing_hash: Some(hash),
                        push: push(&e),
                    });
                }
                (Plan::Write { .. }, Some(Err(err))) => {
                    tally.failed_inputs.insert(e.input);
                    report.failed += 1;
                    report.errors.push(format!("{}: {err}", e.url));
                }
                (Plan::Write { .. }, None) => {}
            }
        }
        tally
    }
}

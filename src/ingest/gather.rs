//! Reading a recipe's inputs: listing pages (with pagination) and feeds, into entries.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset};
use url::Url;

use crate::config::{Recipe, input_name};
use crate::source::dates::DateParser;
use crate::source::feed::{FeedEntry, parse_feed};
use crate::source::fetch::{FetchOutcome, FetchRequest, Fetcher, Validators};
use crate::source::html::extract_listing;
use crate::store::Store;

use super::Progress;

/// One entry found in an input: a listing entry or a feed item.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index of the input (in [`Recipe::input_names`] order).
    pub input: usize,
    /// Canonical article URL.
    pub url: Url,
    /// Title shown by the input.
    pub title: Option<String>,
    /// Date shown by the input.
    pub date: Option<DateTime<FixedOffset>>,
    /// Summary shown by the input.
    pub summary: Option<String>,
    /// The feed item, for feed inputs.
    pub feed: Option<FeedEntry>,
    /// Whether the article page is fetched.
    pub fetch_page: bool,
    /// Region fixed by the input or recipe.
    pub region: Option<String>,
    /// Tags fixed by the input and recipe.
    pub tags: Vec<String>,
}

impl Entry {
    /// A hash of what the input shows (title, date, summary, feed update time): when it
    /// changes, the article is fetched again.
    pub fn listing_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.title.clone(),
            self.date.map(|d| d.to_rfc3339()),
            self.summary.clone(),
            self.feed.as_ref().and_then(|f| f.updated.map(|u| u.to_rfc3339())),
        ] {
            h.update(part.unwrap_or_default().as_bytes());
            h.update([0x1f]);
        }
        crate::domain::hex(&h.finalize()[..12])
    }
}

/// What reading one input gave.
#[derive(Debug)]
pub struct InputRead {
    /// Input name (URL path).
    pub name: String,
    /// Entries, or why the input could not be read. `Ok(None)`: not modified since last poll.
    pub result: Result<Option<Vec<Entry>>, String>,
    /// Validators to store for the pages read.
    pub validators: Vec<(String, Validators)>,
    /// Whether the input is a feed (read whole: it has no pages).
    pub feed: bool,
    /// Listing pages fetched (a 304 counts: it was asked); for a feed, 1 once read.
    pub pages: usize,
}

/// Reads every input of a recipe. With a store, conditional GETs use stored validators,
/// except for the inputs named in `fresh` (held or degraded last time: re-read them in full).
/// Each page read is reported to `progress`.
pub async fn read_inputs(
    fetcher: &Fetcher,
    recipe: &Recipe,
    store: Option<&dyn Store>,
    fresh: &HashSet<String>,
    progress: &dyn Progress,
) -> Vec<InputRead> {
    let dates = DateParser::new(recipe.timezone, recipe.date_formats.clone());
    let mut reads = Vec::new();
    let mut index = 0;
    for listing in &recipe.listings {
        for url in &listing.urls {
            let mut read = InputRead {
                name: input_name(url),
                result: Ok(Some(Vec::new())),
                validators: Vec::new(),
                feed: false,
                pages: 0,
            };
            let mut seen: HashSet<Url> = HashSet::new();
            let mut page_url = Some(url.clone());
            let mut pages = 0;
            while let Some(current) = page_url.take() {
                if pages >= listing.max_pages || !seen.insert(current.clone()) {
                    break;
                }
                pages += 1;
                // Only page 1 is fetched conditionally: when it is unchanged, so is the listing.
                let validators = match (store, pages) {
                    (Some(s), 1) if !fresh.contains(&read.name) => {
                        s.validators(current.as_str()).await.unwrap_or_default()
                    }
                    _ => Validators::default(),
                };
                match fetch(fetcher, recipe, &current, validators).await {
                    Ok(None) => {
                        read.pages += 1;
                        progress.page_read(0);
                        read.result = Ok(None);
                        break;
                    }
                    Ok(Some((text, final_url, v))) => {
                        if pages == 1 {
                            read.validators.push((current.to_string(), v));
                        }
                        let page = extract_listing(&text, &final_url, listing, &dates);
                        read.pages += 1;
                        progress.page_read(page.entries.len());
                        if let Ok(Some(entries)) = &mut read.result {
                            entries.extend(page.entries.into_iter().map(|e| Entry {
                                input: index,
                                url: e.url,
                                title: e.title,
                                date: e.date,
                                summary: e.summary,
                                feed: None,
                                fetch_page: true,
                                region: listing.region.clone().or_else(|| recipe.region.clone()),
                                tags: listing.tags.iter().chain(&recipe.tags).cloned().collect(),
                            }));
                        }
                        page_url = page.next;
                    }
                    Err(e) if pages == 1 => {
                        read.result = Err(e);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(source = %recipe.id, page = %current, "listing page {pages} failed, keeping earlier pages: {e}");
                        break;
                    }
                }
            }
            reads.push(read);
            index += 1;
        }
    }
    for feed in &recipe.feeds {
        let mut read = InputRead {
            name: input_name(&feed.url),
            result: Ok(None),
            validators: Vec::new(),
            feed: true,
            pages: 0,
        };
        let validators = match store {
            Some(s) if !fresh.contains(&read.name) => {
                s.validators(feed.url.as_str()).await.unwrap_or_default()
            }
            _ => Validators::default(),
        };
        read.result = match fetch(fetcher, recipe, &feed.url, validators).await {
            Ok(None) => Ok(None),
            Err(e) => Err(e),
            Ok(Some((text, final_url, v))) => {
                read.validators.push((feed.url.to_string(), v));
                match parse_feed(&text, &final_url, recipe.timezone) {
                    Err(e) => Err(e.to_string()),
                    Ok(items) => Ok(Some(
                        items
                            .into_iter()
                            .filter_map(|f| {
                                Some(Entry {
                                    input: index,
                                    url: f.url.clone()?,
                                    title: f.title.clone(),
                                    date: f.published,
                                    summary: f.summary.clone(),
                                    fetch_page: feed.fetch_article,
                                    region: feed.region.clone().or_else(|| recipe.region.clone()),
                                    tags: feed.tags.iter().chain(&recipe.tags).cloned().collect(),
                                    feed: Some(f),
                                })
                            })
                            .collect(),
                    )),
                }
            }
        };
        if let Ok(list) = &read.result {
            read.pages = 1;
            progress.page_read(list.as_ref().map_or(0, Vec::len));
        }
        reads.push(read);
        index += 1;
    }
    reads
}

/// Fetches one page: `Ok(None)` when not modified, else its text, final URL and validators.
pub async fn fetch(
    fetcher: &Fetcher,
    recipe: &Recipe,
    url: &Url,
    validators: Validators,
) -> Result<Option<(String, Url, Validators)>, String> {
    let mut req = FetchRequest::new(url.clone());
    req.validators = validators;
    req.allow_private = recipe.allow_private;
    req.respect_robots = recipe.respect_robots;
    req.charset = recipe.charset;
    match fetcher.fetch(&req).await {
        Ok(FetchOutcome::NotModified) => Ok(None),
        Ok(FetchOutcome::Page(p)) => Ok(Some((p.text, p.url, p.validators))),
        Err(e) => Err(e.to_string()),
    }
}

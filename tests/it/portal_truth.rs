//! The shipped recipes against the library's sample portal: every field of every article
//! matches the portal's ground truth, and epochs report exactly what changed.

use std::collections::{BTreeSet, HashMap};

use tidings::domain::Item;
use tidings::portal::{ArticleTruth, Truth, Variant};

use crate::helpers::{
    FAST_FETCH, TestDir, poll, portal, sample_portal_env, shipped, source_override, swap, truth,
};

/// Compares one stored item with its ground truth; returns the mismatches.
pub fn compare(item: &Item, t: &ArticleTruth) -> Vec<String> {
    let a = &item.article;
    let mut bad = Vec::new();
    let mut check = |what: &str, got: String, want: String| {
        if got != want {
            bad.push(format!("{}: {what}: got {got:?}, want {want:?}", t.path));
        }
    };
    check("url", a.url.clone(), t.canonical_url.clone());
    check("title", a.title.clone(), t.title.clone());
    check("author", a.author.clone().unwrap_or_default(), t.author.clone());
    check(
        "region",
        a.region.as_ref().map(|r| r.slug.clone()).unwrap_or_default(),
        t.region_slug.clone(),
    );
    check(
        "published",
        a.published.map(|p| p.to_rfc3339()).unwrap_or_default(),
        t.published.to_rfc3339(),
    );
    let got: BTreeSet<&String> = a.tags.iter().collect();
    let want: BTreeSet<&String> = t.tags.iter().collect();
    check("tags", format!("{got:?}"), format!("{want:?}"));
    let body = a.body_html.clone().unwrap_or_default();
    if body.len() < 20 || body.contains("<script") || body.contains("javascript:") {
        bad.push(format!("{}: body missing or unsafe: {body:.80}", t.path));
    }
    if body.contains("src=\"/") || body.contains("src=\"../") || body.contains("href=\"/") {
        bad.push(format!("{}: body has relative links: {body:.200}", t.path));
    }
    for img in &a.images {
        if !img.starts_with("http://") {
            bad.push(format!("{}: image not absolute: {img}", t.path));
        }
    }
    bad
}

fn by_url(items: &[Item]) -> HashMap<String, &Item> {
    items.iter().map(|i| (i.article.url.clone(), i)).collect()
}

/// Every listed region article and every feed page in the store matches the truth.
pub fn assert_matches_truth(items: &[Item], truth: &Truth, with_feeds: bool) {
    let map = by_url(items);
    let mut bad = Vec::new();
    let mut checked = 0;
    let expected: Vec<&ArticleTruth> = truth
        .articles
        .iter()
        .filter(|a| a.listed)
        .chain(truth.feed_pages.iter().filter(|p| {
            with_feeds
                && truth
                    .feeds
                    .iter()
                    .any(|f| f.items.iter().any(|i| i.page == p.path))
        }))
        .collect();
    for t in &expected {
        match map.get(&t.canonical_url) {
            Some(item) => {
                checked += 1;
                bad.extend(compare(item, t));
            }
            None => bad.push(format!("{}: not stored", t.canonical_url)),
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches of {}:\n{}",
        bad.len(),
        expected.len(),
        bad.join("\n")
    );
    assert_eq!(checked, expected.len());
}

#[tokio::test]
async fn sample_portal_recipe_extracts_every_article_of_all_11_regions() {
    let server = portal(6, 0, Variant::Standard).await;
    let truth = truth(&server, 6, 0, Variant::Standard);
    let env = sample_portal_env(&server);
    let app = env.app().await;
    let report = poll(&app, "sample-portal").await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.baseline);
    let items = app.store.items(None, 10_000).await.unwrap();
    let regions: BTreeSet<&str> = truth.articles.iter().map(|a| a.region_slug.as_str()).collect();
    assert_eq!(regions.len(), 11);
    assert_matches_truth(&items, &truth, true);
    let feed_items: usize = truth.feeds.iter().map(|f| f.items.len()).sum();
    assert_eq!(
        report.new.len(),
        truth.articles.iter().filter(|a| a.listed).count() + feed_items
    );
    // No URL was fetched twice in one poll.
    for a in &truth.articles {
        assert!(
            server.hits(&a.path) <= 1,
            "{} fetched {} times",
            a.path,
            server.hits(&a.path)
        );
    }
    let seed = items
        .iter()
        .find(|i| i.article.url.ends_with("/gsyl/jinzhong/1453.html"))
        .expect("seed");
    assert_eq!(seed.article.title, "我市经济社会各项事业成绩突出亮点纷呈");
    assert_eq!(
        seed.article.published.unwrap().to_rfc3339(),
        "2022-02-23T10:43:56+08:00"
    );
    assert_eq!(seed.article.tags, ["晋中", "高质量", "我市"]);
}

#[tokio::test]
async fn shanxidayuan_recipe_splits_the_meta_line_with_named_groups() {
    let server = portal(4, 0, Variant::Standard).await;
    let truth = truth(&server, 4, 0, Variant::Standard);
    let env = TestDir::new(
        &format!(
            "{FAST_FETCH}{}",
            source_override("shanxidayuan", &server.base_url())
        ),
        &[("shanxidayuan", shipped("shanxidayuan"))],
    );
    let app = env.app().await;
    let report = poll(&app, "shanxidayuan").await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let items = app.store.items(None, 10_000).await.unwrap();
    assert_matches_truth(&items, &truth, false);
}

#[tokio::test]
async fn epochs_report_exactly_the_new_and_the_edited_articles_once() {
    let server = portal(5, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let app = env.app().await;
    let first = poll(&app, "sample-portal").await;
    assert!(first.baseline && first.errors.is_empty());
    let before = app.store.items(None, 10_000).await.unwrap().len();
    let old = truth(&server, 5, 0, Variant::Standard);

    swap(&server, 5, 1, Variant::Standard);
    server.reset_hits();
    let truth = truth(&server, 5, 1, Variant::Standard);
    let second = poll(&app, "sample-portal").await;
    assert!(!second.baseline);
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    let items = app.store.items(None, 10_000).await.unwrap();
    let url_of: HashMap<&str, &str> = items
        .iter()
        .map(|i| (i.id.as_str(), i.article.url.as_str()))
        .collect();

    let mut want_new: BTreeSet<String> = truth
        .articles
        .iter()
        .filter(|a| a.epoch_added == 1)
        .map(|a| a.canonical_url.clone())
        .collect();
    let old_links: BTreeSet<&str> = old
        .feeds
        .iter()
        .flat_map(|f| f.items.iter().map(|i| i.link.as_str()))
        .collect();
    for f in &truth.feeds {
        for i in f.items.iter().filter(|i| !old_links.contains(i.link.as_str())) {
            want_new.insert(i.link.clone());
        }
    }
    let got_new: BTreeSet<String> = second
        .new
        .iter()
        .map(|id| url_of[id.as_str()].to_owned())
        .collect();
    assert_eq!(got_new, want_new);
    assert_eq!(items.len(), before + want_new.len());

    let edited = truth
        .articles
        .iter()
        .find(|a| a.edited_epoch == Some(1))
        .expect("an edited article");
    let got_updated: BTreeSet<&str> = second.updated.iter().map(|id| url_of[id.as_str()]).collect();
    assert!(
        got_updated.contains(edited.canonical_url.as_str()),
        "{got_updated:?}"
    );
    let stored = items
        .iter()
        .find(|i| i.article.url == edited.canonical_url)
        .unwrap();
    assert_eq!(stored.article.title, edited.title);
    assert!(stored.updated > stored.created);
    for id in &second.updated {
        assert!(!second.new.contains(id), "edited item reported new");
    }
    // Unchanged listing entries were not fetched again.
    let untouched = truth
        .articles
        .iter()
        .find(|a| a.epoch_added == 0 && a.edited_epoch.is_none() && a.listed)
        .unwrap();
    assert_eq!(server.hits(&untouched.path), 0);
    assert_matches_truth(&items, &truth, true);

    let third = poll(&app, "sample-portal").await;
    assert!(third.new.is_empty() && third.updated.is_empty(), "{third:?}");
    assert_eq!(app.store.items(None, 10_000).await.unwrap().len(), items.len());
}

//! `tidings backfill` through the real binary against the sample portal: the older listing
//! pages are stored exactly as a poll stores (every field matches the portal's truth) but
//! pushed to nobody, now or by later polls; the source's poll state is left alone; a second
//! backfill stores nothing; bad requests fail with a clear message.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use tidings::app::App;
use tidings::portal::{PortalParams, Truth, Variant};
use tidings::store::RecipientPrefs;

use crate::backends::{spec, topic};
use crate::commands::{text, tidings};
use crate::helpers::{FAST_FETCH, TestDir, poll, portal, shipped, source_override, swap, truth};
use crate::portal_truth::assert_matches_truth;

const SOURCE: &str = "sample-portal";
/// Articles per region: two listing pages (20 + 10) at epoch 0.
const PER_REGION: usize = 30;

/// The shipped recipe reading at most `max_pages` listing pages per poll.
fn recipe(max_pages: u32) -> String {
    let shipped = shipped(SOURCE);
    assert!(shipped.contains("max_pages = 5"), "the shipped recipe changed");
    shipped.replace("max_pages = 5", &format!("max_pages = {max_pages}"))
}

/// A configuration pointing the sample portal recipe (polling `max_pages` deep) at `origin`.
fn env_for(origin: &str, max_pages: u32) -> TestDir {
    TestDir::new(
        &format!("{FAST_FETCH}{}", source_override(SOURCE, origin)),
        &[(SOURCE, recipe(max_pages))],
    )
}

/// Canonical URLs of the region articles on the first `pages` listing pages of every
/// region, and of every feed item.
fn listed(truth: &Truth, pages: usize) -> BTreeSet<String> {
    let per_page = PortalParams::default().per_page;
    let url = |id: &u64| {
        let a = truth
            .articles
            .iter()
            .find(|a| a.id == *id)
            .expect("listed article");
        a.canonical_url.clone()
    };
    let regions = truth
        .regions
        .iter()
        .flat_map(|r| r.listed_ids.iter().take(pages * per_page).map(url));
    let feeds = truth
        .feeds
        .iter()
        .flat_map(|f| f.items.iter().map(|i| i.link.clone()));
    regions.chain(feeds).collect()
}

async fn stored(app: &App) -> BTreeSet<String> {
    let items = app.store.items(Some(SOURCE), 10_000).await.expect("items");
    items.into_iter().map(|i| i.article.url).collect()
}

/// Two Telegram chats subscribed to everything: one instant, one with a daily digest
/// (whose id is returned).
async fn subscribe_everything(app: &App) -> i64 {
    let now = Utc::now();
    let all = || vec![topic(None, None)];
    app.store
        .save_recipient(&spec("telegram", "4242", all()), now)
        .await
        .expect("instant recipient");
    let daily = app
        .store
        .save_recipient(&spec("telegram", "4343", all()), now)
        .await
        .expect("digest recipient");
    let prefs = RecipientPrefs {
        mode: Some("daily".into()),
        ..RecipientPrefs::default()
    };
    assert!(
        app.store
            .set_recipient_prefs("telegram", "4343", 0, &prefs)
            .await
            .unwrap()
    );
    daily
}

/// The article URLs queued for the instant chat (claimed, so each call sees only what
/// was queued since the last), and those waiting in the daily chat's digest.
async fn pushed(app: &App, daily: i64) -> (Vec<String>, BTreeSet<String>) {
    let claimed = app
        .store
        .claim_deliveries(
            "telegram",
            "backfill-test",
            Utc::now(),
            Duration::from_secs(600),
            10_000,
        )
        .await
        .expect("claim");
    let instant = claimed.into_iter().map(|c| c.item.article.url).collect();
    let digest = app.store.digest_items(daily).await.expect("digest items");
    (instant, digest.into_iter().map(|i| i.article.url).collect())
}

/// The summary line `tidings backfill` prints.
fn summary(pages: usize, depth: usize, found: usize, new: usize, known: usize) -> String {
    format!(
        "{SOURCE}: {pages} listing pages (up to {depth} per listing) and 2 feeds read, {found} articles found, \
         {new} new items stored (not pushed), {known} already known, 0 failed"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_stores_older_pages_unpushed_and_the_next_poll_pushes_only_new_articles() {
    let server = portal(PER_REGION, 0, Variant::Standard).await;
    let t0 = truth(&server, PER_REGION, 0, Variant::Standard);
    assert!(
        t0.regions.iter().all(|r| r.pages == 2),
        "every listing has 2 pages"
    );
    let env = env_for(&server.base_url(), 1);
    let app = env.app().await;
    let daily = subscribe_everything(&app).await;

    // A poll reads page 1 of each listing (max_pages = 1) and the feeds: the baseline.
    let first = poll(&app, SOURCE).await;
    assert!(first.baseline && first.errors.is_empty(), "{first:?}");
    let page_one = listed(&t0, 1);
    assert_eq!(stored(&app).await, page_one);
    let state = app.store.source_state(SOURCE).await.unwrap().expect("polled");
    let inputs = app.store.input_states(SOURCE).await.unwrap();

    let out = tidings(&env, &["backfill", SOURCE, "--pages", "2"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let every = listed(&t0, 2);
    let older = every.len() - page_one.len();
    assert_eq!(older, 11 * (PER_REGION - 20));
    let pages: usize = t0.regions.iter().map(|r| r.pages).sum();
    assert!(
        stdout.contains(&summary(pages, 2, every.len(), older, page_one.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains("feeds have no pages: each feed was read once"),
        "{stdout}"
    );

    // Stored like a poll stores them: every field of every article matches the truth …
    assert_eq!(stored(&app).await, every);
    let items = app.store.items(Some(SOURCE), 10_000).await.unwrap();
    assert_matches_truth(&items, &t0, true);
    // … known articles were not fetched again …
    for a in t0.articles.iter().filter(|a| page_one.contains(&a.canonical_url)) {
        assert_eq!(server.hits(&a.path), 1, "{} fetched again", a.path);
    }
    // … nothing was queued for the instant chat nor put in the digest …
    let (instant, digest) = pushed(&app, daily).await;
    assert_eq!(
        instant.len(),
        0,
        "backfilled items were queued, e.g. {:?}",
        instant.first()
    );
    assert_eq!(
        digest.len(),
        0,
        "backfilled items joined a digest, e.g. {:?}",
        digest.first()
    );
    // … and the source's poll state is as the poll left it.
    let mut after = app.store.source_state(SOURCE).await.unwrap().expect("state");
    assert_eq!(after.items, every.len() as i64);
    after.items = state.items;
    assert_eq!(after, state);
    assert_eq!(app.store.input_states(SOURCE).await.unwrap(), inputs);

    // The site moves on; the next polls read every page, so they see the backfilled
    // articles too: only the epoch's new articles are pushed, each once.
    swap(&server, PER_REGION, 1, Variant::Standard);
    let t1 = truth(&server, PER_REGION, 1, Variant::Standard);
    std::fs::write(
        env.dir.path().join("feeds").join(format!("{SOURCE}.toml")),
        recipe(5),
    )
    .unwrap();
    let app = env.app().await;
    let report = poll(&app, SOURCE).await;
    assert!(!report.baseline && report.errors.is_empty(), "{report:?}");
    let fresh: BTreeSet<String> = listed(&t1, 5).difference(&every).cloned().collect();
    assert!(!fresh.is_empty());
    assert_eq!(report.new.len(), fresh.len(), "{report:?}");
    let (instant, digest) = pushed(&app, daily).await;
    let once: BTreeSet<String> = instant.iter().cloned().collect();
    assert_eq!(once.len(), instant.len(), "an item was queued twice: {instant:?}");
    assert_eq!(once, fresh);
    assert_eq!(digest, fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backfill_stores_nothing_and_the_first_poll_stays_the_baseline() {
    let server = portal(PER_REGION, 0, Variant::Standard).await;
    let t0 = truth(&server, PER_REGION, 0, Variant::Standard);
    let env = env_for(&server.base_url(), 1);
    let every = listed(&t0, 2);
    let pages: usize = t0.regions.iter().map(|r| r.pages).sum();

    // A backfill of a source never polled stores everything it finds.
    let out = tidings(&env, &["backfill", SOURCE, "--pages", "3"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&summary(pages, 3, every.len(), every.len(), 0)),
        "{stdout}"
    );
    let app = env.app().await;
    assert_eq!(stored(&app).await, every);

    // Again, asking for far too many pages: capped, nothing new, no article fetched again.
    let out = tidings(&env, &["backfill", SOURCE, "--pages", "5000"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("--pages 5000 capped at 1000 pages per listing"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&summary(pages, 1000, every.len(), 0, every.len())),
        "{stdout}"
    );
    assert_eq!(stored(&app).await, every);
    let pages_of = |urls: &BTreeSet<String>| -> Vec<String> {
        let base = server.base_url();
        urls.iter()
            .map(|u| u.trim_start_matches(&base).to_owned())
            .collect()
    };
    for path in pages_of(&every) {
        assert_eq!(server.hits(&path), 1, "{path} fetched again");
    }

    // The backfill did not count as the source's baseline: the first poll still is one
    // (and finds every article known).
    let report = poll(&app, SOURCE).await;
    assert!(report.baseline, "{report:?}");
    assert!(report.new.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_fails_clearly_on_unknown_sources_zero_pages_and_unreachable_sites() {
    let server = portal(2, 0, Variant::Standard).await;
    let env = env_for(&server.base_url(), 1);
    let out = tidings(&env, &["backfill", "nope", "--pages", "2"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no source `nope`; known sources: sample-portal"),
        "{stderr}"
    );

    let out = tidings(&env, &["backfill", SOURCE, "--pages", "0"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--pages must be at least 1"), "{stderr}");
    assert_eq!(server.total_hits(), 0, "nothing was fetched");

    // A site that refuses connections: nothing could be fetched, and the cause is named.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = env_for(&origin, 1);
    let out = tidings(&env, &["backfill", SOURCE, "--pages", "2"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sample-portal: nothing could be fetched: /gsyl/taiyuan/index.html"),
        "{stderr}"
    );
}

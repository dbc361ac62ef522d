//! Selector drift and the flood guard: one alert each, nothing pushed, restoring clears it.

use tidings::portal::Variant;

use crate::helpers::{TestDir, poll, portal, sample_portal_env, swap};

async fn setup() -> (tidings::portal::PortalServer, TestDir) {
    let server = portal(4, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    (server, env)
}

#[tokio::test]
async fn selector_drift_raises_one_alert_pushes_nothing_and_restoring_clears_it() {
    let (server, env) = setup().await;
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    let count = app.store.items(None, 10_000).await.unwrap().len();

    swap(&server, 4, 1, Variant::DriftedListing);
    let r = poll(&app, "sample-portal").await;
    assert_eq!(r.degraded.len(), 11, "{:?}", r.degraded);
    assert!(r.new.iter().all(|id| !id.is_empty()));
    let region_new = app.store.items(None, 10_000).await.unwrap().len() - count;
    assert_eq!(region_new, r.new.len());
    assert!(r.new.len() <= 5, "only feed items may arrive: {}", r.new.len());
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, "drift");
    assert!(
        alerts[0].message.contains("/gsyl/jinzhong/index.html"),
        "{}",
        alerts[0].message
    );

    // Still drifted: no second alert.
    poll(&app, "sample-portal").await;
    assert_eq!(app.store.alerts().await.unwrap().len(), 1);

    swap(&server, 4, 1, Variant::Standard);
    let r = poll(&app, "sample-portal").await;
    assert!(r.degraded.is_empty());
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].resolved_at.is_some());
    assert!(
        app.store
            .input_states("sample-portal")
            .await
            .unwrap()
            .iter()
            .all(|i| i.degraded.is_none())
    );
}

#[tokio::test]
async fn flood_guard_holds_moved_urls_until_restored_or_accepted() {
    let (server, env) = setup().await;
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    let count = app.store.items(None, 10_000).await.unwrap().len();

    swap(&server, 4, 0, Variant::MovedUrls);
    let r = poll(&app, "sample-portal").await;
    assert_eq!(r.held.len(), 11, "{:?}", r.held);
    assert!(r.new.is_empty(), "{:?}", r.new);
    assert_eq!(app.store.items(None, 10_000).await.unwrap().len(), count);
    let alerts = app.store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].kind, "flood");
    assert!(alerts[0].message.contains("tidings sources accept sample-portal"));
    poll(&app, "sample-portal").await;
    assert_eq!(app.store.alerts().await.unwrap().len(), 1, "alerted once");

    // The publisher reverts: the hold clears by itself.
    swap(&server, 4, 0, Variant::Standard);
    let r = poll(&app, "sample-portal").await;
    assert!(r.held.is_empty() && r.new.is_empty());
    assert!(app.store.alerts().await.unwrap()[0].resolved_at.is_some());

    // The move is real: the operator accepts, the items adopt the new URLs, nothing is new.
    swap(&server, 4, 0, Variant::MovedUrls);
    let r = poll(&app, "sample-portal").await;
    assert_eq!(r.held.len(), 11);
    assert!(app.store.accept_flood("sample-portal").await.unwrap());
    let r = poll(&app, "sample-portal").await;
    assert!(r.held.is_empty(), "{:?}", r.held);
    assert!(r.new.is_empty(), "{:?}", r.new);
    assert_eq!(r.updated.len(), 44, "every moved article adopts its new URL");
    assert_eq!(app.store.items(None, 10_000).await.unwrap().len(), count);
    let state = app.store.source_state("sample-portal").await.unwrap().unwrap();
    assert!(!state.accept_flood, "acceptance is used once");
}

#[tokio::test]
async fn pruning_removes_items_past_the_retention_and_bumps_the_feed_version() {
    let (server, env) = setup().await;
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    let all = app.store.items(None, 10_000).await.unwrap().len();
    let v0 = app.store.feed_version().await.unwrap();
    // Everything was seen just now: nothing is pruned, even with a cutoff in the future.
    let future = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(
        app.store
            .prune(chrono::Utc::now() - chrono::Duration::days(1))
            .await
            .unwrap(),
        0
    );
    drop(server);
    let pruned = app.store.prune(future).await.unwrap();
    assert_eq!(pruned as usize, all);
    assert!(app.store.items(None, 10).await.unwrap().is_empty());
    assert!(app.store.feed_version().await.unwrap() > v0);
}

//! Polls: items new, edited and touched, identity keys, validators, input and source state,
//! alerts, the feed version and pruning.

use std::sync::Arc;

use tidings::source::fetch::Validators;
use tidings::store::{InputState, PollCommit, Store, Touch};

use super::{article, at, beijing, commit, on_both_backends, stored, write};

on_both_backends!(
    a_poll_stores_new_items_and_reports_edits_but_not_unchanged_ones,
    every_article_field_reads_back_as_written,
    touches_refresh_the_listing_and_attach_new_keys,
    titles_on_a_day_find_the_first_stored_item,
    validators_inputs_and_alerts_are_written_with_the_poll,
    source_state_counts_failures_until_a_poll_succeeds,
    a_held_source_can_be_accepted_once,
    feed_version_moves_on_insert_edit_and_prune_only,
    prune_keeps_items_still_listed_or_recently_updated,
);

async fn a_poll_stores_new_items_and_reports_edits_but_not_unchanged_ones(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let out = commit(
        s,
        "src",
        at(0),
        vec![
            write("b", article("乙", None, &["x"], Some(1))),
            write("a", article("甲", None, &["x", "y"], Some(2))),
        ],
    )
    .await;
    assert_eq!(out.new, ["b", "a"], "in write order");
    assert!(out.updated.is_empty());

    // Same content, new comment count: not an edit. Edited title: an edit.
    let mut same = article("乙", None, &["x"], Some(1));
    same.comments = Some(7);
    let out = commit(
        s,
        "src",
        at(10),
        vec![
            write("b", same),
            write("a", article("甲（更新）", None, &["z"], Some(2))),
        ],
    )
    .await;
    assert!(out.new.is_empty(), "{out:?}");
    assert_eq!(out.updated, ["a"]);

    let a = s.item("a").await.unwrap().expect("a");
    assert_eq!(a.article.title, "甲（更新）");
    assert_eq!(a.article.tags, ["z"]);
    assert_eq!((a.created, a.updated), (stored(at(0)), stored(at(10))));
    let b = s.item("b").await.unwrap().expect("b");
    assert_eq!(b.article.comments, Some(7), "comments follow the page");
    assert_eq!(b.updated, stored(at(0)), "not edited");
    // The edit replaced the item's tags (x, y → z).
    let tags: Vec<(String, i64)> = s
        .tag_facets()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.key, f.count))
        .collect();
    assert_eq!(tags, [("x".to_owned(), 1), ("z".to_owned(), 1)]);

    let known = s
        .known("src", &["key:a".into(), "key:b".into(), "key:none".into()])
        .await
        .unwrap();
    assert_eq!(known.len(), 2);
    let ka = &known["key:a"];
    assert_eq!(ka.item_id, "a");
    assert_eq!(ka.listing_hash.as_deref(), Some("listing:a"));
    assert_eq!(ka.content_hash, a.article.content_hash());
    assert_eq!(ka.fetched_at, stored(at(10)));
    assert!(
        s.known("other", &["key:a".into()]).await.unwrap().is_empty(),
        "keys are per source"
    );
    assert!(s.known("src", &[]).await.unwrap().is_empty());
    assert!(s.item("none").await.unwrap().is_none());
}

async fn every_article_field_reads_back_as_written(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut a = article(
        "标题 <b>&amp;</b> \"引号\" 'x'",
        Some(("jinzhong", "晋中")),
        &["高质量", "R&D", "<新>"],
        None,
    );
    a.published = Some(beijing(5) + chrono::Duration::nanoseconds(987_654_321));
    a.guid = Some("guid-1".into());
    a.author = Some("记者 王某".into());
    a.summary = Some("摘要\n第二行".into());
    a.body_html = Some("<p>正文 😀</p>".into());
    a.images = vec![
        "https://img.example.cn/1.jpg".into(),
        "https://img.example.cn/2.jpg".into(),
    ];
    a.comments = Some(u32::MAX);
    if let Some(r) = a.region.as_mut() {
        r.known = false;
    }
    let mut w = write("full", a.clone());
    w.keys = vec!["url:1".into(), "guid:1".into()];
    commit(s, "src", at(0), vec![w]).await;
    let item = s.item("full").await.unwrap().expect("stored");
    assert_eq!(
        item.article, a,
        "every field, the publish time with its offset and nanoseconds"
    );
    assert_eq!(
        item.article.published.unwrap().offset().local_minus_utc(),
        8 * 3600
    );
    assert_eq!(item.source, "src");
    assert_eq!(item.created, stored(at(0)));
    assert_eq!(item.created, item.updated);
    assert_eq!(
        s.known("src", &["guid:1".into()]).await.unwrap()["guid:1"].item_id,
        "full"
    );

    // No region, no publish time, empty lists.
    let bare = article("bare", None, &[], None);
    commit(s, "src", at(1), vec![write("bare", bare.clone())]).await;
    assert_eq!(s.item("bare").await.unwrap().unwrap().article, bare);
}

async fn touches_refresh_the_listing_and_attach_new_keys(store: Arc<dyn Store>) {
    let s = store.as_ref();
    commit(
        s,
        "src",
        at(0),
        vec![write("a", article("a", None, &[], Some(0)))],
    )
    .await;
    let version = s.feed_version().await.unwrap();
    let out = s
        .commit_poll(PollCommit {
            source: "src".into(),
            now: at(5),
            touches: vec![Touch {
                item_id: "a".into(),
                keys: vec!["key:moved".into()],
                listing_hash: Some("listing:new".into()),
            }],
            ..PollCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(out, Default::default());
    assert_eq!(
        s.feed_version().await.unwrap(),
        version,
        "a touch changes no feed"
    );
    let known = s
        .known("src", &["key:a".into(), "key:moved".into()])
        .await
        .unwrap();
    assert_eq!(known["key:moved"].item_id, "a");
    assert_eq!(known["key:a"].listing_hash.as_deref(), Some("listing:new"));
    assert_eq!(known["key:a"].fetched_at, stored(at(0)), "not fetched");
    let item = s.item("a").await.unwrap().unwrap();
    assert_eq!(item.updated, stored(at(0)));
}

async fn titles_on_a_day_find_the_first_stored_item(store: Arc<dyn Store>) {
    let s = store.as_ref();
    commit(
        s,
        "src",
        at(0),
        vec![
            write("z-later", article("同题", None, &[], Some(60))),
            write("a-first", article("同题", None, &[], Some(30))),
            write("other-day", article("同题", None, &[], Some(24 * 60))),
            write("no-date", article("无日期", None, &[], None)),
        ],
    )
    .await;
    commit(
        s,
        "elsewhere",
        at(0),
        vec![write("e", article("同题", None, &[], Some(0)))],
    )
    .await;
    let day = "2026-11-20".to_owned();
    let pairs = vec![
        ("同题".to_owned(), day.clone()),
        ("同题".to_owned(), "2026-11-21".to_owned()),
        ("无日期".to_owned(), day.clone()),
        ("没有".to_owned(), day.clone()),
    ];
    let found = s.match_title_day("src", &pairs).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[&pairs[0]], "a-first", "the smallest id");
    assert_eq!(found[&pairs[1]], "other-day");
    assert!(s.match_title_day("src", &[]).await.unwrap().is_empty());
}

async fn validators_inputs_and_alerts_are_written_with_the_poll(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert_eq!(
        s.validators("https://a.cn/list").await.unwrap(),
        Validators::default()
    );
    let input = |name: &str, n: i64, degraded: Option<&str>, held: Option<&str>| InputState {
        source: "src".into(),
        input: name.into(),
        last_entries: n,
        degraded: degraded.map(str::to_owned),
        held: held.map(str::to_owned),
    };
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(0),
        validators: vec![(
            "https://a.cn/list".into(),
            Validators {
                etag: Some("\"v1\"".into()),
                last_modified: Some("Fri, 20 Nov 2026 00:00:00 GMT".into()),
            },
        )],
        inputs: vec![
            input("/b", 3, Some("0 entries"), None),
            input("/a", 20, None, None),
        ],
        alerts: vec![
            ("drift".into(), "/b".into(), "列表为空".into()),
            ("flood".into(), "/a".into(), "太多".into()),
        ],
        ..PollCommit::default()
    })
    .await
    .unwrap();
    let v = s.validators("https://a.cn/list").await.unwrap();
    assert_eq!(v.etag.as_deref(), Some("\"v1\""));
    // Validators and inputs are replaced, not added.
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(10),
        validators: vec![(
            "https://a.cn/list".into(),
            Validators {
                etag: None,
                last_modified: Some("x".into()),
            },
        )],
        inputs: vec![input("/b", 5, None, Some("held"))],
        resolved: vec!["drift".into()],
        ..PollCommit::default()
    })
    .await
    .unwrap();
    let v = s.validators("https://a.cn/list").await.unwrap();
    assert_eq!((v.etag, v.last_modified.as_deref()), (None, Some("x")));
    assert_eq!(
        s.input_states("src").await.unwrap(),
        [input("/a", 20, None, None), input("/b", 5, None, Some("held"))],
        "by input name"
    );
    assert!(s.input_states("other").await.unwrap().is_empty());

    let alerts = s.alerts().await.unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["flood", "drift"], "newest first");
    let (flood, drift) = (&alerts[0], &alerts[1]);
    assert!(flood.id > drift.id);
    assert_eq!((flood.source.as_str(), flood.input.as_str()), ("src", "/a"));
    assert_eq!(flood.message, "太多");
    assert_eq!(flood.created_at, stored(at(0)));
    assert_eq!(flood.resolved_at, None);
    assert_eq!(drift.resolved_at, Some(stored(at(10))));
    assert_eq!(drift.announced_at, None);
    assert!(s.mark_alert_announced(drift.id).await.unwrap());
    assert!(!s.mark_alert_announced(drift.id).await.unwrap(), "once");
    assert!(
        !s.mark_alert_announced(drift.id + 1000).await.unwrap(),
        "no such alert"
    );
    assert!(s.alerts().await.unwrap()[1].announced_at.is_some());
}

async fn source_state_counts_failures_until_a_poll_succeeds(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert!(s.source_state("b").await.unwrap().is_none());
    s.record_failure("b", "timeout", at(0)).await.unwrap();
    s.record_failure("b", "HTTP 503", at(1)).await.unwrap();
    let b = s.source_state("b").await.unwrap().expect("recorded");
    assert_eq!(b.consecutive_failures, 2);
    assert_eq!(b.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!((b.last_attempt, b.last_success), (Some(stored(at(1))), None));
    assert!(!b.baseline_done);

    // A poll with an error still counts as one more failure, and ends the baseline.
    s.commit_poll(PollCommit {
        source: "b".into(),
        now: at(2),
        error: Some("1 input failed".into()),
        ..PollCommit::default()
    })
    .await
    .unwrap();
    let b = s.source_state("b").await.unwrap().unwrap();
    assert_eq!(b.consecutive_failures, 3);
    assert_eq!(b.last_error.as_deref(), Some("1 input failed"));
    assert!(b.baseline_done);
    assert_eq!(b.last_success, None);

    commit(s, "b", at(3), vec![write("i", article("i", None, &[], None))]).await;
    s.set_next_poll("b", at(63)).await.unwrap();
    s.set_next_poll("a", at(70)).await.unwrap();
    let b = s.source_state("b").await.unwrap().unwrap();
    assert_eq!(b.consecutive_failures, 0);
    assert_eq!(b.last_error, None);
    assert_eq!(
        (b.last_success, b.last_attempt),
        (Some(stored(at(3))), Some(stored(at(3))))
    );
    assert_eq!(b.next_poll, Some(stored(at(63))));
    assert_eq!(b.items, 1);
    let all = s.source_states().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!((all[0].items, all[0].next_poll), (0, Some(stored(at(70)))));
    assert!(!all[0].baseline_done);
}

async fn a_held_source_can_be_accepted_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert!(!s.accept_flood("src").await.unwrap(), "nothing held");
    let held = |held: Option<&str>| InputState {
        source: "src".into(),
        input: "/list".into(),
        last_entries: 90,
        degraded: None,
        held: held.map(str::to_owned),
    };
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(0),
        inputs: vec![held(Some("90 new entries"))],
        ..PollCommit::default()
    })
    .await
    .unwrap();
    assert!(!s.source_state("src").await.unwrap().unwrap().accept_flood);
    assert!(s.accept_flood("src").await.unwrap());
    assert!(s.source_state("src").await.unwrap().unwrap().accept_flood);
    // A poll that did not consume it keeps it; one that did clears it.
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(1),
        ..PollCommit::default()
    })
    .await
    .unwrap();
    assert!(s.source_state("src").await.unwrap().unwrap().accept_flood);
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(2),
        inputs: vec![held(None)],
        consumed_accept: true,
        ..PollCommit::default()
    })
    .await
    .unwrap();
    assert!(!s.source_state("src").await.unwrap().unwrap().accept_flood);
    assert!(!s.accept_flood("src").await.unwrap(), "nothing held any more");
}

async fn feed_version_moves_on_insert_edit_and_prune_only(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let v0 = s.feed_version().await.unwrap();
    commit(s, "src", at(0), vec![write("a", article("a", None, &[], None))]).await;
    let v1 = s.feed_version().await.unwrap();
    assert_ne!(v1, v0, "insert");
    commit(s, "src", at(1), vec![write("a", article("a", None, &[], None))]).await;
    assert_eq!(s.feed_version().await.unwrap(), v1, "unchanged");
    s.record_failure("src", "x", at(2)).await.unwrap();
    assert_eq!(s.prune(at(-100)).await.unwrap(), 0);
    assert_eq!(s.feed_version().await.unwrap(), v1, "nothing pruned");
    commit(s, "src", at(3), vec![write("a", article("a2", None, &[], None))]).await;
    let v2 = s.feed_version().await.unwrap();
    assert!(v2 != v1 && v2 != v0, "edit");
    assert_eq!(s.prune(at(100)).await.unwrap(), 1);
    let v3 = s.feed_version().await.unwrap();
    assert!(v3 != v2 && v3 != v1, "prune");
}

async fn prune_keeps_items_still_listed_or_recently_updated(store: Arc<dyn Store>) {
    let s = store.as_ref();
    commit(
        s,
        "src",
        at(0),
        vec![
            write("old", article("old", None, &["t"], None)),
            write("listed", article("listed", None, &["t"], None)),
        ],
    )
    .await;
    commit(
        s,
        "src",
        at(50),
        vec![write("new", article("new", None, &["t"], None))],
    )
    .await;
    s.commit_poll(PollCommit {
        source: "src".into(),
        now: at(60),
        touches: vec![Touch {
            item_id: "listed".into(),
            keys: vec![],
            listing_hash: None,
        }],
        ..PollCommit::default()
    })
    .await
    .unwrap();
    assert_eq!(s.prune(at(0)).await.unwrap(), 0, "strictly before the cutoff");
    assert_eq!(s.prune(at(40)).await.unwrap(), 1);
    assert!(s.item("old").await.unwrap().is_none());
    assert!(s.item("listed").await.unwrap().is_some(), "seen since");
    assert!(s.item("new").await.unwrap().is_some());
    assert!(
        s.known("src", &["key:old".into()]).await.unwrap().is_empty(),
        "its keys went too"
    );
    assert_eq!(s.tag_facets().await.unwrap()[0].count, 2, "and its tags");
    assert_eq!(s.source_state("src").await.unwrap().unwrap().items, 2);
}

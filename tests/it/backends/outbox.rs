//! The outbox: recipients and their topics, deliveries queued with the items, claims with
//! leases, every delivery outcome, digests, bounces, statistics and pruning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tidings::store::{
    ChannelStats, Claimed, DeliveryOutcome, Filters, OutboxStats, RecipientPrefs, Store, Topic,
};

use super::{article, at, commit, on_both_backends, spec, stored, topic, write};

on_both_backends!(
    recipients_are_saved_listed_updated_and_removed,
    preferences_change_only_what_is_given,
    new_pushed_items_are_queued_for_matching_topics_and_digests,
    claims_take_due_deliveries_of_one_kind_oldest_first_up_to_the_limit,
    retries_and_postponements_come_back_when_due,
    finished_deliveries_are_sent_failed_filtered_migrated_or_cancelled,
    three_refusals_in_a_row_suspend_an_address_and_a_sent_mail_resets_the_count,
    old_finished_deliveries_and_expired_links_are_pruned,
    queue_totals_are_kept_per_channel_and_add_up_to_the_whole,
);

const MINUTE: Duration = Duration::from_secs(60);

/// Claims everything due for `kind` at `now`; delivery ids by item id.
async fn claim_all(s: &dyn Store, kind: &str, worker: &str, now_min: i64) -> Vec<Claimed> {
    s.claim_deliveries(kind, worker, at(now_min), 10 * MINUTE, 100)
        .await
        .unwrap()
}

fn by_item(claimed: &[Claimed]) -> HashMap<String, i64> {
    claimed.iter().map(|c| (c.item.id.clone(), c.id)).collect()
}

fn items_of(claimed: &[Claimed]) -> Vec<&str> {
    claimed.iter().map(|c| c.item.id.as_str()).collect()
}

/// Items `prefix1`…`prefixN` tagged `tag`, published at minutes 1…N, committed at 0.
async fn items(s: &dyn Store, prefix: &str, n: i64, tag: &str) {
    let writes = (1..=n)
        .map(|i| {
            write(
                &format!("{prefix}{i}"),
                article(&format!("{prefix} {i}"), None, &[tag], Some(i)),
            )
        })
        .collect();
    commit(s, "src", at(0), writes).await;
}

async fn recipients_are_saved_listed_updated_and_removed(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let topics = vec![topic(Some("jinzhong"), None), topic(None, Some("R&D"))];
    let id99 = s
        .save_recipient(&spec("telegram", "99", topics), at(0))
        .await
        .unwrap();
    let mut threaded = spec("telegram", "100", vec![topic(None, None)]);
    threaded.thread_id = 7;
    let id100_7 = s.save_recipient(&threaded, at(0)).await.unwrap();
    let mail = s
        .save_recipient(&spec("email", "b@example.org", vec![]), at(0))
        .await
        .unwrap();
    let id100 = s
        .save_recipient(&spec("telegram", "100", vec![]), at(0))
        .await
        .unwrap();
    let all = s.recipients().await.unwrap();
    let order: Vec<(i64, &str, i64)> = all
        .iter()
        .map(|r| (r.id, r.address.as_str(), r.thread_id))
        .collect();
    assert_eq!(
        order,
        [
            (mail, "b@example.org", 0),
            (id100, "100", 0),
            (id100_7, "100", 7),
            (id99, "99", 0)
        ],
        "by kind, address (as text), thread"
    );
    let r = s.recipient(id99).await.unwrap().expect("saved");
    assert_eq!(
        r.topics,
        [topic(None, Some("R&D")), topic(Some("jinzhong"), None)],
        "by region then tag, '' (any) first"
    );
    assert_eq!(
        (r.kind.as_str(), r.state.as_str(), r.origin.as_str()),
        ("telegram", "active", "cli")
    );
    assert_eq!((r.tz.as_str(), r.mode.as_str()), ("Asia/Shanghai", "instant"));
    assert_eq!(
        (r.digest_at.clone(), r.digest_weekday.clone(), r.last_digest_at),
        (None, None, None)
    );
    assert_eq!(
        (r.state_reason.clone(), r.filters.clone()),
        (None, Filters::default())
    );
    assert_eq!(r.created_at, stored(at(0)));
    assert_eq!(r.counts, [0; 4]);
    assert!(s.recipient(id99 + 1000).await.unwrap().is_none());

    // Saving again updates in place: same id, topics replaced, filters set (empty → none).
    let mut again = spec("telegram", "99", vec![topic(None, None)]);
    again.origin = "bot".into();
    again.filters = Some(Filters {
        include: Some("rust|晋中".into()),
        exclude: Some(String::new()),
    });
    assert_eq!(s.save_recipient(&again, at(5)).await.unwrap(), id99);
    let r = s.recipient(id99).await.unwrap().unwrap();
    assert_eq!(r.topics, [topic(None, None)]);
    assert_eq!(r.origin, "bot");
    assert_eq!(r.created_at, stored(at(0)), "kept");
    assert_eq!(
        r.filters,
        Filters {
            include: Some("rust|晋中".into()),
            exclude: None
        }
    );
    again.filters = None;
    s.save_recipient(&again, at(6)).await.unwrap();
    assert_eq!(
        s.recipient(id99)
            .await
            .unwrap()
            .unwrap()
            .filters
            .include
            .as_deref(),
        Some("rust|晋中")
    );

    assert!(s.remove_recipient("telegram", "100", 7).await.unwrap());
    assert!(!s.remove_recipient("telegram", "100", 7).await.unwrap());
    assert!(
        !s.remove_recipient("email", "100", 0).await.unwrap(),
        "kind matters"
    );
    assert!(s.remove_recipient_id(mail).await.unwrap());
    assert!(!s.remove_recipient_id(mail).await.unwrap());
    let left: Vec<i64> = s.recipients().await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(left, [id100, id99]);
}

async fn preferences_change_only_what_is_given(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let id = s
        .save_recipient(&spec("telegram", "1", vec![]), at(0))
        .await
        .unwrap();
    let prefs = RecipientPrefs {
        mode: Some("weekly".into()),
        digest_at: Some("07:30".into()),
        digest_weekday: Some("mon".into()),
        tz: None,
    };
    assert!(s.set_recipient_prefs("telegram", "1", 0, &prefs).await.unwrap());
    let tz = RecipientPrefs {
        tz: Some("Europe/Berlin".into()),
        ..RecipientPrefs::default()
    };
    assert!(s.set_recipient_prefs("telegram", "1", 0, &tz).await.unwrap());
    let r = s.recipient(id).await.unwrap().unwrap();
    assert_eq!(
        (
            r.mode.as_str(),
            r.digest_at.as_deref(),
            r.digest_weekday.as_deref(),
            r.tz.as_str()
        ),
        ("weekly", Some("07:30"), Some("mon"), "Europe/Berlin")
    );
    assert!(
        !s.set_recipient_prefs("telegram", "1", 9, &tz).await.unwrap(),
        "no such thread"
    );
    assert!(!s.set_recipient_prefs("telegram", "2", 0, &tz).await.unwrap());
    // Nothing to change still finds the recipient.
    assert!(
        s.set_recipient_prefs("telegram", "1", 0, &RecipientPrefs::default())
            .await
            .unwrap()
    );
}

async fn new_pushed_items_are_queued_for_matching_topics_and_digests(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let save = |kind: &'static str, address: &'static str, topics: Vec<Topic>| {
        let spec = spec(kind, address, topics);
        async move { s.save_recipient(&spec, at(0)).await.unwrap() }
    };
    let any = save("telegram", "1", vec![topic(None, None)]).await;
    let region = save("telegram", "2", vec![topic(Some("jinzhong"), None)]).await;
    let tag = save("telegram", "3", vec![topic(None, Some("R&D"))]).await;
    let both = save("telegram", "4", vec![topic(Some("taiyuan"), Some("R&D"))]).await;
    let none = save("telegram", "5", vec![]).await;
    let digest = save("email", "d@example.org", vec![topic(None, None)]).await;
    let daily = RecipientPrefs {
        mode: Some("daily".into()),
        ..RecipientPrefs::default()
    };
    s.set_recipient_prefs("email", "d@example.org", 0, &daily)
        .await
        .unwrap();

    let mut baseline = write("i3", article("i3", Some(("taiyuan", "太原")), &["R&D"], Some(30)));
    baseline.push = false;
    commit(
        s,
        "src",
        at(0),
        vec![
            write(
                "i1",
                article("i1", Some(("jinzhong", "晋中")), &["R&D"], Some(10)),
            ),
            write("i2", article("i2", Some(("taiyuan", "太原")), &["R&D"], Some(20))),
            baseline,
        ],
    )
    .await;
    // An edit queues nothing more.
    commit(
        s,
        "src",
        at(1),
        vec![write(
            "i1",
            article("i1 更新", Some(("jinzhong", "晋中")), &["R&D"], Some(10)),
        )],
    )
    .await;
    let queued = |id: i64| async move { s.recipient(id).await.unwrap().unwrap().counts[0] };
    assert_eq!(queued(any).await, 2);
    assert_eq!(queued(region).await, 1);
    assert_eq!(queued(tag).await, 2);
    assert_eq!(queued(both).await, 1);
    assert_eq!(queued(none).await, 0);
    assert_eq!(queued(digest).await, 0, "digest recipients get no deliveries");
    let stats = s.outbox_stats(at(0)).await.unwrap();
    assert_eq!(stats.queued, 6);

    let ids = |items: Vec<tidings::domain::Item>| items.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.digest_items(digest).await.unwrap()),
        ["i2", "i1"],
        "newest first"
    );
    assert!(s.digest_items(any).await.unwrap().is_empty());
    s.finish_digest(digest, &["i2".into()], at(60)).await.unwrap();
    assert_eq!(ids(s.digest_items(digest).await.unwrap()), ["i1"]);
    let r = s.recipient(digest).await.unwrap().unwrap();
    assert_eq!(r.last_digest_at, Some(stored(at(60))));
    s.finish_digest(digest, &[], at(61)).await.unwrap();
    assert_eq!(
        s.recipient(digest).await.unwrap().unwrap().last_digest_at,
        Some(stored(at(61))),
        "an empty digest counts as sent"
    );
    assert_eq!(ids(s.digest_items(digest).await.unwrap()), ["i1"]);

    // The digest scheduler's view: only the digest-mode recipient, with its topics.
    let due: Vec<_> = s.digest_recipients(0, 10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), [digest]);
    assert!(
        s.digest_recipients(digest, 10).await.unwrap().is_empty(),
        "pages start after `after`"
    );
    assert!(
        s.digest_recipients(0, 0).await.unwrap().is_empty(),
        "at most `limit`"
    );
    assert_eq!(due[0].topics, s.recipient(digest).await.unwrap().unwrap().topics);
    assert!(!due[0].topics.is_empty());
}

async fn claims_take_due_deliveries_of_one_kind_oldest_first_up_to_the_limit(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let tg = s
        .save_recipient(&spec("telegram", "1", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    s.save_recipient(&spec("email", "a@example.org", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    commit(
        s,
        "src",
        at(0),
        vec![
            write("p30", article("p30", None, &[], Some(30))),
            write("p10", article("p10", None, &[], Some(10))),
            write("p20", article("p20", None, &[], Some(20))),
        ],
    )
    .await;
    assert!(
        s.claim_deliveries("telegram", "w0", at(-1), MINUTE, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let first = s
        .claim_deliveries("telegram", "w1", at(1), MINUTE, 2)
        .await
        .unwrap();
    assert_eq!(
        items_of(&first),
        ["p10", "p20"],
        "oldest item first, up to the limit"
    );
    assert!(first.iter().all(|c| c.attempts == 1 && c.recipient.id == tg));
    assert_eq!(first[0].item.article.title, "p10");
    assert_eq!(first[0].recipient.kind, "telegram");
    let second = s
        .claim_deliveries("telegram", "w2", at(1), MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&second), ["p30"], "the others are leased");
    let mail = s
        .claim_deliveries("email", "w3", at(1), MINUTE, -1)
        .await
        .unwrap();
    assert_eq!(
        items_of(&mail),
        ["p10", "p20", "p30"],
        "per kind; negative limit: all"
    );
    assert!(
        s.claim_deliveries("telegram", "w4", at(1), MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.claim_deliveries("telegram", "w4", at(1), MINUTE, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // A worker that died: its leases end (at `until`, inclusive) and others take over.
    let retaken = s
        .claim_deliveries("telegram", "w5", at(2), MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&retaken), ["p10", "p20", "p30"]);
    assert!(retaken.iter().all(|c| c.attempts == 2));
    assert_eq!(by_item(&retaken)["p10"], by_item(&first)["p10"], "same delivery");
    // The dead worker's late answer is ignored.
    s.finish_delivery(first[0].id, "w1", &DeliveryOutcome::Sent, at(2))
        .await
        .unwrap();
    assert_eq!(s.recipient(tg).await.unwrap().unwrap().counts, [3, 0, 0, 0]);
    s.finish_delivery(first[0].id, "w5", &DeliveryOutcome::Sent, at(2))
        .await
        .unwrap();
    assert_eq!(s.recipient(tg).await.unwrap().unwrap().counts, [2, 1, 0, 0]);
}

async fn retries_and_postponements_come_back_when_due(store: Arc<dyn Store>) {
    let s = store.as_ref();
    s.save_recipient(&spec("telegram", "1", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    items(s, "p", 4, "t").await;
    let first = by_item(
        &s.claim_deliveries("telegram", "w", at(1), MINUTE, 10)
            .await
            .unwrap(),
    );
    let retry = DeliveryOutcome::Retry {
        due: at(30),
        error: "429 Too Many Requests".into(),
    };
    s.finish_delivery(first["p1"], "w", &retry, at(1)).await.unwrap();
    let later = DeliveryOutcome::Postpone { due: None };
    s.finish_delivery(first["p2"], "w", &later, at(1)).await.unwrap();
    let at40 = DeliveryOutcome::Postpone { due: Some(at(40)) };
    s.finish_delivery(first["p3"], "w", &at40, at(1)).await.unwrap();

    let now = s
        .claim_deliveries("telegram", "w2", at(1), MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&now), ["p2"], "postponed without a time: due as before");
    assert_eq!(now[0].attempts, 1, "a postponed claim is not an attempt");
    let at30 = s
        .claim_deliveries("telegram", "w3", at(30), 20 * MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&at30), ["p1", "p2", "p4"]);
    assert_eq!(at30.iter().map(|c| c.attempts).collect::<Vec<_>>(), [2, 2, 2]);
    let at40c = s
        .claim_deliveries("telegram", "w4", at(40), MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&at40c), ["p3"]);
    assert_eq!(at40c[0].attempts, 1);

    let stats = s.outbox_stats(at(40)).await.unwrap();
    assert_eq!(
        stats,
        OutboxStats {
            queued: 4,
            sent: 0,
            failed: 0,
            cancelled: 0,
            retried: 3,
            oldest_queued_secs: Some(40 * 60),
        }
    );
    assert_eq!(
        s.outbox_stats(at(-10)).await.unwrap().oldest_queued_secs,
        Some(0),
        "never negative"
    );
}

async fn finished_deliveries_are_sent_failed_filtered_migrated_or_cancelled(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let r = s
        .save_recipient(&spec("telegram", "100", vec![topic(None, Some("t"))]), at(0))
        .await
        .unwrap();
    let other = s
        .save_recipient(&spec("telegram", "200", vec![topic(None, Some("u"))]), at(0))
        .await
        .unwrap();
    items(s, "p", 8, "t").await;
    items(s, "u", 1, "u").await;
    let claimed = claim_all(s, "telegram", "w", 1).await;
    assert_eq!(claimed.len(), 9);
    let d = by_item(&claimed);
    let finish = |item: &str, worker: &'static str, outcome: DeliveryOutcome, min: i64| {
        let id = d[item];
        async move { s.finish_delivery(id, worker, &outcome, at(min)).await.unwrap() }
    };
    let counts = || async { s.recipient(r).await.unwrap().unwrap().counts };

    finish("p1", "w", DeliveryOutcome::Sent, 2).await;
    finish("p2", "intruder", DeliveryOutcome::Sent, 2).await;
    assert_eq!(counts().await, [7, 1, 0, 0], "only the claimer finishes");
    let failed = |e: &str| DeliveryOutcome::Failed { error: e.into() };
    finish("p5", "w", failed("400 Bad Request: chat not found"), 2).await;
    finish("p6", "w", failed("400 again"), 3).await;
    finish("p7", "w", DeliveryOutcome::Filtered, 3).await;
    assert_eq!(counts().await, [4, 1, 2, 1]);
    let alerts = s.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "one alert while unresolved: {alerts:?}");
    assert_eq!(
        (alerts[0].source.as_str(), alerts[0].kind.as_str()),
        ("delivery", "delivery")
    );
    assert_eq!(alerts[0].input, "telegram 100");
    assert_eq!(
        alerts[0].message,
        "delivery to telegram 100 failed for good: 400 Bad Request: chat not found"
    );

    // The group became a supergroup: follow it and send again now.
    let migrate = |to: &str| DeliveryOutcome::Migrate { address: to.into() };
    finish("p8", "w", migrate("-100100"), 4).await;
    assert_eq!(s.recipient(r).await.unwrap().unwrap().address, "-100100");
    let again = s
        .claim_deliveries("telegram", "w2", at(4), MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(items_of(&again), ["p8"], "due now, released");
    // A migration onto a chat already subscribed keeps both rows as they are.
    s.finish_delivery(d["p8"], "w2", &migrate("200"), at(5))
        .await
        .unwrap();
    assert_eq!(s.recipient(r).await.unwrap().unwrap().address, "-100100");
    assert_eq!(s.recipient(other).await.unwrap().unwrap().address, "200");
    assert_eq!(
        items_of(&claim_all(s, "telegram", "w3", 5).await),
        ["p8"],
        "still released"
    );

    // Blocked: the recipient is deactivated and all its queued deliveries cancelled, whoever
    // holds them.
    let blocked = DeliveryOutcome::Deactivate {
        reason: "403 Forbidden: bot was blocked by the user".into(),
    };
    finish("p8", "someone", blocked, 6).await;
    let rec = s.recipient(r).await.unwrap().unwrap();
    assert_eq!(rec.state, "inactive");
    assert_eq!(
        rec.state_reason.as_deref(),
        Some("403 Forbidden: bot was blocked by the user")
    );
    assert_eq!(rec.counts, [0, 1, 2, 5]);
    assert_eq!(
        items_of(&claim_all(s, "telegram", "w4", 60).await),
        ["u1"],
        "the other's lease expired"
    );
    // Subscribing again makes it active (the cancelled deliveries stay cancelled).
    s.save_recipient(&spec("telegram", "-100100", vec![topic(None, None)]), at(61))
        .await
        .unwrap();
    let rec = s.recipient(r).await.unwrap().unwrap();
    assert_eq!((rec.state.as_str(), rec.state_reason.clone()), ("active", None));
    let stats = s.outbox_stats(at(61)).await.unwrap();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.cancelled),
        (1, 1, 2, 5)
    );
    assert_eq!(stats.retried, 2, "p8 claimed three times, u1 twice");
}

async fn three_refusals_in_a_row_suspend_an_address_and_a_sent_mail_resets_the_count(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let r = s
        .save_recipient(&spec("email", "a@example.org", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    items(s, "m", 8, "t").await;
    let d = by_item(&claim_all(s, "email", "w", 1).await);
    let bounce = |item: &str| {
        let id = d[item];
        async move {
            let refused = DeliveryOutcome::Bounced {
                error: "550 5.1.1 no such user".into(),
            };
            s.finish_delivery(id, "w", &refused, at(2)).await.unwrap();
            s.recipient(r).await.unwrap().unwrap()
        }
    };
    bounce("m1").await;
    assert_eq!(bounce("m2").await.state, "active");
    s.finish_delivery(d["m3"], "w", &DeliveryOutcome::Sent, at(2))
        .await
        .unwrap();
    bounce("m4").await;
    assert_eq!(
        bounce("m5").await.state,
        "active",
        "the sent mail reset the count"
    );
    assert!(s.alerts().await.unwrap().is_empty());
    let rec = bounce("m6").await;
    assert_eq!(rec.state, "suspended");
    assert_eq!(
        rec.state_reason.as_deref(),
        Some("mail refused 3 times in a row; last: 550 5.1.1 no such user")
    );
    assert_eq!(rec.counts, [0, 1, 5, 2], "m7 and m8 cancelled");
    let alerts = s.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].input, "email a@example.org");
    assert!(claim_all(s, "email", "w2", 60).await.is_empty());
}

async fn old_finished_deliveries_and_expired_links_are_pruned(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert_eq!(s.outbox_stats(at(0)).await.unwrap(), OutboxStats::default());
    s.save_recipient(&spec("telegram", "1", vec![topic(None, None)]), at(0))
        .await
        .unwrap();
    items(s, "q", 4, "t").await;
    let d = by_item(&claim_all(s, "telegram", "w", 1).await);
    s.finish_delivery(d["q1"], "w", &DeliveryOutcome::Sent, at(2))
        .await
        .unwrap();
    s.finish_delivery(d["q2"], "w", &DeliveryOutcome::Filtered, at(2))
        .await
        .unwrap();
    let failed = DeliveryOutcome::Failed { error: "x".into() };
    s.finish_delivery(d["q3"], "w", &failed, at(2)).await.unwrap();
    for (hash, expires) in [("h1", 2), ("h2", 100)] {
        s.create_confirmation(&tidings::store::NewConfirmation {
            token_hash: hash.into(),
            request: tidings::store::SubscriptionRequest {
                address: "x@example.org".into(),
                ..Default::default()
            },
            created_at: at(0),
            expires_at: at(expires),
        })
        .await
        .unwrap();
    }
    assert_eq!(
        s.prune_deliveries(at(1)).await.unwrap(),
        1,
        "the cancelled one (by creation)"
    );
    assert_eq!(s.confirmations_since("x@example.org", at(0)).await.unwrap(), 2);
    assert_eq!(
        s.prune_deliveries(at(3)).await.unwrap(),
        1,
        "the sent one (by sending)"
    );
    assert_eq!(
        s.confirmations_since("x@example.org", at(0)).await.unwrap(),
        1,
        "h1 expired"
    );
    let stats = s.outbox_stats(at(3)).await.unwrap();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.cancelled),
        (1, 0, 1, 0)
    );
    assert_eq!(
        s.prune_deliveries(at(1000)).await.unwrap(),
        0,
        "failed and queued stay"
    );
}

async fn queue_totals_are_kept_per_channel_and_add_up_to_the_whole(store: Arc<dyn Store>) {
    let s = store.as_ref();
    for (kind, address, t) in [
        ("telegram", "1", topic(None, None)),
        ("telegram", "2", topic(None, Some("t"))),
        ("email", "a@example.org", topic(None, Some("t"))),
    ] {
        s.save_recipient(&spec(kind, address, vec![t]), at(0))
            .await
            .unwrap();
    }
    assert!(
        s.outbox_channel_stats(at(0)).await.unwrap().is_empty(),
        "recipients without deliveries list no channel"
    );
    items(s, "c", 3, "t").await;
    // Delivery ids by (address, item).
    let mut d = HashMap::new();
    for kind in ["telegram", "email"] {
        for c in claim_all(s, kind, "w", 1).await {
            d.insert((c.recipient.address.clone(), c.item.id.clone()), c.id);
        }
    }
    assert_eq!(d.len(), 9);
    let finish = |address: &str, item: &str, outcome: DeliveryOutcome| {
        let id = d[&(address.to_owned(), item.to_owned())];
        async move { s.finish_delivery(id, "w", &outcome, at(2)).await.unwrap() }
    };
    finish("1", "c1", DeliveryOutcome::Sent).await;
    finish("1", "c2", DeliveryOutcome::Failed { error: "400".into() }).await;
    finish("1", "c3", DeliveryOutcome::Filtered).await;
    let retry = DeliveryOutcome::Retry {
        due: at(3),
        error: "429".into(),
    };
    finish("2", "c1", retry).await;
    finish("a@example.org", "c1", DeliveryOutcome::Sent).await;
    let refused = DeliveryOutcome::Bounced {
        error: "550 no such user".into(),
    };
    finish("a@example.org", "c2", refused).await;
    finish("a@example.org", "c3", DeliveryOutcome::Postpone { due: None }).await;
    // The retried one comes back for a second attempt (c2 and c3 of chat 2 are still held).
    assert_eq!(items_of(&claim_all(s, "telegram", "w2", 3).await), ["c1"]);

    let per_channel = s.outbox_channel_stats(at(10)).await.unwrap();
    assert_eq!(
        per_channel,
        [
            ChannelStats {
                channel: "email".into(),
                stats: OutboxStats {
                    queued: 1,
                    sent: 1,
                    failed: 1,
                    cancelled: 0,
                    retried: 0,
                    oldest_queued_secs: Some(10 * 60),
                },
            },
            ChannelStats {
                channel: "telegram".into(),
                stats: OutboxStats {
                    queued: 3,
                    sent: 1,
                    failed: 1,
                    cancelled: 1,
                    retried: 1,
                    oldest_queued_secs: Some(10 * 60),
                },
            },
        ],
        "by channel name"
    );
    let whole = s.outbox_stats(at(10)).await.unwrap();
    let sum = |f: fn(&OutboxStats) -> i64| per_channel.iter().map(|c| f(&c.stats)).sum::<i64>();
    assert_eq!(
        (sum(|q| q.queued), sum(|q| q.sent), sum(|q| q.failed)),
        (whole.queued, whole.sent, whole.failed)
    );
    assert_eq!(
        (sum(|q| q.cancelled), sum(|q| q.retried)),
        (whole.cancelled, whole.retried)
    );

    // A channel with nothing queued has no oldest age.
    assert_eq!(
        items_of(&claim_all(s, "email", "w", 4).await),
        ["c3"],
        "postponed: due again"
    );
    finish("a@example.org", "c3", DeliveryOutcome::Sent).await;
    let email = s.outbox_channel_stats(at(10)).await.unwrap().remove(0);
    assert_eq!(email.channel, "email");
    assert_eq!((email.stats.queued, email.stats.sent), (0, 2));
    assert_eq!(email.stats.oldest_queued_secs, None);
}

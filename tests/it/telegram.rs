//! Telegram delivery against a fake Bot API: one message per (item, chat), in publish
//! order, only to matching chats; 429 `retry_after` honoured; 403 deactivates the chat.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tidings::app::App;
use tidings::portal::{PortalServer, Variant};

use crate::fake_bot::{FakeBot, Scripted};
use crate::helpers::{FAST_FETCH, TestDir, poll, portal, shipped, source_override, swap};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";
const CHANNEL: i64 = -1_001_234_567_890;

/// Correctness tests relax the fake's flood limits (and ours) to stay fast.
async fn setup(bot: &FakeBot) -> (PortalServer, TestDir, App) {
    bot.enforce_limits(false);
    let server = portal(3, 0, Variant::Standard).await;
    let config = format!(
        "{FAST_FETCH}{}[telegram]\napi_url = \"{}\"\nper_chat = \"10ms\"\ngroup_per_minute = 1000\n\
         [[telegram.channels]]\nchat_id = {CHANNEL}\ntopics = [\"晋中+高质量\", \"tag:5G\"]\n",
        source_override("sample-portal", &server.base_url()),
        bot.api_url()
    );
    let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
    let app = env.app_with_env(&[("TIDINGS_TELEGRAM_TOKEN", TOKEN)]).await;
    (server, env, app)
}

/// Polls the baseline, moves the portal to epoch 1 and polls again: the new 晋中 items.
async fn new_jinzhong_items(app: &App, server: &PortalServer) -> Vec<tidings::domain::Item> {
    poll(app, "sample-portal").await;
    swap(server, 3, 1, Variant::Standard);
    let report = poll(app, "sample-portal").await;
    let items = app.store.items(None, 10_000).await.unwrap();
    items
        .into_iter()
        .filter(|i| {
            report.new.contains(&i.id) && i.article.region.as_ref().is_some_and(|r| r.slug == "jinzhong")
        })
        .collect()
}

/// The article URL a message links in its title.
fn linked_url(text: &str) -> String {
    let start = text.find("href=\"").expect("a link") + 6;
    let end = text[start..].find('"').unwrap() + start;
    text[start..end].replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_sends_each_new_item_once_to_each_matching_chat_in_publish_order() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, _env, app) = setup(&bot).await;
    app.subscribe_telegram(111, None, &["晋中".into()], &["高质量".into()], &[], None)
        .await
        .unwrap();
    app.subscribe_telegram(222, None, &["太原".into()], &[], &[], None)
        .await
        .unwrap();
    app.subscribe_telegram(333, None, &[], &[], &["tag:不存在的标签".into()], None)
        .await
        .unwrap();

    let baseline = poll(&app, "sample-portal").await;
    assert!(baseline.baseline);
    let outbox = app.outbox().unwrap();
    assert_eq!(
        outbox.deliver_due().await.unwrap().sent,
        0,
        "the baseline pushes nothing"
    );

    swap(&server, 3, 1, Variant::Standard);
    let report = poll(&app, "sample-portal").await;
    assert!(!report.new.is_empty());
    let delivered = outbox.deliver_due().await.unwrap();
    let items = app.store.items(None, 10_000).await.unwrap();
    let new: Vec<_> = items.iter().filter(|i| report.new.contains(&i.id)).collect();

    // Expected (chat → item URLs) from the items' regions and tags.
    let mut want: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for i in &new {
        let region = i.article.region.as_ref().map(|r| r.slug.as_str());
        let has = |t: &str| i.article.tags.iter().any(|x| x == t);
        let url = i.article.url.clone();
        if region == Some("jinzhong") || has("高质量") {
            want.entry(111).or_default().insert(url.clone());
        }
        if region == Some("taiyuan") {
            want.entry(222).or_default().insert(url.clone());
        }
        if (region == Some("jinzhong") && has("高质量")) || has("5G") {
            want.entry(CHANNEL).or_default().insert(url.clone());
        }
    }
    let sent = bot.sent();
    let mut got: HashMap<i64, Vec<String>> = HashMap::new();
    for m in &sent {
        got.entry(m.chat_id).or_default().push(linked_url(&m.text));
    }
    let total: usize = want.values().map(BTreeSet::len).sum();
    assert!(total > 0, "the epoch should add matching items");
    assert_eq!(delivered.sent, total);
    assert_eq!(sent.len(), total, "one message per (item, chat)");
    for (chat, urls) in &got {
        let set: BTreeSet<String> = urls.iter().cloned().collect();
        assert_eq!(set.len(), urls.len(), "chat {chat} got an item twice");
        assert_eq!(Some(&set), want.get(chat), "chat {chat}");
        // Publish order within the chat.
        let published: Vec<_> = urls
            .iter()
            .map(|u| {
                new.iter()
                    .find(|i| &i.article.url == u)
                    .unwrap()
                    .article
                    .published
            })
            .collect();
        assert!(
            published.windows(2).all(|w| w[0] <= w[1]),
            "chat {chat} out of order"
        );
    }
    assert!(!got.contains_key(&333));
    assert!(sent.iter().all(|m| m.parse_mode.as_deref() == Some("HTML")));

    // Edited items are never pushed again; nothing is left to send.
    swap(&server, 3, 2, Variant::Standard);
    let third = poll(&app, "sample-portal").await;
    assert!(!third.updated.is_empty());
    outbox.deliver_due().await.unwrap();
    let pairs: BTreeSet<(i64, String)> = bot
        .sent()
        .iter()
        .map(|m| (m.chat_id, linked_url(&m.text)))
        .collect();
    assert_eq!(
        pairs.len(),
        bot.sent().len(),
        "no (item, chat) twice across polls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_obeyed_and_a_blocked_chat_is_deactivated() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, _env, app) = setup(&bot).await;
    app.subscribe_telegram(111, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    app.subscribe_telegram(444, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    let jinzhong_new = new_jinzhong_items(&app, &server).await.len();
    assert!(jinzhong_new >= 1);

    bot.fail_next(111, Scripted::RetryAfter(2));
    bot.fail_next(444, Scripted::Forbidden);
    let outbox = app.outbox().unwrap();
    let started = Instant::now();
    let mut sent_111 = 0;
    while sent_111 < jinzhong_new && started.elapsed() < Duration::from_secs(10) {
        outbox.deliver_due().await.unwrap();
        sent_111 = bot.sent().iter().filter(|m| m.chat_id == 111).count();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sent_111, jinzhong_new,
        "every item reaches the chat once after the pause"
    );
    let calls_111: Vec<Instant> = bot
        .calls()
        .iter()
        .filter(|c| c.chat_id == Some(111))
        .map(|c| c.at)
        .collect();
    assert!(calls_111.len() >= 2);
    assert!(
        calls_111[1] - calls_111[0] >= Duration::from_secs(2),
        "no request before retry_after passed"
    );

    // 444 blocked the bot: deactivated after one attempt, its queue cancelled.
    assert_eq!(bot.calls().iter().filter(|c| c.chat_id == Some(444)).count(), 1);
    let r = app
        .store
        .recipients()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.address == "444")
        .unwrap();
    assert_eq!(r.state, "inactive");
    assert_eq!(r.counts[0], 0, "nothing left queued");
    assert_eq!(r.counts[3] as usize, jinzhong_new, "its deliveries are cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_show_the_delivery_queue() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, _env, app) = setup(&bot).await;
    app.subscribe_telegram(111, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    poll(&app, "sample-portal").await;
    swap(&server, 3, 1, Variant::Standard);
    poll(&app, "sample-portal").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = tidings::serve::router(app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    crate::helpers::tls();
    let queued = app.store.outbox_stats(chrono::Utc::now()).await.unwrap().queued;
    assert!(queued > 0);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "tidings_deliveries{{channel=\"telegram\",state=\"queued\"}} {queued}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("tidings_source_items{source=\"sample-portal\"}"),
        "{metrics}"
    );

    app.outbox().unwrap().deliver_due().await.unwrap();
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "tidings_deliveries{{channel=\"telegram\",state=\"sent\"}} {queued}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("tidings_deliveries{channel=\"telegram\",state=\"queued\"} 0"),
        "{metrics}"
    );
    let status = reqwest::get(format!("{base}/status.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["queue"]["sent"], queued);
    assert_eq!(status["channels"][0]["channel"], "telegram");
    assert_eq!(status["channels"][0]["sent"], queued);
    assert_eq!(status["channels"][0]["queued"], 0);

    // Sent deliveries are pruned after their retention; nothing queued is touched.
    let now = chrono::Utc::now();
    assert_eq!(
        app.store
            .prune_deliveries(now - chrono::Duration::days(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.store
            .prune_deliveries(now + chrono::Duration::seconds(1))
            .await
            .unwrap() as i64,
        queued
    );
    assert_eq!(app.store.outbox_stats(now).await.unwrap().sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_chat_gets_one_message_of_linked_titles_when_due_and_nothing_instantly() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, env, app) = setup(&bot).await;
    app.subscribe_telegram(555, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    let daily_0730 = tidings::store::RecipientPrefs {
        mode: Some("daily".into()),
        digest_at: Some("07:30".into()),
        ..Default::default()
    };
    let prefs = app.store.set_recipient_prefs("telegram", "555", 0, &daily_0730);
    assert!(prefs.await.unwrap());
    let want: BTreeSet<String> = new_jinzhong_items(&app, &server)
        .await
        .into_iter()
        .map(|i| i.article.url)
        .collect();
    assert!(!want.is_empty());

    let outbox = app.outbox().unwrap();
    outbox.deliver_due().await.unwrap();
    assert_eq!(
        outbox.send_digests().await.unwrap(),
        0,
        "not due: the chat was added after today's 07:30"
    );
    assert!(
        bot.sent().iter().all(|m| m.chat_id != 555),
        "a digest chat gets nothing instantly"
    );

    // Pretend the chat subscribed long ago: the missed digest goes out once.
    env.execute_sql("UPDATE recipients SET created_at = '2020-01-01T00:00:00.000000Z' WHERE address = '555'")
        .await;
    assert_eq!(outbox.send_digests().await.unwrap(), 1);
    let digest: Vec<_> = bot.sent().into_iter().filter(|m| m.chat_id == 555).collect();
    assert_eq!(digest.len(), 1, "one message for a short digest");
    let text = &digest[0].text;
    for url in &want {
        assert!(
            text.contains(&url.replace('&', "&amp;")),
            "digest lacks {url}:\n{text}"
        );
    }
    assert!(text.contains("晋中"), "grouped under the region name:\n{text}");
    assert_eq!(outbox.send_digests().await.unwrap(), 0, "sent once, not again");
    let id = app
        .store
        .recipients()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.address == "555")
        .unwrap()
        .id;
    assert!(
        app.store.digest_items(id).await.unwrap().is_empty(),
        "the digest's items left the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_and_exclude_filters_leave_items_out_and_a_bad_pattern_is_refused() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, _env, app) = setup(&bot).await;
    app.subscribe_telegram(666, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    app.subscribe_telegram(777, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    let new = new_jinzhong_items(&app, &server).await;
    assert!(!new.is_empty());
    let wanted = &new[0].article;
    // 666 wants only that title; 777 wants everything but it.
    let only = tidings::store::Filters {
        include: Some(regex::escape(&wanted.title)),
        exclude: None,
    };
    let but = tidings::store::Filters {
        include: None,
        exclude: Some(regex::escape(&wanted.title)),
    };
    app.subscribe_telegram(666, None, &["晋中".into()], &[], &[], Some(only))
        .await
        .unwrap();
    app.subscribe_telegram(777, None, &["晋中".into()], &[], &[], Some(but))
        .await
        .unwrap();
    let delivered = app.outbox().unwrap().deliver_due().await.unwrap();
    assert_eq!(
        delivered.filtered,
        new.len(),
        "each item is left out for exactly one of the two chats"
    );
    let to = |chat| {
        bot.sent()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| linked_url(&m.text))
            .collect::<Vec<_>>()
    };
    assert_eq!(to(666), std::slice::from_ref(&wanted.url));
    assert_eq!(to(777).len(), new.len() - 1);
    assert!(!to(777).contains(&wanted.url));

    let bad = tidings::store::Filters {
        include: Some("(unclosed".into()),
        exclude: None,
    };
    let err = app
        .subscribe_telegram(666, None, &["晋中".into()], &[], &[], Some(bad))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("include filter `(unclosed`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsendable_message_fails_visibly_once_with_one_operator_alert_and_never_blocks_the_chat() {
    let bot = FakeBot::start(TOKEN).await;
    let (server, _env, app) = setup(&bot).await;
    app.subscribe_telegram(888, None, &["晋中".into()], &[], &[], None)
        .await
        .unwrap();
    poll(&app, "sample-portal").await;
    swap(&server, 3, 1, Variant::Standard);
    poll(&app, "sample-portal").await;
    let queued = app
        .store
        .recipients()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.address == "888")
        .unwrap()
        .counts[0];
    assert!(queued >= 2, "needs two items for the chat");
    // The first message is refused as HTML and again as plain text: dead-lettered.
    bot.fail_next(888, Scripted::CantParse);
    bot.fail_next(888, Scripted::CantParse);
    let report = app.outbox().unwrap().deliver_due().await.unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(
        report.sent as i64,
        queued - 1,
        "the rest of the chat's queue still goes out"
    );
    let r = app
        .store
        .recipients()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.address == "888")
        .unwrap();
    assert_eq!((r.counts[1], r.counts[2]), (queued - 1, 1));
    let alerts: Vec<_> = app
        .store
        .alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "delivery")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].message.contains("telegram 888"),
        "{}",
        alerts[0].message
    );
}

//! `tidings run` killed with SIGKILL mid-fan-out, five times.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use tidings::portal::Variant;

use super::{TOKEN, linked_url, spawn_daemon, stop_when_drained, subscribe_to_every_region, wait_until};
use crate::fake_bot::FakeBot;
use crate::helpers::{FAST_FETCH, Lcg, TestDir, portal, shipped, source_override};

/// `tidings run` fans ~250 items out to 20 chats (about 5,000 messages) and is killed with
/// SIGKILL five times at seeded-random points, then restarted each time. Every (item, chat)
/// pair arrives; a pair arrives twice only when its first copy was the last message
/// accepted before a kill (sent, but not yet recorded as sent), so at most once per kill.
/// `TIDINGS_CRASH_SEED` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_fan_out_loses_nothing_and_repeats_only_the_message_in_flight() {
    let mut rng = Lcg::from_env("crash safety");

    let bot = FakeBot::start(TOKEN).await;
    bot.enforce_limits(false);
    let server = portal(18, 0, Variant::Standard).await;
    let config = format!(
        "{FAST_FETCH}{}[poll]\nbaseline_push = true\njitter = \"0s\"\n\
         [telegram]\napi_url = \"{}\"\nper_chat = \"1ms\"\nglobal_per_second = 10000\n\
         group_per_minute = 100000\nlease = \"2s\"\n",
        source_override("sample-portal", &server.base_url()),
        bot.api_url()
    );
    let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
    let app = env.app().await;
    let chats: Vec<i64> = (1..=20).map(|i| 7_000 + i).collect();
    subscribe_to_every_region(&app, &chats).await;
    let log = env.dir.path().join("daemon.log");

    // Expected: every item with one of the regions, to every chat. Known once the first
    // daemon has polled; the first kill comes after that.
    let mut kills: Vec<usize> = Vec::new();
    for round in 1..=5 {
        let mut child = spawn_daemon(&env.config_path(), &log, "warn");
        let target = bot.sent_count() + rng.between(50, 600);
        let what = format!("{target} accepted messages (round {round})");
        wait_until(&mut child, &log, Duration::from_secs(60), &what, || {
            bot.sent_count() >= target
        })
        .await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        // A request the child had fully written may still be answered after it died.
        tokio::time::sleep(Duration::from_millis(50)).await;
        kills.push(bot.sent_count());
    }

    let items = app.store.items(None, 100_000).await.unwrap();
    let urls: HashMap<&str, &str> = items
        .iter()
        .filter(|i| i.article.region.as_ref().is_some_and(|r| r.known))
        .map(|i| (i.article.url.as_str(), i.id.as_str()))
        .collect();
    let expected = urls.len() * chats.len();
    assert!(urls.len() >= 200, "only {} items with a region", urls.len());
    let pairs = || -> HashMap<(i64, String), Vec<usize>> {
        let mut seen: HashMap<(i64, String), Vec<usize>> = HashMap::new();
        for (index, m) in bot.sent().iter().enumerate() {
            seen.entry((m.chat_id, linked_url(&m.text)))
                .or_default()
                .push(index);
        }
        seen
    };
    let mut child = spawn_daemon(&env.config_path(), &log, "warn");
    wait_until(&mut child, &log, Duration::from_secs(90), "every pair", || {
        pairs().len() >= expected
    })
    .await;
    // Let the last claims finish and be recorded, then stop cleanly.
    stop_when_drained(&app, child).await;

    let seen = pairs();
    let accepted = bot.sent_count();
    for ((chat, url), at) in &seen {
        assert!(
            chats.contains(chat) && urls.contains_key(url.as_str()),
            "unexpected {chat} {url}"
        );
        if at.len() > 1 {
            assert_eq!(at.len(), 2, "{chat} {url} arrived {} times", at.len());
            assert!(
                kills.contains(&(at[0] + 1)),
                "{chat} {url}: first copy #{} was not the last before a kill ({kills:?})",
                at[0]
            );
        }
    }
    assert_eq!(seen.len(), expected, "every (item, chat) pair arrived");
    let duplicates = accepted - seen.len();
    eprintln!(
        "crash safety: {} items × {} chats = {expected} pairs; {accepted} messages accepted, \
         {duplicates} duplicates after {} kills at {kills:?}",
        urls.len(),
        chats.len(),
        kills.len()
    );
    assert!(
        duplicates <= kills.len(),
        "{duplicates} duplicates for {} kills",
        kills.len()
    );
    let stats = app.store.outbox_stats(Utc::now()).await.unwrap();
    assert_eq!((stats.sent, stats.failed), (expected as i64, 0));
}

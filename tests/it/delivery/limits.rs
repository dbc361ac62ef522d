//! Telegram's real flood limits, measured from the fake's own clock.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tidings::store::ItemWrite;

use super::{TOKEN, article, commit, linked_url};
use crate::fake_bot::{Call, ChatKind, FakeBot};
use crate::helpers::TestDir;

/// Tolerance on measured gaps: the fake stamps a request when it arrives, a little after
/// our limiter let it go.
const TOLERANCE: Duration = Duration::from_millis(10);

/// `sendMessage` calls by chat, in arrival order.
fn sends_by_chat(calls: &[Call]) -> BTreeMap<i64, Vec<&Call>> {
    let mut by_chat: BTreeMap<i64, Vec<&Call>> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.method == "sendMessage") {
        by_chat.entry(c.chat_id.unwrap_or_default()).or_default().push(c);
    }
    by_chat
}

/// The most messages found in any window `[t, t + window)` of `times` (sorted).
fn max_in_window(times: &[Instant], window: Duration) -> usize {
    (0..times.len())
        .map(|i| times[i..].iter().take_while(|t| **t - times[i] < window).count())
        .max()
        .unwrap_or(0)
}

/// 24 items: 12 of Taiyuan first (published earlier), then 12 of Jinzhong. Three private
/// chats follow Jinzhong (12 messages each), a group follows both (24): 60 messages under
/// the default limits (1/s per chat, 20 per minute per group, 30/s overall). The group needs
/// a minute for its last four, so this test takes about 65 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_flood_limits_hold_for_three_private_chats_and_a_group_over_a_minute() {
    const GROUP: i64 = -4_001_234;
    let bot = FakeBot::start(TOKEN).await;
    bot.set_chat_kind(GROUP, ChatKind::Group);
    let env = TestDir::new(&format!("[telegram]\napi_url = \"{}\"\n", bot.api_url()), &[]);
    let app = env.app_with_env(&[("TIDINGS_TELEGRAM_TOKEN", TOKEN)]).await;
    assert_eq!(
        app.config.telegram.limits,
        tidings::notify::flood::Limits::default()
    );
    let private = [301, 302, 303];
    for chat in private {
        app.subscribe_telegram(chat, None, &["晋中".into()], &[], &[], None)
            .await
            .unwrap();
    }
    app.subscribe_telegram(GROUP, None, &["晋中".into(), "太原".into()], &[], &[], None)
        .await
        .unwrap();
    let mut writes: Vec<ItemWrite> = (0..12).map(|n| article(n, ("taiyuan", "太原"))).collect();
    writes.extend((12..24).map(|n| article(n, ("jinzhong", "晋中"))));
    commit(&app, writes).await;

    let outbox = app.outbox().unwrap();
    let started = Instant::now();
    while bot.sent().len() < 60 && started.elapsed() < Duration::from_secs(100) {
        outbox.deliver_due().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let calls = bot.calls();
    let refused: Vec<_> = calls.iter().filter(|c| c.status != 200).collect();
    assert!(
        refused.is_empty(),
        "refused sends (429 = a limit broken): {refused:?}"
    );
    let sent = bot.sent();
    assert_eq!(sent.len(), 60, "everything delivered within {took:?}");

    let by_chat = sends_by_chat(&calls);
    for chat in private {
        let times: Vec<Instant> = by_chat[&chat].iter().map(|c| c.at).collect();
        assert_eq!(times.len(), 12, "chat {chat}");
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let min = gaps.iter().min().copied().unwrap_or_default();
        assert!(
            min >= Duration::from_secs(1) - TOLERANCE,
            "chat {chat}: gap of {min:?}"
        );
        // A group pacing itself, or waiting for its per-minute budget, does not hold the
        // private chats up: 12 messages a second apart take 11 s.
        let done = times[11] - started;
        assert!(
            done < Duration::from_secs(15),
            "chat {chat} finished after {done:?}"
        );
    }
    let group: Vec<Instant> = by_chat[&GROUP].iter().map(|c| c.at).collect();
    assert_eq!(group.len(), 24);
    let most = max_in_window(&group, Duration::from_secs(60) - TOLERANCE);
    assert!(most <= 20, "{most} group messages within 60 s");
    assert!(
        group
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_secs(1) - TOLERANCE)
    );
    let overall: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    assert!(max_in_window(&overall, Duration::from_secs(1) - TOLERANCE) <= 30);

    // Each chat got each of its items once, in publish order.
    let mut urls: HashMap<i64, Vec<String>> = HashMap::new();
    for m in &sent {
        urls.entry(m.chat_id).or_default().push(linked_url(&m.text));
    }
    let expect = |region: &str, range: std::ops::Range<u32>| -> Vec<String> {
        range
            .map(|n| format!("https://news.example.cn/{region}/{n}.html"))
            .collect()
    };
    for chat in private {
        assert_eq!(urls[&chat], expect("jinzhong", 12..24), "chat {chat}");
    }
    let mut group_want = expect("taiyuan", 0..12);
    group_want.extend(expect("jinzhong", 12..24));
    assert_eq!(urls[&GROUP], group_want);
    eprintln!(
        "real limits: 60 messages in {:.1} s; private chats done after {:.1} s; group's busiest minute {most}",
        took.as_secs_f64(),
        private
            .iter()
            .map(|c| (by_chat[c][11].at - started).as_secs_f64())
            .fold(0.0, f64::max)
    );
}

//! Fan-out through the outbox against the test suite's fake Bot API, with Telegram's real
//! flood limits on both sides (ours from the config defaults, the fake answering 429 to any
//! message that breaks them): 100 items to 50 private chats (5,000 messages), then single
//! items committed to an idle outbox.
//!
//! Prints messages/s achieved (target ≥ 27/s, 90% of the 30/s ceiling), 429s received
//! (target 0), and the time from an item's commit to its first message with an empty queue
//! (target < 1 s).
//!
//! `cargo bench --bench fanout` (about three minutes: 5,000 messages at 30/s)

// The test suite's fake, as is. Cargo compiles it here with `cfg(test)`, so its own unit
// tests come along (never run: no test harness) and want `crate::helpers::tls`.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/fake_bot.rs"]
mod fake_bot;

/// What the fake's unit tests use from the test suite's helpers.
mod helpers {
    /// Installs the rustls provider for HTTP clients.
    pub fn tls() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone, Utc};
use tidings::app::App;
use tidings::config::Config;
use tidings::domain::{Article, RegionRef};
use tidings::store::{ItemWrite, PollCommit};
use tokio_util::sync::CancellationToken;

use fake_bot::FakeBot;

const TOKEN: &str = "5550001234:AAbenchmarkSecretToken_x0123456789ab";
/// Private chats (50 under `cargo bench`; a smoke run of 5 under `cargo test`).
static CHATS: LazyLock<i64> = LazyLock::new(|| if full_run() { 50 } else { 5 });
/// Items (100 under `cargo bench`; 4 under `cargo test`).
static ITEMS: LazyLock<u32> = LazyLock::new(|| if full_run() { 100 } else { 4 });
/// Single-item commits timed against an idle outbox.
static LATENCY_SAMPLES: LazyLock<u32> = LazyLock::new(|| if full_run() { 8 } else { 2 });

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this as a quick smoke test.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn main() {
    helpers::tls();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

/// A new Jinzhong article `n`.
fn article(n: u32) -> ItemWrite {
    let url = format!("https://news.example.cn/jinzhong/{n}.html");
    let published = FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).single())
        .map(|t| t + chrono::Duration::minutes(i64::from(n)));
    ItemWrite {
        id: format!("bench-{n}"),
        keys: vec![url.clone()],
        article: Article {
            url,
            guid: None,
            title: format!("晋中新闻第{n}条：项目建设稳步推进"),
            author: None,
            region: Some(RegionRef {
                slug: "jinzhong".into(),
                name: "晋中".into(),
                known: true,
            }),
            published,
            tags: vec!["高质量".into()],
            summary: Some("摘要".repeat(60)),
            body_html: None,
            images: vec![],
            comments: None,
        },
        listing_hash: None,
        push: true,
    }
}

/// Stores `items` in one transaction, as a poll does; deliveries are queued with them.
async fn commit(app: &App, items: impl Iterator<Item = u32>) {
    let poll = PollCommit {
        source: "bench".into(),
        now: Utc::now(),
        writes: items.map(article).collect(),
        ..PollCommit::default()
    };
    app.store.commit_poll(poll).await.expect("commit");
}

/// Waits until the fake has accepted `count` messages.
async fn until_sent(bot: &FakeBot, count: usize, limit: Duration) {
    let started = Instant::now();
    let mut reported = Instant::now();
    while bot.sent_count() < count {
        assert!(
            started.elapsed() < limit,
            "only {} of {count} messages after {limit:?}",
            bot.sent_count()
        );
        if reported.elapsed() >= Duration::from_secs(30) {
            eprintln!("  … {} of {count} messages", bot.sent_count());
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn bench() {
    let bot = FakeBot::start(TOKEN).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("feeds")).expect("feeds dir");
    let config_path = dir.path().join("config.toml");
    let config = format!(
        "[storage]\nurl = \"sqlite://{}/bench.db\"\n[telegram]\napi_url = \"{}\"\n",
        dir.path().display(),
        bot.api_url()
    );
    std::fs::write(&config_path, config).expect("config");
    let config = Config::load_with_env(&config_path, &|k| {
        (k == "TIDINGS_TELEGRAM_TOKEN").then(|| TOKEN.to_owned())
    })
    .expect("config");
    let limits = config.telegram.limits;
    let app = App::open(config).await.expect("app");
    for chat in 1..=*CHATS {
        app.subscribe_telegram(100_000 + chat, None, &["晋中".into()], &[], &[], None)
            .await
            .expect("subscribe");
    }
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(
        app.outbox()
            .expect("outbox")
            .run(tidings::notify::outbox::Duties::All, shutdown.clone()),
    );

    // The fan-out.
    let (items, chats) = (*ITEMS, *CHATS);
    let total = items as usize * chats as usize;
    eprintln!(
        "fanout: {items} items × {chats} chats = {total} messages, limits {}/s overall, {:?} per chat",
        limits.global_per_second, limits.per_chat
    );
    let started = Instant::now();
    commit(&app, 0..items).await;
    until_sent(&bot, total, Duration::from_secs(900)).await;
    let wall = started.elapsed();
    let sent = bot.sent();
    let span = sent[total - 1].at - sent[0].at;
    let steady = (total - 1) as f64 / span.as_secs_f64();
    let overall = total as f64 / wall.as_secs_f64();

    // Single items into an empty queue, at different phases of the worker's idle wait.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    let mut phase = 0x9e37_79b9_u64;
    let samples = *LATENCY_SAMPLES;
    for n in 0..samples {
        phase = phase.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        tokio::time::sleep(Duration::from_millis(1_000 + (phase >> 33) % 700)).await;
        let before = bot.sent_count();
        commit(&app, std::iter::once(items + n)).await;
        let committed = Instant::now();
        until_sent(&bot, before + 1, Duration::from_secs(30)).await;
        latencies.push(bot.sent()[before].at.saturating_duration_since(committed));
        until_sent(&bot, before + chats as usize, Duration::from_secs(60)).await;
    }
    shutdown.cancel();
    worker.await.expect("outbox worker");

    let calls = bot.calls();
    let too_many = calls.iter().filter(|c| c.status == 429).count();
    let other = calls
        .iter()
        .filter(|c| c.status != 200 && c.status != 429)
        .count();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "fanout: {total} messages in {:.1} s: {steady:.1} messages/s from first to last ({overall:.1}/s \
         from the commit; target ≥ 27/s)",
        wall.as_secs_f64()
    );
    println!("fanout: 429s received: {too_many} (target 0); other refusals: {other}");
    println!(
        "fanout: commit → first message, idle queue: median {:.0} ms, max {:.0} ms over {samples} \
         items (target < 1 s)",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1])
    );
}

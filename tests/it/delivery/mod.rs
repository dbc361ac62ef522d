//! Delivery under load and failure, against the fake Bot API over loopback: Telegram's real
//! flood limits held for private chats and a group over more than a minute
//! ([`limits`]); no loss and at most one duplicate per crash when `tidings run` is killed
//! with SIGKILL mid-fan-out ([`crash`]); and no bot token anywhere in the daemon's debug
//! log while every kind of send failure happens ([`token`]). Here: the helpers they share.

mod crash;
mod drain;
mod limits;
mod token;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone, Utc};
use tidings::app::App;
use tidings::domain::{Article, RegionRef};
use tidings::store::{ItemWrite, PollCommit};

/// The bot token of these tests (its secret half is looked for in logs).
pub(super) const TOKEN: &str = "7034829156:AAGq0rT-secretPart_f9XkLmN2vB8wYzQ";

/// A new article `n` of `region` (slug, name), published `n` minutes into 2024-03-01.
pub(super) fn article(n: u32, region: (&str, &str)) -> ItemWrite {
    let url = format!("https://news.example.cn/{}/{n}.html", region.0);
    let published = FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).single())
        .map(|t| t + chrono::Duration::minutes(i64::from(n)));
    ItemWrite {
        id: format!("load-{}-{n}", region.0),
        keys: vec![url.clone()],
        article: Article {
            url,
            guid: None,
            title: format!("{}新闻第{n}条", region.1),
            author: None,
            region: Some(RegionRef {
                slug: region.0.into(),
                name: region.1.into(),
                known: true,
            }),
            published,
            tags: vec![],
            summary: Some("摘要".into()),
            body_html: None,
            images: vec![],
            comments: None,
        },
        listing_hash: None,
        push: true,
    }
}

/// Stores `writes` in one transaction, as a poll does (deliveries queued with them).
pub(super) async fn commit(app: &App, writes: Vec<ItemWrite>) {
    let poll = PollCommit {
        source: "load".into(),
        now: Utc::now(),
        writes,
        ..PollCommit::default()
    };
    let out = app.store.commit_poll(poll).await.expect("commit");
    assert!(!out.new.is_empty());
}

/// Subscribes each of `chats` to every known region (so every item with one reaches all).
pub(super) async fn subscribe_to_every_region(app: &App, chats: &[i64]) {
    let regions: Vec<String> = app
        .config
        .regions
        .regions()
        .iter()
        .map(|r| r.name.clone())
        .collect();
    for chat in chats {
        app.subscribe_telegram(*chat, None, &regions, &[], &[], None)
            .await
            .unwrap();
    }
}

/// Waits (at most 10 s) until nothing is queued, so the last claims are recorded, then
/// kills the daemon.
pub(super) async fn stop_when_drained(app: &App, mut child: Child) {
    let started = Instant::now();
    while app.store.outbox_stats(Utc::now()).await.unwrap().queued > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the queue did not drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("stop");
    child.wait().expect("reap");
}

/// The article URL a message links in its title.
pub(super) fn linked_url(text: &str) -> String {
    let start = text.find("href=\"").expect("a link") + 6;
    let end = text[start..].find('"').expect("closing quote") + start;
    text[start..end].replace("&amp;", "&")
}

/// `tidings run` on `config` with the bot token, its log appended to `log`.
pub(super) fn spawn_daemon(config: &Path, log: &Path, level: &str) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "run",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("TIDINGS_TELEGRAM_TOKEN", TOKEN)
        .env("TIDINGS_LOG", level)
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn tidings run")
}

/// Waits until `done()` or `limit`; panics with the daemon's log if the child exits first.
pub(super) async fn wait_until(
    child: &mut Child,
    log: &Path,
    limit: Duration,
    what: &str,
    done: impl Fn() -> bool,
) {
    let started = Instant::now();
    while !done() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("tidings run exited ({status}) before {what}:\n{log}");
        }
        assert!(started.elapsed() < limit, "no {what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

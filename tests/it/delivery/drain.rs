//! `tidings run` stopped with SIGTERM mid-fan-out: it stops claiming, finishes what is in
//! flight, releases the rest and exits within `[server] drain_timeout`; the next start
//! sends the rest, none twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use tidings::portal::Variant;

use super::{TOKEN, linked_url, spawn_daemon, stop_when_drained, subscribe_to_every_region, wait_until};
use crate::fake_bot::FakeBot;
use crate::helpers::{FAST_FETCH, TestDir, portal, shipped, source_override};

/// The drain deadline configured here.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_fan_out_exits_within_the_deadline_and_loses_nothing() {
    let bot = FakeBot::start(TOKEN).await;
    bot.enforce_limits(false);
    let server = portal(12, 0, Variant::Standard).await;
    // A long lease: without the release at exit, the rest would wait ten minutes.
    let config = format!(
        "{FAST_FETCH}{}[server]\ndrain_timeout = \"{}s\"\n\
         [poll]\nbaseline_push = true\njitter = \"0s\"\n\
         [telegram]\napi_url = \"{}\"\nper_chat = \"20ms\"\nglobal_per_second = 10000\n\
         group_per_minute = 100000\nlease = \"10m\"\n",
        source_override("sample-portal", &server.base_url()),
        DRAIN.as_secs(),
        bot.api_url()
    );
    let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
    let app = env.app().await;
    let chats: Vec<i64> = (1..=10).map(|i| 8_000 + i).collect();
    subscribe_to_every_region(&app, &chats).await;
    let log = env.dir.path().join("daemon.log");
    let mut child = spawn_daemon(&env.config_path(), &log, "info");
    wait_until(&mut child, &log, Duration::from_secs(60), "200 messages", || {
        bot.sent_count() >= 200
    })
    .await;
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < DRAIN + Duration::from_secs(5),
            "still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(text.contains("stopping: no new work is claimed"), "{text}");
    let sent_at_exit = bot.sent_count();

    // Nothing is left claimed: another worker can take every queued delivery at once.
    let queued = app.store.outbox_stats(Utc::now()).await.unwrap().queued;
    assert!(queued > 0, "the fan-out was over before SIGTERM: make it bigger");
    let free = app
        .store
        .claim_deliveries("telegram", "probe", Utc::now(), Duration::from_secs(1), 100_000)
        .await
        .unwrap();
    assert_eq!(free.len() as i64, queued, "every queued delivery was released");
    app.store.release_worker("probe").await.unwrap();

    // The next start sends the rest.
    let items = app.store.items(None, 100_000).await.unwrap();
    let urls: Vec<&str> = items
        .iter()
        .filter(|i| i.article.region.as_ref().is_some_and(|r| r.known))
        .map(|i| i.article.url.as_str())
        .collect();
    let expected = urls.len() * chats.len();
    let pairs = || -> HashMap<(i64, String), usize> {
        let mut seen = HashMap::new();
        for m in bot.sent() {
            *seen.entry((m.chat_id, linked_url(&m.text))).or_default() += 1;
        }
        seen
    };
    let mut child = spawn_daemon(&env.config_path(), &log, "info");
    wait_until(&mut child, &log, Duration::from_secs(120), "every pair", || {
        pairs().len() >= expected
    })
    .await;
    stop_when_drained(&app, child).await;
    let seen = pairs();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "drain: SIGTERM after {sent_at_exit} of {expected} messages, exited in {took:?} \
         (deadline {DRAIN:?}), {queued} released; the restart sent the rest: {} pairs, {} twice",
        seen.len(),
        twice.len()
    );
    assert_eq!(seen.len(), expected, "every (item, chat) pair arrived");
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    let stats = app.store.outbox_stats(Utc::now()).await.unwrap();
    assert_eq!((stats.sent, stats.failed), (expected as i64, 0));
}

/// A poll hanging on a site that never answers does not hold the daemon past the deadline:
/// it exits then, releasing the poll's claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_hanging_poll_exits_at_the_deadline_and_releases_the_tick() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", silent.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let config = format!(
        "[fetch]\nhost_interval = \"0s\"\ntimeout = \"120s\"\n{}[server]\ndrain_timeout = \"2s\"\n\
         [poll]\njitter = \"0s\"\n",
        source_override("sample-portal", &origin),
    );
    let env = TestDir::new(&config, &[("sample-portal", shipped("sample-portal"))]);
    let log = env.dir.path().join("daemon.log");
    let mut child = spawn_daemon(&env.config_path(), &log, "info");
    wait_until(
        &mut child,
        &log,
        Duration::from_secs(30),
        "a fetch under way",
        || accepted.load(std::sync::atomic::Ordering::SeqCst) > 0,
    )
    .await;
    let signalled = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(6),
            "still running 6 s after SIGTERM with a 2 s deadline"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(
        took >= Duration::from_millis(1900),
        "exited in {took:?}: the poll was under way"
    );
    assert!(text.contains("stopped at the drain deadline"), "{text}");
    assert!(
        text.contains("claims released for other instances: 1"),
        "the poll's tick: {text}"
    );
}

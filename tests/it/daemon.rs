//! `tidings run` through the real binary: the listening line, the daemon lock, short
//! commands beside a running daemon.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tidings::portal::Variant;

use crate::helpers::{portal, sample_portal_env, spawn_run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_database_refuses_while_poll_still_works() {
    let server = portal(2, 0, Variant::Standard).await;
    let env = sample_portal_env(&server);
    let bin = env!("CARGO_BIN_EXE_tidings");
    let cfg = env.config_path();
    let (mut first, _stdout, base) = spawn_run(&env, &[], Stdio::null());
    let addr = base.trim_start_matches("http://").to_owned();

    // The daemon polls on its own (first poll within the jitter bound of 5 s).
    let app = env.app().await;
    let mut polled = false;
    for _ in 0..100 {
        if app
            .store
            .source_state("sample-portal")
            .await
            .unwrap()
            .is_some_and(|s| s.items > 0)
        {
            polled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(polled, "the daemon did not poll within 10 s");

    let mut second = Command::new(bin)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if env.storage_url.starts_with("sqlite") {
        let second = second.wait_with_output().unwrap();
        assert!(!second.status.success());
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(err.contains("another `tidings run` is already using"), "{err}");
    } else {
        // PostgreSQL is shared: a second instance joins and serves.
        let mut line = String::new();
        BufReader::new(second.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
        second.kill().unwrap();
        second.wait().unwrap();
    }

    crate::helpers::tls();
    let feed_url = format!("http://{addr}/feeds/all.atom");
    let before = reqwest::get(&feed_url).await.unwrap().text().await.unwrap();

    // A `tidings poll` in another process stores new articles: the daemon serves them
    // within a second, newest first.
    crate::helpers::swap(&server, 2, 1, Variant::Standard);
    let truth = crate::helpers::truth(&server, 2, 1, Variant::Standard);
    let newest = truth
        .articles
        .iter()
        .chain(&truth.feed_pages)
        .max_by_key(|a| a.published)
        .unwrap();
    let polled = Command::new(bin)
        .args(["--config", cfg.to_str().unwrap(), "poll"])
        .output()
        .unwrap();
    assert!(
        polled.status.success(),
        "{}",
        String::from_utf8_lossy(&polled.stderr)
    );
    let out = String::from_utf8_lossy(&polled.stdout);
    assert!(out.contains("sample-portal"), "{out}");
    let started = std::time::Instant::now();
    let after = loop {
        let text = reqwest::get(&feed_url).await.unwrap().text().await.unwrap();
        if text != before || started.elapsed() > Duration::from_secs(1) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(after, before, "the served feed did not change within a second");
    let parsed = feed_rs::parser::parse(after.as_bytes()).unwrap();
    let first_title = &parsed.entries[0].title.as_ref().unwrap().content;
    assert_eq!(first_title, &newest.title);

    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    // SIGTERM stops it cleanly.
    Command::new("kill").arg(first.id().to_string()).status().unwrap();
    let status = wait_timeout(&mut first, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_its_feeds_offline_within_seconds_and_cleans_up() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("TIDINGS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(demo.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut base = None;
    while base.is_none() {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "demo exited early: {lines:?}"
        );
        if let Some(rest) = line.trim().strip_prefix("listening on ") {
            base = Some(rest.trim_end_matches('/').to_owned());
        }
        lines.push(line);
    }
    let base = base.unwrap();
    let text = lines.concat();
    assert!(text.contains(&format!("open {base}/")), "{text}");
    let db = text
        .lines()
        .find_map(|l| l.strip_prefix("database: "))
        .and_then(|l| l.split(' ').next())
        .map(std::path::PathBuf::from)
        .expect("database line");

    crate::helpers::tls();
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut feed = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        feed = client
            .get(format!("{base}/feeds/region/%E6%99%8B%E4%B8%AD.atom"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if feed.contains("我市经济社会各项事业成绩突出亮点纷呈") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        feed.contains("我市经济社会各项事业成绩突出亮点纷呈"),
        "seed article not in the 晋中 feed after 15 s"
    );
    let parsed = feed_rs::parser::parse(feed.as_bytes()).unwrap();
    let seed = parsed
        .entries
        .iter()
        .find(|e| e.title.as_ref().unwrap().content.contains("我市经济"))
        .unwrap();
    let tags: Vec<&str> = seed.categories.iter().map(|c| c.term.as_str()).collect();
    for t in ["晋中", "高质量", "我市"] {
        assert!(tags.contains(&t), "{tags:?}");
    }
    // Stable after the first fill.
    let again = client
        .get(format!("{base}/feeds/region/jinzhong.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(again, feed);

    Command::new("kill").arg(demo.id().to_string()).status().unwrap();
    let status = wait_timeout(&mut demo, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(!db.exists(), "temporary database {} left behind", db.display());
}

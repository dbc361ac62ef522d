//! Every instance serves HTTP: a feed served by another instance on the same PostgreSQL
//! database shows a new item within a second of its commit, with the same bytes and ETag.

use std::time::{Duration, Instant};

use tidings::app::App;

use super::{fetch, serve};
use crate::email::{commit, item};
use crate::helpers::{TestDir, tls};
use crate::pg::PgDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_shows_in_every_instances_feeds_within_a_second() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    tls();
    let env = TestDir::new("[server]\npublic_url = \"http://news.example.org/\"\n", &[]);
    let open = || async {
        let mut config = env.load();
        config.storage.url = pg.url.clone();
        App::open(config).await.expect("app on PostgreSQL")
    };
    let (writer, reader) = (open().await, open().await);
    let (a, b) = (serve(&writer).await, serve(&reader).await);
    let client = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();
    commit(&writer, vec![item(1, ("jinzhong", "晋中"), &["高质量"])]).await;
    // Both instances have rendered (and cached) the feed.
    for base in [&a, &b] {
        let (body, _) = fetch(&client, base, "/feeds/all.atom").await;
        assert!(String::from_utf8_lossy(&body).contains("晋中要闻第1条"));
    }
    commit(&writer, vec![item(2, ("taiyuan", "太原"), &[])]).await;
    let committed = Instant::now();
    let seen = loop {
        let (body, _) = fetch(&client, &b, "/feeds/all.atom").await;
        if String::from_utf8_lossy(&body).contains("太原要闻第2条") {
            break committed.elapsed();
        }
        assert!(
            committed.elapsed() < Duration::from_secs(5),
            "the other instance never showed it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("a commit on one instance showed in another instance's feed after {seen:?}");
    assert!(seen < Duration::from_secs(1), "{seen:?}");
    for path in [
        "/feeds/all.atom",
        "/feeds/region/taiyuan.rss",
        "/feeds/tag/%E9%AB%98%E8%B4%A8%E9%87%8F.json",
    ] {
        let (body_a, etag_a) = fetch(&client, &a, path).await;
        let (body_b, etag_b) = fetch(&client, &b, path).await;
        assert!(body_a == body_b, "{path}: same bytes on both instances");
        assert_eq!(etag_a, etag_b, "{path}");
    }
}

//! End to end: the sample portal polled at the same instant into a SQLite-backed and a
//! PostgreSQL-backed app gives byte-identical feeds (and ETags) over HTTP.

use std::net::SocketAddr;

use chrono::Utc;
use tidings::app::App;
use tidings::portal::Variant;

use crate::helpers::{Backend, FAST_FETCH, TestDir, portal, shipped, source_override, tls};
use crate::pg::PgDatabase;

const SOURCE: &str = "sample-portal";

/// Like [`sample_portal_env`], with `[storage] url` set to `url`.
fn env_with_storage(base_url: &str, storage: &str) -> TestDir {
    TestDir::with_storage_url(
        &format!("{FAST_FETCH}{}", source_override(SOURCE, base_url)),
        &[(SOURCE, shipped(SOURCE))],
        storage,
    )
}

/// Serves `app`'s router on 127.0.0.1:0; its base URL.
async fn serve(app: App) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, tidings::serve::router(app)).await });
    format!("http://{addr}")
}

/// Status, ETag and body of `GET base+path`, uncompressed.
async fn get(client: &reqwest::Client, base: &str, path: &str) -> (u16, String, Vec<u8>) {
    let res = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map_or(String::new(), |v| v.to_str().unwrap_or("").to_owned());
    (status, etag, res.bytes().await.expect("body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_serves_the_same_feeds_as_sqlite() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    tls();
    let server = portal(4, 0, Variant::Standard).await;
    let lite_env = TestDir::on(
        Backend::Sqlite,
        &format!("{FAST_FETCH}{}", source_override(SOURCE, &server.base_url())),
        &[(SOURCE, shipped(SOURCE))],
    );
    let pg_env = env_with_storage(&server.base_url(), &db.url);
    let lite = lite_env.app().await;
    let pg = pg_env.app().await;
    // One instant for both polls: item times are part of the feeds.
    let now = Utc::now();
    for app in [&lite, &pg] {
        let recipe = app.config.source(SOURCE).expect("source").clone();
        let report = app.ingest.poll(&recipe, now).await.expect("poll");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }
    assert_eq!(
        lite.store.feed_version().await.unwrap(),
        pg.store.feed_version().await.unwrap()
    );
    assert_eq!(
        lite.store.region_facets().await.unwrap(),
        pg.store.region_facets().await.unwrap()
    );
    assert_eq!(
        lite.store.tag_facets().await.unwrap(),
        pg.store.tag_facets().await.unwrap()
    );
    assert_eq!(
        lite.store.source_facets().await.unwrap(),
        pg.store.source_facets().await.unwrap()
    );
    let (all_lite, all_pg) = (
        lite.store.items(None, 10_000).await.unwrap(),
        pg.store.items(None, 10_000).await.unwrap(),
    );
    assert!(all_lite.len() > 20, "the portal has items: {}", all_lite.len());
    assert_eq!(all_lite, all_pg, "every item, field by field, in feed order");

    let regions = lite.store.region_facets().await.unwrap();
    let tags = lite.store.tag_facets().await.unwrap();
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let mut paths = vec!["/feeds.opml".to_owned()];
    for ext in ["rss", "atom", "json"] {
        paths.push(format!("/feeds/all.{ext}"));
        paths.push(format!("/feeds/region/{}.{ext}", enc(&regions[0].key)));
        paths.push(format!("/feeds/tag/{}.{ext}", enc(&tags[0].key)));
        paths.push(format!("/feeds/tag/{}.{ext}", enc(&tags[tags.len() - 1].key)));
        paths.push(format!("/feeds/source/{SOURCE}.{ext}"));
    }
    paths.push("/feeds/all.rss?q=R%26D&limit=5".into());
    paths.push(format!("/feeds/all.atom?exclude={}", enc("晋中")));
    paths.push(format!(
        "/feeds/all.json?region={}&limit=3",
        enc(&regions[regions.len() - 1].key)
    ));
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .expect("client");
    let (lite_base, pg_base) = (serve(lite.clone()).await, serve(pg.clone()).await);
    for path in &paths {
        let (ls, le, lb) = get(&client, &lite_base, path).await;
        let (ps, pe, pb) = get(&client, &pg_base, path).await;
        assert_eq!(ls, 200, "{path}");
        assert_eq!(ps, ls, "{path}");
        assert!(!le.is_empty() || path.ends_with(".opml"), "{path} has an ETag");
        assert_eq!(pe, le, "{path}: ETag");
        if pb != lb {
            panic!(
                "{path}: bodies differ\n--- sqlite\n{}\n--- postgres\n{}",
                String::from_utf8_lossy(&lb),
                String::from_utf8_lossy(&pb)
            );
        }
    }
    drop((lite, pg));
}

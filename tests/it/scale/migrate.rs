//! `tidings migrate` copies a populated SQLite database into PostgreSQL: every table's rows
//! are counted, and the feeds served from PostgreSQL are byte-equal to SQLite's.

use tidings::app::{App, SubscribeInput, TABLES};
use tidings::portal::Variant;
use tidings::store::{RecipientSpec, Topic};

use super::{fetch, serve};
use crate::helpers::{Backend, poll, portal, sample_portal_env_on, tls};
use crate::pg::PgDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_database_serves_byte_equal_feeds_from_postgres() {
    let Some(pg) = PgDatabase::create().await else {
        return;
    };
    tls();
    let server = portal(3, 0, Variant::Standard).await;
    let env = sample_portal_env_on(Backend::Sqlite, &server);
    let app = env.app().await;
    poll(&app, "sample-portal").await;
    // Subscribers, a queue, digest membership and a pending confirmation.
    let spec = |kind: &str, address: &str, mode_topic: Topic| RecipientSpec {
        kind: kind.into(),
        address: address.into(),
        thread_id: 0,
        origin: "cli".into(),
        topics: vec![mode_topic],
        filters: None,
    };
    let all = Topic {
        region: None,
        tag: None,
    };
    app.store
        .save_recipient(&spec("telegram", "4242", all.clone()), chrono::Utc::now())
        .await
        .unwrap();
    let daily = app
        .check_subscription(&SubscribeInput {
            email: "daily@example.org".into(),
            regions: vec!["jinzhong".into()],
            mode: Some("daily".into()),
            ..Default::default()
        })
        .unwrap();
    app.subscribe_confirmed(&daily).await.unwrap();
    crate::helpers::swap(&server, 3, 2, Variant::Standard);
    let report = poll(&app, "sample-portal").await;
    assert!(!report.new.is_empty(), "new items queue deliveries");

    let sqlite_url = app.config.storage.url.clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["migrate", "--from", &sqlite_url, "--to", &pg.url])
        .output()
        .expect("run tidings migrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for table in TABLES {
        assert!(stdout.contains(table), "{table} not reported:\n{stdout}");
    }
    eprintln!("{stdout}");
    // A second run refuses to copy into a populated database.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["migrate", "--from", &sqlite_url, "--to", &pg.url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));

    let mut config = env.load();
    config.storage.url = pg.url.clone();
    let pg_app = App::open(config).await.expect("app on PostgreSQL");
    assert_eq!(
        pg_app.store.recipients().await.unwrap(),
        app.store.recipients().await.unwrap(),
        "recipients, topics and delivery counts"
    );
    let now = chrono::Utc::now();
    assert_eq!(
        pg_app.store.outbox_stats(now).await.unwrap(),
        app.store.outbox_stats(now).await.unwrap()
    );
    assert_eq!(
        pg_app.store.source_states().await.unwrap(),
        app.store.source_states().await.unwrap()
    );

    let client = reqwest::Client::builder().no_gzip().no_brotli().build().unwrap();
    let (a, b) = (serve(&app).await, serve(&pg_app).await);
    let mut paths = vec![
        "/feeds/all.atom".to_owned(),
        "/feeds/all.rss".to_owned(),
        "/feeds/all.json".to_owned(),
        "/feeds/region/jinzhong.atom".to_owned(),
        "/feeds/source/sample-portal.rss".to_owned(),
        "/feeds/all.atom?region=taiyuan&limit=5".to_owned(),
        "/feeds.opml".to_owned(),
    ];
    let tags = app.store.tag_facets().await.unwrap();
    paths.push(format!(
        "/feeds/tag/{}.json",
        url::form_urlencoded::byte_serialize(tags[0].key.as_bytes()).collect::<String>()
    ));
    for path in &paths {
        let (sqlite_body, sqlite_etag) = fetch(&client, &a, path).await;
        let (pg_body, pg_etag) = fetch(&client, &b, path).await;
        assert!(sqlite_body == pg_body, "{path}: bodies differ");
        assert_eq!(sqlite_etag, pg_etag, "{path}");
    }
}

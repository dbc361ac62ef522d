//! The HTTP server over loopback: every feed against the portal's ground truth, names and
//! filters, validators and compression, cache freshness across writers, determinism
//! across servers, the OPML, index and status pages, and `tidings render --out`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tidings::app::App;
use tidings::portal::{ArticleTruth, PortalServer, Truth, Variant};

use crate::helpers::{
    Backend, FAST_FETCH, TestDir, poll, portal, shipped, source_override, swap, tls, truth,
};

const SOURCE: &str = "sample-portal";

/// A polled portal, its config directory and the app on it.
struct Site {
    server: PortalServer,
    env: TestDir,
    app: App,
}

async fn site(per_region: usize) -> Site {
    let server = portal(per_region, 0, Variant::Standard).await;
    let env = TestDir::new(
        &format!("{FAST_FETCH}{}", source_override(SOURCE, &server.base_url())),
        &[(SOURCE, shipped(SOURCE))],
    );
    let app = env.app().await;
    let report = poll(&app, SOURCE).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    Site { server, env, app }
}

/// Serves the router of `app` on 127.0.0.1:0; returns its base URL (no trailing slash).
async fn spawn(app: App) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, tidings::serve::router(app)).await.unwrap();
    });
    format!("http://{addr}")
}

/// A client that neither asks for nor decodes compression (tests set Accept-Encoding).
fn raw_client() -> reqwest::Client {
    tls();
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .unwrap()
}

/// Status, headers and body of a GET with extra headers.
async fn get(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).map_or("", |v| v.to_str().unwrap())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Items the store should hold: listed region articles plus feed pages that appear in a feed.
fn expected(truth: &Truth) -> Vec<&ArticleTruth> {
    truth
        .articles
        .iter()
        .filter(|a| a.listed)
        .chain(truth.feed_pages.iter().filter(|p| {
            truth
                .feeds
                .iter()
                .any(|f| f.items.iter().any(|i| i.page == p.path))
        }))
        .collect()
}

fn count_by<'a>(
    arts: &[&'a ArticleTruth],
    keys: impl Fn(&'a ArticleTruth) -> Vec<&'a str>,
) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for a in arts {
        for k in keys(a).into_iter().collect::<BTreeSet<_>>() {
            *m.entry(k).or_default() += 1;
        }
    }
    m
}

fn parse(bytes: &[u8], what: &str) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feed_answers_with_its_type_and_the_truths_item_counts() {
    let site = site(6).await;
    let truth = truth(&site.server, 6, 0, Variant::Standard);
    let arts = expected(&truth);
    let by_region = count_by(&arts, |a| vec![a.region_slug.as_str()]);
    let by_tag = count_by(&arts, |a| a.tags.iter().map(String::as_str).collect());
    assert!(arts.len() > 50, "the portal must exceed the default limit");
    assert!(by_tag.contains_key("R&D") && by_tag.contains_key("<新>"));
    let base = spawn(site.app.clone()).await;
    let client = raw_client();

    let mut feeds: Vec<(String, usize)> = vec![("/feeds/all".to_owned(), arts.len())];
    // Every configured region has a feed, empty or not.
    for r in site.app.config.regions.regions() {
        feeds.push((
            format!("/feeds/region/{}", r.slug),
            by_region.get(r.slug.as_str()).copied().unwrap_or(0),
        ));
    }
    assert_eq!(by_region.len(), 12, "{by_region:?}");
    for (tag, n) in &by_tag {
        feeds.push((format!("/feeds/tag/{}", enc(tag)), *n));
    }
    feeds.push((format!("/feeds/source/{SOURCE}"), arts.len()));
    for (path, want) in &feeds {
        for (ext, ctype) in [
            ("rss", "application/rss+xml; charset=utf-8"),
            ("atom", "application/atom+xml; charset=utf-8"),
            ("json", "application/feed+json; charset=utf-8"),
        ] {
            let url = format!("{base}{path}.{ext}?limit=500");
            let (status, h, body) = get(&client, &url, &[]).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(header(&h, "content-type"), ctype, "{url}");
            assert_eq!(parse(&body, &url).entries.len(), *want, "{url}");
        }
    }
    // Without a limit: the newest 50.
    let (_, _, body) = get(&client, &format!("{base}/feeds/all.atom"), &[]).await;
    let feed = parse(&body, "all.atom");
    assert_eq!(feed.entries.len(), 50);
    let dates: Vec<_> = feed.entries.iter().map(|e| e.published.unwrap()).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(feed.title.unwrap().content, "全部 · Tidings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_answer_304_and_compressed_bodies_decode_to_the_same_bytes() {
    let site = site(3).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let url = format!("{base}/feeds/region/jinzhong.atom");
    let (status, h, plain) = get(&client, &url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let etag = header(&h, "etag").to_owned();
    let modified = header(&h, "last-modified").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert!(modified.ends_with(" GMT"), "{modified}");
    assert_eq!(header(&h, "cache-control"), "public, max-age=60");
    assert_eq!(header(&h, "vary"), "Accept-Encoding");
    assert!(h.get("content-encoding").is_none());

    for (name, value) in [
        ("if-none-match", etag.as_str()),
        ("if-none-match", &format!("W/{etag}")),
        ("if-none-match", &format!("\"nope\", {etag}")),
        ("if-none-match", "*"),
        ("if-modified-since", modified.as_str()),
    ] {
        let (status, h, body) = get(&client, &url, &[(name, value)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{name}: {value}");
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), etag);
    }
    let (status, _, _) = get(&client, &url, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(
        &client,
        &url,
        &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // gzip and br: the same bytes once decoded, under a weak tag that still validates.
    for coding in ["gzip", "br"] {
        let (status, h, body) = get(&client, &url, &[("accept-encoding", coding)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-encoding"), coding);
        assert_eq!(header(&h, "etag"), format!("W/{etag}"));
        assert_eq!(header(&h, "vary"), "Accept-Encoding");
        let mut decoded = Vec::new();
        if coding == "gzip" {
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut decoded)
                .unwrap();
        } else {
            brotli::Decompressor::new(&body[..], 4096)
                .read_to_end(&mut decoded)
                .unwrap();
        }
        assert_eq!(decoded, plain, "{coding}");
        let weak = format!("W/{etag}");
        let (status, _, _) = get(
            &client,
            &url,
            &[("accept-encoding", coding), ("if-none-match", &weak)],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }
    // A decoding client sees the identity bytes too.
    let auto = reqwest::Client::new();
    let res = auto.get(&url).send().await.unwrap();
    assert_eq!(res.bytes().await.unwrap().to_vec(), plain);

    // HEAD: the headers of GET, no body.
    let res = client.head(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(res.headers(), "etag"), etag);
    assert_eq!(header(res.headers(), "content-length"), plain.len().to_string());
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_resolve_by_slug_name_or_alias_and_unknown_names_are_404() {
    let site = site(4).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let mut seen = Vec::new();
    for name in ["jinzhong", "晋中", "晋中市", "JinZhong"] {
        let url = format!("{base}/feeds/region/{}.atom", enc(name));
        let (status, h, body) = get(&client, &url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        seen.push((header(&h, "etag").to_owned(), body));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "every spelling serves the slug feed"
    );
    let feed = parse(&seen[0].1, "jinzhong");
    assert_eq!(feed.title.unwrap().content, "晋中 · Tidings");
    let self_link = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("self"))
        .unwrap();
    assert!(
        self_link.href.ends_with("/feeds/region/jinzhong.atom"),
        "{}",
        self_link.href
    );

    for (tag, ext) in [("R&D", "rss"), ("<新>", "json"), ("高质量", "atom")] {
        let url = format!("{base}/feeds/tag/{}.{ext}", enc(tag));
        let (status, _, body) = get(&client, &url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let feed = parse(&body, &url);
        assert!(!feed.entries.is_empty(), "{url}");
        assert!(
            feed.entries
                .iter()
                .all(|e| e.categories.iter().any(|c| c.term == tag)),
            "{url}"
        );
    }

    for (path, message) in [
        ("/feeds/region/xyz.atom", "未找到地区：xyz"),
        ("/feeds/tag/%E6%B2%A1%E6%9C%89.rss", "未找到标签：没有"),
        ("/feeds/source/nope.json", "未找到来源：nope"),
        ("/feeds/all.xml", "不支持的格式：xml"),
        ("/feeds/everything.atom", "未找到订阅源"),
        ("/feeds/all.atom?region=atlantis", "未找到地区：atlantis"),
        ("/nothing", "未找到页面"),
    ] {
        let (status, h, body) = get(&client, &format!("{base}{path}"), &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains(message), "{path}: {text}");
    }
    let (status, _, _) = get(&client, &format!("{base}/feeds/all.atom?limit=zero"), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = get(&client, &format!("{base}/healthz"), &[]).await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap().trim()),
        (StatusCode::OK, "ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_intersect_and_large_limits_are_clamped() {
    let site = site(6).await;
    let truth = truth(&site.server, 6, 0, Variant::Standard);
    let arts = expected(&truth);
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let region_tag = |a: &&&ArticleTruth| a.region_slug == "jinzhong" && a.tags.iter().any(|t| t == "高质量");
    let want: BTreeSet<&str> = arts.iter().filter(region_tag).map(|a| a.title.as_str()).collect();
    assert!(!want.is_empty());

    let titles = |body: &[u8]| -> BTreeSet<String> {
        parse(body, "filtered")
            .entries
            .into_iter()
            .map(|e| e.title.unwrap().content)
            .collect()
    };
    let tag = enc("高质量");
    let (_, h1, b1) = get(
        &client,
        &format!("{base}/feeds/all.json?region=jinzhong&tag={tag}"),
        &[],
    )
    .await;
    let (_, h2, b2) = get(
        &client,
        &format!("{base}/feeds/region/{}.json?tag={tag}", enc("晋中市")),
        &[],
    )
    .await;
    let (_, h3, b3) = get(
        &client,
        &format!("{base}/feeds/tag/{tag}.json?region=%E6%99%8B%E4%B8%AD"),
        &[],
    )
    .await;
    let got = titles(&b1);
    assert_eq!(got.iter().map(String::as_str).collect::<BTreeSet<_>>(), want);
    assert_eq!(titles(&b2), got);
    assert_eq!(titles(&b3), got);
    // The all-items spelling is canonical for the pair: its self link names the sorted query.
    let feed: serde_json::Value = serde_json::from_slice(&b1).unwrap();
    let feed_url = feed["feed_url"].as_str().unwrap();
    assert!(
        feed_url.ends_with(&format!("/feeds/all.json?region=jinzhong&tag={tag}")),
        "{feed_url}"
    );
    assert_ne!(header(&h1, "etag"), "");
    assert_ne!(header(&h2, "etag"), header(&h3, "etag"), "different self links");

    // Keyword include/exclude on title and summary, against the store's own filter.
    let word = want.iter().next().unwrap().chars().take(2).collect::<String>();
    let url = format!("{base}/feeds/all.atom?limit=500&q={}", enc(&word));
    let (_, _, body) = get(&client, &url, &[]).await;
    let with = titles(&body);
    assert!(
        !with.is_empty() && with.len() < arts.len(),
        "{word}: {}",
        with.len()
    );
    let url = format!("{base}/feeds/all.atom?limit=500&exclude={}", enc(&word));
    let (_, _, body) = get(&client, &url, &[]).await;
    let without = titles(&body);
    assert!(with.is_disjoint(&without));
    assert_eq!(with.len() + without.len(), arts.len());
    let url = format!(
        "{base}/feeds/region/jinzhong.rss?tag={tag}&q={}&exclude={}",
        enc(&word),
        enc("不会出现的词")
    );
    let (status, _, body) = get(&client, &url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let both = titles(&body);
    assert!(both.iter().all(|t| want.contains(t.as_str())));

    // limit=10000 is clamped to 500: the canonical self link says so.
    let (_, _, body) = get(&client, &format!("{base}/feeds/all.atom?limit=10000"), &[]).await;
    let feed = parse(&body, "clamped");
    let self_link = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("self"))
        .unwrap();
    assert!(
        self_link.href.ends_with("/feeds/all.atom?limit=500"),
        "{}",
        self_link.href
    );
    assert_eq!(feed.entries.len(), arts.len().min(500));
    let (_, _, small) = get(&client, &format!("{base}/feeds/all.atom?limit=3"), &[]).await;
    assert_eq!(parse(&small, "limit=3").entries.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_and_one_on_a_copied_database_serve_identical_bytes() {
    let site = site(3).await;
    let first = spawn(site.app.clone()).await;
    let client = raw_client();
    let paths = [
        "/feeds/all.rss".to_owned(),
        "/feeds/region/taiyuan.atom".to_owned(),
        format!("/feeds/tag/{}.json", enc("R&D")),
        format!("/feeds/source/{SOURCE}.atom?q={}", enc("山西")),
        "/feeds.opml".to_owned(),
        "/".to_owned(),
    ];
    let fetch_all = |base: String| {
        let client = client.clone();
        let paths = paths.clone();
        async move {
            let mut out = Vec::new();
            for p in &paths {
                let (status, h, body) = get(&client, &format!("{base}{p}"), &[]).await;
                assert_eq!(status, StatusCode::OK, "{p}");
                out.push((
                    header(&h, "etag").to_owned(),
                    header(&h, "last-modified").to_owned(),
                    body,
                ));
            }
            out
        }
    };
    let before = fetch_all(first).await;
    // A new app and router on the same database.
    let restarted = spawn(site.env.app().await).await;
    assert_eq!(fetch_all(restarted).await, before);
    if Backend::skip_unless_sqlite("copying the database file") {
        return;
    }
    // A copy of the database file (with its WAL) under another directory.
    let copy = TestDir::new(
        &format!("{FAST_FETCH}{}", source_override(SOURCE, &site.server.base_url())),
        &[(SOURCE, shipped(SOURCE))],
    );
    for suffix in ["", "-wal"] {
        let from = site.env.dir.path().join(format!("t.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, copy.dir.path().join(format!("t.db{suffix}"))).unwrap();
        }
    }
    let other = spawn(copy.app().await).await;
    assert_eq!(fetch_all(other).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_by_another_writer_shows_at_once_and_an_edit_moves_last_modified() {
    let site = site(3).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let epoch1 = truth(&site.server, 3, 1, Variant::Standard);
    let edited = epoch1
        .articles
        .iter()
        .find(|a| a.edited_epoch == Some(1) && a.listed)
        .expect("an article edited in epoch 1");
    // The original title is a prefix of the edited one: this feed holds just that article.
    let original = edited.original_title.clone().unwrap();
    let region_url = format!(
        "{base}/feeds/region/{}.atom?q={}",
        edited.region_slug,
        enc(&original)
    );
    let all_url = format!("{base}/feeds/all.atom");
    let (_, h_all, all_before) = get(&client, &all_url, &[]).await;
    let (_, h_region, region_before) = get(&client, &region_url, &[]).await;
    let entry_updated = |body: &[u8]| {
        parse(body, "region")
            .entries
            .into_iter()
            .find(|e| e.links.iter().any(|l| l.href == edited.canonical_url))
            .map(|e| (e.title.unwrap().content, e.updated.unwrap()))
            .unwrap()
    };
    assert_eq!(parse(&region_before, "before").entries.len(), 1);
    let (old_title, old_updated) = entry_updated(&region_before);
    assert_eq!(old_title, original);

    // Feed times have whole seconds: let the edit happen in a later second than the first poll.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Another writer (its own App and connection pool, like `tidings poll`) stores epoch 1.
    swap(&site.server, 3, 1, Variant::Standard);
    let writer = site.env.app().await;
    let report = poll(&writer, SOURCE).await;
    assert!(!report.new.is_empty() && !report.updated.is_empty(), "{report:?}");

    let (status, h, all_after) = get(&client, &all_url, &[("if-none-match", header(&h_all, "etag"))]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the cached feed must not survive the write"
    );
    assert_ne!(all_after, all_before);
    let feed = parse(&all_after, "all after");
    let newest = epoch1
        .articles
        .iter()
        .chain(&epoch1.feed_pages)
        .filter(|a| {
            a.listed
                || epoch1
                    .feeds
                    .iter()
                    .any(|f| f.items.iter().any(|i| i.page == a.path))
        })
        .max_by_key(|a| (a.published, std::cmp::Reverse(a.id)))
        .unwrap();
    assert_eq!(feed.entries[0].published.unwrap(), newest.published);
    assert!(!header(&h, "last-modified").is_empty());

    let (_, h_region_after, region_after) = get(&client, &region_url, &[]).await;
    assert_eq!(parse(&region_after, "after").entries.len(), 1);
    let (new_title, new_updated) = entry_updated(&region_after);
    assert_eq!(new_title, edited.title);
    assert!(new_updated > old_updated);
    let lm = |h: &HeaderMap| tidings::serve::parse_http_date(header(h, "last-modified"));
    assert!(lm(&h_region_after) > lm(&h_region));
    assert_eq!(lm(&h_region_after).unwrap(), new_updated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opml_index_and_status_pages_list_every_feed_and_source() {
    let site = site(3).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let catalog = tidings::serve::Catalog::load(&site.app).await.unwrap();
    let public = site
        .app
        .config
        .public_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    assert!(!catalog.tags.is_empty());

    let (status, h, opml) = get(&client, &format!("{base}/feeds.opml"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&h, "content-type").contains("opml"));
    let opml = String::from_utf8(opml).unwrap();
    let doc = roxmltree::Document::parse(&opml).unwrap();
    let urls: BTreeSet<&str> = doc.descendants().filter_map(|n| n.attribute("xmlUrl")).collect();
    let mut want = BTreeSet::new();
    want.insert(format!("{public}/feeds/all.atom"));
    for r in &catalog.regions {
        want.insert(format!("{public}/feeds/region/{}.atom", enc(&r.slug)));
    }
    for t in &catalog.tags {
        want.insert(format!("{public}/feeds/tag/{}.atom", enc(&t.key)));
    }
    want.insert(format!("{public}/feeds/source/{SOURCE}.atom"));
    assert_eq!(urls, want.iter().map(String::as_str).collect());
    for group in ["全部", "地区", "标签", "来源"] {
        assert!(
            doc.descendants().any(|n| n.attribute("text") == Some(group)),
            "{group}"
        );
    }

    let (status, h, index) = get(&client, &format!("{base}/"), &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert!(header(&h, "etag").starts_with("W/\""));
    let mut html = String::new();
    flate2::read::GzDecoder::new(&index[..])
        .read_to_string(&mut html)
        .unwrap();
    assert!(html.contains("<html lang=\"zh-CN\">"));
    let attr = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    assert!(html.contains(&format!(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"全部 · Tidings（Atom）\" href=\"{}\">",
        attr(&format!("{public}/feeds/all.atom"))
    )));
    for r in site.app.config.regions.regions() {
        assert!(html.contains(&format!("<td>{}</td>", r.name)), "{}", r.name);
        assert!(
            html.contains(&attr(&format!("/feeds/region/{}.json", r.slug))),
            "{}",
            r.slug
        );
    }
    for t in &catalog.tags {
        assert!(html.contains(&format!("<td>{}</td>", attr(&t.key))), "{}", t.key);
        assert!(
            html.contains(&attr(&format!("/feeds/tag/{}.rss", enc(&t.key)))),
            "{}",
            t.key
        );
    }
    assert!(html.contains(SOURCE));
    assert!(html.contains(&attr("/feeds.opml")) && html.contains(&attr("/status")));
    assert!(!html.contains("<新>"), "tags are escaped");

    // The daemon records each source's next poll; 2026-11-20 01:30 UTC is 09:30 in Beijing.
    let next = chrono::DateTime::parse_from_rfc3339("2026-11-20T01:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    site.app.store.set_next_poll(SOURCE, next).await.unwrap();
    let (status, h, page) = get(&client, &format!("{base}/status"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains(SOURCE) && page.contains("正常"), "{page}");
    for column in [
        "最近成功",
        "最近错误",
        "下次抓取",
        "渠道",
        "待发送",
        "最早排队",
        "已发送",
        "失败",
    ] {
        assert!(page.contains(&format!("<th>{column}</th>")), "{column}: {page}");
    }
    assert!(page.contains("<td>2026-11-20 09:30</td>"), "next poll: {page}");
    // One queue row per channel; without their secrets both are off.
    assert!(page.contains("<td>Telegram（未启用）</td>"), "{page}");
    assert!(page.contains("<td>邮件（未启用）</td>"), "{page}");
    let (status, _, json) = get(&client, &format!("{base}/status.json"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let src = &json["sources"][0];
    assert_eq!(src["id"], SOURCE);
    assert_eq!(src["state"], "ok");
    assert!(src["items"].as_i64().unwrap() > 0);
    assert!(src["last_success"].is_string());
    assert!(src["last_error"].is_null() && src["last_error_at"].is_null());
    let next_poll: chrono::DateTime<chrono::Utc> = src["next_poll"].as_str().unwrap().parse().unwrap();
    assert_eq!(next_poll, next);
    assert!(json["alerts"].is_array());
    let channels: Vec<(&str, bool, i64)> = json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["oldest_queued_secs"].is_null() && c["sent"] == 0 && c["failed"] == 0);
            (
                c["channel"].as_str().unwrap(),
                c["enabled"].as_bool().unwrap(),
                c["queued"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(channels, [("telegram", false, 0), ("email", false, 0)]);

    // A failed poll: its error and when it happened (Beijing time), beside the last success.
    let failed_at = next - chrono::Duration::minutes(20);
    site.app
        .store
        .record_failure(SOURCE, "connection refused <by peer>", failed_at)
        .await
        .unwrap();
    let (_, _, page) = get(&client, &format!("{base}/status"), &[]).await;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("抓取失败"), "{page}");
    assert!(
        page.contains("2026-11-20 09:10<div class=\"err\">connection refused &lt;by peer&gt;</div>"),
        "{page}"
    );
    let (_, _, json) = get(&client, &format!("{base}/status.json"), &[]).await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let src = &json["sources"][0];
    assert_eq!(src["last_error"], "connection refused <by peer>");
    let at: chrono::DateTime<chrono::Utc> = src["last_error_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, failed_at);
    assert!(src["last_success"].is_string(), "the last success stays shown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_out_writes_the_bytes_the_server_serves() {
    let site = site(3).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    let out = tempfile::tempdir().unwrap();
    let written = tidings::app::render_site(&site.app, out.path()).await.unwrap();
    let catalog = tidings::serve::Catalog::load(&site.app).await.unwrap();
    let feeds = 1 + catalog.regions.len() + catalog.tags.len() + catalog.sources.len();
    assert_eq!(written, feeds * 3 + 2);
    for (file, url) in [
        ("feeds/all.rss".to_owned(), "/feeds/all.rss".to_owned()),
        (
            "feeds/region/jinzhong.atom".to_owned(),
            "/feeds/region/jinzhong.atom".to_owned(),
        ),
        (
            "feeds/tag/R&D.json".to_owned(),
            format!("/feeds/tag/{}.json", enc("R&D")),
        ),
        (
            "feeds/tag/<新>.atom".to_owned(),
            format!("/feeds/tag/{}.atom", enc("<新>")),
        ),
        (
            format!("feeds/source/{SOURCE}.rss"),
            format!("/feeds/source/{SOURCE}.rss"),
        ),
        ("feeds.opml".to_owned(), "/feeds.opml".to_owned()),
        ("index.html".to_owned(), "/".to_owned()),
    ] {
        let on_disk = std::fs::read(out.path().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (_, _, served) = get(&client, &format!("{base}{url}"), &[]).await;
        assert!(on_disk == served, "{file} differs from {url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_answers_500_with_a_short_message() {
    let site = site(2).await;
    let base = spawn(site.app.clone()).await;
    let client = raw_client();
    // Break the database under the running server: the version counter's table is gone.
    site.env.execute_sql("DROP TABLE meta").await;
    for path in ["/feeds/all.atom", "/", "/feeds.opml"] {
        let (status, h, body) = get(&client, &format!("{base}{path}"), &[]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with("服务器内部错误") && !text.contains("meta"),
            "{text}"
        );
    }
    let (status, _, _) = get(&client, &format!("{base}/healthz"), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

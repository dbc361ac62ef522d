//! Server tests over real loopback HTTP.

use reqwest::{Client, StatusCode, header};

use super::*;

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().unwrap()
}

fn small(epoch: u32) -> PortalParams {
    PortalParams {
        per_region: 5,
        epoch,
        ..PortalParams::default()
    }
}

async fn start() -> PortalServer {
    PortalServer::start_generated(small(0), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn server_sends_content_types_and_absolute_links_on_its_own_origin() {
    let server = start().await;
    let http = client();
    let base = server.base_url();
    for (path, want) in [
        ("/gsyl/jinzhong/1453.html", "text/html; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/gsyl/jinzhong/", "text/html; charset=utf-8"),
        ("/rss/province.xml", "application/rss+xml; charset=utf-8"),
        ("/atom/culture.xml", "application/atom+xml; charset=utf-8"),
        ("/manifest.json", "application/json"),
        ("/uploads/allimg/220223/1453-1.png", "image/png"),
        ("/static/css/style.css", "text/css; charset=utf-8"),
        ("/robots.txt", "text/plain; charset=utf-8"),
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], want, "{path}");
    }
    let page = http
        .get(format!("{base}/gsyl/jinzhong/1453.html"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("{base}/gsyl/jinzhong/1453.html")));
    let head = http.head(format!("{base}/index.html")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key(header::ETAG));
    assert!(head.bytes().await.unwrap().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn server_answers_conditional_requests_with_304() {
    let server = start().await;
    let http = client();
    let url = format!("{}/rss/province.xml", server.base_url());
    let first = http.get(&url).send().await.unwrap();
    let etag = first.headers()[header::ETAG].clone();
    let modified = first.headers()[header::LAST_MODIFIED].clone();
    assert!(etag.to_str().unwrap().starts_with('"'));
    let again = http
        .get(&url)
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    let since = http
        .get(&url)
        .header(header::IF_MODIFIED_SINCE, modified.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(since.status(), StatusCode::NOT_MODIFIED);
    let stale = http
        .get(&url)
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn server_decodes_tag_paths_and_answers_404_for_unknown_ones() {
    let server = start().await;
    let http = client();
    let base = server.base_url();
    let rd = http.get(format!("{base}/tag/R%26D.html")).send().await.unwrap();
    assert_eq!(rd.status(), StatusCode::OK);
    assert!(rd.text().await.unwrap().contains("标签：R&amp;D"));
    let new = http
        .get(format!("{base}/tag/%3C%E6%96%B0%3E.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), StatusCode::OK);
    let missing = http
        .get(format!("{base}/gsyl/jinzhong/99999.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(missing.text().await.unwrap().contains("404"));
    server.shutdown().await;
}

#[tokio::test]
async fn hits_count_requests_per_path_until_reset() {
    let server = start().await;
    let http = client();
    let base = server.base_url();
    for _ in 0..2 {
        http.get(format!("{base}/tag/R%26D.html")).send().await.unwrap();
    }
    http.get(format!("{base}/gsyl/jinzhong/")).send().await.unwrap();
    assert_eq!(server.hits("/tag/R&D.html"), 2);
    assert_eq!(server.hits("/tag/R%26D.html"), 2);
    assert_eq!(server.hits("/gsyl/jinzhong/index.html"), 1);
    assert_eq!(server.hits("/gsyl/jinzhong/1453.html"), 0);
    assert_eq!(server.total_hits(), 3);
    server.reset_hits();
    assert_eq!(server.total_hits(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn replace_swaps_the_served_site() {
    let server = start().await;
    let http = client();
    let base = server.base_url();
    let listing = format!("{base}/gsyl/jinzhong/index.html");
    let before = http.get(&listing).send().await.unwrap();
    let etag = before.headers()[header::ETAG].clone();
    let params = PortalParams {
        base_url: base.clone(),
        ..small(1)
    };
    let next = generate(&params);
    let added = next
        .truth
        .articles
        .iter()
        .find(|a| a.epoch_added == 1)
        .unwrap()
        .path
        .clone();
    assert_eq!(
        http.get(format!("{base}{added}")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    server.replace(next);
    assert_eq!(
        http.get(format!("{base}{added}")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let after = http
        .get(&listing)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    server.replace(generate(&PortalParams {
        variant: Variant::MovedUrls,
        ..params
    }));
    let seed = http
        .get(format!("{base}/gsyl/jinzhong/1453.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(seed.status(), StatusCode::NOT_FOUND);
    server.shutdown().await;
}

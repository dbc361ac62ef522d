//! What a fetch returns: decoded text, validators, decompressed bodies, final URLs.

use std::io::Write;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use encoding_rs::GBK;
use futures::StreamExt;

use super::*;

#[tokio::test]
async fn gbk_pages_decode_by_meta_and_by_http_charset() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        let (ct, html) = match path.as_str() {
            "/meta" => (
                "text/html",
                "<html><head><meta charset=\"gbk\"></head><body>晋中新闻 喆堃</body></html>",
            ),
            _ => ("text/html; charset=GB2312", "<html><body>太原 喆堃</body></html>"),
        };
        ready(respond(
            200,
            &[("content-type", ct)],
            GBK.encode(html).0.into_owned(),
        ))
    })
    .await;
    let fetcher = fetcher(|_| {});
    let meta = page(&fetcher, &local(server.url("/meta"))).await;
    assert_eq!((meta.encoding, meta.status), (GBK, 200));
    assert!(meta.text.contains("晋中新闻 喆堃"), "{}", meta.text);
    let header = page(&fetcher, &local(server.url("/header"))).await;
    assert_eq!(header.encoding, GBK);
    assert!(header.text.contains("太原 喆堃"));
    assert_eq!(header.content_type.as_deref(), Some("text/html; charset=GB2312"));
}

#[tokio::test]
async fn matching_etag_gets_not_modified_and_new_validators_are_returned() {
    let server = TestServer::start("127.0.0.1", |_, headers| {
        let fresh = headers.get("if-none-match").is_some_and(|v| v == "\"v1\"");
        let validators = [
            ("etag", "\"v1\""),
            ("last-modified", "Sun, 06 Nov 2026 08:49:37 GMT"),
        ];
        ready(if fresh {
            respond(304, &validators, "")
        } else {
            respond(200, &validators, "<p>hi</p>")
        })
    })
    .await;
    let fetcher = fetcher(|_| {});
    let first = page(&fetcher, &local(server.url("/feed.xml"))).await;
    let expected = Validators {
        etag: Some("\"v1\"".into()),
        last_modified: Some("Sun, 06 Nov 2026 08:49:37 GMT".into()),
    };
    assert_eq!(first.validators, expected);
    let again = FetchRequest {
        validators: first.validators,
        ..local(server.url("/feed.xml"))
    };
    assert!(matches!(
        fetcher.fetch(&again).await.unwrap(),
        FetchOutcome::NotModified
    ));
    let log = server.log.lock().unwrap();
    assert_eq!(log[1].2["if-modified-since"], "Sun, 06 Nov 2026 08:49:37 GMT");
}

#[tokio::test]
async fn gzip_body_is_decompressed_and_headers_are_honest() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all("<rss><title>山西</title></rss>".as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let server = TestServer::start("127.0.0.1", move |_, _| {
        let headers = [
            ("content-encoding", "gzip"),
            ("content-type", "application/rss+xml; charset=utf-8"),
        ];
        ready(respond(200, &headers, compressed.clone()))
    })
    .await;
    let fetched = page(&fetcher(|_| {}), &local(server.url("/feed"))).await;
    assert_eq!(fetched.text, "<rss><title>山西</title></rss>");
    let log = server.log.lock().unwrap();
    let headers = &log[0].2;
    assert!(headers["accept-encoding"].to_str().unwrap().contains("gzip"));
    assert!(
        headers["accept"]
            .to_str()
            .unwrap()
            .contains("application/rss+xml")
    );
    assert!(headers["user-agent"].to_str().unwrap().starts_with("Tidings/"));
}

#[tokio::test]
async fn body_over_the_limit_stops_early_with_too_large() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        ready(if path == "/sized" {
            respond(200, &[], vec![b'y'; 2 * 1024 * 1024]) // Content-Length announced
        } else {
            // 20 MB, chunked, no length.
            let stream =
                futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone())).take(320);
            respond(200, &[], Body::from_stream(stream))
        })
    })
    .await;
    let fetcher = fetcher(|s| s.max_body_bytes = 1024 * 1024);
    let started = Instant::now();
    for path in ["/stream", "/sized"] {
        let err = fetcher.fetch(&local(server.url(path))).await.unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1_048_576, .. }),
            "{err}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redirect_chains_are_followed_and_loops_are_refused() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        let to = |loc: &str| respond(302, &[("location", loc)], "");
        ready(match path.as_str() {
            "/a/start?x=1" => to("../b/next"), // relative
            "/b/next" => respond(301, &[("location", "/final")], ""),
            "/final" => respond(200, &[], "done"),
            "/loop1" => to("/loop2"),
            "/loop2" => to("/loop1"),
            p => to(&format!("{p}x")), // an endless chain
        })
    })
    .await;
    let fetcher = fetcher(|s| s.max_redirects = 3);
    let done = page(&fetcher, &local(server.url("/a/start?x=1"))).await;
    assert_eq!(done.url, server.url("/final"));
    assert_eq!(done.text, "done");
    let err = fetcher.fetch(&local(server.url("/loop1"))).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 3, .. }),
        "{err}"
    );
    assert_eq!(server.hits("/loop1") + server.hits("/loop2"), 2);
    let err = fetcher.fetch(&local(server.url("/chain"))).await.unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects { .. }), "{err}");
    assert_eq!(server.hits("/chainxxx"), 1);
    assert_eq!(server.hits("/chainxxxx"), 0);
}

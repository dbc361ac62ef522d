//! What a fetch refuses or waits for: timeouts, Retry-After, private addresses,
//! robots.txt and per-host pacing.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use futures::{FutureExt, StreamExt};

use super::*;

#[tokio::test]
async fn hanging_servers_time_out() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        if path == "/slow-headers" {
            return async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                respond(200, &[], "late")
            }
            .boxed();
        }
        let first = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"<html>")) });
        ready(respond(
            200,
            &[],
            Body::from_stream(first.chain(futures::stream::pending())),
        ))
    })
    .await;
    let fetcher = fetcher(|s| s.timeout = Duration::from_millis(500));
    for path in ["/slow-headers", "/slow-body"] {
        let started = Instant::now();
        let err = fetcher.fetch(&local(server.url(path))).await.unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(err.is_transient());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{path}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn retry_after_makes_later_requests_back_off_without_contact() {
    let server = TestServer::start("127.0.0.1", |_, _| {
        ready(respond(503, &[("retry-after", "3600")], "busy"))
    })
    .await;
    let fetcher = fetcher(|_| {});
    let url = server.url("/news?token=s3cret");
    let err = fetcher.fetch(&local(url.clone())).await.unwrap_err();
    let FetchError::Status {
        status: 503,
        retry_after: Some(until),
        ..
    } = &err
    else {
        panic!("{err}")
    };
    let until = *until;
    let wait = until - Utc::now();
    assert!(
        wait > chrono::Duration::minutes(59) && wait <= chrono::Duration::hours(1),
        "{wait}"
    );
    let message = err.to_string();
    assert!(
        message.contains("Retry-After") && !message.contains("s3cret"),
        "{message}"
    );
    let err = fetcher.fetch(&local(server.url("/other"))).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Backoff { until: u, .. } if u == until),
        "{err}"
    );
    assert_eq!(server.log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn private_addresses_are_blocked_without_contact() {
    let server = TestServer::start("127.0.0.1", |_, _| ready(respond(200, &[], "secret"))).await;
    let port = server.base.port().unwrap();
    let fetcher = fetcher(|_| {});
    for (url, addr) in [
        (format!("http://127.0.0.1:{port}/admin"), "127.0.0.1"),
        (format!("http://[::1]:{port}/"), "::1"),
        (format!("http://2130706433:{port}/"), "127.0.0.1"),
        (format!("http://0x7f.1:{port}/"), "127.0.0.1"),
        (format!("http://localhost:{port}/"), ""), // through DNS
    ] {
        let req = FetchRequest::new(Url::parse(&url).unwrap());
        let err = fetcher.fetch(&req).await.unwrap_err();
        let FetchError::Blocked { addr: blocked, .. } = &err else {
            panic!("{url}: {err}")
        };
        assert!(addr.is_empty() || blocked.to_string() == addr, "{url}: {err}");
        assert!(blocked.is_loopback() && !err.is_transient(), "{url}: {err}");
        assert!(err.to_string().contains("allow_private = true"));
    }
    assert!(server.log.lock().unwrap().is_empty());
    let err = fetcher
        .fetch(&FetchRequest::new(Url::parse("file:///etc/passwd").unwrap()))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err}");
}

#[tokio::test]
async fn robots_txt_is_fetched_once_and_obeyed() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        ready(match path.as_str() {
            "/robots.txt" => respond(200, &[], "User-agent: *\nDisallow: /private/\n"),
            _ => respond(200, &[], "ok"),
        })
    })
    .await;
    let fetcher = fetcher(|_| {});
    let robots = |path| FetchRequest {
        respect_robots: true,
        ..local(server.url(path))
    };
    let err = fetcher.fetch(&robots("/private/x")).await.unwrap_err();
    assert!(matches!(err, FetchError::Robots { .. }), "{err}");
    assert_eq!(page(&fetcher, &robots("/public")).await.text, "ok");
    assert_eq!(server.hits("/robots.txt"), 1);
    assert_eq!(server.hits("/private/x"), 0);
    let log = server.log.lock().unwrap();
    assert!(log[0].2["user-agent"].to_str().unwrap().starts_with("Tidings/"));
}

#[tokio::test]
async fn missing_robots_txt_allows_everything() {
    let server = TestServer::start("127.0.0.1", |path, _| {
        ready(if path == "/robots.txt" {
            respond(404, &[], "")
        } else {
            respond(200, &[], "ok")
        })
    })
    .await;
    let fetcher = fetcher(|_| {});
    let req = FetchRequest {
        respect_robots: true,
        ..local(server.url("/private/x"))
    };
    assert_eq!(page(&fetcher, &req).await.text, "ok");
}

#[tokio::test]
async fn one_host_is_paced_and_different_hosts_run_in_parallel() {
    let slow = |_: String, _: HeaderMap| {
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            respond(200, &[], "ok")
        }
        .boxed()
    };
    let one = TestServer::start("127.0.0.1", slow).await;
    let two = TestServer::start("127.0.0.2", slow).await;
    let interval = Duration::from_millis(300);
    let fetcher = fetcher(|s| s.host_interval = interval);
    // Sequential requests to one host: at least the interval after the previous ended.
    page(&fetcher, &local(one.url("/1"))).await;
    page(&fetcher, &local(one.url("/2"))).await;
    let at = one.arrivals();
    assert!(
        at[1] - at[0] >= interval + Duration::from_millis(200),
        "{:?}",
        at[1] - at[0]
    );
    // Concurrent requests to one host wait for each other; to two hosts they do not.
    tokio::time::sleep(interval).await;
    let (r3, r1, r4) = (local(one.url("/3")), local(two.url("/1")), local(one.url("/4")));
    let (a, b, c) = tokio::join!(page(&fetcher, &r3), page(&fetcher, &r1), page(&fetcher, &r4));
    assert_eq!((a.text, b.text, c.text), ("ok".into(), "ok".into(), "ok".into()));
    let (at_one, at_two) = (one.arrivals(), two.arrivals());
    assert!(at_one[3] - at_one[2] >= interval + Duration::from_millis(200));
    let gap = at_two[0].max(at_one[2]) - at_two[0].min(at_one[2]);
    assert!(gap < Duration::from_millis(150), "hosts were serialized: {gap:?}");
}

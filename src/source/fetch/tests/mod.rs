//! Fetcher tests over real HTTP on loopback, against small axum servers.
//!
//! `content` covers what comes back (charsets, 304, gzip, size, redirects); `safety`
//! covers what we refuse or wait for (timeouts, Retry-After, SSRF, robots.txt, pacing).

mod content;
mod safety;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Response, Uri};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::*;
/// What the test server saw: path and arrival time of each request, with its headers.
type Log = Arc<Mutex<Vec<(String, Instant, HeaderMap)>>>;

struct TestServer {
    base: Url,
    log: Log,
}

impl TestServer {
    /// Serves `handler(path_and_query, headers)` on `ip`, port 0.
    async fn start<F>(ip: &str, handler: F) -> Self
    where
        F: Fn(String, HeaderMap) -> BoxFuture<'static, Response<Body>> + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Log::default();
        let handler = Arc::new(handler);
        let app_log = Arc::clone(&log);
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            app_log
                .lock()
                .unwrap()
                .push((uri.path().to_owned(), Instant::now(), headers.clone()));
            let path = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), ToString::to_string);
            handler(path, headers)
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: Url::parse(&format!("http://{addr}/")).unwrap(),
            log,
        }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    fn hits(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, ..)| p == path)
            .count()
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.log.lock().unwrap().iter().map(|(_, at, _)| *at).collect()
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(body.into()).unwrap()
}

fn ready(response: Response<Body>) -> BoxFuture<'static, Response<Body>> {
    futures::future::ready(response).boxed()
}

fn fetcher(tweak: impl FnOnce(&mut FetchSettings)) -> Fetcher {
    let mut settings = FetchSettings {
        host_interval: Duration::ZERO,
        ..FetchSettings::default()
    };
    tweak(&mut settings);
    Fetcher::new(settings).unwrap()
}

/// A request to a loopback test server: private addresses allowed, robots ignored.
fn local(url: Url) -> FetchRequest {
    FetchRequest {
        allow_private: true,
        respect_robots: false,
        ..FetchRequest::new(url)
    }
}

async fn page(fetcher: &Fetcher, req: &FetchRequest) -> Page {
    match fetcher.fetch(req).await.unwrap() {
        FetchOutcome::Page(page) => page,
        FetchOutcome::NotModified => panic!("unexpected 304"),
    }
}

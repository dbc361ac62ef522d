//! The HTTP server: feeds, the OPML export, the index and status pages, and liveness.
//!
//! # Layout
//! - `feeds`: `/feeds/…` paths and query strings resolved to a canonical [`FeedSpec`], and
//!   [`build`], the one function that renders a feed (also used by `tidings render`).
//! - `catalog`: which regions, tags and sources have feeds ([`Catalog`]).
//! - `cache`: rendered documents per store version ([`FeedCache`]).
//! - `conditional`: [`Rendered`] documents answered with `ETag`/`Last-Modified`, 304s, and
//!   gzip/br variants compressed once and kept (compressed variants carry weak ETags).
//! - `query`: feed query strings and their canonical form ([`Filter`]).
//! - `opml`, `pages` (+ `templates/`), `status`: `/feeds.opml`, `/`, `/status`, `/status.json`.
//! - `metrics`: `/metrics` in the Prometheus text format: this process's counters
//!   ([`crate::telemetry`]) and gauges read from the store. Served by [`router`], or only
//!   by [`metrics_router`] when `[server] metrics_listen` names a private address.
//! - `subscribe`: the email subscription pages (`/subscribe`, `/confirm`, `/manage`,
//!   `/unsubscribe`) and their per-client rate limit.
//!
//! Feeds, `/` and `/feeds.opml` are compressed by [`Rendered`] itself; the other responses
//! (status pages) go through tower-http's `CompressionLayer`, which leaves responses that
//! already carry a `Content-Encoding` alone. Every request is counted and timed by
//! [`crate::telemetry::track_http`] under its route template.

mod cache;
mod catalog;
mod conditional;
pub mod feeds;
mod metrics;
mod opml;
pub mod pages;
mod query;
pub mod status;
pub mod subscribe;
mod version;

pub use cache::{FeedCache, MAX_ENTRIES};
pub use catalog::{Catalog, RegionEntry, SourceEntry};
pub use conditional::{Encoding, Rendered, etag_of, http_date, negotiate, parse_http_date};
pub use feeds::{FeedSpec, build, resolve};
pub use opml::opml_document;
pub use pages::index_document;
pub use query::{DEFAULT_LIMIT, Filter, MAX_LIMIT, Params, RegionKey};
pub use status::{StatusReport, status_report};
pub use version::{REFRESH, VersionWatch};

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;

use crate::app::App;
use crate::store::StoreError;

/// Why a request failed; each variant answers with a short zh-CN plain-text message.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No such feed, region, tag or source (404).
    #[error("{0}")]
    NotFound(String),
    /// A malformed query parameter (400).
    #[error("{0}")]
    BadRequest(String),
    /// The store failed (500; the cause is logged).
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
    /// Rendering failed (500; the cause is logged).
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ServeError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ServeError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ServeError::Store(e) => {
                tracing::error!("request failed: {}", chain(&e));
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器内部错误：数据库暂时不可用，请稍后再试".to_owned(),
                )
            }
            ServeError::Internal(e) => {
                tracing::error!("request failed: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "服务器内部错误，请稍后再试".to_owned(),
                )
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response()
    }
}

/// Shared by every handler: the app and the document cache.
#[derive(Clone)]
pub struct ServeState {
    /// The application (config + store).
    pub app: App,
    /// Rendered documents of the current store version.
    pub cache: Arc<FeedCache>,
    /// The store version, re-read at most every [`REFRESH`].
    pub version: Arc<VersionWatch>,
    /// `/subscribe` requests per client IP.
    pub subscribe_limit: Arc<subscribe::SubscribeLimiter>,
}

impl ServeState {
    /// State with an empty cache of at most [`MAX_ENTRIES`] documents.
    pub fn new(app: App) -> ServeState {
        ServeState {
            subscribe_limit: Arc::new(subscribe::SubscribeLimiter::new(app.config.email.per_ip_per_hour)),
            app,
            cache: Arc::new(FeedCache::new(MAX_ENTRIES)),
            version: Arc::new(VersionWatch::default()),
        }
    }

    /// The store version (cached for at most [`REFRESH`]).
    pub async fn version(&self) -> Result<i64, StoreError> {
        self.version.get(self.app.store.as_ref()).await
    }

    /// The catalog at `version`, loaded once per version.
    pub async fn catalog(&self, version: i64) -> Result<Arc<Catalog>, StoreError> {
        self.cache.catalog(version, Catalog::load(&self.app)).await
    }
}

/// The largest form body accepted.
const FORM_LIMIT: usize = 16 * 1024;

/// Every HTTP route of the service.
pub fn router(app: App) -> Router {
    router_with(ServeState::new(app))
}

/// The routes over a given state (tests use it to look at the cache).
pub fn router_with(state: ServeState) -> Router {
    // Feeds, `/` and the OPML compress themselves (cached variants); only the status pages
    // go through the compression layer.
    let status_pages = Router::new()
        .route("/status", get(status::status))
        .route("/status.json", get(status::status_json))
        .layer(CompressionLayer::new());
    let subscription_pages = Router::new()
        .route("/subscribe", post(subscribe::subscribe))
        .route("/confirm/{token}", get(subscribe::confirm))
        .route(
            "/manage/{token}",
            get(subscribe::manage_page).post(subscribe::manage),
        )
        .route(
            "/unsubscribe/{token}",
            get(subscribe::unsubscribe_page).post(subscribe::unsubscribe),
        )
        .layer(DefaultBodyLimit::max(FORM_LIMIT));
    let mut routes = Router::new()
        .route("/", get(pages::index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/feeds.opml", get(opml::handler))
        .route("/feeds/{file}", get(feeds::top))
        .route("/feeds/{section}/{file}", get(feeds::nested));
    // With a private metrics address, the public one answers /metrics with 404.
    if state.app.config.server.metrics_listen.is_none() {
        routes = routes.route("/metrics", get(metrics::handler));
    }
    routes
        .merge(status_pages)
        .merge(subscription_pages)
        .fallback(not_found)
        // A `layer`, not a `route_layer`: the route template (`MatchedPath`) is set before
        // any layer of the route runs, and this way the fallback is counted too, so requests
        // no route matches (a scanner's guesses) show up as `unmatched`.
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .with_state(state)
}

/// `/metrics` alone, for the private address of `[server] metrics_listen`.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics::handler))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::telemetry::track_http))
        .with_state(ServeState::new(app))
}

/// An error with every cause, `outer: inner: …`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

async fn not_found(uri: Uri) -> ServeError {
    ServeError::NotFound(format!("未找到页面：{}", uri.path()))
}

//! Serving a [`Portal`] over HTTP: content types, strong `ETag`s, `Last-Modified`,
//! conditional requests, directory indexes, percent-decoded paths and per-path hit counts.
//! The content can be swapped at run time, which is how tests move between epochs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Portal, PortalParams, generate, html};

/// One servable file.
struct File {
    bytes: Bytes,
    etag: String,
    content_type: &'static str,
}

/// An immutable snapshot of the served site.
struct Content {
    files: BTreeMap<String, File>,
    last_modified: DateTime<Utc>,
}

impl Content {
    fn new(portal: Portal) -> Content {
        let newest = portal
            .truth
            .articles
            .iter()
            .chain(&portal.truth.feed_pages)
            .map(|a| a.published)
            .max();
        let mut site_digest = Sha256::new();
        let files: BTreeMap<String, File> = portal
            .files
            .into_iter()
            .map(|(path, bytes)| {
                let digest = Sha256::digest(&bytes);
                site_digest.update(path.as_bytes());
                site_digest.update(digest);
                let etag = format!("\"{}\"", hex(&digest[..16]));
                let file = File {
                    content_type: content_type(&path),
                    bytes: Bytes::from(bytes),
                    etag,
                };
                (path, file)
            })
            .collect();
        // Fixed per content: the newest publish time plus up to an hour derived from the
        // content, so two different sites of one epoch (e.g. variants) never share a value,
        // while the next epoch (whose articles are a day newer) always has a later one.
        let site_digest = site_digest.finalize();
        let jitter = u16::from_be_bytes([site_digest[0], site_digest[1]]) % 3600;
        let newest = newest.map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc));
        Content {
            files,
            last_modified: newest + TimeDelta::seconds(i64::from(jitter)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "xml" if path.starts_with("/atom/") => "application/atom+xml; charset=utf-8",
        "xml" => "application/rss+xml; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Percent-decodes a request path and maps `…/` to `…/index.html`.
/// `None` when the decoded bytes are not UTF-8.
fn normalize(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    let mut path = String::from_utf8(out).ok()?;
    if path.ends_with('/') {
        path.push_str("index.html");
    }
    Some(path)
}

struct Inner {
    content: RwLock<Arc<Content>>,
    hits: Mutex<BTreeMap<String, usize>>,
}

/// The shared, swappable state behind [`router`]: the current site and the hit counts.
#[derive(Clone)]
pub struct PortalState {
    inner: Arc<Inner>,
}

impl PortalState {
    /// State serving `portal`.
    pub fn new(portal: Portal) -> PortalState {
        let inner = Inner {
            content: RwLock::new(Arc::new(Content::new(portal))),
            hits: Mutex::default(),
        };
        PortalState {
            inner: Arc::new(inner),
        }
    }

    /// Atomically swaps the served content; requests in flight finish on the old one.
    pub fn replace(&self, portal: Portal) {
        let content = Arc::new(Content::new(portal));
        *self.inner.content.write().unwrap_or_else(PoisonError::into_inner) = content;
    }

    fn content(&self) -> Arc<Content> {
        self.inner
            .content
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, path: &str) {
        let mut hits = self.inner.hits.lock().unwrap_or_else(PoisonError::into_inner);
        *hits.entry(path.to_string()).or_default() += 1;
    }

    /// Requests seen for `path` (any method and status). Paths are compared decoded, with
    /// `…/` meaning `…/index.html`, so `/tag/R%26D.html` and `/tag/R&D.html` are one path.
    pub fn hits(&self, path: &str) -> usize {
        let path = normalize(path).unwrap_or_else(|| path.to_string());
        self.inner
            .hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests seen for every path.
    pub fn total_hits(&self) -> usize {
        self.inner
            .hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum()
    }

    /// Forgets every hit.
    pub fn reset_hits(&self) {
        self.inner
            .hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A router serving `state` for every path (to embed the portal in another app).
pub fn router(state: PortalState) -> Router {
    Router::new().fallback(serve_file).with_state(state)
}

fn not_modified(headers: &HeaderMap, file: &File, last_modified: DateTime<Utc>) -> bool {
    if let Some(tags) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        // Weak comparison, as RFC 9110 asks for If-None-Match; it takes precedence.
        return tags
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == file.etag);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    since
        .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
        .is_some_and(|since| last_modified <= since)
}

fn plain(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn serve_file(State(state): State<PortalState>, request: Request) -> Response {
    let raw = request.uri().path().to_string();
    let Some(path) = normalize(&raw) else {
        return plain(StatusCode::NOT_FOUND, "text/html; charset=utf-8", html::NOT_FOUND);
    };
    state.count(&path);
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "405\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let content = state.content();
    let Some(file) = content.files.get(&path) else {
        if content.files.contains_key(&format!("{path}/index.html")) {
            let mut response = plain(StatusCode::MOVED_PERMANENTLY, "text/plain; charset=utf-8", "");
            if let Ok(location) = HeaderValue::from_str(&format!("{raw}/")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        return plain(StatusCode::NOT_FOUND, "text/html; charset=utf-8", html::NOT_FOUND);
    };
    let last_modified = content
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let not_modified = not_modified(request.headers(), file, content.last_modified);
    let body = if not_modified {
        Body::empty()
    } else {
        Body::from(file.bytes.clone())
    };
    let mut response = Response::new(body);
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    if let Ok(etag) = HeaderValue::from_str(&file.etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(value) = HeaderValue::from_str(&last_modified) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    response
}

/// An HTTP server for a portal, swappable at run time (tests change epoch/variant mid-test).
///
/// To generate a site whose absolute links point at the server itself:
/// [`PortalServer::bind`] → set `base_url` to the returned URL → [`generate`] →
/// [`PortalServer::serve`]; or just [`PortalServer::start_generated`].
pub struct PortalServer {
    state: PortalState,
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl PortalServer {
    /// Binds `addr` (port 0 picks a free port) and returns the listener with its base URL,
    /// e.g. `http://127.0.0.1:41234`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, String)> {
        let listener = TcpListener::bind(addr).await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok((listener, url))
    }

    /// Serves `portal` on `listener` in a background task (call inside a tokio runtime).
    pub fn serve(listener: TcpListener, portal: Portal) -> std::io::Result<PortalServer> {
        let addr = listener.local_addr()?;
        let state = PortalState::new(portal);
        let cancel = CancellationToken::new();
        let app = router(state.clone());
        let stop = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stop).await });
        Ok(PortalServer {
            state,
            addr,
            cancel,
            task: Some(task),
        })
    }

    /// Binds `addr` and serves `portal` (whose `base_url` is whatever it was generated with).
    pub async fn start(portal: Portal, addr: SocketAddr) -> std::io::Result<PortalServer> {
        let (listener, _) = Self::bind(addr).await?;
        Self::serve(listener, portal)
    }

    /// Binds `addr`, generates `params` with `base_url` set to the server's URL, and serves it.
    pub async fn start_generated(
        mut params: PortalParams,
        addr: SocketAddr,
    ) -> std::io::Result<PortalServer> {
        let (listener, url) = Self::bind(addr).await?;
        params.base_url = url;
        Self::serve(listener, generate(&params))
    }

    /// `http://ADDR` of the server, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (content and hit counts).
    pub fn state(&self) -> PortalState {
        self.state.clone()
    }

    /// Atomically swaps the served content.
    pub fn replace(&self, portal: Portal) {
        self.state.replace(portal);
    }

    /// Requests seen for `path`; see [`PortalState::hits`].
    pub fn hits(&self, path: &str) -> usize {
        self.state.hits(path)
    }

    /// Requests seen for every path.
    pub fn total_hits(&self) -> usize {
        self.state.total_hits()
    }

    /// Forgets every hit.
    pub fn reset_hits(&self) {
        self.state.reset_hits();
    }

    /// Stops accepting, lets open requests finish (up to 5 s) and waits for the task.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for PortalServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

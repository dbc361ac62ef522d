//! Polite, safe HTTP fetching with charset decoding.
//!
//! One [`Fetcher`] is shared by every source. A fetch walks the redirect chain itself
//! (reqwest's own redirects are off) and, on every hop:
//! 1. refuses non-HTTP URLs and blocked IP literals (`guard.rs`);
//! 2. fails fast with [`FetchError::Backoff`] while the host's `Retry-After` runs;
//! 3. checks robots.txt when asked (`robots.rs`);
//! 4. waits for the host's turn: one request at a time, `host_interval` apart (`polite.rs`);
//! 5. sends a conditional GET through the strict client, whose resolver drops blocked
//!    addresses, or the permissive one when the source allows private addresses;
//! 6. reads the decompressed body as a stream, stopping at `max_body_bytes`, all within
//!    `timeout`.
//!
//! The body is then decoded by [`decode_body`] (`charset.rs`). Environment proxies are
//! ignored on purpose: a proxy resolves names itself, which would bypass the SSRF check.

mod charset;
mod error;
mod guard;
mod polite;
mod response;
mod robots;
#[cfg(test)]
mod tests;
mod types;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

pub use charset::decode_body;
pub use error::FetchError;
pub use types::{FetchOutcome, FetchRequest, FetchSettings, Page, Validators};

use error::redact;
use guard::{GuardedResolver, blocked_literal};
use polite::{HostState, Hosts, host_key, parse_retry_after};
use response::{header_str, read_body, reqwest_error};
use robots::RobotsCache;

/// What we accept: HTML and the feed formats first, anything else last.
const ACCEPT: &str = "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,\
                      application/feed+json;q=0.9,application/xml;q=0.9,text/xml;q=0.9,\
                      application/json;q=0.8,*/*;q=0.5";

/// The shared HTTP fetcher: clients, per-host state and the robots.txt cache.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    settings: FetchSettings,
    /// Resolves through [`GuardedResolver`].
    strict: Client,
    /// For sources with `allow_private`.
    permissive: Client,
    hosts: Hosts,
    robots: RobotsCache,
}

/// How to treat a body over the size limit.
#[derive(Debug, Clone, Copy)]
enum BodyLimit {
    /// Fail with [`FetchError::TooLarge`] (pages).
    Fail(usize),
    /// Keep the first bytes (robots.txt).
    Truncate(usize),
}

/// One internal fetch: a page or robots.txt.
struct Plan<'a> {
    validators: Option<&'a Validators>,
    allow_private: bool,
    respect_robots: bool,
    limit: BodyLimit,
}

/// A 2xx response with its body read.
struct Fetched {
    url: Url,
    status: u16,
    content_type: Option<String>,
    validators: Validators,
    body: Vec<u8>,
}

/// What one hop of a redirect chain gave.
enum Hop {
    Redirect(Url),
    NotModified,
    Done(Fetched),
}

impl Fetcher {
    /// Builds the fetcher (and installs the ring TLS provider if none is installed yet).
    pub fn new(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        // Err only means a provider is already installed, which is what we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(ACCEPT));
            Client::builder()
                .user_agent(settings.user_agent.clone())
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(settings.connect_timeout)
                .timeout(settings.timeout)
                .no_proxy()
        };
        let strict = builder()
            .dns_resolver(Arc::new(GuardedResolver))
            .build()
            .map_err(FetchError::Client)?;
        let permissive = builder().build().map_err(FetchError::Client)?;
        let inner = Inner {
            settings,
            strict,
            permissive,
            hosts: Hosts::default(),
            robots: RobotsCache::default(),
        };
        Ok(Fetcher {
            inner: Arc::new(inner),
        })
    }

    /// Fetches `req.url`, following redirects, and decodes the body.
    pub async fn fetch(&self, req: &FetchRequest) -> Result<FetchOutcome, FetchError> {
        let plan = Plan {
            validators: Some(&req.validators),
            allow_private: req.allow_private,
            respect_robots: req.respect_robots,
            limit: BodyLimit::Fail(self.inner.settings.max_body_bytes),
        };
        let Some(fetched) = self.get(&req.url, &plan).await? else {
            return Ok(FetchOutcome::NotModified);
        };
        let (text, encoding) = decode_body(&fetched.body, fetched.content_type.as_deref(), req.charset);
        Ok(FetchOutcome::Page(Page {
            url: fetched.url,
            status: fetched.status,
            content_type: fetched.content_type,
            text,
            encoding,
            validators: fetched.validators,
        }))
    }

    /// Follows the redirect chain from `start`; `None` means 304 Not Modified.
    async fn get(&self, start: &Url, plan: &Plan<'_>) -> Result<Option<Fetched>, FetchError> {
        let limit = self.inner.settings.max_redirects;
        let mut url = start.clone();
        url.set_fragment(None);
        let mut seen = HashSet::new();
        for _ in 0..=limit {
            if !seen.insert(url.to_string()) {
                break; // a loop
            }
            match self.hop(&url, plan).await? {
                Hop::Redirect(mut next) => {
                    next.set_fragment(None);
                    url = next;
                }
                Hop::NotModified => return Ok(None),
                Hop::Done(fetched) => return Ok(Some(fetched)),
            }
        }
        Err(FetchError::TooManyRedirects {
            url: redact(start),
            limit,
        })
    }

    /// One request, with every check that applies to it.
    async fn hop(&self, url: &Url, plan: &Plan<'_>) -> Result<Hop, FetchError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            let reason = "only http:// and https:// URLs with a host can be fetched".to_owned();
            return Err(FetchError::InvalidUrl {
                url: redact(url),
                reason,
            });
        }
        if !plan.allow_private
            && let Some(addr) = blocked_literal(url)
        {
            return Err(FetchError::Blocked {
                url: redact(url),
                addr,
            });
        }
        let key = host_key(url);
        let host = self.inner.hosts.get(&key);
        check_backoff(&key, &host)?;
        if plan.respect_robots && !self.robots_allow(url, plan.allow_private).await? {
            return Err(FetchError::Robots { url: redact(url) });
        }
        let _permit = host.acquire(self.inner.settings.host_interval).await;
        // The host may have asked for a pause while we were waiting our turn.
        check_backoff(&key, &host)?;
        let started = Instant::now();
        let after = self.inner.settings.timeout;
        let result = tokio::time::timeout(after, self.exchange(url, plan, &host))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Timeout {
                    url: redact(url),
                    after,
                })
            });
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(Hop::Done(f)) => {
                debug!(host = %key, path = url.path(), status = f.status, bytes = f.body.len(), ms, "fetched")
            }
            Ok(Hop::Redirect(_)) => {
                debug!(host = %key, path = url.path(), status = "redirect", ms, "fetched")
            }
            Ok(Hop::NotModified) => {
                debug!(host = %key, path = url.path(), status = 304, bytes = 0, ms, "fetched")
            }
            Err(err) => debug!(host = %key, path = url.path(), error = %err, ms, "fetch failed"),
        }
        result
    }

    /// Sends the request and reads the response.
    async fn exchange(&self, url: &Url, plan: &Plan<'_>, host: &HostState) -> Result<Hop, FetchError> {
        let client = if plan.allow_private {
            &self.inner.permissive
        } else {
            &self.inner.strict
        };
        let mut request = client.get(url.clone());
        if let Some(validators) = plan.validators {
            // A stored validator that is not a valid header value is skipped, not fatal.
            let conditions = [
                (header::IF_NONE_MATCH, &validators.etag),
                (header::IF_MODIFIED_SINCE, &validators.last_modified),
            ];
            for (name, value) in conditions {
                if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                    request = request.header(name, value);
                }
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| reqwest_error(&self.inner.settings, url, err))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Hop::NotModified);
        }
        if status.is_redirection()
            && let Some(location) = response.headers().get(header::LOCATION)
        {
            let next = location.to_str().ok().and_then(|l| url.join(l.trim()).ok());
            return next.map(Hop::Redirect).ok_or_else(|| FetchError::InvalidUrl {
                url: redact(url),
                reason: "it redirects to a Location that is not a valid URL".to_owned(),
            });
        }
        if !status.is_success() {
            let mut retry_after = None;
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
                let now = Utc::now();
                let wait = header_str(response.headers(), header::RETRY_AFTER)
                    .and_then(|v| parse_retry_after(&v, now, self.inner.settings.max_retry_after));
                if let Some(until) = wait
                    .and_then(|w| chrono::Duration::from_std(w).ok())
                    .map(|w| now + w)
                {
                    host.set_backoff(until);
                    retry_after = Some(until);
                }
            }
            return Err(FetchError::Status {
                url: redact(url),
                status: status.as_u16(),
                retry_after,
            });
        }
        let headers = response.headers();
        let content_type = header_str(headers, header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(headers, header::ETAG),
            last_modified: header_str(headers, header::LAST_MODIFIED),
        };
        let body = read_body(&mut response, url, plan.limit, &self.inner.settings).await?;
        Ok(Hop::Done(Fetched {
            url: url.clone(),
            status: status.as_u16(),
            content_type,
            validators,
            body,
        }))
    }
}

fn check_backoff(key: &str, host: &HostState) -> Result<(), FetchError> {
    match host.backoff_until(Utc::now()) {
        Some(until) => Err(FetchError::Backoff {
            host: key.to_owned(),
            until,
        }),
        None => Ok(()),
    }
}

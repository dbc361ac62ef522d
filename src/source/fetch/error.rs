//! What can go wrong while fetching, worded for the operator.
//!
//! URLs in messages are shown as `scheme://host[:port]/path` only: a query string (or
//! user info) may carry a token, so it never reaches a log line.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

/// Why a fetch produced no page.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be fetched at all (not http/https, no host, bad redirect target).
    #[error("cannot fetch {url}: {reason}")]
    InvalidUrl {
        /// The URL, without query string.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host is (or resolves to) a private, loopback or otherwise internal address.
    #[error(
        "refused to fetch {url}: it resolves to the private/loopback address {addr}; \
         set allow_private = true for this source if this is intended"
    )]
    Blocked {
        /// The URL, without query string.
        url: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// The site's robots.txt disallows this URL for our user agent.
    #[error(
        "{url} is disallowed by the site's robots.txt for the Tidings user agent; \
         set `robots = false` in the recipe only if the site allows it"
    )]
    Robots {
        /// The URL, without query string.
        url: String,
    },
    /// The request (connecting, or the whole exchange including the body) took too long.
    #[error("fetching {url} timed out after {after:?}; the site may be slow or down")]
    Timeout {
        /// The URL, without query string.
        url: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// The (decompressed) body exceeded the configured limit; reading stopped there.
    #[error(
        "the response from {url} is larger than the limit of {limit} bytes; \
         raise `[fetch] max_body_kib` in config.toml if pages this large are expected"
    )]
    TooLarge {
        /// The URL, without query string.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// More redirects than allowed, or a redirect loop.
    #[error("gave up on {url}: more than {limit} redirects or a redirect loop")]
    TooManyRedirects {
        /// The URL that started the chain, without query string.
        url: String,
        /// The configured maximum number of redirects.
        limit: usize,
    },
    /// The server answered with an error status (4xx/5xx, or a 3xx without `Location`).
    #[error("{}", status_message(url, *status, retry_after.as_ref()))]
    Status {
        /// The URL, without query string.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// When a `Retry-After` header asked us to come back (already capped).
        retry_after: Option<DateTime<Utc>>,
    },
    /// The host asked us to wait (`Retry-After`); it was not contacted.
    #[error(
        "not contacting {host} until {until}: it asked us to wait with Retry-After; \
         the next poll after that time will try again"
    )]
    Backoff {
        /// The `host:port` we are waiting for.
        host: String,
        /// When requests may resume.
        until: DateTime<Utc>,
    },
    /// Connecting or talking to the server failed (DNS, refused, TLS, reset, bad body).
    #[error("could not fetch {url}: {detail}")]
    Network {
        /// The URL, without query string.
        url: String,
        /// The innermost cause, for a one-line message.
        detail: String,
        /// The underlying error, with its URL removed.
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("could not set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl FetchError {
    /// Whether trying again later may succeed: timeouts, network failures, back-off, and
    /// the statuses 408, 429 and 5xx. Everything else needs a change of URL or settings.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Network { .. } | Self::Backoff { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::InvalidUrl { .. }
            | Self::Blocked { .. }
            | Self::Robots { .. }
            | Self::TooLarge { .. }
            | Self::TooManyRedirects { .. }
            | Self::Client(_) => false,
        }
    }

    /// Wraps a `reqwest` error for `url`, without the URL reqwest keeps inside it.
    pub(crate) fn network(url: &Url, source: reqwest::Error) -> Self {
        let source = source.without_url();
        let mut detail = source.to_string();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&source);
        while let Some(err) = cause {
            detail = err.to_string();
            cause = err.source();
        }
        Self::Network {
            url: redact(url),
            detail,
            source,
        }
    }
}

fn status_message(url: &str, status: u16, retry_after: Option<&DateTime<Utc>>) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut msg = format!("{url} answered HTTP {status} {reason}")
        .trim_end()
        .to_owned();
    match retry_after {
        Some(until) => msg.push_str(&format!(
            "; it asked us to wait until {until} (Retry-After), so Tidings will not contact it before then"
        )),
        None if status >= 500 => msg.push_str("; the site has a problem, Tidings will try again later"),
        None if status == 404 || status == 410 => msg.push_str("; check the source's URL"),
        None if status == 401 || status == 403 => msg.push_str("; the site refuses access to Tidings"),
        None => {}
    }
    msg
}

/// `scheme://host[:port]/path` of `url`: no user info, query or fragment.
pub(crate) fn redact(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://{host}{}", url.scheme(), url.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_drop_tokens() {
        let url = Url::parse("https://user:pw@example.com:8443/feed.xml?token=s3cret#top").unwrap();
        assert_eq!(redact(&url), "https://example.com:8443/feed.xml");
        let err = FetchError::Status {
            url: redact(&url),
            status: 503,
            retry_after: None,
        };
        assert!(!err.to_string().contains("s3cret"));
        assert!(err.is_transient());
        assert!(
            !FetchError::Status {
                url: String::new(),
                status: 404,
                retry_after: None
            }
            .is_transient()
        );
    }
}

//! The public values of fetching: settings, requests, validators and results.

use std::time::Duration;

use encoding_rs::Encoding;
use url::Url;

/// Limits and identity for all fetching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Limit for a whole request, body included (per redirect hop). Default 20 s.
    pub timeout: Duration,
    /// Limit for establishing a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit on the decoded (decompressed) body; reading stops there. Default 5 MiB.
    pub max_body_bytes: usize,
    /// How many redirects to follow. Default 5.
    pub max_redirects: usize,
    /// Minimum gap between the end of one request to a host and the start of the next.
    /// Default 1 s; zero still allows only one request at a time per host.
    pub host_interval: Duration,
    /// The `User-Agent` header, sent with every request including robots.txt.
    pub user_agent: String,
    /// The longest `Retry-After` we honour; longer requests are cut to this. Default 6 h.
    pub max_retry_after: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            host_interval: Duration::from_secs(1),
            user_agent: format!(
                "Tidings/{} (+https://github.com/tidings-rs/tidings)",
                env!("CARGO_PKG_VERSION")
            ),
            max_retry_after: Duration::from_secs(6 * 3600),
        }
    }
}

/// One page to fetch and how.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The URL to fetch (http or https).
    pub url: Url,
    /// Validators from the last fetch, for a conditional GET.
    pub validators: Validators,
    /// Allow loopback, private and other internal addresses (default false).
    pub allow_private: bool,
    /// Obey the site's robots.txt (default true).
    pub respect_robots: bool,
    /// An encoding forced by the recipe; only a byte order mark overrides it.
    pub charset: Option<&'static Encoding>,
}

impl FetchRequest {
    /// A request for `url` with the safe defaults: no validators, public addresses only,
    /// robots.txt respected, charset sniffed.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            validators: Validators::default(),
            allow_private: false,
            respect_robots: true,
            charset: None,
        }
    }
}

/// HTTP cache validators of a page, kept between polls.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    /// The `ETag` header, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` header, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// The result of a successful fetch.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// The server said the page did not change since the validators were issued (304).
    NotModified,
    /// A fresh copy of the page.
    Page(Page),
}

/// A fetched and decoded page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The final URL, after redirects (without fragment).
    pub url: Url,
    /// The HTTP status (2xx).
    pub status: u16,
    /// The `Content-Type` header, as sent.
    pub content_type: Option<String>,
    /// The decoded body.
    pub text: String,
    /// The encoding the body was decoded with.
    pub encoding: &'static Encoding,
    /// The page's new validators, to send on the next fetch.
    pub validators: Validators,
}

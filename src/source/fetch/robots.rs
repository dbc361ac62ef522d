//! robots.txt: fetched once per origin, cached, evaluated for the `Tidings` product token.
//!
//! The file is fetched through the same path as pages (SSRF guard, per-host politeness,
//! redirects, `Retry-After`), without a robots check of its own, and read up to
//! [`robotxt::BYTE_LIMIT`]. What a failure means (RFC 9309 leaves some of it to us):
//! - 2xx: the rules apply; cached for an hour.
//! - 4xx (other than 429) and too many redirects: no rules, everything allowed; cached for
//!   an hour.
//! - 5xx, 429, timeouts and network errors: allowed, with a warning, and asked again
//!   after a few minutes. RFC 9309 says to assume "disallow all" here; a news daemon
//!   polling a site whose robots.txt is briefly broken would then silently stop, while
//!   the page request right after still meets the site's real errors and back-off.
//! - A blocked address or an active back-off fails the page fetch itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use robotxt::Robots;
use tokio::time::Instant;
use tracing::warn;
use url::Url;

use super::error::redact;
use super::{BodyLimit, FetchError, Fetcher, Plan};

/// The product token robots.txt groups are matched against.
pub(crate) const PRODUCT_TOKEN: &str = "Tidings";

/// How long a fetched (or definitively missing) robots.txt is trusted.
const FRESH: Duration = Duration::from_secs(3600);

/// How long to go without robots.txt after a server or network error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(300);

/// One origin's rules and when to fetch them again.
#[derive(Debug)]
pub(crate) struct Cached {
    robots: Arc<Robots>,
    expires: Instant,
}

/// Rules per origin (`scheme://host:port`). Each origin has its own async slot, so
/// concurrent requests to one site wait for a single robots.txt fetch.
#[derive(Debug, Default)]
pub(crate) struct RobotsCache {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

impl RobotsCache {
    fn slot(&self, origin: &str) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(origin.to_owned()).or_default())
    }
}

impl Fetcher {
    /// Whether robots.txt of `url`'s origin lets us fetch `url`.
    pub(super) async fn robots_allow(&self, url: &Url, allow_private: bool) -> Result<bool, FetchError> {
        let origin = url.origin().ascii_serialization();
        let slot = self.inner.robots.slot(&origin);
        let mut cached = slot.lock().await;
        if let Some(entry) = cached.as_ref().filter(|c| c.expires > Instant::now()) {
            return Ok(entry.robots.is_url_allowed(url));
        }
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let plan = Plan {
            validators: None,
            allow_private,
            respect_robots: false,
            limit: BodyLimit::Truncate(robotxt::BYTE_LIMIT),
        };
        // Boxed: fetching robots.txt goes through the same hop code that called us.
        let (robots, ttl) = match Box::pin(self.get(&robots_url, &plan)).await {
            Ok(Some(file)) => (Robots::parse(&file.body, PRODUCT_TOKEN), FRESH),
            Ok(None) => (Robots::allow_all(), FRESH),
            Err(FetchError::Status { status, .. }) if (400..500).contains(&status) && status != 429 => {
                (Robots::allow_all(), FRESH)
            }
            Err(FetchError::TooManyRedirects { .. }) => (Robots::allow_all(), FRESH),
            Err(
                err @ (FetchError::Blocked { .. }
                | FetchError::Backoff { .. }
                | FetchError::InvalidUrl { .. }),
            ) => {
                return Err(err);
            }
            Err(err) => {
                warn!(robots = %redact(&robots_url), error = %err, "robots.txt unavailable; allowing for now");
                (Robots::allow_all(), RETRY_AFTER_ERROR)
            }
        };
        let allowed = robots.is_url_allowed(url);
        *cached = Some(Cached {
            robots: Arc::new(robots),
            expires: Instant::now() + ttl,
        });
        Ok(allowed)
    }
}

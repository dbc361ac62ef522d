//! Per-host politeness: one request at a time, a minimum gap between requests, and the
//! back-off a host asks for with `Retry-After`.
//!
//! Hosts are keyed by `host:port`. Each has an async gate holding the instant its last
//! request ended; a request takes the gate, sleeps until `last end + interval`, and puts
//! the new end instant back when its permit drops (also on error or cancellation).
//! Requests to different hosts never wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use url::Url;

/// The politeness key of a URL: `host:port` (IPv6 hosts keep their brackets).
pub(crate) fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The state of every host contacted so far.
#[derive(Debug, Default)]
pub(crate) struct Hosts {
    map: Mutex<HashMap<String, Arc<HostState>>>,
}

impl Hosts {
    /// The state of `key`, created on first use.
    pub(crate) fn get(&self, key: &str) -> Arc<HostState> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(key.to_owned()).or_default())
    }
}

/// One host's gate and back-off.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    /// When the last request to this host ended; `None` before the first.
    gate: Arc<tokio::sync::Mutex<Option<Instant>>>,
    /// Not before this time, as asked by the host's `Retry-After`.
    not_before: Mutex<Option<DateTime<Utc>>>,
}

impl HostState {
    /// The time the host asked us to wait until, if it is still in the future.
    pub(crate) fn backoff_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let not_before = *self.not_before.lock().unwrap_or_else(PoisonError::into_inner);
        not_before.filter(|until| *until > now)
    }

    /// Remembers that the host asked us to wait until `until` (a later wish wins).
    pub(crate) fn set_backoff(&self, until: DateTime<Utc>) {
        let mut not_before = self.not_before.lock().unwrap_or_else(PoisonError::into_inner);
        if not_before.is_none_or(|old| old < until) {
            *not_before = Some(until);
        }
    }

    /// Waits for this host's turn: no other request in flight, and `interval` since the
    /// last one ended. Hold the permit for the whole request, body included.
    pub(crate) async fn acquire(&self, interval: Duration) -> HostPermit {
        let guard = Arc::clone(&self.gate).lock_owned().await;
        if let Some(last_end) = *guard {
            tokio::time::sleep_until(last_end + interval).await;
        }
        HostPermit { guard }
    }
}

/// The right to send one request to a host; records the end time when dropped.
#[derive(Debug)]
pub(crate) struct HostPermit {
    guard: OwnedMutexGuard<Option<Instant>>,
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        *self.guard = Some(Instant::now());
    }
}

/// How long a `Retry-After` value asks us to wait, capped at `cap`: delta-seconds or an
/// HTTP date. `None` when the header is malformed or the time is already past.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>, cap: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        (http_date(value)? - now).to_std().ok()?
    };
    (!wait.is_zero()).then(|| wait.min(cap))
}

/// An HTTP date in any of the three formats RFC 9110 requires recipients to accept.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    // IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.with_timezone(&Utc));
    }
    // Obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
    // (`Sun Nov  6 08:49:37 1994`) forms.
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(value, fmt).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CAP: Duration = Duration::from_secs(6 * 3600);

    #[test]
    fn retry_after_accepts_seconds_and_dates_and_is_capped() {
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now, CAP),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("999999", now, CAP), Some(CAP));
        assert_eq!(parse_retry_after("0", now, CAP), None);
        let in_49m37s = Some(Duration::from_secs(49 * 60 + 37));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, CAP),
            in_49m37s
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, CAP),
            in_49m37s
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now, CAP), in_49m37s);
        assert_eq!(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now, CAP), None);
        assert_eq!(parse_retry_after("soon", now, CAP), None);
    }

    #[test]
    fn host_keys_include_the_port() {
        let key = |s: &str| host_key(&Url::parse(s).unwrap());
        assert_eq!(key("https://Example.com/a"), "example.com:443");
        assert_eq!(key("http://example.com:8080/a"), "example.com:8080");
        assert_eq!(key("http://[::1]/"), "[::1]:80");
    }

    #[tokio::test]
    async fn permits_keep_the_interval_between_requests() {
        let host = HostState::default();
        let interval = Duration::from_millis(50);
        let start = Instant::now();
        drop(host.acquire(interval).await);
        assert!(start.elapsed() < interval);
        drop(host.acquire(interval).await);
        assert!(start.elapsed() >= interval);
    }
}

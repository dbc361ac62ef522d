//! The store version as the server sees it: read from the store at most every
//! [`REFRESH`], so the hot path of a cached feed costs no database round trip.
//!
//! A write by this or another process (`tidings poll`) shows within [`REFRESH`]: the first
//! request after the interval re-reads the version, the others meanwhile use the last one.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// How stale the version may get.
pub const REFRESH: Duration = Duration::from_millis(200);

/// The last version read and when.
#[derive(Debug)]
pub struct VersionWatch {
    start: Instant,
    /// Milliseconds after `start` of the last read; `u64::MAX` before the first.
    checked_ms: AtomicU64,
    version: AtomicI64,
}

impl Default for VersionWatch {
    fn default() -> Self {
        VersionWatch {
            start: Instant::now(),
            checked_ms: AtomicU64::new(u64::MAX),
            version: AtomicI64::new(i64::MIN),
        }
    }
}

impl VersionWatch {
    /// The current version: the cached one, or a fresh read when it is older than [`REFRESH`]
    /// (exactly one concurrent request does the read; the others keep the cached value).
    pub async fn get(&self, store: &dyn Store) -> Result<i64, StoreError> {
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.checked_ms.load(Ordering::Acquire);
        let fresh = last != u64::MAX && now.saturating_sub(last) < REFRESH.as_millis() as u64;
        if fresh {
            return Ok(self.version.load(Ordering::Acquire));
        }
        let won = self
            .checked_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if !won && last != u64::MAX {
            return Ok(self.version.load(Ordering::Acquire));
        }
        match store.feed_version().await {
            Ok(v) => {
                self.version.fetch_max(v, Ordering::AcqRel);
                Ok(v.max(self.version.load(Ordering::Acquire)))
            }
            Err(e) => {
                // Let the next request try again instead of serving an unknown version.
                self.checked_ms.store(u64::MAX, Ordering::Release);
                Err(e)
            }
        }
    }
}

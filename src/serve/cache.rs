//! The rendered-document cache, keyed by canonical path (+ canonical query) and valid for
//! one store [`feed_version`](crate::store::Store::feed_version).
//!
//! Every request reads the version once (one cheap SELECT) and asks for its generation:
//! a newer version drops every entry (writes by another process, e.g. `tidings poll`,
//! count too), so nothing is ever served stale past the next request. Each entry is a
//! [`OnceCell`]: concurrent misses for one key wait for a single render. A request that
//! read an older version than the cache holds renders without storing (it lost a race
//! with a writer). The generation also holds the [`Catalog`] of regions, tags and sources
//! used to resolve names, so resolving costs no query on a hit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::catalog::Catalog;
use super::conditional::Rendered;

/// At most this many documents per generation; when full, the generation starts over.
pub const MAX_ENTRIES: usize = 1_000;

type Slot<T> = Arc<OnceCell<Arc<T>>>;

/// Rendered documents of the current store version.
#[derive(Debug)]
pub struct FeedCache {
    max_entries: usize,
    current: Mutex<Generation>,
}

#[derive(Debug, Default)]
struct Generation {
    version: i64,
    catalog: Slot<Catalog>,
    entries: HashMap<String, Slot<Rendered>>,
    /// Documents by the request's raw path and query, so a repeated request skips name
    /// resolution entirely.
    by_uri: HashMap<String, Arc<Rendered>>,
}

impl FeedCache {
    /// An empty cache holding at most `max_entries` documents.
    pub fn new(max_entries: usize) -> FeedCache {
        FeedCache {
            max_entries: max_entries.max(1),
            current: Mutex::new(Generation {
                version: i64::MIN,
                ..Generation::default()
            }),
        }
    }

    /// Runs `f` on the generation for `version`, replacing an older one. `None` when the
    /// cache already holds a newer version (the caller then works uncached).
    fn with_generation<R>(&self, version: i64, f: impl FnOnce(&mut Generation) -> R) -> Option<R> {
        // A panic while holding the lock cannot leave the map inconsistent (every
        // mutation is a single insert or clear), so a poisoned lock is still usable.
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if version > current.version {
            *current = Generation {
                version,
                ..Generation::default()
            };
        }
        (version == current.version).then(|| f(&mut current))
    }

    /// The catalog for `version`, loaded once per version.
    pub async fn catalog<E, F>(&self, version: i64, load: F) -> Result<Arc<Catalog>, E>
    where
        F: Future<Output = Result<Catalog, E>>,
    {
        let slot = self
            .with_generation(version, |g| g.catalog.clone())
            .unwrap_or_default();
        slot.get_or_try_init(|| async { load.await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The document under `key` for `version`, rendered by `render` on a miss (once, however
    /// many requests miss together).
    pub async fn document<E, F>(&self, version: i64, key: &str, render: F) -> Result<Arc<Rendered>, E>
    where
        F: Future<Output = Result<Rendered, E>>,
    {
        let max = self.max_entries;
        let slot = self
            .with_generation(version, |g| {
                if let Some(slot) = g.entries.get(key) {
                    return slot.clone();
                }
                if g.entries.len() >= max {
                    // Bounded: many distinct queries (`?q=…`) cannot grow memory without limit.
                    g.entries.clear();
                }
                g.entries.entry(key.to_owned()).or_default().clone()
            })
            .unwrap_or_default();
        slot.get_or_try_init(|| async { render.await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The document a request with this raw path and query got at `version`, if any.
    pub fn by_uri(&self, version: i64, uri: &str) -> Option<Arc<Rendered>> {
        self.with_generation(version, |g| g.by_uri.get(uri).cloned())
            .flatten()
    }

    /// Remembers which document a raw path and query resolved to at `version`.
    pub fn remember_uri(&self, version: i64, uri: &str, doc: &Arc<Rendered>) {
        let max = self.max_entries;
        self.with_generation(version, |g| {
            if g.by_uri.len() >= max {
                g.by_uri.clear();
            }
            g.by_uri.insert(uri.to_owned(), doc.clone());
        });
    }

    /// Documents held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
            .len()
    }

    /// Whether no document is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::DateTime;

    use super::*;

    fn doc(text: &str) -> Rendered {
        Rendered::new(text.as_bytes().to_vec(), DateTime::UNIX_EPOCH, "text/plain")
    }

    #[tokio::test]
    async fn a_version_change_drops_every_entry_and_an_older_reader_bypasses() {
        let cache = FeedCache::new(10);
        let a = cache
            .document::<(), _>(1, "/a", async { Ok(doc("a1")) })
            .await
            .unwrap();
        let again = cache
            .document::<(), _>(1, "/a", async { Ok(doc("no")) })
            .await
            .unwrap();
        assert_eq!(again.bytes, a.bytes);
        let b = cache
            .document::<(), _>(2, "/a", async { Ok(doc("a2")) })
            .await
            .unwrap();
        assert_eq!(&b.bytes[..], b"a2");
        // A reader that saw version 1 after version 2 arrived renders but does not store.
        let old = cache
            .document::<(), _>(1, "/a", async { Ok(doc("old")) })
            .await
            .unwrap();
        assert_eq!(&old.bytes[..], b"old");
        let cur = cache
            .document::<(), _>(2, "/a", async { Ok(doc("no")) })
            .await
            .unwrap();
        assert_eq!(&cur.bytes[..], b"a2");
    }

    #[tokio::test]
    async fn concurrent_misses_render_once_and_the_cache_stays_bounded() {
        let cache = Arc::new(FeedCache::new(3));
        let renders = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, renders) = (cache.clone(), renders.clone());
                tokio::spawn(async move {
                    cache
                        .document::<(), _>(7, "/k", async {
                            renders.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Ok(doc("k"))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(&t.await.unwrap().bytes[..], b"k");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        for i in 0..10 {
            let key = format!("/q{i}");
            cache
                .document::<(), _>(7, &key, async { Ok(doc("q")) })
                .await
                .unwrap();
            assert!(cache.len() <= 3);
        }
    }

    #[tokio::test]
    async fn a_failed_render_is_not_cached() {
        let cache = FeedCache::new(10);
        let err = cache
            .document(1, "/x", async { Err::<Rendered, _>("boom") })
            .await;
        assert_eq!(err.unwrap_err(), "boom");
        let ok = cache
            .document::<&str, _>(1, "/x", async { Ok(doc("x")) })
            .await
            .unwrap();
        assert_eq!(&ok.bytes[..], b"x");
    }
}

//! The in-memory fallback of the Runtime Cache: the same TTL and tag semantics, in this process.

use std::num::NonZeroUsize;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

/// How many entries the fallback keeps; the least recently used one goes first.
pub const FALLBACK_CAPACITY: usize = 1024;

/// One process-wide store, as `@vercel/functions` keeps one module-level `InMemoryCache`.
pub(crate) static SHARED: LazyLock<Arc<MemoryCache>> =
    LazyLock::new(|| Arc::new(MemoryCache::new()));

#[derive(Debug)]
struct Entry {
    json: Arc<str>,
    tags: Vec<String>,
    expires: Option<Instant>,
}

/// The fallback store.
#[derive(Debug)]
pub(crate) struct MemoryCache {
    entries: Mutex<LruCache<String, Entry>>,
}

impl MemoryCache {
    pub(crate) fn new() -> Self {
        let capacity = NonZeroUsize::new(FALLBACK_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> MutexGuard<'_, LruCache<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The JSON stored under `key`, unless it has expired (then it is dropped).
    pub(crate) fn get(&self, key: &str) -> Option<Arc<str>> {
        let mut entries = self.entries();
        let expired = entries
            .peek(key)
            .is_some_and(|e| e.expires.is_some_and(|at| Instant::now() >= at));
        if expired {
            entries.pop(key);
            return None;
        }
        entries.get(key).map(|e| Arc::clone(&e.json))
    }

    /// Stores `json`; `ttl` of `None` (or zero) never expires.
    pub(crate) fn set(&self, key: &str, json: String, ttl: Option<Duration>, tags: Vec<String>) {
        let expires = ttl
            .filter(|t| !t.is_zero())
            .and_then(|t| Instant::now().checked_add(t));
        self.entries().put(
            key.to_owned(),
            Entry {
                json: json.into(),
                tags,
                expires,
            },
        );
    }

    pub(crate) fn delete(&self, key: &str) {
        self.entries().pop(key);
    }

    /// Drops every entry carrying any of `tags`.
    pub(crate) fn expire_tags<S: AsRef<str>>(&self, tags: &[S]) {
        let mut entries = self.entries();
        let doomed: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.tags.iter().any(|t| tags.iter().any(|x| x.as_ref() == t)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            entries.pop(&key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ttl_expires_exactly_and_zero_never_does() {
        let m = MemoryCache::new();
        m.set("a", "1".into(), Some(Duration::from_secs(10)), vec![]);
        m.set("b", "2".into(), Some(Duration::ZERO), vec![]);
        m.set("c", "3".into(), None, vec![]);
        tokio::time::advance(Duration::from_millis(9_999)).await;
        assert_eq!(m.get("a").as_deref(), Some("1"));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(m.get("a"), None);
        assert_eq!(m.len(), 2, "the expired entry is dropped");
        tokio::time::advance(Duration::from_secs(365 * 86_400)).await;
        assert_eq!(m.get("b").as_deref(), Some("2"));
        assert_eq!(m.get("c").as_deref(), Some("3"));
    }

    #[test]
    fn expire_tags_drops_entries_with_any_tag() {
        let m = MemoryCache::new();
        m.set("a", "1".into(), None, vec!["x".into(), "y".into()]);
        m.set("b", "2".into(), None, vec!["y".into()]);
        m.set("c", "3".into(), None, vec!["z".into()]);
        m.set("d", "4".into(), None, vec![]);
        m.expire_tags(&["x"]);
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("b").as_deref(), Some("2"));
        m.expire_tags(&["q", "y", "z"]);
        assert_eq!(m.get("b"), None);
        assert_eq!(m.get("c"), None);
        assert_eq!(m.get("d").as_deref(), Some("4"));
        m.delete("d");
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn capacity_is_bounded() {
        let m = MemoryCache::new();
        for i in 0..FALLBACK_CAPACITY + 5 {
            m.set(&format!("k{i}"), "0".into(), None, vec![]);
        }
        assert_eq!(m.len(), FALLBACK_CAPACITY);
        assert_eq!(m.get("k0"), None);
        assert!(m.get(&format!("k{}", FALLBACK_CAPACITY + 4)).is_some());
    }
}

//! The in-memory backend: an LRU bounded by entries and by bytes at once, with a TTL per
//! entry. One short lock per lookup or store; expired entries are dropped when met (and
//! are the first evicted, being the least recently used).
//!
//! `hashlink`'s `LruCache` (already in the tree, through rusqlite) is used unbounded, and
//! evicted from here, because both bounds count: a cache of a few huge answers must not
//! take gigabytes, nor a cache of many tiny ones grow without end.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashlink::LruCache;

use super::config::LocalConfig;

struct Stored {
    value: Bytes,
    expires: Option<Instant>,
}

struct Inner {
    map: LruCache<String, Stored>,
    bytes: usize,
}

pub(super) struct LocalCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
    max_item_bytes: usize,
}

impl LocalCache {
    pub(super) fn new(config: &LocalConfig) -> Self {
        LocalCache {
            inner: Mutex::new(Inner {
                map: LruCache::new_unbounded(),
                bytes: 0,
            }),
            max_entries: config.max_entries.max(1),
            max_bytes: config.max_bytes,
            max_item_bytes: config.max_item_bytes.min(config.max_bytes),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        let expired = match inner.map.get(key) {
            None => return None,
            Some(s) => s.expires.is_some_and(|t| Instant::now() >= t),
        };
        if expired {
            if let Some(old) = inner.map.remove(key) {
                inner.bytes -= old.value.len();
            }
            return None;
        }
        inner.map.get(key).map(|s| s.value.clone())
    }

    pub(super) fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) {
        if value.len() > self.max_item_bytes {
            return;
        }
        let size = value.len();
        let stored = Stored {
            value,
            expires: ttl.map(|t| Instant::now() + t),
        };
        let mut inner = self.lock();
        if let Some(old) = inner.map.insert(key.to_owned(), stored) {
            inner.bytes -= old.value.len();
        }
        inner.bytes += size;
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            match inner.map.remove_lru() {
                Some((_, old)) => inner.bytes -= old.value.len(),
                None => break,
            }
        }
    }

    pub(super) fn delete(&self, keys: &[String]) {
        let mut inner = self.lock();
        for key in keys {
            if let Some(old) = inner.map.remove(key.as_str()) {
                inner.bytes -= old.value.len();
            }
        }
    }

    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.bytes = 0;
    }

    #[cfg(test)]
    pub(super) fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: usize, bytes: usize, item: usize) -> LocalCache {
        LocalCache::new(&LocalConfig {
            max_entries: entries,
            max_bytes: bytes,
            max_item_bytes: item,
        })
    }

    fn value(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn bounded_by_entries_least_recently_used_first() {
        let c = cache(2, 1000, 1000);
        c.put("a", value(1), None);
        c.put("b", value(1), None);
        assert!(c.get("a").is_some()); // "b" is now the least recently used
        c.put("c", value(1), None);
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert_eq!(c.usage(), (2, 2));
    }

    #[test]
    fn bounded_by_bytes() {
        let c = cache(100, 10, 10);
        c.put("a", value(4), None);
        c.put("b", value(4), None);
        c.put("c", value(4), None);
        assert!(c.get("a").is_none());
        assert_eq!(c.usage(), (2, 8));
        // Replacing an entry counts its new size only.
        c.put("c", value(6), None);
        assert_eq!(c.usage(), (2, 10));
        // Too big for one entry: not kept, nothing evicted.
        c.put("d", value(11), None);
        assert!(c.get("d").is_none());
        assert_eq!(c.usage(), (2, 10));
    }

    #[test]
    fn entries_expire() {
        let c = cache(10, 100, 100);
        c.put("gone", value(3), Some(Duration::ZERO));
        c.put("kept", value(3), Some(Duration::from_secs(3600)));
        c.put("forever", value(3), None);
        assert!(c.get("gone").is_none());
        assert!(c.get("kept").is_some() && c.get("forever").is_some());
        assert_eq!(c.usage(), (2, 6));
        c.delete(&["kept".to_owned()]);
        assert_eq!(c.usage(), (1, 3));
        c.clear();
        assert_eq!(c.usage(), (0, 0));
    }
}

//! Virtual keys cached in process, so the database is not on a request's path: a key is
//! read once, then served from memory; after the time to live it is still served while one
//! background read refreshes it (another gateway's change shows within a TTL). Unknown
//! keys are remembered briefly too, so a client retrying a wrong key does not reach the
//! database each time. This process's own changes (update, block, delete, regenerate)
//! replace the entry at once; another replica's, announced through Redis, drop it
//! ([`KeyCache::invalidate`]), so the next request reads the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::store::KeyRow;

/// What the cache knows about a token.
#[derive(Debug, Clone)]
pub enum Cached {
    /// The row (or that there is none), read recently.
    Fresh(Option<Arc<KeyRow>>),
    /// The row, read longer ago than the TTL: use it, and refresh it.
    Stale(Arc<KeyRow>),
    /// Nothing known: read the database.
    Miss,
}

#[derive(Debug, Clone)]
struct Slot {
    row: Option<Arc<KeyRow>>,
    at: Instant,
    /// `false`: changed elsewhere at `at`; nothing known until read again.
    known: bool,
}

/// The key cache.
#[derive(Debug)]
pub struct KeyCache {
    slots: RwLock<HashMap<String, Slot>>,
    refreshing: Mutex<HashSet<String>>,
    /// Reads started before this are dropped ([`KeyCache::invalidate_all`]).
    epoch: RwLock<Instant>,
    ttl: Duration,
    missing_ttl: Duration,
    max_entries: usize,
}

impl KeyCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        KeyCache {
            slots: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(HashSet::new()),
            epoch: RwLock::new(Instant::now()),
            ttl,
            missing_ttl: ttl.min(Duration::from_secs(10)),
            max_entries: max_entries.max(16),
        }
    }

    pub fn get(&self, token: &str) -> Cached {
        let slots = match self.slots.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(slot) = slots.get(token).filter(|s| s.known) else {
            return Cached::Miss;
        };
        let age = slot.at.elapsed();
        match &slot.row {
            Some(row) if age < self.ttl => Cached::Fresh(Some(row.clone())),
            Some(row) => Cached::Stale(row.clone()),
            None if age < self.missing_ttl => Cached::Fresh(None),
            None => Cached::Miss,
        }
    }

    /// Remember `row` (or that the token has none).
    pub fn put(&self, token: &str, row: Option<Arc<KeyRow>>) {
        self.put_slot(token, row, true);
    }

    /// Forget what is known of `token` (changed by another replica): the next lookup reads
    /// the database, and a read already under way, which may predate the change, is not
    /// kept.
    pub fn invalidate(&self, token: &str) {
        self.put_slot(token, None, false);
    }

    /// Forget every key (changes elsewhere may have been missed), and drop the reads under
    /// way.
    pub fn invalidate_all(&self) {
        let mut slots = match self.slots.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match self.epoch.write() {
            Ok(mut e) => *e = Instant::now(),
            Err(p) => *p.into_inner() = Instant::now(),
        }
        slots.clear();
    }

    fn put_slot(&self, token: &str, row: Option<Arc<KeyRow>>, known: bool) {
        self.put_slot_read(token, row, known, None);
    }

    /// Store a slot; for a database read (`read_started`), only if nothing changed since the
    /// read started (checked under the write lock, so no change slips in between).
    fn put_slot_read(
        &self,
        token: &str,
        row: Option<Arc<KeyRow>>,
        known: bool,
        read_started: Option<Instant>,
    ) {
        let mut slots = match self.slots.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(started) = read_started {
            if slots.get(token).is_some_and(|s| s.at > started) {
                return;
            }
            let epoch = match self.epoch.read() {
                Ok(e) => *e,
                Err(p) => *p.into_inner(),
            };
            if started < epoch {
                return;
            }
        }
        if slots.len() >= self.max_entries && !slots.contains_key(token) {
            // Full: forget unknown tokens first, then whatever is oldest past its TTL, then
            // half of the rest (a cold read each brings them back).
            let ttl = self.ttl;
            slots.retain(|_, s| s.row.is_some() && s.at.elapsed() < ttl);
            if slots.len() >= self.max_entries {
                let mut n = 0usize;
                slots.retain(|_, _| {
                    n += 1;
                    n.is_multiple_of(2)
                });
            }
        }
        slots.insert(
            token.to_owned(),
            Slot {
                row,
                at: Instant::now(),
                known,
            },
        );
    }

    /// Remember a row read from the database at `read_started`, unless the entry changed
    /// since (this process updated or deleted the key meanwhile: its entry wins).
    pub fn put_read(&self, token: &str, row: Option<Arc<KeyRow>>, read_started: Instant) {
        self.put_slot_read(token, row, true, Some(read_started));
    }

    /// Change a cached row in place (a budget reset), if cached.
    pub fn modify(&self, token: &str, f: impl FnOnce(&mut KeyRow)) {
        let mut slots = match self.slots.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(slot) = slots.get_mut(token).filter(|s| s.known) {
            if let Some(row) = &slot.row {
                let mut new = KeyRow::clone(row);
                f(&mut new);
                slot.row = Some(Arc::new(new));
            }
        }
    }

    /// Claim the refresh of `token`; `false` if one is under way.
    pub fn start_refresh(&self, token: &str) -> bool {
        match self.refreshing.lock() {
            Ok(mut g) => g.insert(token.to_owned()),
            Err(p) => p.into_inner().insert(token.to_owned()),
        }
    }

    pub fn end_refresh(&self, token: &str) {
        match self.refreshing.lock() {
            Ok(mut g) => g.remove(token),
            Err(p) => p.into_inner().remove(token),
        };
    }

    pub fn len(&self) -> usize {
        match self.slots.read() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(token: &str) -> Option<Arc<KeyRow>> {
        Some(Arc::new(KeyRow {
            token: token.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn rows_go_stale_after_the_ttl_and_unknown_tokens_expire() {
        let cache = KeyCache::new(Duration::from_millis(30), 100);
        assert!(matches!(cache.get("a"), Cached::Miss));
        cache.put("a", row("a"));
        cache.put("b", None);
        assert!(matches!(cache.get("a"), Cached::Fresh(Some(_))));
        assert!(matches!(cache.get("b"), Cached::Fresh(None)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(cache.get("a"), Cached::Stale(_)));
        assert!(matches!(cache.get("b"), Cached::Miss));
        assert!(cache.start_refresh("a"));
        assert!(!cache.start_refresh("a"));
        cache.end_refresh("a");
        assert!(cache.start_refresh("a"));
    }

    #[test]
    fn a_read_older_than_a_change_does_not_undo_it() {
        let cache = KeyCache::new(Duration::from_secs(60), 16);
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        cache.put("a", None); // deleted meanwhile
        cache.put_read("a", row("a"), started);
        assert!(matches!(cache.get("a"), Cached::Fresh(None)));
        cache.put_read("b", row("b"), Instant::now());
        assert!(matches!(cache.get("b"), Cached::Fresh(Some(_))));
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = KeyCache::new(Duration::from_secs(60), 16);
        for i in 0..16 {
            cache.put(&format!("missing-{i}"), None);
        }
        cache.put("real", row("real"));
        assert!(cache.len() <= 16);
        assert!(matches!(cache.get("real"), Cached::Fresh(Some(_))));
        for i in 0..100 {
            cache.put(&format!("k{i}"), row("k"));
        }
        assert!(cache.len() <= 16);
    }

    #[test]
    fn a_change_elsewhere_drops_the_entry_and_reads_that_predate_it() {
        let cache = KeyCache::new(Duration::from_secs(60), 16);
        cache.put("a", row("a"));
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        cache.invalidate("a");
        assert!(matches!(cache.get("a"), Cached::Miss));
        cache.put_read("a", row("a"), started); // read before the change: stale
        assert!(matches!(cache.get("a"), Cached::Miss));
        cache.put_read("a", row("a"), Instant::now());
        assert!(matches!(cache.get("a"), Cached::Fresh(Some(_))));

        cache.put("b", row("b"));
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        cache.invalidate_all();
        assert!(cache.is_empty());
        cache.put_read("b", row("b"), started);
        assert!(matches!(cache.get("b"), Cached::Miss));
        cache.put_read("b", row("b"), Instant::now());
        assert!(matches!(cache.get("b"), Cached::Fresh(Some(_))));
    }

    #[test]
    fn modify_changes_a_cached_row_only() {
        let cache = KeyCache::new(Duration::from_secs(60), 16);
        cache.put("a", row("a"));
        cache.modify("a", |r| r.spend = 0.5);
        cache.modify("zz", |r| r.spend = 0.5);
        let Cached::Fresh(Some(r)) = cache.get("a") else {
            panic!("cached")
        };
        assert_eq!(r.spend, 0.5);
        assert!(matches!(cache.get("zz"), Cached::Miss));
    }
}

//! The disk backend: entries in an SQLite file (the embedded rusqlite), kept across
//! restarts and shared by processes on one machine. One thread per cache owns the
//! connection; callers send it requests over a channel and await the answer, so no async
//! runtime (nor the Python thread) ever waits on the disk. Stores return at once; the
//! thread writes what has accumulated in one transaction.
//!
//! Bounded by bytes (the oldest stored go first); entries past their TTL are dropped when
//! read and purged now and then.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::config::DiskConfig;
use super::Health;
use crate::error::LlmError;

/// The database's file name inside `disk_cache_dir`.
pub const FILE_NAME: &str = "llmswitch-cache.sqlite3";

/// Stores between purges of expired entries.
const PURGE_EVERY: u32 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS entries_stored_at ON entries(stored_at);
";

enum Op {
    Get(String, oneshot::Sender<Option<Bytes>>),
    Put {
        key: String,
        value: Bytes,
        expires_at: Option<i64>,
    },
    Delete(Vec<String>, oneshot::Sender<()>),
    Clear(oneshot::Sender<()>),
}

pub(super) struct DiskCache {
    tx: mpsc::Sender<Op>,
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // A cache need not survive a power cut.
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.busy_timeout(Duration::from_secs(2))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl DiskCache {
    /// Open (or create) the database and start its thread; fails here, with the path, when
    /// the directory or file cannot be created.
    pub(super) fn open(config: &DiskConfig) -> Result<DiskCache, LlmError> {
        let fail = |what: String| {
            LlmError::bad_request(format!(
                "Cache(type=\"disk\"): {what} (disk_cache_dir={})",
                config.dir.display()
            ))
        };
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| fail(format!("cannot create the directory: {e}")))?;
        let path = config.dir.join(FILE_NAME);
        let conn = open(&path).map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel();
        let mut store = Store {
            conn,
            path,
            size_limit: i64::try_from(config.size_limit).unwrap_or(i64::MAX),
            total: 0,
            puts: 0,
            health: Arc::new(Health::default()),
        };
        store.total = store.sum().unwrap_or(0);
        std::thread::Builder::new()
            .name("llmswitch-cache-disk".to_owned())
            .spawn(move || store.run(&rx))
            .map_err(|e| fail(format!("cannot start its thread: {e}")))?;
        Ok(DiskCache { tx })
    }

    pub(super) async fn get(&self, key: &str) -> Option<Bytes> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Op::Get(key.to_owned(), reply)).ok()?;
        answer.await.ok().flatten()
    }

    pub(super) fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) {
        let expires_at = ttl
            .map(|t| now_micros().saturating_add(i64::try_from(t.as_micros()).unwrap_or(i64::MAX)));
        let _ = self.tx.send(Op::Put {
            key: key.to_owned(),
            value,
            expires_at,
        });
    }

    pub(super) async fn delete(&self, keys: &[String]) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Op::Delete(keys.to_vec(), reply)).is_ok() {
            let _ = done.await;
        }
    }

    pub(super) async fn clear(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Op::Clear(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

/// The thread's side: the connection and the running size.
struct Store {
    conn: Connection,
    path: PathBuf,
    size_limit: i64,
    /// Bytes stored, as this thread knows it (recounted before evicting, since other
    /// processes may share the file).
    total: i64,
    puts: u32,
    health: Arc<Health>,
}

impl Store {
    fn run(&mut self, rx: &mpsc::Receiver<Op>) {
        // Ends when the cache (every sender) is dropped.
        while let Ok(op) = rx.recv() {
            let Op::Put {
                key,
                value,
                expires_at,
            } = op
            else {
                self.handle_other(op);
                continue;
            };
            // Write every store that is already waiting in one transaction.
            let mut batch = vec![(key, value, expires_at)];
            let mut after = None;
            while let Ok(next) = rx.try_recv() {
                match next {
                    Op::Put {
                        key,
                        value,
                        expires_at,
                    } => batch.push((key, value, expires_at)),
                    other => {
                        after = Some(other);
                        break;
                    }
                }
            }
            self.checked(|s| s.put_all(&batch));
            if let Some(op) = after {
                self.handle_other(op);
            }
        }
    }

    fn handle_other(&mut self, op: Op) {
        match op {
            Op::Get(key, reply) => {
                let found = self.checked(|s| s.get(&key)).flatten();
                let _ = reply.send(found);
            }
            Op::Put {
                key,
                value,
                expires_at,
            } => {
                self.checked(|s| s.put_all(&[(key, value, expires_at)]));
            }
            Op::Delete(keys, reply) => {
                self.checked(|s| {
                    for key in &keys {
                        s.conn
                            .execute("DELETE FROM entries WHERE key = ?1", params![key])?;
                    }
                    s.total = s.sum()?;
                    Ok(())
                });
                let _ = reply.send(());
            }
            Op::Clear(reply) => {
                self.checked(|s| {
                    s.conn.execute("DELETE FROM entries", [])?;
                    s.total = 0;
                    Ok(())
                });
                let _ = reply.send(());
            }
        }
    }

    /// Run `f`; an error is a miss, warned about once until the file works again.
    fn checked<T>(&mut self, f: impl FnOnce(&mut Self) -> rusqlite::Result<T>) -> Option<T> {
        match f(self) {
            Ok(v) => {
                self.health.ok();
                Some(v)
            }
            Err(e) => {
                let path = self.path.display().to_string();
                self.health.failed(|| {
                    format!("llmswitch cache: the disk cache {path} failed ({e}); calls are answered without it until it works again")
                });
                None
            }
        }
    }

    fn sum(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(SUM(size), 0) FROM entries", [], |r| {
                r.get(0)
            })
    }

    fn get(&mut self, key: &str) -> rusqlite::Result<Option<Bytes>> {
        let row: Option<(Vec<u8>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT value, expires_at FROM entries WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((_, Some(expires))) if expires <= now_micros() => {
                self.conn
                    .execute("DELETE FROM entries WHERE key = ?1", params![key])?;
                Ok(None)
            }
            Some((value, _)) => Ok(Some(Bytes::from(value))),
            None => Ok(None),
        }
    }

    fn put_all(&mut self, batch: &[(String, Bytes, Option<i64>)]) -> rusqlite::Result<()> {
        let now = now_micros();
        let tx = self.conn.transaction()?;
        {
            let mut old_size = tx.prepare_cached("SELECT size FROM entries WHERE key = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO entries (key, value, size, stored_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (key, value, expires_at) in batch {
                let size = i64::try_from(value.len()).unwrap_or(i64::MAX);
                if size > self.size_limit {
                    continue;
                }
                let replaced: Option<i64> =
                    old_size.query_row(params![key], |r| r.get(0)).optional()?;
                insert.execute(params![key, value.as_ref(), size, now, expires_at])?;
                self.total += size - replaced.unwrap_or(0);
            }
        }
        tx.commit()?;
        self.puts = self.puts.wrapping_add(1);
        if self.puts.is_multiple_of(PURGE_EVERY) {
            self.conn.execute(
                "DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                params![now],
            )?;
            self.total = self.sum()?;
        }
        if self.total > self.size_limit {
            self.evict()?;
        }
        Ok(())
    }

    /// Drop the oldest entries until the file's answers fit the limit.
    fn evict(&mut self) -> rusqlite::Result<()> {
        self.total = self.sum()?;
        while self.total > self.size_limit {
            let oldest: Vec<(String, i64)> = {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT key, size FROM entries ORDER BY stored_at LIMIT 64")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if oldest.is_empty() {
                self.total = 0;
                break;
            }
            for (key, size) in oldest {
                if self.total <= self.size_limit {
                    break;
                }
                self.conn
                    .execute("DELETE FROM entries WHERE key = ?1", params![key])?;
                self.total -= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("llmswitch-disk-cache-{}", fastrand::u64(..)))
    }

    #[tokio::test]
    async fn stores_reads_expires_and_evicts_oldest() {
        let dir = dir();
        let config = DiskConfig {
            dir: dir.clone(),
            size_limit: 10,
        };
        let cache = DiskCache::open(&config).unwrap();
        cache.put("a", Bytes::from_static(b"1234"), None);
        cache.put("gone", Bytes::from_static(b"1"), Some(Duration::ZERO));
        // A read after a store sees it: one thread, in order.
        assert_eq!(cache.get("a").await.as_deref(), Some(&b"1234"[..]));
        assert_eq!(cache.get("gone").await, None);
        cache.put("b", Bytes::from_static(b"1234"), None);
        cache.put("c", Bytes::from_static(b"1234"), None);
        // 12 bytes > 10: the oldest ("a") went.
        assert_eq!(cache.get("a").await, None);
        assert!(cache.get("b").await.is_some() && cache.get("c").await.is_some());
        // Too big for the file: not kept.
        cache.put("huge", Bytes::from_static(b"12345678901"), None);
        assert_eq!(cache.get("huge").await, None);
        cache.delete(&["b".to_owned()]).await;
        assert_eq!(cache.get("b").await, None);
        drop(cache);

        // Kept across restarts.
        let again = DiskCache::open(&config).unwrap();
        assert!(again.get("c").await.is_some());
        again.clear().await;
        assert_eq!(again.get("c").await, None);
        drop(again);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unusable_directory_fails_at_construction() {
        let file = std::env::temp_dir().join(format!("llmswitch-not-a-dir-{}", fastrand::u64(..)));
        std::fs::write(&file, b"x").unwrap();
        let err = DiskCache::open(&DiskConfig {
            dir: file.join("sub"),
            size_limit: 10,
        })
        .err()
        .unwrap();
        assert!(
            err.message.contains("cannot create the directory"),
            "{}",
            err.message
        );
        let _ = std::fs::remove_file(file);
    }
}

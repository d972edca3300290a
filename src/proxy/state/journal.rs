//! The spend journal (`general_settings.spend_logs_journal: <directory>`): what makes a
//! response the gateway has sent mean a spend-log row that will reach the database, even
//! if the gateway's process is killed (SIGKILL, OOM killer) before its write-behind batch.
//!
//! A request's row is appended to a local file (one JSON line, one `write`) before it is
//! queued for the database, and so before the response is sent. A write to a file survives
//! the process that made it (it is in the kernel's page cache), so a killed replica's rows
//! are still on disk; the writer `fsync`s the file once per batch, so a crash of the whole
//! machine loses at most the rows of the last `proxy_batch_write_at` interval.
//!
//! Files are segments named `spend-<pid>-<random>-<n>.jsonl`, each held under an exclusive
//! `flock` by the process writing it. A segment is deleted once every row in it is in the
//! database. A segment nobody holds is an orphan (its process died): every gateway using the
//! directory replays orphans at start and then every [`ADOPT_EVERY`], skipping rows whose
//! `request_id` is already in the spend log (the row's batch had committed before the kill),
//! then deletes them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::store::{SpendIncrements, SpendLogRow, Store, StoreError};

/// How often a gateway looks for orphaned segments after its start.
pub const ADOPT_EVERY: Duration = Duration::from_secs(10);

/// Rows replayed per database write.
const REPLAY_BATCH: usize = 500;

/// A journal could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("spend journal {path}: {message}")]
pub struct JournalError {
    pub path: String,
    pub message: String,
}

fn journal_error(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

struct Segment {
    path: PathBuf,
    /// Kept open: it holds the segment's lock.
    file: File,
    /// The sequence number of its last row.
    last: u64,
}

struct Inner {
    current: Segment,
    /// Rows appended to `current` (0: it is empty).
    rows_in_current: u64,
    /// Sequence number of the last row appended.
    seq: u64,
    closed: Vec<Segment>,
    next_segment: u64,
    /// A write failed: rows are queued without the journal until a rotation succeeds.
    broken: bool,
}

/// This process's journal.
pub struct Journal {
    dir: PathBuf,
    stem: String,
    inner: Mutex<Inner>,
}

fn open_segment(dir: &Path, stem: &str, n: u64) -> Result<Segment, JournalError> {
    let path = dir.join(format!("{stem}-{n}.jsonl"));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| journal_error(&path, e))?;
    file.try_lock().map_err(|e| journal_error(&path, e))?;
    Ok(Segment {
        path,
        file,
        last: 0,
    })
}

impl Journal {
    /// Create `dir` if needed and open this process's first segment there.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| journal_error(dir, e))?;
        let stem = format!("spend-{}-{:016x}", std::process::id(), fastrand::u64(..));
        let current = open_segment(dir, &stem, 0)?;
        Ok(Journal {
            dir: dir.to_owned(),
            stem,
            inner: Mutex::new(Inner {
                current,
                rows_in_current: 0,
                seq: 0,
                closed: Vec::new(),
                next_segment: 1,
                broken: false,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Append `row`, then run `queue` with its sequence number while no other row can be
    /// appended (so rows reach the writer in sequence order). Returns `queue`'s result.
    /// A row that cannot be written to the file is still queued (warned once).
    pub fn append<T>(&self, row: SpendLogRow, queue: impl FnOnce(SpendLogRow, u64) -> T) -> T {
        let mut line = serde_json::to_vec(&row).unwrap_or_default();
        line.push(b'\n');
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        if !g.broken {
            match g.current.file.write_all(&line) {
                Ok(()) => {
                    g.rows_in_current += 1;
                    g.current.last = seq;
                }
                Err(e) => {
                    g.broken = true;
                    super::warn(&format!(
                        "spend journal {}: {e}; rows are queued without it until it can be written again",
                        g.current.path.display()
                    ));
                }
            }
        }
        queue(row, seq)
    }

    /// A handle to fsync the current segment without holding the journal's lock.
    pub fn sync_handle(&self) -> Option<File> {
        self.lock().current.file.try_clone().ok()
    }

    /// Every row up to `seq` is in the database: drop the segments that hold only such
    /// rows, and start a new segment if the current one holds some.
    pub fn committed(&self, seq: u64) {
        let mut g = self.lock();
        if g.rows_in_current > 0 || g.broken {
            if g.current.last <= seq && !g.broken {
                // All of it is written: empty it in place (writes append at the new end).
                if g.current.file.set_len(0).is_ok() {
                    g.rows_in_current = 0;
                }
            } else {
                let n = g.next_segment;
                match open_segment(&self.dir, &self.stem, n) {
                    Ok(next) => {
                        g.next_segment += 1;
                        let old = std::mem::replace(&mut g.current, next);
                        if g.rows_in_current > 0 {
                            g.closed.push(old);
                        } else {
                            let _ = std::fs::remove_file(&old.path);
                        }
                        g.rows_in_current = 0;
                        g.broken = false;
                    }
                    Err(e) => {
                        if !g.broken {
                            g.broken = true;
                            super::warn(&format!(
                                "{e}; rows are queued without the journal until it can be written again"
                            ));
                        }
                    }
                }
            }
        }
        g.closed.retain(|s| {
            if s.last <= seq {
                let _ = std::fs::remove_file(&s.path);
                false
            } else {
                true
            }
        });
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let g = self.lock();
        if g.rows_in_current == 0 && !g.broken {
            let _ = std::fs::remove_file(&g.current.path);
        }
    }
}

/// Replay the orphaned segments in `dir` (those no live process holds) into `store`: rows
/// whose `request_id` is already in the spend log are skipped; a segment is deleted once
/// its rows are written. Returns how many rows were written.
pub async fn adopt_orphans(
    dir: &Path,
    store: &Arc<dyn Store>,
    own: Option<&Journal>,
) -> Result<u64, StoreError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let own_stem = own.map(|j| format!("{}-", j.stem));
    let mut written = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("spend-") || !name.ends_with(".jsonl") {
            continue;
        }
        if own_stem.as_deref().is_some_and(|s| name.starts_with(s)) {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        // Held: its process is alive (or another gateway is replaying it right now).
        if file.try_lock().is_err() {
            continue;
        }
        let mut rows: Vec<SpendLogRow> = Vec::new();
        for line in BufReader::new(&file).lines() {
            let Ok(line) = line else { break };
            // A torn last line (a kill in the middle of a write) is skipped.
            if let Ok(row) = serde_json::from_str::<SpendLogRow>(&line) {
                rows.push(row);
            }
        }
        for chunk in rows.chunks(REPLAY_BATCH) {
            let mut fresh = Vec::with_capacity(chunk.len());
            for row in chunk {
                let known = store
                    .spend_logs(super::store::SpendLogQuery {
                        request_id: Some(row.request_id.clone()),
                        ..Default::default()
                    })
                    .await?;
                if known.is_empty() {
                    fresh.push(row.clone());
                }
            }
            if fresh.is_empty() {
                continue;
            }
            let n = fresh.len() as u64;
            store
                .write_spend(super::store::SpendBatch {
                    increments: SpendIncrements::of(&fresh),
                    logs: fresh,
                })
                .await?;
            written += n;
        }
        let _ = std::fs::remove_file(&path);
        drop(file);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::state::spend_writer::{SpendWriter, SpendWriterConfig};
    use crate::proxy::state::store::sqlite::SqliteStore;
    use crate::proxy::state::store::tests::TempDb;
    use crate::proxy::state::store::{KeyRow, SpendLogQuery};

    fn row(i: usize) -> SpendLogRow {
        SpendLogRow {
            request_id: format!("req-{i}"),
            call_type: "acompletion".into(),
            api_key: "k1".into(),
            spend: 0.5,
            model: "gpt-4o".into(),
            ..Default::default()
        }
    }

    async fn store(db: &TempDb) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).unwrap());
        store
            .insert_key(KeyRow {
                token: "k1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        store
    }

    fn segments(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn written_rows_leave_the_journal_and_a_dead_gateways_rows_are_replayed_once() {
        let db = TempDb::new("journal");
        let dir = db.0.parent().unwrap().join("journal");
        let store = store(&db).await;

        // A live writer: once its rows are in the database its segment is empty again.
        let journal = Arc::new(Journal::open(&dir).unwrap());
        let writer = SpendWriter::start_with_journal(
            store.clone(),
            SpendWriterConfig {
                interval: Duration::from_millis(10),
                ..Default::default()
            },
            Some(journal.clone()),
        );
        for i in 0..20 {
            assert!(writer.record(row(i)));
        }
        assert!(writer.flush(Duration::from_secs(30)).await);
        assert!(
            segments(&dir).iter().all(|(_, len)| *len == 0),
            "{:?}",
            segments(&dir)
        );

        // A gateway killed before its batch: its segment is on disk, held by nobody. Two
        // of its rows had been written already (their batch committed before the kill),
        // and its last line is torn.
        let mut lines = String::new();
        for i in 18..25 {
            lines.push_str(&serde_json::to_string(&row(i)).unwrap());
            lines.push('\n');
        }
        lines.push_str("{\"request_id\":\"req-tor");
        std::fs::write(dir.join("spend-1-00-0.jsonl"), lines).unwrap();
        // Our own segment is held (by us): never replayed by the others or by us.
        assert_eq!(
            adopt_orphans(&dir, &store, Some(&journal)).await.unwrap(),
            5
        );
        assert_eq!(
            adopt_orphans(&dir, &store, Some(&journal)).await.unwrap(),
            0
        );
        assert!(!dir.join("spend-1-00-0.jsonl").exists());
        let logs = store.spend_logs(SpendLogQuery::default()).await.unwrap();
        assert_eq!(logs.len(), 25);
        let key = store.get_key("k1".into()).await.unwrap().unwrap();
        assert!((key.spend - 12.5).abs() < 1e-9, "{}", key.spend);

        // A second process adopting while ours lives skips our segment (locked).
        let other = Journal::open(&dir).unwrap();
        assert_eq!(adopt_orphans(&dir, &store, Some(&other)).await.unwrap(), 0);
        assert_eq!(segments(&dir).len(), 2);
        drop(other);
        drop(writer);
    }

    #[tokio::test]
    async fn rows_not_yet_written_stay_in_a_closed_segment_until_they_are() {
        let db = TempDb::new("journal-rotate");
        let dir = db.0.parent().unwrap().join("journal");
        let journal = Journal::open(&dir).unwrap();
        for i in 0..3 {
            journal.append(row(i), |_, _| ());
        }
        // Rows 1 and 2 are written, 3 is not: the segment is closed, a new one started.
        journal.committed(2);
        let names = segments(&dir);
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(journal.append(row(3), |_, seq| seq), 4);
        journal.committed(4);
        // Everything up to 4 is written: the closed one is gone, the current one emptied.
        let names = segments(&dir);
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(names[0].1, 0);
        drop(journal);
        assert!(segments(&dir).is_empty());
    }
}

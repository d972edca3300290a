//! SQLite persistence of the ledger. One writer thread per file receives records over a
//! channel and inserts whatever has accumulated in one transaction, so the calling thread
//! never touches the database and a burst of calls costs one commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags};
use serde_json::Value;

use super::clock::Micros;
use super::{CallMetadata, CallStatus, SpendError, SpendRecord};

/// Most records written in one transaction.
const MAX_BATCH: usize = 10_000;

/// How long the writer gathers records before writing them in one transaction.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(200);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS spend (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    deployment TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL,
    latency REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    stream INTEGER NOT NULL,
    user TEXT,
    project TEXT,
    key TEXT,
    tags TEXT,
    metadata TEXT,
    downgraded_from TEXT,
    estimated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spend_started_at ON spend(started_at);
";

const INSERT: &str = "INSERT OR IGNORE INTO spend (id, started_at, model, provider, deployment,
    prompt_tokens, completion_tokens, cost, latency, status, error, stream, user, project, key,
    tags, metadata, downgraded_from, estimated)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";

const SELECT: &str = "SELECT id, started_at, model, provider, deployment, prompt_tokens,
    completion_tokens, cost, latency, status, error, stream, user, project, key, tags, metadata,
    downgraded_from, estimated FROM spend WHERE started_at >= ?1 AND started_at < ?2 ORDER BY started_at";

enum Msg {
    Record(Arc<SpendRecord>),
    Flush(mpsc::SyncSender<Result<(), String>>),
    Close,
}

/// Records kept in memory while the file cannot be written (disk full, file locked or made
/// read-only), retried until they can be; past this the oldest are dropped and counted.
pub const MAX_BACKLOG: usize = 100_000;

/// How often a failed write is retried when no new record comes to trigger it.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the writer has done: `spend.status()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStatus {
    /// Records written to the file.
    pub written: u64,
    /// Records waiting after a failed write, to be retried.
    pub pending: usize,
    /// Records dropped because the backlog was full.
    pub dropped: u64,
    /// The last write error, until a write succeeds.
    pub last_error: Option<String>,
}

/// The handle of a writer thread.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<WriterStatus>>,
}

/// Waits for a flush to be done.
pub struct FlushWaiter(Option<mpsc::Receiver<Result<(), String>>>);

impl FlushWaiter {
    /// Block until the writer has tried to write everything sent before the flush (returns
    /// at once if the writer is gone). An error says records are still unwritten, or were
    /// dropped since the last flush.
    pub fn wait(self) -> Result<(), String> {
        match self.0 {
            Some(rx) => rx.recv().unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

fn sqlite_error(path: &Path, source: rusqlite::Error) -> SpendError {
    SpendError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn open(path: &Path) -> Result<Connection, SpendError> {
    let conn = Connection::open(path).map_err(|e| sqlite_error(path, e))?;
    // WAL: reports read while the writer writes; NORMAL is durable across crashes of the
    // process (not of the machine), which is what a ledger needs at this cost.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| sqlite_error(path, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sqlite_error(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| sqlite_error(path, e))?;
    conn.execute_batch(SCHEMA)
        .map_err(|e| sqlite_error(path, e))?;
    add_estimated_column(&conn).map_err(|e| sqlite_error(path, e))?;
    // SQLite opens a file it may not write read-only without a word: check now, so that
    // `enable()` fails rather than every later write.
    if conn
        .is_readonly("main")
        .map_err(|e| sqlite_error(path, e))?
    {
        return Err(SpendError::Store {
            path: path.display().to_string(),
            message: "the file is read-only; no record could be written to it".to_owned(),
        });
    }
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
        .map_err(|e| SpendError::Store {
            path: path.display().to_string(),
            message: format!("cannot write to the file: {e}"),
        })?;
    Ok(conn)
}

/// A file written before records said whether their usage was estimated gains the column.
fn add_estimated_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('spend') WHERE name = 'estimated'",
        [],
        |row| row.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE spend ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

impl Writer {
    /// Open (or create) the file and start its writer thread. Fails here, on the calling
    /// thread, when the file cannot be opened.
    pub fn open(path: &Path) -> Result<Writer, SpendError> {
        let mut conn = open(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let status = Arc::new(Mutex::new(WriterStatus::default()));
        let shared = status.clone();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("llmswitch-spend-writer".to_owned())
            .spawn(move || run(&mut conn, &rx, &shared, &shown))
            .map_err(|e| SpendError::Store {
                path: path.display().to_string(),
                message: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Writer {
            tx,
            path: path.to_path_buf(),
            thread: Some(thread),
            status,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a record (never blocks).
    pub fn send(&self, record: Arc<SpendRecord>) {
        let _ = self.tx.send(Msg::Record(record));
    }

    /// Ask for everything queued so far to be written; wait on the result.
    pub fn flush_request(&self) -> FlushWaiter {
        let (ack, rx) = mpsc::sync_channel(1);
        let sent = self.tx.send(Msg::Flush(ack));
        self.wake();
        match sent {
            Ok(()) => FlushWaiter(Some(rx)),
            Err(_) => FlushWaiter(None),
        }
    }

    /// End the writer's batching window now.
    fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }

    /// Records written, pending and dropped, and the last write error.
    pub fn status(&self) -> WriterStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Write everything queued, then stop the thread.
    pub fn close(mut self) {
        let _ = self.tx.send(Msg::Close);
        self.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Without joining: the thread writes what is queued and ends.
        let _ = self.tx.send(Msg::Close);
        self.wake();
    }
}

fn run(conn: &mut Connection, rx: &mpsc::Receiver<Msg>, status: &Mutex<WriterStatus>, path: &str) {
    // Records received and not yet written: the batch being gathered, and after a failed
    // write the backlog retried with the next batch (or every RETRY_EVERY).
    let mut backlog: Vec<Arc<SpendRecord>> = Vec::new();
    let mut acks: Vec<mpsc::SyncSender<Result<(), String>>> = Vec::new();
    let mut dropped_at_last_flush = 0;
    let mut warned = false;
    let update = |f: &mut dyn FnMut(&mut WriterStatus)| match status.lock() {
        Ok(mut s) => f(&mut s),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    };
    loop {
        let first = if backlog.is_empty() {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(RETRY_EVERY) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        let mut close = false;
        let mut next = first;
        let mut slept = false;
        let mut fresh = 0;
        while let Some(m) = next.take() {
            match m {
                Msg::Record(r) => {
                    backlog.push(r);
                    fresh += 1;
                }
                Msg::Flush(ack) => acks.push(ack),
                Msg::Close => close = true,
            }
            if close || fresh >= MAX_BATCH {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::TryRecvError::Empty) if !slept && acks.is_empty() => {
                    // Gather a window's records into one transaction: one commit per window
                    // rather than per call. Parked, not waiting on the channel, so callers'
                    // sends never wake this thread; a flush or close unparks it.
                    std::thread::park_timeout(BATCH_WINDOW);
                    slept = true;
                    rx.try_recv().ok()
                }
                Err(_) => None,
            };
        }
        if !backlog.is_empty() {
            match write_batch(conn, &backlog) {
                Ok(()) => {
                    let n = backlog.len() as u64;
                    backlog.clear();
                    warned = false;
                    update(&mut |s| {
                        s.written += n;
                        s.pending = 0;
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    let excess = backlog.len().saturating_sub(MAX_BACKLOG);
                    backlog.drain(..excess);
                    let message = e.to_string();
                    let pending = backlog.len();
                    update(&mut |s| {
                        s.pending = pending;
                        s.dropped += excess as u64;
                        s.last_error = Some(message.clone());
                    });
                    if !warned {
                        // Once until a write succeeds again.
                        warned = true;
                        crate::cache::warn(format!(
                            "llmswitch could not write spend records to {path} ({message}); {pending} are kept in memory and retried (at most {MAX_BACKLOG}); see llmswitch.spend.status()"
                        ));
                    }
                }
            }
        }
        if !acks.is_empty() {
            let s = match status.lock() {
                Ok(s) => s.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            let result = if backlog.is_empty() && s.dropped == dropped_at_last_flush {
                Ok(())
            } else {
                Err(format!(
                    "spend ledger database {path}: {} records could not be written ({} kept in memory and retried, {} dropped since the last flush): {}",
                    backlog.len() as u64 + s.dropped - dropped_at_last_flush,
                    backlog.len(),
                    s.dropped - dropped_at_last_flush,
                    s.last_error.as_deref().unwrap_or("unknown error")
                ))
            };
            dropped_at_last_flush = s.dropped;
            for ack in acks.drain(..) {
                let _ = ack.send(result.clone());
            }
        }
        if close {
            return;
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Arc<SpendRecord>]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for r in batch {
            let meta = r.metadata.as_deref();
            let tags = match r.tags() {
                [] => None,
                tags => serde_json::to_string(tags).ok(),
            };
            let extra = meta
                .filter(|m| !m.extra.is_empty())
                .and_then(|m| serde_json::to_string(&m.extra).ok());
            stmt.execute(params![
                format!("{:032x}", r.id),
                r.started_at,
                r.model,
                r.provider,
                r.deployment,
                i64::try_from(r.prompt_tokens).unwrap_or(i64::MAX),
                i64::try_from(r.completion_tokens).unwrap_or(i64::MAX),
                r.cost,
                r.latency,
                r.status.as_str(),
                r.error,
                r.stream,
                r.user(),
                r.project(),
                r.key(),
                tags,
                extra,
                r.downgraded_from,
                r.estimated,
            ])?;
        }
    }
    tx.commit()
}

/// Visit the records of the file at `path` started in `[since, until)`, oldest first.
pub fn read_range(
    path: &Path,
    since: Option<Micros>,
    until: Option<Micros>,
    mut visit: impl FnMut(&SpendRecord),
) -> Result<(), SpendError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sqlite_error(path, e))?;
    let mut stmt = conn.prepare(SELECT).map_err(|e| sqlite_error(path, e))?;
    let mut rows = stmt
        .query(params![
            since.unwrap_or(i64::MIN),
            until.unwrap_or(i64::MAX)
        ])
        .map_err(|e| sqlite_error(path, e))?;
    while let Some(row) = rows.next().map_err(|e| sqlite_error(path, e))? {
        let record = from_row(row).map_err(|e| sqlite_error(path, e))?;
        visit(&record);
    }
    Ok(())
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SpendRecord> {
    let id: String = row.get(0)?;
    let tags: Option<String> = row.get(15)?;
    let extra: Option<String> = row.get(16)?;
    let user: Option<String> = row.get(12)?;
    let project: Option<String> = row.get(13)?;
    let key: Option<String> = row.get(14)?;
    let tags: Vec<String> = tags
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let extra = match extra.and_then(|e| serde_json::from_str(&e).ok()) {
        Some(Value::Object(map)) => map,
        _ => Default::default(),
    };
    let meta = CallMetadata {
        user,
        project,
        key,
        tags,
        extra,
    };
    let status: String = row.get(9)?;
    Ok(SpendRecord {
        id: u128::from_str_radix(&id, 16).unwrap_or_default(),
        started_at: row.get(1)?,
        model: row.get(2)?,
        provider: row.get(3)?,
        deployment: row.get(4)?,
        prompt_tokens: u64::try_from(row.get::<_, i64>(5)?).unwrap_or_default(),
        completion_tokens: u64::try_from(row.get::<_, i64>(6)?).unwrap_or_default(),
        cost: row.get(7)?,
        latency: row.get(8)?,
        status: CallStatus::parse(&status).unwrap_or(CallStatus::Failure),
        error: row.get(10)?,
        stream: row.get(11)?,
        metadata: (!meta.is_empty()).then(|| Arc::new(meta)),
        downgraded_from: row.get(17)?,
        estimated: row.get(18)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::{CallMetadata, Ledger, ReportQuery};
    use super::*;
    use serde_json::json;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "llmswitch-spend-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn records_survive_a_new_ledger_on_the_same_file() {
        let path = temp_db("ledger.sqlite");
        let meta = CallMetadata::from_map(
            json!({"user": "u1", "tags": ["t1", "t2"], "run": 3})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let first = Ledger::new();
        first.record(record("before-enable", 1.0, meta.clone(), 10));
        first.enable_store(&path).unwrap();
        for i in 0..50 {
            first.record(record("gpt-4o", 0.5, meta.clone(), 100 + i));
        }
        first.disable_store();

        let second = Ledger::new();
        second.enable_store(&path).unwrap();
        let mut seen = Vec::new();
        second
            .for_each_record(None, None, |r| seen.push(r.clone()))
            .unwrap();
        assert_eq!(seen.len(), 51);
        assert_eq!(seen[0].model, "before-enable");
        let r = &seen[1];
        assert_eq!(r.user(), Some("u1"));
        assert_eq!(r.tags(), ["t1", "t2"]);
        assert_eq!(r.metadata.as_ref().unwrap().extra["run"], json!(3));
        assert_eq!(r.cost, Some(0.5));
        // Offering the same records again writes nothing twice.
        for rec in &seen {
            second.record(rec.clone());
        }
        let report = second.report(&ReportQuery::default()).unwrap();
        assert_eq!(report.total_calls, 51);
        assert!((report.total_cost - 26.0).abs() < 1e-9);
        // Range filters are applied in SQL.
        let mut n = 0;
        second
            .for_each_record(Some(100), Some(110), |_| n += 1)
            .unwrap();
        assert_eq!(n, 10);
        second.disable_store();
    }

    #[test]
    fn unopenable_path_fails_on_the_calling_thread() {
        let err = Writer::open(Path::new("/nonexistent-dir/x/ledger.sqlite")).err();
        assert!(err.is_some());
    }
}

//! Write-behind of the spend log: requests push their row onto a bounded queue (never
//! waiting), and one task writes what accumulated, with the spend it adds to keys, teams
//! and end users, in one transaction per batch.
//!
//! A slow or failing database never slows a request: when the queue is full the row is
//! dropped and counted ([`SpendWriter::dropped`], for `/metrics`), and a batch that fails
//! to write is kept (the queue stops draining meanwhile) and retried with backoff, so
//! memory stays bounded by the queue's capacity plus one batch (of up to
//! [`BEHIND_BATCHES`] × `max_batch` rows when the writer is behind). [`SpendWriter::flush`]
//! waits until everything queued before it is written (graceful shutdown).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::journal::Journal;
use super::store::{SpendBatch, SpendIncrements, SpendLogRow, Store};

/// How many times [`SpendWriterConfig::max_batch`] the writer takes in one transaction
/// while rows keep waiting (the last batch was full). Each transaction adds a batch's
/// spend once per key, team and end user it touches: with many keys in turn (1,000 keys:
/// ~1,000 `UPDATE`s per 1,000 rows) bigger batches halve the writer's work per row, so it
/// catches up instead of letting the queue, and the memory its rows hold (~1.7 KiB each),
/// grow with the requests.
const BEHIND_BATCHES: usize = 4;

/// Queue and batching settings.
#[derive(Debug, Clone, Copy)]
pub struct SpendWriterConfig {
    /// Rows waiting at most; more are dropped (and counted).
    pub capacity: usize,
    /// Rows written per transaction at most, while the writer keeps up ([`BEHIND_BATCHES`]
    /// times as many while rows keep waiting).
    pub max_batch: usize,
    /// How long the writer gathers rows before writing them.
    pub interval: Duration,
    /// The longest wait between retries of a failing write.
    pub max_backoff: Duration,
    /// Write the log rows (`false`: only add their spend to keys, teams and end users, as
    /// with `disable_spend_logs`).
    pub keep_logs: bool,
}

impl Default for SpendWriterConfig {
    fn default() -> Self {
        SpendWriterConfig {
            capacity: 100_000,
            max_batch: 1_000,
            interval: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            keep_logs: true,
        }
    }
}

/// What the writer has done, for metrics and tests.
#[derive(Debug, Default)]
pub struct SpendWriterStats {
    dropped: AtomicU64,
    written: AtomicU64,
    /// Rows accepted and not written yet (queued, or in the batch being written).
    pending: AtomicU64,
    failed_writes: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SpendWriterStats {
    /// Rows dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows accepted and not written yet: waiting in the queue or in the batch being
    /// written (a database that is slow or down shows here before rows are dropped).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Rows written.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Batch writes that failed (and were retried).
    pub fn failed_writes(&self) -> u64 {
        self.failed_writes.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

enum Msg {
    /// A row and its journal sequence number (0 without a journal).
    Row(Box<SpendLogRow>, u64),
    Flush(oneshot::Sender<()>),
}

/// The handle requests record through. Dropping it lets the writer finish what is queued
/// and stop (a writer retrying a failing database stops with the runtime).
pub struct SpendWriter {
    tx: mpsc::Sender<Msg>,
    /// Cuts the writer's gathering short (a flush, or closing).
    urgent: Arc<Notify>,
    stats: Arc<SpendWriterStats>,
    task: JoinHandle<()>,
    journal: Option<Arc<Journal>>,
}

impl SpendWriter {
    /// Start the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: SpendWriterConfig) -> Self {
        Self::start_with_journal(store, config, None)
    }

    /// [`SpendWriter::start`], appending every row to `journal` before queueing it (see
    /// [`super::journal`]).
    pub fn start_with_journal(
        store: Arc<dyn Store>,
        config: SpendWriterConfig,
        journal: Option<Arc<Journal>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let stats = Arc::new(SpendWriterStats::default());
        let urgent = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            store,
            rx,
            urgent.clone(),
            config,
            stats.clone(),
            journal.clone(),
        ));
        SpendWriter {
            tx,
            urgent,
            stats,
            task,
            journal,
        }
    }

    /// Queue a row; never waits. Returns `false` if the queue was full (the row is dropped
    /// and counted). With a journal, the row is in its file when this returns.
    pub fn record(&self, row: SpendLogRow) -> bool {
        // Counted before it is queued, so the writer never takes it off before it is on.
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        let sent = match &self.journal {
            Some(j) => j.append(row, |row, seq| {
                self.tx.try_send(Msg::Row(Box::new(row), seq))
            }),
            None => self.tx.try_send(Msg::Row(Box::new(row), 0)),
        };
        match sent {
            Ok(()) => true,
            Err(_) => {
                self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    super::warn(&format!(
                        "spend log queue full: {n} request rows dropped so far (the database is slow or failing: {})",
                        self.stats.last_error().unwrap_or_else(|| "no error reported yet".to_owned())
                    ));
                }
                false
            }
        }
    }

    /// Wait until every row queued before this call is written, for at most `grace`.
    /// Returns whether it all was.
    pub async fn flush(&self, grace: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let work = async {
            if self.tx.send(Msg::Flush(done)).await.is_err() {
                return false;
            }
            self.urgent.notify_one();
            wait.await.is_ok()
        };
        tokio::time::timeout(grace, work).await.unwrap_or(false)
    }

    /// Stop taking rows, write what is queued and end the writer, within `grace` (past it,
    /// the writer is stopped and what it still held is lost). Returns whether all was
    /// written.
    pub async fn close(self, grace: Duration) -> bool {
        let SpendWriter {
            tx, task, urgent, ..
        } = self;
        drop(tx);
        urgent.notify_one();
        let abort = task.abort_handle();
        match tokio::time::timeout(grace, task).await {
            Ok(done) => done.is_ok(),
            Err(_) => {
                abort.abort();
                false
            }
        }
    }

    pub fn stats(&self) -> &Arc<SpendWriterStats> {
        &self.stats
    }

    /// Rows dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped()
    }

    /// Rows waiting to be written ([`SpendWriterStats::pending`]).
    pub fn pending(&self) -> u64 {
        self.stats.pending()
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Msg>,
    urgent: Arc<Notify>,
    config: SpendWriterConfig,
    stats: Arc<SpendWriterStats>,
    journal: Option<Arc<Journal>>,
) {
    let max_batch = config.max_batch.max(1);
    let mut batch: Vec<SpendLogRow> = Vec::new();
    // The journal sequence number of the last row taken.
    let mut last_seq = 0u64;
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closed = false;
    let mut backoff = config.interval.max(Duration::from_millis(10));
    let take = |m: Msg, batch: &mut Vec<SpendLogRow>, waiters: &mut Vec<_>, last: &mut u64| match m
    {
        Msg::Row(r, seq) => {
            batch.push(*r);
            *last = (*last).max(seq);
        }
        Msg::Flush(w) => waiters.push(w),
    };
    // The last batch was full: more rows wait, so write them without gathering.
    let mut behind = false;
    loop {
        if batch.is_empty() && waiters.is_empty() {
            match rx.recv().await {
                Some(m) => take(m, &mut batch, &mut waiters, &mut last_seq),
                None => return,
            }
            // Gather for one interval, unless someone waits for a flush. The rows wait in
            // the queue meanwhile: waking this task for each one would cost every request
            // a task wake-up (and often a worker thread's) on the gateway's runtime.
            if waiters.is_empty() && !behind {
                tokio::select! {
                    () = tokio::time::sleep(config.interval) => {}
                    () = urgent.notified() => {}
                }
            }
        }
        // Behind: rows keep waiting, so take more of them at once.
        let limit = if behind {
            max_batch.saturating_mul(BEHIND_BATCHES)
        } else {
            max_batch
        };
        while batch.len() < limit {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch, &mut waiters, &mut last_seq),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        behind = batch.len() >= max_batch;
        if !batch.is_empty() {
            // The journal's rows so far reach the disk itself (a machine crash loses at
            // most the rows since), off the request path.
            if let Some(file) = journal.as_ref().and_then(|j| j.sync_handle()) {
                let _ = tokio::task::spawn_blocking(move || file.sync_data()).await;
            }
            let write = SpendBatch {
                increments: SpendIncrements::of(&batch),
                logs: if config.keep_logs {
                    batch.clone()
                } else {
                    Vec::new()
                },
            };
            match store.write_spend(write).await {
                Ok(()) => {
                    stats
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    stats
                        .pending
                        .fetch_sub(batch.len() as u64, Ordering::Relaxed);
                    batch.clear();
                    if let Some(j) = &journal {
                        j.committed(last_seq);
                    }
                    backoff = config.interval.max(Duration::from_millis(10));
                }
                Err(e) => {
                    let n = stats.failed_writes.fetch_add(1, Ordering::Relaxed) + 1;
                    let message = e.to_string();
                    if n.is_power_of_two() {
                        super::warn(&format!(
                            "spend log write failed ({n} failures so far), retrying in {backoff:?}: {message}"
                        ));
                    }
                    if let Ok(mut g) = stats.last_error.lock() {
                        *g = Some(message);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                    continue;
                }
            }
        }
        // Everything queued before these flushes is written now.
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
        if closed && batch.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::state::store::sqlite::SqliteStore;
    use crate::proxy::state::store::tests::TempDb;
    use crate::proxy::state::store::{KeyRow, SpendLogQuery, StoreError, StoreFuture};

    fn row(i: usize, key: &str, cost: f64) -> SpendLogRow {
        SpendLogRow {
            request_id: format!("req-{i}"),
            call_type: "acompletion".into(),
            api_key: key.into(),
            spend: cost,
            start_time: i as i64,
            end_time: i as i64 + 1,
            model: "gpt-4o".into(),
            team_id: Some("team".into()),
            end_user: Some("cust".into()),
            ..Default::default()
        }
    }

    fn quick() -> SpendWriterConfig {
        SpendWriterConfig {
            capacity: 10_000,
            max_batch: 100,
            interval: Duration::from_millis(20),
            max_backoff: Duration::from_millis(50),
            keep_logs: true,
        }
    }

    #[tokio::test]
    async fn rows_are_batched_and_spend_columns_raised() {
        let db = TempDb::new("writer");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).unwrap());
        store
            .insert_key(KeyRow {
                token: "k1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let writer = SpendWriter::start(store.clone(), quick());
        for i in 0..250 {
            assert!(writer.record(row(i, "k1", 0.01)));
        }
        assert!(writer.flush(Duration::from_secs(30)).await);
        let logs = store.spend_logs(SpendLogQuery::default()).await.unwrap();
        assert_eq!(logs.len(), 250);
        assert_eq!(writer.stats().written(), 250);
        assert_eq!(writer.pending(), 0);
        let key = store.get_key("k1".into()).await.unwrap().unwrap();
        assert!((key.spend - 2.5).abs() < 1e-9, "{}", key.spend);
        let user = store.get_end_user("cust".into()).await.unwrap().unwrap();
        assert!((user.spend - 2.5).abs() < 1e-9);
        assert_eq!(writer.dropped(), 0);
    }

    /// A store whose spend writes fail until told otherwise.
    struct Flaky {
        inner: SqliteStore,
        failing: std::sync::atomic::AtomicBool,
        attempts: AtomicU64,
        /// Key spend increments written (one `UPDATE` each).
        key_updates: AtomicU64,
    }

    impl Flaky {
        fn open(db: &TempDb, failing: bool) -> Arc<Self> {
            Arc::new(Flaky {
                inner: SqliteStore::open(&db.0).unwrap(),
                failing: failing.into(),
                attempts: AtomicU64::new(0),
                key_updates: AtomicU64::new(0),
            })
        }
    }

    macro_rules! delegate {
        ($($name:ident($($arg:ident: $t:ty),*) -> $r:ty;)*) => {
            $(fn $name(&self, $($arg: $t),*) -> StoreFuture<'_, $r> { self.inner.$name($($arg),*) })*
        };
    }

    use crate::proxy::state::store::*;

    impl Store for Flaky {
        fn location(&self) -> String {
            self.inner.location()
        }
        delegate! {
            ping() -> ();
            insert_key(row: KeyRow) -> ();
            get_key(token: String) -> Option<KeyRow>;
            keys_by_alias(alias: String) -> Vec<KeyRow>;
            update_key(row: KeyRow, set_spend: bool) -> bool;
            replace_key_token(old: String, row: KeyRow) -> bool;
            delete_keys(tokens: Vec<String>, by: Option<String>) -> Vec<String>;
            get_deleted_key(token: String) -> Option<DeletedKeyRow>;
            list_keys(q: KeyQuery) -> (Vec<KeyRow>, u64);
            team_keys(team: String) -> Vec<KeyRow>;
            insert_team(row: TeamRow) -> ();
            get_team(id: String) -> Option<TeamRow>;
            update_team(row: TeamRow, set_spend: bool) -> bool;
            delete_teams(ids: Vec<String>, by: Option<String>) -> (Vec<String>, Vec<String>);
            list_teams() -> Vec<TeamRow>;
            insert_end_user(row: EndUserRow) -> ();
            get_end_user(id: String) -> Option<EndUserRow>;
            update_end_user(row: EndUserRow) -> bool;
            delete_end_users(ids: Vec<String>) -> u64;
            list_end_users(restricted: bool) -> Vec<EndUserRow>;
            due_resets(now: i64) -> Vec<BudgetReset>;
            apply_resets(r: Vec<BudgetReset>) -> u64;
            spend_logs(q: SpendLogQuery) -> Vec<SpendLogRow>;
            spend_totals(q: SpendTotalsQuery) -> Vec<SpendTotalsRow>;
            delete_spend_logs_before(cutoff: i64, limit: u64) -> u64;
        }
        fn write_spend(&self, batch: SpendBatch) -> StoreFuture<'_, ()> {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            self.key_updates
                .fetch_add(batch.increments.keys.len() as u64, Ordering::Relaxed);
            if self.failing.load(Ordering::Relaxed) {
                return Box::pin(async {
                    Err(StoreError::Backend {
                        location: "flaky".into(),
                        message: "disk on fire".into(),
                    })
                });
            }
            self.inner.write_spend(batch)
        }
    }

    #[tokio::test]
    async fn a_failing_database_drops_past_the_bound_and_loses_nothing_queued() {
        let db = TempDb::new("flaky");
        let flaky = Flaky::open(&db, true);
        let writer = SpendWriter::start(
            flaky.clone(),
            SpendWriterConfig {
                capacity: 50,
                max_batch: 10,
                ..quick()
            },
        );
        // Recording never waits: 1000 rows against a dead database, 50 queued + up to one
        // (behind: enlarged) batch held by the writer; the rest dropped and counted.
        let accepted = (0..1000)
            .filter(|i| writer.record(row(*i, "", 0.0)))
            .count();
        assert!(accepted <= 50 + 10 * BEHIND_BATCHES + 1, "{accepted}");
        assert_eq!(writer.dropped() as usize, 1000 - accepted);
        // What `/metrics` shows as the queue's depth: every accepted row, none written.
        assert_eq!(writer.pending() as usize, accepted);
        assert!(
            !writer.flush(Duration::from_millis(100)).await,
            "cannot flush yet"
        );
        assert!(writer.stats().failed_writes() > 0);
        assert!(writer
            .stats()
            .last_error()
            .unwrap()
            .contains("disk on fire"));
        // The database comes back: everything accepted is written.
        flaky.failing.store(false, Ordering::Relaxed);
        assert!(writer.flush(Duration::from_secs(30)).await);
        let logs = flaky.spend_logs(SpendLogQuery::default()).await.unwrap();
        assert_eq!(logs.len(), accepted);
        assert_eq!(writer.pending(), 0);
    }

    #[tokio::test]
    async fn a_writer_behind_takes_bigger_batches_and_catches_up() {
        // 4,000 rows of 100 keys in turn wait at once (the test's runtime has one thread: the
        // writer has not run yet). Batches of 100 would take 40 transactions and 4,000 key
        // updates (each batch touches all 100 keys); behind, the writer takes
        // BEHIND_BATCHES × 100 rows at a time: 1 + 10 transactions, ~1,100 updates. The
        // queue then holds nothing (the gauge `/metrics` shows).
        let db = TempDb::new("behind");
        let store = Flaky::open(&db, false);
        let writer = SpendWriter::start(
            store.clone(),
            SpendWriterConfig {
                capacity: 10_000,
                max_batch: 100,
                ..quick()
            },
        );
        for i in 0..4000 {
            assert!(writer.record(row(i, &format!("k{}", i % 100), 0.01)));
        }
        assert_eq!(writer.pending(), 4000);
        assert!(writer.flush(Duration::from_secs(30)).await);
        assert_eq!(writer.pending(), 0);
        assert_eq!(writer.stats().written(), 4000);
        let writes = store.attempts.load(Ordering::Relaxed);
        let updates = store.key_updates.load(Ordering::Relaxed);
        assert!(writes <= 12, "{writes} transactions");
        assert!(updates <= 1200, "{updates} key updates");
    }

    #[tokio::test]
    async fn closing_the_writer_writes_what_is_queued() {
        let db = TempDb::new("drop");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db.0).unwrap());
        let writer = SpendWriter::start(store.clone(), quick());
        for i in 0..30 {
            writer.record(row(i, "", 0.0));
        }
        assert!(writer.close(Duration::from_secs(30)).await);
        assert_eq!(
            store
                .spend_logs(SpendLogQuery::default())
                .await
                .unwrap()
                .len(),
            30
        );
    }
}

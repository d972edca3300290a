//! The spend ledger: one [`SpendRecord`] per call that goes through the call pipeline
//! (success, failure, cancellation or budget refusal), with who it was for (the caller's
//! `metadata`: user, project, key, tags), what it used and what it cost.
//!
//! Recording is an append to an in-memory ring under a short lock (and, with persistence
//! on, a send on a channel to the writer thread): no I/O, no Python, on the calling thread.
//! [`Ledger::enable_store`] persists records to an SQLite file from a background thread
//! that batches whatever accumulated into one transaction. Reports ([`report`]) read the
//! SQLite file when persistence is on (so they cover earlier runs), else the ring.

pub mod chart;
pub mod clock;
pub mod compact;
pub mod report;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use clock::Micros;
pub use report::{GroupKey, Interval, Report, ReportQuery, ReportRow};

/// Records kept in memory by default (the oldest are dropped past this; persistence keeps
/// them all).
pub const DEFAULT_MAX_RECORDS: usize = 100_000;

/// Who a call is for, from its `metadata=` (and LiteLLM's `user=`): recorded with the call
/// and matched by budgets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// A name for the credential the call came in with (the proxy's virtual key alias);
    /// never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Free labels, such as the task type (`"summarize"`, `"classify"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Every other metadata field, kept as given.
    #[serde(default, flatten)]
    pub extra: Map<String, Value>,
}

impl CallMetadata {
    /// Read a call's `metadata` object: `user`, `project`, `key` (strings; numbers are
    /// accepted and written as text) and `tags` (a list of strings, or one string); other
    /// fields are kept in `extra`.
    pub fn from_map(mut map: Map<String, Value>) -> Self {
        let mut text = |name: &str| match map.remove(name) {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let user = text("user");
        let project = text("project");
        let key = text("key");
        let tags = match map.remove("tags") {
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .collect(),
            Some(Value::String(s)) => vec![s],
            Some(Value::Null) | None => Vec::new(),
            Some(other) => vec![other.to_string()],
        };
        CallMetadata {
            user,
            project,
            key,
            tags,
            extra: map,
        }
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.project.is_none()
            && self.key.is_none()
            && self.tags.is_empty()
            && self.extra.is_empty()
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Success,
    /// The provider or a local check failed; see [`SpendRecord::error`].
    Failure,
    /// Dropped before it finished (Ctrl-C, a cancelled task, a stream closed early, the
    /// losing copy of a hedged request).
    Cancelled,
    /// Refused by a budget before any network call.
    Blocked,
    /// Answered from the response cache: no network call, no cost.
    CacheHit,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Success => "success",
            CallStatus::Failure => "failure",
            CallStatus::Cancelled => "cancelled",
            CallStatus::Blocked => "blocked",
            CallStatus::CacheHit => "cache_hit",
        }
    }

    pub fn parse(s: &str) -> Option<CallStatus> {
        [
            CallStatus::Success,
            CallStatus::Failure,
            CallStatus::Cancelled,
            CallStatus::Blocked,
            CallStatus::CacheHit,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// One call in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendRecord {
    /// Random, unique: persistence writes each record once even if it is offered twice.
    pub id: u128,
    /// When the call started.
    pub started_at: Micros,
    /// The model as the provider knows it (`gpt-4o`), or the caller's string when it
    /// could not be resolved.
    pub model: String,
    pub provider: String,
    /// Router: the deployment that served the call.
    pub deployment: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// USD; `None` when the model has no known price.
    pub cost: Option<f64>,
    /// Seconds from start to the full response (for streams: to the end of the stream).
    pub latency: f64,
    pub status: CallStatus,
    /// The exception class of a failure (`RateLimitError`, `BudgetExceededError`, ...).
    pub error: Option<String>,
    pub stream: bool,
    /// The tokens (and cost) are llmswitch's count, not the provider's: a stream that ended
    /// before the provider's usage arrived (closed, cancelled, cut off) is charged its
    /// counted prompt and the counted text of the chunks received.
    pub estimated: bool,
    pub metadata: Option<Arc<CallMetadata>>,
    /// Set when a budget switched the call to a cheaper model: the model asked for.
    pub downgraded_from: Option<String>,
}

impl SpendRecord {
    /// A new record id.
    pub fn new_id() -> u128 {
        fastrand::u128(..)
    }

    pub fn user(&self) -> Option<&str> {
        self.metadata.as_deref().and_then(|m| m.user.as_deref())
    }

    pub fn project(&self) -> Option<&str> {
        self.metadata.as_deref().and_then(|m| m.project.as_deref())
    }

    pub fn key(&self) -> Option<&str> {
        self.metadata.as_deref().and_then(|m| m.key.as_deref())
    }

    pub fn tags(&self) -> &[String] {
        self.metadata.as_deref().map_or(&[], |m| m.tags.as_slice())
    }

    /// The cost counted in reports and budgets (unknown counts as 0).
    pub fn cost_or_zero(&self) -> f64 {
        self.cost.unwrap_or(0.0)
    }
}

/// Why persistence or a report failed.
#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    #[error("spend ledger database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("spend ledger database {path}: {message}")]
    Store { path: String, message: String },
    #[error("unknown group_by key {0:?}: use model, provider, deployment, user, project, key, tag, status, error, day, hour or metadata.<field>")]
    GroupKey(String),
    #[error("unknown interval {0:?}: use \"hour\" or \"day\"")]
    Interval(String),
    #[error("{message}")]
    Unwritten { message: String },
}

struct LedgerState {
    records: compact::RecordRing,
    max_records: usize,
    store: Option<store::Writer>,
}

/// The ledger: the in-memory ring, and the SQLite writer when persistence is on.
pub struct Ledger {
    recording: AtomicBool,
    state: Mutex<LedgerState>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide ledger that the call pipeline records to.
pub fn ledger() -> &'static Ledger {
    static LEDGER: OnceLock<Ledger> = OnceLock::new();
    LEDGER.get_or_init(Ledger::new)
}

impl Ledger {
    pub fn new() -> Self {
        Ledger {
            recording: AtomicBool::new(true),
            state: Mutex::new(LedgerState {
                records: compact::RecordRing::default(),
                max_records: DEFAULT_MAX_RECORDS,
                store: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, LedgerState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether calls are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// Turn recording on or off (off: calls are not recorded at all).
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Add a call. Cheap: a packed push under a short lock (strings and metadata are
    /// interned), plus a channel send when persisting.
    pub fn record(&self, record: SpendRecord) {
        if !self.is_recording() {
            return;
        }
        let mut state = self.state();
        let max = state.max_records;
        state.records.push(&record, max);
        if let Some(store) = &state.store {
            store.send(Arc::new(record));
        }
    }

    /// How many records the in-memory ring keeps (the oldest are dropped first).
    pub fn set_max_records(&self, max: usize) {
        let mut state = self.state();
        state.max_records = max;
        state.records.truncate_to(max);
    }

    /// Forget the in-memory records (the SQLite file, if any, keeps its rows).
    pub fn clear_memory(&self) {
        self.state().records.clear();
    }

    /// The in-memory records, oldest first.
    pub fn memory_records(&self) -> Vec<SpendRecord> {
        let snapshot = self.state().records.snapshot(None, None);
        snapshot.records().collect()
    }

    /// Records held in memory, and the bytes they take (ring slots and interned values).
    pub fn memory_footprint(&self) -> (usize, usize) {
        let state = self.state();
        (state.records.len(), state.records.footprint())
    }

    /// Persist every record to the SQLite file at `path` (created if missing), starting
    /// with those already in memory. Replaces any previous file (which is flushed first).
    pub fn enable_store(&self, path: &Path) -> Result<(), SpendError> {
        let writer = store::Writer::open(path)?;
        let old = {
            let mut state = self.state();
            for r in state.records.snapshot(None, None).records() {
                writer.send(Arc::new(r));
            }
            state.store.replace(writer)
        };
        if let Some(old) = old {
            old.close();
        }
        Ok(())
    }

    /// Stop persisting, after writing everything recorded so far.
    pub fn disable_store(&self) {
        let old = self.state().store.take();
        if let Some(old) = old {
            old.close();
        }
    }

    /// The SQLite file records go to, if persistence is on.
    pub fn store_path(&self) -> Option<PathBuf> {
        self.state().store.as_ref().map(|s| s.path().to_path_buf())
    }

    /// Wait until every record so far is in the SQLite file (no-op without persistence).
    /// Fails if records could not be written (they are kept and retried, up to
    /// [`store::MAX_BACKLOG`]) or were dropped since the last flush.
    pub fn flush(&self) -> Result<(), SpendError> {
        let waiter = self
            .state()
            .store
            .as_ref()
            .map(store::Writer::flush_request);
        match waiter {
            Some(w) => w
                .wait()
                .map_err(|message| SpendError::Unwritten { message }),
            None => Ok(()),
        }
    }

    /// The SQLite writer's counts and last error (`None` without persistence).
    pub fn store_status(&self) -> Option<store::WriterStatus> {
        self.state().store.as_ref().map(store::Writer::status)
    }

    /// Visit the records started in `[since, until)`: from the SQLite file when
    /// persistence is on (after a flush), else from memory.
    pub fn for_each_record(
        &self,
        since: Option<Micros>,
        until: Option<Micros>,
        mut visit: impl FnMut(&SpendRecord),
    ) -> Result<(), SpendError> {
        if let Some(path) = self.store_path() {
            // Records that cannot be written yet are reported by flush() and status(); the
            // report covers what the file holds.
            let _ = self.flush();
            return store::read_range(&path, since, until, visit);
        }
        // Copied under the lock (a memcpy of fixed-size records), unpacked outside it.
        let snapshot = self.state().records.snapshot(since, until);
        for r in snapshot.records() {
            visit(&r);
        }
        Ok(())
    }

    /// Aggregate the records matching `query`.
    pub fn report(&self, query: &ReportQuery) -> Result<Report, SpendError> {
        let mut agg = report::Aggregator::new(query);
        self.for_each_record(query.since, query.until, |r| agg.add(r))?;
        Ok(agg.finish())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn record(model: &str, cost: f64, meta: CallMetadata, at: Micros) -> SpendRecord {
        SpendRecord {
            id: SpendRecord::new_id(),
            started_at: at,
            model: model.to_owned(),
            provider: "openai".to_owned(),
            deployment: None,
            prompt_tokens: 10,
            completion_tokens: 5,
            cost: Some(cost),
            latency: 0.25,
            status: CallStatus::Success,
            error: None,
            stream: false,
            estimated: false,
            metadata: Some(Arc::new(meta)),
            downgraded_from: None,
        }
    }

    #[test]
    fn metadata_fields_are_read_and_the_rest_kept() {
        let m = CallMetadata::from_map(
            json!({"user": "alice", "project": 7, "tags": ["a", 1, null], "trace": {"x": 1}})
                .as_object()
                .cloned()
                .unwrap(),
        );
        assert_eq!(m.user.as_deref(), Some("alice"));
        assert_eq!(m.project.as_deref(), Some("7"));
        assert_eq!(m.tags, vec!["a", "1"]);
        assert_eq!(m.extra["trace"], json!({"x": 1}));
        let one = CallMetadata::from_map(json!({"tags": "solo"}).as_object().cloned().unwrap());
        assert_eq!(one.tags, vec!["solo"]);
    }

    #[test]
    fn ring_keeps_the_newest_records() {
        let ledger = Ledger::new();
        ledger.set_max_records(3);
        for i in 0..5 {
            ledger.record(record("m", i as f64, CallMetadata::default(), i));
        }
        let costs: Vec<_> = ledger
            .memory_records()
            .iter()
            .map(|r| r.cost.unwrap())
            .collect();
        assert_eq!(costs, vec![2.0, 3.0, 4.0]);
        ledger.set_recording(false);
        ledger.record(record("m", 9.0, CallMetadata::default(), 9));
        assert_eq!(ledger.memory_records().len(), 3);
    }
}

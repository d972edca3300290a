//! The response cache: answers to calls already made, served again without a network call.
//!
//! One [`ResponseCache`] (LiteLLM's `Cache`) holds its settings ([`CacheConfig`]: type, TTL,
//! namespace, mode, supported call types, `max_messages`) and a backend: in memory
//! ([`local`], an LRU bounded by entries and bytes), on disk ([`disk`], the embedded SQLite
//! on its own thread) or in Redis ([`redis`], on its own runtime). The call pipeline
//! (`call::cached`) asks it, per call, for a [`CachePlan`] (whether to read, whether to
//! write, under which keys, for how long), looks the call up before sending it, and stores
//! the answer after. Python, the router and the gateway share it that way.
//!
//! A backend never fails a call: an error (Redis down, a disk full) is a miss, reported once
//! through [`take_warnings`] until the backend works again.

pub mod config;
mod disk;
mod key;
mod local;
pub mod outage;
mod redis;
pub mod redis_conn;
/// One Redis client setup for the cache and the gateway's shared counters.
pub(crate) use redis::{
    client as redis_client, manager_config as redis_manager_config, shown as redis_shown,
};
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::LlmError;
use crate::types::{ChatChunk, ChatResponse, EmbeddingVector};

pub use config::{CacheConfig, CacheMode, CacheType, CallType};
pub use key::{chat_key, embedding_item_key};

/// A call's own cache settings: LiteLLM's `caching=` and `cache={...}` keywords.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheControl {
    /// `caching=`: `Some(false)` turns the cache off for the call; `None` uses it when one
    /// is set (the router passes its `cache_responses`).
    pub caching: Option<bool>,
    /// `cache={"no-cache": True}`: do not answer from the cache (the answer is still stored).
    pub no_cache: bool,
    /// `cache={"no-store": True}`: do not store the answer.
    pub no_store: bool,
    /// `cache={"use-cache": True}`: opt in when the cache's mode is `default_off`.
    pub use_cache: bool,
    /// `cache={"ttl": seconds}`: how long this answer is kept.
    pub ttl: Option<Duration>,
    /// `cache={"s-maxage": seconds}`: only answer from an entry at most this old.
    pub max_age: Option<Duration>,
    /// `cache={"namespace": "..."}`: a key prefix that keeps this call's entries apart.
    pub namespace: Option<String>,
}

/// What one call does with the cache, decided before it is sent.
#[derive(Clone)]
pub struct CachePlan {
    pub cache: Arc<ResponseCache>,
    /// One key per answer: one for a chat call, one per input of an embeddings call.
    pub keys: Vec<String>,
    /// Look the call up before sending it.
    pub read: bool,
    /// Store the answer.
    pub write: bool,
    pub ttl: Option<Duration>,
    pub max_age: Option<Duration>,
}

impl fmt::Debug for CachePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePlan")
            .field("keys", &self.keys)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CachePlan {
    /// The same plan without the lookup (the router's attempts, after the router looked up).
    pub fn write_only(&self) -> CachePlan {
        CachePlan {
            read: false,
            ..self.clone()
        }
    }

    /// The first key (the one a response names in `_hidden_params["cache_key"]`).
    pub fn key(&self) -> &str {
        self.keys.first().map_or("", String::as_str)
    }

    /// Every key's entry, or `None` unless all of them are there (and young enough).
    pub async fn get_all(&self) -> Option<Vec<Entry>> {
        let mut out = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            out.push(self.cache.get(key, self.max_age).await?);
        }
        Some(out)
    }

    /// Each key's entry, where there is one (young enough).
    pub async fn get_each(&self) -> Vec<Option<Entry>> {
        let mut out = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            out.push(self.cache.get(key, self.max_age).await);
        }
        out
    }

    /// Store `answers`, one per key, in order.
    pub fn put_all(&self, provider: &str, model: &str, answers: Vec<CachedAnswer>) {
        if answers.len() != self.keys.len() {
            return;
        }
        let created = now_secs();
        for (key, answer) in self.keys.iter().zip(answers) {
            let entry = Entry {
                created,
                provider: provider.to_owned(),
                model: model.to_owned(),
                answer,
            };
            self.cache.put(key, &entry, self.ttl);
        }
    }
}

/// How a call uses the cache: not at all, decided per call from a cache and the call's
/// control, or already planned (the router's attempts).
#[derive(Clone, Default)]
pub enum CacheUse {
    #[default]
    Off,
    Decide {
        cache: Arc<ResponseCache>,
        control: CacheControl,
        /// Whether the call is `acompletion`/`aembedding` (for `supported_call_types`).
        asynchronous: bool,
    },
    Planned(CachePlan),
}

impl fmt::Debug for CacheUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheUse::Off => f.write_str("Off"),
            CacheUse::Decide {
                control,
                asynchronous,
                ..
            } => f
                .debug_struct("Decide")
                .field("control", control)
                .field("asynchronous", asynchronous)
                .finish_non_exhaustive(),
            CacheUse::Planned(p) => f.debug_tuple("Planned").field(p).finish(),
        }
    }
}

/// One stored answer: what answered, when, and the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Seconds since the Unix epoch when it was stored.
    pub created: f64,
    pub provider: String,
    pub model: String,
    #[serde(flatten)]
    pub answer: CachedAnswer,
}

/// A stored answer of each kind of call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "answer", rename_all = "snake_case")]
pub enum CachedAnswer {
    /// A full chat response.
    Chat(Box<ChatResponse>),
    /// A stream's chunks, in order, the usage chunk included (replayed as they came).
    Stream(Vec<ChatChunk>),
    /// One input's vector (each input of an embeddings call is its own entry).
    Embedding(CachedEmbedding),
}

/// The vector of one embedding input and the tokens it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedEmbedding {
    pub embedding: EmbeddingVector,
    pub prompt_tokens: u64,
}

/// The response cache (LiteLLM's `Cache`): its settings and its backend.
pub struct ResponseCache {
    config: CacheConfig,
    backend: Backend,
}

impl fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("type", &self.config.cache_type)
            .finish_non_exhaustive()
    }
}

/// Where entries live.
enum Backend {
    Local(local::LocalCache),
    Disk(disk::DiskCache),
    Redis(redis::RedisCache),
}

impl ResponseCache {
    /// A cache from its settings. A disk cache opens (and creates) its database here; a
    /// Redis cache connects on first use, so a Redis that is down does not fail this.
    pub fn new(config: CacheConfig) -> Result<ResponseCache, LlmError> {
        let backend = match config.cache_type {
            CacheType::Local => Backend::Local(local::LocalCache::new(&config.local)),
            CacheType::Disk => Backend::Disk(disk::DiskCache::open(&config.disk)?),
            CacheType::Redis => Backend::Redis(redis::RedisCache::new(&config.redis)?),
        };
        Ok(ResponseCache { config, backend })
    }

    /// A cache from LiteLLM's `Cache(...)` keyword arguments as a JSON object (what
    /// `llmswitch.Cache(...)` and the gateway's `cache_params` give).
    pub fn from_params(
        params: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, LlmError> {
        ResponseCache::new(CacheConfig::from_params(params)?)
    }

    /// The gateway's cache, as LiteLLM's proxy builds it from its config's
    /// `litellm_settings`: none unless `cache: true`; then `cache_params` (type `redis`
    /// unless it says otherwise, with `REDIS_HOST`, `REDIS_PORT` and `REDIS_PASSWORD` from
    /// the environment when no parameter is given; `os.environ/NAME` values are read from
    /// the environment). A gateway with a cache also caches its router's calls
    /// (`cache_responses`).
    pub fn from_proxy_settings(
        litellm_settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<Self>, LlmError> {
        match CacheConfig::from_proxy_settings(litellm_settings)? {
            Some(config) => ResponseCache::new(config).map(Some),
            None => Ok(None),
        }
    }

    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The plan for one call, or `None` when the cache does not apply to it: the call's
    /// `caching=False`, a call type outside `supported_call_types`, a `default_off` cache
    /// the call did not opt into, or more than `max_messages` messages. `keys` is only
    /// computed when the cache applies.
    pub fn plan(
        self: &Arc<Self>,
        control: &CacheControl,
        call: CallType,
        message_count: usize,
        keys: impl FnOnce() -> Vec<String>,
    ) -> Option<CachePlan> {
        let c = &self.config;
        if control.caching == Some(false)
            || !c.supports(call)
            || (c.mode == CacheMode::DefaultOff && !control.use_cache)
            || c.max_messages.is_some_and(|max| message_count > max)
        {
            return None;
        }
        let (read, write) = (!control.no_cache, !control.no_store);
        if !read && !write {
            return None;
        }
        let namespace = control.namespace.as_deref().or(c.namespace.as_deref());
        let keys = keys()
            .into_iter()
            .map(|k| match namespace {
                Some(ns) if !ns.is_empty() => format!("{ns}:{k}"),
                _ => k,
            })
            .collect();
        Some(CachePlan {
            cache: Arc::clone(self),
            keys,
            read,
            write,
            ttl: control.ttl.or(c.ttl).or(c.default_ttl()),
            max_age: control.max_age,
        })
    }

    /// The entry under `key`, if there is one no older than `max_age`. A backend error or
    /// an entry that does not decode is a miss.
    pub async fn get(&self, key: &str, max_age: Option<Duration>) -> Option<Entry> {
        let bytes = match &self.backend {
            Backend::Local(b) => b.get(key),
            Backend::Disk(b) => b.get(key).await,
            Backend::Redis(b) => b.get(key).await,
        }?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        if let Some(max) = max_age {
            if now_secs() - entry.created > max.as_secs_f64() {
                return None;
            }
        }
        Some(entry)
    }

    /// Store `entry` under `key`, kept `ttl` (none: until evicted). Returns at once: a disk
    /// or Redis write completes in the background (a read of the key made after this
    /// returns sees it).
    pub fn put(&self, key: &str, entry: &Entry, ttl: Option<Duration>) {
        let Ok(json) = serde_json::to_vec(entry) else {
            return;
        };
        let bytes = Bytes::from(json);
        match &self.backend {
            Backend::Local(b) => b.put(key, bytes, ttl),
            Backend::Disk(b) => b.put(key, bytes, ttl),
            Backend::Redis(b) => b.put(key, bytes, ttl),
        }
    }

    /// Remove every entry (of a Redis cache: the keys shaped like this cache's keys, a
    /// SHA-256 in hex after the cache's namespace, if any).
    pub async fn clear(&self) {
        match &self.backend {
            Backend::Local(b) => b.clear(),
            Backend::Disk(b) => b.clear().await,
            Backend::Redis(b) => b.clear(self.config.namespace.as_deref()).await,
        }
    }

    /// Remove the entries under `keys`.
    pub async fn delete(&self, keys: &[String]) {
        match &self.backend {
            Backend::Local(b) => b.delete(keys),
            Backend::Disk(b) => b.delete(keys).await,
            Backend::Redis(b) => b.delete(keys).await,
        }
    }

    /// Whether the backend answers (`PING` for Redis; always for the others).
    pub async fn ping(&self) -> Result<(), String> {
        match &self.backend {
            Backend::Local(_) | Backend::Disk(_) => Ok(()),
            Backend::Redis(b) => b.ping().await,
        }
    }
}

/// Seconds since the Unix epoch.
fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------
// Warnings: a backend that fails says so once, until it works again
// ---------------------------------------------------------------------------------------

static HAS_WARNINGS: AtomicBool = AtomicBool::new(false);
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Queue a warning for the front end (Python logs it after the call; the gateway logs it).
/// Also used by the spend ledger's writer.
pub fn warn(message: String) {
    let mut queue = match WARNINGS.lock() {
        Ok(q) => q,
        Err(poisoned) => poisoned.into_inner(),
    };
    queue.push(message);
    HAS_WARNINGS.store(true, Ordering::Release);
}

/// Whether warnings are waiting (one atomic load: checked after every call).
pub fn has_warnings() -> bool {
    HAS_WARNINGS.load(Ordering::Acquire)
}

/// The warnings queued since the last call, oldest first.
pub fn take_warnings() -> Vec<String> {
    if !has_warnings() {
        return Vec::new();
    }
    let mut queue = match WARNINGS.lock() {
        Ok(q) => q,
        Err(poisoned) => poisoned.into_inner(),
    };
    HAS_WARNINGS.store(false, Ordering::Release);
    std::mem::take(&mut *queue)
}

/// A backend's health: the first failure after a success warns; later ones do not.
#[derive(Debug, Default)]
struct Health {
    failing: AtomicBool,
}

impl Health {
    /// A backend operation failed: warn unless it was already failing.
    fn failed(&self, what: impl FnOnce() -> String) {
        if !self.failing.swap(true, Ordering::AcqRel) {
            warn(what());
        }
    }

    /// A backend operation worked: a later failure warns again.
    fn ok(&self) {
        if self.failing.load(Ordering::Relaxed) {
            self.failing.store(false, Ordering::Release);
        }
    }
}

//! A cache's settings, read from LiteLLM's `Cache(...)` keyword arguments (as a JSON object:
//! what `llmswitch.Cache(...)` passes, and what a proxy config's `cache_params` holds), with
//! LiteLLM 1.106.2's defaults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::call::words::from_value;
use crate::error::LlmError;

/// Where entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheType {
    /// In this process's memory.
    Local,
    /// In a Redis server, shared by processes and machines.
    Redis,
    /// In an SQLite file, kept across restarts.
    Disk,
}

impl CacheType {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheType::Local => "local",
            CacheType::Redis => "redis",
            CacheType::Disk => "disk",
        }
    }
}

/// LiteLLM's `mode`: whether calls use the cache unless they opt out, or only when they
/// opt in (`cache={"use-cache": True}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    DefaultOn,
    DefaultOff,
}

impl CacheMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::DefaultOn => "default_on",
            CacheMode::DefaultOff => "default_off",
        }
    }
}

/// The kind of a call, as `supported_call_types` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    Completion,
    ACompletion,
    Embedding,
    AEmbedding,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Completion => "completion",
            CallType::ACompletion => "acompletion",
            CallType::Embedding => "embedding",
            CallType::AEmbedding => "aembedding",
        }
    }
}

/// LiteLLM's call types (`CachingSupportedCallTypes`); all are the default. llmswitch
/// caches the first four (the others are calls it does not make).
pub const CALL_TYPES: &[&str] = &[
    "completion",
    "acompletion",
    "embedding",
    "aembedding",
    "atranscription",
    "transcription",
    "atext_completion",
    "text_completion",
    "arerank",
    "rerank",
    "responses",
    "aresponses",
    "anthropic_messages",
    "aanthropic_messages",
];

/// The in-memory cache's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// Entries kept (LiteLLM's `max_size_in_memory`, default 200); the least recently
    /// used go first.
    pub max_entries: usize,
    /// Bytes kept, counting each entry's serialized size (default 64 MiB).
    pub max_bytes: usize,
    /// An answer larger than this is not kept (LiteLLM's `max_size_per_item`, 1 MiB).
    pub max_item_bytes: usize,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            max_entries: 200,
            max_bytes: 64 << 20,
            max_item_bytes: 1 << 20,
        }
    }
}

/// The disk cache's file and bound.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskConfig {
    /// The directory of the database (LiteLLM's `disk_cache_dir`, default
    /// `.litellm_cache`); the file in it is `llmswitch-cache.sqlite3`.
    pub dir: PathBuf,
    /// Bytes of answers kept; the oldest go first (default 1 GiB, as `diskcache`'s).
    pub size_limit: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            dir: PathBuf::from(".litellm_cache"),
            size_limit: 1 << 30,
        }
    }
}

/// Where the Redis server is and how long to wait for it.
#[derive(Debug, Clone, Default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://` (TLS).
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub db: Option<i64>,
    /// TLS (`ssl=True`, as redis-py's).
    pub ssl: bool,
    /// Wait for a connection (`socket_connect_timeout`, default 1 s).
    pub connect_timeout: Option<Duration>,
    /// Wait for an answer (`socket_timeout`, default 0.5 s): a slower Redis is a miss.
    pub response_timeout: Option<Duration>,
}

/// A cache's settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub cache_type: CacheType,
    pub mode: CacheMode,
    /// How long entries live, unless a call says otherwise (`cache={"ttl": ...}`). `None`:
    /// the backend's default (local 600 s and Redis 60 s, as LiteLLM's; disk: no expiry).
    pub ttl: Option<Duration>,
    /// A prefix of every key, keeping entries of different caches apart in one Redis.
    pub namespace: Option<String>,
    /// LiteLLM's call type names the cache serves.
    pub supported_call_types: Vec<String>,
    /// Calls with more messages than this are neither looked up nor stored (LiteLLM's
    /// default 4, so long agent conversations do not fill the cache); `None`: no limit.
    pub max_messages: Option<usize>,
    pub local: LocalConfig,
    pub disk: DiskConfig,
    pub redis: RedisConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            cache_type: CacheType::Local,
            mode: CacheMode::DefaultOn,
            ttl: None,
            namespace: None,
            supported_call_types: CALL_TYPES.iter().map(|s| (*s).to_owned()).collect(),
            max_messages: Some(4),
            local: LocalConfig::default(),
            disk: DiskConfig::default(),
            redis: RedisConfig::default(),
        }
    }
}

/// LiteLLM `Cache` arguments of cache types llmswitch does not have (S3, GCS, Azure Blob,
/// the semantic caches) and of machinery it does not need; accepted and unused.
const ACCEPTED_UNUSED: &[&str] = &[
    "similarity_threshold",
    "azure_account_url",
    "azure_blob_container",
    "s3_bucket_name",
    "s3_region_name",
    "s3_api_version",
    "s3_use_ssl",
    "s3_verify",
    "s3_endpoint_url",
    "s3_aws_access_key_id",
    "s3_aws_secret_access_key",
    "s3_aws_session_token",
    "s3_config",
    "s3_path",
    "gcs_bucket_name",
    "gcs_path_service_account",
    "gcs_path",
    "redis_semantic_cache_embedding_model",
    "redis_semantic_cache_index_name",
    "valkey_semantic_cache_embedding_model",
    "valkey_semantic_cache_index_name",
    "redis_flush_size",
    "qdrant_api_base",
    "qdrant_api_key",
    "qdrant_collection_name",
    "qdrant_quantization_config",
    "qdrant_semantic_cache_embedding_model",
    "qdrant_semantic_cache_vector_size",
    "semantic_cache_embedding_max_input_tokens",
    "semantic_cache_embedding_timeout",
    "semantic_cache_scope",
    "gcp_service_account",
    "gcp_ssl_ca_certs",
    // redis-py connection settings a Redis cache accepts and does not need.
    "health_check_interval",
    "max_connections",
    "retry_on_timeout",
    "socket_keepalive",
    "client_name",
    "ssl_cert_reqs",
    "decode_responses",
    "encoding",
];

/// The arguments read here.
const USED: &[&str] = &[
    "type",
    "mode",
    "host",
    "port",
    "password",
    "username",
    "url",
    "db",
    "ssl",
    "socket_timeout",
    "socket_connect_timeout",
    "namespace",
    "ttl",
    "default_in_memory_ttl",
    "default_in_redis_ttl",
    "supported_call_types",
    "max_messages",
    "disk_cache_dir",
    "disk_size_limit",
    "max_size_in_memory",
    "max_size_per_item",
    "max_memory_bytes",
    "redis_startup_nodes",
];

/// LiteLLM's cache types that llmswitch does not provide.
const OTHER_TYPES: &[&str] = &[
    "redis-semantic",
    "valkey-semantic",
    "s3",
    "qdrant-semantic",
    "azure-blob",
    "gcs",
];

fn bad(message: impl Into<String>) -> LlmError {
    LlmError::bad_request(message)
}

fn read<T: DeserializeOwned>(key: &str, v: &Value) -> Result<T, LlmError> {
    Ok(from_value(v, &format!("Cache({key}=...)"))?)
}

/// Seconds as a duration, from a number or a numeric string (environment values).
fn seconds(key: &str, v: &Value) -> Result<Duration, LlmError> {
    let secs = match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    };
    secs.and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            bad(format!(
                "Cache({key}=...) must be a non-negative number of seconds, got {v}"
            ))
        })
}

/// An integer from a number or a numeric string.
fn integer(key: &str, v: &Value) -> Result<i64, LlmError> {
    let n = match v {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        other => other.as_i64(),
    };
    n.ok_or_else(|| bad(format!("Cache({key}=...) must be an integer, got {v}")))
}

fn size(key: &str, v: &Value) -> Result<u64, LlmError> {
    u64::try_from(integer(key, v)?).map_err(|_| {
        bad(format!(
            "Cache({key}=...) must be a non-negative integer, got {v}"
        ))
    })
}

fn flag(key: &str, v: &Value) -> Result<bool, LlmError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => Ok(matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes"
        )),
        _ => Err(bad(format!(
            "Cache({key}=...) must be True or False, got {v}"
        ))),
    }
}

impl CacheConfig {
    /// Settings from LiteLLM's `Cache(...)` keyword arguments. Unset (null) arguments take
    /// the default, except `max_messages=None`, which lifts the limit. `os.environ/NAME`
    /// values are read from the environment. A Redis cache without `host`/`url` takes
    /// `REDIS_URL`, or `REDIS_HOST` and `REDIS_PORT` (with `REDIS_PASSWORD`,
    /// `REDIS_USERNAME`, `REDIS_DB`, `REDIS_SSL`), as LiteLLM's does.
    pub fn from_params(params: &Map<String, Value>) -> Result<CacheConfig, LlmError> {
        let mut params = params.clone();
        for (key, v) in params.iter_mut() {
            crate::environ::resolve_env(v, &HashMap::new(), &format!("Cache({key}=...)"))?;
        }
        let mut c = CacheConfig::default();
        if let Some(t) = params.get("type").filter(|v| !v.is_null()) {
            let name: String = read("type", t)?;
            c.cache_type = match name.as_str() {
                "local" => CacheType::Local,
                "redis" => CacheType::Redis,
                "disk" => CacheType::Disk,
                other if OTHER_TYPES.contains(&other) => {
                    return Err(bad(format!(
                        "Cache(type=\"{other}\") is not available in llmswitch: use \"local\", \"redis\" or \"disk\""
                    )))
                }
                other => {
                    return Err(bad(format!(
                        "Cache(type=\"{other}\") is not a cache type: use \"local\", \"redis\" or \"disk\""
                    )))
                }
            };
        }
        let (mut in_memory_ttl, mut in_redis_ttl) = (None, None);
        for (key, v) in &params {
            let key = key.as_str();
            if key == "max_messages" {
                c.max_messages = match v {
                    Value::Null => None,
                    v => Some(size(key, v)? as usize),
                };
                continue;
            }
            if v.is_null() || key == "type" || ACCEPTED_UNUSED.contains(&key) {
                continue;
            }
            match key {
                "mode" => {
                    c.mode = match read::<String>(key, v)?.as_str() {
                        "default_on" => CacheMode::DefaultOn,
                        "default_off" => CacheMode::DefaultOff,
                        other => {
                            return Err(bad(format!(
                                "Cache(mode=\"{other}\") must be \"default_on\" or \"default_off\""
                            )))
                        }
                    }
                }
                "ttl" => c.ttl = Some(seconds(key, v)?),
                "default_in_memory_ttl" => in_memory_ttl = Some(seconds(key, v)?),
                "default_in_redis_ttl" => in_redis_ttl = Some(seconds(key, v)?),
                "namespace" => c.namespace = Some(read(key, v)?),
                "supported_call_types" => {
                    let types: Vec<String> = read(key, v)?;
                    if let Some(unknown) = types.iter().find(|t| !CALL_TYPES.contains(&t.as_str()))
                    {
                        return Err(bad(format!(
                            "Cache(supported_call_types=...): '{unknown}' is not a call type (known: {})",
                            CALL_TYPES.join(", ")
                        )));
                    }
                    c.supported_call_types = types;
                }
                "disk_cache_dir" => c.disk.dir = PathBuf::from(read::<String>(key, v)?),
                "disk_size_limit" => c.disk.size_limit = size(key, v)?,
                "max_size_in_memory" => c.local.max_entries = size(key, v)?.max(1) as usize,
                "max_size_per_item" => {
                    c.local.max_item_bytes = (size(key, v)? as usize).saturating_mul(1024)
                }
                "max_memory_bytes" => c.local.max_bytes = size(key, v)? as usize,
                "host" => c.redis.host = Some(read(key, v)?),
                "port" => {
                    let port = integer(key, v)?;
                    c.redis.port = Some(u16::try_from(port).map_err(|_| {
                        bad(format!("Cache(port=...) must be a port number, got {port}"))
                    })?);
                }
                "password" => c.redis.password = Some(SecretString::from(read::<String>(key, v)?)),
                "username" => c.redis.username = Some(read(key, v)?),
                "url" => c.redis.url = Some(read(key, v)?),
                "db" => c.redis.db = Some(integer(key, v)?),
                "ssl" => c.redis.ssl = flag(key, v)?,
                "socket_timeout" => c.redis.response_timeout = Some(seconds(key, v)?),
                "socket_connect_timeout" => c.redis.connect_timeout = Some(seconds(key, v)?),
                "redis_startup_nodes" => {
                    if v.as_array().is_some_and(|a| !a.is_empty()) {
                        return Err(bad(
                            "Cache(redis_startup_nodes=...): Redis Cluster is not available in llmswitch; give one server's host and port (or url)",
                        ));
                    }
                }
                unknown => {
                    let known = USED.iter().chain(ACCEPTED_UNUSED).copied();
                    let hint = crate::suggest::closest(unknown, known, 2)
                        .map(|k| format!(" (did you mean '{k}'?)"))
                        .unwrap_or_default();
                    return Err(bad(format!(
                        "Cache() got an unexpected keyword argument '{unknown}'{hint}"
                    )));
                }
            }
        }
        // As LiteLLM's: the backend-specific default TTL wins over `ttl`.
        match c.cache_type {
            CacheType::Local => c.ttl = in_memory_ttl.or(c.ttl),
            CacheType::Redis => c.ttl = in_redis_ttl.or(c.ttl),
            CacheType::Disk => {}
        }
        if c.cache_type == CacheType::Redis {
            c.redis.fill_from_environment();
            if c.redis.url.is_none() && c.redis.host.is_none() {
                return Err(bad(
                    "Cache(type=\"redis\") needs host= and port= (or url=), or REDIS_HOST and REDIS_PORT (or REDIS_URL) in the environment",
                ));
            }
        }
        Ok(c)
    }

    /// The cache a proxy config's `litellm_settings` asks for, as LiteLLM's proxy reads it:
    /// none unless `cache: true`; the type is `redis` unless `cache_params` says otherwise;
    /// a Redis cache with no `cache_params` at all takes `REDIS_HOST`, `REDIS_PORT` and
    /// `REDIS_PASSWORD`.
    pub fn from_proxy_settings(
        litellm_settings: &Map<String, Value>,
    ) -> Result<Option<CacheConfig>, LlmError> {
        if litellm_settings.get("cache") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let mut params = match litellm_settings.get("cache_params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "litellm_settings.cache_params must be a mapping, got {other}"
                )))
            }
        };
        params.entry("type").or_insert_with(|| Value::from("redis"));
        CacheConfig::from_params(&params).map(Some)
    }

    /// [`CacheConfig::from_proxy_settings`] from a whole proxy config's `litellm_settings`:
    /// its `cache` and `cache_params`, `os.environ/NAME` values resolved (`env` first).
    /// Errors name the key path.
    pub fn from_proxy_litellm_settings(
        litellm_settings: &Map<String, Value>,
        env: &HashMap<String, String>,
    ) -> Result<Option<CacheConfig>, LlmError> {
        let mut read = Map::new();
        for k in ["cache", "cache_params"] {
            if let Some(mut v) = litellm_settings.get(k).cloned() {
                crate::environ::resolve_env(&mut v, env, &format!("litellm_settings.{k}"))?;
                read.insert(k.to_owned(), v);
            }
        }
        CacheConfig::from_proxy_settings(&read)
            .map_err(|e| bad(format!("litellm_settings.cache_params: {}", e.message)))
    }

    /// Whether the cache serves calls of this type.
    pub fn supports(&self, call: CallType) -> bool {
        self.supported_call_types.iter().any(|t| t == call.as_str())
    }

    /// The TTL of entries when neither the call nor the cache sets one: LiteLLM's backend
    /// defaults (in-memory 600 s, Redis 60 s, disk none).
    pub fn default_ttl(&self) -> Option<Duration> {
        match self.cache_type {
            CacheType::Local => Some(Duration::from_secs(600)),
            CacheType::Redis => Some(Duration::from_secs(60)),
            CacheType::Disk => None,
        }
    }
}

impl RedisConfig {
    /// LiteLLM's `REDIS_*` variables for what the arguments left unset. A `host` argument
    /// outranks `REDIS_URL`.
    fn fill_from_environment(&mut self) {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if self.host.is_none() && self.url.is_none() {
            self.url = env("REDIS_URL");
            if self.url.is_none() {
                self.host = env("REDIS_HOST");
            }
        }
        if self.port.is_none() {
            self.port = env("REDIS_PORT").and_then(|p| p.trim().parse().ok());
        }
        if self.password.is_none() {
            self.password = env("REDIS_PASSWORD").map(SecretString::from);
        }
        if self.username.is_none() {
            self.username = env("REDIS_USERNAME");
        }
        if self.db.is_none() {
            self.db = env("REDIS_DB").and_then(|d| d.trim().parse().ok());
        }
        if !self.ssl {
            self.ssl = env("REDIS_SSL").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        }
        if self.response_timeout.is_none() {
            self.response_timeout = env("REDIS_SOCKET_TIMEOUT")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok());
        }
    }
}

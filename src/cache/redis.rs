//! The Redis backend (the `redis` crate's `ConnectionManager`, which reconnects on its
//! own). Its connection lives on a small runtime of its own (one worker thread), so that it
//! keeps working whichever runtime a call runs on (each blocking Python thread has its own,
//! and those are idle between calls); callers await its answers from theirs.
//!
//! Redis never fails a call: an error or an answer later than the timeout is a miss, and
//! the first failure warns (once, until Redis works again). After a failure Redis is left
//! alone for [`RETRY_AFTER`], so an outage costs calls nothing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisResult};
use secrecy::ExposeSecret;

use super::config::RedisConfig;
use super::Health;
use crate::error::LlmError;

/// How long Redis is not asked after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Defaults: wait for a connection, and for an answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Stores kept in memory while they are written (read-your-writes); beyond this many
/// (a Redis that never answers), new ones are not.
const MAX_PENDING: usize = 10_000;

/// A runtime shut down without waiting when dropped (it may be dropped inside another
/// runtime, where a blocking shutdown would panic).
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

struct Shared {
    health: Health,
    down_until: Mutex<Option<Instant>>,
    /// Stores on their way to Redis: a read right after a store sees it.
    pending: Mutex<HashMap<String, Bytes>>,
    /// The server, for messages (no password).
    shown: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Shared {
    fn is_down(&self) -> bool {
        let mut down = lock(&self.down_until);
        match *down {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, why: &str) {
        *lock(&self.down_until) = Some(Instant::now() + RETRY_AFTER);
        let shown = &self.shown;
        self.health.failed(|| {
            format!("llmswitch cache: Redis at {shown} is unavailable ({why}); calls are answered without the cache until it is back")
        });
    }

    /// The outcome of one operation, recorded.
    fn settle<T>(
        &self,
        outcome: Result<RedisResult<T>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Option<T> {
        match outcome {
            Ok(Ok(v)) => {
                self.health.ok();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&crate::redact::mask_key_shapes(&e.to_string()));
                None
            }
            Err(_) => {
                self.failed(&format!("no answer within {} ms", timeout.as_millis()));
                None
            }
        }
    }
}

pub(super) struct RedisCache {
    conn: ConnectionManager,
    timeout: Duration,
    shared: Arc<Shared>,
    // Last: dropped after the connection's handle.
    runtime: OwnedRuntime,
}

/// The server's address without credentials, for messages.
pub(crate) fn shown(config: &RedisConfig) -> String {
    match &config.url {
        Some(url) => match url.rsplit_once('@') {
            Some((scheme_and_user, rest)) => {
                let scheme = scheme_and_user.split("://").next().unwrap_or("redis");
                format!("{scheme}://{rest}")
            }
            None => url.clone(),
        },
        None => format!(
            "{}:{}",
            config.host.as_deref().unwrap_or("localhost"),
            config.port.unwrap_or(6379)
        ),
    }
}

/// A lazy `ConnectionManager`'s settings for every Redis of ours: connect within
/// `config.connect_timeout` (1 s unless set), answer within `response_timeout`, one retry at
/// most 200 ms later.
pub(crate) fn manager_config(
    config: &RedisConfig,
    response_timeout: Duration,
) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout.unwrap_or(CONNECT_TIMEOUT)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200))
}

pub(crate) fn client(config: &RedisConfig) -> RedisResult<redis::Client> {
    let info = match &config.url {
        Some(url) => url.as_str().into_connection_info()?,
        None => {
            let host = config
                .host
                .clone()
                .unwrap_or_else(|| "localhost".to_owned());
            let port = config.port.unwrap_or(6379);
            let addr = if config.ssl {
                ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host, port)
            };
            addr.into_connection_info()?
        }
    };
    let mut settings = info.redis_settings().clone();
    if let Some(p) = &config.password {
        settings = settings.set_password(p.expose_secret());
    }
    if let Some(u) = &config.username {
        settings = settings.set_username(u);
    }
    if let Some(db) = config.db {
        settings = settings.set_db(db);
    }
    redis::Client::open(info.set_redis_settings(settings))
}

impl RedisCache {
    /// The cache's runtime and a connection made on first use: a Redis that is down now
    /// does not fail this. A malformed URL does.
    pub(super) fn new(config: &RedisConfig) -> Result<RedisCache, LlmError> {
        let shown = shown(config);
        let bad =
            |e: String| LlmError::bad_request(format!("Cache(type=\"redis\") for {shown}: {e}"));
        let client =
            client(config).map_err(|e| bad(crate::redact::mask_key_shapes(&e.to_string())))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("llmswitch-redis")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start its runtime: {e}")))?;
        let timeout = config.response_timeout.unwrap_or(RESPONSE_TIMEOUT);
        let manager_config = manager_config(config, timeout);
        let conn = {
            // The connection's tasks run on the cache's own runtime.
            let _inside = runtime.enter();
            ConnectionManager::new_lazy_with_config(client, manager_config)
                .map_err(|e| bad(crate::redact::mask_key_shapes(&e.to_string())))?
        };
        Ok(RedisCache {
            conn,
            timeout,
            shared: Arc::new(Shared {
                health: Health::default(),
                down_until: Mutex::new(None),
                pending: Mutex::new(HashMap::new()),
                shown,
            }),
            runtime: OwnedRuntime(Some(runtime)),
        })
    }

    /// Run `op` on the cache's runtime under the timeout; `None` on any failure.
    async fn run<T, F, Fut>(&self, op: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let rt = self.runtime.0.as_ref()?;
        if self.shared.is_down() {
            return None;
        }
        let timeout = self.timeout;
        let task = rt.spawn(tokio::time::timeout(timeout, op(self.conn.clone())));
        // The task times itself out; this bound only matters if its runtime is gone (a
        // forked child).
        let outcome = tokio::time::timeout(timeout * 2, task).await;
        match outcome {
            Ok(Ok(result)) => self.shared.settle(result, timeout),
            Ok(Err(_join)) => None,
            Err(elapsed) => self.shared.settle::<T>(Err(elapsed), timeout),
        }
    }

    pub(super) async fn get(&self, key: &str) -> Option<Bytes> {
        if let Some(v) = lock(&self.shared.pending).get(key) {
            return Some(v.clone());
        }
        let key = key.to_owned();
        let value: Option<Vec<u8>> = self
            .run(|mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await })
            .await?;
        value.map(Bytes::from)
    }

    pub(super) fn put(&self, key: &str, value: Bytes, ttl: Option<Duration>) {
        let Some(rt) = self.runtime.0.as_ref() else {
            return;
        };
        let millis = match ttl {
            Some(t) if t.is_zero() => return,
            Some(t) => Some(u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)),
            None => None,
        };
        if self.shared.is_down() {
            return;
        }
        {
            let mut pending = lock(&self.shared.pending);
            if pending.len() >= MAX_PENDING {
                return;
            }
            pending.insert(key.to_owned(), value.clone());
        }
        let (key, mut conn, shared, timeout) = (
            key.to_owned(),
            self.conn.clone(),
            Arc::clone(&self.shared),
            self.timeout,
        );
        rt.spawn(async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(value.as_ref());
            if let Some(ms) = millis {
                cmd.arg("PX").arg(ms);
            }
            let outcome = tokio::time::timeout(timeout, cmd.query_async::<()>(&mut conn)).await;
            lock(&shared.pending).remove(&key);
            shared.settle(outcome, timeout);
        });
    }

    pub(super) async fn delete(&self, keys: &[String]) {
        for key in keys {
            lock(&self.shared.pending).remove(key);
        }
        if keys.is_empty() {
            return;
        }
        let keys = keys.to_vec();
        self.run(|mut conn| async move {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut conn)
                .await
        })
        .await;
    }

    /// Delete the keys shaped like this cache's: a SHA-256 in hex, after `namespace:`.
    pub(super) async fn clear(&self, namespace: Option<&str>) {
        lock(&self.shared.pending).clear();
        let mut pattern = namespace.map(|ns| format!("{ns}:")).unwrap_or_default();
        for _ in 0..64 {
            pattern.push_str("[0-9a-f]");
        }
        self.run(|mut conn| async move {
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .cursor_arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    redis::cmd("DEL")
                        .arg(&keys)
                        .query_async::<()>(&mut conn)
                        .await?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        })
        .await;
    }

    pub(super) async fn ping(&self) -> Result<(), String> {
        // A ping is asked even while Redis is considered down: it is how one checks.
        *lock(&self.shared.down_until) = None;
        match self
            .run(
                |mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await },
            )
            .await
        {
            Some(_) => Ok(()),
            None => Err(format!("Redis at {} does not answer", self.shared.shown)),
        }
    }
}

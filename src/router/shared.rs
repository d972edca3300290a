//! Router state shared through Redis, by every process whose router has the same
//! deployments: the gateway's replicas (`router_settings.redis_*`) and the Python
//! library's `Router(redis_host=...)` workers (or `Router.from_config` with those
//! settings) alike. [`share_through_redis`] shares both the cooldowns (here) and the
//! deployment counters ([`super::redis_usage::RedisUsage`]: rpm/tpm, usage and calls in
//! flight for routing, failures towards a cooldown).
//!
//! Cooldowns: A deployment that starts cooling down
//! in one process is written to Redis as `<prefix>cooldown:<deployment id>` with the
//! cooldown's length as its expiry; every process reads those keys every [`POLL`] and cools
//! the same deployments down for what is left (deployment ids are `model_info.id`, or a hash
//! of the entry, the same in every process with the same `model_list`).
//!
//! Redis never delays a call here: writes are spawned, reads happen in the background;
//! while Redis is unavailable each process's cooldowns are its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::redis_usage::RedisUsage;
use super::Router;
use crate::cache::config::RedisConfig;
use crate::cache::outage::Warn;
use crate::error::LlmError;

/// How often cooldowns are read from Redis.
pub const POLL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(500);

/// The key prefix of llmswitch's shared state in Redis (the gateway's counters use it too).
pub const REDIS_PREFIX: &str = "llmswitch:";

/// The router an owner serves with now: its own, or the current one of a
/// [`super::LiveRouter`].
pub enum RouterRef<'a> {
    Borrowed(&'a Router),
    Shared(Arc<Router>),
}

impl std::ops::Deref for RouterRef<'_> {
    type Target = Router;

    fn deref(&self) -> &Router {
        match self {
            RouterRef::Borrowed(r) => r,
            RouterRef::Shared(r) => r,
        }
    }
}

/// Share the cooldowns and the deployment counters of the router `router(owner)` with
/// every other router using `redis` under `prefix`, on `runtime` ([`share_cooldowns`] and
/// [`RedisUsage`]); a router that replaces it by an edit goes on sharing both. `warn`
/// reports an outage of Redis (each router then counts on its own) and its end. Returns
/// `false`, sharing nothing more, when the router shares already. Connects lazily: a
/// Redis that is down now does not fail this; a malformed address does.
pub fn share_through_redis<T: Send + Sync + 'static>(
    owner: &Arc<T>,
    router: for<'a> fn(&'a T) -> RouterRef<'a>,
    redis: &RedisConfig,
    prefix: &str,
    runtime: &tokio::runtime::Handle,
    warn: Warn,
) -> Result<bool, LlmError> {
    let current = router(owner);
    if current.is_shared() {
        return Ok(false);
    }
    let usage = RedisUsage::new(redis, prefix, current.deployments(), runtime.clone(), warn)
        .map_err(LlmError::bad_request)?;
    current.share_usage(Arc::new(usage));
    drop(current);
    share_cooldowns(owner, router, redis, prefix, runtime)?;
    Ok(true)
}

/// Share the cooldowns of the router `router(owner)` through `redis`, on `runtime` (a
/// router that replaces it by an edit keeps the listener). The reading task ends when
/// `owner` is dropped (it holds `owner` weakly).
pub fn share_cooldowns<T: Send + Sync + 'static>(
    owner: &Arc<T>,
    router: for<'a> fn(&'a T) -> RouterRef<'a>,
    redis: &RedisConfig,
    prefix: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<(), LlmError> {
    let shown = crate::cache::redis_shown(redis);
    let client = crate::cache::redis_client(redis).map_err(|e| {
        LlmError::bad_request(format!(
            "Redis at {shown}: {}",
            crate::redact::mask_key_shapes(&e.to_string())
        ))
    })?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    // Lazy: connects on first use, inside the runtime.
    let conn = {
        let _entered = runtime.enter();
        ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| LlmError::bad_request(format!("Redis at {shown}: {e}")))?
    };
    let key_prefix = format!("{prefix}cooldown:");
    {
        let (conn, prefix, runtime) = (conn.clone(), key_prefix.clone(), runtime.clone());
        router(owner).on_cooldown(Arc::new(move |id: &str, length: Duration| {
            let key = format!("{prefix}{id}");
            let millis = u64::try_from(length.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut conn = conn.clone();
            runtime.spawn(async move {
                let _ = tokio::time::timeout(
                    TIMEOUT,
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(1)
                        .arg("PX")
                        .arg(millis)
                        .query_async::<()>(&mut conn),
                )
                .await;
            });
        }));
    }
    let weak: Weak<T> = Arc::downgrade(owner);
    runtime.spawn(async move {
        let mut conn = conn;
        loop {
            tokio::time::sleep(POLL).await;
            let Some(owner) = weak.upgrade() else { return };
            let current = router(&owner);
            let ids = current.deployment_ids();
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.cmd("PTTL").arg(format!("{key_prefix}{id}"));
            }
            let left: Vec<i64> =
                match tokio::time::timeout(TIMEOUT, pipe.query_async(&mut conn)).await {
                    Ok(Ok(v)) => v,
                    _ => continue,
                };
            for (id, ms) in ids.iter().zip(left) {
                if let Ok(ms) = u64::try_from(ms) {
                    if ms > 0 {
                        current.apply_cooldown(id, Duration::from_millis(ms));
                    }
                }
            }
        }
    });
    Ok(())
}

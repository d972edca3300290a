//! Router cooldowns shared by replicas through Redis (`router_settings.redis_*`): a
//! deployment that starts cooling down on one gateway is written to Redis as
//! `<prefix>cooldown:<deployment id>` with the cooldown's length as its expiry; every
//! gateway reads those keys every [`POLL`] and cools the same deployments down for what is
//! left (deployment ids are `model_info.id`, or a hash of the entry, the same on every
//! replica with the same config). The failures that lead to a cooldown are counted across
//! replicas by the router's shared counters ([`crate::router::redis_usage`]).
//!
//! Redis never delays a request here: writes are spawned, reads happen in the background;
//! while Redis is unavailable each replica's cooldowns are its own.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::error::ProxyError;
use super::ProxyState;
use crate::cache::config::RedisConfig;

/// How often cooldowns are read from Redis.
pub const POLL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(500);

/// Share `state`'s router cooldowns through `redis`, on the current runtime. The reading
/// task ends with the gateway.
pub fn share(state: &Arc<ProxyState>, redis: &RedisConfig, prefix: &str) -> Result<(), ProxyError> {
    let shown = crate::cache::redis_shown(redis);
    let client = crate::cache::redis_client(redis).map_err(|e| {
        ProxyError::Internal(format!(
            "Redis at {shown}: {}",
            crate::redact::mask_key_shapes(&e.to_string())
        ))
    })?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
        .map_err(|e| ProxyError::Internal(format!("Redis at {shown}: {e}")))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| ProxyError::Internal("shared cooldowns need a tokio runtime".into()))?;
    let key_prefix = format!("{prefix}cooldown:");
    {
        let (conn, prefix, runtime) = (conn.clone(), key_prefix.clone(), runtime.clone());
        state
            .router
            .on_cooldown(Arc::new(move |id: &str, length: Duration| {
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
    let weak: Weak<ProxyState> = Arc::downgrade(state);
    runtime.spawn(async move {
        let mut conn = conn;
        loop {
            tokio::time::sleep(POLL).await;
            let Some(state) = weak.upgrade() else { return };
            let ids = state.router.deployment_ids();
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
                        state.router.apply_cooldown(id, Duration::from_millis(ms));
                    }
                }
            }
        }
    });
    Ok(())
}

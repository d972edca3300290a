//! Router cooldowns shared by replicas through Redis (`router_settings.redis_*`): the
//! core's [`crate::router::shared`], which the Python library's `Router(redis_host=...)`
//! uses too, on the gateway's runtime for as long as the gateway lives.
//! The failures that lead to a cooldown are counted across replicas by the router's
//! shared counters ([`crate::router::redis_usage`]).

use std::sync::Arc;

use super::error::ProxyError;
use super::ProxyState;
use crate::cache::config::RedisConfig;

pub use crate::router::shared::POLL;

/// Share `state`'s router cooldowns through `redis`, on the current runtime. The reading
/// task ends with the gateway.
pub fn share(state: &Arc<ProxyState>, redis: &RedisConfig, prefix: &str) -> Result<(), ProxyError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| ProxyError::Internal("shared cooldowns need a tokio runtime".into()))?;
    crate::router::shared::share_cooldowns(
        state,
        |s| crate::router::shared::RouterRef::Borrowed(&s.router),
        redis,
        prefix,
        &runtime,
    )
    .map_err(|e| ProxyError::Internal(e.message.clone()))
}

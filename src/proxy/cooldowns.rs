//! Router state shared by replicas through Redis (`router_settings.redis_*`): the core's
//! [`crate::router::shared::share_through_redis`], which the Python library's
//! `Router(redis_host=...)` uses too, on the gateway's runtime for as long as the gateway
//! lives: cooldowns ([`crate::router::shared`]) and deployment counters (rpm/tpm, routing
//! usage, failures towards a cooldown: [`crate::router::redis_usage`]).

use std::sync::Arc;

use super::error::ProxyError;
use super::ProxyState;
use crate::cache::config::RedisConfig;

pub use crate::router::shared::POLL;

/// Share `state`'s router cooldowns and deployment counters through `redis`, on the
/// current runtime. The reading tasks end with the gateway.
pub fn share(state: &Arc<ProxyState>, redis: &RedisConfig, prefix: &str) -> Result<(), ProxyError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| ProxyError::Internal("shared router state needs a tokio runtime".into()))?;
    crate::router::shared::share_through_redis(
        state,
        |s| crate::router::shared::RouterRef::Borrowed(&s.router),
        redis,
        prefix,
        &runtime,
        Arc::new(|message: &str| super::state::warn(message)),
    )
    .map(drop)
    .map_err(|e| ProxyError::Internal(e.message.clone()))
}

//! Cached keys, teams and end users kept in step across replicas through Redis pub/sub:
//! a change made through one replica (`/key/update`, `/key/block`, `/key/delete`,
//! `/key/regenerate`, the team and customer routes) is published on
//! `<prefix>invalidate`; every other replica drops the key from its cache (its next use
//! reads the database once) or reads the team or end user again. Requests never wait on
//! this: the steady path stays a cache hit with no query and no Redis round trip.
//!
//! While the subscription is down (Redis unavailable), replicas fall back to the cache's
//! TTL; when it is back, each replica drops every cached key and reloads teams and end
//! users, since changes may have been missed meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;

use super::plane::{Changed, StatePlane};
use crate::cache::config::RedisConfig;

/// How long a publication waits for Redis.
const TIMEOUT: Duration = Duration::from_millis(500);
/// Wait between attempts to subscribe again.
const RESUBSCRIBE: Duration = Duration::from_millis(500);

/// `origin`, kind and id, one per line.
fn encode(origin: &str, what: &Changed) -> String {
    let (kind, id) = match what {
        Changed::Key(t) => ("key", t),
        Changed::Team(t) => ("team", t),
        Changed::EndUser(u) => ("end_user", u),
    };
    format!("{origin}\n{kind}\n{id}")
}

fn decode(message: &str) -> Option<(&str, Changed)> {
    let mut parts = message.splitn(3, '\n');
    let origin = parts.next()?;
    let kind = parts.next()?;
    let id = parts.next()?.to_owned();
    let what = match kind {
        "key" => Changed::Key(id),
        "team" => Changed::Team(id),
        "end_user" => Changed::EndUser(id),
        _ => return None,
    };
    Some((origin, what))
}

/// Publish `plane`'s changes on `redis` and apply the other replicas', on the current
/// runtime, until the plane shuts down. Connects lazily: a Redis that is down now does not
/// fail this (a malformed URL does).
pub fn share(plane: &Arc<StatePlane>, redis: &RedisConfig, prefix: &str) -> Result<(), String> {
    let shown = crate::cache::redis_shown(redis);
    let client = crate::cache::redis_client(redis).map_err(|e| {
        format!(
            "Redis at {shown}: {}",
            crate::redact::mask_key_shapes(&e.to_string())
        )
    })?;
    let manager_config = crate::cache::redis_manager_config(redis, TIMEOUT);
    let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
        .map_err(|e| format!("Redis at {shown}: {e}"))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "shared key caches need a tokio runtime".to_owned())?;
    let channel = format!("{prefix}invalidate");
    let connect_timeout = redis.connect_timeout.unwrap_or(Duration::from_secs(1));
    let origin = format!("{:016x}", fastrand::u64(..));
    let warned = Arc::new(AtomicBool::new(false));
    {
        let (channel, origin, runtime, shown) = (
            channel.clone(),
            origin.clone(),
            runtime.clone(),
            shown.clone(),
        );
        plane.on_change(Arc::new(move |what: Changed| {
            let message = encode(&origin, &what);
            let (mut conn, channel, warned, shown) =
                (conn.clone(), channel.clone(), warned.clone(), shown.clone());
            runtime.spawn(async move {
                let sent = tokio::time::timeout(
                    TIMEOUT,
                    redis::cmd("PUBLISH")
                        .arg(&channel)
                        .arg(&message)
                        .query_async::<i64>(&mut conn),
                )
                .await;
                if matches!(sent, Ok(Ok(_))) {
                    warned.store(false, Ordering::Release);
                } else if !warned.swap(true, Ordering::AcqRel) {
                    super::warn(&format!(
                        "Redis at {shown} is unavailable: other replicas see changed keys, teams and end users only when their cache entries expire"
                    ));
                }
            });
        }));
    }
    let weak: Weak<StatePlane> = Arc::downgrade(plane);
    let task = runtime.spawn(async move {
        let mut first = true;
        loop {
            if weak.strong_count() == 0 {
                return;
            }
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await.ok()?;
                pubsub.subscribe(&channel).await.ok()?;
                Some(pubsub)
            };
            let subscribed = tokio::time::timeout(
                connect_timeout + TIMEOUT,
                subscribed,
            )
            .await
            .ok()
            .flatten();
            if let Some(pubsub) = subscribed {
                // From here nothing is missed; before, something may have been.
                if !std::mem::replace(&mut first, false) {
                    let Some(plane) = weak.upgrade() else { return };
                    if let Err(e) = plane.resync().await {
                        super::warn(&format!("reloading after a Redis outage failed: {e}"));
                    }
                }
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(text) = msg.get_payload::<String>() else {
                        continue;
                    };
                    let Some((from, what)) = decode(&text) else {
                        continue;
                    };
                    if from == origin {
                        continue;
                    }
                    let Some(plane) = weak.upgrade() else { return };
                    if let Err(e) = plane.changed_elsewhere(what).await {
                        super::warn(&format!(
                            "reading a row another replica changed failed (its cache entry expires within the TTL): {e}"
                        ));
                    }
                }
            } else {
                first = false;
            }
            tokio::time::sleep(RESUBSCRIBE).await;
        }
    });
    plane.add_task(task);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for what in [
            Changed::Key("ab12".into()),
            Changed::Team("team one".into()),
            Changed::EndUser("user\nwith a newline".into()),
        ] {
            let text = encode("r1", &what);
            assert_eq!(decode(&text), Some(("r1", what)));
        }
        assert_eq!(decode("r1\nplanet\nx"), None);
        assert_eq!(decode("garbage"), None);
    }
}

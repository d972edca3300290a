//! A value fetched over the network and reused until shortly before it expires (OAuth
//! tokens, temporary AWS credentials), shared by every call that uses the same source.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::LlmError;

/// One cached value. Concurrent callers wait for a single fetch instead of each starting
/// their own: the lock is held across it.
pub struct Cached<T: Clone> {
    slot: tokio::sync::Mutex<Option<(T, Option<Instant>)>>,
    margin: Duration,
}

impl<T: Clone> Cached<T> {
    /// A cache that replaces its value `margin` before the value's stated expiry.
    pub fn new(margin: Duration) -> Self {
        Cached {
            slot: tokio::sync::Mutex::new(None),
            margin,
        }
    }

    /// The cached value, or a fresh one from `fetch`, which returns the value and how long
    /// it lives (`None`: until the process ends).
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<T, LlmError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Option<Duration>), LlmError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((value, refresh_at)) = slot.as_ref() {
            if refresh_at.is_none_or(|at| Instant::now() < at) {
                return Ok(value.clone());
            }
        }
        let (value, lifetime) = fetch().await?;
        let refresh_at = lifetime.map(|l| Instant::now() + l.saturating_sub(self.margin));
        *slot = Some((value.clone(), refresh_at));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reuses_until_the_margin_and_refetches_after() {
        let cache = Cached::new(Duration::from_secs(60));
        let mut fetches = 0;
        for _ in 0..3 {
            let v = cache
                .get(|| {
                    fetches += 1;
                    async { Ok(("long", Some(Duration::from_secs(3600)))) }
                })
                .await
                .unwrap();
            assert_eq!(v, "long");
        }
        assert_eq!(fetches, 1);

        // A value inside the margin is replaced at the next use.
        let cache = Cached::new(Duration::from_secs(60));
        let mut fetches = 0;
        for expected in ["short", "short2"] {
            let v = cache
                .get(|| {
                    fetches += 1;
                    let v = if fetches == 1 { "short" } else { "short2" };
                    async move { Ok((v, Some(Duration::from_secs(30)))) }
                })
                .await
                .unwrap();
            assert_eq!(v, expected);
        }
        assert_eq!(fetches, 2);

        // A failed fetch leaves nothing cached.
        let cache: Cached<&str> = Cached::new(Duration::ZERO);
        assert!(cache
            .get(|| async { Err(LlmError::bad_request("no")) })
            .await
            .is_err());
        let v = cache.get(|| async { Ok(("ok", None)) }).await.unwrap();
        assert_eq!(v, "ok");
    }
}

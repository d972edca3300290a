//! Which failures are retried (and how often), which count against a deployment, and how
//! long to wait before the next try.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::ErrorKind;

/// LiteLLM's `retry_policy`: retries per exception class, e.g.
/// `{"RateLimitErrorRetries": 3, "TimeoutErrorRetries": 1}`. A class without an entry
/// gets `num_retries` if it is retryable, else none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    by_kind: Vec<(ErrorKind, u32)>,
}

impl RetryPolicy {
    /// The policy's count for `kind`: its own class first, then `BadRequestErrorRetries`
    /// for the subclasses of `BadRequestError`.
    pub fn retries_for(&self, kind: ErrorKind) -> Option<u32> {
        let find = |k: ErrorKind| self.by_kind.iter().find(|(x, _)| *x == k).map(|(_, n)| *n);
        find(kind).or_else(|| {
            matches!(
                kind,
                ErrorKind::ContextWindowExceeded
                    | ErrorKind::ContentPolicyViolation
                    | ErrorKind::UnsupportedParams
            )
            .then(|| find(ErrorKind::BadRequest))
            .flatten()
        })
    }

    fn kind_of(key: &str) -> Option<ErrorKind> {
        let class = key.strip_suffix("Retries")?;
        // LiteLLM spells the timeout entry "TimeoutErrorRetries"; the class is "Timeout".
        let class = if class == "TimeoutError" {
            "Timeout"
        } else {
            class
        };
        ErrorKind::from_class_name(class)
    }
}

impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = std::collections::BTreeMap::<String, Option<u32>>::deserialize(d)?;
        let mut by_kind = Vec::new();
        for (key, n) in map {
            let kind = RetryPolicy::kind_of(&key).ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown retry_policy entry '{key}' (expected <ExceptionClass>Retries, e.g. RateLimitErrorRetries)"
                ))
            })?;
            if let Some(n) = n {
                by_kind.push((kind, n));
            }
        }
        Ok(RetryPolicy { by_kind })
    }
}

/// How many retries a failure of `kind` gets.
pub fn retries_allowed(policy: Option<&RetryPolicy>, num_retries: u32, kind: ErrorKind) -> u32 {
    if let Some(n) = policy.and_then(|p| p.retries_for(kind)) {
        return n;
    }
    if kind.is_retryable() {
        num_retries
    } else {
        0
    }
}

/// Whether a failure says something about the deployment (and so counts towards its
/// cooldown): rate limits, timeouts, connection and server errors, and a rejected key or
/// unknown model. A bad request is the caller's, not the deployment's.
pub fn counts_against_deployment(kind: ErrorKind) -> bool {
    kind.is_retryable() || matches!(kind, ErrorKind::Authentication | ErrorKind::NotFound)
}

/// The wait before retry number `retry` (0-based). When another deployment is free the
/// retry goes there after only the router's minimum wait; on the same deployment it
/// backs off exponentially with jitter, or waits as long as `retry-after` said.
pub fn retry_wait(
    retry: u32,
    retry_after: Option<f64>,
    other_deployment_free: bool,
    min_wait: Duration,
) -> Duration {
    if other_deployment_free {
        return min_wait;
    }
    crate::call::backoff(retry, retry_after).max(min_wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_overrides_num_retries() {
        let p: RetryPolicy = serde_json::from_value(json!({
            "RateLimitErrorRetries": 5, "TimeoutErrorRetries": 0, "BadRequestErrorRetries": 1,
            "AuthenticationErrorRetries": null
        }))
        .unwrap();
        assert_eq!(retries_allowed(Some(&p), 2, ErrorKind::RateLimit), 5);
        assert_eq!(retries_allowed(Some(&p), 2, ErrorKind::Timeout), 0);
        assert_eq!(retries_allowed(Some(&p), 2, ErrorKind::InternalServer), 2);
        assert_eq!(
            retries_allowed(Some(&p), 2, ErrorKind::ContextWindowExceeded),
            1
        );
        assert_eq!(retries_allowed(Some(&p), 2, ErrorKind::Authentication), 0);
        assert_eq!(retries_allowed(None, 2, ErrorKind::BadRequest), 0);
        assert_eq!(retries_allowed(None, 2, ErrorKind::ServiceUnavailable), 2);
        assert!(serde_json::from_value::<RetryPolicy>(json!({"FooRetries": 1})).is_err());
    }

    #[test]
    fn which_failures_count() {
        assert!(counts_against_deployment(ErrorKind::RateLimit));
        assert!(counts_against_deployment(ErrorKind::ApiConnection));
        assert!(counts_against_deployment(ErrorKind::Authentication));
        assert!(!counts_against_deployment(ErrorKind::BadRequest));
        assert!(!counts_against_deployment(ErrorKind::ContextWindowExceeded));
        assert!(!counts_against_deployment(
            ErrorKind::ContentPolicyViolation
        ));
    }

    #[test]
    fn waits() {
        let min = Duration::from_millis(10);
        assert_eq!(retry_wait(0, Some(30.0), true, min), min);
        assert_eq!(retry_wait(0, Some(3.0), false, min), Duration::from_secs(3));
        assert_eq!(retry_wait(0, Some(0.0), false, min), min);
        let b = retry_wait(1, None, false, Duration::ZERO);
        assert!(
            b >= Duration::from_millis(750) && b <= Duration::from_millis(1250),
            "{b:?}"
        );
    }
}

//! Hedged requests: when the first attempt is slow, send a second one to another
//! deployment; the first answer wins and the other is cancelled. "Slow" is a fixed delay
//! (`after_ms`) or a percentile of the group's recent latencies (`after_percentile`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `hedge={"after_ms": 800}` or `{"after_percentile": 95}` (both: the percentile once
/// enough latencies are known, the fixed delay until then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgePolicy {
    pub after: Option<Duration>,
    pub after_percentile: Option<f64>,
}

impl<'de> Deserialize<'de> for HedgePolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            after_ms: Option<f64>,
            after_percentile: Option<f64>,
        }
        let raw = Raw::deserialize(d)?;
        let after = match raw.after_ms {
            None => None,
            Some(ms) => Some(Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
                D::Error::custom("hedge.after_ms must be a non-negative number of milliseconds")
            })?),
        };
        if let Some(p) = raw.after_percentile {
            if !(p > 0.0 && p < 100.0) {
                return Err(D::Error::custom(
                    "hedge.after_percentile must be between 0 and 100 (exclusive)",
                ));
            }
        }
        if after.is_none() && raw.after_percentile.is_none() {
            return Err(D::Error::custom(
                "hedge needs after_ms or after_percentile, e.g. {\"after_ms\": 800}",
            ));
        }
        Ok(HedgePolicy {
            after,
            after_percentile: raw.after_percentile,
        })
    }
}

impl HedgePolicy {
    /// How long to wait for the first attempt before hedging, or None (not enough
    /// latencies known for a percentile, and no fixed delay).
    pub fn delay(&self, latencies: &LatencyHistogram) -> Option<Duration> {
        self.after_percentile
            .and_then(|p| latencies.percentile(p))
            .or(self.after)
    }
}

const BUCKETS: usize = 64;
/// Bucket `i` holds latencies up to `GROWTH^i` ms (1 ms .. about 100 s, 20% apart).
const GROWTH: f64 = 1.2;
/// Percentiles need this many samples.
pub const MIN_SAMPLES: u32 = 20;
/// Past this many samples the counts are halved, so the histogram follows recent latency.
const DECAY_AT: u32 = 2000;

/// A lock-free log-scale histogram of latencies.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU32; BUCKETS],
    total: AtomicU32,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU32::new(0)),
            total: AtomicU32::new(0),
        }
    }
}

fn bucket_of(ms: f64) -> usize {
    if ms <= 1.0 || !ms.is_finite() {
        return if ms.is_finite() { 0 } else { BUCKETS - 1 };
    }
    ((ms.ln() / GROWTH.ln()).ceil() as usize).min(BUCKETS - 1)
}

fn upper_bound_ms(bucket: usize) -> f64 {
    GROWTH.powi(bucket as i32)
}

impl LatencyHistogram {
    pub fn record(&self, latency: Duration) {
        let ms = latency.as_secs_f64() * 1000.0;
        self.buckets[bucket_of(ms)].fetch_add(1, Ordering::Relaxed);
        if self.total.fetch_add(1, Ordering::Relaxed) + 1 >= DECAY_AT {
            // Racing recorders may lose a sample here; the shape is what matters.
            self.total.store(0, Ordering::Relaxed);
            let mut kept = 0;
            for b in &self.buckets {
                let half = b.load(Ordering::Relaxed) / 2;
                b.store(half, Ordering::Relaxed);
                kept += half;
            }
            self.total.fetch_add(kept, Ordering::Relaxed);
        }
    }

    /// The `p`-th percentile (upper bound of its bucket), once there are enough samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let counts: [u32; BUCKETS] =
            std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        let total: u64 = counts.iter().map(|c| u64::from(*c)).sum();
        if total < u64::from(MIN_SAMPLES) {
            return None;
        }
        let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return Some(Duration::from_secs_f64(upper_bound_ms(i) / 1000.0));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_both_forms() {
        let h: HedgePolicy = serde_json::from_value(json!({"after_ms": 800})).unwrap();
        assert_eq!(h.after, Some(Duration::from_millis(800)));
        let h: HedgePolicy = serde_json::from_value(json!({"after_percentile": 95})).unwrap();
        assert_eq!(h.after_percentile, Some(95.0));
        assert!(serde_json::from_value::<HedgePolicy>(json!({})).is_err());
        assert!(serde_json::from_value::<HedgePolicy>(json!({"after_percentile": 100})).is_err());
        assert!(serde_json::from_value::<HedgePolicy>(json!({"after_sec": 1})).is_err());
    }

    #[test]
    fn percentile_needs_samples_then_tracks_the_tail() {
        let h = LatencyHistogram::default();
        let policy = HedgePolicy {
            after: Some(Duration::from_secs(9)),
            after_percentile: Some(90.0),
        };
        assert_eq!(policy.delay(&h), Some(Duration::from_secs(9)));
        for _ in 0..90 {
            h.record(Duration::from_millis(10));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(1000));
        }
        let p90 = h.percentile(90.0).unwrap();
        assert!(
            p90 >= Duration::from_millis(10) && p90 < Duration::from_millis(13),
            "{p90:?}"
        );
        let p99 = h.percentile(99.0).unwrap();
        assert!(
            p99 >= Duration::from_millis(1000) && p99 < Duration::from_millis(1200),
            "{p99:?}"
        );
        assert_eq!(policy.delay(&h), Some(p90));
    }

    #[test]
    fn decays_to_follow_recent_latency() {
        let h = LatencyHistogram::default();
        for _ in 0..1000 {
            h.record(Duration::from_millis(500));
        }
        for _ in 0..5000 {
            h.record(Duration::from_millis(5));
        }
        let p50 = h.percentile(50.0).unwrap();
        assert!(p50 < Duration::from_millis(10), "{p50:?}");
    }
}

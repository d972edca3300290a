//! Time for cooldowns and per-minute windows, injectable so tests control it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: time since an arbitrary start.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Duration;
}

/// The real monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let us = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
}

/// Microseconds of a duration, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The index of the minute `now` falls in (the window of rpm, tpm and allowed fails).
pub(crate) fn minute_of(now: Duration) -> u64 {
    now.as_secs() / 60
}

/// A counter for the current minute, packed into one atomic (minute in the high 24 bits,
/// count in the low 40) so that reading, resetting on a new minute and adding are one
/// compare-and-swap, without a lock.
#[derive(Debug, Default)]
pub struct MinuteCounter(AtomicU64);

const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const MINUTE_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;

fn pack(minute: u64, count: u64) -> u64 {
    ((minute & MINUTE_MASK) << COUNT_BITS) | count.min(COUNT_MASK)
}

fn count_in(word: u64, minute: u64) -> u64 {
    if word >> COUNT_BITS == minute & MINUTE_MASK {
        word & COUNT_MASK
    } else {
        0
    }
}

impl MinuteCounter {
    /// The count in `minute` (0 if the counter last moved in another minute).
    pub fn get(&self, minute: u64) -> u64 {
        count_in(self.0.load(Ordering::Relaxed), minute)
    }

    /// Add `n` in `minute`; returns the new count.
    pub fn add(&self, minute: u64, n: u64) -> u64 {
        let mut new = 0;
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                new = count_in(w, minute).saturating_add(n).min(COUNT_MASK);
                Some(pack(minute, new))
            });
        new
    }

    /// Add one in `minute` if the count is below `limit`; returns whether it was added.
    pub fn try_add_one_below(&self, minute: u64, limit: u64) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                let c = count_in(w, minute);
                (c < limit).then(|| pack(minute, c + 1))
            })
            .is_ok()
    }

    /// Take back `n` added in `minute` (a request refused after it was counted); a no-op
    /// once the counter moved to another minute.
    pub fn remove(&self, minute: u64, n: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
                (w >> COUNT_BITS == minute & MINUTE_MASK)
                    .then(|| pack(minute, (w & COUNT_MASK).saturating_sub(n)))
            });
    }

    /// Set the count of `minute` to zero.
    pub fn reset(&self, minute: u64) {
        self.0.store(pack(minute, 0), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_when_told() {
        let c = ManualClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), Duration::from_millis(1500));
    }

    #[test]
    fn minute_counter_resets_on_a_new_minute() {
        let c = MinuteCounter::default();
        assert_eq!(c.add(7, 2), 2);
        assert_eq!(c.add(7, 3), 5);
        assert_eq!(c.get(7), 5);
        assert_eq!(c.get(8), 0);
        assert_eq!(c.add(8, 1), 1);
        assert_eq!(c.get(7), 0);
    }

    #[test]
    fn minute_counter_respects_a_limit() {
        let c = MinuteCounter::default();
        assert!(c.try_add_one_below(1, 2));
        assert!(c.try_add_one_below(1, 2));
        assert!(!c.try_add_one_below(1, 2));
        assert!(c.try_add_one_below(2, 2));
    }

    #[test]
    fn minute_counter_gives_back_within_its_minute_only() {
        let c = MinuteCounter::default();
        c.add(4, 3);
        c.remove(4, 1);
        assert_eq!(c.get(4), 2);
        c.remove(4, 5);
        assert_eq!(c.get(4), 0);
        c.add(5, 2);
        c.remove(4, 1);
        assert_eq!(c.get(5), 2);
    }

    #[test]
    fn minute_counter_is_exact_under_contention() {
        let c = std::sync::Arc::new(MinuteCounter::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| c.try_add_one_below(3, 2500)).count()
                })
            })
            .collect();
        let admitted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(admitted, 2500);
        assert_eq!(c.get(3), 2500);
    }
}

//! An outage of a Redis the process shares state through (the gateway's limits, the
//! router's deployment counters): while it lasts callers decide on their own state, Redis
//! is left alone for [`RETRY_AFTER`] after each failure, and the outage is reported once
//! when it starts and once when Redis answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long Redis is left alone after a failure.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where a warning goes (standard error, a test's list).
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

pub struct Outage {
    /// Where the server is, for messages (no password).
    shown: String,
    /// The ends of the two messages: what happens while Redis is away, and once it is back.
    lost: &'static str,
    back: &'static str,
    warn: Warn,
    down_until: Mutex<Option<Instant>>,
    /// Whether the outage was reported (reset when Redis answers again).
    warned: AtomicBool,
}

impl Outage {
    pub fn new(shown: String, lost: &'static str, back: &'static str, warn: Warn) -> Outage {
        Outage {
            shown,
            lost,
            back,
            warn,
            down_until: Mutex::new(None),
            warned: AtomicBool::new(false),
        }
    }

    /// Whether Redis failed less than [`RETRY_AFTER`] ago.
    pub fn is_down(&self) -> bool {
        let mut down = match self.down_until.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match *down {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down = None;
                false
            }
            None => false,
        }
    }

    /// Redis failed (`why`): leave it alone for a while; warn if this starts an outage.
    pub fn failed(&self, why: &str) {
        match self.down_until.lock() {
            Ok(mut g) => *g = Some(Instant::now() + RETRY_AFTER),
            Err(p) => *p.into_inner() = Some(Instant::now() + RETRY_AFTER),
        }
        if !self.warned.swap(true, Ordering::AcqRel) {
            (self.warn)(&format!(
                "Redis at {} is unavailable ({why}): {}",
                self.shown, self.lost
            ));
        }
    }

    /// Redis answered: report the end of an outage.
    pub fn ok(&self) {
        if self.warned.swap(false, Ordering::AcqRel) {
            (self.warn)(&format!(
                "Redis at {} answers again: {}",
                self.shown, self.back
            ));
        }
    }
}

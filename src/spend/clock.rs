//! Wall-clock time for the ledger and budget periods, in microseconds since the Unix epoch
//! (UTC), with an override so tests can move time exactly (`llmswitch.spend._set_clock`).
//!
//! Integer microseconds keep period boundaries exact: a window `[start, start + len)` is
//! computed with integer division, never with float rounding.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// No override: read the system clock.
const NO_OVERRIDE: i64 = i64::MIN;

static OVERRIDE: AtomicI64 = AtomicI64::new(NO_OVERRIDE);

/// The current time: the override when one is set (tests), else the system clock.
pub fn now() -> Micros {
    match OVERRIDE.load(Ordering::Relaxed) {
        NO_OVERRIDE => system_now(),
        t => t,
    }
}

fn system_now() -> Micros {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// Freeze the clock at `at` (tests), or return to the system clock with `None`.
pub fn set_override(at: Option<Micros>) {
    OVERRIDE.store(at.unwrap_or(NO_OVERRIDE), Ordering::Relaxed);
}

/// Seconds (as Python's `time.time()` gives them) → microseconds, rounded.
pub fn from_secs_f64(secs: f64) -> Micros {
    (secs * MICROS_PER_SECOND as f64).round() as Micros
}

/// Microseconds → seconds.
pub fn to_secs_f64(t: Micros) -> f64 {
    t as f64 / MICROS_PER_SECOND as f64
}

/// Days since the epoch → (year, month 1-12, day 1-31), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month 1-12, day 1-31) → days since the epoch (inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC date of `t` as `YYYY-MM-DD`.
pub fn utc_date(t: Micros) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(MICROS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `t` as an ISO 8601 UTC timestamp with second precision (`2025-03-01T00:00:00Z`).
pub fn utc_iso(t: Micros) -> String {
    let secs = t.div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        utc_date(t),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(utc_date(1_700_000_000 * MICROS_PER_SECOND), "2023-11-14");
        assert_eq!(
            utc_iso(1_700_000_000 * MICROS_PER_SECOND),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn seconds_convert_exactly_enough() {
        assert_eq!(from_secs_f64(1.5), 1_500_000);
        assert_eq!(to_secs_f64(2_500_000), 2.5);
    }
}

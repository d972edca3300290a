//! Budget periods: calendar periods in UTC (`daily`, `weekly` from Monday, `monthly`,
//! `yearly`), fixed-length windows anchored at the budget's start (`30d`, `12h`, `15m`,
//! `90s`, `2w`), or no reset at all.

use std::fmt;

use crate::spend::clock::{
    civil_from_days, days_from_civil, Micros, MICROS_PER_DAY, MICROS_PER_SECOND,
};

/// When a budget's spend starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Never: a total budget.
    Total,
    Daily,
    /// ISO weeks: Monday 00:00 UTC.
    Weekly,
    Monthly,
    Yearly,
    /// Consecutive windows of this many microseconds from the budget's start.
    Fixed(Micros),
}

/// Why a period string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown budget period {0:?}: use daily, weekly, monthly, yearly, or a length such as 30d, 12h, 15m, 90s, 2w")]
pub struct PeriodError(pub String);

impl Period {
    /// `daily`, `weekly`, `monthly`, `yearly`, `total`/`none`, or `<N><unit>` with unit
    /// `s`, `m` (minutes), `h`, `d`, `w`.
    pub fn parse(s: &str) -> Result<Period, PeriodError> {
        let t = s.trim().to_ascii_lowercase();
        let named = match t.as_str() {
            "daily" | "day" => Some(Period::Daily),
            "weekly" | "week" => Some(Period::Weekly),
            "monthly" | "month" => Some(Period::Monthly),
            "yearly" | "year" | "annually" => Some(Period::Yearly),
            "total" | "none" | "lifetime" | "" => Some(Period::Total),
            _ => None,
        };
        if let Some(p) = named {
            return Ok(p);
        }
        let err = || PeriodError(s.to_owned());
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = t.split_at(split);
        let n: i64 = digits.parse().map_err(|_| err())?;
        let unit_secs: i64 = match unit {
            "s" | "sec" | "secs" | "seconds" => 1,
            "m" | "min" | "mins" | "minutes" => 60,
            "h" | "hr" | "hours" => 3600,
            "d" | "days" => 86_400,
            "w" | "weeks" => 7 * 86_400,
            _ => return Err(err()),
        };
        if n <= 0 {
            return Err(err());
        }
        n.checked_mul(unit_secs * MICROS_PER_SECOND)
            .map(Period::Fixed)
            .ok_or_else(err)
    }

    /// The window `[start, end)` that contains `now`. `anchor` is where fixed windows
    /// start (the budget's creation time); calendar periods ignore it.
    pub fn window(&self, anchor: Micros, now: Micros) -> (Micros, Micros) {
        let day = now.div_euclid(MICROS_PER_DAY);
        let at_day = |d: i64| d.saturating_mul(MICROS_PER_DAY);
        match *self {
            Period::Total => (Micros::MIN, Micros::MAX),
            Period::Daily => (at_day(day), at_day(day + 1)),
            Period::Weekly => {
                // 1970-01-01 was a Thursday: three days after a Monday.
                let monday = day - (day + 3).rem_euclid(7);
                (at_day(monday), at_day(monday + 7))
            }
            Period::Monthly => {
                let (y, m, _) = civil_from_days(day);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    at_day(days_from_civil(y, m, 1)),
                    at_day(days_from_civil(ny, nm, 1)),
                )
            }
            Period::Yearly => {
                let (y, _, _) = civil_from_days(day);
                (
                    at_day(days_from_civil(y, 1, 1)),
                    at_day(days_from_civil(y + 1, 1, 1)),
                )
            }
            Period::Fixed(len) => {
                let k = now.saturating_sub(anchor).div_euclid(len);
                let start = anchor.saturating_add(k.saturating_mul(len));
                (start, start.saturating_add(len))
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Total => f.write_str("total"),
            Period::Daily => f.write_str("daily"),
            Period::Weekly => f.write_str("weekly"),
            Period::Monthly => f.write_str("monthly"),
            Period::Yearly => f.write_str("yearly"),
            Period::Fixed(len) => {
                let secs = len / MICROS_PER_SECOND;
                for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
                    if secs % n == 0 && len % MICROS_PER_SECOND == 0 {
                        return write!(f, "{}{unit}", secs / n);
                    }
                }
                write!(f, "{secs}s")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = MICROS_PER_SECOND;

    fn at(y: i64, m: u32, d: u32) -> Micros {
        days_from_civil(y, m, d) * MICROS_PER_DAY
    }

    #[test]
    fn parse_names_and_lengths() {
        assert_eq!(Period::parse("daily"), Ok(Period::Daily));
        assert_eq!(Period::parse("Monthly"), Ok(Period::Monthly));
        assert_eq!(Period::parse("30d"), Ok(Period::Fixed(30 * 86_400 * S)));
        assert_eq!(Period::parse("1h"), Ok(Period::Fixed(3600 * S)));
        assert_eq!(Period::parse("90s"), Ok(Period::Fixed(90 * S)));
        assert_eq!(Period::parse("15m"), Ok(Period::Fixed(900 * S)));
        assert_eq!(Period::parse("2w"), Ok(Period::Fixed(14 * 86_400 * S)));
        for bad in ["0d", "d", "5x", "-1h", "fortnightly"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Period::parse("30d").unwrap().to_string(), "30d");
        assert_eq!(Period::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Period::parse("2w").unwrap().to_string(), "2w");
    }

    #[test]
    fn calendar_windows_in_utc() {
        let now = at(2024, 2, 29) + 13 * 3600 * S;
        assert_eq!(
            Period::Daily.window(0, now),
            (at(2024, 2, 29), at(2024, 3, 1))
        );
        // 2024-02-29 was a Thursday; its week starts Monday 2024-02-26.
        assert_eq!(
            Period::Weekly.window(0, now),
            (at(2024, 2, 26), at(2024, 3, 4))
        );
        assert_eq!(
            Period::Monthly.window(0, now),
            (at(2024, 2, 1), at(2024, 3, 1))
        );
        assert_eq!(
            Period::Monthly.window(0, at(2024, 12, 31)),
            (at(2024, 12, 1), at(2025, 1, 1))
        );
        assert_eq!(
            Period::Yearly.window(0, now),
            (at(2024, 1, 1), at(2025, 1, 1))
        );
        // The boundary belongs to the next window, exactly.
        let midnight = at(2024, 3, 1);
        assert_eq!(Period::Daily.window(0, midnight - 1).1, midnight);
        assert_eq!(Period::Daily.window(0, midnight).0, midnight);
    }

    #[test]
    fn fixed_windows_start_at_the_anchor() {
        let anchor = 1_700_000_000_123_456;
        let hour = Period::Fixed(3600 * S);
        assert_eq!(hour.window(anchor, anchor), (anchor, anchor + 3600 * S));
        assert_eq!(hour.window(anchor, anchor + 3600 * S - 1).0, anchor);
        assert_eq!(hour.window(anchor, anchor + 3600 * S).0, anchor + 3600 * S);
        assert_eq!(hour.window(anchor, anchor - 1).0, anchor - 3600 * S);
        assert_eq!(Period::Total.window(anchor, 0), (Micros::MIN, Micros::MAX));
    }
}

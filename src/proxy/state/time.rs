//! Times and durations as LiteLLM's admin API writes them: RFC 3339 datetimes in UTC,
//! `duration` strings (`30s`, `30m`, `30h`, `30d`, `2w`, `1mo`) and `budget_duration`
//! windows that reset at standard boundaries (LiteLLM 1.106's standardized reset times).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::budget::Period;
use crate::spend::clock::{days_from_civil, Micros, MICROS_PER_DAY, MICROS_PER_SECOND};

/// A `duration` or `budget_duration` that LiteLLM would not accept either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid duration '{0}'. Use a number and a unit: 30s, 30m, 30h, 30d, 2w or 1mo (or hourly, daily, weekly, monthly).")]
pub struct DurationError(pub String);

/// `2024-05-10T12:34:56.789000Z` (pydantic's rendering of an aware UTC datetime; whole
/// seconds without a fraction).
pub fn to_iso(t: Micros) -> String {
    let Some(dt) = to_datetime(t) else {
        return crate::spend::clock::utc_iso(t);
    };
    let micros = dt.microsecond();
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if micros == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{micros:06}Z")
    }
}

fn to_datetime(t: Micros) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1000).ok()
}

fn from_datetime(dt: OffsetDateTime) -> Micros {
    i64::try_from(dt.unix_timestamp_nanos() / 1000).unwrap_or(Micros::MAX)
}

/// Read a datetime as clients send them: RFC 3339 (`2024-05-10T12:34:56Z`, with an offset),
/// a naive `2024-05-10T12:34:56[.ffffff]` or `2024-05-10 12:34:56` (taken as UTC, as
/// LiteLLM does), or a date `2024-05-10` (its midnight, UTC).
pub fn parse_datetime(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(from_datetime(dt));
    }
    let naive = s.replacen(' ', "T", 1);
    let with_fraction =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    let whole = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    for fmt in [with_fraction, whole] {
        if let Ok(dt) = PrimitiveDateTime::parse(&naive, fmt) {
            return Some(from_datetime(dt.assume_offset(UtcOffset::UTC)));
        }
    }
    parse_date(s)
}

/// `2024-05-10` → its midnight, UTC.
pub fn parse_date(s: &str) -> Option<Micros> {
    let d = Date::parse(s.trim(), format_description!("[year]-[month]-[day]")).ok()?;
    let days = days_from_civil(
        i64::from(d.year()),
        u32::from(u8::from(d.month())),
        d.day().into(),
    );
    Some(days * MICROS_PER_DAY)
}

/// LiteLLM's word durations.
fn normalize(duration: &str) -> &str {
    match duration.trim().to_ascii_lowercase().as_str() {
        "hourly" => "1h",
        "daily" => "24h",
        "weekly" => "7d",
        "monthly" => "30d",
        _ => duration.trim(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

/// `<N><unit>`: LiteLLM reads the leading number and unit and ignores what follows
/// (`1hr` is one hour).
fn split(duration: &str) -> Result<(i64, Unit), DurationError> {
    let err = || DurationError(duration.to_owned());
    let d = normalize(duration);
    let digits = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    if digits == 0 {
        return Err(err());
    }
    let n: i64 = d[..digits].parse().map_err(|_| err())?;
    let rest = &d[digits..];
    let unit = if rest.starts_with("mo") {
        Unit::Month
    } else {
        match rest.chars().next() {
            Some('s') => Unit::Second,
            Some('m') => Unit::Minute,
            Some('h') => Unit::Hour,
            Some('d') => Unit::Day,
            Some('w') => Unit::Week,
            _ => return Err(err()),
        }
    };
    Ok((n, unit))
}

fn unit_micros(unit: Unit) -> i64 {
    match unit {
        Unit::Second => MICROS_PER_SECOND,
        Unit::Minute => 60 * MICROS_PER_SECOND,
        Unit::Hour => 3600 * MICROS_PER_SECOND,
        Unit::Day => MICROS_PER_DAY,
        Unit::Week => 7 * MICROS_PER_DAY,
        Unit::Month => 30 * MICROS_PER_DAY,
    }
}

/// When a key generated at `now` with `duration` expires. Months are calendar months
/// (the same day of the month, clamped to its length), as LiteLLM counts them.
pub fn expiry(duration: &str, now: Micros) -> Result<Micros, DurationError> {
    let (n, unit) = split(duration)?;
    if unit == Unit::Month {
        let dt = to_datetime(now).ok_or_else(|| DurationError(duration.to_owned()))?;
        let total = i64::from(dt.year()) * 12 + i64::from(u8::from(dt.month())) - 1 + n;
        let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
        let month = u32::try_from(month0 + 1).unwrap_or(1);
        let last = days_in_month(year, month);
        let day = u32::from(dt.day()).min(last);
        let days = days_from_civil(year, month, day);
        let time_of_day = now.rem_euclid(MICROS_PER_DAY);
        return Ok(days * MICROS_PER_DAY + time_of_day);
    }
    n.checked_mul(unit_micros(unit))
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| DurationError(duration.to_owned()))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    u32::try_from(days_from_civil(ny, nm, 1) - days_from_civil(year, month, 1)).unwrap_or(28)
}

/// A `budget_duration` as budget windows: the [`Period`] and a time where a window starts.
///
/// LiteLLM 1.106 resets budgets at standard boundaries (UTC): `1d`/`24h`/`daily` at
/// midnight, `7d`/`1w`/`weekly` on Monday, `30d`/`1mo`/`monthly` on the 1st of the month,
/// `Nh`/`Nm`/`Ns` on multiples of N hours/minutes/seconds of the clock, any other `Nd`/`Nw`
/// every N days/weeks from the midnight of the day the budget was set. `anchor` is that
/// midnight (`now`'s); an existing budget passes its stored `budget_reset_at`, which is a
/// window boundary, so its windows stay where they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetWindow {
    pub period: Period,
    pub anchor: Micros,
}

impl BudgetWindow {
    pub fn parse(
        duration: &str,
        anchor: Option<Micros>,
        now: Micros,
    ) -> Result<Self, DurationError> {
        let (n, unit) = split(duration)?;
        if n <= 0 {
            return Err(DurationError(duration.to_owned()));
        }
        let midnight = now.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
        let fixed = |len: i64, anchor_default: Micros| BudgetWindow {
            period: Period::Fixed(len),
            anchor: anchor.unwrap_or(anchor_default),
        };
        let window = match (unit, n) {
            (Unit::Day, 1) | (Unit::Hour, 24) => Some(BudgetWindow {
                period: Period::Daily,
                anchor: 0,
            }),
            (Unit::Day, 7) | (Unit::Week, 1) => Some(BudgetWindow {
                period: Period::Weekly,
                anchor: 0,
            }),
            (Unit::Day, 30) | (Unit::Month, _) => Some(BudgetWindow {
                period: Period::Monthly,
                anchor: 0,
            }),
            (Unit::Second | Unit::Minute | Unit::Hour, _) => {
                n.checked_mul(unit_micros(unit)).map(|len| fixed(len, 0))
            }
            (Unit::Day | Unit::Week, _) => n
                .checked_mul(unit_micros(unit))
                .map(|len| fixed(len, midnight)),
        };
        window.ok_or_else(|| DurationError(duration.to_owned()))
    }

    /// The window `[start, end)` containing `now`.
    pub fn window(&self, now: Micros) -> (Micros, Micros) {
        self.period.window(self.anchor, now)
    }

    /// When the window containing `now` ends: the `budget_reset_at` to store.
    pub fn next_reset(&self, now: Micros) -> Micros {
        self.window(now).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Micros {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn datetimes_round_trip_in_pydantics_format() {
        let t = at("2024-05-10T12:34:56.789Z");
        assert_eq!(to_iso(t), "2024-05-10T12:34:56.789000Z");
        assert_eq!(
            to_iso(at("2024-05-10T12:34:56+02:00")),
            "2024-05-10T10:34:56Z"
        );
        assert_eq!(at("2024-05-10 12:34:56"), at("2024-05-10T12:34:56Z"));
        assert_eq!(at("2024-05-10"), at("2024-05-10T00:00:00Z"));
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn durations_are_read_as_litellm_reads_them() {
        let now = at("2024-01-31T10:00:00Z");
        assert_eq!(expiry("30s", now).unwrap(), now + 30 * MICROS_PER_SECOND);
        assert_eq!(expiry("2h", now).unwrap(), now + 7200 * MICROS_PER_SECOND);
        assert_eq!(expiry("1hr", now).unwrap(), now + 3600 * MICROS_PER_SECOND);
        assert_eq!(expiry("1w", now).unwrap(), now + 7 * MICROS_PER_DAY);
        assert_eq!(expiry("daily", now).unwrap(), now + MICROS_PER_DAY);
        // A month from January 31st is February's last day (2024 is a leap year).
        assert_eq!(expiry("1mo", now).unwrap(), at("2024-02-29T10:00:00Z"));
        assert_eq!(expiry("13mo", now).unwrap(), at("2025-02-28T10:00:00Z"));
        for bad in ["", "d", "30", "30x", "-1d"] {
            assert!(expiry(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn budget_windows_reset_at_standard_boundaries() {
        let now = at("2024-05-15T10:20:30Z"); // a Wednesday
        let next = |d: &str| BudgetWindow::parse(d, None, now).unwrap().next_reset(now);
        assert_eq!(next("1d"), at("2024-05-16T00:00:00Z"));
        assert_eq!(next("24h"), at("2024-05-16T00:00:00Z"));
        assert_eq!(next("7d"), at("2024-05-20T00:00:00Z"));
        assert_eq!(next("weekly"), at("2024-05-20T00:00:00Z"));
        assert_eq!(next("30d"), at("2024-06-01T00:00:00Z"));
        assert_eq!(next("1mo"), at("2024-06-01T00:00:00Z"));
        assert_eq!(next("1h"), at("2024-05-15T11:00:00Z"));
        assert_eq!(next("6h"), at("2024-05-15T12:00:00Z"));
        assert_eq!(next("15m"), at("2024-05-15T10:30:00Z"));
        assert_eq!(next("30s"), at("2024-05-15T10:21:00Z"));
        assert_eq!(next("3d"), at("2024-05-18T00:00:00Z"));
        // A stored reset time keeps an N-day budget's windows where they were.
        let stored = at("2024-05-18T00:00:00Z");
        let w = BudgetWindow::parse("3d", Some(stored), at("2024-05-19T08:00:00Z")).unwrap();
        assert_eq!(
            w.next_reset(at("2024-05-19T08:00:00Z")),
            at("2024-05-21T00:00:00Z")
        );
        assert!(BudgetWindow::parse("0d", None, now).is_err());
    }
}

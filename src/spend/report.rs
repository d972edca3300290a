//! Spend reports: ledger records grouped by any of model, provider, deployment, user,
//! project, key, tag, status, error, day or hour (UTC) or a metadata field, sorted by
//! cost, with each group's cost over time (hourly or daily buckets) for the chart
//! ([`super::chart`]), and text and HTML renderings (no plotting dependency).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde_json::Value;

use super::clock::{self, Micros};
use super::{CallStatus, SpendError, SpendRecord};

const MICROS_PER_HOUR: Micros = 3_600 * clock::MICROS_PER_SECOND;

/// The width of the report's time buckets (the chart's bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
}

impl Interval {
    pub fn parse(s: &str) -> Result<Interval, SpendError> {
        match s {
            "hour" | "hourly" => Ok(Interval::Hour),
            "day" | "daily" => Ok(Interval::Day),
            other => Err(SpendError::Interval(other.to_owned())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
        }
    }

    pub fn micros(self) -> Micros {
        match self {
            Interval::Hour => MICROS_PER_HOUR,
            Interval::Day => clock::MICROS_PER_DAY,
        }
    }

    /// Hours for spans up to two days, else days.
    fn for_span(first: Micros, last: Micros) -> Interval {
        if last - first < 2 * clock::MICROS_PER_DAY {
            Interval::Hour
        } else {
            Interval::Day
        }
    }
}

/// What rows are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Model,
    Provider,
    Deployment,
    User,
    Project,
    Key,
    /// Each tag of a call is its own group: a call with two tags counts in both.
    Tag,
    Status,
    /// The exception class of failures.
    Error,
    /// The UTC date the call started (`YYYY-MM-DD`).
    Day,
    /// The UTC hour the call started (`YYYY-MM-DD HH:00`).
    Hour,
    /// Another field of the call's metadata.
    Metadata(String),
}

impl GroupKey {
    pub fn parse(s: &str) -> Result<GroupKey, SpendError> {
        Ok(match s {
            "model" => GroupKey::Model,
            "provider" | "custom_llm_provider" => GroupKey::Provider,
            "deployment" | "model_id" => GroupKey::Deployment,
            "user" => GroupKey::User,
            "project" => GroupKey::Project,
            "key" => GroupKey::Key,
            "tag" | "tags" => GroupKey::Tag,
            "status" => GroupKey::Status,
            "error" => GroupKey::Error,
            "day" | "date" => GroupKey::Day,
            "hour" => GroupKey::Hour,
            other => match other.strip_prefix("metadata.") {
                Some(field) if !field.is_empty() => GroupKey::Metadata(field.to_owned()),
                _ => return Err(SpendError::GroupKey(other.to_owned())),
            },
        })
    }

    /// The column name.
    pub fn name(&self) -> String {
        match self {
            GroupKey::Model => "model".into(),
            GroupKey::Provider => "provider".into(),
            GroupKey::Deployment => "deployment".into(),
            GroupKey::User => "user".into(),
            GroupKey::Project => "project".into(),
            GroupKey::Key => "key".into(),
            GroupKey::Tag => "tag".into(),
            GroupKey::Status => "status".into(),
            GroupKey::Error => "error".into(),
            GroupKey::Day => "day".into(),
            GroupKey::Hour => "hour".into(),
            GroupKey::Metadata(f) => format!("metadata.{f}"),
        }
    }

    /// The values `record` has for this key (several for tags; `None` when unset).
    fn values(&self, r: &SpendRecord) -> Vec<Option<String>> {
        let one = |v: Option<&str>| vec![v.map(str::to_owned)];
        match self {
            GroupKey::Model => one(Some(&r.model)),
            GroupKey::Provider => one(Some(&r.provider)),
            GroupKey::Deployment => one(r.deployment.as_deref()),
            GroupKey::User => one(r.user()),
            GroupKey::Project => one(r.project()),
            GroupKey::Key => one(r.key()),
            GroupKey::Tag => match r.tags() {
                [] => vec![None],
                tags => tags.iter().map(|t| Some(t.clone())).collect(),
            },
            GroupKey::Status => one(Some(r.status.as_str())),
            GroupKey::Error => one(r.error.as_deref()),
            GroupKey::Day => vec![Some(clock::utc_date(r.started_at))],
            GroupKey::Hour => vec![Some(utc_hour(r.started_at))],
            GroupKey::Metadata(field) => {
                let v = r.metadata.as_deref().and_then(|m| m.extra.get(field));
                vec![match v {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                }]
            }
        }
    }
}

/// Which records a report covers and how it groups them.
#[derive(Debug, Clone, Default)]
pub struct ReportQuery {
    /// Empty: one row with the totals.
    pub group_by: Vec<GroupKey>,
    /// Calls started at or after this time.
    pub since: Option<Micros>,
    /// Calls started before this time.
    pub until: Option<Micros>,
    /// The time buckets of [`Report::buckets`]; `None`: hours for spans up to two days,
    /// else days.
    pub interval: Option<Interval>,
}

/// `YYYY-MM-DD HH:00` (UTC).
pub fn utc_hour(t: Micros) -> String {
    let hour = t.div_euclid(MICROS_PER_HOUR).rem_euclid(24);
    format!("{} {hour:02}:00", clock::utc_date(t))
}

/// One group of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// One value per group key (`None`: the calls that have none).
    pub key: Vec<Option<String>>,
    pub calls: u64,
    /// Calls that did not succeed (failed, cancelled or blocked).
    pub failures: u64,
    /// Of the failures, the calls a budget refused.
    pub blocked: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// USD (unknown prices count as 0; see `unpriced_calls`).
    pub cost: f64,
    /// `cost` as a fraction of the report's total cost.
    pub share: f64,
    /// Calls whose cost is unknown (the model has no price).
    pub unpriced_calls: u64,
    /// Mean latency in seconds of the successful calls.
    pub mean_latency: Option<f64>,
    /// Cost in each of [`Report::buckets`].
    pub timeline: Vec<f64>,
}

/// Rows sorted by cost (highest first), and the totals over all matching calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub group_by: Vec<GroupKey>,
    pub rows: Vec<ReportRow>,
    pub total_cost: f64,
    pub total_calls: u64,
    /// Calls that did not succeed, and of those the calls a budget refused.
    pub total_failures: u64,
    pub total_blocked: u64,
    pub since: Option<Micros>,
    pub until: Option<Micros>,
    /// The width of the time buckets.
    pub interval: Interval,
    /// The start of each time bucket, consecutive from the first call's to the last's.
    pub buckets: Vec<Micros>,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    failures: u64,
    blocked: u64,
    /// Cost per hour (hours since the epoch).
    hourly: HashMap<i64, f64>,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost: f64,
    unpriced: u64,
    latency_sum: f64,
    latency_n: u64,
}

/// Builds a [`Report`] from records fed one at a time.
pub struct Aggregator {
    query: ReportQuery,
    groups: HashMap<Vec<Option<String>>, Acc>,
    total_cost: f64,
    total_calls: u64,
    total_failures: u64,
    total_blocked: u64,
    /// Hours (since the epoch) in which calls started.
    hours: BTreeSet<i64>,
}

impl Aggregator {
    pub fn new(query: &ReportQuery) -> Self {
        Aggregator {
            query: query.clone(),
            groups: HashMap::new(),
            total_cost: 0.0,
            total_calls: 0,
            total_failures: 0,
            total_blocked: 0,
            hours: BTreeSet::new(),
        }
    }

    pub fn add(&mut self, r: &SpendRecord) {
        if self.query.since.is_some_and(|s| r.started_at < s)
            || self.query.until.is_some_and(|u| r.started_at >= u)
        {
            return;
        }
        self.total_calls += 1;
        self.total_cost += r.cost_or_zero();
        self.total_failures += u64::from(!matches!(
            r.status,
            CallStatus::Success | CallStatus::CacheHit
        ));
        self.total_blocked += u64::from(r.status == CallStatus::Blocked);
        let hour = r.started_at.div_euclid(MICROS_PER_HOUR);
        self.hours.insert(hour);
        // The cartesian product of each key's values (only tags have several).
        let mut keys: Vec<Vec<Option<String>>> = vec![Vec::new()];
        for g in &self.query.group_by {
            let values = g.values(r);
            keys = keys
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut k = prefix.clone();
                        k.push(v.clone());
                        k
                    })
                })
                .collect();
        }
        for key in keys {
            let acc = self.groups.entry(key).or_default();
            acc.calls += 1;
            if r.status == CallStatus::Blocked {
                acc.blocked += 1;
            }
            if !matches!(r.status, CallStatus::Success | CallStatus::CacheHit) {
                acc.failures += 1;
            } else {
                acc.latency_sum += r.latency;
                acc.latency_n += 1;
            }
            acc.prompt_tokens += r.prompt_tokens;
            acc.completion_tokens += r.completion_tokens;
            acc.cost += r.cost_or_zero();
            *acc.hourly.entry(hour).or_default() += r.cost_or_zero();
            if r.cost.is_none() {
                acc.unpriced += 1;
            }
        }
    }

    pub fn finish(self) -> Report {
        let total = self.total_cost;
        let first = self.hours.first().map(|h| h * MICROS_PER_HOUR);
        let last = self.hours.last().map(|h| h * MICROS_PER_HOUR);
        let interval = self.query.interval.unwrap_or_else(|| match (first, last) {
            (Some(f), Some(l)) => Interval::for_span(f, l),
            _ => Interval::Day,
        });
        let width = interval.micros();
        let buckets: Vec<Micros> = match (first, last) {
            (Some(f), Some(l)) => {
                let (f, l) = (f.div_euclid(width), l.div_euclid(width));
                (f..=l).map(|b| b * width).collect()
            }
            _ => Vec::new(),
        };
        let first_bucket = buckets.first().copied().unwrap_or(0);
        let mut rows: Vec<ReportRow> = self
            .groups
            .into_iter()
            .map(|(key, a)| {
                let mut timeline = vec![0.0; buckets.len()];
                for (hour, cost) in &a.hourly {
                    let at = (hour * MICROS_PER_HOUR - first_bucket).div_euclid(width);
                    if let Some(slot) = usize::try_from(at).ok().and_then(|i| timeline.get_mut(i)) {
                        *slot += cost;
                    }
                }
                ReportRow {
                    key,
                    calls: a.calls,
                    failures: a.failures,
                    blocked: a.blocked,
                    prompt_tokens: a.prompt_tokens,
                    completion_tokens: a.completion_tokens,
                    cost: a.cost,
                    share: if total > 0.0 { a.cost / total } else { 0.0 },
                    unpriced_calls: a.unpriced,
                    mean_latency: (a.latency_n > 0).then(|| a.latency_sum / a.latency_n as f64),
                    timeline,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.cost
                .total_cmp(&a.cost)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.key.cmp(&b.key))
        });
        Report {
            group_by: self.query.group_by,
            rows,
            total_cost: total,
            total_calls: self.total_calls,
            total_failures: self.total_failures,
            total_blocked: self.total_blocked,
            since: self.query.since,
            until: self.query.until,
            interval,
            buckets,
        }
    }
}

/// A count with thousands separators.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars with enough digits to tell small costs apart.
pub fn format_usd(cost: f64) -> String {
    if cost == 0.0 {
        "$0".to_owned()
    } else if cost.abs() >= 1.0 {
        format!("${cost:.2}")
    } else if cost.abs() >= 0.01 {
        format!("${cost:.4}")
    } else {
        format!("${cost:.6}")
    }
}

/// Decimals that show every non-zero cost in `costs` with at least two significant digits
/// (two at least, eight at most): one precision for a whole table.
pub fn cost_decimals(costs: impl IntoIterator<Item = f64>) -> usize {
    let smallest = costs
        .into_iter()
        .map(f64::abs)
        .filter(|c| *c > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return 2;
    }
    let digits = (-smallest.log10()).ceil() + 1.0;
    (digits.max(2.0) as usize).min(8)
}

/// `$` and the amount with `decimals` digits after the point.
pub fn usd(cost: f64, decimals: usize) -> String {
    format!("${cost:.decimals$}")
}

impl Report {
    /// The column names: the group keys, then the measures.
    pub fn key_names(&self) -> Vec<String> {
        self.group_by.iter().map(GroupKey::name).collect()
    }

    /// A row's label in the chart's legend: its key values joined.
    pub fn row_label(&self, row: &ReportRow) -> String {
        if row.key.is_empty() {
            return "all calls".to_owned();
        }
        row.key
            .iter()
            .map(|v| v.as_deref().unwrap_or("(none)"))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// The decimals every cost of this report is shown with.
    pub fn decimals(&self) -> usize {
        cost_decimals(self.rows.iter().map(|r| r.cost))
    }

    pub(super) fn failed(row: &ReportRow) -> u64 {
        row.failures - row.blocked
    }

    pub fn title(&self) -> String {
        let by = if self.group_by.is_empty() {
            "Spend".to_owned()
        } else {
            format!("Spend by {}", self.key_names().join(", "))
        };
        let mut t = format!(
            "{by}: {} calls, {} total",
            thousands(self.total_calls),
            usd(self.total_cost, self.decimals())
        );
        if self.total_failures > 0 {
            let _ = write!(
                t,
                " ({} failed, {} blocked)",
                thousands(self.total_failures - self.total_blocked),
                thousands(self.total_blocked)
            );
        }
        if let Some(s) = self.since {
            let _ = write!(t, ", since {}", clock::utc_iso(s));
        }
        if let Some(u) = self.until {
            let _ = write!(t, ", until {}", clock::utc_iso(u));
        }
        t
    }

    /// A plain-text table, for terminals.
    pub fn to_text(&self) -> String {
        let decimals = self.decimals();
        let mut header: Vec<String> = self.key_names();
        header.extend(["calls", "failed", "blocked", "tokens", "cost", "share"].map(String::from));
        let mut lines: Vec<Vec<String>> = vec![header];
        for r in &self.rows {
            let mut cells: Vec<String> = r
                .key
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "(none)".to_owned()))
                .collect();
            cells.push(thousands(r.calls));
            cells.push(thousands(Self::failed(r)));
            cells.push(thousands(r.blocked));
            cells.push(thousands(r.prompt_tokens + r.completion_tokens));
            cells.push(usd(r.cost, decimals));
            cells.push(format!("{:.1}%", r.share * 100.0));
            lines.push(cells);
        }
        let keys = self.group_by.len();
        let cols = lines[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = self.title();
        out.push('\n');
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .enumerate()
                // Keys to the left, numbers to the right.
                .map(|(i, (c, w))| {
                    if i < keys {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::CallMetadata;
    use super::*;
    use serde_json::json;

    fn meta(v: serde_json::Value) -> CallMetadata {
        CallMetadata::from_map(v.as_object().cloned().unwrap())
    }

    fn report(records: &[SpendRecord], keys: &[&str]) -> Report {
        report_every(records, keys, None)
    }

    fn report_every(records: &[SpendRecord], keys: &[&str], interval: Option<Interval>) -> Report {
        let q = ReportQuery {
            group_by: keys.iter().map(|k| GroupKey::parse(k).unwrap()).collect(),
            interval,
            ..Default::default()
        };
        let mut agg = Aggregator::new(&q);
        for r in records {
            agg.add(r);
        }
        agg.finish()
    }

    #[test]
    fn groups_sorted_by_cost_with_shares() {
        let records = vec![
            record("a", 1.0, meta(json!({"tags": ["x"]})), 0),
            record("b", 3.0, meta(json!({"tags": ["x", "y"]})), 0),
            record("a", 2.0, meta(json!({})), 0),
        ];
        let r = report(&records, &["model"]);
        assert_eq!(r.total_cost, 6.0);
        assert_eq!(r.rows[0].key, vec![Some("a".to_owned())]);
        assert_eq!(r.rows[0].cost, 3.0);
        assert_eq!(r.rows[0].calls, 2);
        assert_eq!(r.rows[0].share, 0.5);
        let by_tag = report(&records, &["tag"]);
        let costs: Vec<(Option<String>, f64)> = by_tag
            .rows
            .iter()
            .map(|row| (row.key[0].clone(), row.cost))
            .collect();
        assert_eq!(
            costs,
            vec![
                (Some("x".into()), 4.0),
                (Some("y".into()), 3.0),
                (None, 2.0)
            ]
        );
        let two = report(&records, &["model", "tag"]);
        assert_eq!(two.rows.len(), 4);
        let total = report(&records, &[]);
        assert_eq!(total.rows.len(), 1);
        assert_eq!(total.rows[0].calls, 3);
    }

    #[test]
    fn day_and_metadata_fields_and_bad_keys() {
        let day = clock::MICROS_PER_DAY;
        let records = vec![
            record("a", 1.0, meta(json!({"task": "sum"})), 0),
            record("a", 1.0, meta(json!({"task": "sum"})), day + 5),
        ];
        let r = report(&records, &["day", "metadata.task"]);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[1].key[0].as_deref(), Some("1970-01-02"));
        assert_eq!(r.rows[0].key[1].as_deref(), Some("sum"));
        assert!(GroupKey::parse("colour").is_err());
        assert!(GroupKey::parse("metadata.").is_err());
    }

    #[test]
    fn html_escapes_every_caller_string() {
        let records = vec![record(
            "<script>alert(1)</script>",
            1.0,
            meta(json!({"user": "a\"b&c'"})),
            0,
        )];
        let html = report(&records, &["model", "user"]).to_html();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a&quot;b&amp;c&#39;"));
        assert!(html.contains("<svg"));
        // The share bar is the row's share of the total (100 % here).
        assert!(html.contains("width=\"100.0\" height=\"10\" fill=\"#4e79a7\""));
        assert!(html.contains("llmswitch-spend-chart"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(format_usd(12.345), "$12.35");
        assert_eq!(format_usd(0.0123), "$0.0123");
        assert_eq!(format_usd(0.000123), "$0.000123");
    }
}

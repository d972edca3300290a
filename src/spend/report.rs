//! Spend reports: ledger records grouped by any of model, provider, deployment, user,
//! project, key, tag, status, error, day (UTC) or a metadata field, sorted by cost, with
//! an HTML rendering (a table with inline SVG bars, no plotting dependency).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::clock::{self, Micros};
use super::{SpendError, SpendRecord};

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
}

/// One group of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// One value per group key (`None`: the calls that have none).
    pub key: Vec<Option<String>>,
    pub calls: u64,
    /// Calls that did not succeed (failed, cancelled or blocked).
    pub failures: u64,
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
}

/// Rows sorted by cost (highest first), and the totals over all matching calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub group_by: Vec<GroupKey>,
    pub rows: Vec<ReportRow>,
    pub total_cost: f64,
    pub total_calls: u64,
    pub since: Option<Micros>,
    pub until: Option<Micros>,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    failures: u64,
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
}

impl Aggregator {
    pub fn new(query: &ReportQuery) -> Self {
        Aggregator {
            query: query.clone(),
            groups: HashMap::new(),
            total_cost: 0.0,
            total_calls: 0,
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
            if !matches!(
                r.status,
                super::CallStatus::Success | super::CallStatus::CacheHit
            ) {
                acc.failures += 1;
            } else {
                acc.latency_sum += r.latency;
                acc.latency_n += 1;
            }
            acc.prompt_tokens += r.prompt_tokens;
            acc.completion_tokens += r.completion_tokens;
            acc.cost += r.cost_or_zero();
            if r.cost.is_none() {
                acc.unpriced += 1;
            }
        }
    }

    pub fn finish(self) -> Report {
        let total = self.total_cost;
        let mut rows: Vec<ReportRow> = self
            .groups
            .into_iter()
            .map(|(key, a)| ReportRow {
                key,
                calls: a.calls,
                failures: a.failures,
                prompt_tokens: a.prompt_tokens,
                completion_tokens: a.completion_tokens,
                cost: a.cost,
                share: if total > 0.0 { a.cost / total } else { 0.0 },
                unpriced_calls: a.unpriced,
                mean_latency: (a.latency_n > 0).then(|| a.latency_sum / a.latency_n as f64),
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
            since: self.query.since,
            until: self.query.until,
        }
    }
}

/// Text safe inside HTML elements and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A count with thousands separators.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
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

const BAR_WIDTH: f64 = 160.0;
const BAR_HEIGHT: u32 = 12;
const BAR_COLOR: &str = "#4c78a8";

impl Report {
    /// The column names: the group keys, then the measures.
    pub fn key_names(&self) -> Vec<String> {
        self.group_by.iter().map(GroupKey::name).collect()
    }

    fn title(&self) -> String {
        let by = if self.group_by.is_empty() {
            "Spend".to_owned()
        } else {
            format!("Spend by {}", self.key_names().join(", "))
        };
        let mut t = format!(
            "{by}: {} calls, {} total",
            thousands(self.total_calls),
            format_usd(self.total_cost)
        );
        if let Some(s) = self.since {
            let _ = write!(t, ", since {}", clock::utc_iso(s));
        }
        if let Some(u) = self.until {
            let _ = write!(t, ", until {}", clock::utc_iso(u));
        }
        t
    }

    /// An HTML table with one inline SVG bar per row (length ∝ cost). Every value that came
    /// from a caller (model names, users, tags, metadata) is escaped.
    pub fn to_html(&self) -> String {
        let max = self.rows.iter().map(|r| r.cost).fold(0.0, f64::max);
        let mut h = String::with_capacity(512 + self.rows.len() * 400);
        h.push_str("<div class=\"llmswitch-spend-report\">\n<table>\n");
        let _ = writeln!(h, "<caption>{}</caption>", escape_html(&self.title()));
        h.push_str("<thead><tr>");
        for name in self.key_names() {
            let _ = write!(
                h,
                "<th style=\"text-align:left\">{}</th>",
                escape_html(&name)
            );
        }
        h.push_str(
            "<th>calls</th><th>failures</th><th>prompt tokens</th><th>completion tokens</th>\
             <th>cost (USD)</th><th>share</th><th style=\"text-align:left\">cost</th></tr></thead>\n<tbody>\n",
        );
        for row in &self.rows {
            h.push_str("<tr>");
            for value in &row.key {
                match value {
                    Some(v) => {
                        let _ = write!(h, "<td style=\"text-align:left\">{}</td>", escape_html(v));
                    }
                    None => h.push_str("<td style=\"text-align:left\"><em>(none)</em></td>"),
                }
            }
            let width = if max > 0.0 {
                (row.cost / max * BAR_WIDTH).max(0.0)
            } else {
                0.0
            };
            let share = format!("{:.1}%", row.share * 100.0);
            let _ = writeln!(
                h,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{share}</td>\
                 <td><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" role=\"img\" aria-label=\"{share}\">\
                 <rect x=\"0\" y=\"0\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" fill=\"{BAR_COLOR}\"></rect></svg></td></tr>",
                thousands(row.calls),
                thousands(row.failures),
                thousands(row.prompt_tokens),
                thousands(row.completion_tokens),
                format_usd(row.cost),
            );
        }
        h.push_str("</tbody>\n</table>\n</div>");
        h
    }

    /// A plain-text table, for terminals.
    pub fn to_text(&self) -> String {
        let mut header: Vec<String> = self.key_names();
        header.extend(["calls", "tokens", "cost", "share"].map(String::from));
        let mut lines: Vec<Vec<String>> = vec![header];
        for r in &self.rows {
            let mut cells: Vec<String> = r
                .key
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "(none)".to_owned()))
                .collect();
            cells.push(thousands(r.calls));
            cells.push(thousands(r.prompt_tokens + r.completion_tokens));
            cells.push(format_usd(r.cost));
            cells.push(format!("{:.1}%", r.share * 100.0));
            lines.push(cells);
        }
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
                .map(|(c, w)| format!("{c:<w$}"))
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
        let q = ReportQuery {
            group_by: keys.iter().map(|k| GroupKey::parse(k).unwrap()).collect(),
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
        assert!(html.contains("width=\"160.0\""));
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

//! The spend report drawn: its chart, cost per hour or day as stacked bars, one colour per
//! group (the costliest groups; the rest stacked as "other"), with axes, labels and a
//! legend, and the HTML table under it ([`Report::to_html`]). A plain SVG string: it shows
//! in Jupyter (above the table), in a browser and in any document, with no plotting
//! dependency. Rendered here, next to the aggregation that produces its buckets, so the
//! gateway can serve the same picture.

use std::fmt::Write as _;

use super::clock;
use super::report::{thousands, usd, utc_hour, Interval, Report};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 58.0;
/// Groups drawn in their own colour; the others are stacked together.
const MAX_SERIES: usize = 8;
/// Most labels on the time axis.
const MAX_TICK_LABELS: usize = 8;
const LEGEND_LABEL_CHARS: usize = 24;

/// Tableau 10: distinct hues that stay apart for colour-blind readers.
const PALETTE: [&str; MAX_SERIES] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
];
const OTHER_COLOR: &str = "#bab0ac";
const TEXT: &str = "font-family:system-ui,sans-serif;font-size:11px;fill:#333";

/// The colour of the report row at `index` (rows sorted by cost), as in the chart.
pub fn row_color(index: usize) -> &'static str {
    PALETTE.get(index).copied().unwrap_or(OTHER_COLOR)
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

/// The share bar's width in the HTML table (100 % of the total).
const SHARE_BAR_WIDTH: f64 = 100.0;
const BAR_HEIGHT: u32 = 10;

const TABLE_STYLE: &str = "border-collapse:collapse;font:13px system-ui,sans-serif";
const CELL: &str = "padding:2px 10px;text-align:right;white-space:nowrap";
const KEY_CELL: &str = "padding:2px 10px;text-align:left;white-space:nowrap";

impl Report {
    /// The chart (cost over time, stacked by group) above a table with one row per group
    /// and its share of the total as a bar. Every value that came from a caller (model
    /// names, users, tags, metadata) is escaped.
    pub fn to_html(&self) -> String {
        let decimals = self.decimals();
        let mut h = String::with_capacity(4096 + self.rows.len() * 600);
        h.push_str("<div class=\"llmswitch-spend-report\">\n");
        h.push_str(&svg(self, false));
        let _ = writeln!(h, "\n<table style=\"{TABLE_STYLE}\">");
        let _ = writeln!(
            h,
            "<caption style=\"text-align:left;font-weight:600;padding:4px 10px\">{}</caption>",
            escape_html(&self.title())
        );
        h.push_str("<thead><tr>");
        for name in self.key_names() {
            let _ = write!(h, "<th style=\"{KEY_CELL}\">{}</th>", escape_html(&name));
        }
        for name in [
            "calls",
            "failed",
            "blocked",
            "prompt tokens",
            "completion tokens",
            "cost (USD)",
        ] {
            let _ = write!(h, "<th style=\"{CELL}\">{name}</th>");
        }
        let _ = writeln!(
            h,
            "<th style=\"{KEY_CELL}\">share of total</th></tr></thead>\n<tbody>"
        );
        for (i, row) in self.rows.iter().enumerate() {
            h.push_str("<tr>");
            for value in &row.key {
                match value {
                    Some(v) => {
                        let _ = write!(h, "<td style=\"{KEY_CELL}\">{}</td>", escape_html(v));
                    }
                    None => {
                        let _ = write!(h, "<td style=\"{KEY_CELL}\"><em>(none)</em></td>");
                    }
                }
            }
            let share = format!("{:.1}%", row.share * 100.0);
            let width = (row.share * SHARE_BAR_WIDTH).clamp(0.0, SHARE_BAR_WIDTH);
            for cell in [
                thousands(row.calls),
                thousands(Self::failed(row)),
                thousands(row.blocked),
                thousands(row.prompt_tokens),
                thousands(row.completion_tokens),
                usd(row.cost, decimals),
            ] {
                let _ = write!(h, "<td style=\"{CELL}\">{cell}</td>");
            }
            let _ = writeln!(
                h,
                "<td style=\"{KEY_CELL}\"><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"share-bar\" width=\"{SHARE_BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" role=\"img\" aria-label=\"{share} of the total\">\
                 <rect x=\"0\" y=\"0\" width=\"{SHARE_BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" fill=\"#e8e8e8\"></rect>\
                 <rect x=\"0\" y=\"0\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" fill=\"{}\"></rect></svg> {share}</td></tr>",
                row_color(i)
            );
        }
        h.push_str("</tbody>\n</table>\n</div>");
        h
    }

    /// A standalone HTML page: [`Report::to_html`] with a title and a character set.
    pub fn to_html_page(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n</head>\n<body style=\"margin:16px;font:13px system-ui,sans-serif\">\n{}\n</body>\n</html>\n",
            escape_html(&self.title()),
            self.to_html()
        )
    }
}

/// One stacked series: a label, a colour and its cost per bucket.
struct Series {
    label: String,
    color: &'static str,
    share: f64,
    costs: Vec<f64>,
}

fn series(report: &Report) -> Vec<Series> {
    let n = report.buckets.len();
    let mut out: Vec<Series> = Vec::new();
    let mut other = Series {
        label: String::new(),
        color: OTHER_COLOR,
        share: 0.0,
        costs: vec![0.0; n],
    };
    let mut others = 0;
    // Rows come sorted by cost, highest first.
    for row in &report.rows {
        if out.len() < MAX_SERIES {
            out.push(Series {
                label: report.row_label(row),
                color: PALETTE[out.len()],
                share: row.share,
                costs: row.timeline.clone(),
            });
        } else {
            others += 1;
            other.share += row.share;
            for (o, c) in other.costs.iter_mut().zip(&row.timeline) {
                *o += c;
            }
        }
    }
    if others > 0 {
        other.label = format!("other ({others} groups)");
        out.push(other);
    }
    out
}

/// A tick step of 1, 2 or 5 times a power of ten, for about four ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if step > 0.0 && step.is_finite() {
        step
    } else {
        1.0
    }
}

/// Decimals that print every multiple of `step` exactly.
fn step_decimals(step: f64) -> usize {
    (0..=8)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(8) as usize
}

fn bucket_label(interval: Interval, start: clock::Micros, first: bool) -> String {
    match interval {
        // `MM-DD`, the year on the first.
        Interval::Day => {
            let date = clock::utc_date(start);
            if first {
                date
            } else {
                date[5..].to_owned()
            }
        }
        // `HH:00`, the date on the first and at midnight.
        Interval::Hour => {
            let full = utc_hour(start);
            if first || full.ends_with(" 00:00") {
                full[5..].to_owned()
            } else {
                full[11..].to_owned()
            }
        }
    }
}

fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// The chart as an SVG element; `standalone` adds the XML declaration for a `.svg` file.
pub fn svg(report: &Report, standalone: bool) -> String {
    let series = series(report);
    let n = report.buckets.len();
    let totals: Vec<f64> = (0..n)
        .map(|b| series.iter().map(|s| s.costs[b]).sum())
        .collect();
    let max_total = totals.iter().copied().fold(0.0, f64::max);
    let step = nice_step(if max_total > 0.0 { max_total } else { 1.0 });
    let ticks = ((max_total / step).ceil() as usize).max(1);
    let top_value = step * ticks as f64;
    let decimals = step_decimals(step);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bottom = TOP + plot_h;
    let y_of = |v: f64| bottom - v / top_value * plot_h;

    let by = if report.group_by.is_empty() {
        String::new()
    } else {
        format!(", by {}", report.key_names().join(", "))
    };
    let title = format!("Cost per {} (USD){by}", report.interval.name());
    let mut s = String::with_capacity(8192 + n * series.len() * 160);
    if standalone {
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"llmswitch-spend-chart\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape_html(&title)
    );
    let _ = writeln!(s, "<title>{}</title>", escape_html(&title));
    let _ = writeln!(
        s,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"></rect>"
    );
    let _ = writeln!(
        s,
        "<text class=\"chart-title\" x=\"{LEFT}\" y=\"22\" style=\"{TEXT};font-size:13px;font-weight:600\">{}</text>",
        escape_html(&title)
    );

    // The cost axis: gridlines and labels.
    s.push_str("<g class=\"y-axis\">\n");
    for i in 0..=ticks {
        let v = step * i as f64;
        let y = y_of(v);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"1\"></line>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" style=\"{TEXT}\">${v:.decimals$}</text>",
            LEFT + plot_w,
            if i == 0 { "#888" } else { "#e6e6e6" },
            LEFT - 6.0,
            y + 4.0,
        );
    }
    let _ = writeln!(
        s,
        "<text class=\"axis-label\" transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\" style=\"{TEXT}\">cost (USD)</text>",
        TOP + plot_h / 2.0
    );
    s.push_str("</g>\n");

    // The bars: one stack per bucket, the costliest group at the bottom.
    let band = if n > 0 { plot_w / n as f64 } else { plot_w };
    let bar_w = (band * 0.8).max(1.0);
    s.push_str("<g class=\"bars\">\n");
    for (b, start) in report.buckets.iter().enumerate() {
        let x = LEFT + band * b as f64 + (band - bar_w) / 2.0;
        let when = match report.interval {
            Interval::Day => clock::utc_date(*start),
            Interval::Hour => utc_hour(*start),
        };
        let mut base = 0.0;
        for (i, se) in series.iter().enumerate() {
            let cost = se.costs[b];
            if cost <= 0.0 {
                continue;
            }
            let (y0, y1) = (y_of(base), y_of(base + cost));
            base += cost;
            let _ = writeln!(
                s,
                "<rect class=\"bar\" data-series=\"{i}\" data-bucket=\"{}\" data-cost=\"{cost}\" x=\"{x:.2}\" y=\"{y1:.2}\" width=\"{bar_w:.2}\" height=\"{:.2}\" fill=\"{}\"><title>{}, {}: ${cost:.6}</title></rect>",
                escape_html(&when),
                (y0 - y1).max(0.5),
                se.color,
                escape_html(&se.label),
                escape_html(&when),
            );
        }
    }
    s.push_str("</g>\n");
    if max_total <= 0.0 {
        let _ = writeln!(
            s,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" style=\"{TEXT}\">{}</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0,
            if n == 0 {
                "no calls in this period"
            } else {
                "no priced calls in this period"
            }
        );
    }

    // The time axis: every k-th bucket labelled.
    s.push_str("<g class=\"x-axis\">\n");
    let every = n.div_ceil(MAX_TICK_LABELS).max(1);
    for (b, start) in report.buckets.iter().enumerate().step_by(every) {
        let x = LEFT + band * (b as f64 + 0.5);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom:.1}\" y2=\"{:.1}\" stroke=\"#888\"></line>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" style=\"{TEXT}\">{}</text>",
            bottom + 4.0,
            bottom + 17.0,
            escape_html(&bucket_label(report.interval, *start, b == 0)),
        );
    }
    let _ = writeln!(
        s,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" style=\"{TEXT}\">{} (UTC)</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        report.interval.name()
    );
    s.push_str("</g>\n");

    // The legend: a swatch, the group and its share of the total.
    let lx = WIDTH - RIGHT + 18.0;
    s.push_str("<g class=\"legend\">\n");
    let heading = if report.group_by.is_empty() {
        "total".to_owned()
    } else {
        report.key_names().join(" · ")
    };
    let _ = writeln!(
        s,
        "<text x=\"{lx:.1}\" y=\"{:.1}\" style=\"{TEXT};font-weight:600\">{}</text>",
        TOP + 4.0,
        escape_html(&truncate(&heading, LEGEND_LABEL_CHARS + 8))
    );
    for (i, se) in series.iter().enumerate() {
        let y = TOP + 14.0 + 19.0 * i as f64;
        let _ = writeln!(
            s,
            "<g class=\"legend-item\" data-series=\"{i}\"><rect x=\"{lx:.1}\" y=\"{y:.1}\" width=\"11\" height=\"11\" fill=\"{}\"></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" style=\"{TEXT}\">{} <tspan style=\"fill:#777\">{:.1}%</tspan><title>{}</title></text></g>",
            se.color,
            lx + 16.0,
            y + 9.5,
            escape_html(&truncate(&se.label, LEGEND_LABEL_CHARS)),
            se.share * 100.0,
            escape_html(&se.label),
        );
    }
    s.push_str("</g>\n</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::super::CallMetadata;
    use super::super::{report::Aggregator, GroupKey, ReportQuery};
    use super::*;

    fn report(records: &[super::super::SpendRecord], keys: &[&str]) -> Report {
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
    fn ticks_are_round_numbers() {
        assert_eq!(nice_step(4.0), 1.0);
        assert_eq!(nice_step(0.9), 0.25);
        assert_eq!(nice_step(0.0033), 0.001);
        assert_eq!(step_decimals(0.25), 2);
        assert_eq!(step_decimals(1.0), 0);
        assert_eq!(step_decimals(0.001), 3);
    }

    #[test]
    fn bars_stack_by_group_per_day_with_the_rest_as_other() {
        let day = clock::MICROS_PER_DAY;
        let mut records = Vec::new();
        // Ten models over three days (none on the second): the two costliest get their
        // own colours... and so on up to eight; two fall into "other".
        for m in 0..10 {
            let cost = 10.0 - m as f64;
            records.push(record(&format!("m{m}"), cost, CallMetadata::default(), 0));
            records.push(record(
                &format!("m{m}"),
                cost,
                CallMetadata::default(),
                2 * day,
            ));
        }
        let r = report(&records, &["model"]);
        assert_eq!(r.interval, Interval::Day);
        assert_eq!(r.buckets, vec![0, day, 2 * day]);
        let svg = svg(&r, true);
        assert!(svg.starts_with("<?xml"));
        // 9 series (8 + other) on 2 days with costs.
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 18);
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 9);
        assert!(svg.contains("other (2 groups)"));
        assert!(svg.contains("Cost per day (USD), by model"));
        assert!(svg.contains(">1970-01-01</text>") && svg.contains(">01-03</text>"));
        // Each day's stack adds up to that day's cost.
        let day_total: f64 = svg
            .split("data-bucket=\"1970-01-03\" data-cost=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!((day_total - 55.0).abs() < 1e-9);
    }

    #[test]
    fn short_spans_use_hours_and_labels_are_escaped() {
        let hour = 3_600_000_000;
        let records = vec![
            record("<b>x</b>", 1.0, CallMetadata::default(), 5 * hour),
            record("<b>x</b>", 2.0, CallMetadata::default(), 7 * hour + 10),
        ];
        let r = report(&records, &["model"]);
        assert_eq!(r.interval, Interval::Hour);
        assert_eq!(r.buckets.len(), 3);
        assert_eq!(r.rows[0].timeline, vec![1.0, 0.0, 2.0]);
        let svg = svg(&r, false);
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(svg.contains(">01-01 05:00</text>"));
    }

    #[test]
    fn an_empty_report_says_so() {
        let r = report(&[], &["model"]);
        let svg = svg(&r, false);
        assert!(svg.contains("no calls in this period"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 0);
    }
}

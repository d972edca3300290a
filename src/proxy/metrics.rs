//! `GET /metrics`: Prometheus (OpenMetrics) text, via `prometheus-client`.
//!
//! Label values are bounded: the model group is one of the config's (else `unknown`), the
//! deployment one of its ids, the key alias one an admin set. No per-request or per-end-user
//! labels, so the number of series cannot grow with traffic.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::hooks::RequestRecord;

/// The labels of a request series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub route: &'static str,
    pub model_group: Arc<str>,
    pub deployment: Arc<str>,
    pub key_alias: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    route: &'static str,
    model_group: Arc<str>,
    deployment: Arc<str>,
    key_alias: Arc<str>,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    route: &'static str,
    model_group: Arc<str>,
    deployment: Arc<str>,
    key_alias: Arc<str>,
    error_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model_group: Arc<str>,
    deployment: Arc<str>,
    key_alias: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: &'static str,
    model_group: Arc<str>,
    deployment: Arc<str>,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~130 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    spend: Family<CallLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    latency: HistogramFamily<LatencyLabels>,
    ttft: HistogramFamily<LatencyLabels>,
    in_flight: Gauge,
    spend_dropped: Counter,
    spend_pending: Gauge,
    degraded: Counter,
    /// The config's model groups, each label value made once.
    groups: HashMap<String, Arc<str>>,
    unknown: Arc<str>,
    empty: Arc<str>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// `unknown` for a model group the config does not have (so a client cannot mint series).
const UNKNOWN: &str = "unknown";

impl Metrics {
    /// Metrics for a gateway serving `groups`.
    pub fn new(groups: impl IntoIterator<Item = String>) -> Self {
        let mut registry = Registry::with_prefix("llmswitch");
        let requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "requests",
            "Model requests by route, model group, deployment, key alias and outcome",
            requests.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "request_errors",
            "Failed model requests by exception class",
            errors.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens by model group, deployment, key alias and kind (prompt, completion)",
            tokens.clone(),
        );
        let spend = Family::<CallLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "spend_usd",
            "Spend in USD by model group, deployment and key alias",
            spend.clone(),
        );
        let latency: HistogramFamily<LatencyLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_latency_seconds",
            "Time from request arrival to the last byte",
            latency.clone(),
        );
        let ttft: HistogramFamily<LatencyLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "time_to_first_token_seconds",
            "Streams: time from request arrival to the first chunk",
            ttft.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "in_flight_requests",
            "Model requests being served",
            in_flight.clone(),
        );
        let spend_dropped = Counter::default();
        registry.register(
            "spend_log_dropped",
            "Spend-log records dropped because the write queue was full",
            spend_dropped.clone(),
        );
        let spend_pending = Gauge::default();
        registry.register(
            "spend_log_queue_rows",
            "Spend-log records accepted and not yet written to the database (queued, or in the batch being written)",
            spend_pending.clone(),
        );
        let degraded = Counter::default();
        registry.register(
            "shared_limits_degraded",
            "Requests admitted against this replica's own rate limits and budgets, and routing decisions made on its own deployment counters, because the shared counters' Redis was unavailable",
            degraded.clone(),
        );
        Metrics {
            degraded,
            registry,
            requests,
            errors,
            tokens,
            spend,
            latency,
            ttft,
            in_flight,
            spend_dropped,
            spend_pending,
            groups: groups
                .into_iter()
                .map(|g| {
                    let label = Arc::from(g.as_str());
                    (g, label)
                })
                .collect(),
            unknown: Arc::from(UNKNOWN),
            empty: Arc::from(""),
        }
    }

    fn group(&self, name: &str) -> Arc<str> {
        self.groups
            .get(name)
            .map_or_else(|| self.unknown.clone(), Arc::clone)
    }

    /// A model request started / ended (the in-flight gauge).
    pub fn started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Count a finished model request.
    pub fn observe(&self, r: &RequestRecord) {
        let model_group = self.group(&r.model_group);
        // Label values are shared, not copied, across the series a request touches.
        let deployment: Arc<str> = r
            .deployment
            .as_deref()
            .map_or_else(|| self.empty.clone(), Arc::from);
        let key_alias = r
            .principal
            .key_alias
            .clone()
            .unwrap_or_else(|| self.empty.clone());
        let route = r.route.as_str();
        self.requests
            .get_or_create(&StatusLabels {
                route,
                model_group: model_group.clone(),
                deployment: deployment.clone(),
                key_alias: key_alias.clone(),
                status: r.status.as_str(),
            })
            .inc();
        if let Some(class) = r.error {
            self.errors
                .get_or_create(&ErrorLabels {
                    route,
                    model_group: model_group.clone(),
                    deployment: deployment.clone(),
                    key_alias: key_alias.clone(),
                    error_class: class,
                })
                .inc();
        }
        let latency = LatencyLabels {
            route,
            model_group: model_group.clone(),
            deployment: deployment.clone(),
        };
        self.latency
            .get_or_create(&latency)
            .observe(r.latency.as_secs_f64());
        if let Some(t) = r.time_to_first_token {
            self.ttft.get_or_create(&latency).observe(t.as_secs_f64());
        }
        for (kind, n) in [
            ("prompt", r.prompt_tokens),
            ("completion", r.completion_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model_group: model_group.clone(),
                        deployment: deployment.clone(),
                        key_alias: key_alias.clone(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        if let Some(cost) = r.cost.filter(|c| *c > 0.0) {
            self.spend
                .get_or_create(&CallLabels {
                    route,
                    model_group,
                    deployment,
                    key_alias,
                })
                .inc_by(cost);
        }
    }

    /// The text exposition. `spend_dropped` is the spend sink's running count of dropped
    /// records, `spend_pending` the records it holds now.
    pub fn render(&self, spend_dropped: u64, spend_pending: u64) -> String {
        let seen = self.spend_dropped.get();
        if spend_dropped > seen {
            self.spend_dropped.inc_by(spend_dropped - seen);
        }
        self.spend_pending
            .set(i64::try_from(spend_pending).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Metrics {
    /// Bring `shared_limits_degraded` up to the running count of requests admitted against
    /// this replica's own limits (state plane) and routing decisions made on its own
    /// deployment counters (router) because Redis was unavailable.
    pub fn note_degraded(&self, degraded: u64) {
        let seen = self.degraded.get();
        if degraded > seen {
            self.degraded.inc_by(degraded - seen);
        }
    }
}

/// Counts a request in flight until dropped.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::hooks::RequestStatus;
    use crate::proxy::principal::{Principal, RouteKind};
    use std::time::Duration;

    fn record(group: &str) -> RequestRecord {
        RequestRecord {
            request_id: "r1".into(),
            route: RouteKind::ChatCompletions,
            started_at: 0,
            principal: Arc::new(Principal {
                key_alias: Some(Arc::from("team-a")),
                ..Principal::admin()
            }),
            end_user: Some("someone@example.com".into()),
            model_group: group.into(),
            deployment: Some("gpt-1".into()),
            model: Some("gpt-4o".into()),
            provider: Some("openai".into()),
            prompt_tokens: 10,
            completion_tokens: 5,
            cost: Some(0.25),
            latency: Duration::from_millis(20),
            time_to_first_token: Some(Duration::from_millis(5)),
            status: RequestStatus::Success,
            error: None,
            http_status: 200,
            tags: vec![],
            stream: true,
            attempts: 1,
        }
    }

    #[test]
    fn records_become_bounded_series() {
        let m = Metrics::new(["gpt".to_owned()]);
        m.observe(&record("gpt"));
        m.observe(&record("made-up-by-a-client"));
        let text = m.render(3, 17);
        assert!(text.contains(r#"llmswitch_requests_total{route="chat_completions",model_group="gpt",deployment="gpt-1",key_alias="team-a",status="success"} 1"#), "{text}");
        assert!(text.contains(r#"model_group="unknown""#));
        assert!(!text.contains("made-up-by-a-client"));
        assert!(!text.contains("someone@example.com"));
        assert!(text.contains(r#"kind="prompt"} 20"#) || text.contains(r#"kind="prompt"} 10"#));
        assert!(text.contains("llmswitch_time_to_first_token_seconds_bucket"));
        assert!(text.contains("llmswitch_spend_log_dropped_total 3"));
        assert!(text.contains("llmswitch_spend_log_queue_rows 17"), "{text}");
        assert!(text.contains("llmswitch_spend_usd_total"));
    }
}

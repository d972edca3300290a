//! Routing strategies: which of the available deployments of a group takes a call.
//! Filtering (cooldown, limits, capabilities) happens before, in the router; a strategy
//! only orders the candidates that are left.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::clock::minute_of;
use super::deployment::Deployment;
use super::usage::UsageCounters;
use crate::error::LlmError;

/// `routing_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Weighted random: by `weight`, else `rpm`, else `tpm`, else uniform.
    SimpleShuffle,
    /// Each deployment in turn.
    RoundRobin,
    /// Fewest calls in flight.
    LeastBusy,
    /// Lowest moving average of latency (time to first token for streams).
    LatencyBased,
    /// Cheapest deployment able to serve the request.
    CostBased,
    /// Least used this minute, never over its `rpm`/`tpm`.
    UsageBased,
}

impl Strategy {
    pub const NAMES: &'static [&'static str] = &[
        "simple-shuffle",
        "round-robin",
        "least-busy",
        "latency-based-routing",
        "cost-based-routing",
        "usage-based-routing",
        "usage-based-routing-v2",
    ];

    pub fn from_name(name: &str) -> Result<Strategy, LlmError> {
        Ok(match name {
            "simple-shuffle" | "shuffle" => Strategy::SimpleShuffle,
            "round-robin" | "round_robin" => Strategy::RoundRobin,
            "least-busy" => Strategy::LeastBusy,
            "latency-based-routing" => Strategy::LatencyBased,
            "cost-based-routing" => Strategy::CostBased,
            "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
            other => {
                return Err(LlmError::bad_request(format!(
                    "Unknown routing_strategy '{other}'. Known: {}",
                    Strategy::NAMES.join(", ")
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::SimpleShuffle => "simple-shuffle",
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastBusy => "least-busy",
            Strategy::LatencyBased => "latency-based-routing",
            Strategy::CostBased => "cost-based-routing",
            Strategy::UsageBased => "usage-based-routing",
        }
    }
}

/// What a deployment must be able to do: derived from the request (images, tools, a JSON
/// schema), plus what `min_capabilities` asks explicitly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub vision: bool,
    pub function_calling: bool,
    pub response_schema: bool,
    /// A context window of at least this many input tokens.
    pub max_input_tokens: Option<u64>,
}

impl Capabilities {
    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities {
            vision: self.vision || other.vision,
            function_calling: self.function_calling || other.function_calling,
            response_schema: self.response_schema || other.response_schema,
            max_input_tokens: match (self.max_input_tokens, other.max_input_tokens) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Capabilities::default()
    }

    fn set(&mut self, name: &str, on: bool) -> Result<(), String> {
        match name {
            "vision" | "supports_vision" => self.vision = on,
            "function_calling" | "tools" | "supports_function_calling" => {
                self.function_calling = on
            }
            "response_schema" | "json_schema" | "supports_response_schema" => {
                self.response_schema = on
            }
            other => {
                return Err(format!(
                    "unknown capability '{other}' (known: vision, function_calling, response_schema, max_input_tokens)"
                ))
            }
        }
        Ok(())
    }

    /// The first capability `d` is known to lack (unknown facts do not exclude).
    pub fn missing_in(&self, d: &Deployment) -> Option<&'static str> {
        let f = &d.facts;
        if self.vision && f.supports_vision == Some(false) {
            return Some("vision");
        }
        if self.function_calling && f.supports_function_calling == Some(false) {
            return Some("function_calling");
        }
        if self.response_schema && f.supports_response_schema == Some(false) {
            return Some("response_schema");
        }
        None
    }
}

/// `min_capabilities`: a list of names (`["vision", "tools"]`) or a map
/// (`{"vision": true, "max_input_tokens": 100000}`).
impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Names(Vec<String>),
            Map(std::collections::BTreeMap<String, serde_json::Value>),
        }
        let mut caps = Capabilities::default();
        match Form::deserialize(d)? {
            Form::Names(names) => {
                for n in names {
                    caps.set(&n, true).map_err(D::Error::custom)?;
                }
            }
            Form::Map(m) => {
                for (k, v) in m {
                    if k == "max_input_tokens" || k == "context_window" {
                        caps.max_input_tokens = Some(v.as_u64().ok_or_else(|| {
                            D::Error::custom(format!("{k} must be a non-negative integer"))
                        })?);
                    } else {
                        let on = v.as_bool().ok_or_else(|| {
                            D::Error::custom(format!("{k} must be true or false"))
                        })?;
                        caps.set(&k, on).map_err(D::Error::custom)?;
                    }
                }
            }
        }
        Ok(caps)
    }
}

/// A lock-free, seedable random source (wyrand over an atomic counter): every draw is one
/// `fetch_add`, and a seeded router makes the same choices for the same call sequence.
#[derive(Debug)]
pub struct Rng(AtomicU64);

const WY_INC: u64 = 0xa076_1d64_78bd_642f;
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

impl Rng {
    pub fn new(seed: Option<u64>) -> Rng {
        Rng(AtomicU64::new(seed.unwrap_or_else(|| fastrand::u64(..))))
    }

    pub fn next_u64(&self) -> u64 {
        let s = self
            .0
            .fetch_add(WY_INC, Ordering::Relaxed)
            .wrapping_add(WY_INC);
        let t = u128::from(s) * u128::from(s ^ WY_XOR);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Per-group strategy state.
#[derive(Debug, Default)]
pub struct GroupCursor {
    pub round_robin: AtomicUsize,
}

/// Inputs of a choice besides the candidates.
pub struct ChoiceContext<'a> {
    pub rng: &'a Rng,
    pub cursor: &'a GroupCursor,
    pub stream: bool,
    pub latency_buffer: f64,
    pub minute: u64,
    /// What other routers sharing the counters report (least-busy, usage-based).
    pub usage: &'a dyn UsageCounters,
}

/// Pick one of `candidates` (non-empty) by `strategy`; returns its position.
pub fn choose(
    strategy: Strategy,
    candidates: &[&Arc<Deployment>],
    cx: &ChoiceContext<'_>,
) -> usize {
    let n = candidates.len();
    if n <= 1 {
        return 0;
    }
    match strategy {
        Strategy::SimpleShuffle => weighted_shuffle(candidates, cx.rng),
        Strategy::RoundRobin => cx.cursor.round_robin.fetch_add(1, Ordering::Relaxed) % n,
        Strategy::LeastBusy => lowest(candidates, cx.rng, 0.0, |d| {
            f64::from(d.state.in_flight.load(Ordering::Relaxed))
                + cx.usage.others(d).in_flight as f64
        }),
        Strategy::LatencyBased => lowest(candidates, cx.rng, cx.latency_buffer, |d| {
            let s = &d.state;
            let v = if cx.stream {
                s.ttft.get().or_else(|| s.latency.get())
            } else {
                s.latency.get()
            };
            // Unmeasured deployments score 0, so each gets tried early.
            v.unwrap_or(0.0)
        }),
        Strategy::CostBased => lowest(candidates, cx.rng, 0.0, |d| d.facts.unit_cost()),
        Strategy::UsageBased => lowest(candidates, cx.rng, 0.0, |d| {
            // Tokens first; requests break ties between deployments with equal tokens.
            let others = cx.usage.others(d);
            (d.state.tokens_this_minute.get(cx.minute) + others.tokens) as f64
                + (d.state.requests_this_minute.get(cx.minute) + others.requests) as f64 * 1e-6
        }),
    }
}

/// Weighted random choice, LiteLLM's `simple-shuffle`: by `weight` if any candidate has
/// one, else by `rpm`, else by `tpm`, else uniform.
fn weighted_shuffle(candidates: &[&Arc<Deployment>], rng: &Rng) -> usize {
    let weight_of: Option<fn(&Deployment) -> f64> = if candidates.iter().any(|d| d.weight.is_some())
    {
        Some(|d| d.weight.unwrap_or(0.0))
    } else if candidates.iter().any(|d| d.rpm.is_some()) {
        Some(|d| d.rpm.unwrap_or(0) as f64)
    } else if candidates.iter().any(|d| d.tpm.is_some()) {
        Some(|d| d.tpm.unwrap_or(0) as f64)
    } else {
        None
    };
    let Some(weight_of) = weight_of else {
        return rng.below(candidates.len());
    };
    let total: f64 = candidates.iter().map(|d| weight_of(d)).sum();
    if total <= 0.0 || !total.is_finite() {
        return rng.below(candidates.len());
    }
    let mut point = rng.f64() * total;
    for (i, d) in candidates.iter().enumerate() {
        let w = weight_of(d);
        if point < w {
            return i;
        }
        point -= w;
    }
    // Rounding can leave `point` just past the end: the last positive weight takes it.
    candidates
        .iter()
        .rposition(|d| weight_of(d) > 0.0)
        .unwrap_or(0)
}

/// The candidate with the lowest score; candidates within `buffer` (a fraction) of the
/// lowest count as ties, and ties are broken at random.
fn lowest(
    candidates: &[&Arc<Deployment>],
    rng: &Rng,
    buffer: f64,
    score: impl Fn(&Deployment) -> f64,
) -> usize {
    let mut best = f64::INFINITY;
    for d in candidates {
        best = best.min(score(d));
    }
    let limit = if best.is_finite() {
        best + best.abs() * buffer.max(0.0)
    } else {
        f64::INFINITY
    };
    let ties = candidates.iter().filter(|d| score(d) <= limit).count();
    if ties == 0 {
        return rng.below(candidates.len());
    }
    let mut k = rng.below(ties);
    for (i, d) in candidates.iter().enumerate() {
        if score(d) <= limit {
            if k == 0 {
                return i;
            }
            k -= 1;
        }
    }
    0
}

/// The minute index used by usage-based routing, re-exported for the router.
pub fn current_minute(now: std::time::Duration) -> u64 {
    minute_of(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::config::DeploymentConfig;
    use crate::router::deployment::ModelFacts;
    use serde_json::json;

    fn dep(i: usize, params: serde_json::Value) -> Arc<Deployment> {
        let mut p = params;
        p["model"] = json!("openai/gpt-4o");
        let c: DeploymentConfig =
            serde_json::from_value(json!({"model_name": "g", "litellm_params": p})).unwrap();
        Arc::new(
            Deployment::from_config(i, &c, &Default::default(), &|_: &str, _: &str| {
                ModelFacts::default()
            })
            .unwrap(),
        )
    }

    fn cx<'a>(rng: &'a Rng, cursor: &'a GroupCursor) -> ChoiceContext<'a> {
        ChoiceContext {
            rng,
            cursor,
            stream: false,
            latency_buffer: 0.1,
            minute: 0,
            usage: &crate::router::usage::InProcess,
        }
    }

    fn counts(strategy: Strategy, deps: &[Arc<Deployment>], draws: usize, seed: u64) -> Vec<usize> {
        let rng = Rng::new(Some(seed));
        let cursor = GroupCursor::default();
        let refs: Vec<&Arc<Deployment>> = deps.iter().collect();
        let mut out = vec![0; deps.len()];
        for _ in 0..draws {
            out[choose(strategy, &refs, &cx(&rng, &cursor))] += 1;
        }
        out
    }

    #[test]
    fn names_round_trip() {
        for n in Strategy::NAMES {
            let s = Strategy::from_name(n).unwrap();
            assert_eq!(Strategy::from_name(s.name()).unwrap(), s);
        }
    }

    #[test]
    fn weights_split_traffic_in_proportion() {
        let deps = [dep(0, json!({"weight": 1})), dep(1, json!({"weight": 3}))];
        let c = counts(Strategy::SimpleShuffle, &deps, 40_000, 7);
        // Expected 10000 / 30000; 5 standard deviations is about 430.
        assert!((c[0] as i64 - 10_000).abs() < 450, "{c:?}");
        // A zero weight is never chosen.
        let deps = [dep(0, json!({"weight": 0})), dep(1, json!({"weight": 1}))];
        assert_eq!(counts(Strategy::SimpleShuffle, &deps, 1000, 1)[0], 0);
    }

    #[test]
    fn rpm_weights_when_no_weight() {
        let deps = [dep(0, json!({"rpm": 100})), dep(1, json!({"rpm": 300}))];
        let c = counts(Strategy::SimpleShuffle, &deps, 40_000, 3);
        assert!((c[0] as i64 - 10_000).abs() < 450, "{c:?}");
    }

    #[test]
    fn seeded_choices_repeat() {
        let deps = [dep(0, json!({})), dep(1, json!({})), dep(2, json!({}))];
        let refs: Vec<&Arc<Deployment>> = deps.iter().collect();
        let run = || {
            let rng = Rng::new(Some(42));
            let cursor = GroupCursor::default();
            (0..50)
                .map(|_| choose(Strategy::SimpleShuffle, &refs, &cx(&rng, &cursor)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn round_robin_cycles() {
        let deps = [dep(0, json!({})), dep(1, json!({})), dep(2, json!({}))];
        assert_eq!(
            counts(Strategy::RoundRobin, &deps, 300, 0),
            vec![100, 100, 100]
        );
    }

    #[test]
    fn least_busy_takes_the_idlest() {
        let deps = [dep(0, json!({})), dep(1, json!({})), dep(2, json!({}))];
        deps[0].state.in_flight.store(3, Ordering::Relaxed);
        deps[2].state.in_flight.store(1, Ordering::Relaxed);
        assert_eq!(counts(Strategy::LeastBusy, &deps, 100, 0), vec![0, 100, 0]);
    }

    #[test]
    fn latency_prefers_fast_and_spreads_near_ties() {
        let deps = [dep(0, json!({})), dep(1, json!({})), dep(2, json!({}))];
        deps[0].state.latency.record(500.0);
        deps[1].state.latency.record(100.0);
        deps[2].state.latency.record(105.0);
        let c = counts(Strategy::LatencyBased, &deps, 1000, 5);
        assert_eq!(c[0], 0);
        assert!(c[1] > 300 && c[2] > 300, "{c:?}");
        // Unmeasured deployments are explored first.
        let fresh = dep(3, json!({}));
        let all = [deps[0].clone(), deps[1].clone(), fresh];
        assert_eq!(counts(Strategy::LatencyBased, &all, 10, 1), vec![0, 0, 10]);
    }

    #[test]
    fn cost_takes_the_cheapest_known() {
        let deps = [
            dep(
                0,
                json!({"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5}),
            ),
            dep(
                1,
                json!({"input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7}),
            ),
            dep(2, json!({})),
        ];
        assert_eq!(counts(Strategy::CostBased, &deps, 50, 0), vec![0, 50, 0]);
    }

    #[test]
    fn capabilities_parse_both_forms() {
        let c: Capabilities = serde_json::from_value(json!(["vision", "tools"])).unwrap();
        assert!(c.vision && c.function_calling && !c.response_schema);
        let c: Capabilities =
            serde_json::from_value(json!({"response_schema": true, "max_input_tokens": 1000}))
                .unwrap();
        assert!(c.response_schema);
        assert_eq!(c.max_input_tokens, Some(1000));
        assert!(serde_json::from_value::<Capabilities>(json!(["telepathy"])).is_err());
    }
}

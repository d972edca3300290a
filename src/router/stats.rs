//! `router.stats()`: a snapshot of every deployment's live state.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::clock::minute_of;
use super::deployment::Deployment;

/// One deployment's state at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeploymentStats {
    pub model_id: String,
    pub model_group: String,
    pub model: String,
    pub api_base: Option<String>,
    pub in_flight: u32,
    pub successes: u64,
    pub failures: u64,
    pub failures_this_minute: u64,
    pub requests_this_minute: u64,
    pub tokens_this_minute: u64,
    /// Moving average of the full response time, ms.
    pub latency_ms: Option<f64>,
    /// Moving average of the time to the first chunk of streams, ms.
    pub ttft_ms: Option<f64>,
    pub cooling_down: bool,
    /// Seconds of cooldown left.
    pub cooldown_remaining: Option<f64>,
    /// Times the deployment entered a cooldown.
    pub cooldowns: u64,
    /// Hedge attempts sent to it, and attempts on it cancelled because another won.
    pub hedges: u64,
    pub cancelled: u64,
    /// USD spent on this deployment (answered calls, and the prompt of cancelled hedges).
    pub spend: f64,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub weight: Option<f64>,
    pub order: Option<u32>,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    pub max_input_tokens: Option<u64>,
}

pub fn snapshot(d: &Deployment, now: Duration) -> DeploymentStats {
    let s = &d.state;
    let minute = minute_of(now);
    let left = s.cooldown_left(now);
    DeploymentStats {
        model_id: d.id.clone(),
        model_group: d.model_group.clone(),
        model: d.model.clone(),
        api_base: d
            .target
            .api_base
            .as_deref()
            .map(|b| crate::redact::url_for_display(b).into_owned()),
        in_flight: s.in_flight.load(Ordering::Relaxed),
        successes: s.successes.load(Ordering::Relaxed),
        failures: s.failures.load(Ordering::Relaxed),
        failures_this_minute: s.fails_this_minute.get(minute),
        requests_this_minute: s.requests_this_minute.get(minute),
        tokens_this_minute: s.tokens_this_minute.get(minute),
        latency_ms: s.latency.get(),
        ttft_ms: s.ttft.get(),
        cooling_down: left.is_some(),
        cooldown_remaining: left.map(|d| d.as_secs_f64()),
        cooldowns: s.cooldowns.load(Ordering::Relaxed),
        hedges: s.hedges.load(Ordering::Relaxed),
        cancelled: s.cancelled.load(Ordering::Relaxed),
        spend: s.spend.get(),
        rpm: d.rpm,
        tpm: d.tpm,
        weight: d.weight,
        order: d.order,
        input_cost_per_token: d.facts.input_cost_per_token,
        output_cost_per_token: d.facts.output_cost_per_token,
        max_input_tokens: d.facts.max_input_tokens,
    }
}

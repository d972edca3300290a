//! What a call cost, in USD, from its token usage and the [`crate::catalog`] prices.
//!
//! Prompt tokens include cached ones (as OpenAI reports them, and as llmswitch reports
//! Anthropic's): tokens read from the prompt cache are billed at the cache-read price,
//! tokens written to it at the cache-write price (Anthropic's 1.25×, or 2× for the 1-hour
//! cache), the rest at the input price. Reasoning tokens are part of the completion tokens
//! and billed at the reasoning price where a model has one. A prompt over 200k tokens bills
//! the whole request at the long-context tier where the model has one.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, ModelInfo};
use crate::types::Usage;

/// Prompts longer than this use the `*_above_200k_tokens` prices (unless the model sets
/// its own `long_context_threshold_tokens`).
pub const LONG_CONTEXT_THRESHOLD: u64 = 200_000;

/// Token counts that drive a cost, split by how they are billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// All prompt tokens, cache reads and writes included.
    pub prompt_tokens: u64,
    /// All completion tokens, reasoning included.
    pub completion_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the cache (5-minute cache, or all of them when the
    /// provider does not split by lifetime).
    pub cache_creation_input_tokens: u64,
    /// Of `cache_creation_input_tokens`, those written to the 1-hour cache.
    pub cache_creation_1h_input_tokens: u64,
    /// Completion tokens spent reasoning.
    pub reasoning_tokens: u64,
    /// Prompt tokens that were audio.
    pub audio_input_tokens: u64,
    /// Completion tokens that were audio.
    pub audio_output_tokens: u64,
}

impl TokenCounts {
    /// Plain prompt and completion counts.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        TokenCounts {
            prompt_tokens,
            completion_tokens,
            ..Default::default()
        }
    }
}

impl From<&Usage> for TokenCounts {
    fn from(u: &Usage) -> Self {
        let creation = u
            .cache_creation_input_tokens
            .or_else(|| {
                u.prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.extra.get("cache_creation_tokens"))
                    .and_then(Value::as_u64)
            })
            .unwrap_or(0);
        let creation_1h = u
            .extra
            .get("cache_creation_token_details")
            .and_then(|d| d.get("ephemeral_1h_input_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        TokenCounts {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cache_read_input_tokens: u.cached_tokens(),
            cache_creation_input_tokens: creation,
            cache_creation_1h_input_tokens: creation_1h.min(creation),
            reasoning_tokens: u.reasoning_tokens(),
            audio_input_tokens: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.audio_tokens)
                .unwrap_or(0),
            audio_output_tokens: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.audio_tokens)
                .unwrap_or(0),
        }
    }
}

/// Prices given on a call (`custom_cost_per_token=`, `input_cost_per_token=`), which win
/// over the catalogue. USD per token; a price not given is the catalogue's (or 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomPricing {
    #[serde(default)]
    pub input_cost_per_token: Option<f64>,
    #[serde(default)]
    pub output_cost_per_token: Option<f64>,
}

impl CustomPricing {
    /// The prices as a catalogue entry: flat input and output prices, no cache or
    /// reasoning discounts (the caller's prices are the whole story).
    pub fn to_info(&self, provider: &str, model: &str) -> ModelInfo {
        let missing = self.input_cost_per_token.is_none() || self.output_cost_per_token.is_none();
        let known = if missing {
            catalog::model_info(provider, model)
        } else {
            None
        };
        let known_price = |f: fn(&ModelInfo) -> Option<f64>| known.as_deref().and_then(f);
        ModelInfo {
            input_cost_per_token: self
                .input_cost_per_token
                .or_else(|| known_price(|i| i.input_cost_per_token)),
            output_cost_per_token: self
                .output_cost_per_token
                .or_else(|| known_price(|i| i.output_cost_per_token)),
            ..Default::default()
        }
    }
}

/// `(prompt_cost, completion_cost)` of `tokens` at `info`'s prices.
pub fn cost_with(info: &ModelInfo, tokens: &TokenCounts) -> (f64, f64) {
    let long = tokens.prompt_tokens
        > info
            .long_context_threshold_tokens
            .unwrap_or(LONG_CONTEXT_THRESHOLD);
    let tiered = |base: Option<f64>, above: Option<f64>| -> f64 {
        let base = base.unwrap_or(0.0);
        if long {
            above.unwrap_or(base)
        } else {
            base
        }
    };
    let input = tiered(
        info.input_cost_per_token,
        info.input_cost_per_token_above_200k_tokens,
    );
    let output = tiered(
        info.output_cost_per_token,
        info.output_cost_per_token_above_200k_tokens,
    );
    let cache_read = if long {
        info.cache_read_input_token_cost_above_200k_tokens
            .or(info.cache_read_input_token_cost)
    } else {
        info.cache_read_input_token_cost
    }
    .unwrap_or(input);
    let cache_write = if long {
        info.cache_creation_input_token_cost_above_200k_tokens
            .or(info.cache_creation_input_token_cost)
    } else {
        info.cache_creation_input_token_cost
    }
    .unwrap_or(input);
    let cache_write_1h = info
        .cache_creation_input_token_cost_above_1hr
        .unwrap_or(cache_write);
    let audio_in = info.input_cost_per_audio_token.unwrap_or(input);
    let audio_out = info.output_cost_per_audio_token.unwrap_or(output);
    let reasoning = info.output_cost_per_reasoning_token.unwrap_or(output);

    let creation_1h = tokens
        .cache_creation_1h_input_tokens
        .min(tokens.cache_creation_input_tokens);
    let creation_5m = tokens.cache_creation_input_tokens - creation_1h;
    let text_in = tokens
        .prompt_tokens
        .saturating_sub(tokens.cache_read_input_tokens)
        .saturating_sub(tokens.cache_creation_input_tokens)
        .saturating_sub(tokens.audio_input_tokens);
    let prompt_cost = text_in as f64 * input
        + tokens.cache_read_input_tokens as f64 * cache_read
        + creation_5m as f64 * cache_write
        + creation_1h as f64 * cache_write_1h
        + tokens.audio_input_tokens as f64 * audio_in;

    let text_out = tokens
        .completion_tokens
        .saturating_sub(tokens.reasoning_tokens)
        .saturating_sub(tokens.audio_output_tokens);
    let completion_cost = text_out as f64 * output
        + tokens.reasoning_tokens as f64 * reasoning
        + tokens.audio_output_tokens as f64 * audio_out;
    (prompt_cost, completion_cost)
}

/// `(prompt_cost, completion_cost)` in USD of `tokens` on `provider`/`model`, or `None`
/// when the model is not in the catalogue.
pub fn cost_per_token(provider: &str, model: &str, tokens: &TokenCounts) -> Option<(f64, f64)> {
    let info = catalog::model_info(provider, model)?;
    Some(cost_with(&info, tokens))
}

/// The total cost in USD of a response's `usage` on `provider`/`model`, or `None` when the
/// model is not in the catalogue.
pub fn completion_cost(provider: &str, model: &str, usage: &Usage) -> Option<f64> {
    let (p, c) = cost_per_token(provider, model, &TokenCounts::from(usage))?;
    Some(p + c)
}

/// The cost of a call: custom prices when given, else the catalogue's.
pub fn call_cost(
    provider: &str,
    model: &str,
    usage: &Usage,
    custom: Option<&CustomPricing>,
) -> Option<f64> {
    match custom {
        Some(prices) => {
            let info = prices.to_info(provider, model);
            let (p, c) = cost_with(&info, &TokenCounts::from(usage));
            Some(p + c)
        }
        None => completion_cost(provider, model, usage),
    }
}

/// An upper bound on what a request can cost before it is sent, for budgets: its counted
/// prompt tokens at the input price plus the most output it can produce (`max_tokens`, else
/// the model's output limit) at the output price (or the reasoning price, if higher).
/// `None` when the model has no price or no output bound is known.
pub fn max_request_cost(
    provider: &str,
    model: &str,
    request: &crate::types::ChatRequest,
    custom: Option<&CustomPricing>,
) -> Option<f64> {
    let known = catalog::model_info(provider, model);
    let info = match custom {
        Some(prices) => prices.to_info(provider, model),
        None => ModelInfo::clone(known.as_deref()?),
    };
    let limit = known.and_then(|i| i.output_limit());
    let max_output = request.max_output_tokens().map(u64::from).or(limit)?;
    let prompt = crate::tokens::count_request_tokens(provider, model, request);
    let mut worst = info.clone();
    worst.output_cost_per_token = [
        info.output_cost_per_token,
        info.output_cost_per_reasoning_token,
        info.output_cost_per_token_above_200k_tokens,
    ]
    .into_iter()
    .flatten()
    .reduce(f64::max);
    let (p, c) = cost_with(&worst, &TokenCounts::new(prompt, max_output));
    Some(p + c)
}

/// Whether this is the first time `provider`/`model` was found to have no price, so that
/// callers warn once per model rather than on every call.
pub fn first_unpriced(provider: &str, model: &str) -> bool {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut guard = match SEEN.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    guard
        .get_or_insert_with(HashSet::new)
        .insert(format!("{provider}/{model}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CompletionTokensDetails, PromptTokensDetails};
    use serde_json::json;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 + 1e-9 * b.abs()
    }

    #[test]
    fn plain_prompt_and_completion() {
        let info = catalog::model_info("openai", "gpt-4o").unwrap();
        let (p, c) = cost_per_token("openai", "gpt-4o", &TokenCounts::new(1000, 500)).unwrap();
        assert!(close(p, 1000.0 * info.input_cost_per_token.unwrap()));
        assert!(close(c, 500.0 * info.output_cost_per_token.unwrap()));
        assert!(close(p, 0.0025));
        assert!(close(c, 0.005));
    }

    #[test]
    fn openai_cached_tokens_at_cache_read_price() {
        let usage = Usage {
            prompt_tokens: 2000,
            completion_tokens: 100,
            total_tokens: 2100,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(1500),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cost = completion_cost("openai", "gpt-4o", &usage).unwrap();
        let expected = 500.0 * 2.5e-6 + 1500.0 * 1.25e-6 + 100.0 * 10e-6;
        assert!(close(cost, expected), "{cost} vs {expected}");
    }

    #[test]
    fn anthropic_cache_write_and_read() {
        let usage: Usage = serde_json::from_value(json!({
            "prompt_tokens": 10_000 + 3_000 + 500, "completion_tokens": 200, "total_tokens": 13_700,
            "cache_creation_input_tokens": 3_000, "cache_read_input_tokens": 10_000,
            "cache_creation_token_details": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 1_000}
        }))
        .unwrap();
        let cost = completion_cost("anthropic", "claude-sonnet-4-20250514", &usage).unwrap();
        let expected =
            500.0 * 3e-6 + 10_000.0 * 0.3e-6 + 2_000.0 * 3.75e-6 + 1_000.0 * 6e-6 + 200.0 * 15e-6;
        assert!(close(cost, expected), "{cost} vs {expected}");
    }

    #[test]
    fn long_context_tier_and_reasoning_price() {
        let info = ModelInfo {
            input_cost_per_token: Some(1.0),
            output_cost_per_token: Some(2.0),
            input_cost_per_token_above_200k_tokens: Some(10.0),
            output_cost_per_token_above_200k_tokens: Some(20.0),
            output_cost_per_reasoning_token: Some(3.0),
            ..Default::default()
        };
        let short = TokenCounts {
            prompt_tokens: 100,
            completion_tokens: 50,
            reasoning_tokens: 30,
            ..Default::default()
        };
        assert_eq!(cost_with(&info, &short), (100.0, 20.0 * 2.0 + 30.0 * 3.0));
        let long = TokenCounts::new(200_001, 1);
        assert_eq!(cost_with(&info, &long), (2_000_010.0, 20.0));
        // A model's own threshold.
        let early = ModelInfo {
            long_context_threshold_tokens: Some(100),
            ..info.clone()
        };
        assert_eq!(cost_with(&early, &TokenCounts::new(101, 1)), (1010.0, 20.0));
        assert_eq!(cost_with(&early, &TokenCounts::new(100, 1)), (100.0, 2.0));
    }

    #[test]
    fn reasoning_tokens_from_usage() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 100,
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(60),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = TokenCounts::from(&usage);
        assert_eq!(t.reasoning_tokens, 60);
        let info = ModelInfo {
            output_cost_per_token: Some(1.0),
            ..Default::default()
        };
        // Without a separate reasoning price, reasoning is billed as output.
        assert_eq!(cost_with(&info, &t).1, 100.0);
    }

    #[test]
    fn unknown_model_and_custom_prices() {
        let usage = Usage::new(10, 20);
        assert_eq!(completion_cost("groq", "no-such-model-here", &usage), None);
        let custom = CustomPricing {
            input_cost_per_token: Some(1.0),
            output_cost_per_token: Some(2.0),
        };
        assert_eq!(
            call_cost("groq", "no-such-model-here", &usage, Some(&custom)),
            Some(50.0)
        );
        // A price not given comes from the catalogue.
        let input_only = CustomPricing {
            input_cost_per_token: Some(1.0),
            output_cost_per_token: None,
        };
        let cost = call_cost("openai", "gpt-4o", &usage, Some(&input_only)).unwrap();
        assert!(close(cost, 10.0 + 20.0 * 10e-6), "{cost}");
        assert_eq!(call_cost("mock", "x", &usage, None), Some(0.0));
        assert!(first_unpriced("groq", "first-unpriced-test"));
        assert!(!first_unpriced("groq", "first-unpriced-test"));
    }

    #[test]
    fn max_request_cost_bounds_a_call() {
        use crate::types::{ChatRequest, Message};
        let mut req = ChatRequest::new("gpt-4o", vec![Message::user("hi")]);
        req.params.max_tokens = Some(100);
        let bound = max_request_cost("openai", "gpt-4o", &req, None).unwrap();
        assert!(close(bound, 8.0 * 2.5e-6 + 100.0 * 10e-6), "{bound}");
        // Without max_tokens, the model's output limit bounds it.
        req.params.max_tokens = None;
        let bound = max_request_cost("openai", "gpt-4o", &req, None).unwrap();
        assert!(close(bound, 8.0 * 2.5e-6 + 16384.0 * 10e-6), "{bound}");
        assert!(max_request_cost("groq", "unknown-model-zz", &req, None).is_none());
    }

    #[test]
    fn never_negative_when_details_exceed_totals() {
        let t = TokenCounts {
            prompt_tokens: 10,
            cache_read_input_tokens: 50,
            ..Default::default()
        };
        let info = ModelInfo {
            input_cost_per_token: Some(1.0),
            cache_read_input_token_cost: Some(0.1),
            ..Default::default()
        };
        let (p, _) = cost_with(&info, &t);
        assert!(p >= 0.0);
    }
}

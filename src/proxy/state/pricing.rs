//! What a request to a model group may cost, for budget admission before it is routed:
//! its prompt and output allowance at the group's most expensive deployment.

use std::collections::HashMap;

use crate::budget::DEFAULT_PROJECTED_OUTPUT_TOKENS;
use crate::router::deployment::cost_of;
use crate::router::{ModelFacts, Router};

/// Prices of each model group's deployments.
#[derive(Debug, Clone, Default)]
pub struct GroupPrices {
    groups: HashMap<String, Vec<ModelFacts>>,
}

impl GroupPrices {
    pub fn from_router(router: &Router) -> Self {
        let mut groups: HashMap<String, Vec<ModelFacts>> = HashMap::new();
        for d in router.deployments() {
            groups
                .entry(d.model_group.clone())
                .or_default()
                .push(d.facts.clone());
        }
        GroupPrices { groups }
    }

    /// USD: `prompt_tokens` plus `max_output_tokens` (else up to
    /// [`DEFAULT_PROJECTED_OUTPUT_TOKENS`], capped at the model's output limit) at the
    /// group's highest-priced deployment; 0 for a group without prices.
    pub fn projected_cost(
        &self,
        group: &str,
        prompt_tokens: u64,
        max_output_tokens: Option<u64>,
    ) -> f64 {
        let Some(deployments) = self.groups.get(group) else {
            return 0.0;
        };
        deployments
            .iter()
            .filter_map(|f| {
                let output = max_output_tokens.unwrap_or_else(|| {
                    f.max_output_tokens
                        .map_or(DEFAULT_PROJECTED_OUTPUT_TOKENS, |l| {
                            l.min(DEFAULT_PROJECTED_OUTPUT_TOKENS)
                        })
                });
                cost_of(f, prompt_tokens, output)
            })
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::RouterConfig;
    use serde_json::json;

    #[test]
    fn projections_take_the_dearest_deployment_of_the_group() {
        let config = RouterConfig::from_proxy_config(json!({
            "model_list": [
                {"model_name": "g", "litellm_params": {"model": "openai/a", "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}},
                {"model_name": "g", "litellm_params": {"model": "openai/b", "input_cost_per_token": 0.003, "output_cost_per_token": 0.001}},
                {"model_name": "free", "litellm_params": {"model": "openai/unpriced-model-xyz"}}
            ]
        }))
        .unwrap();
        let router = Router::new(config).unwrap();
        let prices = GroupPrices::from_router(&router);
        // a: 10 × 0.001 + 100 × 0.002 = 0.21; b: 10 × 0.003 + 100 × 0.001 = 0.13.
        assert!((prices.projected_cost("g", 10, Some(100)) - 0.21).abs() < 1e-12);
        // Without max_tokens: 1,024 output tokens.
        assert!((prices.projected_cost("g", 0, None) - 2.048).abs() < 1e-12);
        assert_eq!(prices.projected_cost("free", 10, Some(10)), 0.0);
        assert_eq!(prices.projected_cost("nope", 10, Some(10)), 0.0);
    }
}

"""``litellm.cost_calculator``: cost of a response or of token counts."""

from llmswitch import completion_cost, cost_per_token

__all__ = ["completion_cost", "cost_per_token"]

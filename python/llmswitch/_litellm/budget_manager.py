"""``litellm.budget_manager``: ``BudgetManager`` (llmswitch's)."""

from llmswitch import BudgetManager

__all__ = ["BudgetManager"]

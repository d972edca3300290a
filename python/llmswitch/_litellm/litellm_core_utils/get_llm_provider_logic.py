"""``litellm.litellm_core_utils.get_llm_provider_logic``."""

from llmswitch import get_llm_provider

__all__ = ["get_llm_provider"]

"""``litellm.types.llms``."""

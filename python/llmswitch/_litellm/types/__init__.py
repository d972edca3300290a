"""``litellm.types``."""

"""``litellm.router``: ``Router`` (llmswitch's)."""

from llmswitch import Router

__all__ = ["Router"]

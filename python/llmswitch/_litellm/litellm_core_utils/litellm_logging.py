"""``litellm.litellm_core_utils.litellm_logging``: LiteLLM's per-call logging object. llmswitch
reports calls to callbacks itself (see docs/callbacks.md); this class exists for code that
names it in annotations or ``isinstance`` checks."""

from __future__ import annotations

from typing import Any


class Logging:
    """A call's logging record (LiteLLM's ``Logging``): holds the call's details."""

    def __init__(self, model: str = "", messages: Any = None, stream: bool = False, **kwargs: Any) -> None:
        self.model = model
        self.messages = messages
        self.stream = stream
        self.model_call_details: dict[str, Any] = dict(kwargs)


__all__ = ["Logging"]

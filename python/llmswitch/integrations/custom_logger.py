"""``CustomLogger``: subclass it and put an instance in ``llmswitch.callbacks`` to observe
every call, as with LiteLLM's class of the same name.

Every hook receives ``kwargs`` (the call as LiteLLM describes it: ``model``, ``messages``,
``optional_params``, ``litellm_params`` with ``metadata``, ``response_cost``,
``standard_logging_object``, ...), the response (or ``None`` on failure) and the start and
end times as ``datetime`` objects. Blocking calls run the ``log_*`` hooks; async calls
(``acompletion``, ``aembedding``, ``Router.acompletion``) run the ``async_log_*`` hooks as
tasks on the caller's event loop. An exception raised in a hook is logged on the
``llmswitch`` logger and never reaches the call.
"""

from __future__ import annotations

from typing import Any


class CustomLogger:
    """Base class of logging callbacks: override the hooks you need."""

    def log_pre_api_call(self, model: str, messages: Any, kwargs: dict[str, Any]) -> None:
        """Called before the request is sent (blocking and async calls)."""

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A blocking call succeeded (for a stream: it ended; ``response_obj`` is rebuilt)."""

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A blocking call failed; the exception is ``kwargs["exception"]``."""

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call succeeded (for a stream: it ended; ``response_obj`` is rebuilt)."""

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """An async call failed; the exception is ``kwargs["exception"]``."""

"""LiteLLM-style logging callbacks: ``llmswitch.success_callback``, ``failure_callback`` and
``callbacks`` (functions and :class:`~llmswitch.integrations.custom_logger.CustomLogger`
instances).

The native layer imports this module only once one of those lists is non-empty, and then
calls :func:`start` when a call begins; the returned :class:`CallLog` hears how the call
ends (response, stream chunks, or exception). Nothing here runs for calls made while the
lists are empty.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import traceback
import uuid
from typing import Any, Callable

import llmswitch

from .integrations.custom_logger import CustomLogger

_log = logging.getLogger("llmswitch")

# Call options that are not model parameters, and anything that may hold a secret: kept out
# of `optional_params`, which callbacks commonly ship to logging services.
_NOT_PARAMS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "timeout",
        "request_timeout",
        "num_retries",
        "drop_params",
        "mock_response",
        "mock_tool_calls",
        "mock_delay",
        "metadata",
        "litellm_metadata",
        "extra_headers",
        "headers",
        "custom_llm_provider",
        "stream",
        "messages",
        "input",
        "model",
    }
)
_SECRET_HINTS = ("key", "secret", "token", "credential", "password")

# Tasks of async hooks, kept referenced until done (the event loop holds only weak ones).
_tasks: set[asyncio.Task[Any]] = set()


_warned: set[tuple[str, str]] = set()


def _entries() -> tuple[list[Any], list[Any]]:
    """(success, failure) entries, each a function or a CustomLogger. Others (LiteLLM's
    integrations named by string, such as ``"langfuse"``) are skipped, with one warning
    each."""
    success: list[Any] = []
    failure: list[Any] = []
    for name, targets in (
        ("success_callback", (success,)),
        ("_async_success_callback", (success,)),
        ("failure_callback", (failure,)),
        ("callbacks", (success, failure)),
    ):
        for entry in getattr(llmswitch, name, None) or ():
            if not (isinstance(entry, CustomLogger) or callable(entry)):
                key = (name, repr(entry))
                if key not in _warned:
                    _warned.add(key)
                    _log.warning(
                        "llmswitch.%s contains %r, which is neither a function nor a "
                        "CustomLogger: skipped (llmswitch ships no logging integrations by name; "
                        "pass a function (kwargs, response, start_time, end_time) or a "
                        "CustomLogger instance)",
                        name,
                        entry,
                    )
                continue
            for target in targets:
                if entry not in target:
                    target.append(entry)
    return success, failure


def start(
    call_type: str, model: str, messages: Any, kwargs: dict[str, Any] | None, is_async: bool
) -> CallLog | None:
    """A call begins: the log that will report its outcome, or ``None`` if nobody listens."""
    success, failure = _entries()
    if not success and not failure:
        return None
    return CallLog(call_type, model, messages, dict(kwargs or {}), is_async, success, failure)


def _now() -> datetime.datetime:
    return datetime.datetime.now()


def _optional_params(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in kwargs.items()
        if k not in _NOT_PARAMS and not any(hint in k.lower() for hint in _SECRET_HINTS)
    }


class CallLog:
    """One call's record for the callbacks."""

    def __init__(
        self,
        call_type: str,
        model: str,
        messages: Any,
        kwargs: dict[str, Any],
        is_async: bool,
        success: list[Any],
        failure: list[Any],
    ) -> None:
        self.call_type = call_type
        self.model = model
        self.messages = messages
        self.call_kwargs = kwargs
        # The model parameters, filtered once; each hook gets its own copy.
        self.optional_params = _optional_params(kwargs)
        self.success_entries = success
        self.failure_entries = failure
        # Async calls start inside the caller's loop; their hooks are delivered there.
        self.loop = asyncio.get_running_loop() if is_async else None
        self.call_id = str(uuid.uuid4())
        self.start_time = _now()
        self.first_chunk_time: datetime.datetime | None = None
        self.chunks: list[Any] = []
        loggers = [e for e in {id(e): e for e in success + failure}.values() if isinstance(e, CustomLogger)]
        if loggers:
            # What is known before the request: the call without its options or secrets.
            pre = {
                "model": model,
                "messages": messages,
                "optional_params": dict(self.optional_params),
                "litellm_params": {"metadata": self._metadata(), "litellm_call_id": self.call_id},
                "litellm_call_id": self.call_id,
                "call_type": call_type,
                "stream": bool(kwargs.get("stream")),
            }
            for logger in loggers:
                self._guard(logger.log_pre_api_call, model, messages, pre)

    # -- outcome, reported by the native layer (any thread, GIL held) ---------------------

    def success(self, response: Any) -> None:
        """The call returned ``response``."""
        self._deliver(self._dispatch, response, None, _now())

    def chunk(self, chunk: Any) -> None:
        """A stream handed out ``chunk``."""
        if self.first_chunk_time is None:
            self.first_chunk_time = _now()
        self.chunks.append(chunk)

    def stream_end(self) -> None:
        """The stream ended normally: report the response rebuilt from its chunks."""
        end = _now()
        first = dict(getattr(self.chunks[0], "_hidden_params", None) or {}) if self.chunks else {}
        response = llmswitch.stream_chunk_builder(self.chunks, messages=self.messages)
        if first.get("cache_hit"):
            # A stream replayed from the response cache.
            response._hidden_params["cache_hit"] = True
        self.chunks = []
        self._deliver(self._dispatch, response, None, end)

    def failure(self, exception: BaseException) -> None:
        """The call (or its stream) raised ``exception``."""
        self._deliver(self._dispatch, None, exception, _now())

    # -- delivery ------------------------------------------------------------------------

    def _deliver(self, fn: Callable[..., None], *args: Any) -> None:
        if self.loop is None:
            fn(*args)
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop has closed: async hooks cannot run any more
            _log.warning("llmswitch callbacks: event loop closed before call %s was logged", self.call_id)

    def _dispatch(self, response: Any, exception: BaseException | None, end: datetime.datetime) -> None:
        kwargs = self._kwargs(response, exception, end)
        is_async = self.loop is not None
        entries = self.failure_entries if exception is not None else self.success_entries
        for entry in entries:
            if isinstance(entry, CustomLogger):
                hook: Callable[..., Any]
                if is_async:
                    hook = entry.async_log_failure_event if exception else entry.async_log_success_event
                else:
                    hook = entry.log_failure_event if exception else entry.log_success_event
                self._guard(hook, kwargs, response, self.start_time, end)
            elif inspect.iscoroutinefunction(entry):
                if is_async:  # as LiteLLM: async functions run for async calls only
                    self._guard(entry, kwargs, response, self.start_time, end)
            else:
                self._guard(entry, kwargs, response, self.start_time, end)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a hook; its exception is logged, never raised into the call."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result, loop=self.loop)
                _tasks.add(task)
                task.add_done_callback(_task_done)
        except Exception:
            _log.exception("llmswitch callback %r raised", fn)

    def _metadata(self) -> dict[str, Any]:
        return dict(self.call_kwargs.get("metadata") or self.call_kwargs.get("litellm_metadata") or {})

    def _kwargs(
        self, response: Any, exception: BaseException | None, end: datetime.datetime
    ) -> dict[str, Any]:
        """The call as LiteLLM's callbacks receive it (``model_call_details``)."""
        hidden = dict(getattr(response, "_hidden_params", None) or {})
        provider = hidden.get("custom_llm_provider") or getattr(exception, "llm_provider", None)
        model = hidden.get("model") or getattr(exception, "model", None) or self.model
        metadata = self._metadata()
        usage = (response.get("usage") if isinstance(response, dict) else None) or {}
        stream = bool(self.call_kwargs.get("stream"))
        cost = hidden.get("response_cost")
        start_ts, end_ts = self.start_time.timestamp(), end.timestamp()
        first = self.first_chunk_time.timestamp() if self.first_chunk_time else end_ts
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": self.messages,
            "optional_params": dict(self.optional_params),
            "litellm_params": {
                "metadata": metadata,
                "custom_llm_provider": provider,
                "api_base": hidden.get("api_base"),
                "litellm_call_id": self.call_id,
                "model_info": {"id": hidden.get("model_id")},
                "acompletion": self.loop is not None,
            },
            "litellm_call_id": self.call_id,
            "call_type": self.call_type,
            "stream": stream,
            "custom_llm_provider": provider,
            "start_time": self.start_time,
            "end_time": end,
            "response_cost": cost,
            "cache_hit": bool(hidden.get("cache_hit")),
            "standard_logging_object": {
                "id": self.call_id,
                "trace_id": self.call_id,
                "call_type": self.call_type,
                "stream": stream,
                "status": "failure" if exception is not None else "success",
                "response_cost": cost or 0.0,
                "custom_llm_provider": provider,
                "model": model,
                "model_id": hidden.get("model_id"),
                "model_group": hidden.get("model_group"),
                "api_base": hidden.get("api_base") or "",
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
                "startTime": start_ts,
                "endTime": end_ts,
                "completionStartTime": first,
                "response_time": end_ts - start_ts,
                "metadata": metadata,
                "request_tags": list(metadata.get("tags") or []),
                "end_user": self.call_kwargs.get("user") or metadata.get("user"),
                "messages": self.messages,
                "response": response,
                "model_parameters": dict(self.optional_params),
                "hidden_params": hidden,
                "cache_hit": bool(hidden.get("cache_hit")),
                "cache_key": hidden.get("cache_key"),
                "error_str": str(exception) if exception is not None else None,
            },
        }
        if stream and response is not None:
            kwargs["complete_streaming_response"] = response
        if exception is not None:
            kwargs["exception"] = exception
            kwargs["traceback_exception"] = "".join(
                traceback.format_exception(type(exception), exception, exception.__traceback__)
            )
        return kwargs


def _task_done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _log.error("llmswitch async callback raised", exc_info=task.exception())

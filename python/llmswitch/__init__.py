"""llmswitch: one call for every LLM provider.

``llmswitch.completion(model="anthropic/claude-sonnet-4-20250514", messages=[...])`` takes the
OpenAI chat format, translates it to the provider's native API, and returns the OpenAI
response shape, whatever answered. A drop-in for LiteLLM's functions, keyword names and
exception classes, with a Rust core.
"""

from __future__ import annotations

import os as _os
from collections.abc import Coroutine as _Coroutine
from collections.abc import Mapping as _Mapping

from . import budgets, exceptions, spend
from ._llmswitch import (
    BudgetManager,
    Cache,
    ModelCostMap,
    Router,
    __version__,
    _after_fork_in_child,
    acompletion,
    aembedding,
    completion,
    completion_cost,
    cost_per_token,
    embedding,
    get_llm_provider,
    get_max_tokens,
    get_model_info,
    get_supported_openai_params,
    provider_names,
    register_model,
    spend_report,
    stream_chunk_builder,
    supports_function_calling,
    supports_parallel_function_calling,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_vision,
    token_counter,
)
from ._llmswitch import Coroutine as _NativeCoroutine
from ._types import AttrDict, EmbeddingResponse, ModelResponse, ModelResponseStream
from .exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    LLMSwitchError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RejectedRequestError,
    RouterRateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnknownModelCostWarning,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

#: Drop parameters a provider does not support instead of raising
#: ``UnsupportedParamsError`` (the per-call ``drop_params=`` overrides it).
drop_params: bool = False

#: The largest response body (and the largest single stream event) read from a provider,
#: in bytes; a larger one raises ``APIError`` instead of filling memory. Process-wide,
#: applied at each call; the environment variable ``LLMSWITCH_MAX_RESPONSE_BYTES`` sets it
#: at start-up (also for ``llmswitch proxy``). See RELIABILITY.md.
max_response_bytes: int = int(_os.environ.get("LLMSWITCH_MAX_RESPONSE_BYTES") or 256 * 1024 * 1024)

#: The response cache (LiteLLM's ``litellm.cache``): ``llmswitch.Cache(type="local" |
#: "redis" | "disk", ...)``, or None for no caching. See docs/caching.md.
cache: Cache | None = None

#: Logging callbacks, as LiteLLM's: functions ``fn(kwargs, response, start_time, end_time)``
#: called when a call succeeds (a stream: when it ends) or fails, and
#: ``llmswitch.integrations.custom_logger.CustomLogger`` instances (in ``callbacks``: both).
success_callback: list[object] = []
failure_callback: list[object] = []
callbacks: list[object] = []

#: Every provider name llmswitch knows.
provider_list: list[str] = provider_names()

_Mapping.register(ModelCostMap)
# The async API returns these; as registered coroutines, asyncio.create_task and
# asyncio.run accept them like LiteLLM's `async def` results.
_Coroutine.register(_NativeCoroutine)

if hasattr(_os, "register_at_fork"):
    # A forked child must not use runtimes (epoll instance, pooled sockets) it shares with
    # its parent: blocking calls get fresh ones there.
    _os.register_at_fork(after_in_child=_after_fork_in_child)
#: The model catalogue, read-only, in LiteLLM's price-file format:
#: ``model_cost["gpt-4o"]["input_cost_per_token"]``. Change it with :func:`register_model`.
model_cost: ModelCostMap = ModelCostMap()

__all__ = [
    "__version__",
    "completion",
    "acompletion",
    "embedding",
    "aembedding",
    "Router",
    "stream_chunk_builder",
    "get_supported_openai_params",
    "get_llm_provider",
    "provider_names",
    "provider_list",
    "model_cost",
    "ModelCostMap",
    "get_model_info",
    "register_model",
    "supports_vision",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_response_schema",
    "supports_reasoning",
    "supports_prompt_caching",
    "get_max_tokens",
    "completion_cost",
    "cost_per_token",
    "token_counter",
    "spend",
    "spend_report",
    "budgets",
    "BudgetManager",
    "drop_params",
    "max_response_bytes",
    "cache",
    "Cache",
    "success_callback",
    "failure_callback",
    "callbacks",
    "AttrDict",
    "ModelResponse",
    "ModelResponseStream",
    "EmbeddingResponse",
    "exceptions",
    "LLMSwitchError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "BadRequestError",
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "UnsupportedParamsError",
    "RejectedRequestError",
    "UnprocessableEntityError",
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "APIError",
    "APIResponseValidationError",
    "BudgetExceededError",
    "RouterRateLimitError",
    "UnknownModelCostWarning",
]

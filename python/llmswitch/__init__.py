"""llmswitch: one call for every LLM provider.

``llmswitch.completion(model="anthropic/claude-sonnet-4-20250514", messages=[...])`` takes the
OpenAI chat format, translates it to the provider's native API, and returns the OpenAI
response shape, whatever answered. A drop-in for LiteLLM's functions, keyword names and
exception classes, with a Rust core.
"""

from __future__ import annotations

from . import exceptions
from ._llmswitch import (
    Router,
    __version__,
    acompletion,
    completion,
    get_llm_provider,
    get_supported_openai_params,
    provider_names,
    stream_chunk_builder,
)
from ._types import AttrDict, ModelResponse, ModelResponseStream
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
    UnprocessableEntityError,
    UnsupportedParamsError,
)

#: Drop parameters a provider does not support instead of raising
#: ``UnsupportedParamsError`` (the per-call ``drop_params=`` overrides it).
drop_params: bool = False

#: Every provider name llmswitch knows.
provider_list: list[str] = provider_names()

__all__ = [
    "__version__",
    "completion",
    "acompletion",
    "Router",
    "stream_chunk_builder",
    "get_supported_openai_params",
    "get_llm_provider",
    "provider_names",
    "provider_list",
    "drop_params",
    "AttrDict",
    "ModelResponse",
    "ModelResponseStream",
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
]

"""``litellm.types.utils``: the response classes (llmswitch's, under LiteLLM's names) and
the typed dicts and enums frameworks import from here."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypedDict

from ..._types import (
    AttrDict,
    ChatCompletionDeltaToolCall,
    ChatCompletionMessageToolCall,
    Choices,
    CompletionTokensDetailsWrapper,
    Delta,
    Embedding,
    EmbeddingResponse,
    Function,
    Message,
    ModelResponse,
    ModelResponseBase,
    ModelResponseStream,
    PromptTokensDetailsWrapper,
    StreamingChoices,
    Usage,
)

# LiteLLM's older name for a response message's function call.
FunctionCall = Function


class Logprobs(AttrDict):
    """Log probabilities of a text completion choice."""

    __slots__ = ()


class TextChoices(AttrDict):
    """One choice of a text completion: ``text``, ``index``, ``logprobs``, ``finish_reason``."""

    __slots__ = ()


class TextCompletionResponse(AttrDict):
    """A ``text_completion`` answer (``object: "text_completion"``)."""

    _hidden_params: dict[str, Any]


class CallTypes(str, Enum):
    """The kinds of call (LiteLLM's names)."""

    embedding = "embedding"
    aembedding = "aembedding"
    completion = "completion"
    acompletion = "acompletion"
    atext_completion = "atext_completion"
    text_completion = "text_completion"
    image_generation = "image_generation"
    aimage_generation = "aimage_generation"
    moderation = "moderation"
    amoderation = "amoderation"
    atranscription = "atranscription"
    transcription = "transcription"
    aspeech = "aspeech"
    speech = "speech"
    rerank = "rerank"
    arerank = "arerank"
    responses = "responses"
    aresponses = "aresponses"


class StandardCallbackDynamicParams(TypedDict, total=False):
    """Per-call logging parameters."""

    langfuse_public_key: str | None
    langfuse_secret: str | None
    langfuse_secret_key: str | None
    langfuse_host: str | None
    turn_off_message_logging: bool | None


class StandardLoggingPayload(TypedDict, total=False):
    """The summary of a call handed to logging callbacks."""

    id: str
    call_type: str
    response_cost: float
    status: str
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    startTime: float
    endTime: float
    model: str
    model_id: str | None
    model_group: str | None
    api_base: str
    metadata: dict[str, Any]
    messages: Any
    response: Any
    model_parameters: dict[str, Any]
    hidden_params: dict[str, Any]
    error_str: str | None


class ModelInfo(TypedDict, total=False):
    """A model's catalogue entry (``get_model_info``)."""

    key: str
    max_tokens: int | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    input_cost_per_token: float
    output_cost_per_token: float
    litellm_provider: str
    mode: str
    supports_function_calling: bool | None
    supports_vision: bool | None
    supports_response_schema: bool | None


__all__ = [
    "AttrDict",
    "CallTypes",
    "ChatCompletionDeltaToolCall",
    "ChatCompletionMessageToolCall",
    "Choices",
    "CompletionTokensDetailsWrapper",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "Function",
    "FunctionCall",
    "Logprobs",
    "Message",
    "ModelInfo",
    "ModelResponse",
    "ModelResponseBase",
    "ModelResponseStream",
    "PromptTokensDetailsWrapper",
    "StandardCallbackDynamicParams",
    "StandardLoggingPayload",
    "StreamingChoices",
    "TextChoices",
    "TextCompletionResponse",
    "Usage",
]

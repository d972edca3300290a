"""Response objects: plain ``dict`` subclasses whose keys also read as attributes.

``ModelResponse`` is a ``chat.completion``, ``ModelResponseStream`` a
``chat.completion.chunk`` and ``EmbeddingResponse`` an embeddings ``list``, exactly as the
OpenAI API returns them: ``json.dumps`` works,
``isinstance(r, dict)`` holds, and ``r.choices[0].message.content`` equals
``r["choices"][0]["message"]["content"]``. Metadata outside the OpenAI shape (provider,
api_base, cost) lives on ``r._hidden_params``, as in LiteLLM.
"""

from __future__ import annotations

# Annotation-only imports: `import llmswitch` must stay cheap, and `typing`, `json` and
# `copy` are imported where used (mypy reads `TYPE_CHECKING` by name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class AttrDict(dict):  # type: ignore[type-arg]
    """A ``dict`` whose keys can also be read (and set) as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name in type(self)._present:
                return None
            raise AttributeError(f"{type(self).__name__!s} has no attribute or key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self if isinstance(k, str)})

    #: The fields LiteLLM's pydantic class of this name declares; the others are
    #: :attr:`model_extra`.
    _declared: frozenset[str] = frozenset()
    #: Attributes LiteLLM's objects of this class always have: None when the key is absent.
    _present: frozenset[str] = frozenset()

    @property
    def model_extra(self) -> dict[str, Any]:
        """The keys outside the declared fields of LiteLLM's class of this name, as
        pydantic's ``model_extra`` gives them."""
        declared = type(self)._declared
        return {k: v for k, v in self.items() if k not in declared}

    def model_dump(self, **_kwargs: Any) -> dict[str, Any]:
        """A deep copy as plain dicts and lists (pydantic-style, for LiteLLM users)."""
        return _plain(self)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        """Same as :meth:`model_dump`."""
        return _plain(self)  # type: ignore[no-any-return]

    def model_dump_json(self, **kwargs: Any) -> str:
        """The object as a JSON string."""
        import json

        return json.dumps(self, **kwargs)

    def json(self, **kwargs: Any) -> str:
        """The object as a JSON string (pydantic v1 name)."""
        import json

        return json.dumps(self, **kwargs)

    def __copy__(self) -> AttrDict:
        new = type(self)(self)
        state = getattr(self, "__dict__", None)
        if state:
            new.__dict__.update(state)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> AttrDict:
        import copy

        new = type(self)()
        memo[id(self)] = new
        for k, v in self.items():
            new[copy.deepcopy(k, memo)] = copy.deepcopy(v, memo)
        state = getattr(self, "__dict__", None)
        if state:
            new.__dict__.update(copy.deepcopy(state, memo))
        return new


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names)


class Function(AttrDict):
    """A tool call's function: ``arguments`` is a JSON string."""

    __slots__ = ()
    _declared = _fields("arguments", "name")
    _present = _fields("name")


class ChatCompletionMessageToolCall(AttrDict):
    """A tool call of a response message."""

    __slots__ = ()


class ChatCompletionDeltaToolCall(AttrDict):
    """A tool-call fragment of a stream chunk: ``id``, ``type``, ``index``,
    ``function.name`` and ``function.arguments`` are always present (None where the chunk
    has no value)."""

    __slots__ = ()
    _declared = _fields("id", "function", "type", "index")
    _present = _fields("id", "type")


class Message(AttrDict):
    """The assistant message of a choice."""

    __slots__ = ()
    _declared = _fields(
        "content",
        "role",
        "tool_calls",
        "function_call",
        "audio",
        "images",
        "reasoning_content",
        "thinking_blocks",
        "reasoning_items",
        "provider_specific_fields",
        "annotations",
    )
    _present = _fields("content", "role", "tool_calls", "function_call", "provider_specific_fields")


class Delta(AttrDict):
    """The incremental part of a stream chunk's choice."""

    __slots__ = ()
    # LiteLLM's Delta keeps content, role and tool calls outside its declared fields.
    _declared = _fields("reasoning_content", "thinking_blocks", "reasoning_items", "provider_specific_fields")
    _present = _fields("audio", "content", "function_call", "provider_specific_fields", "role", "tool_calls")


class Choices(AttrDict):
    """One choice of a ``chat.completion``."""

    __slots__ = ()
    _declared = _fields("finish_reason", "index", "message", "logprobs", "provider_specific_fields")
    _present = _fields("finish_reason")


class StreamingChoices(AttrDict):
    """One choice of a ``chat.completion.chunk``."""

    __slots__ = ()
    _present = _fields("finish_reason", "logprobs")


class PromptTokensDetailsWrapper(AttrDict):
    __slots__ = ()
    _declared = _fields(
        "audio_tokens",
        "cached_tokens",
        "text_tokens",
        "image_tokens",
        "video_tokens",
        "cache_creation_tokens",
        "cache_creation_token_details",
        "web_search_requests",
        "character_count",
        "image_count",
        "video_length_seconds",
    )


class CompletionTokensDetailsWrapper(AttrDict):
    __slots__ = ()
    _declared = _fields(
        "accepted_prediction_tokens",
        "audio_tokens",
        "reasoning_tokens",
        "rejected_prediction_tokens",
        "text_tokens",
        "image_tokens",
    )


class Usage(AttrDict):
    """Token counts."""

    __slots__ = ()
    _declared = _fields(
        "completion_tokens",
        "prompt_tokens",
        "total_tokens",
        "completion_tokens_details",
        "prompt_tokens_details",
        "server_tool_use",
        "cost",
    )
    _present = _fields("prompt_tokens_details", "completion_tokens_details")


class Embedding(AttrDict):
    """One vector of an embeddings response."""

    __slots__ = ()
    _declared = _fields("embedding", "index", "object")


class ModelResponseBase(AttrDict):
    """The base of :class:`ModelResponse` and :class:`ModelResponseStream`."""

    # No __slots__: instances carry a __dict__ for _hidden_params.
    _hidden_params: dict[str, Any]
    _declared = _fields("id", "created", "model", "object", "system_fingerprint", "choices")
    _present = _fields("system_fingerprint")


class ModelResponse(ModelResponseBase):
    """An OpenAI ``chat.completion``. ``_hidden_params`` holds llmswitch's metadata."""


class ModelResponseStream(ModelResponseBase):
    """An OpenAI ``chat.completion.chunk``."""

    _declared = _fields(
        "id", "created", "model", "object", "system_fingerprint", "choices", "provider_specific_fields"
    )


class EmbeddingResponse(AttrDict):
    """An OpenAI embeddings ``list``: ``data[i].embedding`` is the vector of input ``i``.
    ``_hidden_params`` holds llmswitch's metadata (provider, api_base, ``response_cost``)."""

    _hidden_params: dict[str, Any]
    _declared = _fields("model", "data", "object", "usage")


#: The classes with LiteLLM's names (``litellm.types.utils``).
LITELLM_CLASSES = (
    Function,
    ChatCompletionMessageToolCall,
    ChatCompletionDeltaToolCall,
    Message,
    Delta,
    Choices,
    StreamingChoices,
    PromptTokensDetailsWrapper,
    CompletionTokensDetailsWrapper,
    Usage,
    Embedding,
    ModelResponseBase,
    ModelResponse,
    ModelResponseStream,
    EmbeddingResponse,
)

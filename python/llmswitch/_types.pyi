"""Typed view of the response objects (``_types.py``): dicts in OpenAI's shape whose keys
read as attributes. The parts carry LiteLLM's class names (``litellm.types.utils``).

``AttrDict.__getattr__`` is left out on purpose: with it, any attribute name would type as
``Any`` and a misspelt one would go unnoticed. Keys outside the declared ones are read with
``r["key"]``.
"""

from typing import Any

class AttrDict(dict[str, Any]):
    """A ``dict`` whose keys can also be read (and set) as attributes."""

    def __setattr__(self, name: str, value: Any) -> None: ...
    def __delattr__(self, name: str) -> None: ...
    def __dir__(self) -> list[str]: ...
    _declared: frozenset[str]
    _present: frozenset[str]
    @property
    def model_extra(self) -> dict[str, Any]: ...
    def model_dump(self, **_kwargs: Any) -> dict[str, Any]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def model_dump_json(self, **kwargs: Any) -> str: ...
    def json(self, **kwargs: Any) -> str: ...
    def __copy__(self) -> AttrDict: ...
    def __deepcopy__(self, memo: dict[int, Any]) -> AttrDict: ...

class Function(AttrDict):
    """A tool call's function: ``arguments`` is a JSON string."""

    name: str | None
    arguments: str

class ChatCompletionMessageToolCall(AttrDict):
    id: str
    type: str
    function: Function

class ChatCompletionDeltaToolCall(AttrDict):
    """A tool-call fragment of a stream chunk; ``id`` and ``name`` come with the first."""

    index: int
    id: str | None
    type: str | None
    function: Function

class Message(AttrDict):
    role: str
    content: str | None
    tool_calls: list[ChatCompletionMessageToolCall] | None
    function_call: dict[str, Any] | None
    reasoning_content: str | None
    thinking_blocks: list[dict[str, Any]] | None
    annotations: list[dict[str, Any]] | None
    refusal: str | None
    audio: dict[str, Any] | None
    provider_specific_fields: dict[str, Any] | None

class Delta(AttrDict):
    role: str | None
    content: str | None
    tool_calls: list[ChatCompletionDeltaToolCall] | None
    function_call: dict[str, Any] | None
    reasoning_content: str | None
    thinking_blocks: list[dict[str, Any]] | None
    refusal: str | None
    provider_specific_fields: dict[str, Any] | None

class Choices(AttrDict):
    index: int
    message: Message
    finish_reason: str | None
    logprobs: dict[str, Any] | None

class StreamingChoices(AttrDict):
    index: int
    delta: Delta
    finish_reason: str | None
    logprobs: dict[str, Any] | None

class PromptTokensDetailsWrapper(AttrDict):
    cached_tokens: int | None
    audio_tokens: int | None
    text_tokens: int | None
    image_tokens: int | None

class CompletionTokensDetailsWrapper(AttrDict):
    reasoning_tokens: int | None
    audio_tokens: int | None
    accepted_prediction_tokens: int | None
    rejected_prediction_tokens: int | None
    text_tokens: int | None

class Usage(AttrDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetailsWrapper | None
    completion_tokens_details: CompletionTokensDetailsWrapper | None
    #: Anthropic's cache counts (prompt_tokens includes both).
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None

class ModelResponseBase(AttrDict):
    """The base of :class:`ModelResponse` and :class:`ModelResponseStream`."""

    _hidden_params: dict[str, Any]

class ModelResponse(ModelResponseBase):
    """An OpenAI ``chat.completion``. ``_hidden_params`` holds llmswitch's metadata."""

    id: str
    object: str
    created: int
    model: str
    choices: list[Choices]
    usage: Usage
    system_fingerprint: str | None
    service_tier: str | None
    _hidden_params: dict[str, Any]

class ModelResponseStream(ModelResponseBase):
    """An OpenAI ``chat.completion.chunk``. The last chunk of a stream asked for usage
    (``stream_options={"include_usage": True}``) has ``usage`` and no choices."""

    id: str
    object: str
    created: int
    model: str
    choices: list[StreamingChoices]
    usage: Usage | None
    system_fingerprint: str | None
    service_tier: str | None
    _hidden_params: dict[str, Any]

class Embedding(AttrDict):
    object: str
    index: int
    #: The vector, or its base64 text with ``encoding_format="base64"``.
    embedding: list[float] | str

class EmbeddingResponse(AttrDict):
    """An OpenAI embeddings ``list``: ``data[i].embedding`` is the vector of input ``i``."""

    object: str
    data: list[Embedding]
    model: str
    usage: Usage
    _hidden_params: dict[str, Any]

def _plain(value: Any) -> Any: ...
def _fields(*names: str) -> frozenset[str]: ...

LITELLM_CLASSES: tuple[type[AttrDict], ...]

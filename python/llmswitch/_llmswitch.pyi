"""Type stubs for the native core. Checked against the runtime by ``mypy.stubtest``."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from collections.abc import Coroutine as _AbcCoroutine
from typing import Any, Literal, TypeVar, overload

from typing_extensions import Self, disjoint_base, final

from ._types import EmbeddingResponse, ModelResponse, ModelResponseStream
from .types import BudgetPeriod, BudgetScope, RoutingStrategy, SpendGroupKey

_T = TypeVar("_T")

__version__: str
__all__ = [
    "Cache",
    "Coroutine",
    "_after_fork_in_child",
    "_default_names",
    "_keyed_providers",
    "_set_default",
    "acompletion",
    "aembedding",
    "completion",
    "embedding",
    "get_llm_provider",
    "get_supported_openai_params",
    "provider_names",
    "stream_chunk_builder",
    "completion_cost",
    "cost_per_token",
    "get_max_tokens",
    "get_model_info",
    "register_model",
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_prompt_caching",
    "supports_reasoning",
    "supports_response_schema",
    "supports_vision",
    "supports_web_search",
    "supports_pdf_input",
    "supports_tool_choice",
    "validate_environment",
    "token_counter",
    "ModelCostMap",
    "AsyncStream",
    "ReadyChunk",
    "SyncStream",
    "MockServer",
    "ManualClock",
    "Router",
    "ProxyServer",
    "_proxy_serve",
    "_proxy_start",
    "SpendReport",
    "BudgetManager",
    "spend_report",
    "_spend_enable_store",
    "_spend_disable_store",
    "_spend_store_path",
    "_spend_flush",
    "_spend_status",
    "_spend_configure",
    "_spend_is_recording",
    "_spend_clear",
    "_spend_footprint",
    "_spend_records",
    "_set_clock",
    "_budget_add",
    "_budget_remove",
    "_budget_clear",
    "_budget_reset",
    "_budget_status",
    "_budget_deliver_alerts",
    "__version__",
]

@overload
def completion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: Literal[True],
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> SyncStream: ...
@overload
def completion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: Literal[False] | None = ...,
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> ModelResponse: ...
@overload
def completion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: bool | None = ...,
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> ModelResponse | SyncStream: ...
@overload
def acompletion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: Literal[True],
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> Coroutine[AsyncStream]: ...
@overload
def acompletion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: Literal[False] | None = ...,
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> Coroutine[ModelResponse]: ...
@overload
def acompletion(
    model: str,
    messages: Sequence[Mapping[str, Any]] | None = None,
    *,
    stream: bool | None = ...,
    temperature: float | None = ...,
    top_p: float | None = ...,
    n: int | None = ...,
    stop: str | Sequence[str] | None = ...,
    max_tokens: int | None = ...,
    max_completion_tokens: int | None = ...,
    presence_penalty: float | None = ...,
    frequency_penalty: float | None = ...,
    logit_bias: Mapping[str, float] | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    user: str | None = ...,
    seed: int | None = ...,
    tools: Sequence[Mapping[str, Any]] | None = ...,
    tool_choice: str | Mapping[str, Any] | None = ...,
    parallel_tool_calls: bool | None = ...,
    response_format: Mapping[str, Any] | type[Any] | None = ...,
    reasoning_effort: str | None = ...,
    stream_options: Mapping[str, Any] | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | BaseException | None = ...,
    mock_tool_calls: Sequence[Mapping[str, Any]] | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> Coroutine[ModelResponse | AsyncStream]: ...
def embedding(
    model: str,
    input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
    *,
    dimensions: int | None = ...,
    encoding_format: Literal["float", "base64"] | None = ...,
    user: str | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | Sequence[float] | BaseException | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> EmbeddingResponse: ...
def aembedding(
    model: str,
    input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
    *,
    dimensions: int | None = ...,
    encoding_format: Literal["float", "base64"] | None = ...,
    user: str | None = ...,
    timeout: float | Any | None = ...,
    api_key: str | None = ...,
    api_base: str | None = ...,
    base_url: str | None = ...,
    api_version: str | None = ...,
    custom_llm_provider: str | None = ...,
    extra_headers: Mapping[str, str] | None = ...,
    drop_params: bool | None = ...,
    num_retries: int | None = ...,
    mock_response: str | Sequence[float] | BaseException | None = ...,
    mock_delay: float | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    **kwargs: Any,
) -> Coroutine[EmbeddingResponse]: ...
def stream_chunk_builder(
    chunks: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]] | None = None
) -> ModelResponse: ...
def get_supported_openai_params(model: str, custom_llm_provider: str | None = None) -> list[str]: ...
def get_llm_provider(
    model: str,
    custom_llm_provider: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
) -> tuple[str, str, str | None, str | None]: ...
def _set_default(name: str, value: Any) -> None: ...
def _default_names() -> list[str]: ...
def provider_names() -> list[str]: ...
def get_model_info(model: str, custom_llm_provider: str | None = None) -> dict[str, Any]: ...
def supports_vision(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_function_calling(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_parallel_function_calling(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_response_schema(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_reasoning(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_prompt_caching(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_web_search(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_pdf_input(model: str, custom_llm_provider: str | None = None) -> bool: ...
def supports_tool_choice(model: str, custom_llm_provider: str | None = None) -> bool: ...
def validate_environment(
    model: str | None = None,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
) -> dict[str, Any]: ...
def _keyed_providers() -> list[str]: ...
def get_max_tokens(model: str) -> int | None: ...
def register_model(model_cost: Mapping[str, Mapping[str, Any]] | str | os.PathLike[str]) -> None: ...
def cost_per_token(
    model: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    custom_llm_provider: str | None = None,
    custom_cost_per_token: Mapping[str, float] | None = None,
    reasoning_tokens: int = 0,
) -> tuple[float, float]: ...
def completion_cost(
    completion_response: Any | None = None,
    model: str | None = None,
    prompt: str = "",
    completion: str = "",
    messages: Sequence[Mapping[str, Any]] | None = None,
    custom_cost_per_token: Mapping[str, float] | None = None,
    custom_llm_provider: str | None = None,
) -> float: ...
def token_counter(
    model: str = "",
    text: str | Sequence[str] | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    count_response_tokens: bool = False,
) -> int: ...

@final
class ModelCostMap:
    def __new__(cls) -> ModelCostMap: ...
    def __getitem__(self, key: str, /) -> dict[str, Any]: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def get(self, key: str, default: Any | None = None) -> Any: ...
    def keys(self) -> list[str]: ...
    def values(self) -> list[dict[str, Any]]: ...
    def items(self) -> list[tuple[str, dict[str, Any]]]: ...

@final
class SyncStream(Iterator[ModelResponseStream]):
    """``completion(..., stream=True)``: ``with ... as stream:`` closes the connection on exit."""

    def __iter__(self) -> SyncStream: ...
    def __next__(self) -> ModelResponseStream: ...
    def close(self) -> None: ...
    def __enter__(self) -> SyncStream: ...
    def __exit__(self, *_args: object) -> bool: ...
    @property
    def _hidden_params(self) -> dict[str, Any]: ...

@final
class AsyncStream(AsyncIterator[ModelResponseStream]):
    """``await acompletion(..., stream=True)``: ``async with ... as stream:`` closes the
    connection on exit."""

    def __aiter__(self) -> AsyncStream: ...
    def __anext__(self) -> Awaitable[ModelResponseStream]: ...
    def aclose(self) -> Awaitable[None]: ...
    def __aenter__(self) -> Awaitable[Self]: ...
    def __aexit__(self, *_args: object) -> Awaitable[None]: ...
    @property
    def _hidden_params(self) -> dict[str, Any]: ...

@final
class ReadyChunk:
    def __await__(self) -> ReadyChunk: ...
    def __iter__(self) -> ReadyChunk: ...
    def __next__(self) -> None: ...

@final
class MockServer:
    def __new__(cls, port: int = 0) -> MockServer: ...
    @property
    def url(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    def enqueue(
        self,
        status: int = 200,
        json: Any | None = None,
        body: str | None = None,
        headers: Mapping[str, Any] | None = None,
        sse: Sequence[str] | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        drop_after: int | None = None,
        disconnect: bool = False,
    ) -> None: ...
    @property
    def requests(self) -> list[dict[str, Any]]: ...
    @property
    def hits(self) -> int: ...
    @property
    def open_streams(self) -> int: ...
    def reset(self) -> None: ...
    def set_recording(self, on: bool) -> None: ...
    def stop(self) -> None: ...
    def __enter__(self) -> MockServer: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class ProxyServer:
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    def stop(self) -> bool: ...
    def __enter__(self) -> ProxyServer: ...
    def __exit__(self, *_args: object) -> bool: ...

def _proxy_serve(
    config: str | os.PathLike[str] | Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 4000,
    on_warning: Callable[[str], object] | None = None,
    on_ready: Callable[[str], object] | None = None,
) -> None: ...
def _proxy_start(
    config: str | os.PathLike[str] | Mapping[str, Any],
    host: str = "127.0.0.1",
    port: int = 0,
    on_warning: Callable[[str], object] | None = None,
) -> ProxyServer: ...

@final
class ManualClock:
    def __new__(cls) -> ManualClock: ...
    def advance(self, seconds: float) -> None: ...
    @property
    def now(self) -> float: ...

@final
class Cache:
    """The response cache, with LiteLLM's ``Cache`` arguments; set it as ``llmswitch.cache``."""

    def __new__(
        cls,
        type: Literal["local", "redis", "disk"] | Any | None = None,
        mode: Literal["default_on", "default_off"] | Any | None = None,
        host: str | None = None,
        port: str | int | None = None,
        password: str | None = None,
        namespace: str | None = None,
        ttl: float | None = None,
        default_in_memory_ttl: float | None = None,
        default_in_redis_ttl: float | None = None,
        supported_call_types: Sequence[str] | None = None,
        disk_cache_dir: str | os.PathLike[str] | None = None,
        max_messages: int | None = 4,
        **kwargs: Any,
    ) -> Cache: ...
    @property
    def type(self) -> Literal["local", "redis", "disk"]: ...
    @property
    def mode(self) -> Literal["default_on", "default_off"]: ...
    @property
    def ttl(self) -> float | None: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def supported_call_types(self) -> list[str]: ...
    @property
    def max_messages(self) -> int | None: ...
    def clear(self) -> None: ...
    def ping(self) -> bool: ...

@disjoint_base
class Router:
    def __new__(
        cls,
        model_list: Sequence[Mapping[str, Any]] | None = None,
        *,
        routing_strategy: RoutingStrategy | None = None,
        routing_strategy_args: Mapping[str, Any] | None = None,
        num_retries: int | None = None,
        retry_after: float | None = None,
        timeout: float | None = None,
        allowed_fails: int | None = None,
        cooldown_time: float | None = None,
        disable_cooldowns: bool | None = None,
        fallbacks: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        context_window_fallbacks: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        content_policy_fallbacks: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        default_fallbacks: Sequence[str] | None = None,
        max_fallbacks: int | None = None,
        retry_policy: Mapping[str, int | None] | Any | None = None,
        model_group_retry_policy: Mapping[str, Any] | None = None,
        enable_pre_call_checks: bool | None = None,
        hedge: Mapping[str, float] | None = None,
        min_capabilities: Mapping[str, Any] | None = None,
        default_litellm_params: Mapping[str, Any] | None = None,
        default_max_parallel_requests: int | None = None,
        seed: int | None = None,
        clock: ManualClock | None = None,
        model_group_alias: Mapping[str, str | Mapping[str, Any]] | None = None,
        redis_url: str | None = None,
        redis_host: str | None = None,
        redis_port: int | str | None = None,
        redis_password: str | None = None,
        **kwargs: Any,
    ) -> Router: ...
    def _set_model_list(self, model_list: Sequence[Mapping[str, Any]]) -> list[str]: ...
    def _add_deployment(self, deployment: Mapping[str, Any]) -> str | None: ...
    def _upsert_deployment(self, deployment: Mapping[str, Any]) -> str | None: ...
    def _delete_deployment(self, id: str) -> bool: ...
    def _group_of(self, model: str) -> str | None: ...
    def _load_config(
        self, config: str | os.PathLike[str] | Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]: ...
    @overload
    def completion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: Literal[True],
        **kwargs: Any,
    ) -> SyncStream: ...
    @overload
    def completion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: Literal[False] | None = ...,
        **kwargs: Any,
    ) -> ModelResponse: ...
    @overload
    def completion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: bool | None = ...,
        **kwargs: Any,
    ) -> ModelResponse | SyncStream: ...
    @overload
    def acompletion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: Literal[True],
        **kwargs: Any,
    ) -> Coroutine[AsyncStream]: ...
    @overload
    def acompletion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: Literal[False] | None = ...,
        **kwargs: Any,
    ) -> Coroutine[ModelResponse]: ...
    @overload
    def acompletion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]] | None = None,
        *,
        stream: bool | None = ...,
        **kwargs: Any,
    ) -> Coroutine[ModelResponse | AsyncStream]: ...
    def embedding(
        self, model: str, input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]], **kwargs: Any
    ) -> EmbeddingResponse: ...
    def aembedding(
        self, model: str, input: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]], **kwargs: Any
    ) -> Coroutine[EmbeddingResponse]: ...
    def stats(self) -> dict[str, dict[str, Any]]: ...
    def get_model_names(self) -> list[str]: ...
    @property
    def routing_strategy(self) -> str: ...

@final
class Coroutine(_AbcCoroutine[Any, Any, _T]):
    """A coroutine over a Rust future (registered as ``collections.abc.Coroutine``):
    ``await`` it, or pass it to ``asyncio.run`` / ``asyncio.create_task``."""

    def __await__(self) -> Generator[Any, None, _T]: ...
    def __iter__(self) -> Generator[Any, None, _T]: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any | None = None, tb: Any | None = None) -> Any: ...
    def close(self) -> None: ...

@final
class SpendReport:
    def to_dicts(self) -> list[dict[str, Any]]: ...
    @property
    def group_by(self) -> tuple[str, ...]: ...
    @property
    def total_cost(self) -> float: ...
    @property
    def total_calls(self) -> int: ...
    @property
    def interval(self) -> Literal["hour", "day"]: ...
    def _repr_html_(self) -> str: ...
    def to_html(self, path: str | os.PathLike[str] | None = None) -> str: ...
    def to_svg(self, path: str | os.PathLike[str] | None = None) -> str: ...
    def timeline(self) -> list[tuple[float, dict[str, float]]]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[dict[str, Any]]: ...

def spend_report(
    group_by: SpendGroupKey | str | Sequence[SpendGroupKey | str] | None = None,
    since: Any | None = None,
    until: Any | None = None,
    interval: Literal["hour", "day"] | None = None,
) -> SpendReport: ...
def _spend_enable_store(path: str | os.PathLike[str]) -> None: ...
def _spend_disable_store() -> None: ...
def _spend_store_path() -> os.PathLike[str] | str | None: ...
def _spend_flush() -> None: ...
def _spend_status() -> dict[str, Any]: ...
def _spend_configure(recording: bool, max_records: int | None = None) -> None: ...
def _spend_is_recording() -> bool: ...
def _spend_clear() -> None: ...
def _spend_footprint() -> tuple[int, int]: ...
def _spend_records(since: Any | None = None, until: Any | None = None) -> list[dict[str, Any]]: ...
def _set_clock(at: Any | None) -> None: ...
def _budget_add(
    limit: float,
    scope: BudgetScope = "global",
    id: str | None = None,
    period: BudgetPeriod | str | None = None,
    actions: Sequence[Mapping[str, Any]] | None = None,
    name: str | None = None,
    start: Any | None = None,
) -> str: ...
def _budget_remove(name: str) -> bool: ...
def _budget_clear() -> None: ...
def _budget_reset(name: str, id: str | None = None) -> bool: ...
def _budget_status() -> list[dict[str, Any]]: ...
def _budget_deliver_alerts() -> None: ...

@final
class BudgetManager:
    def __new__(
        cls,
        project_name: str,
        client_type: str = "local",
        api_base: str | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> BudgetManager: ...
    @property
    def project_name(self) -> str: ...
    @property
    def client_type(self) -> str: ...
    @property
    def user_dict(self) -> dict[str, dict[str, Any]]: ...
    def load_data(self) -> None: ...
    def save_data(self) -> dict[str, str]: ...
    def create_budget(
        self, total_budget: float, user: str, duration: str | None = None, created_at: float | None = None
    ) -> dict[str, Any]: ...
    def projected_cost(self, model: str, messages: Sequence[Mapping[str, Any]], user: str) -> float: ...
    def get_total_budget(self, user: str) -> float: ...
    def update_cost(
        self,
        user: str,
        completion_obj: Any | None = None,
        model: str | None = None,
        input_text: str | None = None,
        output_text: str | None = None,
    ) -> dict[str, Any]: ...
    def get_current_cost(self, user: str) -> float: ...
    def get_model_cost(self, user: str) -> dict[str, float] | int: ...
    def is_valid_user(self, user: str) -> bool: ...
    def get_users(self) -> list[str]: ...
    def reset_cost(self, user: str) -> dict[str, Any]: ...
    def reset_on_duration(self, user: str) -> None: ...
    def update_budget_all_users(self) -> None: ...

def _after_fork_in_child() -> None: ...

"""LangChain on llmswitch, without LiteLLM: :class:`ChatLLMSwitch`, a ``langchain_core``
chat model, and :class:`LLMSwitchEmbeddings`.

Every provider llmswitch speaks, or a :class:`llmswitch.Router`, behind LangChain's
interfaces::

    from llmswitch.integrations.langchain import ChatLLMSwitch, LLMSwitchEmbeddings

    model = ChatLLMSwitch(model="anthropic/claude-sonnet-4-20250514", temperature=0)
    model.invoke("Hello")
    model.bind_tools([get_weather]).invoke("Weather in Paris?")
    ChatLLMSwitch(router=router, model="smart").stream("Hi")

This module only maps LangChain messages to OpenAI-format dicts and back; translation to
each provider happens in llmswitch. Needs ``langchain-core`` (``pip install
'llmswitch[langchain]'``); ``import llmswitch`` never imports LangChain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal, cast

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import LanguageModelInput
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import (
        AIMessage,
        AIMessageChunk,
        BaseMessage,
        InvalidToolCall,
        ToolCall,
        convert_to_openai_messages,
    )
    from langchain_core.messages.ai import UsageMetadata
    from langchain_core.messages.tool import tool_call_chunk
    from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
    from langchain_core.output_parsers.openai_tools import (
        JsonOutputKeyToolsParser,
        PydanticToolsParser,
        make_invalid_tool_call,
        parse_tool_call,
    )
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
    from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
    from langchain_core.tools import BaseTool
    from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
    from langchain_core.utils.pydantic import is_basemodel_subclass
except ImportError as e:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "llmswitch.integrations.langchain needs langchain-core: pip install 'llmswitch[langchain]'"
    ) from e

from pydantic import ConfigDict, Field, SecretStr

import llmswitch

__all__ = ["ChatLLMSwitch", "LLMSwitchEmbeddings"]

# --- OpenAI-format answers → LangChain messages ------------------------------------------------


def _usage_metadata(usage: Mapping[str, Any] | None) -> UsageMetadata | None:
    """An OpenAI ``usage`` as LangChain's ``usage_metadata`` (cache reads and writes, and
    reasoning tokens, in the details)."""
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    meta: dict[str, Any] = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    prompt_details = usage.get("prompt_tokens_details") or {}
    input_details: dict[str, int] = {}
    if prompt_details.get("cached_tokens"):
        input_details["cache_read"] = int(prompt_details["cached_tokens"])
    if usage.get("cache_creation_input_tokens"):
        input_details["cache_creation"] = int(usage["cache_creation_input_tokens"])
    if prompt_details.get("audio_tokens"):
        input_details["audio"] = int(prompt_details["audio_tokens"])
    if input_details:
        meta["input_token_details"] = input_details
    completion_details = usage.get("completion_tokens_details") or {}
    output_details: dict[str, int] = {}
    if completion_details.get("reasoning_tokens"):
        output_details["reasoning"] = int(completion_details["reasoning_tokens"])
    if completion_details.get("audio_tokens"):
        output_details["audio"] = int(completion_details["audio_tokens"])
    if output_details:
        meta["output_token_details"] = output_details
    return cast("UsageMetadata", meta)


def _call_metadata(hidden: Mapping[str, Any]) -> dict[str, Any]:
    """What llmswitch knows about a call (``_hidden_params``), for ``response_metadata``:
    provider, cost, and with a Router the deployment and model group."""
    meta: dict[str, Any] = {
        "llm_provider": hidden.get("custom_llm_provider"),
        "cost": hidden.get("response_cost"),
    }
    if hidden.get("model_id") is not None:
        meta["deployment"] = hidden["model_id"]
    if hidden.get("model_group") is not None:
        meta["model_group"] = hidden["model_group"]
    if hidden.get("cache_hit"):
        meta["cache_hit"] = True
    return meta


def _tool_calls(
    raw_calls: Sequence[Mapping[str, Any]] | None,
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in raw_calls or []:
        raw = dict(raw)
        try:
            parsed = parse_tool_call(raw, return_id=True)
        except Exception as e:  # the model's arguments are not JSON
            invalid.append(make_invalid_tool_call(raw, str(e)))
            continue
        if parsed is not None:
            calls.append(parsed)  # type: ignore[arg-type]
    return calls, invalid


def _message(response: Any, choice: Mapping[str, Any]) -> AIMessage:
    message = choice.get("message") or {}
    calls, invalid = _tool_calls(message.get("tool_calls"))
    additional: dict[str, Any] = {}
    for key in ("reasoning_content", "thinking_blocks", "refusal", "audio"):
        if message.get(key) is not None:
            additional[key] = message[key]
    if message.get("function_call") is not None:
        additional["function_call"] = dict(message["function_call"])
    hidden = getattr(response, "_hidden_params", None) or {}
    metadata: dict[str, Any] = {
        "model_name": response.get("model"),
        "finish_reason": choice.get("finish_reason"),
        **_call_metadata(hidden),
    }
    if response.get("system_fingerprint"):
        metadata["system_fingerprint"] = response["system_fingerprint"]
    if choice.get("logprobs") is not None:
        metadata["logprobs"] = choice["logprobs"]
    return AIMessage(
        content=message.get("content") or "",
        id=response.get("id"),
        tool_calls=calls,
        invalid_tool_calls=invalid,
        additional_kwargs=additional,
        usage_metadata=_usage_metadata(response.get("usage")),
        response_metadata=metadata,
    )


def _chat_result(response: Any) -> ChatResult:
    generations = [
        ChatGeneration(
            message=_message(response, choice),
            generation_info={"finish_reason": choice.get("finish_reason")},
        )
        for choice in response.get("choices") or []
    ]
    return ChatResult(generations=generations, llm_output={"model_name": response.get("model")})


def _chunk(chunk: Any, first: bool) -> ChatGenerationChunk | None:
    """One OpenAI-format stream chunk as a LangChain chunk (``None`` for an empty one)."""
    usage = _usage_metadata(chunk.get("usage"))
    choices = chunk.get("choices") or []
    if not choices:
        if usage is None:
            return None
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
    choice = choices[0]
    delta = choice.get("delta") or {}
    tool_call_chunks = [
        tool_call_chunk(
            name=(tc.get("function") or {}).get("name"),
            args=(tc.get("function") or {}).get("arguments"),
            id=tc.get("id"),
            index=tc.get("index"),
        )
        for tc in delta.get("tool_calls") or []
    ]
    additional: dict[str, Any] = {}
    for key in ("reasoning_content", "refusal"):
        if delta.get(key):
            additional[key] = delta[key]
    metadata: dict[str, Any] = {}
    finish = choice.get("finish_reason")
    generation_info = None
    if finish:
        metadata["finish_reason"] = finish
        metadata["model_name"] = chunk.get("model")
        generation_info = {"finish_reason": finish}
    if choice.get("logprobs") is not None:
        generation_info = {**(generation_info or {}), "logprobs": choice["logprobs"]}
    message = AIMessageChunk(
        content=delta.get("content") or "",
        id=chunk.get("id") if first else None,
        tool_call_chunks=tool_call_chunks,
        additional_kwargs=additional,
        usage_metadata=usage,
        response_metadata=metadata,
    )
    return ChatGenerationChunk(message=message, generation_info=generation_info)


def _last_chunk(stream: Any) -> ChatGenerationChunk:
    """The stream's end: what llmswitch learned once it ended (cost, deployment)."""
    hidden = getattr(stream, "_hidden_params", None) or {}
    return ChatGenerationChunk(
        message=AIMessageChunk(content="", response_metadata=_call_metadata(hidden), chunk_position="last")
    )


# --- tools ---------------------------------------------------------------------------------------


def _tool_choice(tool_choice: Any, tools: Sequence[Mapping[str, Any]]) -> Any:
    """LangChain's ``tool_choice`` in OpenAI's form: ``"any"``/``True`` → ``"required"`` (or
    the one tool), a tool name → that function."""
    if tool_choice is None or isinstance(tool_choice, dict):
        return tool_choice
    if tool_choice is True:
        if len(tools) == 1:
            return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
        return "required"
    if tool_choice is False:
        return None
    if tool_choice in ("auto", "none", "required"):
        return tool_choice
    if tool_choice == "any":
        return "required"
    return {"type": "function", "function": {"name": tool_choice}}


# --- the chat model ------------------------------------------------------------------------------


class ChatLLMSwitch(BaseChatModel):
    """A LangChain chat model on llmswitch: any provider, or a Router's model group.

    Args:
        model: ``"provider/model"`` as for :func:`llmswitch.completion`, or with ``router``
            a model group.
        router: a :class:`llmswitch.Router` to send calls through (retries, fallbacks,
            load balancing).
        temperature, max_tokens, top_p, n, seed: OpenAI parameters sent with every call.
        api_key, api_base: the provider's key and base URL (default: the provider's
            environment variables).
        timeout: seconds a call may take.
        max_retries: retries of retryable failures (``num_retries``).
        streaming: let ``invoke`` stream (callbacks then get each token).
        model_kwargs: any other :func:`llmswitch.completion` keyword (``reasoning_effort``,
            ``metadata``, ``caching``, provider-specific parameters, ...).

    ``response_metadata`` holds ``model_name``, ``finish_reason``, ``llm_provider``,
    ``cost`` (USD) and, through a Router, ``deployment`` and ``model_group``;
    ``usage_metadata`` the token counts.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str = Field(alias="model_name")
    router: Any = Field(default=None, exclude=True)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None
    api_key: SecretStr | None = None
    api_base: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    streaming: bool = False
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "llmswitch"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "router": self.router is not None, **self._default_params()}

    def _default_params(self) -> dict[str, Any]:
        params = {
            name: value
            for name, value in (
                ("temperature", self.temperature),
                ("max_tokens", self.max_tokens),
                ("top_p", self.top_p),
                ("n", self.n),
                ("seed", self.seed),
            )
            if value is not None
        }
        params.update(self.model_kwargs)
        return params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "llmswitch"
        params["ls_model_name"] = self.model
        return params

    def _arguments(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        args: dict[str, Any] = {**self._default_params(), **kwargs}
        args["messages"] = convert_to_openai_messages(messages)
        if stop:
            args["stop"] = stop
        if self.api_key is not None:
            args.setdefault("api_key", self.api_key.get_secret_value())
        if self.api_base is not None:
            args.setdefault("api_base", self.api_base)
        if self.timeout is not None:
            args.setdefault("timeout", self.timeout)
        if self.max_retries is not None:
            args.setdefault("num_retries", self.max_retries)
        return args

    def _complete(self, args: dict[str, Any]) -> Any:
        if self.router is not None:
            return self.router.completion(self.model, **args)
        return llmswitch.completion(self.model, **args)

    async def _acomplete(self, args: dict[str, Any]) -> Any:
        if self.router is not None:
            return await self.router.acompletion(self.model, **args)
        return await llmswitch.acompletion(self.model, **args)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _chat_result(self._complete(self._arguments(messages, stop, **kwargs)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return _chat_result(await self._acomplete(self._arguments(messages, stop, **kwargs)))

    def _stream_arguments(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        args = self._arguments(messages, stop, **kwargs)
        args["stream"] = True
        # Usage comes in the last chunk, for usage_metadata.
        args["stream_options"] = {"include_usage": True, **(args.get("stream_options") or {})}
        return args

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        stream = self._complete(self._stream_arguments(messages, stop, **kwargs))
        first = True
        for raw in stream:
            generation = _chunk(raw, first)
            if generation is None:
                continue
            first = False
            if run_manager:
                run_manager.on_llm_new_token(generation.text, chunk=generation)
            yield generation
        yield _last_chunk(stream)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        stream = await self._acomplete(self._stream_arguments(messages, stop, **kwargs))
        first = True
        async for raw in stream:
            generation = _chunk(raw, first)
            if generation is None:
                continue
            first = False
            if run_manager:
                await run_manager.on_llm_new_token(generation.text, chunk=generation)
            yield generation
        yield _last_chunk(stream)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic models, TypedDicts, or OpenAI
        tool dicts) to the model.

        Args:
            tools: the tools.
            tool_choice: ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True`` (some
                tool must be called), a tool's name, or an OpenAI ``tool_choice`` dict.
            strict: ask for arguments that match each tool's schema exactly.
            parallel_tool_calls: allow several tool calls in one answer.
            **kwargs: other call keywords bound with the tools.
        """
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        choice = _tool_choice(tool_choice, formatted)
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type,
        *,
        method: Literal["function_calling", "json_schema", "json_mode"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Answers parsed into ``schema`` (a pydantic model, a TypedDict, or a JSON schema).

        Args:
            schema: the output's shape.
            method: ``"function_calling"`` (a forced tool call, the default: every
                provider with tools), ``"json_schema"`` (``response_format`` with the
                schema, which llmswitch translates per provider) or ``"json_mode"``
                (``{"type": "json_object"}``; describe the shape in the prompt).
            include_raw: return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``.
            strict: ask for output that matches the schema exactly.
        """
        if kwargs:
            raise ValueError(f"Received unsupported arguments {kwargs}")
        is_model = isinstance(schema, type) and is_basemodel_subclass(schema)
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            tool = convert_to_openai_tool(schema, strict=strict)
            name = tool["function"]["name"]
            llm = self.bind_tools([schema], tool_choice=name, strict=strict, parallel_tool_calls=False)
            if is_model:
                parser = PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
            else:
                parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        elif method == "json_schema":
            json_schema = convert_to_json_schema(schema, strict=strict)
            response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {
                    "name": json_schema.get("title") or "output",
                    "schema": json_schema,
                },
            }
            if json_schema.get("description"):
                response_format["json_schema"]["description"] = json_schema["description"]
            if strict is not None:
                response_format["json_schema"]["strict"] = strict
            llm = self.bind(response_format=response_format)
            parser = PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()  # type: ignore[arg-type]
        elif method == "json_mode":
            llm = self.bind(response_format={"type": "json_object"})
            parser = PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(
                f"method must be 'function_calling', 'json_schema' or 'json_mode', got {method!r}"
            )
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        fallback = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([fallback], exception_key="parsing_error")


# --- embeddings ----------------------------------------------------------------------------------


class LLMSwitchEmbeddings(Embeddings):
    """LangChain embeddings on llmswitch: any provider with an embeddings API, or a Router.

    Args:
        model: ``"provider/model"`` as for :func:`llmswitch.embedding`, or with ``router``
            a model group.
        router: a :class:`llmswitch.Router`.
        dimensions: the vectors' size, for models that can shorten them.
        api_key, api_base, timeout, max_retries: as for :class:`ChatLLMSwitch`.
        model_kwargs: any other :func:`llmswitch.embedding` keyword (``input_type``, ...).
    """

    def __init__(
        self,
        model: str,
        *,
        router: Any = None,
        dimensions: int | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        model_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.router = router
        args: dict[str, Any] = dict(model_kwargs or {})
        for name, value in (
            ("dimensions", dimensions),
            ("api_key", api_key),
            ("api_base", api_base),
            ("timeout", timeout),
            ("num_retries", max_retries),
        ):
            if value is not None:
                args[name] = value
        self._args = args

    @staticmethod
    def _vectors(response: Any) -> list[list[float]]:
        data = sorted(response["data"], key=lambda d: d["index"])
        return [list(d["embedding"]) for d in data]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        if self.router is not None:
            return self._vectors(self.router.embedding(self.model, texts, **self._args))
        return self._vectors(llmswitch.embedding(self.model, texts, **self._args))

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        if not texts:
            return []
        if self.router is not None:
            return self._vectors(await self.router.aembedding(self.model, texts, **self._args))
        return self._vectors(await llmswitch.aembedding(self.model, texts, **self._args))

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return (await self.aembed_documents([text]))[0]

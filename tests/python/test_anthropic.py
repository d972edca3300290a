"""The native Anthropic provider against a loopback mock that speaks the Messages API.

Request bodies are asserted field by field against the shapes in Anthropic's API reference;
canned responses and SSE streams follow the docs' examples.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, TEST_KEY

MODEL = "anthropic/claude-sonnet-4-20250514"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city and state"}},
            "required": ["location"],
        },
    },
}


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": TEST_KEY}


def message(
    content: list[dict[str, Any]],
    stop_reason: str = "end_turn",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Messages API response, as in the API reference."""
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 2095, "output_tokens": 503},
    }


def events(*payloads: dict[str, Any]) -> list[str]:
    """SSE frames as Anthropic sends them: the event name, then the JSON data."""
    return [f"event: {p['type']}\ndata: {json.dumps(p)}" for p in payloads]


def message_start(input_tokens: int = 25, **usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-20250514",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1, **usage},
        },
    }


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, output_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens},
    }


MESSAGE_STOP = {"type": "message_stop"}


def error_body(kind: str, msg: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": msg},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


def sent(server, i: int = 0) -> dict[str, Any]:
    return server.requests[i]["body"]


# --- request basics ---------------------------------------------------------------------


def test_request_wire_format_and_default_reply(server, kw):
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == TEST_KEY
    assert req["headers"]["anthropic-version"] == "2023-06-01"
    assert req["headers"]["content-type"] == "application/json"
    assert "authorization" not in req["headers"]
    assert req["body"] == {
        "model": "claude-sonnet-4-20250514",
        # Anthropic requires max_tokens: LiteLLM's default, not the model's output limit.
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
    }
    ChatCompletion.model_validate(r)
    assert r.id == "msg_mock"
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 6, 15)
    assert r._hidden_params["custom_llm_provider"] == "anthropic"


def test_bare_claude_name_is_anthropic(server, kw):
    r = llmswitch.completion(model="claude-sonnet-4-20250514", messages=MESSAGES, **kw)
    assert r._hidden_params["custom_llm_provider"] == "anthropic"
    assert sent(server)["model"] == "claude-sonnet-4-20250514"
    assert llmswitch.get_llm_provider("claude-3-5-haiku-latest")[:2] == (
        "claude-3-5-haiku-latest",
        "anthropic",
    )
    assert "anthropic" in llmswitch.provider_list


def test_missing_key_fails_before_any_request_and_env_key_is_used(server, monkeypatch):
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url)
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert info.value.llm_provider == "anthropic"
    assert server.hits == 0

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-123456")
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url)
    assert server.requests[0]["headers"]["x-api-key"] == "sk-ant-env-123456"


@pytest.mark.parametrize("env_var", ["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"])
def test_api_base_from_env(server, monkeypatch, env_var):
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv(env_var, server.url)
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_key=TEST_KEY)
    assert server.requests[0]["path"] == "/v1/messages"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/messages"])
def test_api_base_forms(server, suffix):
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url + suffix, api_key=TEST_KEY)
    assert server.requests[0]["path"] == "/v1/messages"


def test_beta_and_version_headers(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
        **kw,
    )
    headers = server.requests[0]["headers"]
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert headers["anthropic-version"] == "2023-06-01"
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, extra_headers={"anthropic-version": "2099-01-01"}, **kw
    )
    assert server.requests[1]["headers"]["anthropic-version"] == "2099-01-01"
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_version="2024-01-01", **kw)
    assert server.requests[2]["headers"]["anthropic-version"] == "2024-01-01"


def test_key_is_redacted_from_errors(server, kw):
    server.enqueue(status=401, json=error_body("authentication_error", f"invalid x-api-key {TEST_KEY}"))
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert TEST_KEY not in str(info.value)
    assert TEST_KEY not in json.dumps(info.value.body)


# --- messages -----------------------------------------------------------------------------


def test_system_messages_hoisted_and_same_roles_merged(server, kw):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "Are you there?"}]},
        {"role": "assistant", "content": "Yes."},
        {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "developer", "content": "No emoji."},
        {"role": "assistant", "content": "Oui."},
        {"role": "user", "content": "Bye"},
    ]
    llmswitch.completion(model=MODEL, messages=messages, **kw)
    body = sent(server)
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French."},
        {"type": "text", "text": "No emoji."},
    ]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "Are you there?"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Yes."}, {"type": "text", "text": "Oui."}],
        },
        {"role": "user", "content": "Bye"},
    ]


def test_single_system_string_stays_a_string(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=[{"role": "system", "content": "You are a helpful assistant."}, *MESSAGES],
        **kw,
    )
    assert sent(server)["system"] == "You are a helpful assistant."
    assert sent(server)["messages"] == MESSAGES


def test_only_system_messages_fail_before_network(server, kw):
    with pytest.raises(llmswitch.BadRequestError, match="user message"):
        llmswitch.completion(model=MODEL, messages=[{"role": "system", "content": "x"}], **kw)
    assert server.hits == 0


def test_tool_calls_and_merged_tool_results(server, kw):
    messages = [
        {"role": "user", "content": "Weather in SF and NYC?"},
        {
            "role": "assistant",
            "content": "I'll check both.",
            "tool_calls": [
                {
                    "id": "toolu_01A",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA"}'},
                },
                {
                    "id": "toolu_01B",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "New York, NY"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "15 degrees"},
        {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "20 degrees"}]},
        {"role": "user", "content": "Which is warmer?"},
    ]
    llmswitch.completion(model=MODEL, messages=messages, tools=[WEATHER_TOOL], **kw)
    assert sent(server)["messages"] == [
        {"role": "user", "content": "Weather in SF and NYC?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll check both."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01B",
                    "name": "get_weather",
                    "input": {"location": "New York, NY"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "15 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01B",
                    "content": [{"type": "text", "text": "20 degrees"}],
                },
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]


def test_invalid_tool_arguments_fail_before_network(server, kw):
    messages = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}],
        },
    ]
    with pytest.raises(llmswitch.BadRequestError, match="arguments"):
        llmswitch.completion(model=MODEL, messages=messages, **kw)
    assert server.hits == 0


def test_images_documents_and_cache_control(server, kw):
    messages = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "You analyse images."},
                {"type": "text", "text": "<long rules>", "cache_control": {"type": "ephemeral"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "https://upload.wikimedia.org/cat.jpg"},
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
                {
                    "type": "text",
                    "text": "What are these?",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
            ],
        },
        {"role": "assistant", "content": "A cat.", "cache_control": {"type": "ephemeral"}},
        {"role": "user", "content": "Sure?"},
    ]
    llmswitch.completion(model=MODEL, messages=messages, **kw)
    body = sent(server)
    assert body["system"] == [
        {"type": "text", "text": "You analyse images."},
        {"type": "text", "text": "<long rules>", "cache_control": {"type": "ephemeral"}},
    ]
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {
            "type": "image",
            "source": {"type": "url", "url": "https://upload.wikimedia.org/cat.jpg"},
            "cache_control": {"type": "ephemeral"},
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
        },
        {"type": "text", "text": "What are these?", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    # A message-level cache_control marks the message's last block.
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "A cat.", "cache_control": {"type": "ephemeral"}}],
    }


@pytest.mark.parametrize(
    ("part", "needle"),
    [
        ({"type": "image_url", "image_url": "ftp://example.com/a.png"}, "data: URL nor http"),
        ({"type": "image_url", "image_url": "data:image/png,notbase64"}, "base64"),
        ({"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}, "audio"),
    ],
)
def test_unsupported_content_fails_before_network(server, kw, part, needle):
    with pytest.raises(llmswitch.BadRequestError, match=needle):
        llmswitch.completion(model=MODEL, messages=[{"role": "user", "content": [part]}], **kw)
    assert server.hits == 0


# --- parameters ---------------------------------------------------------------------------


def test_params_translate_field_by_field(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        stop=["END", "STOP"],
        max_tokens=1024,
        user="user-1234",
        tools=[
            WEATHER_TOOL,
            {**WEATHER_TOOL, "function": {"name": "noop"}, "cache_control": {"type": "ephemeral"}},
        ],
        tool_choice="auto",
        parallel_tool_calls=False,
        n=1,
        **kw,
    )
    body = sent(server)
    assert body == {
        "model": "claude-sonnet-4-20250514",
        "messages": MESSAGES,
        "max_tokens": 1024,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END", "STOP"],
        "metadata": {"user_id": "user-1234"},
        "tools": [
            {
                "name": "get_weather",
                "description": "Get the current weather in a given location",
                "input_schema": WEATHER_TOOL["function"]["parameters"],
            },
            {
                "name": "noop",
                "input_schema": {"type": "object", "properties": {}},
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }


def test_max_completion_tokens_and_stop_string(server, kw):
    llmswitch.completion(model=MODEL, messages=MESSAGES, max_completion_tokens=77, stop="\n\nHuman:", **kw)
    body = sent(server)
    assert body["max_tokens"] == 77
    assert body["stop_sequences"] == ["\n\nHuman:"]


def test_parallel_tool_calls_without_tool_choice(server, kw):
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL], parallel_tool_calls=False, **kw
    )
    assert sent(server)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_forms(server, kw, tool_choice, expected):
    llmswitch.completion(model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice=tool_choice, **kw)
    assert sent(server)["tool_choice"] == expected


def test_unsupported_params_raise_or_drop(server, kw):
    for extra in ({"logit_bias": {"1": 1}}, {"presence_penalty": 0.5}, {"seed": 1}, {"n": 2}):
        with pytest.raises(llmswitch.UnsupportedParamsError) as info:
            llmswitch.completion(model=MODEL, messages=MESSAGES, **extra, **kw)
        assert next(iter(extra)) in str(info.value)
        assert "drop_params" in str(info.value)
    assert server.hits == 0
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, logit_bias={"1": 1}, n=2, temperature=0.5, drop_params=True, **kw
    )
    body = sent(server)
    assert "logit_bias" not in body and "n" not in body and body["temperature"] == 0.5


def test_get_supported_openai_params():
    params = llmswitch.get_supported_openai_params("claude-sonnet-4-20250514")
    for p in (
        "temperature",
        "top_p",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "reasoning_effort",
        "stream",
        "stream_options",
    ):
        assert p in params, p
    for p in ("logit_bias", "presence_penalty", "frequency_penalty", "seed", "logprobs"):
        assert p not in params, p
    assert params == llmswitch.get_supported_openai_params("anthropic/claude-opus-4-1")


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}}


def test_response_format_forces_a_json_tool_and_returns_its_input_as_content(server, kw):
    server.enqueue(
        json=message(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_j",
                    "name": "json_tool_call",
                    "input": {"name": "Ada", "age": 36},
                }
            ],
            stop_reason="tool_use",
        )
    )
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, response_format=RESPONSE_FORMAT, **kw)
    body = sent(server)
    assert body["tools"] == [{"name": "json_tool_call", "input_schema": SCHEMA}]
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert json.loads(r.choices[0].message.content) == {"name": "Ada", "age": 36}
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    ChatCompletion.model_validate(r)


def test_response_format_json_object_and_text(server, kw):
    llmswitch.completion(model=MODEL, messages=MESSAGES, response_format={"type": "json_object"}, **kw)
    assert sent(server)["tools"] == [{"name": "json_tool_call", "input_schema": {"type": "object"}}]
    llmswitch.completion(model=MODEL, messages=MESSAGES, response_format={"type": "text"}, **kw)
    assert "tools" not in sent(server, 1)


def test_response_format_with_thinking_uses_native_structured_outputs(server, kw):
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, response_format=RESPONSE_FORMAT, reasoning_effort="low", **kw
    )
    body = sent(server)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in body and "tool_choice" not in body


def test_reserved_tool_name_is_rejected(server, kw):
    tool = {"type": "function", "function": {"name": "json_tool_call", "parameters": {"type": "object"}}}
    with pytest.raises(llmswitch.BadRequestError, match="reserved"):
        llmswitch.completion(model=MODEL, messages=MESSAGES, tools=[tool], **kw)
    assert server.hits == 0


# --- extended thinking --------------------------------------------------------------------


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 2048), ("high", 4096)])
def test_reasoning_effort_maps_to_thinking_budget(server, kw, effort, budget):
    llmswitch.completion(model=MODEL, messages=MESSAGES, reasoning_effort=effort, **kw)
    body = sent(server)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    # max_tokens must exceed the budget: 4096 are left for the answer (as LiteLLM does).
    assert body["max_tokens"] == budget + 4096


def test_default_max_tokens_for_a_model_the_catalogue_lacks(server, kw):
    llmswitch.completion(model="anthropic/claude-unreleased-9", messages=MESSAGES, **kw)
    assert sent(server)["max_tokens"] == 4096
    server.reset()
    llmswitch.completion(
        model="anthropic/claude-unreleased-9", messages=MESSAGES, reasoning_effort="low", **kw
    )
    # The default leaves 4096 tokens for the answer after the thinking budget.
    assert sent(server)["max_tokens"] == 1024 + 4096


def test_native_thinking_passes_through(server, kw):
    thinking = {"type": "enabled", "budget_tokens": 10000}
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, thinking=thinking, max_tokens=16000, temperature=1, **kw
    )
    body = sent(server)
    assert body["thinking"] == thinking
    assert body["max_tokens"] == 16000
    assert body["temperature"] == 1
    llmswitch.completion(model=MODEL, messages=MESSAGES, reasoning_effort="none", **kw)
    assert "thinking" not in sent(server, 1)


def test_thinking_conflicts_raise_or_drop(server, kw):
    with pytest.raises(llmswitch.UnsupportedParamsError, match=r"temperature=0\.2"):
        llmswitch.completion(model=MODEL, messages=MESSAGES, reasoning_effort="low", temperature=0.2, **kw)
    with pytest.raises(llmswitch.UnsupportedParamsError, match="tool_choice"):
        llmswitch.completion(
            model=MODEL,
            messages=MESSAGES,
            thinking={"type": "enabled", "budget_tokens": 2048},
            tools=[WEATHER_TOOL],
            tool_choice="required",
            **kw,
        )
    with pytest.raises(llmswitch.BadRequestError, match="reasoning_effort"):
        llmswitch.completion(model=MODEL, messages=MESSAGES, reasoning_effort="turbo", **kw)
    assert server.hits == 0
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        reasoning_effort="low",
        temperature=0.2,
        top_p=0.5,
        top_k=5,
        drop_params=True,
        **kw,
    )
    body = sent(server)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    for dropped in ("temperature", "top_p", "top_k"):
        assert dropped not in body


THINKING_BLOCK = {
    "type": "thinking",
    "thinking": "To approach this, let me think about what we know about prime numbers...",
    "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...",
}


def test_thinking_response_and_multi_turn_tool_use(server, kw):
    server.enqueue(
        json=message(
            [
                THINKING_BLOCK,
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                {"type": "text", "text": "Let me look it up."},
                {"type": "tool_use", "id": "toolu_t", "name": "get_weather", "input": {"location": "Paris"}},
            ],
            stop_reason="tool_use",
        )
    )
    r = llmswitch.completion(
        model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL], reasoning_effort="medium", **kw
    )
    msg = r.choices[0].message
    assert msg.reasoning_content == THINKING_BLOCK["thinking"]
    assert msg.thinking_blocks == [
        THINKING_BLOCK,
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
    ]
    assert msg.content == "Let me look it up."
    ChatCompletion.model_validate(r)

    follow_up = [*MESSAGES, msg, {"role": "tool", "tool_call_id": "toolu_t", "content": "sunny"}]
    llmswitch.completion(
        model=MODEL, messages=follow_up, tools=[WEATHER_TOOL], reasoning_effort="medium", **kw
    )
    assistant = sent(server, 1)["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [
            THINKING_BLOCK,
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "text", "text": "Let me look it up."},
            {"type": "tool_use", "id": "toolu_t", "name": "get_weather", "input": {"location": "Paris"}},
        ],
    }
    assert sent(server, 1)["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_t", "content": "sunny"}],
    }


# --- responses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reasons(server, kw, stop_reason, finish_reason):
    server.enqueue(json=message([{"type": "text", "text": "x"}], stop_reason=stop_reason))
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert r.choices[0].finish_reason == finish_reason


def test_text_blocks_joined_and_tool_use_mapped(server, kw):
    server.enqueue(
        json=message(
            [
                {"type": "text", "text": "I'll check "},
                {"type": "text", "text": "the weather."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
            ],
            stop_reason="tool_use",
        )
    )
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL], **kw)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert msg.content == "I'll check the weather."
    (call,) = msg.tool_calls
    assert call.id == "toolu_01A09q90qw90lq917835lq9"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert r.choices[0].finish_reason == "tool_calls"


def test_usage_counts_cache_reads_and_writes(server, kw):
    server.enqueue(
        json=message(
            [{"type": "text", "text": "ok"}],
            usage={
                "input_tokens": 21,
                "cache_creation_input_tokens": 188086,
                "cache_read_input_tokens": 1000,
                "output_tokens": 393,
            },
        )
    )
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    u = r.usage
    assert u.prompt_tokens == 21 + 188086 + 1000
    assert u.completion_tokens == 393
    assert u.total_tokens == 21 + 188086 + 1000 + 393
    assert u.prompt_tokens_details == {"cached_tokens": 1000}
    assert u.cache_creation_input_tokens == 188086
    assert u.cache_read_input_tokens == 1000
    ChatCompletion.model_validate(r)


# --- streaming ----------------------------------------------------------------------------


def test_stream_default_reply(server, kw):
    chunks = list(
        llmswitch.completion(
            model=MODEL, messages=MESSAGES, stream=True, extra_headers={"x-mock-chunks": "3"}, **kw
        )
    )
    assert sent(server)["stream"] is True
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2"
    assert chunks[-1].choices[0].finish_reason == "stop"
    # No usage chunk unless asked for.
    assert all(c.get("usage") is None for c in chunks)

    chunks = list(
        llmswitch.completion(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
        )
    )
    assert "stream_options" not in sent(server, 1)
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (9, 6)
    ChatCompletionChunk.model_validate(last)


def test_stream_text_and_tool_calls_rebuild(server, kw):
    server.enqueue(
        sse=events(
            message_start(input_tokens=472, cache_read_input_tokens=100, cache_creation_input_tokens=0),
            block_start(0, {"type": "text", "text": ""}),
            {"type": "ping"},
            block_delta(0, {"type": "text_delta", "text": "Okay, let's check"}),
            block_delta(0, {"type": "text_delta", "text": " the weather."}),
            block_stop(0),
            block_start(
                1,
                {
                    "type": "tool_use",
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "name": "get_weather",
                    "input": {},
                },
            ),
            block_delta(1, {"type": "input_json_delta", "partial_json": ""}),
            block_delta(1, {"type": "input_json_delta", "partial_json": '{"location":'}),
            block_delta(1, {"type": "input_json_delta", "partial_json": ' "San Francisco, CA"}'}),
            block_stop(1),
            block_start(2, {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}}),
            block_delta(2, {"type": "input_json_delta", "partial_json": '{"location": "NYC"}'}),
            block_stop(2),
            message_delta("tool_use", 89),
            MESSAGE_STOP,
        )
    )
    chunks = list(
        llmswitch.completion(
            model=MODEL,
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        assert c.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    tool_deltas = [
        c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.get("tool_calls")
    ]
    assert [(d.index, d.get("id")) for d in tool_deltas] == [
        (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6"),
        (0, None),
        (0, None),
        (1, "toolu_02"),
        (1, None),
    ]
    assert tool_deltas[0].function.name == "get_weather" and tool_deltas[0].type == "function"

    r = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert msg.content == "Okay, let's check the weather."
    assert [json.loads(c.function.arguments) for c in msg.tool_calls] == [
        {"location": "San Francisco, CA"},
        {"location": "NYC"},
    ]
    assert [c.id for c in msg.tool_calls] == ["toolu_01T1x1fJ34qAmk2tNTrN7Up6", "toolu_02"]
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (572, 89)
    assert r.usage.prompt_tokens_details == {"cached_tokens": 100}


def test_stream_thinking(server, kw):
    server.enqueue(
        sse=events(
            message_start(),
            block_start(0, {"type": "thinking", "thinking": ""}),
            block_delta(0, {"type": "thinking_delta", "thinking": "To approach this, "}),
            block_delta(0, {"type": "thinking_delta", "thinking": "let me think."}),
            block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk"}),
            block_stop(0),
            block_start(1, {"type": "text", "text": ""}),
            block_delta(1, {"type": "text_delta", "text": "27 * 453 = 12,231"}),
            block_stop(1),
            message_delta("end_turn", 30),
            MESSAGE_STOP,
        )
    )
    chunks = list(
        llmswitch.completion(model=MODEL, messages=MESSAGES, reasoning_effort="low", stream=True, **kw)
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    reasoning = [
        c.choices[0].delta.reasoning_content
        for c in chunks
        if c.choices and c.choices[0].delta.get("reasoning_content")
    ]
    assert reasoning == ["To approach this, ", "let me think."]
    r = llmswitch.stream_chunk_builder(chunks)
    assert r.choices[0].message.reasoning_content == "To approach this, let me think."
    assert r.choices[0].message.thinking_blocks == [
        {
            "type": "thinking",
            "thinking": "To approach this, let me think.",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk",
        }
    ]
    assert r.choices[0].message.content == "27 * 453 = 12,231"
    assert r.choices[0].finish_reason == "stop"


def test_stream_response_format_streams_json_as_content(server, kw):
    server.enqueue(
        sse=events(
            message_start(),
            block_start(0, {"type": "tool_use", "id": "toolu_j", "name": "json_tool_call", "input": {}}),
            block_delta(0, {"type": "input_json_delta", "partial_json": '{"name": "Ada",'}),
            block_delta(0, {"type": "input_json_delta", "partial_json": ' "age": 36}'}),
            block_stop(0),
            message_delta("tool_use", 12),
            MESSAGE_STOP,
        )
    )
    chunks = list(
        llmswitch.completion(
            model=MODEL, messages=MESSAGES, response_format=RESPONSE_FORMAT, stream=True, **kw
        )
    )
    r = llmswitch.stream_chunk_builder(chunks)
    assert json.loads(r.choices[0].message.content) == {"name": "Ada", "age": 36}
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"


def test_async_stream(server, kw):
    async def run() -> list[Any]:
        stream = await llmswitch.acompletion(model=MODEL, messages=MESSAGES, stream=True, **kw)
        return [c async for c in stream]

    chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text.startswith("Hello")
    assert chunks[-1].choices[0].finish_reason == "stop"


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "message_text", "cls"),
    [
        (400, "invalid_request_error", "max_tokens: Field required", llmswitch.BadRequestError),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
            llmswitch.ContextWindowExceededError,
        ),
        (401, "authentication_error", "invalid x-api-key", llmswitch.AuthenticationError),
        (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            llmswitch.PermissionDeniedError,
        ),
        (404, "not_found_error", "model: claude-nope", llmswitch.NotFoundError),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit",
            llmswitch.RateLimitError,
        ),
        (500, "api_error", "Internal server error", llmswitch.InternalServerError),
        (529, "overloaded_error", "Overloaded", llmswitch.ServiceUnavailableError),
    ],
)
def test_error_classes(server, kw, status, error_type, message_text, cls):
    server.enqueue(status=status, json=error_body(error_type, message_text), headers={"retry-after": "3"})
    with pytest.raises(cls) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert message_text in str(err)
    assert err.llm_provider == "anthropic"
    assert err.model == "claude-sonnet-4-20250514"
    assert err.body["error"]["type"] == error_type
    assert err.retry_after == 3


def test_overloaded_is_retried(server, kw):
    server.enqueue(
        status=529, json=error_body("overloaded_error", "Overloaded"), headers={"retry-after": "0"}
    )
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, num_retries=1, **kw)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert server.hits == 2
    assert r._hidden_params["retries"] == 1


def test_stream_http_error_before_any_chunk(server, kw):
    server.enqueue(status=429, json=error_body("rate_limit_error", "slow down"))
    with pytest.raises(llmswitch.RateLimitError):
        list(llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw))


def test_mid_stream_error_event(server, kw):
    server.enqueue(
        sse=events(
            message_start(),
            block_start(0, {"type": "text", "text": ""}),
            block_delta(0, {"type": "text_delta", "text": "Hel"}),
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        )
    )
    received = []
    with pytest.raises(llmswitch.ServiceUnavailableError) as info:
        for c in llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw):
            received.append(c)
    assert info.value.status_code == 529
    assert "Overloaded" in str(info.value)
    assert [c.choices[0].delta.get("content") for c in received if c.choices] == ["", "Hel"]


def test_stream_cut_before_message_stop(server, kw):
    server.enqueue(sse=events(message_start(), block_start(0, {"type": "text", "text": ""})))
    with pytest.raises(llmswitch.APIConnectionError, match="message_stop"):
        list(llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw))


def test_stream_connection_dropped(server, kw):
    server.enqueue(
        sse=events(
            message_start(),
            block_start(0, {"type": "text", "text": ""}),
            block_delta(0, {"type": "text_delta", "text": "Hel"}),
            block_delta(0, {"type": "text_delta", "text": "lo"}),
        ),
        drop_after=3,
    )
    received = []
    with pytest.raises(llmswitch.APIConnectionError):
        for c in llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw):
            received.append(c)
    assert [c.choices[0].delta.get("content") for c in received if c.choices] == ["", "Hel"]

"""completion(): request translation, response shape, parameters, providers."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Literal

import pydantic
import pytest
from openai.types.chat import ChatCompletion

import llmswitch
from conftest import MESSAGES, TEST_KEY


def test_response_is_openai_dict_with_attribute_access(server, openai_kw):
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert isinstance(r, dict)
    assert isinstance(r, llmswitch.ModelResponse)
    assert (
        r["choices"][0]["message"]["content"] == r.choices[0].message.content == "Hello from the mock server."
    )
    assert r.usage.total_tokens == 15
    assert r.choices[0].message.tool_calls is None
    assert json.loads(json.dumps(r)) == r
    ChatCompletion.model_validate(r)
    # Metadata lives outside the OpenAI shape.
    assert "_hidden_params" not in r
    assert r._hidden_params["custom_llm_provider"] == "openai"
    assert r._hidden_params["api_base"] == server.base_url
    assert r._hidden_params["response_ms"] > 0
    with pytest.raises(AttributeError):
        _ = r.no_such_field


def test_response_copies_and_pickles(server, openai_kw):
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    for clone in (copy.copy(r), copy.deepcopy(r), pickle.loads(pickle.dumps(r))):
        assert clone == r
        assert clone.choices[0].message.content == r.choices[0].message.content
        assert clone._hidden_params == r._hidden_params
    assert r.model_dump() == json.loads(json.dumps(r))
    assert type(r.model_dump()["choices"][0]) is dict


def test_request_wire_format(server, openai_kw):
    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {TEST_KEY}"
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == {"model": "gpt-4o", "messages": MESSAGES}


ALL_PARAMS = {
    "temperature": 0.3,
    "top_p": 0.9,
    "n": 2,
    "stop": ["END", "STOP"],
    "max_tokens": 100,
    "presence_penalty": 0.1,
    "frequency_penalty": -0.2,
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 3,
    "user": "user-1",
    "seed": 42,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
                "strict": True,
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
    },
    "reasoning_effort": "low",
    "service_tier": "auto",
    "store": False,
}


def test_every_openai_param_round_trips(server, openai_kw):
    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **ALL_PARAMS, **openai_kw)
    body = server.requests[0]["body"]
    for key, value in ALL_PARAMS.items():
        assert body[key] == value, key


def test_max_completion_tokens_and_stop_string(server, openai_kw):
    llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, max_completion_tokens=7, stop="END", **openai_kw
    )
    body = server.requests[0]["body"]
    assert body["max_completion_tokens"] == 7
    assert body["stop"] == ["END"]


def test_provider_specific_params_pass_through(server, openai_kw):
    llmswitch.completion(
        model="openai/gpt-4o",
        messages=MESSAGES,
        top_k=5,
        repetition_penalty=1.1,
        metadata={"user": "u"},
        **openai_kw,
    )
    body = server.requests[0]["body"]
    assert body["top_k"] == 5
    assert body["repetition_penalty"] == 1.1
    # metadata is llmswitch's (spend tracking), never the provider's
    assert "metadata" not in body


def test_tools_tool_results_and_images(server, openai_kw):
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {"type": "image_url", "image_url": "https://example.com/cat.png"},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "cat"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    server.enqueue(
        json={
            "id": "chatcmpl-t",
            "object": "chat.completion",
            "created": 2,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "lookup", "arguments": '{"q": "dog"}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
        }
    )
    r = llmswitch.completion(model="openai/gpt-4o", messages=messages, **openai_kw)
    sent = server.requests[0]["body"]["messages"]
    assert sent[0] == messages[0]
    assert sent[1]["content"][1] == messages[1]["content"][1]
    # A bare image URL string is normalised to OpenAI's object form.
    assert sent[1]["content"][2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert sent[2]["tool_calls"] == messages[2]["tool_calls"]
    assert sent[3] == messages[3]
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup" and json.loads(call.function.arguments) == {"q": "dog"}
    assert r.choices[0].finish_reason == "tool_calls"
    ChatCompletion.model_validate(r)


def test_previous_response_message_can_be_sent_back(server, openai_kw):
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    sdk_message = ChatCompletion.model_validate(r).choices[0].message
    messages = [*MESSAGES, r.choices[0].message, sdk_message, {"role": "user", "content": "more"}]
    llmswitch.completion(model="openai/gpt-4o", messages=messages, **openai_kw)
    sent = server.requests[1]["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": "Hello from the mock server."}
    assert sent[2]["role"] == "assistant" and sent[2]["content"] == "Hello from the mock server."


def test_extra_headers_and_api_base_forms(server):
    for base in (server.base_url, server.base_url + "/", server.base_url + "/chat/completions"):
        server.reset()
        llmswitch.completion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            api_base=base,
            api_key=TEST_KEY,
            extra_headers={"X-Trace": "abc"},
        )
        req = server.requests[0]
        assert req["path"] == "/v1/chat/completions", base
        assert req["headers"]["x-trace"] == "abc"


@pytest.mark.parametrize(
    ("provider", "env_var"),
    [
        ("groq", "GROQ_API_KEY"),
        ("together_ai", "TOGETHERAI_API_KEY"),
        ("deepseek", "DEEPSEEK_API_KEY"),
        ("fireworks_ai", "FIREWORKS_AI_API_KEY"),
        ("openrouter", "OPENROUTER_API_KEY"),
        ("perplexity", "PERPLEXITYAI_API_KEY"),
        ("xai", "XAI_API_KEY"),
        ("deepinfra", "DEEPINFRA_API_KEY"),
        ("cerebras", "CEREBRAS_API_KEY"),
        ("sambanova", "SAMBANOVA_API_KEY"),
        ("nvidia_nim", "NVIDIA_NIM_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
    ],
)
def test_hosted_providers_take_key_from_env(server, monkeypatch, provider, env_var):
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=f"{provider}/some-model", messages=MESSAGES, api_base=server.base_url)
    assert env_var in str(info.value)
    assert info.value.llm_provider == provider
    assert server.hits == 0  # failed before any network call

    monkeypatch.setenv(env_var, "env-key-123456")
    r = llmswitch.completion(model=f"{provider}/some-model", messages=MESSAGES, api_base=server.base_url)
    req = server.requests[0]
    assert req["headers"]["authorization"] == "Bearer env-key-123456"
    assert r._hidden_params["custom_llm_provider"] == provider


def test_fireworks_model_prefix(server, openai_kw):
    llmswitch.completion(model="fireworks_ai/llama-v3p1-8b-instruct", messages=MESSAGES, **openai_kw)
    assert server.requests[0]["body"]["model"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"


@pytest.mark.parametrize("provider", ["hosted_vllm", "lm_studio", "llamafile", "openai_compatible"])
def test_local_servers_need_no_key(server, provider):
    r = llmswitch.completion(model=f"{provider}/my-model", messages=MESSAGES, api_base=server.base_url)
    assert r.choices[0].message.content
    assert "authorization" not in server.requests[0]["headers"]


def test_openai_compatible_requires_api_base(server):
    with pytest.raises(llmswitch.BadRequestError, match="api_base"):
        llmswitch.completion(model="openai_compatible/m", messages=MESSAGES)


def test_api_base_from_env(server, monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", server.base_url)
    llmswitch.completion(model="hosted_vllm/m", messages=MESSAGES)
    assert server.hits == 1


def test_bare_model_names_and_custom_provider(server, openai_kw):
    r = llmswitch.completion(model="gpt-4o-mini", messages=MESSAGES, **openai_kw)
    assert r._hidden_params["custom_llm_provider"] == "openai"
    r = llmswitch.completion(
        model="my-model", custom_llm_provider="hosted_vllm", messages=MESSAGES, api_base=server.base_url
    )
    assert r._hidden_params["custom_llm_provider"] == "hosted_vllm"
    assert server.requests[-1]["body"]["model"] == "my-model"
    assert llmswitch.get_llm_provider("groq/llama-3.1-8b-instant")[:2] == ("llama-3.1-8b-instant", "groq")


def test_unknown_provider_is_bad_request_listing_known(server):
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(model="nosuch/model", messages=MESSAGES)
    msg = str(info.value)
    assert "nosuch" in msg and "groq" in msg and "openai" in msg
    with pytest.raises(llmswitch.BadRequestError, match="Cannot tell which provider"):
        llmswitch.completion(model="mystery-model", messages=MESSAGES)
    assert server.hits == 0


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "messages is empty"),
        ([{"role": "robot", "content": "x"}], "messages"),
        ([{"content": "x"}], "role"),
        ([{"role": "tool", "content": "x"}], "tool_call_id"),
        ([{"role": "user", "content": [{"type": "text"}]}], 'without "text"'),
        ([{"role": "user", "content": [{"type": "video"}]}], "unknown type"),
        ("hello", "list of message dicts"),
    ],
)
def test_malformed_messages_fail_before_network(server, openai_kw, messages, needle):
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=messages, **openai_kw)
    assert needle in str(info.value)
    assert server.hits == 0


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([{"content": "hi"}], "messages[0] is missing the required field 'role'"),
        (
            [MESSAGES[0], {"role": "robot", "content": "hi"}],
            "messages[1].role 'robot' is not one of system, user, assistant, tool, developer",
        ),
    ],
)
def test_malformed_message_error_names_the_message(server, openai_kw, messages, needle):
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=messages, **openai_kw)
    assert needle in str(info.value)
    assert server.hits == 0


def test_bad_param_type_is_clear(server, openai_kw):
    with pytest.raises(llmswitch.BadRequestError, match="temperature"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, temperature="hot", **openai_kw)
    assert server.hits == 0


class _Step(pydantic.BaseModel):
    explanation: str
    output: str | None = None


class _Plan(pydantic.BaseModel):
    """A plan: steps, a final step with its own description, and a recursive note."""

    steps: list[_Step]
    final: _Step = pydantic.Field(description="the last step")
    kind: Literal["draft", "final"] = "draft"
    tags: dict[str, int] = {}
    note: _Note | None = None


class _Note(pydantic.BaseModel):
    text: str
    reply: _Note | None = None


_Plan.model_rebuild()


def test_pydantic_model_as_response_format_is_sent_as_the_sdks_strict_schema(server, openai_kw):
    # As in LiteLLM and the OpenAI SDK: the class becomes a strict json_schema named after it,
    # byte-for-byte the schema the OpenAI SDK itself would send.
    from openai.lib._pydantic import to_strict_json_schema

    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, response_format=_Plan, **openai_kw)
    sent = server.requests[0]["body"]["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "_Plan", "schema": to_strict_json_schema(_Plan), "strict": True},
    }
    assert sent["json_schema"]["schema"]["properties"]["final"]["description"] == "the last step"


def test_pydantic_response_format_reaches_native_providers(server):
    kw = {"api_base": server.url, "api_key": TEST_KEY}
    llmswitch.completion(
        model="anthropic/claude-sonnet-4-20250514", messages=MESSAGES, response_format=_Step, **kw
    )
    (tool,) = server.requests[-1]["body"]["tools"]
    assert tool["input_schema"]["required"] == ["explanation", "output"]
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, response_format=_Step, **kw)
    config = server.requests[-1]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["output"]["nullable"] is True


def test_a_class_that_is_not_a_pydantic_model_is_a_clear_error(server, openai_kw):
    class NotAModel:
        pass

    with pytest.raises(llmswitch.BadRequestError, match="NotAModel is not a pydantic model"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, response_format=NotAModel, **openai_kw)
    assert server.hits == 0


def test_unsupported_params_raise_or_drop(server, monkeypatch):
    kw = {"api_base": server.base_url, "api_key": "k" * 12}
    with pytest.raises(llmswitch.UnsupportedParamsError) as info:
        llmswitch.completion(model="groq/llama", messages=MESSAGES, logit_bias={"1": 1}, **kw)
    assert isinstance(info.value, llmswitch.BadRequestError)
    assert "logit_bias" in str(info.value) and "drop_params" in str(info.value)
    assert server.hits == 0

    llmswitch.completion(
        model="groq/llama", messages=MESSAGES, logit_bias={"1": 1}, temperature=0.5, drop_params=True, **kw
    )
    body = server.requests[-1]["body"]
    assert "logit_bias" not in body and body["temperature"] == 0.5

    monkeypatch.setattr(llmswitch, "drop_params", True)
    llmswitch.completion(model="groq/llama", messages=MESSAGES, logit_bias={"1": 1}, **kw)
    assert "logit_bias" not in server.requests[-1]["body"]
    # The per-call setting wins over the global one.
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(
            model="groq/llama", messages=MESSAGES, logit_bias={"1": 1}, drop_params=False, **kw
        )


def test_reasoning_models_rename_max_tokens(server, openai_kw):
    llmswitch.completion(model="openai/o3-mini", messages=MESSAGES, max_tokens=50, **openai_kw)
    body = server.requests[0]["body"]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    with pytest.raises(llmswitch.UnsupportedParamsError, match="temperature"):
        llmswitch.completion(model="openai/o3-mini", messages=MESSAGES, temperature=0.2, **openai_kw)


def test_get_supported_openai_params():
    openai_params = llmswitch.get_supported_openai_params("gpt-4o")
    for p in (
        "temperature",
        "tools",
        "tool_choice",
        "response_format",
        "stream",
        "stream_options",
        "logit_bias",
    ):
        assert p in openai_params
    groq = llmswitch.get_supported_openai_params("groq/llama-3.3-70b-versatile")
    assert "logit_bias" not in groq and "tools" in groq
    assert "temperature" not in llmswitch.get_supported_openai_params("o3-mini")
    assert "tools" not in llmswitch.get_supported_openai_params("sonar", custom_llm_provider="perplexity")
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.get_supported_openai_params("nosuch/x")


def test_provider_list():
    for p in (
        "openai",
        "groq",
        "together_ai",
        "deepseek",
        "fireworks_ai",
        "openrouter",
        "perplexity",
        "xai",
        "deepinfra",
        "cerebras",
        "sambanova",
        "nvidia_nim",
        "hosted_vllm",
        "lm_studio",
        "llamafile",
        "openai_compatible",
        "mock",
    ):
        assert p in llmswitch.provider_list


def test_num_retries_retries_retryable_errors(server, openai_kw):
    server.enqueue(status=503, json={"error": {"message": "overloaded"}}, headers={"retry-after-ms": "10"})
    server.enqueue(status=500, json={"error": {"message": "oops"}}, headers={"retry-after": "0"})
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, num_retries=2, **openai_kw)
    assert r.choices[0].message.content
    assert server.hits == 3
    assert r._hidden_params["retries"] == 2
    # Not retried: a bad request.
    server.reset()
    server.enqueue(status=400, json={"error": {"message": "bad"}})
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, num_retries=3, **openai_kw)
    assert server.hits == 1


def test_rate_limit_headers_kept(server, openai_kw):
    server.enqueue(
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
        },
        headers={"x-ratelimit-remaining-requests": "99", "x-request-id": "req_1", "set-cookie": "a=b"},
    )
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    headers = r._hidden_params["additional_headers"]
    assert headers["x-ratelimit-remaining-requests"] == "99"
    assert headers["x-request-id"] == "req_1"
    assert "set-cookie" not in headers


def test_python_values_convert_like_json(server, openai_kw):
    # int dict keys become strings, as json.dumps writes them; tuples are lists
    llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, logit_bias={50256: -100}, stop=("a", "b"), **openai_kw
    )
    body = server.requests[0]["body"]
    assert body["logit_bias"] == {"50256": -100}
    assert body["stop"] == ["a", "b"]


def test_non_json_value_names_its_path(server, openai_kw):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"enum": {1, 2}}}}]
    with pytest.raises(llmswitch.BadRequestError, match=r"tools\[0\]\.function\.parameters\.enum: .*set"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, tools=tools, **openai_kw)
    with pytest.raises(llmswitch.BadRequestError, match=r"messages\[0\]\.content: .*object"):
        llmswitch.completion(
            model="openai/gpt-4o", messages=[{"role": "user", "content": object()}], **openai_kw
        )
    assert server.hits == 0

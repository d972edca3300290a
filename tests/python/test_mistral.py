"""Mistral (native): strict request bodies, tool-call id rewriting across providers,
Magistral reasoning, streaming, errors and embeddings, against the loopback mock."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, sse

KEY = "mistral-test-0123456789abcdef"
MODEL = "mistral/mistral-small-latest"
PAYMENT_TOOL = {
    "type": "function",
    "function": {
        "name": "retrieve_payment_status",
        "description": "Get payment status of a transaction",
        "parameters": {
            "type": "object",
            "properties": {"transaction_id": {"type": "string", "description": "The transaction id."}},
            "required": ["transaction_id"],
        },
    },
}
MISTRAL_ID = re.compile(r"^[A-Za-z0-9]{9}$")


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": KEY}


def sent(server, i: int = 0) -> dict[str, Any]:
    return server.requests[i]["body"]


def completion(
    message: dict[str, Any], finish: str = "stop", model: str = "mistral-small-latest"
) -> dict[str, Any]:
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "created": 1702256327,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "prefix": False, **message},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 16, "completion_tokens": 34, "total_tokens": 50},
    }


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": "4b2c6d3e9f",
        "object": "chat.completion.chunk",
        "created": 1718884327,
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    body.update(extra)
    return sse(body)


# --- requests -----------------------------------------------------------------------------


def test_basic_call_wire_format_and_response(server, kw):
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"] == {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r._hidden_params["custom_llm_provider"] == "mistral"
    assert r._hidden_params["response_cost"] == pytest.approx(9 * 0.10e-6 + 6 * 0.30e-6)


@pytest.mark.parametrize(
    "model",
    [
        "mistral-small-latest",
        "open-mistral-nemo",
        "codestral-latest",
        "magistral-medium-latest",
        "mistral-embed",
    ],
)
def test_bare_mistral_names(model):
    assert llmswitch.get_llm_provider(model)[:2] == (model, "mistral")
    assert llmswitch.get_llm_provider(f"mistral/{model}")[:2] == (model, "mistral")


def test_missing_key_and_env_vars(server, monkeypatch):
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url)
    assert "MISTRAL_API_KEY" in str(info.value)
    assert server.hits == 0
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-env-key")
    monkeypatch.setenv("MISTRAL_API_BASE", server.url)
    llmswitch.completion(model=MODEL, messages=MESSAGES)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer mistral-env-key"
    assert server.requests[-1]["path"] == "/v1/chat/completions"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_api_base_forms(server, suffix):
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_key=KEY, api_base=server.url + suffix)
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_only_documented_fields_are_sent(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi", "name": "bob"},
            {
                "role": "assistant",
                "content": "Hello",
                "reasoning_content": "x",
                "thinking_blocks": [],
                "refusal": None,
            },
            {"role": "user", "content": [{"type": "text", "text": "again"}]},
        ],
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=64,
        seed=42,
        stop="END",
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format={"type": "json_object"},
        safe_prompt=True,
        **kw,
    )
    assert sent(server) == {
        "model": "mistral-small-latest",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "again"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["END"],
        "random_seed": 42,
        "response_format": {"type": "json_object"},
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "safe_prompt": True,
    }


def test_user_and_other_undefined_params_raise_or_drop(server, kw):
    for bad in ({"user": "u1"}, {"logit_bias": {"1": 1}}, {"logprobs": True}, {"service_tier": "auto"}):
        with pytest.raises(llmswitch.UnsupportedParamsError):
            llmswitch.completion(model=MODEL, messages=MESSAGES, **bad, **kw)
    assert server.hits == 0
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, user="u1", logit_bias={"1": 1}, drop_params=True, **kw
    )
    assert sent(server) == {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}


def test_get_supported_openai_params():
    params = llmswitch.get_supported_openai_params("mistral-small-latest", custom_llm_provider="mistral")
    assert {
        "max_tokens",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "prediction",
    } <= set(params)
    assert "user" not in params and "logit_bias" not in params
    magistral = llmswitch.get_supported_openai_params(
        "magistral-medium-latest", custom_llm_provider="mistral"
    )
    assert "reasoning_effort" in magistral
    assert "reasoning_effort" not in llmswitch.get_supported_openai_params(
        "open-mistral-nemo", custom_llm_provider="mistral"
    )


def test_tools_tool_choice_and_parallel_calls(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        tools=[PAYMENT_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        **kw,
    )
    body = sent(server)
    assert body["tools"] == [PAYMENT_TOOL]
    assert body["tool_choice"] == "any"
    assert body["parallel_tool_calls"] is False
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        tools=[PAYMENT_TOOL],
        tool_choice={"type": "function", "function": {"name": "retrieve_payment_status"}},
        **kw,
    )
    assert sent(server, 1)["tool_choice"] == {
        "type": "function",
        "function": {"name": "retrieve_payment_status"},
    }


def test_stream_sends_no_stream_options(server, kw):
    list(
        llmswitch.completion(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
        )
    )
    assert sent(server) == {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }


# --- tool-call ids across providers -------------------------------------------------------


def test_tool_call_ids_round_trip_openai_mistral_openai(server, kw):
    """A conversation begun on OpenAI continues on Mistral and goes back to OpenAI."""
    openai_kw = {"api_base": server.url + "/v1", "api_key": "sk-test-0123456789abcdef"}
    openai_id = "call_Vxq8cGaYXHkGmqM4DKYLdvS1"
    server.enqueue(
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": openai_id,
                                "type": "function",
                                "function": {
                                    "name": "retrieve_payment_status",
                                    "arguments": '{"transaction_id": "T1001"}',
                                },
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
        }
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Status of T1001 and T1002?"}]
    first = llmswitch.completion(model="openai/gpt-4o", messages=messages, tools=[PAYMENT_TOOL], **openai_kw)
    messages.append(first.choices[0].message.model_dump())
    messages.append({"role": "tool", "tool_call_id": openai_id, "content": '{"status": "Paid"}'})

    # Mistral: the OpenAI id is replaced by a 9-character id, the same in call and result.
    server.enqueue(
        json=completion(
            {
                "content": "",
                "tool_calls": [
                    {
                        "id": "D681PevKs",
                        "function": {
                            "name": "retrieve_payment_status",
                            "arguments": '{"transaction_id": "T1002"}',
                        },
                        "index": 0,
                    }
                ],
            },
            finish="tool_calls",
        )
    )
    second = llmswitch.completion(model=MODEL, messages=messages, tools=[PAYMENT_TOOL], **kw)
    ChatCompletion.model_validate(second)
    mistral_body = sent(server, 1)
    assert server.requests[1]["path"] == "/v1/chat/completions"
    replaced = mistral_body["messages"][1]["tool_calls"][0]["id"]
    assert MISTRAL_ID.match(replaced) and replaced != openai_id
    assert mistral_body["messages"][2] == {
        "role": "tool",
        "content": '{"status": "Paid"}',
        "tool_call_id": replaced,
    }
    assert "function_call" not in mistral_body["messages"][1]
    assert second.choices[0].message.tool_calls[0].id == "D681PevKs"
    messages.append(second.choices[0].message.model_dump())
    messages.append({"role": "tool", "tool_call_id": "D681PevKs", "content": '{"status": "Unpaid"}'})

    # The same conversation sent to Mistral again maps the OpenAI id the same way.
    llmswitch.completion(model=MODEL, messages=messages, tools=[PAYMENT_TOOL], **kw)
    again = sent(server, 2)
    assert again["messages"][2]["tool_call_id"] == replaced
    assert again["messages"][3]["tool_calls"][0]["id"] == "D681PevKs"
    assert again["messages"][4]["tool_call_id"] == "D681PevKs"

    # Back on OpenAI: the caller's ids, untouched.
    llmswitch.completion(model="openai/gpt-4o", messages=messages, **openai_kw)
    back = sent(server, 3)
    assert back["messages"][1]["tool_calls"][0]["id"] == openai_id
    assert back["messages"][2]["tool_call_id"] == openai_id
    assert back["messages"][4]["tool_call_id"] == "D681PevKs"


def test_replaced_ids_are_restored_in_responses(server, kw):
    openai_id = "call_restoreMe0123456789"
    messages = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": openai_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": openai_id, "content": "1"},
    ]
    llmswitch.completion(model=MODEL, messages=messages, **kw)
    replaced = sent(server)["messages"][1]["tool_calls"][0]["id"]
    # A response naming the replaced id (non-streaming and streaming) gets the caller's id.
    call = {"id": replaced, "function": {"name": "f", "arguments": "{}"}, "index": 0}
    server.enqueue(json=completion({"content": "", "tool_calls": [call]}, finish="tool_calls"))
    r = llmswitch.completion(model=MODEL, messages=messages, **kw)
    assert r.choices[0].message.tool_calls[0].id == openai_id
    server.enqueue(
        sse=[chunk({"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls"), "data: [DONE]"]
    )
    chunks = list(llmswitch.completion(model=MODEL, messages=messages, stream=True, **kw))
    assert chunks[0].choices[0].delta.tool_calls[0].id == openai_id


# --- responses ----------------------------------------------------------------------------


def test_magistral_thinking_becomes_reasoning_content(server, kw):
    server.enqueue(
        json=completion(
            {
                "tool_calls": None,
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "Okay, 6 times 7 is 42."}]},
                    {"type": "text", "text": "The answer is 42."},
                ],
            },
            model="magistral-medium-2509",
        )
    )
    r = llmswitch.completion(
        model="mistral/magistral-medium-latest", messages=MESSAGES, reasoning_effort="medium", **kw
    )
    ChatCompletion.model_validate(r)
    assert sent(server)["prompt_mode"] == "reasoning"
    assert "reasoning_effort" not in sent(server)
    assert r.choices[0].message.content == "The answer is 42."
    assert r.choices[0].message.reasoning_content == "Okay, 6 times 7 is 42."


def test_model_length_is_length(server, kw):
    server.enqueue(json=completion({"content": "truncated"}, finish="model_length"))
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert r.choices[0].finish_reason == "length"


# --- streaming ----------------------------------------------------------------------------


def test_stream_default_reply_reports_usage(server, kw):
    stream = llmswitch.completion(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
    )
    chunks = list(stream)
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2 w3 w4 w5"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert stream._hidden_params["response_cost"] == pytest.approx(9 * 0.10e-6 + 6 * 0.30e-6)
    # Without include_usage the usage chunk is not shown, but the stream is still costed.
    stream = llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw)
    chunks = list(stream)
    assert all(c.get("usage") is None for c in chunks)
    assert stream._hidden_params["response_cost"] > 0


def test_stream_with_tool_calls_and_magistral_thinking(server, kw):
    server.enqueue(
        sse=[
            chunk({"role": "assistant", "content": ""}),
            chunk(
                {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Two lookups."}]}]}
            ),
            chunk(
                {
                    "tool_calls": [
                        {
                            "id": "nEaRF5V6z",
                            "function": {
                                "name": "retrieve_payment_status",
                                "arguments": '{"transaction_id": "T1001"}',
                            },
                            "index": 0,
                        }
                    ]
                }
            ),
            chunk(
                {
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "Kq2Lm8Pz1",
                            "function": {
                                "name": "retrieve_payment_status",
                                "arguments": '{"transaction_id": "T1002"}',
                            },
                            "index": 0,
                        }
                    ],
                },
                "tool_calls",
                usage={"prompt_tokens": 80, "total_tokens": 120, "completion_tokens": 40},
            ),
            "data: [DONE]",
        ]
    )
    chunks = list(
        llmswitch.completion(
            model=MODEL,
            messages=MESSAGES,
            tools=[PAYMENT_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        assert c.id == "4b2c6d3e9f"
    r = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert [c.id for c in msg.tool_calls] == ["nEaRF5V6z", "Kq2Lm8Pz1"]
    assert [json.loads(c.function.arguments)["transaction_id"] for c in msg.tool_calls] == ["T1001", "T1002"]
    assert msg.reasoning_content == "Two lookups."
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (80, 40)


def test_mid_stream_error(server, kw):
    server.enqueue(
        sse=[
            chunk({"role": "assistant", "content": "Hel"}),
            sse(
                {
                    "object": "error",
                    "message": "Service tier capacity exceeded for this model.",
                    "type": "service_tier_capacity_exceeded",
                    "param": None,
                    "code": "3505",
                }
            ),
        ]
    )
    received = []
    with pytest.raises(llmswitch.RateLimitError):
        for c in llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw):
            received.append(c)
    assert received[0].choices[0].delta.content == "Hel"


# --- errors -------------------------------------------------------------------------------


def mistral_error(message: Any, type_: str = "invalid_request_error", code: Any = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            400,
            mistral_error(
                "Prompt contains 33001 tokens and 0 draft tokens, too large for model with 32768 maximum context length"
            ),
            llmswitch.ContextWindowExceededError,
        ),
        (400, mistral_error("Invalid tool_choice"), llmswitch.BadRequestError),
        (
            422,
            mistral_error(
                {
                    "detail": [
                        {
                            "type": "extra_forbidden",
                            "loc": ["body", "user"],
                            "msg": "Extra inputs are not permitted",
                        }
                    ]
                },
                "invalid_request_message_error",
            ),
            llmswitch.BadRequestError,
        ),
        (401, {"message": "Unauthorized", "request_id": "9b1b"}, llmswitch.AuthenticationError),
        (404, mistral_error("Invalid model: mistral-nope", "invalid_model", "1500"), llmswitch.NotFoundError),
        (429, {"message": "Requests rate limit exceeded"}, llmswitch.RateLimitError),
        (
            429,
            mistral_error(
                "Service tier capacity exceeded for this model.", "service_tier_capacity_exceeded", "3505"
            ),
            llmswitch.RateLimitError,
        ),
        (500, mistral_error("Internal server error", "internal_error"), llmswitch.InternalServerError),
        (503, {"message": "Service unavailable"}, llmswitch.ServiceUnavailableError),
        (504, {"message": "Gateway timeout"}, llmswitch.Timeout),
    ],
)
def test_error_classes(server, kw, status, body, cls):
    server.enqueue(status=status, json=body)
    with pytest.raises(cls) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert err.llm_provider == "mistral"
    assert err.model == "mistral-small-latest"
    assert err.body == body


# --- embeddings ---------------------------------------------------------------------------


def test_embeddings(server, kw):
    r = llmswitch.embedding(
        model="mistral/mistral-embed", input=["Embed this sentence.", "As well as this one."], **kw
    )
    (req,) = server.requests
    assert req["path"] == "/v1/embeddings"
    assert req["body"] == {
        "model": "mistral-embed",
        "input": ["Embed this sentence.", "As well as this one."],
    }
    CreateEmbeddingResponse.model_validate(r)
    assert r._hidden_params["custom_llm_provider"] == "mistral"
    assert r._hidden_params["response_cost"] == pytest.approx(r.usage.prompt_tokens * 0.10e-6)

    r = llmswitch.embedding(model="codestral-embed", input="x", dimensions=4, encoding_format="float", **kw)
    assert sent(server, 1) == {
        "model": "codestral-embed",
        "input": "x",
        "output_dimension": 4,
        "encoding_format": "float",
    }
    assert len(r.data[0]["embedding"]) == 4
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.embedding(model="mistral/mistral-embed", input="x", dimensions=4, **kw)
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.embedding(model="mistral/mistral-embed", input="x", user="u", **kw)


def test_timeout_and_broken_connection(server, kw):
    server.enqueue(delay=1.0)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.completion(model=MODEL, messages=MESSAGES, timeout=0.2, **kw)
    server.enqueue(disconnect=True)
    with pytest.raises(llmswitch.APIConnectionError):
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)


def test_async_completion_and_embedding(server, kw):
    async def run() -> tuple[Any, Any]:
        r = await llmswitch.acompletion(model=MODEL, messages=MESSAGES, **kw)
        e = await llmswitch.aembedding(model="mistral/mistral-embed", input="x", **kw)
        return r, e

    r, e = asyncio.run(run())
    assert r.choices[0].message.content == "Hello from the mock server."
    assert len(e.data) == 1

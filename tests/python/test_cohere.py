"""Cohere (v2 Chat and Embed): request translation, responses, streaming, errors, embeddings.

The mock server speaks Cohere's v2 API. Request bodies are asserted against the shapes in
Cohere's API reference, and the official ``cohere`` SDK both parses the mock's replies and
sends the same bodies llmswitch sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES

KEY = "co-test-0123456789abcdef"
MODEL = "cohere/command-a-03-2025"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "gets the weather of a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "the location"}},
            "required": ["location"],
        },
    },
}

try:
    import cohere
except ImportError as exc:  # pragma: no cover - the Makefile installs it
    cohere = None
    COHERE_IMPORT_ERROR = str(exc)
else:
    COHERE_IMPORT_ERROR = ""

needs_sdk = pytest.mark.skipif(cohere is None, reason=f"cohere SDK not importable: {COHERE_IMPORT_ERROR}")


@pytest.fixture()
def client(server) -> Any:
    """The official SDK pointed at the mock, its connections closed afterwards."""
    import httpx

    with httpx.Client() as http:
        yield cohere.ClientV2(api_key=KEY, base_url=server.url, httpx_client=http)


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": KEY}


def sent(server, i: int = 0) -> dict[str, Any]:
    return server.requests[i]["body"]


def events(*payloads: dict[str, Any]) -> list[str]:
    """SSE frames as Cohere sends them: the event type named, the JSON as data."""
    return [f"event: {p['type']}\ndata: {json.dumps(p)}" for p in payloads]


def chat_reply(message: dict[str, Any], finish: str = "COMPLETE", **usage: Any) -> dict[str, Any]:
    return {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": finish,
        "message": {"role": "assistant", **message},
        "usage": usage
        or {
            "billed_units": {"input_tokens": 5, "output_tokens": 7},
            "tokens": {"input_tokens": 71, "output_tokens": 7},
        },
    }


# --- requests -----------------------------------------------------------------------------


def test_basic_call_wire_format_and_response(server, kw):
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v2/chat"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == {
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }

    ChatCompletion.model_validate(r)
    assert r.id == "mock-cohere-response"
    assert r.model == "command-a-03-2025"
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 6, 15)
    assert r._hidden_params["custom_llm_provider"] == "cohere"
    assert r._hidden_params["response_cost"] == pytest.approx(9 * 2.5e-6 + 6 * 10e-6)


def test_bare_command_names_and_provider_list(server, kw):
    r = llmswitch.completion(model="command-r-08-2024", messages=MESSAGES, **kw)
    assert r._hidden_params["custom_llm_provider"] == "cohere"
    assert sent(server)["model"] == "command-r-08-2024"
    assert llmswitch.get_llm_provider("command-a-03-2025")[:2] == ("command-a-03-2025", "cohere")
    assert llmswitch.get_llm_provider("cohere/command-r7b-12-2024")[:2] == ("command-r7b-12-2024", "cohere")
    assert "cohere" in llmswitch.provider_list


def test_missing_key_fails_before_any_request_and_env_vars_work(server, monkeypatch):
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url)
    assert "COHERE_API_KEY" in str(info.value) and "CO_API_KEY" in str(info.value)
    assert info.value.llm_provider == "cohere"
    assert server.hits == 0

    monkeypatch.setenv("CO_API_KEY", "co-env-key-1")
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_base=server.url)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer co-env-key-1"
    monkeypatch.setenv("COHERE_API_KEY", "cohere-env-key-2")
    # As in LiteLLM, COHERE_API_BASE is the full chat URL.
    monkeypatch.setenv("COHERE_API_BASE", server.url + "/v2/chat")
    llmswitch.completion(model=MODEL, messages=MESSAGES)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer cohere-env-key-2"
    assert server.requests[-1]["path"] == "/v2/chat"


@pytest.mark.parametrize("suffix", ["", "/", "/v2", "/v2/chat", "/v2/chat/"])
def test_api_base_forms(server, suffix):
    llmswitch.completion(model=MODEL, messages=MESSAGES, api_key=KEY, api_base=server.url + suffix)
    llmswitch.embedding(model="cohere/embed-v4.0", input="x", api_key=KEY, api_base=server.url + suffix)
    assert [r["path"] for r in server.requests] == ["/v2/chat", "/v2/embed"]


def test_params_translate_field_by_field(server, kw):
    llmswitch.completion(
        model=MODEL,
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        temperature=0.3,
        top_p=0.75,
        top_k=40,
        max_completion_tokens=100,
        stop=["END"],
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        safety_mode="STRICT",
        response_format={"type": "json_object"},
        **kw,
    )
    assert sent(server) == {
        "model": "command-a-03-2025",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
        "max_tokens": 100,
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "p": 0.75,
        "k": 40,
        "safety_mode": "STRICT",
        "stream": False,
    }


def test_json_schema_response_format(server, kw):
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        **kw,
    )
    assert sent(server)["response_format"] == {"type": "json_object", "json_schema": schema}


def test_tool_conversation_wire_format(server, kw):
    messages = [
        {"role": "user", "content": "What's the weather in Toronto?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I will use the get_weather tool.",
            "tool_calls": [
                {
                    "id": "get_weather_1byjy32y4hvq",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": '[{"temperature": 20}]'},
    ]
    llmswitch.completion(model=MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="required", **kw)
    assert sent(server) == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "user", "content": "What's the weather in Toronto?"},
            {
                "role": "assistant",
                "tool_plan": "I will use the get_weather tool.",
                "tool_calls": [
                    {
                        "id": "get_weather_1byjy32y4hvq",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": '[{"temperature": 20}]'},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "REQUIRED",
        "stream": False,
    }


@needs_sdk
def test_the_sdk_sends_the_same_bodies(server, kw, client):
    """The official SDK and llmswitch put the same JSON on the wire for the same call."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What's the weather in Toronto?"},
        {
            "role": "assistant",
            "tool_plan": "I will check.",
            "tool_calls": [
                {
                    "id": "get_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "get_weather_1", "content": '{"temperature": 20}'},
    ]
    client.chat(
        model="command-a-03-2025",
        messages=messages,
        tools=[WEATHER_TOOL],
        temperature=0.3,
        p=0.75,
        k=40,
        max_tokens=100,
        stop_sequences=["END"],
        seed=7,
        tool_choice="REQUIRED",
    )
    ours = [dict(m) for m in messages]
    ours[2] = {k: v for k, v in ours[2].items() if k != "tool_plan"} | {"reasoning_content": "I will check."}
    llmswitch.completion(
        model=MODEL,
        messages=ours,
        tools=[WEATHER_TOOL],
        temperature=0.3,
        top_p=0.75,
        top_k=40,
        max_tokens=100,
        stop=["END"],
        seed=7,
        tool_choice="required",
        **kw,
    )
    sdk_body, our_body = sent(server, 0), sent(server, 1)
    assert server.requests[0]["path"] == server.requests[1]["path"] == "/v2/chat"
    assert our_body == sdk_body

    client.embed(
        model="embed-v4.0", texts=["a", "b"], input_type="search_document", embedding_types=["float"]
    )
    llmswitch.embedding(model="cohere/embed-v4.0", input=["a", "b"], **kw)
    assert sent(server, 3) == sent(server, 2)


def test_unsupported_params_raise_or_drop(server, kw):
    with pytest.raises(llmswitch.UnsupportedParamsError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, n=2, **kw)
    assert "n" in str(info.value)
    assert server.hits == 0
    llmswitch.completion(
        model=MODEL, messages=MESSAGES, n=2, user="u1", logit_bias={"1": 1}, drop_params=True, **kw
    )
    body = sent(server)
    assert "n" not in body and "user" not in body and "logit_bias" not in body


def test_get_supported_openai_params():
    params = llmswitch.get_supported_openai_params("command-a-03-2025", custom_llm_provider="cohere")
    assert set(params) >= {"temperature", "top_p", "max_tokens", "stop", "seed", "tools", "tool_choice"}
    assert "response_format" in params and "n" not in params and "user" not in params


def test_unsupported_content_fails_before_network(server, kw):
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}],
                }
            ],
            **kw,
        )
    assert "input_audio" in str(info.value)
    assert server.hits == 0


# --- responses ----------------------------------------------------------------------------


def test_tool_call_response(server, kw):
    server.enqueue(
        json=chat_reply(
            {
                "tool_plan": "I will use the get_weather tool to find the weather in Toronto.",
                "tool_calls": [
                    {
                        "id": "get_weather_1byjy32y4hvq",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    }
                ],
            },
            finish="TOOL_CALL",
        )
    )
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL], **kw)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert msg.content is None
    assert msg.reasoning_content == "I will use the get_weather tool to find the weather in Toronto."
    assert msg.tool_calls[0].id == "get_weather_1byjy32y4hvq"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Toronto"}
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (71, 7)


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length")],
)
def test_finish_reasons(server, kw, finish, expected):
    server.enqueue(json=chat_reply({"content": [{"type": "text", "text": "a"}]}, finish=finish))
    r = llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert r.choices[0].finish_reason == expected


def test_error_finish_reason_raises(server, kw):
    server.enqueue(json=chat_reply({"content": []}, finish="ERROR"))
    with pytest.raises(llmswitch.InternalServerError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert "ERROR" in str(info.value)


def test_citations_become_annotations(server, kw):
    server.enqueue(
        json=chat_reply(
            {
                "content": [{"type": "text", "text": "The tallest penguins are emperor penguins."}],
                "citations": [
                    {
                        "start": 29,
                        "end": 42,
                        "text": "emperor penguins",
                        "type": "TEXT_CONTENT",
                        "sources": [
                            {
                                "type": "document",
                                "id": "doc:0",
                                "document": {"title": "Penguins", "snippet": "..."},
                            }
                        ],
                    }
                ],
            }
        )
    )
    r = llmswitch.completion(
        model=MODEL, messages=MESSAGES, documents=["Emperor penguins are the tallest."], **kw
    )
    ChatCompletion.model_validate(r)
    assert sent(server)["documents"] == ["Emperor penguins are the tallest."]
    assert r.choices[0].message.annotations == [
        {
            "type": "url_citation",
            "url_citation": {"start_index": 29, "end_index": 42, "title": "Penguins", "url": "source:doc:0"},
        }
    ]


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
        assert c.id == "mock-cohere-response"
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.get("usage") is None for c in chunks)

    stream = llmswitch.completion(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
    )
    chunks = list(stream)
    assert "stream_options" not in sent(server, 1)
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 6)
    assert stream._hidden_params["custom_llm_provider"] == "cohere"


def test_stream_with_tool_calls_rebuilds(server, kw):
    server.enqueue(
        sse=events(
            {
                "type": "message-start",
                "id": "29f14a5a-11de-4cae-9800-25e4747408ed",
                "delta": {
                    "message": {
                        "role": "assistant",
                        "content": [],
                        "tool_plan": "",
                        "tool_calls": [],
                        "citations": [],
                    }
                },
            },
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will look up"}}},
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": " the weather."}}},
            {
                "type": "tool-call-start",
                "index": 0,
                "delta": {
                    "message": {
                        "tool_calls": {
                            "id": "get_weather_nsz5zm3w56q3",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    }
                },
            },
            {
                "type": "tool-call-delta",
                "index": 0,
                "delta": {"message": {"tool_calls": {"function": {"arguments": '{"location'}}}},
            },
            {
                "type": "tool-call-delta",
                "index": 0,
                "delta": {"message": {"tool_calls": {"function": {"arguments": '":"Toronto"}'}}}},
            },
            {"type": "tool-call-end", "index": 0},
            {
                "type": "tool-call-start",
                "index": 1,
                "delta": {
                    "message": {
                        "tool_calls": {
                            "id": "get_weather_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                        }
                    }
                },
            },
            {"type": "tool-call-end", "index": 1},
            {
                "type": "message-end",
                "delta": {
                    "finish_reason": "TOOL_CALL",
                    "usage": {
                        "billed_units": {"input_tokens": 37, "output_tokens": 28},
                        "tokens": {"input_tokens": 913, "output_tokens": 83},
                    },
                },
            },
        )
    )
    stream = llmswitch.completion(
        model=MODEL,
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    chunks = list(stream)
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        assert c.id == "29f14a5a-11de-4cae-9800-25e4747408ed"
    deltas = [
        c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.get("tool_calls")
    ]
    assert [(d.index, d.get("id")) for d in deltas] == [
        (0, "get_weather_nsz5zm3w56q3"),
        (0, None),
        (0, None),
        (1, "get_weather_2"),
    ]
    r = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert [json.loads(c.function.arguments) for c in msg.tool_calls] == [
        {"location": "Toronto"},
        {"location": "Paris"},
    ]
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (913, 83)
    assert stream._hidden_params["response_cost"] == pytest.approx(913 * 2.5e-6 + 83 * 10e-6)


def test_stream_error_finish_and_http_errors(server, kw):
    server.enqueue(
        sse=events(
            {"type": "message-start", "id": "m1", "delta": {"message": {"role": "assistant"}}},
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hel"}}}},
            {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "generation failed"}},
        )
    )
    received = []
    with pytest.raises(llmswitch.InternalServerError) as info:
        for c in llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw):
            received.append(c)
    assert "generation failed" in str(info.value)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Hel"

    server.enqueue(
        status=429,
        json={"id": "x", "message": "You are using a Trial key, which is limited to 10 API calls / minute."},
    )
    with pytest.raises(llmswitch.RateLimitError):
        list(llmswitch.completion(model=MODEL, messages=MESSAGES, stream=True, **kw))


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (400, "invalid request: message must be at least 1 token long", llmswitch.BadRequestError),
        (
            400,
            "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4765. "
            "Try using a shorter prompt, or enabling prompt truncating.",
            llmswitch.ContextWindowExceededError,
        ),
        (401, "invalid api token", llmswitch.AuthenticationError),
        (403, "Forbidden", llmswitch.PermissionDeniedError),
        (
            404,
            "model 'command-nope' not found, make sure the correct model ID was used",
            llmswitch.NotFoundError,
        ),
        (422, "invalid type: parameter max_tokens is of type string", llmswitch.BadRequestError),
        (
            429,
            "You are using a Trial key, which is limited to 10 API calls / minute.",
            llmswitch.RateLimitError,
        ),
        (498, "blocked input", llmswitch.BadRequestError),
        (
            500,
            "internal server error, this has been reported to our developers",
            llmswitch.InternalServerError,
        ),
        (503, "service unavailable", llmswitch.ServiceUnavailableError),
        (504, "gateway timeout", llmswitch.Timeout),
    ],
)
def test_error_classes(server, kw, status, message, cls):
    server.enqueue(status=status, json={"id": "err-1", "message": message}, headers={"retry-after": "2"})
    with pytest.raises(cls) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert message in str(err)
    assert err.llm_provider == "cohere"
    assert err.model == "command-a-03-2025"
    assert err.body == {"id": "err-1", "message": message}


def test_key_is_redacted_from_errors(server, kw):
    server.enqueue(status=401, json={"message": f"invalid api token {KEY}"})
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)
    assert KEY not in str(info.value)
    assert KEY not in json.dumps(info.value.body)


# --- embeddings ---------------------------------------------------------------------------


def test_embeddings_wire_format_and_cost(server, kw):
    r = llmswitch.embedding(model="cohere/embed-v4.0", input=["hello", "goodbye world"], dimensions=4, **kw)
    (req,) = server.requests
    assert req["path"] == "/v2/embed"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"] == {
        "model": "embed-v4.0",
        "texts": ["hello", "goodbye world"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 4,
    }
    assert r.object == "list"
    assert [d["index"] for d in r.data] == [0, 1]
    assert all(len(d["embedding"]) == 4 for d in r.data)
    assert r.usage.prompt_tokens == 3
    assert r._hidden_params["response_cost"] == pytest.approx(3 * 0.12e-6)


def test_embeddings_input_type_base64_and_errors(server, kw):
    r = llmswitch.embedding(
        model="embed-english-v3.0", input="query", input_type="search_query", encoding_format="base64", **kw
    )
    assert r._hidden_params["custom_llm_provider"] == "cohere"
    assert sent(server)["input_type"] == "search_query"
    raw = base64.b64decode(r.data[0]["embedding"])
    assert len(struct.unpack(f"<{len(raw) // 4}f", raw)) == 8

    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.embedding(model="cohere/embed-v4.0", input="x", user="u", **kw)
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.embedding(model="cohere/embed-v4.0", input=[1, 2, 3], **kw)
    server.enqueue(
        status=400,
        json={"message": "invalid request: input_type must be one of search_document, search_query"},
    )
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.embedding(model="cohere/embed-v4.0", input="x", input_type="nope", **kw)
    assert info.value.llm_provider == "cohere"


# --- the official SDK parses the mock's replies ---------------------------------------------


@needs_sdk
def test_sdk_parses_the_mock_replies(server, client):
    r = client.chat(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
    assert r.finish_reason == "COMPLETE"
    assert r.message.content[0].text == "Hello from the mock server."
    assert r.usage.tokens.input_tokens == 9

    kinds = [
        e.type
        for e in client.chat_stream(model="command-a-03-2025", messages=[{"role": "user", "content": "hi"}])
    ]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end"
    assert "content-delta" in kinds

    e = client.embed(
        model="embed-v4.0", texts=["a", "b"], input_type="search_document", embedding_types=["float"]
    )
    assert len(e.embeddings.float_) == 2
    assert e.meta.billed_units.input_tokens == 2


def test_timeout_and_broken_connection(server, kw):
    server.enqueue(delay=1.0)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.completion(model=MODEL, messages=MESSAGES, timeout=0.2, **kw)
    server.enqueue(disconnect=True)
    with pytest.raises(llmswitch.APIConnectionError):
        llmswitch.completion(model=MODEL, messages=MESSAGES, **kw)


def test_async_stream(server, kw):
    async def run() -> str:
        stream = await llmswitch.acompletion(model=MODEL, messages=MESSAGES, stream=True, **kw)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == "Hello w1 w2 w3 w4 w5"

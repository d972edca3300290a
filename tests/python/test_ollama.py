"""Ollama (native /api/chat and /api/embed, for both ``ollama/`` and ``ollama_chat/``):
request translation, NDJSON streaming, tools, thinking, errors and embeddings, against the
loopback mock. The official ``ollama`` SDK parses the mock's replies and sends the same
bodies llmswitch sends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES

try:
    import ollama
except ImportError as exc:  # pragma: no cover - the Makefile installs it
    ollama = None
    OLLAMA_IMPORT_ERROR = str(exc)
else:
    OLLAMA_IMPORT_ERROR = ""

needs_sdk = pytest.mark.skipif(ollama is None, reason=f"ollama SDK not importable: {OLLAMA_IMPORT_ERROR}")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The location, e.g. San Francisco, CA"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "format"],
        },
    },
}


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url}


@pytest.fixture()
def client(server) -> Any:
    """The official SDK pointed at the mock, closed afterwards."""
    with ollama.Client(host=server.url) as c:
        yield c


def sent(server, i: int = 0) -> dict[str, Any]:
    return server.requests[i]["body"]


def ndjson(*lines: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for server.enqueue: an NDJSON body as Ollama streams it."""
    return {
        "body": "".join(json.dumps(line) + "\n" for line in lines),
        "headers": {"content-type": "application/x-ndjson"},
    }


def line(content: str = "", done: bool = False, **message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": content, **message},
        "done": done,
    }
    if done:
        out.update(
            {"done_reason": "stop", "total_duration": 4883583458, "prompt_eval_count": 26, "eval_count": 282}
        )
    return out


# --- requests -----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["ollama", "ollama_chat"])
def test_both_prefixes_use_api_chat(server, kw, prefix):
    r = llmswitch.completion(model=f"{prefix}/llama3.2", messages=MESSAGES, **kw)
    (req,) = server.requests
    assert req["path"] == "/api/chat"
    assert "authorization" not in req["headers"]
    assert req["body"] == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
    }
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.model == "llama3.2"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 6, 15)
    assert r._hidden_params["custom_llm_provider"] == prefix
    assert r._hidden_params["response_cost"] == 0.0
    assert prefix in llmswitch.provider_list


def test_api_base_env_default_and_optional_key(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_BASE", server.url + "/api/chat")
    llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES)
    assert server.requests[-1]["path"] == "/api/chat"
    assert "authorization" not in server.requests[-1]["headers"]
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama-cloud-key")
    llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES)
    assert server.requests[-1]["headers"]["authorization"] == "Bearer ollama-cloud-key"
    assert llmswitch.get_llm_provider("ollama/llama3.2")[:2] == ("llama3.2", "ollama")


def test_options_format_keep_alive_and_think(server, kw):
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    llmswitch.completion(
        model="ollama_chat/llama3.1",
        messages=MESSAGES,
        temperature=0.7,
        top_p=0.9,
        max_tokens=42,
        stop=["\n", "user:"],
        seed=42,
        frequency_penalty=1.0,
        presence_penalty=1.5,
        num_ctx=8192,
        top_k=20,
        keep_alive="10m",
        reasoning_effort="high",
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        **kw,
    )
    assert sent(server) == {
        "model": "llama3.1",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "format": schema,
        "think": True,
        "options": {
            "temperature": 0.7,
            "top_p": 0.9,
            "num_predict": 42,
            "stop": ["\n", "user:"],
            "seed": 42,
            "frequency_penalty": 1.0,
            "presence_penalty": 1.5,
            "num_ctx": 8192,
            "top_k": 20,
        },
        "keep_alive": "10m",
    }
    llmswitch.completion(
        model="ollama/llama3.1", messages=MESSAGES, response_format={"type": "json_object"}, **kw
    )
    assert sent(server, 1)["format"] == "json"


def test_get_supported_params_and_unsupported(server, kw):
    params = llmswitch.get_supported_openai_params("llama3.2", custom_llm_provider="ollama")
    assert {"max_tokens", "temperature", "seed", "frequency_penalty", "tools", "response_format"} <= set(
        params
    )
    assert "n" not in params and "logit_bias" not in params
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, n=2, **kw)
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(
            model="ollama/llama3.2", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required", **kw
        )
    assert server.hits == 0
    llmswitch.completion(
        model="ollama/llama3.2",
        messages=MESSAGES,
        n=2,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        drop_params=True,
        **kw,
    )
    body = sent(server)
    assert "n" not in body and "tool_choice" not in body and body["tools"] == [WEATHER_TOOL]


def test_tool_conversation_and_images(server, kw):
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "Paris, FR", "format": "celsius"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22"},
    ]
    llmswitch.completion(model="ollama/llava", messages=messages, tools=[WEATHER_TOOL], **kw)
    assert sent(server)["messages"] == [
        {"role": "user", "content": "what is in this image?", "images": ["iVBORw0KGgoAAAANSUhEUg=="]},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "function": {
                        "name": "get_current_weather",
                        "arguments": {"location": "Paris, FR", "format": "celsius"},
                    }
                }
            ],
        },
        {"role": "tool", "content": "22", "tool_name": "get_current_weather"},
    ]
    assert sent(server)["tools"] == [WEATHER_TOOL]
    with pytest.raises(llmswitch.BadRequestError, match="base64"):
        llmswitch.completion(
            model="ollama/llava",
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
            ],
            **kw,
        )


@needs_sdk
def test_the_sdk_sends_the_same_bodies(server, kw, client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather today in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_current_weather", "arguments": {"location": "Paris, FR"}}}
            ],
        },
        {"role": "tool", "content": "22", "tool_name": "get_current_weather"},
    ]
    client.chat(
        model="llama3.2",
        messages=messages,
        tools=[WEATHER_TOOL],
        options={"temperature": 0.2, "num_predict": 64, "seed": 7, "num_ctx": 4096},
        keep_alive="5m",
        think=True,
    )
    ours = [dict(m) for m in messages]
    ours[2] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"location": "Paris, FR"}'},
            }
        ],
    }
    ours[3] = {"role": "tool", "tool_call_id": "call_1", "content": "22"}
    llmswitch.completion(
        model="ollama/llama3.2",
        messages=ours,
        tools=[WEATHER_TOOL],
        temperature=0.2,
        max_tokens=64,
        seed=7,
        num_ctx=4096,
        keep_alive="5m",
        think=True,
        **kw,
    )
    assert sent(server, 1) == sent(server, 0)

    client.embed(model="all-minilm", input=["a", "b"], dimensions=4)
    llmswitch.embedding(model="ollama/all-minilm", input=["a", "b"], dimensions=4, **kw)
    assert sent(server, 3) == sent(server, 2)


# --- responses ----------------------------------------------------------------------------


def test_tool_call_response_gets_unique_ids(server, kw):
    server.enqueue(
        json={
            "model": "llama3.2",
            "created_at": "2024-07-22T20:33:28.123648Z",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"format": "celsius", "location": "Paris, FR"},
                        }
                    },
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"format": "celsius", "location": "Lyon, FR"},
                        }
                    },
                ],
            },
            "done_reason": "stop",
            "done": True,
            "prompt_eval_count": 122,
            "eval_count": 33,
        }
    )
    r = llmswitch.completion(model="ollama_chat/llama3.2", messages=MESSAGES, tools=[WEATHER_TOOL], **kw)
    ChatCompletion.model_validate(r)
    calls = r.choices[0].message.tool_calls
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert json.loads(calls[1].function.arguments) == {"format": "celsius", "location": "Lyon, FR"}
    assert r.choices[0].message.content is None
    assert r.choices[0].finish_reason == "tool_calls"


def test_thinking_and_done_reason(server, kw):
    server.enqueue(
        json={
            "model": "qwen3",
            "message": {"role": "assistant", "content": "42", "thinking": "6 times 7"},
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 3,
            "eval_count": 4,
        }
    )
    r = llmswitch.completion(model="ollama/qwen3", messages=MESSAGES, reasoning_effort="low", **kw)
    ChatCompletion.model_validate(r)
    assert sent(server)["think"] is True
    assert r.choices[0].message.reasoning_content == "6 times 7"
    assert r.choices[0].finish_reason == "length"


# --- streaming ----------------------------------------------------------------------------


def test_stream_default_reply_one_id(server, kw):
    stream = llmswitch.completion(
        model="ollama/llama3.2", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
    )
    chunks = list(stream)
    assert sent(server)["stream"] is True
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2 w3 w4 w5"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and (
        chunks[-1].usage.prompt_tokens,
        chunks[-1].usage.completion_tokens,
    ) == (9, 6)
    assert stream._hidden_params["response_cost"] == 0.0


def test_stream_with_thinking_and_tool_calls(server, kw):
    server.enqueue(
        **ndjson(
            line(thinking="I should"),
            line(thinking=" call the tool."),
            line(
                tool_calls=[
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"location": "Paris, FR", "format": "celsius"},
                        }
                    },
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"location": "Lyon, FR", "format": "celsius"},
                        }
                    },
                ]
            ),
            line(done=True),
        )
    )
    chunks = list(
        llmswitch.completion(
            model="ollama_chat/llama3.2",
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert len({c.id for c in chunks}) == 1
    r = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert msg.reasoning_content == "I should call the tool."
    assert [json.loads(c.function.arguments)["location"] for c in msg.tool_calls] == ["Paris, FR", "Lyon, FR"]
    assert len({c.id for c in msg.tool_calls}) == 2
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (26, 282)


def test_stream_error_line_and_cut_stream(server, kw):
    server.enqueue(
        **ndjson(line("Hel"), {"error": "an error was encountered while running the model: unexpected EOF"})
    )
    received = []
    with pytest.raises(llmswitch.InternalServerError) as info:
        for c in llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, stream=True, **kw):
            received.append(c)
    assert "unexpected EOF" in str(info.value)
    assert received[0].choices[0].delta.content == "Hel"

    server.enqueue(**ndjson(line("Hel")))
    with pytest.raises(llmswitch.APIConnectionError):
        list(llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, stream=True, **kw))


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (404, 'model "llama3" not found, try pulling it first', llmswitch.NotFoundError),
        (400, "invalid options: foo", llmswitch.BadRequestError),
        (
            500,
            "open /root/.ollama/models/blobs/sha256-x: no such file or directory",
            llmswitch.BadRequestError,
        ),
        (400, "input length exceeds the context length", llmswitch.ContextWindowExceededError),
        (401, "unauthorized", llmswitch.AuthenticationError),
        (500, "llama runner process has terminated: signal: killed", llmswitch.InternalServerError),
        (
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            llmswitch.ServiceUnavailableError,
        ),
    ],
)
def test_error_classes(server, kw, status, message, cls):
    server.enqueue(status=status, json={"error": message})
    with pytest.raises(cls) as info:
        llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, **kw)
    err = info.value
    assert type(err) is cls
    assert err.status_code == status
    assert message in str(err)
    assert err.llm_provider == "ollama"
    assert err.model == "llama3.2"
    assert err.body == {"error": message}


def test_server_down_is_a_connection_error():
    with pytest.raises(llmswitch.APIConnectionError):
        llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, api_base="http://127.0.0.1:9")


# --- embeddings ---------------------------------------------------------------------------


def test_embeddings(server, kw):
    r = llmswitch.embedding(
        model="ollama/all-minilm", input=["Why is the sky blue?", "Why is the grass green?"], **kw
    )
    (req,) = server.requests
    assert req["path"] == "/api/embed"
    assert req["body"] == {
        "model": "all-minilm",
        "input": ["Why is the sky blue?", "Why is the grass green?"],
    }
    CreateEmbeddingResponse.model_validate(r)
    assert [d["index"] for d in r.data] == [0, 1]
    assert r.usage.prompt_tokens == 10
    assert r._hidden_params["response_cost"] == 0.0

    r = llmswitch.embedding(
        model="ollama_chat/nomic-embed-text", input="x", dimensions=4, keep_alive="1m", truncate=True, **kw
    )
    assert sent(server, 1) == {
        "model": "nomic-embed-text",
        "input": "x",
        "dimensions": 4,
        "keep_alive": "1m",
        "truncate": True,
    }
    assert len(r.data[0]["embedding"]) == 4
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.embedding(model="ollama/all-minilm", input=[1, 2], **kw)


# --- the official SDK parses the mock's replies ---------------------------------------------


@needs_sdk
def test_sdk_parses_the_mock_replies(server, client):
    r = client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=False)
    assert r.message.content == "Hello from the mock server."
    assert (r.prompt_eval_count, r.eval_count, r.done_reason) == (9, 6, "stop")

    parts = list(client.chat(model="llama3.2", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(p.message.content for p in parts) == "Hello w1 w2 w3 w4 w5"
    assert parts[-1].done and parts[-1].eval_count == 6

    e = client.embed(model="all-minilm", input=["a", "b c"])
    assert len(e.embeddings) == 2 and e.prompt_eval_count == 3


def test_timeout_and_broken_connection(server, kw):
    server.enqueue(delay=1.0)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, timeout=0.2, **kw)
    server.enqueue(disconnect=True)
    with pytest.raises(llmswitch.APIConnectionError):
        llmswitch.completion(model="ollama/llama3.2", messages=MESSAGES, **kw)


def test_async_stream(server, kw):
    async def run() -> list[Any]:
        stream = await llmswitch.acompletion(
            model="ollama_chat/llama3.2", messages=MESSAGES, stream=True, **kw
        )
        return [c async for c in stream]

    chunks = asyncio.run(run())
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello w1 w2 w3 w4 w5"

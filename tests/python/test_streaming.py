"""Streaming: chunk shape, usage chunk, tool calls, rebuild, early exit, broken streams."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, chunk, sse


def test_sync_stream_chunks_validate(server, openai_kw):
    chunks = list(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw))
    assert len(chunks) == 8  # role + 6 pieces + finish; the usage chunk is hidden (not asked for)
    for c in chunks:
        assert isinstance(c, llmswitch.ModelResponseStream) and isinstance(c, dict)
        ChatCompletionChunk.model_validate(c)
        assert "usage" not in c
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks)
    assert text == "Hello w1 w2 w3 w4 w5"
    assert chunks[-1].choices[0].finish_reason == "stop"
    # llmswitch always asks the host for usage (to cost the stream), hiding it unless asked.
    assert server.requests[0]["body"]["stream_options"] == {"include_usage": True}


def test_include_usage_gives_final_usage_chunk(server, openai_kw):
    chunks = list(
        llmswitch.completion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_kw,
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == 15
    ChatCompletionChunk.model_validate(last)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(rebuilt)
    assert rebuilt.usage.prompt_tokens == 9
    assert rebuilt.choices[0].message.content == "Hello w1 w2 w3 w4 w5"


def test_stream_options_not_sent_without_stream(server, openai_kw):
    llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}, **openai_kw
    )
    assert "stream_options" not in server.requests[0]["body"]


def test_host_without_stream_usage_gets_no_stream_options(server):
    list(
        llmswitch.completion(
            model="perplexity/sonar",
            messages=MESSAGES,
            stream=True,
            api_base=server.base_url,
            api_key="k" * 10,
        )
    )
    assert "stream_options" not in server.requests[0]["body"]


TOOL_STREAM = [
    chunk({"role": "assistant", "content": None}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]}),
    chunk({}, "tool_calls"),
    sse(
        {
            "id": "chatcmpl-x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
        }
    ),
    "data: [DONE]",
]


def test_streaming_tool_calls_rebuild(server, openai_kw):
    server.enqueue(sse=TOOL_STREAM)
    chunks = list(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw))
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(rebuilt)
    calls = rebuilt.choices[0].message.tool_calls
    assert [c.id for c in calls] == ["call_a", "call_b"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(calls[1].function.arguments) == {"tz": "CET"}
    assert calls[1].function.name == "get_time"
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    # The usage chunk was hidden from the caller, so the rebuild counts tokens itself (as LiteLLM's does).
    assert rebuilt.usage.completion_tokens > 0


def test_stream_chunk_builder_accepts_plain_dicts():
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 5, "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 5, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}]},
    ]  # fmt: skip
    r = llmswitch.stream_chunk_builder(chunks)
    assert r.choices[0].message.content == "ab" and r.id == "c" and r.created == 5
    ChatCompletion.model_validate(r)


def test_async_stream(server, openai_kw):
    async def run():
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_kw,
        )
        return [c async for c in stream]

    chunks = asyncio.run(run())
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert llmswitch.stream_chunk_builder(chunks).choices[0].message.content == "Hello w1 w2 w3 w4 w5"
    assert chunks[-1].usage.total_tokens == 15


def test_async_stream_with_delays(server, openai_kw):
    frames = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": f"{i} "}) for i in range(5)]
    server.enqueue(sse=[*frames, chunk({}, "stop"), "data: [DONE]"], chunk_delay=0.01)

    async def run():
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )
        return "".join([c.choices[0].delta.get("content") or "" async for c in stream])

    assert asyncio.run(run()) == "0 1 2 3 4 "


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_breaking_out_of_the_loop_closes_the_connection(server, openai_kw):
    frames = [chunk({"content": "x"}) for _ in range(200)]
    server.enqueue(sse=frames, chunk_delay=0.05)
    stream = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
    for _ in stream:
        break
    assert server.open_streams == 1
    del stream
    assert _wait_for(lambda: server.open_streams == 0), "the server still streams after the client left"


def test_close_and_context_manager_close_the_connection(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)
    with llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw) as stream:
        next(stream)
    assert _wait_for(lambda: server.open_streams == 0)
    assert list(stream) == []


def test_async_stream_aclose(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)

    async def run():
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )
        await stream.__anext__()
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    asyncio.run(run())
    assert _wait_for(lambda: server.open_streams == 0)


def test_stream_cut_short_raises_connection_error(server, openai_kw):
    server.enqueue(
        sse=[chunk({"content": "a"}), chunk({"content": "b"}), chunk({"content": "c"})], drop_after=2
    )
    got = []
    with pytest.raises(llmswitch.APIConnectionError) as info:
        for c in llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw):
            got.append(c.choices[0].delta.content)
    assert got == ["a", "b"]
    assert "stream" in str(info.value) and info.value.llm_provider == "openai"


def test_error_event_mid_stream(server, openai_kw):
    server.enqueue(
        sse=[
            chunk({"content": "a"}),
            sse({"error": {"message": "The server had an error", "type": "server_error", "code": 500}}),
        ]
    )
    with pytest.raises(llmswitch.InternalServerError, match="server had an error"):
        list(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw))


def test_stream_error_status_before_first_chunk(server, openai_kw):
    server.enqueue(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "4"})
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
    assert info.value.retry_after == 4.0


def test_stream_read_timeout_between_chunks(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "a"}), chunk({"content": "b"})], chunk_delay=2.0)
    stream = llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, stream=True, timeout=0.3, **openai_kw
    )
    assert next(stream).choices[0].delta.content == "a"
    with pytest.raises(llmswitch.Timeout):
        next(stream)


def test_stream_hidden_params(server, openai_kw):
    stream = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
    assert stream._hidden_params["custom_llm_provider"] == "openai"
    assert stream._hidden_params["api_base"] == server.base_url
    list(stream)


def test_mock_stream_and_tool_calls():
    tool_calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    chunks = list(
        llmswitch.completion(model="mock/m", messages=MESSAGES, stream=True, mock_tool_calls=tool_calls)
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.tool_calls[0].function.arguments == '{"a": 1}'
    assert rebuilt.choices[0].finish_reason == "tool_calls"


def test_sync_stream_iterated_from_other_threads(server, openai_kw):
    """As starlette's iterate_in_threadpool does: each next() on some pool thread, and the
    thread that opened the stream gone by then."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    frames = [chunk({"content": f"{i} "}) for i in range(20)]
    server.enqueue(sse=[*frames, chunk({}, "stop"), "data: [DONE]"], chunk_delay=0.002)
    holder = {}

    def open_stream():
        holder["stream"] = llmswitch.completion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )

    t = threading.Thread(target=open_stream)
    t.start()
    t.join()
    stream = holder.pop("stream")
    pieces = []
    with ThreadPoolExecutor(4) as pool:
        while True:
            c = pool.submit(next, stream, None).result()
            if c is None:
                break
            pieces.append(c.choices[0].delta.get("content") or "")
    assert "".join(pieces) == "".join(f"{i} " for i in range(20))


def test_chunk_attributes_exist_as_on_litellm_objects(server, openai_kw):
    """LiteLLM's Delta always has content/role/tool_calls/function_call; code reads them
    directly (`delta.content or ""`) on every chunk, the finish chunk included."""
    chunks = list(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw))
    finish = chunks[-1]
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.content is None
    assert finish.choices[0].delta.tool_calls is None
    assert finish.choices[0].delta.function_call is None
    assert finish.choices[0].logprobs is None
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello w1 w2 w3 w4 w5"
    for provider in ("mock/m",):
        for c in llmswitch.completion(model=provider, messages=MESSAGES, stream=True):
            if c.choices:
                assert c.choices[0].delta.content is None or isinstance(c.choices[0].delta.content, str)


def test_chunk_conversion_matches_serde(server, openai_kw):
    """Chunks are converted by hand on the hot path; stream_chunk_builder's input side and
    this round trip go through serde. Every field, nested extras and tool calls included,
    must come out the same as the JSON the provider sent (with the always-present nulls)."""
    frames = [
        {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "system_fingerprint": "fp",
         "provider": "acme", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi",
         "reasoning_content": "think", "custom": {"x": [1, 2]}}, "finish_reason": None, "logprobs": None,
         "native_finish_reason": None}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [{"index": 0,
         "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [],
         "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
    ]  # fmt: skip
    server.enqueue(sse=[sse(f) for f in frames] + ["data: [DONE]"])
    got = list(
        llmswitch.completion(
            model="openai/gpt-4o",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_kw,
        )
    )
    assert len(got) == 3
    base_delta = {"role": None, "content": None, "tool_calls": None, "function_call": None}
    expected = []
    for f in frames:
        e = {"system_fingerprint": None, **json.loads(json.dumps(f))}
        for ch in e["choices"]:
            ch.setdefault("logprobs", None)
            ch["delta"] = {**base_delta, **ch["delta"]}
        expected.append(e)
    assert [json.loads(json.dumps(c)) for c in got] == expected
    assert got[0].choices[0].delta.custom.x == [1, 2]
    assert got[1].choices[0].delta.tool_calls[0].function.name == "f"
    for c in got:
        ChatCompletionChunk.model_validate(c)


def test_a_stream_iterated_directly_closes_when_the_loop_is_left(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)
    # Nothing but the loop holds the stream: CPython frees it as the loop ends.
    for _ in llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw):
        break
    assert _wait_for(lambda: server.open_streams == 0)


def test_a_stream_held_in_a_variable_stays_open_until_closed(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)
    with llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw) as stream:
        for _ in stream:
            break
        # The documented truth: leaving the loop does not close a stream still referenced.
        time.sleep(0.2)
        assert server.open_streams == 1
    assert _wait_for(lambda: server.open_streams == 0)


def test_async_stream_is_an_async_context_manager(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)

    async def run():
        async with await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        ) as stream:
            async for c in stream:
                assert c.choices[0].delta.content == "x"
                break
            assert server.open_streams == 1
        assert _wait_for(lambda: server.open_streams == 0)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    asyncio.run(run())


def test_abandoned_async_stream_closes_its_connection(server, openai_kw):
    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)

    async def run():
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )
        await stream.__anext__()
        assert server.open_streams == 1
        del stream  # dropped without aclose()
        for _ in range(500):
            if server.open_streams == 0:
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(run()), "the server still streams after the client dropped the stream"


def test_abandoned_sync_stream_closes_on_another_thread(server, openai_kw):
    """A stream opened on one thread and dropped on another still closes its connection."""
    from concurrent.futures import ThreadPoolExecutor

    server.enqueue(sse=[chunk({"content": "x"}) for _ in range(200)], chunk_delay=0.05)
    holder = [llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)]
    next(holder[0])
    with ThreadPoolExecutor(1) as pool:
        pool.submit(holder.clear).result()
    assert _wait_for(lambda: server.open_streams == 0)

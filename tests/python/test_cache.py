"""The response cache: ``llmswitch.cache = llmswitch.Cache(...)`` with LiteLLM's arguments
and per-call controls, in memory, on disk and in a real Redis server; streams replayed,
embeddings per input, the Router, and budgets and the ledger at zero for hits."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import llmswitch
from conftest import MESSAGES, chunk, free_port, sse
from llmswitch import budgets


@pytest.fixture(autouse=True)
def _no_cache() -> Iterator[None]:
    llmswitch.cache = None
    yield
    llmswitch.cache = None


def ask(text: str = "hi", **kw: Any) -> Any:
    kw.setdefault("mock_response", f"answer to {text}")
    return llmswitch.completion(model="gpt-4o", messages=[{"role": "user", "content": text}], **kw)


def hit(response: Any) -> bool:
    return response._hidden_params.get("cache_hit") is True


def uid() -> str:
    return uuid.uuid4().hex[:12]


# --- the local cache and the per-call controls -------------------------------------------


def test_a_repeated_call_is_answered_from_the_cache():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    first = ask(q)
    assert not hit(first)
    # The mock would now answer otherwise: the cached answer comes back, free.
    second = ask(q, mock_response="something else")
    assert hit(second)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.id == first.id
    assert second._hidden_params["response_cost"] == 0.0
    assert second._hidden_params["cache_key"] == first._hidden_params["cache_key"]
    assert len(second._hidden_params["cache_key"]) == 64
    # What changes the answer changes the key.
    assert not hit(ask(q, temperature=0.3))
    assert not hit(ask(q + "!"))
    assert not hit(
        llmswitch.completion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": q}], mock_response="x"
        )
    )
    # Credentials, timeouts and metadata do not.
    assert hit(ask(q, api_key="sk-other", timeout=30, num_retries=2, metadata={"user": "x"}))


def test_without_a_cache_nothing_is_cached_and_caching_true_is_harmless():
    q = uid()
    ask(q, caching=True)
    assert not hit(ask(q, caching=True))


def test_caching_false_neither_reads_nor_stores():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    ask(q, caching=False)
    assert not hit(ask(q, caching=False))
    ask(q)
    assert hit(ask(q, caching=True))
    assert not hit(ask(q, caching=False))


def test_no_cache_asks_again_and_no_store_keeps_nothing():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    ask(q, mock_response="old")
    fresh = ask(q, mock_response="new", cache={"no-cache": True})
    assert not hit(fresh) and fresh.choices[0].message.content == "new"
    # The fresh answer replaced the old one.
    assert ask(q).choices[0].message.content == "new"

    q = uid()
    ask(q, cache={"no-store": True})
    assert not hit(ask(q))
    # DSPy's "no cache at all".
    q = uid()
    ask(q, cache={"no-cache": True, "no-store": True})
    assert not hit(ask(q, cache={"no-cache": True, "no-store": True}))
    assert not hit(ask(q))


def test_ttl_and_max_age():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    ask(q, cache={"ttl": 0})
    assert not hit(ask(q))  # stored with no time to live
    assert hit(ask(q, cache={"s-maxage": 3600}))
    assert not hit(ask(q, cache={"s-maxage": 0}))
    # Cache(ttl=0): nothing lives.
    llmswitch.cache = llmswitch.Cache(ttl=0)
    q = uid()
    ask(q)
    assert not hit(ask(q))


def test_namespaces_keep_entries_apart():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    a = ask(q, cache={"namespace": "team-a"})
    assert a._hidden_params["cache_key"].startswith("team-a:")
    assert not hit(ask(q, cache={"namespace": "team-b"}))
    assert hit(ask(q, cache={"namespace": "team-a"}))
    llmswitch.cache = llmswitch.Cache(namespace="svc")
    assert ask(uid())._hidden_params["cache_key"].startswith("svc:")


def test_default_off_mode_caches_only_calls_that_opt_in():
    llmswitch.cache = llmswitch.Cache(mode="default_off")
    q = uid()
    ask(q)
    assert not hit(ask(q))
    ask(q, cache={"use-cache": True})
    assert hit(ask(q, cache={"use-cache": True}))


def test_long_conversations_and_unsupported_call_types_are_not_cached():
    llmswitch.cache = llmswitch.Cache()
    long = [{"role": "user", "content": f"{uid()} {i}"} for i in range(5)]
    llmswitch.completion(model="gpt-4o", messages=long, mock_response="x")
    assert not hit(llmswitch.completion(model="gpt-4o", messages=long, mock_response="x"))
    llmswitch.cache = llmswitch.Cache(max_messages=None)
    llmswitch.completion(model="gpt-4o", messages=long, mock_response="x")
    assert hit(llmswitch.completion(model="gpt-4o", messages=long, mock_response="x"))

    llmswitch.cache = llmswitch.Cache(supported_call_types=["acompletion"])
    q = uid()
    ask(q)
    assert not hit(ask(q))

    async def twice():
        messages = [{"role": "user", "content": q}]
        await llmswitch.acompletion(model="gpt-4o", messages=messages, mock_response="a")
        return await llmswitch.acompletion(model="gpt-4o", messages=messages, mock_response="b")

    assert hit(asyncio.run(twice()))


def test_sync_and_async_share_entries():
    llmswitch.cache = llmswitch.Cache()
    q = uid()
    first = ask(q)

    async def later():
        return await llmswitch.acompletion(
            model="gpt-4o", messages=[{"role": "user", "content": q}], mock_response="z"
        )

    second = asyncio.run(later())
    assert hit(second) and second.choices[0].message.content == first.choices[0].message.content


def test_constructor_arguments_are_litellms_and_checked():
    c = llmswitch.Cache(type="local", ttl=30, namespace="ns", mode="default_off")
    assert (c.type, c.ttl, c.namespace, c.mode, c.max_messages) == ("local", 30.0, "ns", "default_off", 4)
    assert "completion" in c.supported_call_types
    # LiteLLM's other arguments are accepted.
    llmswitch.Cache(similarity_threshold=0.9, s3_bucket_name="unused", redis_flush_size=10)
    from llmswitch._cache import LiteLLMCacheType

    assert llmswitch.Cache(type=LiteLLMCacheType.LOCAL).type == "local"
    with pytest.raises(llmswitch.BadRequestError, match="not available in llmswitch"):
        llmswitch.Cache(type="s3")
    with pytest.raises(llmswitch.BadRequestError, match="did you mean 'ttl'"):
        llmswitch.Cache(tll=3)
    with pytest.raises(llmswitch.BadRequestError, match="needs host"):
        llmswitch.Cache(type="redis")
    llmswitch.cache = "yes please"  # type: ignore[assignment]
    with pytest.raises(llmswitch.BadRequestError, match=r"llmswitch\.cache must be"):
        ask(uid())


def test_litellm_helpers_enable_update_and_disable():
    from llmswitch._cache import disable_cache, enable_cache, update_cache

    enable_cache()
    first = llmswitch.cache
    assert isinstance(first, llmswitch.Cache)
    enable_cache(ttl=5)
    assert llmswitch.cache is first
    update_cache(ttl=5)
    assert llmswitch.cache is not first and llmswitch.cache.ttl == 5.0
    disable_cache()
    assert llmswitch.cache is None


def test_bad_cache_controls_fail_in_words():
    llmswitch.cache = llmswitch.Cache()
    with pytest.raises(llmswitch.BadRequestError, match="ttl"):
        ask(uid(), cache={"ttl": "forever"})
    with pytest.raises(llmswitch.BadRequestError, match="caching must be True or False"):
        ask(uid(), caching="yes")


def test_an_answer_without_output_is_not_kept(server, openai_kw):
    llmswitch.cache = llmswitch.Cache()
    empty = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
    }
    server.enqueue(json=empty)
    server.enqueue(json=empty)
    llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert not hit(llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw))
    assert server.hits == 2


# --- streams -----------------------------------------------------------------------------


def reasoning_tool_stream() -> list[str]:
    return [
        chunk({"role": "assistant", "content": None, "reasoning_content": "Let me think"}),
        chunk({"reasoning_content": " about Paris."}),
        chunk({"content": "Checking."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk({}, "tool_calls"),
        sse(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
            }
        ),
        "data: [DONE]",
    ]


def as_dicts(chunks: list[Any]) -> list[dict[str, Any]]:
    return [dict(c) for c in chunks]


def test_a_stream_replays_as_the_same_chunks(server, openai_kw):
    llmswitch.cache = llmswitch.Cache()
    server.enqueue(sse=reasoning_tool_stream())
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": uid()}], stream=True, **openai_kw)
    live = list(llmswitch.completion(**kw))
    replay_stream = llmswitch.completion(**kw)
    replayed = list(replay_stream)
    assert server.hits == 1
    assert replay_stream._hidden_params["cache_hit"] is True
    assert as_dicts(replayed) == as_dicts(live)
    deltas = [c.choices[0].delta for c in replayed if c.choices]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Let me think about Paris."
    calls = [t for d in deltas for t in (d.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert "".join(t.function.arguments or "" for t in calls) == '{"city": "Paris"}'
    # Rebuilt, the replay is the same answer, at no cost.
    rebuilt = llmswitch.stream_chunk_builder(replayed)
    assert rebuilt.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    assert replay_stream._hidden_params["response_cost"] == 0.0
    # The usage chunk, hidden from callers who did not ask, is there for those who do.
    with_usage = list(llmswitch.completion(**kw, stream_options={"include_usage": True}))
    assert with_usage[-1].usage.total_tokens == 21
    assert server.hits == 1
    # A non-streaming call is another entry (a stream is kept as its chunks).
    server.enqueue(json=None)
    assert not hit(llmswitch.completion(**{**kw, "stream": False}))


def test_a_stream_closed_early_is_not_stored(server, openai_kw):
    llmswitch.cache = llmswitch.Cache()
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": uid()}], stream=True, **openai_kw)
    server.enqueue(sse=reasoning_tool_stream())
    stream = llmswitch.completion(**kw)
    next(iter(stream))
    stream.close()
    server.enqueue(sse=reasoning_tool_stream())
    again = llmswitch.completion(**kw)
    assert "cache_hit" not in again._hidden_params
    list(again)
    assert server.hits == 2


def test_async_streams_replay_too(server, openai_kw):
    llmswitch.cache = llmswitch.Cache()
    server.enqueue(sse=reasoning_tool_stream())
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": uid()}], stream=True, **openai_kw)

    async def read() -> tuple[list[Any], Any]:
        stream = await llmswitch.acompletion(**kw)
        return [c async for c in stream], stream

    live, _ = asyncio.run(read())
    replayed, stream = asyncio.run(read())
    assert as_dicts(replayed) == as_dicts(live)
    assert stream._hidden_params["cache_hit"] is True
    assert server.hits == 1


# --- embeddings ----------------------------------------------------------------------------


def test_embeddings_are_cached_per_input():
    llmswitch.cache = llmswitch.Cache()
    a, b = uid(), uid()
    first = llmswitch.embedding("mock/embedder", [a, b])
    assert "cache_hit" not in first._hidden_params
    swapped = llmswitch.embedding("mock/embedder", [b, a])
    assert swapped._hidden_params["cache_hit"] is True
    assert swapped._hidden_params["response_cost"] == 0.0
    assert swapped.data[0].embedding == first.data[1].embedding
    assert [d.index for d in swapped.data] == [0, 1]
    assert swapped.usage.prompt_tokens == first.usage.prompt_tokens
    assert llmswitch.embedding("mock/embedder", a)._hidden_params["cache_hit"] is True
    assert "cache_hit" not in llmswitch.embedding("mock/embedder", [a, uid()])._hidden_params
    # Parameters are in the key.
    assert "cache_hit" not in llmswitch.embedding("mock/embedder", a, dimensions=8)._hidden_params

    async def again():
        return await llmswitch.aembedding("mock/embedder", [a, b])

    assert asyncio.run(again())._hidden_params["cache_hit"] is True


def test_only_the_inputs_not_cached_are_sent(server, openai_kw):
    llmswitch.cache = llmswitch.Cache()
    a, b, c = uid(), uid(), uid()
    kw = dict(model="openai/text-embedding-3-small", **openai_kw)
    both = llmswitch.embedding(input=[a, b], **kw)
    mixed = llmswitch.embedding(input=[c, a, b], **kw)
    assert server.requests[-1]["body"]["input"] == [c]
    assert server.hits == 2
    assert "cache_hit" not in mixed._hidden_params
    assert [d.index for d in mixed.data] == [0, 1, 2]
    assert [d.embedding for d in mixed.data[1:]] == [d.embedding for d in both.data]
    alone = llmswitch.embedding(input=c, **kw)
    assert alone._hidden_params["cache_hit"] is True and alone.data[0].embedding == mixed.data[0].embedding
    # The usage counts every input; the cost, only what was sent.
    assert mixed.usage.prompt_tokens == both.usage.prompt_tokens + alone.usage.prompt_tokens
    price = llmswitch.model_cost["text-embedding-3-small"]["input_cost_per_token"]
    assert mixed._hidden_params["response_cost"] == pytest.approx(alone.usage.prompt_tokens * price)


# --- the Router ----------------------------------------------------------------------------


def model_list() -> list[dict[str, Any]]:
    return [
        {"model_name": "smart", "litellm_params": {"model": "mock/a", "mock_response": "from a"}},
        {"model_name": "smart", "litellm_params": {"model": "mock/b", "mock_response": "from b"}},
    ]


def test_router_cache_responses_creates_the_cache_and_serves_the_group():
    router = llmswitch.Router(model_list=model_list(), cache_responses=True)
    assert isinstance(llmswitch.cache, llmswitch.Cache) and llmswitch.cache.type == "local"
    messages = [{"role": "user", "content": uid()}]
    first = router.completion("smart", messages)
    for _ in range(3):
        again = router.completion("smart", messages)
        assert hit(again)
        assert again.choices[0].message.content == first.choices[0].message.content
        assert again._hidden_params["model_group"] == "smart"
    assert sum(s["successes"] for s in router.stats().values()) == 1
    assert not hit(router.completion("smart", messages, caching=False))

    async def routed():
        return await router.acompletion("smart", messages)

    assert hit(asyncio.run(routed()))
    # A cache already set is kept.
    mine = llmswitch.Cache(namespace="mine")
    llmswitch.cache = mine
    llmswitch.Router(model_list=model_list(), cache_responses=True)
    assert llmswitch.cache is mine


def test_router_from_config_builds_the_cache_its_settings_name(redis_server, tmp_path):
    # router_settings.cache_responses with the router's Redis: the cache is in that Redis,
    # as LiteLLM's Router(cache_responses=True, redis_host=...) builds it.
    routers = {
        "model_list": model_list(),
        "router_settings": {
            "cache_responses": True,
            "redis_host": "127.0.0.1",
            "redis_port": redis_server.port,
        },
    }
    router = llmswitch.Router.from_config(routers)
    assert isinstance(llmswitch.cache, llmswitch.Cache) and llmswitch.cache.type == "redis"
    messages = [{"role": "user", "content": uid()}]
    first = router.completion("smart", messages)
    again = router.completion("smart", messages)
    assert hit(again) and again.choices[0].message.content == first.choices[0].message.content
    assert redis_server.cli("EXISTS", again._hidden_params["cache_key"]) == "1"

    # litellm_settings.cache with cache_params, from a YAML file, as the gateway reads them.
    llmswitch.cache = None
    path = tmp_path / "config.yaml"
    path.write_text(
        json.dumps(
            {
                "model_list": model_list(),
                "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
            }
        )
    )
    router = llmswitch.Router.from_config(str(path))
    assert isinstance(llmswitch.cache, llmswitch.Cache) and llmswitch.cache.type == "local"
    router.completion("smart", messages)
    assert hit(router.completion("smart", messages))

    # A cache already set is kept; a config naming none creates none.
    mine = llmswitch.Cache(namespace="mine")
    llmswitch.cache = mine
    llmswitch.Router.from_config(routers)
    assert llmswitch.cache is mine
    llmswitch.cache = None
    llmswitch.Router.from_config({"model_list": model_list()})
    assert llmswitch.cache is None


def test_router_without_cache_responses_caches_calls_that_ask():
    llmswitch.cache = llmswitch.Cache()
    router = llmswitch.Router(model_list=model_list())
    messages = [{"role": "user", "content": uid()}]
    router.completion("smart", messages)
    assert not hit(router.completion("smart", messages))
    router.completion("smart", messages, caching=True)
    assert hit(router.completion("smart", messages, caching=True))


def test_router_streams_embeddings_and_caching_groups():
    router = llmswitch.Router(
        model_list=[
            *model_list(),
            {"model_name": "smart-eu", "litellm_params": {"model": "mock/c", "mock_response": "from c"}},
            {"model_name": "emb", "litellm_params": {"model": "mock/e"}},
        ],
        cache_responses=True,
        caching_groups=[("smart", "smart-eu")],
    )
    messages = [{"role": "user", "content": uid()}]
    live = list(router.completion("smart", messages, stream=True))
    replay = router.completion("smart", messages, stream=True)
    assert as_dicts(list(replay)) == as_dicts(live)
    assert replay._hidden_params["cache_hit"] is True
    first = router.completion("smart-eu", messages)
    assert hit(router.completion("smart", messages))
    assert hit(router.completion("smart-eu", messages))
    assert first is not None
    text = uid()
    router.embedding("emb", [text])
    assert router.embedding("emb", text)._hidden_params["cache_hit"] is True


# --- budgets and the ledger ----------------------------------------------------------------


def test_hits_cost_nothing_in_budgets_and_the_ledger():
    llmswitch.spend.enable()
    budgets.clear()
    llmswitch.cache = llmswitch.Cache()
    user = "cache-" + uid()
    name = budgets.add(limit=1.0, scope="user", id=user, period="daily")
    prices = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.001}
    try:
        q = uid()
        first = ask(
            q, mock_response="x" * 40, max_tokens=10, custom_cost_per_token=prices, metadata={"user": user}
        )
        cost = first._hidden_params["response_cost"]
        assert cost > 0
        for _ in range(3):
            again = ask(
                q,
                mock_response="x" * 40,
                max_tokens=10,
                custom_cost_per_token=prices,
                metadata={"user": user},
            )
            assert hit(again)
        status = [s for s in budgets.status() if s["budget"] == name]
        assert status[0]["spent"] == pytest.approx(cost)
        assert status[0]["reserved"] == 0
        rows = [r for r in llmswitch.spend.records() if r["user"] == user]
        assert [r["status"] for r in rows] == ["success", "cache_hit", "cache_hit", "cache_hit"]
        assert [r["cost"] for r in rows[1:]] == [0.0, 0.0, 0.0]
        assert rows[1]["completion_tokens"] == rows[0]["completion_tokens"]
        report = llmswitch.spend_report(group_by=["user"])
        mine = next(r for r in report.to_dicts() if r["user"] == user)
        assert mine["calls"] == 4 and mine["failures"] == 0
        assert mine["cost"] == pytest.approx(cost)
    finally:
        budgets.clear()


# --- disk ----------------------------------------------------------------------------------


def test_the_disk_cache_keeps_answers_across_instances(tmp_path):
    llmswitch.cache = llmswitch.Cache(type="disk", disk_cache_dir=tmp_path)
    q = uid()
    first = ask(q)
    # Another Cache on the same directory: another process, or a restart.
    llmswitch.cache = llmswitch.Cache(type="disk", disk_cache_dir=str(tmp_path))
    again = ask(q, mock_response="other")
    assert hit(again) and again.choices[0].message.content == first.choices[0].message.content
    assert (tmp_path / "llmswitch-cache.sqlite3").exists()
    ask(uid(), cache={"ttl": 0})
    llmswitch.cache.clear()
    assert not hit(ask(q))


def test_a_disk_cache_in_an_unusable_place_fails_at_construction(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(llmswitch.BadRequestError, match="cannot create the directory"):
        llmswitch.Cache(type="disk", disk_cache_dir=blocker / "sub")


# --- Redis (a real redis-server) -------------------------------------------------------------


def test_redis_serves_hits_to_every_cache_on_it(redis_server):
    llmswitch.cache = llmswitch.Cache(
        type="redis", host="127.0.0.1", port=redis_server.port, socket_timeout=5
    )
    q = uid()
    first = ask(q)
    key = first._hidden_params["cache_key"]
    assert redis_server.cli("EXISTS", key) == "1"
    # LiteLLM's default Redis TTL: 60 s.
    assert 0 < int(redis_server.cli("PTTL", key)) <= 60_000
    # Another process's cache, through a URL.
    llmswitch.cache = llmswitch.Cache(
        type="redis", url=f"redis://127.0.0.1:{redis_server.port}/0", socket_timeout=5
    )
    again = ask(q, mock_response="other")
    assert hit(again) and again.choices[0].message.content == first.choices[0].message.content
    assert llmswitch.cache.ping() is True

    q = uid()
    ttl = ask(q, cache={"ttl": 5})
    assert 0 < int(redis_server.cli("PTTL", ttl._hidden_params["cache_key"])) <= 5000
    namespaced = ask(uid(), cache={"namespace": "team"})
    assert namespaced._hidden_params["cache_key"].startswith("team:")
    assert redis_server.cli("EXISTS", namespaced._hidden_params["cache_key"]) == "1"
    redis_server.cli("SET", "unrelated", "keep me")
    llmswitch.cache.clear()
    assert redis_server.cli("EXISTS", key) == "0"
    assert redis_server.cli("GET", "unrelated") == "keep me"


def test_redis_from_the_environment_streams_and_embeddings(redis_server, server, openai_kw, monkeypatch):
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    llmswitch.cache = llmswitch.Cache(type="redis", socket_timeout=5)
    server.enqueue(sse=reasoning_tool_stream())
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": uid()}], stream=True, **openai_kw)
    live = list(llmswitch.completion(**kw))
    replay = llmswitch.completion(**kw)
    assert as_dicts(list(replay)) == as_dicts(live)
    assert replay._hidden_params["cache_hit"] is True
    assert server.hits == 1
    text = uid()
    llmswitch.embedding("mock/e", [text, "b"])
    assert llmswitch.embedding("mock/e", text)._hidden_params["cache_hit"] is True

    async def routed():
        router = llmswitch.Router(model_list=model_list(), cache_responses=True)
        messages = [{"role": "user", "content": uid()}]
        await router.acompletion("smart", messages)
        return await router.acompletion("smart", messages)

    assert hit(asyncio.run(routed()))


def test_a_redis_outage_is_a_miss_with_one_warning(redis_server, caplog):
    llmswitch.cache = llmswitch.Cache(
        type="redis", host="127.0.0.1", port=redis_server.port, socket_timeout=5
    )
    q = uid()
    ask(q)
    assert hit(ask(q))
    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="llmswitch")
    answers = [ask(q, mock_response="fresh") for _ in range(3)]
    assert all(not hit(a) and a.choices[0].message.content == "fresh" for a in answers)
    warnings = [r for r in caplog.records if r.name == "llmswitch"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"127.0.0.1:{redis_server.port}" in warnings[0].getMessage()
    assert "unavailable" in warnings[0].getMessage()
    # Back: served again (after the cache's short pause; bounded wait, no timing assert).
    redis_server.start()
    deadline = time.monotonic() + 30
    q = uid()
    while True:
        ask(q)
        if hit(ask(q)):
            break
        assert time.monotonic() < deadline, "the cache did not come back with Redis"
        time.sleep(0.2)


def test_a_redis_that_never_was_fails_no_call(caplog):
    caplog.set_level(logging.WARNING, logger="llmswitch")
    llmswitch.cache = llmswitch.Cache(type="redis", host="127.0.0.1", port=free_port(), socket_timeout=5)
    assert llmswitch.cache.ping() is False
    q = uid()
    assert ask(q).choices[0].message.content == f"answer to {q}"
    assert not hit(ask(q))


def test_logging_callbacks_see_cache_hits(server, openai_kw):
    seen: list[tuple[bool, bool, float | None]] = []

    def log(kwargs, response, start, end):
        slo = kwargs["standard_logging_object"]
        seen.append((kwargs["cache_hit"], slo["cache_hit"], kwargs["response_cost"]))

    llmswitch.cache = llmswitch.Cache()
    llmswitch.success_callback.append(log)
    try:
        q = uid()
        ask(q)
        ask(q)
        server.enqueue(sse=reasoning_tool_stream())
        kw = dict(
            model="openai/gpt-4o", messages=[{"role": "user", "content": uid()}], stream=True, **openai_kw
        )
        list(llmswitch.completion(**kw))
        list(llmswitch.completion(**kw))
    finally:
        llmswitch.success_callback.remove(log)
    assert [s[:2] for s in seen] == [(False, False), (True, True), (False, False), (True, True)]
    assert seen[1][2] == 0.0 and seen[3][2] == 0.0

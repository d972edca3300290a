"""llmswitch.Router: strategies, retries, cooldowns, fallbacks, hedging, streaming, config."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, TEST_KEY
from llmswitch.testing import ManualClock, MockServer


def mock_dep(group: str, dep_id: str, reply: str = "ok", **params: Any) -> dict[str, Any]:
    """A deployment answered by the built-in mock provider."""
    return {
        "model_name": group,
        "litellm_params": {"model": "openai/gpt-4o", "mock_response": reply, **params},
        "model_info": {"id": dep_id},
    }


def http_dep(group: str, dep_id: str, server: MockServer, **params: Any) -> dict[str, Any]:
    """A deployment that talks HTTP to a loopback mock server."""
    return {
        "model_name": group,
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": TEST_KEY,
            "api_base": server.base_url,
            **params,
        },
        "model_info": {"id": dep_id},
    }


@pytest.fixture(scope="module")
def servers() -> Any:
    """Five extra loopback servers: distinct deployments that fail or slow down on demand."""
    started = [MockServer() for _ in range(5)]
    yield started
    for s in started:
        s.stop()


@pytest.fixture()
def fresh(servers: list[MockServer]) -> list[MockServer]:
    for s in servers:
        s.reset()
    return servers


def content(r: Any) -> str:
    return r.choices[0].message.content


# --- basics -----------------------------------------------------------------------------


def test_completion_names_the_deployment(server):
    router = llmswitch.Router(model_list=[http_dep("smart", "sonnet-1", server)])
    r = router.completion(model="smart", messages=MESSAGES)
    ChatCompletion.model_validate(r)
    assert content(r) == "Hello from the mock server."
    h = r._hidden_params
    assert h["model_id"] == "sonnet-1"
    assert h["model_group"] == "smart"
    assert h["api_base"] == server.base_url
    assert h["attempts"] == ["first smart/sonnet-1: ok"]
    assert h["retries"] == 0
    (req,) = server.requests
    assert req["headers"]["authorization"] == f"Bearer {TEST_KEY}"
    assert req["body"]["model"] == "gpt-4o"


def test_call_kwargs_win_over_deployment_params(server):
    dep = http_dep("g", "d", server, temperature=0.1, top_k=7)
    router = llmswitch.Router(model_list=[dep])
    router.completion(model="g", messages=MESSAGES)
    router.completion(model="g", messages=MESSAGES, temperature=0.9, api_key="sk-call-key")
    first, second = server.requests
    assert first["body"]["temperature"] == 0.1
    assert first["body"]["top_k"] == 7
    assert second["body"]["temperature"] == 0.9
    assert second["body"]["top_k"] == 7
    assert second["headers"]["authorization"] == "Bearer sk-call-key"


def test_llmswitch_params_alias_and_environment(server, monkeypatch):
    monkeypatch.setenv("ROUTER_TEST_KEY", "sk-env-0123")
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "g",
                "llmswitch_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "os.environ/ROUTER_TEST_KEY",
                    "api_base": server.base_url,
                },
            }
        ]
    )
    router.completion(model="g", messages=MESSAGES)
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-env-0123"
    with pytest.raises(llmswitch.BadRequestError, match="ROUTER_TEST_UNSET"):
        llmswitch.Router(
            model_list=[
                {
                    "model_name": "g",
                    "litellm_params": {"model": "x/y", "api_key": "os.environ/ROUTER_TEST_UNSET"},
                }
            ]
        )


def test_bad_input_fails_fast(server):
    router = llmswitch.Router(model_list=[http_dep("g", "d", server)])
    with pytest.raises(llmswitch.BadRequestError, match="Known model groups: g"):
        router.completion(model="nope", messages=MESSAGES)
    with pytest.raises(llmswitch.BadRequestError):
        router.completion(model="g", messages="hi")
    assert server.hits == 0
    with pytest.raises(llmswitch.BadRequestError, match="unknown model group 'ghost'"):
        llmswitch.Router(model_list=[mock_dep("g", "d")], fallbacks=[{"g": ["ghost"]}])
    with pytest.raises(llmswitch.BadRequestError, match="routing_strategy"):
        llmswitch.Router(model_list=[mock_dep("g", "d")], routing_strategy="fastest")
    with pytest.raises(llmswitch.BadRequestError, match=r"[Uu]nknown provider|nosuch"):
        llmswitch.Router(model_list=[{"model_name": "g", "litellm_params": {"model": "nosuch/m"}}])
    with pytest.raises(TypeError, match="model_groups_alias"):
        llmswitch.Router(model_list=[mock_dep("g", "d")], model_groups_alias={"a": "g"})
    with pytest.raises(llmswitch.BadRequestError, match="model_group_alias"):
        llmswitch.Router(model_list=[mock_dep("g", "d")], model_group_alias={"a": 3})
    # Cache/logging settings of LiteLLM are accepted (they do not change routing).
    llmswitch.Router(model_list=[mock_dep("g", "d")], set_verbose=True, cache_responses=False)


def test_embedding_goes_through_the_same_router():
    # More in test_embedding.py: retries, fallbacks and cooldowns across mock servers.
    router = llmswitch.Router(model_list=[mock_dep("g", "d")])
    r = router.embedding(model="g", input=["x"])
    assert r._hidden_params["model_id"] == "d"
    assert r._hidden_params["attempts"] == ["first g/d: ok"]


# --- strategies -------------------------------------------------------------------------


def shares(router: llmswitch.Router, calls: int, **kw: Any) -> Counter[str]:
    return Counter(
        router.completion(model="g", messages=MESSAGES, **kw)._hidden_params["model_id"] for _ in range(calls)
    )


def test_weights_split_traffic_within_statistical_bounds():
    router = llmswitch.Router(
        model_list=[mock_dep("g", "light", weight=1), mock_dep("g", "heavy", weight=3)], seed=1234
    )
    n = 4000
    counts = shares(router, n)
    # Binomial(4000, 0.25): sd = 27.4; 5 sd either side.
    assert abs(counts["light"] - n / 4) < 5 * 27.4, counts
    assert counts["light"] + counts["heavy"] == n
    # Same seed, same choices.
    again = llmswitch.Router(
        model_list=[mock_dep("g", "light", weight=1), mock_dep("g", "heavy", weight=3)], seed=1234
    )
    assert shares(again, n) == counts


def test_rpm_is_the_weight_when_no_weight_is_given():
    router = llmswitch.Router(model_list=[mock_dep("g", "a", rpm=100), mock_dep("g", "b", rpm=900)], seed=7)
    counts = shares(router, 2000)
    # Binomial(2000, 0.1): sd = 13.4.
    assert abs(counts["a"] - 200) < 5 * 13.4, counts


def test_round_robin_and_order():
    router = llmswitch.Router(
        model_list=[mock_dep("g", "a"), mock_dep("g", "b"), mock_dep("g", "c")],
        routing_strategy="round-robin",
    )
    seq = [router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] for _ in range(6)]
    assert seq[:3] == seq[3:] and sorted(seq[:3]) == ["a", "b", "c"]
    router = llmswitch.Router(
        model_list=[mock_dep("g", "backup", order=2), mock_dep("g", "primary", order=1)]
    )
    assert shares(router, 20) == {"primary": 20}


def test_least_busy_avoids_the_busy_deployment():
    router = llmswitch.Router(
        model_list=[mock_dep("g", "a"), mock_dep("g", "b")], routing_strategy="least-busy"
    )

    async def run() -> tuple[list[str], list[str], int]:
        slow = asyncio.ensure_future(router.acompletion(model="g", messages=MESSAGES, mock_delay=30))
        while not any(v["in_flight"] for v in router.stats().values()):
            await asyncio.sleep(0.01)
        busy = [k for k, v in router.stats().items() if v["in_flight"] == 1]
        others = [
            (await router.acompletion(model="g", messages=MESSAGES))._hidden_params["model_id"]
            for _ in range(5)
        ]
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await asyncio.sleep(0.05)
        return busy, others, sum(v["in_flight"] for v in router.stats().values())

    busy, others, in_flight_after = asyncio.run(run())
    assert len(busy) == 1
    assert busy[0] not in others, (busy, others)
    # Cancelling the asyncio task cancelled the call and released its deployment.
    assert in_flight_after == 0


def test_latency_routing_converges_on_the_fast_deployment():
    router = llmswitch.Router(
        model_list=[mock_dep("g", "slow", mock_delay=0.03), mock_dep("g", "fast")],
        routing_strategy="latency-based-routing",
        seed=5,
    )
    picks = [router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] for _ in range(20)]
    assert set(picks[5:]) == {"fast"}, picks
    stats = router.stats()
    assert stats["slow"]["latency_ms"] > stats["fast"]["latency_ms"]


def test_cost_routing_picks_the_cheapest_capable_deployment():
    def dep(dep_id: str, cost: float, **info: Any) -> dict[str, Any]:
        d = mock_dep("g", dep_id, dep_id, input_cost_per_token=cost, output_cost_per_token=cost * 4)
        d["model_info"].update(info)
        return d

    router = llmswitch.Router(
        model_list=[
            dep(
                "premium",
                5e-6,
                supports_vision=True,
                supports_function_calling=True,
                max_input_tokens=200_000,
            ),
            dep("mid", 5e-7, supports_vision=False, supports_function_calling=True, max_input_tokens=200_000),
            dep("budget", 1e-8, supports_vision=False, supports_function_calling=False, max_input_tokens=64),
        ],
        routing_strategy="cost-based-routing",
    )

    def pick(**kw: Any) -> str:
        return router.completion(model="g", **kw)._hidden_params["model_id"]

    assert pick(messages=MESSAGES) == "budget"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert pick(messages=MESSAGES, tools=tools) == "mid"
    image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what?"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        }
    ]
    assert pick(messages=image) == "premium"
    assert pick(messages=[{"role": "user", "content": "word " * 200}]) == "mid"
    assert pick(messages=MESSAGES, max_tokens=100) == "mid"
    assert pick(messages=MESSAGES, min_capabilities=["vision"]) == "premium"


def test_pre_call_checks_skip_small_windows_and_raise_when_none_fits():
    router = llmswitch.Router(
        model_list=[
            {**mock_dep("g", "small"), "model_info": {"id": "small", "max_input_tokens": 30}},
            {**mock_dep("g", "large"), "model_info": {"id": "large", "max_input_tokens": 2000}},
        ],
        enable_pre_call_checks=True,
    )
    long = [{"role": "user", "content": "word " * 50}]
    picks = {router.completion(model="g", messages=long)._hidden_params["model_id"] for _ in range(10)}
    assert picks == {"large"}
    with pytest.raises(llmswitch.ContextWindowExceededError, match="context window"):
        router.completion(model="g", messages=[{"role": "user", "content": "word " * 5000}])


def test_usage_based_routing_respects_rpm():
    clock = ManualClock()
    router = llmswitch.Router(
        model_list=[mock_dep("g", "a", rpm=2), mock_dep("g", "b", rpm=3)],
        routing_strategy="usage-based-routing",
        clock=clock,
    )
    counts = shares(router, 5)
    assert counts == {"a": 2, "b": 3}
    with pytest.raises(llmswitch.RouterRateLimitError) as info:
        router.completion(model="g", messages=MESSAGES)
    assert info.value.retry_after == 60
    assert info.value.status_code == 429
    clock.advance(60)
    assert router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] in ("a", "b")


# --- retries, cooldowns, fallbacks ------------------------------------------------------


def test_retry_goes_to_another_deployment(fresh):
    bad, good = fresh[0], fresh[1]
    bad.enqueue(status=500, json={"error": {"message": "boom", "type": "server_error"}})
    router = llmswitch.Router(
        model_list=[http_dep("g", "bad", bad, order=1), http_dep("g", "good", good, order=2)]
    )
    r = router.completion(model="g", messages=MESSAGES)
    assert r._hidden_params["attempts"] == ["first g/bad: InternalServerError", "retry g/good: ok"]
    assert r._hidden_params["retries"] == 1
    assert (bad.hits, good.hits) == (1, 1)


def test_non_retryable_errors_are_not_retried(fresh):
    fresh[0].enqueue(status=401, json={"error": {"message": "bad key", "type": "invalid_request_error"}})
    router = llmswitch.Router(
        model_list=[http_dep("g", "a", fresh[0], order=1), http_dep("g", "b", fresh[1], order=2)]
    )
    with pytest.raises(llmswitch.AuthenticationError) as info:
        router.completion(model="g", messages=MESSAGES)
    assert info.value.attempts == ["first g/a: AuthenticationError"]
    assert fresh[1].hits == 0


def test_retry_policy_per_exception_class():
    router = llmswitch.Router(
        model_list=[mock_dep("g", f"d{i}", "litellm.RateLimitError") for i in range(5)],
        num_retries=0,
        retry_policy={"RateLimitErrorRetries": 3},
        allowed_fails=100,
    )
    with pytest.raises(llmswitch.RateLimitError) as info:
        router.completion(model="g", messages=MESSAGES)
    assert len(info.value.attempts) == 4
    assert len({a.split("/")[1] for a in info.value.attempts}) == 4


def test_retry_after_is_honoured(fresh):
    limited, spare = fresh[0], fresh[1]
    clock = ManualClock()
    limited.enqueue(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after": "20"})
    router = llmswitch.Router(
        model_list=[http_dep("g", "limited", limited, order=1), http_dep("g", "spare", spare, order=2)],
        clock=clock,
    )
    r = router.completion(model="g", messages=MESSAGES)
    assert r._hidden_params["attempts"] == ["first g/limited: RateLimitError", "retry g/spare: ok"]
    stats = router.stats()["limited"]
    assert stats["cooling_down"] and stats["cooldown_remaining"] == 20
    # Until retry-after has passed, the limited deployment is skipped despite its order.
    clock.advance(19)
    assert router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] == "spare"
    clock.advance(1)
    assert router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] == "limited"
    assert limited.hits == 2


def test_single_deployment_waits_for_retry_after(server):
    server.enqueue(status=429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "300"})
    router = llmswitch.Router(model_list=[http_dep("g", "only", server)])
    started = time.monotonic()
    r = router.completion(model="g", messages=MESSAGES)
    assert time.monotonic() - started >= 0.3
    assert r._hidden_params["attempts"] == ["first g/only: RateLimitError", "retry g/only: ok"]
    assert server.hits == 2


def test_cooldown_entry_and_expiry_with_an_injected_clock():
    clock = ManualClock()
    router = llmswitch.Router(
        model_list=[mock_dep("g", "d", "litellm.ServiceUnavailableError")],
        allowed_fails=2,
        cooldown_time=30,
        num_retries=0,
        clock=clock,
    )
    for _ in range(2):
        with pytest.raises(llmswitch.ServiceUnavailableError):
            router.completion(model="g", messages=MESSAGES)
    assert not router.stats()["d"]["cooling_down"]
    with pytest.raises(llmswitch.ServiceUnavailableError):
        router.completion(model="g", messages=MESSAGES)
    s = router.stats()["d"]
    assert s["cooling_down"] and s["cooldown_remaining"] == 30 and s["cooldowns"] == 1
    with pytest.raises(llmswitch.RouterRateLimitError) as info:
        router.completion(model="g", messages=MESSAGES)
    assert info.value.retry_after == 30
    assert info.value.attempts == ["first g: no deployment available (RouterRateLimitError)"]
    assert router.stats()["d"]["failures"] == 3
    clock.advance(29.5)
    assert router.stats()["d"]["cooling_down"]
    clock.advance(0.5)
    assert not router.stats()["d"]["cooling_down"]
    with pytest.raises(llmswitch.ServiceUnavailableError):
        router.completion(model="g", messages=MESSAGES)


def test_every_fallback_kind_in_order():
    router = llmswitch.Router(
        model_list=[
            mock_dep("long-prompt", "cw", "litellm.ContextWindowExceededError"),
            mock_dep("unsafe", "cp", "litellm.ContentPolicyViolationError"),
            mock_dep("smart", "s", "litellm.InternalServerError"),
            mock_dep("orphan", "o", "litellm.NotFoundError"),
            mock_dep("fast", "f", "litellm.Timeout"),
            mock_dep("cheap", "c", "from cheap"),
            mock_dep("big-window", "bw", "from big-window"),
            mock_dep("safe", "sf", "from safe"),
            mock_dep("default", "d", "from default"),
        ],
        num_retries=0,
        fallbacks=[{"smart": ["fast", "cheap"]}, {"long-prompt": ["cheap"]}, {"unsafe": ["cheap"]}],
        context_window_fallbacks=[{"long-prompt": ["big-window"]}],
        content_policy_fallbacks=[{"unsafe": ["safe"]}],
        default_fallbacks=["default"],
    )
    r = router.completion(model="smart", messages=MESSAGES)
    assert content(r) == "from cheap"
    assert r._hidden_params["attempts"] == [
        "first smart/s: InternalServerError",
        "fallback fast/f: Timeout",
        "fallback cheap/c: ok",
    ]
    assert r._hidden_params["model_group"] == "cheap"
    assert content(router.completion(model="long-prompt", messages=MESSAGES)) == "from big-window"
    assert content(router.completion(model="unsafe", messages=MESSAGES)) == "from safe"
    assert content(router.completion(model="orphan", messages=MESSAGES)) == "from default"
    # Per-call fallbacks replace the router's chain.
    r = router.completion(model="smart", messages=MESSAGES, fallbacks=["safe"])
    assert content(r) == "from safe"
    with pytest.raises(llmswitch.BadRequestError, match="unknown model group 'ghost'"):
        router.completion(model="smart", messages=MESSAGES, fallbacks=["ghost"])
    assert router.stats()["s"]["requests_this_minute"] == 2


def test_last_error_carries_the_attempt_path():
    router = llmswitch.Router(
        model_list=[
            mock_dep("a", "a1", "litellm.InternalServerError"),
            mock_dep("b", "b1", "litellm.RateLimitError"),
        ],
        num_retries=0,
        fallbacks=[{"a": ["b"]}],
    )
    with pytest.raises(llmswitch.RateLimitError) as info:
        router.completion(model="a", messages=MESSAGES)
    assert info.value.attempts == ["first a/a1: InternalServerError", "fallback b/b1: RateLimitError"]


def test_cooled_down_group_runs_its_fallbacks():
    router = llmswitch.Router(
        model_list=[mock_dep("a", "a1", "litellm.InternalServerError"), mock_dep("b", "b1", "from b")],
        num_retries=0,
        allowed_fails=0,
        cooldown_time=60,
        fallbacks=[{"a": ["b"]}],
    )
    router.completion(model="a", messages=MESSAGES)
    r = router.completion(model="a", messages=MESSAGES)
    assert r._hidden_params["attempts"] == [
        "first a: no deployment available (RouterRateLimitError)",
        "fallback b/b1: ok",
    ]


# --- streaming --------------------------------------------------------------------------


def test_stream_through_the_router(server):
    router = llmswitch.Router(model_list=[http_dep("g", "d", server)])
    stream = router.completion(model="g", messages=MESSAGES, stream=True)
    assert stream._hidden_params["model_id"] == "d"
    chunks = list(stream)
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text.startswith("Hello")
    assert router.stats()["d"]["in_flight"] == 0


def test_router_stream_without_usage_is_costed(server):
    # Perplexity takes no stream_options, so its streams carry no usage: the cost comes from
    # the counted prompt and the streamed text, through the router as without it.
    plain = llmswitch.completion(
        model="perplexity/sonar", messages=MESSAGES, stream=True, api_key=TEST_KEY, api_base=server.base_url
    )
    list(plain)
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "g",
                "litellm_params": {
                    "model": "perplexity/sonar",
                    "api_key": TEST_KEY,
                    "api_base": server.base_url,
                },
            }
        ]
    )
    stream = router.completion(model="g", messages=MESSAGES, stream=True)
    list(stream)
    assert "stream_options" not in server.requests[-1]["body"]
    assert plain._hidden_params["response_cost"] > 0
    assert stream._hidden_params["response_cost"] == pytest.approx(plain._hidden_params["response_cost"])


def test_stream_falls_back_before_the_first_chunk(fresh):
    broken, healthy = fresh[0], fresh[1]
    broken.enqueue(sse=["data: {}"], drop_after=0)
    router = llmswitch.Router(
        model_list=[http_dep("a", "broken", broken), http_dep("b", "healthy", healthy)],
        num_retries=0,
        fallbacks=[{"a": ["b"]}],
    )
    stream = router.completion(model="a", messages=MESSAGES, stream=True)
    assert stream._hidden_params["attempts"] == [
        "first a/broken: APIConnectionError",
        "fallback b/healthy: ok",
    ]
    text = "".join(c.choices[0].delta.get("content") or "" for c in stream if c.choices)
    assert text.startswith("Hello")


def test_stream_failure_after_the_first_chunk_reaches_the_caller(fresh):
    frames = [
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}',
        "data: never sent",
    ]
    # chunk_delay lets the first frame reach the client before the connection breaks.
    fresh[0].enqueue(sse=frames, drop_after=1, chunk_delay=0.05)
    router = llmswitch.Router(
        model_list=[http_dep("a", "flaky", fresh[0]), http_dep("b", "other", fresh[1])],
        fallbacks=[{"a": ["b"]}],
    )
    stream = router.completion(model="a", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(llmswitch.APIConnectionError):
        for c in stream:
            received.append(c.choices[0].delta.get("content") or "")
    assert "".join(received) == "Hi"
    assert fresh[1].hits == 0


def test_async_stream_falls_back(fresh):
    fresh[0].enqueue(status=503, json={"error": {"message": "overloaded"}})
    router = llmswitch.Router(
        model_list=[http_dep("a", "down", fresh[0]), http_dep("b", "up", fresh[1])],
        num_retries=0,
        fallbacks=[{"a": ["b"]}],
    )

    async def run() -> tuple[list[str], str]:
        stream = await router.acompletion(model="a", messages=MESSAGES, stream=True)
        text = "".join([c.choices[0].delta.get("content") or "" async for c in stream if c.choices])
        return stream._hidden_params["attempts"], text

    attempts, text = asyncio.run(run())
    assert attempts == ["first a/down: ServiceUnavailableError", "fallback b/up: ok"]
    assert text.startswith("Hello")


# --- hedging ----------------------------------------------------------------------------


def test_hedge_wins_on_a_slow_primary_and_cancels_the_loser(fresh):
    slow, fast = fresh[0], fresh[1]
    slow.enqueue(delay=30)
    router = llmswitch.Router(
        model_list=[http_dep("g", "slow", slow, order=1), http_dep("g", "fast", fast, order=2)],
        hedge={"after_ms": 50},
    )
    r = router.completion(model="g", messages=MESSAGES)
    assert r._hidden_params["model_id"] == "fast"
    assert r._hidden_params["attempts"] == ["hedge g/fast: ok", "first g/slow: cancelled"]
    stats = router.stats()
    assert stats["slow"]["cancelled"] == 1 and stats["slow"]["in_flight"] == 0
    assert stats["fast"]["hedges"] == 1
    # Both costs are recorded: the answer's, and the prompt the cancelled attempt was sent.
    assert r._hidden_params["response_cost"] > 0
    assert stats["fast"]["spend"] == pytest.approx(r._hidden_params["response_cost"])
    assert stats["slow"]["spend"] > 0
    # Both were sent: two requests, one answer.
    assert (slow.hits, fast.hits) == (1, 1)


def test_hedged_stream_cancels_the_losing_connection(fresh):
    slow, fast = fresh[0], fresh[1]
    chunk = (
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"late"},"finish_reason":null}]}'
    )
    # Headers come at once, the first chunk only much later.
    slow.enqueue(sse=[": keep-alive", chunk, "data: [DONE]"], chunk_delay=30)
    router = llmswitch.Router(
        model_list=[http_dep("g", "slow", slow, order=1), http_dep("g", "fast", fast, order=2)],
        hedge={"after_ms": 100},
    )

    async def run() -> Any:
        stream = await router.acompletion(model="g", messages=MESSAGES, stream=True)
        return stream._hidden_params["attempts"], [c async for c in stream]

    attempts, chunks = asyncio.run(run())
    assert attempts == ["hedge g/fast: ok", "first g/slow: cancelled"]
    assert chunks
    deadline = time.monotonic() + 5
    while slow.open_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slow.open_streams == 0


def test_hedge_after_a_latency_percentile(fresh):
    primary, spare = fresh[0], fresh[1]
    router = llmswitch.Router(
        model_list=[http_dep("g", "primary", primary, order=1), http_dep("g", "spare", spare, order=2)],
        hedge={"after_percentile": 90},
    )
    for _ in range(25):
        router.completion(model="g", messages=MESSAGES)
    primary.enqueue(delay=30)
    r = router.completion(model="g", messages=MESSAGES)
    assert r._hidden_params["attempts"] == ["hedge g/spare: ok", "first g/primary: cancelled"]
    # hedge=False turns it off for one call.
    r = router.completion(model="g", messages=MESSAGES, hedge=False)
    assert r._hidden_params["attempts"] == ["first g/primary: ok"]


# --- stats, config ----------------------------------------------------------------------


def test_stats_report_each_deployment():
    router = llmswitch.Router(
        model_list=[
            mock_dep("g", "a", rpm=10, weight=2, order=1),
            mock_dep("g", "b", "litellm.Timeout", order=2),
        ],
        num_retries=1,
    )
    router.completion(model="g", messages=MESSAGES)
    s = router.stats()
    assert set(s) == {"a", "b"}
    a = s["a"]
    assert a["model_group"] == "g" and a["model"] == "openai/gpt-4o"
    assert a["successes"] == 1 and a["failures"] == 0 and a["in_flight"] == 0
    assert a["requests_this_minute"] == 1 and a["tokens_this_minute"] > 0
    assert a["latency_ms"] is not None and a["ttft_ms"] is None
    assert (a["rpm"], a["weight"], a["order"]) == (10, 2, 1)
    assert not a["cooling_down"] and a["cooldown_remaining"] is None
    assert router.get_model_names() == ["g"]
    assert router.routing_strategy == "simple-shuffle"


def test_router_from_proxy_yaml_config(tmp_path, server, monkeypatch):
    monkeypatch.setenv("ROUTER_YAML_KEY", "sk-yaml-4567")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
model_list:
  - model_name: smart
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/ROUTER_YAML_KEY
      api_base: {server.base_url}
      rpm: 100
    model_info:
      id: smart-1
  - model_name: cheap
    llmswitch_params:
      model: openai/gpt-4o-mini
      mock_response: from cheap
litellm_settings:
  num_retries: 0
  fallbacks: [{{"smart": ["cheap"]}}]
router_settings:
  routing_strategy: least-busy
  redis_host: localhost
general_settings:
  master_key: sk-1234
"""
    )
    router = llmswitch.Router.from_config(path)
    assert router.routing_strategy == "least-busy"
    assert router.get_model_names() == ["smart", "cheap"]
    r = router.completion(model="smart", messages=MESSAGES)
    assert r._hidden_params["model_id"] == "smart-1"
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-yaml-4567"
    server.enqueue(status=500, json={"error": {"message": "down"}})
    r = router.completion(model="smart", messages=MESSAGES)
    assert content(r) == "from cheap"
    # The same from an already parsed mapping.
    router = llmswitch.Router.from_config({"model_list": [mock_dep("g", "d", "hi")]})
    assert content(router.completion(model="g", messages=MESSAGES)) == "hi"
    with pytest.raises(llmswitch.BadRequestError, match="could not read"):
        llmswitch.Router.from_config(tmp_path / "missing.yaml")


# --- concurrency ------------------------------------------------------------------------


def test_2000_concurrent_calls_with_random_failures(fresh):
    rng = random.Random(20240601)
    failures = [
        {"status": 429, "json": {"error": {"message": "slow down"}}, "headers": {"retry-after": "0"}},
        {"status": 500, "json": {"error": {"message": "boom"}}},
        {"status": 503, "json": {"error": {"message": "overloaded"}}},
        {"status": 400, "json": {"error": {"message": "bad", "type": "invalid_request_error"}}},
    ]
    for s in fresh:
        s.set_recording(False)
        for _ in range(1500):
            if rng.random() < 0.25:
                s.enqueue(**rng.choice(failures))
            else:
                s.enqueue()
    ids = [f"d{i}" for i in range(5)]
    router = llmswitch.Router(
        model_list=[http_dep("g", ids[i], fresh[i]) for i in range(5)],
        num_retries=2,
        allowed_fails=3,
        cooldown_time=0.2,
        seed=99,
    )
    by_class = {
        "RateLimitError": llmswitch.RateLimitError,
        "InternalServerError": llmswitch.InternalServerError,
        "ServiceUnavailableError": llmswitch.ServiceUnavailableError,
        "BadRequestError": llmswitch.BadRequestError,
        "RouterRateLimitError": llmswitch.RouterRateLimitError,
    }

    async def one() -> Any:
        try:
            return await router.acompletion(model="g", messages=MESSAGES)
        except llmswitch.LLMSwitchError as e:
            return e

    async def run() -> list[Any]:
        return await asyncio.gather(*(one() for _ in range(2000)))

    try:
        results = asyncio.run(run())
    finally:
        for s in fresh:
            s.set_recording(True)
    sent = 0
    outcomes: Counter[str] = Counter()
    for res in results:
        if isinstance(res, llmswitch.LLMSwitchError):
            attempts = res.attempts
            last = attempts[-1]
            outcomes[type(res).__name__] += 1
            if "no deployment available" in last and len(attempts) == 1:
                assert isinstance(res, llmswitch.RouterRateLimitError), attempts
            elif "no deployment available" in last:
                # A retry found every deployment cooling down: the previous error stands.
                assert attempts[-2].endswith(type(res).__name__), attempts
            else:
                assert last.endswith(type(res).__name__), attempts
            assert type(res) is by_class[type(res).__name__]
            # Only retryable failures were retried.
            for a in attempts[:-1]:
                assert "BadRequestError" not in a, attempts
        else:
            ChatCompletion.model_validate(res)
            attempts = res._hidden_params["attempts"]
            assert attempts[-1].endswith(": ok") and res._hidden_params["model_id"] in ids
            outcomes["ok"] += 1
        assert len([a for a in attempts if "no deployment" not in a]) <= 3, attempts
        sent += len([a for a in attempts if "no deployment" not in a])
    # How many calls meet every deployment cooling down depends on how fast the machine runs
    # the burst against the 0.2 s cooldowns (1,100+ succeed on an idle machine, ~750 on a loaded
    # one): the bound only says that most of the traffic got through.
    assert outcomes["ok"] > 500, outcomes
    # Every attempt the router reports reached a server exactly once, and nothing else did.
    assert sent == sum(s.hits for s in fresh)
    stats = router.stats()
    assert all(stats[i]["in_flight"] == 0 for i in ids)
    assert sum(stats[i]["successes"] + stats[i]["failures"] for i in ids) == sent

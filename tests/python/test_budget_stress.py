"""Budgets under load: 200 and 500 concurrent calls and streams (async tasks and threads,
the mock provider and HTTP through the loopback mock, direct and through the Router) against
one budget. The spend never passes the limit by more than the calls in flight can overshoot
their projections, and what was delivered is what was charged.

Streams are also consumed in every other way at once (broken at the finish reason, closed
early, cancelled, dropped without closing, connection lost mid-stream): each is charged
(the provider's usage, or its counted prompt and the chunks handed out), so no way of
consuming a stream gets past the budget."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import llmswitch
from conftest import MESSAGES
from llmswitch import budgets
from llmswitch.testing import MockServer

pytestmark = pytest.mark.timeout(180)

#: 10 completion tokens at $0.001, projected exactly with max_tokens=10.
PRICES = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.001}
CALL_COST = 0.01
LIMIT_CALLS = 37


@pytest.fixture(autouse=True)
def _clean() -> Any:
    budgets.clear()
    yield
    budgets.clear()


def user() -> str:
    return "stress-" + uuid.uuid4().hex[:10]


def spent_and_reserved(u: str) -> tuple[float, float]:
    (row,) = [s for s in budgets.status() if s["id"] == u]
    return row["spent"], row["reserved"]


def kw_for(u: str, how: str, server: MockServer) -> dict[str, Any]:
    base: dict[str, Any] = {"max_tokens": 10, "custom_cost_per_token": PRICES, "metadata": {"user": u}}
    if how == "mock":
        return {"model": "gpt-4o", "mock_response": "x" * 40, "mock_delay": 0.02, **base}
    # The loopback mock answers 10 completion tokens: 10 content chunks, usage included.
    return {
        "model": "openai/gpt-4o",
        "api_base": server.base_url,
        "api_key": "sk-test-0123456789abcdef",
        "extra_headers": {"x-mock-chunks": "10"},
        "stream_options": {"include_usage": True},
        **base,
    }


def outcome_cost(r: Any) -> float:
    return float(r._hidden_params["response_cost"])


@pytest.mark.parametrize("n", [200, 500])
@pytest.mark.parametrize("how", ["mock", "http"])
@pytest.mark.parametrize("stream", [False, True])
def test_async_calls_and_streams_against_one_budget(
    server: MockServer, n: int, how: str, stream: bool
) -> None:
    u = user()
    budgets.add(limit=LIMIT_CALLS * CALL_COST, scope="user", id=u)
    kw = kw_for(u, how, server)

    async def one() -> float:
        r = await llmswitch.acompletion(messages=MESSAGES, stream=stream, **kw)
        if not stream:
            return outcome_cost(r)
        finished = False
        async for c in r:
            finished = finished or bool(c.choices and c.choices[0].finish_reason)
        # Both sources answer 10 completion tokens.
        return CALL_COST if finished else 0.0

    async def main() -> list[Any]:
        return await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, llmswitch.BudgetExceededError) for e in errors), errors[:3]
    delivered = sum(r for r in results if not isinstance(r, BaseException))
    spent, reserved = spent_and_reserved(u)
    # Projections are exact here, so the in-flight bound is zero: never over the limit.
    assert spent <= LIMIT_CALLS * CALL_COST + 1e-9
    assert reserved == pytest.approx(0.0, abs=1e-12)
    # Everything delivered was charged.
    assert spent == pytest.approx(delivered)
    # At least the calls the budget holds got in (more when answers cost less than projected).
    assert n - len(errors) >= LIMIT_CALLS


@pytest.mark.parametrize("n", [200, 500])
def test_threads_and_router_against_one_budget(server: MockServer, n: int) -> None:
    u = user()
    budgets.add(limit=LIMIT_CALLS * CALL_COST, scope="user", id=u)
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "g",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": server.base_url,
                    "api_key": "sk-test-0123456789abcdef",
                    "extra_headers": {"x-mock-chunks": "10"},
                },
                "model_info": {"id": f"g-{i}", **PRICES},
            }
            for i in range(3)
        ],
        num_retries=0,
    )

    def one(i: int) -> float:
        try:
            if i % 2:
                r = router.completion(
                    model="g",
                    messages=MESSAGES,
                    max_tokens=10,
                    metadata={"user": u},
                    stream=True,
                    stream_options={"include_usage": True},
                )
                chunks = list(r)  # to the end: `any()` would stop at the finish reason (fault 2)
                return CALL_COST if any(c.choices and c.choices[0].finish_reason for c in chunks) else 0.0
            r = router.completion(model="g", messages=MESSAGES, max_tokens=10, metadata={"user": u})
            return outcome_cost(r)
        except llmswitch.BudgetExceededError:
            return -1.0

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(one, range(n)))
    admitted = [r for r in results if r >= 0]
    spent, reserved = spent_and_reserved(u)
    assert spent <= LIMIT_CALLS * CALL_COST + 1e-9
    assert reserved == pytest.approx(0.0, abs=1e-12)
    assert spent == pytest.approx(sum(admitted))
    # Non-streaming answers cost less than projected (6 tokens), so more than the budget's
    # worth of projections get in; never more than the limit's worth of real spend.
    assert len(admitted) >= LIMIT_CALLS


# ---- every way of consuming a stream, at once -------------------------------------------

MODES = ["end", "finish", "close", "cancel", "drop", "lost"]
#: Frames of the stream whose connection is lost: three content chunks, then a reset.
LOST_FRAMES = [
    'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
    f'"choices":[{{"index":0,"delta":{{"content":"{word}"}},"finish_reason":null}}]}}'
    for word in ("one ", "two ", "three ")
] + ['data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[]}'] * 3


def counted_cost(text: str) -> float:
    """What a stream cut short is charged: its counted prompt (free here) and the text
    handed out."""
    return (
        llmswitch.token_counter(model="gpt-4o", text=text) * PRICES["output_cost_per_token"] if text else 0.0
    )


def check_every_call_charged(u: str, admitted: int) -> None:
    records = [r for r in llmswitch.spend.records() if r["user"] == u and r["status"] != "blocked"]
    assert len(records) == admitted, (len(records), admitted)
    assert all(r["cost"] is not None for r in records), [r for r in records if r["cost"] is None][:3]


@pytest.mark.parametrize("n", [200, 500])
def test_async_streams_consumed_every_way_against_one_budget(server: MockServer, n: int) -> None:
    u = user()
    budgets.add(limit=LIMIT_CALLS * CALL_COST, scope="user", id=u)
    lost_server = MockServer()
    for _ in range(n):
        lost_server.enqueue(sse=LOST_FRAMES, drop_after=3)
    kw = kw_for(u, "http", server)
    lost_kw = {**kw, "api_base": lost_server.base_url}

    async def one(i: int) -> float:
        mode = MODES[i % len(MODES)]
        stream = await llmswitch.acompletion(
            messages=MESSAGES, stream=True, **(lost_kw if mode == "lost" else kw)
        )
        text = ""
        if mode == "end":
            async for c in stream:
                text += (c.choices and c.choices[0].delta.content) or ""
            return CALL_COST
        if mode == "finish":
            async for c in stream:
                if c.choices and c.choices[0].finish_reason:
                    return CALL_COST  # left there, still referenced until the test ends
            raise AssertionError("no finish reason")
        if mode == "lost":
            try:
                async for c in stream:
                    text += (c.choices and c.choices[0].delta.content) or ""
            except llmswitch.APIConnectionError:
                return counted_cost(text)
            raise AssertionError("the connection was not lost")
        first = await stream.__anext__()
        text = first.choices[0].delta.content or ""
        if mode == "close":
            await stream.aclose()
        elif mode == "cancel":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            try:
                await stream.__anext__()
            except asyncio.CancelledError:
                pass
            task.uncancel()
        else:  # drop: no close, the last reference goes
            del stream
            gc.collect()
        return counted_cost(text)

    async def main() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        lost_server_hits = lost_server.hits
        lost_server.stop()
    gc.collect()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, llmswitch.BudgetExceededError) for e in errors), errors[:3]
    delivered = [r for r in results if not isinstance(r, BaseException)]
    spent, reserved = spent_and_reserved(u)
    # Projections are exact (10 tokens at most, free prompts): no overshoot at all.
    assert spent <= LIMIT_CALLS * CALL_COST + 1e-9, spent
    assert reserved == pytest.approx(0.0, abs=1e-12)
    # Everything delivered was charged; a read cancelled while its chunk was arriving may
    # also be charged that chunk (fetched from the stream, never seen by the task).
    assert spent >= sum(delivered) - 1e-9, (spent, sum(delivered))
    assert len(delivered) >= LIMIT_CALLS
    check_every_call_charged(u, len(delivered))
    assert lost_server_hits >= 1


@pytest.mark.parametrize("n", [200, 500])
def test_blocking_streams_consumed_every_way_through_the_router(server: MockServer, n: int) -> None:
    u = user()
    budgets.add(limit=LIMIT_CALLS * CALL_COST, scope="user", id=u)
    lost_server = MockServer()
    for _ in range(n):
        lost_server.enqueue(sse=LOST_FRAMES, drop_after=3)

    def deployment(group: str, base: str, i: int) -> dict[str, Any]:
        return {
            "model_name": group,
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_base": base,
                "api_key": "sk-test-0123456789abcdef",
                "extra_headers": {"x-mock-chunks": "10"},
            },
            "model_info": {"id": f"{group}-{i}", **PRICES},
        }

    router = llmswitch.Router(
        model_list=[deployment("g", server.base_url, i) for i in range(3)]
        + [deployment("lost", lost_server.base_url, 0)],
        num_retries=0,
        disable_cooldowns=True,
    )
    sync_modes = [m for m in MODES if m != "cancel"]
    kept: list[Any] = []
    lock = threading.Lock()

    def one(i: int) -> float:
        mode = sync_modes[i % len(sync_modes)]
        try:
            stream = router.completion(
                model="lost" if mode == "lost" else "g",
                messages=MESSAGES,
                max_tokens=10,
                metadata={"user": u},
                stream=True,
                stream_options={"include_usage": True},
            )
        except llmswitch.BudgetExceededError:
            return -1.0
        text = ""
        if mode == "end":
            for _ in stream:
                pass
            return CALL_COST
        if mode == "finish":
            for c in stream:
                if c.choices and c.choices[0].finish_reason:
                    with lock:
                        kept.append(stream)  # left at the finish reason, never closed
                    return CALL_COST
            raise AssertionError("no finish reason")
        if mode == "lost":
            try:
                for c in stream:
                    text += (c.choices and c.choices[0].delta.content) or ""
            except llmswitch.APIConnectionError:
                return counted_cost(text)
            raise AssertionError("the connection was not lost")
        text = next(stream).choices[0].delta.content or ""
        if mode == "close":
            stream.close()
        else:
            del stream
        return counted_cost(text)

    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            results = list(pool.map(one, range(n)))
    finally:
        lost_server.stop()
    kept.clear()
    gc.collect()
    admitted = [r for r in results if r >= 0]
    spent, reserved = spent_and_reserved(u)
    assert spent <= LIMIT_CALLS * CALL_COST + 1e-9, spent
    assert reserved == pytest.approx(0.0, abs=1e-12)
    assert spent == pytest.approx(sum(admitted))
    assert len(admitted) >= LIMIT_CALLS
    check_every_call_charged(u, len(admitted))

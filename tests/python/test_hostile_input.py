"""Hostile Python input, generated with hypothesis, to every public function: each returns
or raises a clean Python exception (never a panic, a ``SystemError`` or a crash).

Values are JSON-like trees mixed with what JSON has no form for (bytes, sets, tuples,
complex, huge integers, NaN, arbitrary objects) and with objects whose every dunder raises.
Depth stays small and nothing refers to itself: issue 14's fault 1 (deep and self-referencing
input) has its own tests. Calls stay offline: the ``mock/`` provider, no ``api_base``.
``HYPOTHESIS_PROFILE=long`` runs many more examples (RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmswitch

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytestmark = pytest.mark.timeout(300)


class Evil:
    """Raises from every protocol a conversion might use."""

    def _boom(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("evil object")

    __iter__ = __len__ = __str__ = __repr__ = __float__ = __int__ = __index__ = __bool__ = _boom
    __getitem__ = __contains__ = __hash__ = __eq__ = __fspath__ = _boom  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"evil attribute {name}")


class EvilDict(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("evil items")

    def keys(self) -> Any:
        raise RuntimeError("evil keys")


class EvilStr(str):
    def __str__(self) -> str:
        raise RuntimeError("evil str")


KEYS = [
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "name",
    "tool_calls",
    "function",
    "arguments",
    "tool_call_id",
    "choices",
    "delta",
    "message",
    "usage",
    "model",
    "model_name",
    "litellm_params",
    "model_info",
    "id",
    "prompt_tokens",
    "completion_tokens",
    "input_cost_per_token",
    "max_tokens",
]

odd = st.one_of(
    st.binary(max_size=8),
    st.complex_numbers(allow_nan=True),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
    st.frozensets(st.integers(), max_size=3),
    st.builds(object),
    st.builds(Evil),
    st.builds(lambda: EvilDict(a=1)),
    st.builds(lambda: EvilStr("evil")),
    st.just(Ellipsis),
    st.just(print),
)
leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.sampled_from(KEYS), odd
)
value = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers()), inner, max_size=4
        ),
    ),
    max_leaves=16,
)

PARAMS = [
    "temperature",
    "top_p",
    "n",
    "stream",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "response_format",
    "seed",
    "tools",
    "tool_choice",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "reasoning_effort",
    "metadata",
    "mock_response",
    "num_retries",
    "drop_params",
    "caching",
    "extra_headers",
    "stream_options",
    "dimensions",
    "encoding_format",
    "custom_cost_per_token",
    "thinking",
    "modalities",
    "n",
    "fallbacks",
]
kwargs = st.dictionaries(st.one_of(st.sampled_from(PARAMS), st.text(max_size=10)), value, max_size=4).map(
    lambda d: {k: v for k, v in d.items() if k not in ("api_base", "base_url", "model", "messages", "input")}
)
model = st.one_of(st.sampled_from(["mock/fuzz", "mock/gpt-4o", "gpt-4o", "mock/"]), value)
messages = st.one_of(
    value,
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant", "tool"]), "content": value}
        )
    ),
)


def clean(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call; a Python exception is fine unless it is a SystemError (a C-level failure)."""
    try:
        result = fn(*args, **kw)
    except SystemError:
        raise
    except Exception as e:
        assert str(e) or type(e).__name__, "an exception without a message"
        return e
    return result


def drain(result: Any) -> None:
    """Read a stream the call returned (its errors must be clean too)."""
    if hasattr(result, "__next__"):
        clean(lambda: [c for c in result])


@given(model, messages, kwargs, st.booleans())
def test_completion(m: Any, msgs: Any, kw: Any, stream: bool) -> None:
    drain(clean(llmswitch.completion, m, msgs, timeout=5, stream=stream, **kw))


@given(model, messages, kwargs)
def test_acompletion(m: Any, msgs: Any, kw: Any) -> None:
    async def go() -> Any:
        return await llmswitch.acompletion(model=m, messages=msgs, timeout=5, **kw)

    clean(asyncio.run, go())


@given(model, value, kwargs)
def test_embedding(m: Any, inp: Any, kw: Any) -> None:
    clean(llmswitch.embedding, m, inp, timeout=5, **kw)


@given(value, st.one_of(st.none(), value))
def test_stream_chunk_builder(chunks: Any, msgs: Any) -> None:
    clean(llmswitch.stream_chunk_builder, chunks, msgs)


@given(value, st.one_of(st.none(), value))
def test_catalogue_lookups(m: Any, provider: Any) -> None:
    for fn in (
        llmswitch.get_supported_openai_params,
        llmswitch.get_llm_provider,
        llmswitch.get_model_info,
        llmswitch.supports_vision,
        llmswitch.supports_function_calling,
        llmswitch.supports_parallel_function_calling,
        llmswitch.supports_response_schema,
        llmswitch.supports_reasoning,
        llmswitch.supports_prompt_caching,
    ):
        clean(fn, m, provider)
    clean(llmswitch.get_max_tokens, m)


@given(st.dictionaries(st.text(max_size=8).map(lambda k: f"fuzz-{k}"), value, max_size=3))
def test_register_model(entries: Any) -> None:
    # Names prefixed so no real model's price can change under the other tests.
    clean(llmswitch.register_model, entries)


@given(value, value, value, value, value)
def test_costs_and_tokens(response: Any, m: Any, a: Any, b: Any, msgs: Any) -> None:
    clean(llmswitch.completion_cost, completion_response=response, model=m)
    clean(
        llmswitch.completion_cost,
        model=m,
        prompt=a,
        completion=b,
        messages=msgs,
        custom_cost_per_token=response,
    )
    clean(
        llmswitch.cost_per_token,
        model=m,
        prompt_tokens=a,
        completion_tokens=b,
        custom_cost_per_token=response,
    )
    clean(llmswitch.token_counter, model=m, text=a, messages=msgs, tools=b)


@given(value, value, value, value)
def test_spend_report(group_by: Any, since: Any, until: Any, interval: Any) -> None:
    clean(llmswitch.spend_report, group_by=group_by, since=since, until=until, interval=interval)


@given(value, value, value, value)
def test_budget_manager(project: Any, user: Any, budget: Any, duration: Any) -> None:
    bm = clean(llmswitch.BudgetManager, project)
    if isinstance(bm, llmswitch.BudgetManager):
        clean(bm.create_budget, total_budget=budget, user=user, duration=duration)
        clean(bm.projected_cost, model=project, messages=user, user=user)
        clean(bm.get_current_cost, user)
        clean(bm.update_cost, completion_obj=budget, user=user)
        clean(bm.reset_cost, user)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "ttl",
                "max_messages",
                "namespace",
                "mode",
                "supported_call_types",
                "default_in_memory_ttl",
                "max_size_in_memory",
            ]
        ),
        value,
        max_size=3,
    )
)
def test_cache(kw: Any) -> None:
    clean(llmswitch.Cache, type="local", **kw)


@given(
    st.one_of(
        value, st.lists(st.fixed_dictionaries({"model_name": value, "litellm_params": value}), max_size=3)
    ),
    st.dictionaries(
        st.sampled_from(
            [
                "routing_strategy",
                "num_retries",
                "timeout",
                "fallbacks",
                "cooldown_time",
                "retry_policy",
                "hedge",
                "seed",
                "default_litellm_params",
            ]
        ),
        value,
        max_size=3,
    ),
    model,
    messages,
)
def test_router(model_list: Any, kw: Any, m: Any, msgs: Any) -> None:
    router = clean(llmswitch.Router, model_list=model_list, **kw)
    if isinstance(router, llmswitch.Router):
        drain(clean(router.completion, model=m, messages=msgs, timeout=5))
        clean(router.embedding, model=m, input=msgs, timeout=5)


@given(value, value, value)
def test_response_types_and_exceptions(a: Any, b: Any, c: Any) -> None:
    for cls in (llmswitch.ModelResponse, llmswitch.EmbeddingResponse, llmswitch.AttrDict):
        clean(cls, a)
    for exc in (llmswitch.BadRequestError, llmswitch.RateLimitError, llmswitch.APIError, llmswitch.Timeout):
        e = clean(exc, message=a, model=b, llm_provider=c)
        clean(str, e)
        clean(repr, e)

"""Cost on every response, the model catalogue, and token counting."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Mapping

import pytest
from openai.types.chat import ChatCompletion

import llmswitch
from conftest import MESSAGES, TEST_KEY, chunk, sse


def price(key: str, field: str) -> float:
    value = llmswitch.model_cost[key][field]
    assert isinstance(value, float) and value > 0, (key, field, value)
    return value


def chat_body(model: str, usage: dict) -> dict:
    return {
        "id": "chatcmpl-c",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": usage,
    }


# --- cost on responses -------------------------------------------------------------------


def test_openai_cost_bills_cached_tokens_at_cache_price(server, openai_kw):
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 300,
        "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1500},
    }
    server.enqueue(json=chat_body("gpt-4o-2024-08-06", usage))
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    expected = (
        500 * price("gpt-4o", "input_cost_per_token")
        + 1500 * price("gpt-4o", "cache_read_input_token_cost")
        + 300 * price("gpt-4o", "output_cost_per_token")
    )
    assert r._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-9)
    # The discount is real: cheaper than billing every prompt token at the input price.
    full = 2000 * price("gpt-4o", "input_cost_per_token") + 300 * price("gpt-4o", "output_cost_per_token")
    assert r._hidden_params["response_cost"] < full
    assert llmswitch.completion_cost(completion_response=r) == pytest.approx(expected, rel=1e-9)
    ChatCompletion.model_validate(r)


def test_groq_cost_from_catalogue(server, openai_kw):
    server.enqueue(
        json=chat_body("llama-3.3-70b-versatile", {"prompt_tokens": 1234, "completion_tokens": 56})
    )
    r = llmswitch.completion(model="groq/llama-3.3-70b-versatile", messages=MESSAGES, **openai_kw)
    key = "groq/llama-3.3-70b-versatile"
    expected = 1234 * price(key, "input_cost_per_token") + 56 * price(key, "output_cost_per_token")
    assert r._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-9)


def test_reasoning_tokens_are_output_priced(server, openai_kw):
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 900,
        "completion_tokens_details": {"reasoning_tokens": 800},
    }
    server.enqueue(json=chat_body("o3-mini", usage))
    r = llmswitch.completion(model="openai/o3-mini", messages=MESSAGES, **openai_kw)
    info = llmswitch.get_model_info("o3-mini")
    reasoning_price = info.get("output_cost_per_reasoning_token") or info["output_cost_per_token"]
    expected = (
        100 * info["input_cost_per_token"] + 100 * info["output_cost_per_token"] + 800 * reasoning_price
    )
    assert r._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-9)


def test_anthropic_cache_write_premium_and_read_discount():
    key = "claude-sonnet-4-20250514"
    inp = price(key, "input_cost_per_token")
    write = price(key, "cache_creation_input_token_cost")
    read = price(key, "cache_read_input_token_cost")
    out = price(key, "output_cost_per_token")
    assert write == pytest.approx(inp * 1.25) and read == pytest.approx(inp * 0.1)
    # prompt_tokens includes cache reads and writes.
    prompt_cost, completion_cost = llmswitch.cost_per_token(
        model=key,
        prompt_tokens=100 + 2000 + 8000,
        completion_tokens=50,
        cache_creation_input_tokens=2000,
        cache_read_input_tokens=8000,
    )
    assert prompt_cost == pytest.approx(100 * inp + 2000 * write + 8000 * read, rel=1e-9)
    assert completion_cost == pytest.approx(50 * out, rel=1e-9)
    # The same through a response whose usage is Anthropic-shaped, as llmswitch reports it.
    response = {
        "model": key,
        "usage": {
            "prompt_tokens": 10100,
            "completion_tokens": 50,
            "total_tokens": 10150,
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 8000,
            "prompt_tokens_details": {"cached_tokens": 8000},
        },
    }
    assert llmswitch.completion_cost(completion_response=response) == pytest.approx(
        prompt_cost + completion_cost, rel=1e-9
    )


def anthropic_message(usage: dict) -> dict:
    """A Messages API response, as in Anthropic's API reference."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


ANTHROPIC_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 8000,
    "output_tokens": 50,
}


def expected_anthropic_cost(key: str = "claude-sonnet-4-5") -> float:
    return (
        100 * price(key, "input_cost_per_token")
        + 2000 * price(key, "cache_creation_input_token_cost")
        + 8000 * price(key, "cache_read_input_token_cost")
        + 50 * price(key, "output_cost_per_token")
    )


def test_anthropic_response_cost_with_cache_write_and_read(server):
    server.enqueue(json=anthropic_message(ANTHROPIC_USAGE))
    r = llmswitch.completion(
        model="anthropic/claude-sonnet-4-5-20250929", messages=MESSAGES, api_base=server.url, api_key=TEST_KEY
    )
    assert r.usage.prompt_tokens == 10_100  # cache reads and writes included
    assert r._hidden_params["response_cost"] == pytest.approx(expected_anthropic_cost(), rel=1e-9)


def test_anthropic_stream_cost(server):
    start = {
        "type": "message_start",
        "message": {
            **anthropic_message({**ANTHROPIC_USAGE, "output_tokens": 1}),
            "content": [],
            "stop_reason": None,
        },
    }
    frames = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 50},
        },
        {"type": "message_stop"},
    ]
    server.enqueue(sse=[f"event: {f['type']}\ndata: {json.dumps(f)}" for f in frames])
    stream = llmswitch.completion(
        model="anthropic/claude-sonnet-4-5",
        messages=MESSAGES,
        stream=True,
        api_base=server.url,
        api_key=TEST_KEY,
    )
    chunks = list(stream)
    assert stream._hidden_params["response_cost"] == pytest.approx(expected_anthropic_cost(), rel=1e-9)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    assert rebuilt._hidden_params["response_cost"] == pytest.approx(expected_anthropic_cost(), rel=1e-9)


def test_anthropic_long_context_tier():
    key = "claude-sonnet-4-20250514"
    info = llmswitch.get_model_info(key)
    short, _ = llmswitch.cost_per_token(model=key, prompt_tokens=200_000)
    long, long_out = llmswitch.cost_per_token(model=key, prompt_tokens=250_000, completion_tokens=10)
    assert short == pytest.approx(200_000 * info["input_cost_per_token"])
    assert long == pytest.approx(250_000 * info["input_cost_per_token_above_200k_tokens"])
    assert long_out == pytest.approx(10 * info["output_cost_per_token_above_200k_tokens"])


def test_embedding_cost():
    key = "text-embedding-3-small"
    assert llmswitch.get_model_info(key)["mode"] == "embedding"
    prompt_cost, completion_cost = llmswitch.cost_per_token(model=key, prompt_tokens=10_000)
    assert prompt_cost == pytest.approx(10_000 * price(key, "input_cost_per_token"))
    assert completion_cost == 0.0


def test_mock_models_cost_nothing_and_mock_response_costs_the_real_model():
    r = llmswitch.completion(model="mock/anything", messages=MESSAGES)
    assert r._hidden_params["response_cost"] == 0.0
    r = llmswitch.completion(model="gpt-4o", messages=MESSAGES, mock_response="hello")
    u = r.usage
    expected = u.prompt_tokens * price("gpt-4o", "input_cost_per_token") + u.completion_tokens * price(
        "gpt-4o", "output_cost_per_token"
    )
    assert r._hidden_params["response_cost"] == pytest.approx(expected)


def test_response_without_usage_is_costed_from_counted_tokens(server, openai_kw):
    body = chat_body("gpt-4o", {})
    del body["usage"]
    server.enqueue(json=body)
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    prompt = llmswitch.token_counter(model="gpt-4o", messages=MESSAGES)
    completion = llmswitch.token_counter(model="gpt-4o", text="ok", count_response_tokens=True)
    expected = prompt * price("gpt-4o", "input_cost_per_token") + completion * price(
        "gpt-4o", "output_cost_per_token"
    )
    assert r._hidden_params["response_cost"] == pytest.approx(expected)


def test_custom_cost_per_token_overrides(server, openai_kw):
    custom = {"input_cost_per_token": 0.5, "output_cost_per_token": 2.0}
    r = llmswitch.completion(
        model="openai/gpt-4o", messages=MESSAGES, custom_cost_per_token=custom, **openai_kw
    )
    assert r._hidden_params["response_cost"] == pytest.approx(9 * 0.5 + 6 * 2.0)
    assert "custom_cost_per_token" not in server.requests[-1]["body"]
    # LiteLLM's per-call price keywords work too, and a price not given is the catalogue's.
    r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, input_cost_per_token=1.0, **openai_kw)
    assert r._hidden_params["response_cost"] == pytest.approx(
        9 * 1.0 + 6 * price("gpt-4o", "output_cost_per_token")
    )
    # An unknown model with custom prices is costed, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = llmswitch.completion(
            model="groq/custom-priced-model", messages=MESSAGES, custom_cost_per_token=custom, **openai_kw
        )
    assert r._hidden_params["response_cost"] == pytest.approx(9 * 0.5 + 6 * 2.0)


def test_unknown_model_cost_is_none_with_one_warning(server, openai_kw):
    with pytest.warns(llmswitch.UnknownModelCostWarning, match="groq/never-priced-model-1") as record:
        r = llmswitch.completion(model="groq/never-priced-model-1", messages=MESSAGES, **openai_kw)
        r2 = llmswitch.completion(model="groq/never-priced-model-1", messages=MESSAGES, **openai_kw)
    assert r._hidden_params["response_cost"] is None
    assert r2._hidden_params["response_cost"] is None
    assert len([w for w in record if issubclass(w.category, llmswitch.UnknownModelCostWarning)]) == 1
    assert issubclass(llmswitch.UnknownModelCostWarning, UserWarning)
    with pytest.raises(llmswitch.NotFoundError, match="isn't mapped"):
        llmswitch.completion_cost(completion_response=r)


# --- streams -----------------------------------------------------------------------------


def stream_frames(usage: dict | None) -> list[str]:
    frames = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " there"}),
        chunk({}, finish_reason="stop"),
    ]
    if usage is not None:
        frames.append(
            sse(
                {
                    "id": "chatcmpl-x",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "gpt-4o",
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    return [*frames, sse("[DONE]")]


STREAM_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 20,
    "total_tokens": 1020,
    "prompt_tokens_details": {"cached_tokens": 600},
}


def expected_stream_cost() -> float:
    return (
        400 * price("gpt-4o", "input_cost_per_token")
        + 600 * price("gpt-4o", "cache_read_input_token_cost")
        + 20 * price("gpt-4o", "output_cost_per_token")
    )


def test_stream_cost_known_when_it_ends(server, openai_kw):
    server.enqueue(sse=stream_frames(STREAM_USAGE))
    stream = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
    assert stream._hidden_params["response_cost"] is None
    chunks = list(stream)
    # The usage chunk was not asked for, so it is hidden, but it was used for the cost.
    assert all(c.get("usage") is None for c in chunks)
    assert stream._hidden_params["response_cost"] == pytest.approx(expected_stream_cost())
    # The first chunk shares the stream's hidden params, so the rebuilt response is costed too.
    assert chunks[0]._hidden_params is stream._hidden_params
    rebuilt = llmswitch.stream_chunk_builder(chunks, messages=MESSAGES)
    assert rebuilt._hidden_params["response_cost"] == pytest.approx(expected_stream_cost())
    assert rebuilt.choices[0].message.content == "Hello there"


def test_stream_chunk_builder_costs_rebuilt_usage(server, openai_kw):
    server.enqueue(sse=stream_frames(STREAM_USAGE))
    stream = llmswitch.completion(
        model="openai/gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        **openai_kw,
    )
    chunks = list(stream)
    assert chunks[-1].usage.prompt_tokens == 1000
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    assert rebuilt._hidden_params["response_cost"] == pytest.approx(expected_stream_cost())
    # Plain dict chunks (no hidden params): provider and model from the chunks' model.
    plain = [dict(c) for c in chunks]
    rebuilt = llmswitch.stream_chunk_builder(plain)
    assert rebuilt._hidden_params["response_cost"] == pytest.approx(expected_stream_cost())
    ChatCompletion.model_validate(rebuilt)


def test_stream_chunk_builder_without_usage_counts_tokens():
    chunks = [json.loads(frame[len("data: ") :]) for frame in stream_frames(None)[:-1]]
    rebuilt = llmswitch.stream_chunk_builder(chunks, messages=MESSAGES)
    prompt = llmswitch.token_counter(model="gpt-4o", messages=MESSAGES)
    completion = llmswitch.token_counter(model="gpt-4o", text="Hello there", count_response_tokens=True)
    # As LiteLLM's stream_chunk_builder, the usage is counted when the chunks carry none.
    assert rebuilt.usage.prompt_tokens == prompt
    assert rebuilt.usage.completion_tokens == completion
    expected = prompt * price("gpt-4o", "input_cost_per_token") + completion * price(
        "gpt-4o", "output_cost_per_token"
    )
    assert rebuilt._hidden_params["response_cost"] == pytest.approx(expected)


def test_async_stream_cost(server, openai_kw):
    server.enqueue(sse=stream_frames(STREAM_USAGE))

    async def run() -> tuple[list, dict]:
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )
        chunks = [c async for c in stream]
        return chunks, stream._hidden_params

    chunks, hidden = asyncio.run(run())
    assert len(chunks) == 4
    assert hidden["response_cost"] == pytest.approx(expected_stream_cost())


def test_async_completion_cost(server, openai_kw):
    async def run() -> llmswitch.ModelResponse:
        return await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)

    r = asyncio.run(run())
    expected = 9 * price("gpt-4o", "input_cost_per_token") + 6 * price("gpt-4o", "output_cost_per_token")
    assert r._hidden_params["response_cost"] == pytest.approx(expected)


def test_stream_without_usage_is_costed_from_counted_tokens(server, openai_kw):
    # Perplexity takes no stream_options, so its streams carry no usage.
    server.enqueue(sse=stream_frames(None))
    stream = llmswitch.completion(model="perplexity/sonar", messages=MESSAGES, stream=True, **openai_kw)
    chunks = list(stream)
    assert "stream_options" not in server.requests[-1]["body"]
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices) == "Hello there"
    prompt = llmswitch.token_counter(model="sonar", messages=MESSAGES)
    completion = llmswitch.token_counter(model="sonar", text="Hello there", count_response_tokens=True)
    key = "perplexity/sonar"
    expected = prompt * price(key, "input_cost_per_token") + completion * price(key, "output_cost_per_token")
    assert stream._hidden_params["response_cost"] == pytest.approx(expected)


def test_mock_stream_cost():
    stream = llmswitch.completion(model="mock/x", messages=MESSAGES, stream=True)
    list(stream)
    assert stream._hidden_params["response_cost"] == 0.0


def test_unknown_model_stream_warns_at_end(server, openai_kw):
    server.enqueue(sse=stream_frames(STREAM_USAGE))
    stream = llmswitch.completion(
        model="groq/never-priced-stream-model", messages=MESSAGES, stream=True, **openai_kw
    )
    with pytest.warns(llmswitch.UnknownModelCostWarning, match="never-priced-stream-model"):
        list(stream)
    assert stream._hidden_params["response_cost"] is None


# --- completion_cost / cost_per_token ----------------------------------------------------


def test_completion_cost_from_text_and_messages():
    cost = llmswitch.completion_cost(model="gpt-4o", prompt="hello world", completion="tiktoken is great!")
    assert cost == pytest.approx(
        2 * price("gpt-4o", "input_cost_per_token") + 6 * price("gpt-4o", "output_cost_per_token")
    )
    cost = llmswitch.completion_cost(model="gpt-4o", messages=MESSAGES, completion="hi")
    assert cost == pytest.approx(
        8 * price("gpt-4o", "input_cost_per_token") + 1 * price("gpt-4o", "output_cost_per_token")
    )
    custom = {"input_cost_per_token": 1.0, "output_cost_per_token": 10.0}
    assert llmswitch.completion_cost(
        model="anything-at-all", prompt="hello world", completion="hi", custom_cost_per_token=custom
    ) == pytest.approx(12.0)
    with pytest.raises(ValueError):
        llmswitch.completion_cost()
    with pytest.raises(llmswitch.NotFoundError):
        llmswitch.completion_cost(model="groq/never-priced-model-2", prompt="x")


def test_cost_per_token_forms():
    p, c = llmswitch.cost_per_token(model="gpt-4o", prompt_tokens=1000, completion_tokens=100)
    assert (p, c) == (pytest.approx(1000 * 2.5e-6), pytest.approx(100 * 10e-6))
    assert llmswitch.cost_per_token("gpt-4o", 1000, 100) == (p, c)
    assert llmswitch.cost_per_token("openai/gpt-4o", 1000, 100) == (p, c)
    assert llmswitch.cost_per_token("gpt-4o", 1000, 100, custom_llm_provider="openai") == (p, c)
    assert llmswitch.cost_per_token(
        "x", 10, 20, custom_cost_per_token={"input_cost_per_token": 1, "output_cost_per_token": 2}
    ) == (10.0, 40.0)
    with pytest.raises(llmswitch.NotFoundError):
        llmswitch.cost_per_token("groq/never-priced-model-3", 1, 1)


# --- catalogue ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "vision", "tools", "schema"),
    [
        ("gpt-4o", "openai", True, True, True),
        ("openai/gpt-4o-mini", "openai", True, True, True),
        ("groq/llama-3.3-70b-versatile", "groq", False, True, False),
        ("claude-sonnet-4-20250514", "anthropic", True, True, True),
        ("text-embedding-3-small", "openai", False, False, False),
        ("gemini/gemini-2.5-pro", "gemini", True, True, True),
        ("xai/grok-4", "xai", True, True, True),
        ("mistral/mistral-small-latest", "mistral", True, True, True),
        ("deepseek/deepseek-chat", "deepseek", False, True, True),
        ("fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct", "fireworks_ai", False, True, True),
    ],
)
def test_get_model_info_and_supports(model, provider, vision, tools, schema):
    info = llmswitch.get_model_info(model)
    assert info["litellm_provider"] == provider
    assert info["max_input_tokens"] > 0
    assert llmswitch.supports_vision(model) is vision
    assert llmswitch.supports_function_calling(model) is tools
    assert llmswitch.supports_response_schema(model) is schema
    assert info["supports_vision"] is vision


def test_fireworks_short_name_costs_the_prefixed_entry(server, openai_kw):
    # The host prefixes "accounts/fireworks/models/"; the catalogue keys the full name.
    r = llmswitch.completion(model="fireworks_ai/llama-v3p3-70b-instruct", messages=MESSAGES, **openai_kw)
    key = "fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct"
    expected = 9 * price(key, "input_cost_per_token") + 6 * price(key, "output_cost_per_token")
    assert r._hidden_params["response_cost"] == pytest.approx(expected)


#: Providers with no catalogue section: OpenAI under other names (its prices apply through the
#: bare model names), servers that pass any model through, subscription billing, and hosts
#: LiteLLM 1.106.2's price file lists no token prices for.
UNPRICED_HOSTS = {
    "openai_compatible", "custom_openai", "aiohttp_openai", "ai21_chat", "openai_like",
    "litellm_proxy", "helicone", "featherless_ai", "poe", "nano-gpt", "apertis",
    "huggingface", "clarifai", "galadriel", "modelscope", "edenai", "aiml", "cometapi",
    "compactifai", "heroku", "maritalk", "datarobot", "minimax", "meta_llama", "cognition",
    "jina_ai", "infinity", "synthetic", "chutes", "assemblyai", "charity_engine", "neosantara",
    "parasail", "cortecs", "reka", "publicai",
}  # fmt: skip


def test_catalogue_covers_every_host():
    providers = {entry["litellm_provider"] for entry in llmswitch.model_cost.values()}
    priced_hosts = set(llmswitch.provider_list) - UNPRICED_HOSTS
    assert priced_hosts <= providers, priced_hosts - providers
    assert not UNPRICED_HOSTS & providers, UNPRICED_HOSTS & providers
    assert len(llmswitch.model_cost) >= 400


def test_get_model_info_fields_and_errors():
    info = llmswitch.get_model_info("gpt-4o")
    assert info["key"] == "gpt-4o"
    assert info["mode"] == "chat"
    assert info["input_cost_per_token"] == pytest.approx(2.5e-6)
    assert info["max_output_tokens"] == llmswitch.get_max_tokens("gpt-4o") > 0
    assert info["cache_creation_input_token_cost"] is None  # present even when unknown
    assert llmswitch.get_model_info("gpt-4o", custom_llm_provider="openai")["key"] == "gpt-4o"
    # A dated snapshot not listed falls back to its base model.
    assert llmswitch.get_model_info("gpt-4o-2099-12-31")["key"] == "gpt-4o"
    assert llmswitch.supports_reasoning("claude-sonnet-4-20250514")
    assert not llmswitch.supports_reasoning("gpt-4o")
    with pytest.raises(llmswitch.NotFoundError, match="isn't mapped"):
        llmswitch.get_model_info("groq/no-such-model")
    with pytest.raises(llmswitch.NotFoundError):
        llmswitch.get_max_tokens("no-such-model-anywhere")
    assert llmswitch.supports_vision("groq/no-such-model") is False


def test_model_cost_is_a_read_only_mapping():
    mc = llmswitch.model_cost
    assert isinstance(mc, Mapping)
    assert len(mc) >= 8
    assert "gpt-4o" in mc and "groq/llama-3.3-70b-versatile" in mc
    assert "nope" not in mc and 3 not in mc
    assert mc["gpt-4o"]["litellm_provider"] == "openai"
    assert mc.get("nope") is None and mc.get("nope", 1) == 1
    keys = list(mc)
    assert keys == sorted(keys) == mc.keys()
    assert dict(mc.items())["gpt-4o"] == mc["gpt-4o"]
    assert len(mc.values()) == len(mc)
    with pytest.raises(KeyError):
        mc["nope"]
    with pytest.raises(TypeError):
        mc["gpt-4o"] = {}  # type: ignore[index]
    # Entries are copies: changing one does not change prices.
    mc["gpt-4o"]["input_cost_per_token"] = 1.0
    assert mc["gpt-4o"]["input_cost_per_token"] == pytest.approx(2.5e-6)


def test_register_model_in_litellm_format(server, openai_kw):
    llmswitch.register_model(
        {
            "my-company-model": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 0.001,
                "output_cost_per_token": 0.002,
                "max_input_tokens": 4096,
                "supports_vision": True,
            },
            "groq/my-groq-finetune": {
                "litellm_provider": "groq",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
            },
        }
    )
    assert llmswitch.model_cost["my-company-model"]["input_cost_per_token"] == 0.001
    assert llmswitch.supports_vision("my-company-model")
    r = llmswitch.completion(model="openai/my-company-model", messages=MESSAGES, **openai_kw)
    assert r._hidden_params["response_cost"] == pytest.approx(9 * 0.001 + 6 * 0.002)
    r = llmswitch.completion(model="groq/my-groq-finetune", messages=MESSAGES, **openai_kw)
    assert r._hidden_params["response_cost"] == pytest.approx(9e-6 + 12e-6)
    # Updating one field keeps the others.
    llmswitch.register_model({"my-company-model": {"output_cost_per_token": 0.003}})
    assert llmswitch.model_cost["my-company-model"]["input_cost_per_token"] == 0.001
    assert llmswitch.model_cost["my-company-model"]["output_cost_per_token"] == 0.003
    with pytest.raises(ValueError, match="bad-entry"):
        llmswitch.register_model({"bad-entry": 5})


def test_register_model_from_file(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "sample_spec": {
                    "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it."
                },
                "together_ai/my-file-model": {
                    "litellm_provider": "together_ai",
                    "input_cost_per_token": 3e-7,
                    "output_cost_per_token": "6e-7",
                    "max_tokens": 8192,
                },
            }
        )
    )
    llmswitch.register_model(str(path))
    assert llmswitch.cost_per_token("together_ai/my-file-model", 10, 10) == (
        pytest.approx(3e-6),
        pytest.approx(6e-6),
    )
    with pytest.raises(OSError):
        llmswitch.register_model(str(tmp_path / "missing.json"))


def run_python(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_cost_map_env_var_merges_at_import(tmp_path):
    path = tmp_path / "cost_map.json"
    path.write_text(
        json.dumps(
            {
                "gpt-4o": {"input_cost_per_token": 0.5, "litellm_provider": "openai", "mode": "chat"},
                "env-only-model": {
                    "litellm_provider": "openai",
                    "input_cost_per_token": 1e-3,
                    "output_cost_per_token": 2e-3,
                },
            }
        )
    )
    code = (
        "import llmswitch as l;"
        "e = l.model_cost['gpt-4o'];"
        "print(e['input_cost_per_token'], e['output_cost_per_token'],"
        " l.cost_per_token('env-only-model', 1, 1))"
    )
    out = run_python(code, {"LLMSWITCH_MODEL_COST_MAP": str(path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0.5", "1e-05", "(0.001,", "0.002)"]
    # A bad path is a warning at import, not a failure.
    out = run_python(
        "import llmswitch as l; print(len(l.model_cost) > 0)",
        {"LLMSWITCH_MODEL_COST_MAP": str(tmp_path / "nope.json")},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    assert "LLMSWITCH_MODEL_COST_MAP was not loaded" in out.stderr


# --- token counting ----------------------------------------------------------------------


def test_token_counter_values():
    # Token ids/counts from OpenAI's tiktoken; chat overhead as in OpenAI's cookbook.
    assert llmswitch.token_counter(model="gpt-4o", messages=MESSAGES) == 8
    assert llmswitch.token_counter(model="gpt-4o", text="tiktoken is great!", count_response_tokens=True) == 6
    assert llmswitch.token_counter(model="gpt-4", text="tiktoken is great!", count_response_tokens=True) == 6
    # Text alone has no chat overhead (LiteLLM 1.106.2: 2); messages have it.
    assert llmswitch.token_counter(model="gpt-4o", text="hello world") == 2
    assert llmswitch.token_counter(model="gpt-4o", text=["hello world", "foo bar"]) == 4
    hello = [{"role": "user", "content": "hello world"}]
    assert llmswitch.token_counter(model="gpt-4o", messages=hello) == 9
    assert llmswitch.token_counter(text=["hello world", "hello world"], count_response_tokens=True) == 4
    named = [{"role": "user", "content": "hi", "name": "bob"}]
    assert llmswitch.token_counter(model="gpt-4o", messages=named) == 10
    # o200k and cl100k differ on non-English text.
    text = "こんにちは世界、これはトークナイザーのテストです。"
    assert llmswitch.token_counter(model="gpt-4o", text=text) != llmswitch.token_counter(
        model="gpt-3.5-turbo", text=text
    )
    # Other families use the documented cl100k approximation.
    assert llmswitch.token_counter(model="claude-sonnet-4-20250514", text=text) == llmswitch.token_counter(
        model="gpt-4", text=text
    )


def test_token_counter_images_and_tools():
    image = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}],
    }
    assert llmswitch.token_counter(model="gpt-4o", messages=[image]) == 3 + 1 + 85 + 3
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    assert llmswitch.token_counter(model="gpt-4o", messages=MESSAGES, tools=tools) > 8 + 9
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.token_counter(model="gpt-4o", messages=[{"role": "robot"}])


def test_module_exports():
    for name in (
        "get_model_info",
        "model_cost",
        "register_model",
        "supports_vision",
        "supports_function_calling",
        "supports_response_schema",
        "supports_reasoning",
        "get_max_tokens",
        "completion_cost",
        "cost_per_token",
        "token_counter",
        "UnknownModelCostWarning",
    ):
        assert name in llmswitch.__all__
    assert TEST_KEY  # the shared fixtures are importable alongside

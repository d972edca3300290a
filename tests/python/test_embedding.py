"""embedding() / aembedding(): wire format, input forms, parameters, errors, mock, cost."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from typing import Any

import pytest
from openai.types import CreateEmbeddingResponse

import llmswitch
from conftest import TEST_KEY

MODEL = "openai/text-embedding-3-small"


def vectors(r: Any) -> list[list[float]]:
    return [d.embedding for d in r.data]


def price(model: str) -> float:
    return llmswitch.get_model_info(model)["input_cost_per_token"]


def test_response_is_openai_list_with_attribute_access(server, openai_kw):
    r = llmswitch.embedding(model=MODEL, input=["hello", "world"], **openai_kw)
    assert isinstance(r, dict)
    assert isinstance(r, llmswitch.EmbeddingResponse)
    CreateEmbeddingResponse.model_validate(r)
    assert r["object"] == r.object == "list"
    assert r.model == "text-embedding-3-small"
    assert [d.index for d in r.data] == [0, 1]
    assert [d.object for d in r.data] == ["embedding", "embedding"]
    assert r.data[0]["embedding"] == r.data[0].embedding
    assert len(r.data[0].embedding) == 8  # the mock server's default vector size
    assert r.usage.total_tokens == r.usage.prompt_tokens > 0
    assert r.usage.completion_tokens == 0  # as LiteLLM reports it
    assert json.loads(json.dumps(r)) == r
    assert "_hidden_params" not in r
    hidden = r._hidden_params
    assert hidden["custom_llm_provider"] == "openai"
    assert hidden["model"] == "text-embedding-3-small"
    assert hidden["api_base"] == server.base_url
    assert hidden["response_cost"] == pytest.approx(r.usage.prompt_tokens * price(MODEL))
    assert hidden["response_ms"] > 0
    assert r.model_dump() == json.loads(json.dumps(r))


def test_request_wire_format(server, openai_kw):
    # A bare OpenAI embedding model name is OpenAI's, as in LiteLLM.
    llmswitch.embedding(model="text-embedding-3-small", input=["a", "b"], **openai_kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v1/embeddings"
    assert req["headers"]["authorization"] == f"Bearer {TEST_KEY}"
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == {"model": "text-embedding-3-small", "input": ["a", "b"]}


@pytest.mark.parametrize(
    ("given", "sent", "count"),
    [
        ("one text", "one text", 1),
        (["a", "b", "c"], ["a", "b", "c"], 3),
        (("a", "b"), ["a", "b"], 2),
        ([15339, 1917], [15339, 1917], 1),
        ([[15339], [1917, 0]], [[15339], [1917, 0]], 2),
    ],
)
def test_every_input_form(server, openai_kw, given, sent, count):
    r = llmswitch.embedding(model=MODEL, input=given, **openai_kw)
    assert server.requests[0]["body"]["input"] == sent
    assert len(r.data) == count
    CreateEmbeddingResponse.model_validate(r)


def test_parameters_pass_through(server, openai_kw):
    r = llmswitch.embedding(
        model="openai/text-embedding-3-large",
        input="hi",
        dimensions=16,
        encoding_format="float",
        user="user-1",
        input_type="query",  # a provider-specific field: passed through
        extra_headers={"x-trace": "t1"},
        **openai_kw,
    )
    (req,) = server.requests
    assert req["body"] == {
        "model": "text-embedding-3-large",
        "input": "hi",
        "dimensions": 16,
        "encoding_format": "float",
        "user": "user-1",
        "input_type": "query",
    }
    assert req["headers"]["x-trace"] == "t1"
    assert len(r.data[0].embedding) == 16


def test_base64_vectors_come_back_as_openai_sends_them(server, openai_kw):
    floats = llmswitch.embedding(model=MODEL, input="same text", dimensions=6, **openai_kw)
    packed = llmswitch.embedding(
        model=MODEL, input="same text", dimensions=6, encoding_format="base64", **openai_kw
    )
    assert server.requests[1]["body"]["encoding_format"] == "base64"
    text = packed.data[0].embedding
    assert isinstance(text, str)
    decoded = struct.unpack("<6f", base64.b64decode(text))
    assert decoded == pytest.approx(floats.data[0].embedding, abs=1e-7)
    assert math.fsum(x * x for x in decoded) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ([], "empty list"),
        ("", "empty string"),
        (["a", ""], "input[1] is an empty string"),
        (["a", 1], "input[1]"),
        ([1, -2], "input[1] is not a token id"),
        ([[1], []], "input[1] is an empty list"),
        ({"text": "x"}, "a list of token-id lists"),
        (None, "input"),
    ],
)
def test_bad_input_fails_before_any_request(server, openai_kw, bad, says):
    with pytest.raises(llmswitch.BadRequestError, match=r"(?s).*" + says.replace("[", r"\[")):
        llmswitch.embedding(model=MODEL, input=bad, **openai_kw)
    assert server.hits == 0


def test_missing_key_fails_before_any_request(server):
    with pytest.raises(llmswitch.AuthenticationError, match="OPENAI_API_KEY"):
        llmswitch.embedding(model=MODEL, input="hi", api_base=server.base_url)
    assert server.hits == 0


@pytest.mark.parametrize(
    "model", ["groq/llama-3.3-70b-versatile", "anthropic/claude-sonnet-4-5", "xai/grok-4"]
)
def test_provider_without_embeddings_fails_fast(server, model):
    provider = model.split("/")[0]
    # Before the key lookup too: the missing key is not the problem.
    with pytest.raises(llmswitch.BadRequestError, match=f"'{provider}' has no embeddings API") as e:
        llmswitch.embedding(model=model, input="hi", api_base=server.base_url)
    assert "openai" in str(e.value)  # names the providers that have embeddings
    assert e.value.llm_provider == provider
    assert server.hits == 0


def test_unsupported_dimensions_fail_fast_or_drop(server, openai_kw, monkeypatch):
    # Only text-embedding-3 and later models can shorten their vectors.
    with pytest.raises(llmswitch.UnsupportedParamsError, match="dimensions"):
        llmswitch.embedding(model="openai/text-embedding-ada-002", input="hi", dimensions=64, **openai_kw)
    with pytest.raises(llmswitch.UnsupportedParamsError, match="dimensions"):
        llmswitch.embedding(model="mistral/mistral-embed", input="hi", dimensions=64, **openai_kw)
    assert server.hits == 0
    llmswitch.embedding(
        model="openai/text-embedding-ada-002", input="hi", dimensions=64, drop_params=True, **openai_kw
    )
    assert server.requests[0]["body"] == {"model": "text-embedding-ada-002", "input": "hi"}
    monkeypatch.setattr(llmswitch, "drop_params", True)
    llmswitch.embedding(model="openai/text-embedding-ada-002", input="hi", dimensions=64, **openai_kw)
    assert "dimensions" not in server.requests[1]["body"]


def test_chat_parameters_are_not_embedding_parameters(server, openai_kw):
    with pytest.raises(llmswitch.UnsupportedParamsError, match="temperature"):
        llmswitch.embedding(model=MODEL, input="hi", temperature=0.2, **openai_kw)
    with pytest.raises(llmswitch.BadRequestError, match="encoding_format"):
        llmswitch.embedding(model=MODEL, input="hi", encoding_format="int8", **openai_kw)
    with pytest.raises(llmswitch.BadRequestError, match="dimensions"):
        llmswitch.embedding(model=MODEL, input="hi", dimensions=0, **openai_kw)
    with pytest.raises(llmswitch.BadRequestError, match="do not stream"):
        llmswitch.embedding(model=MODEL, input="hi", stream=True, **openai_kw)
    assert server.hits == 0
    llmswitch.embedding(model=MODEL, input="hi", temperature=0.2, drop_params=True, **openai_kw)
    assert server.requests[0]["body"] == {"model": "text-embedding-3-small", "input": "hi"}


@pytest.mark.parametrize(
    ("model", "sent_model"),
    [
        ("together_ai/BAAI/bge-large-en-v1.5", "BAAI/bge-large-en-v1.5"),
        ("mistral/mistral-embed", "mistral-embed"),
        ("fireworks_ai/nomic-ai/nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1.5"),
        ("nvidia_nim/nvidia/nv-embedqa-e5-v5", "nvidia/nv-embedqa-e5-v5"),
        ("deepinfra/BAAI/bge-m3", "BAAI/bge-m3"),
        ("hosted_vllm/my-embedder", "my-embedder"),
    ],
)
def test_openai_compatible_hosts(server, openai_kw, model, sent_model):
    r = llmswitch.embedding(model=model, input=["x"], **openai_kw)
    (req,) = server.requests
    assert req["path"] == "/v1/embeddings"
    assert req["body"] == {"model": sent_model, "input": ["x"]}
    assert r._hidden_params["custom_llm_provider"] == model.split("/")[0]
    CreateEmbeddingResponse.model_validate(r)


OPENAI_ERROR = {"error": {"message": "boom", "type": "invalid_request_error", "param": None, "code": None}}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, llmswitch.BadRequestError),
        (401, llmswitch.AuthenticationError),
        (403, llmswitch.PermissionDeniedError),
        (404, llmswitch.NotFoundError),
        (422, llmswitch.UnprocessableEntityError),
        (429, llmswitch.RateLimitError),
        (500, llmswitch.InternalServerError),
        (503, llmswitch.ServiceUnavailableError),
    ],
)
def test_provider_errors_are_mapped(server, openai_kw, status, cls):
    server.enqueue(status=status, json=OPENAI_ERROR)
    with pytest.raises(cls) as e:
        llmswitch.embedding(model=MODEL, input="hi", **openai_kw)
    assert e.value.status_code == status
    assert e.value.llm_provider == "openai"
    assert e.value.model == "text-embedding-3-small"
    assert "boom" in e.value.message
    assert e.value.body == OPENAI_ERROR


def test_context_window_error_and_key_redaction(server, openai_kw):
    server.enqueue(
        status=400,
        json={
            "error": {
                "message": f"This model's maximum context length is 8192 tokens, however you requested 9000 tokens (key {TEST_KEY})",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
        },
    )
    with pytest.raises(llmswitch.ContextWindowExceededError) as e:
        llmswitch.embedding(model=MODEL, input="long", **openai_kw)
    assert TEST_KEY not in str(e.value)
    assert TEST_KEY not in json.dumps(e.value.body)


def test_retryable_errors_retry_with_num_retries(server, openai_kw):
    server.enqueue(status=429, json=OPENAI_ERROR, headers={"retry-after": "0"})
    server.enqueue(status=503, json=OPENAI_ERROR, headers={"retry-after": "0"})
    r = llmswitch.embedding(model=MODEL, input="hi", num_retries=2, **openai_kw)
    assert r._hidden_params["retries"] == 2
    assert server.hits == 3
    server.reset()
    server.enqueue(status=400, json=OPENAI_ERROR)
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.embedding(model=MODEL, input="hi", num_retries=2, **openai_kw)
    assert server.hits == 1  # not retryable


def test_timeout(server, openai_kw):
    server.enqueue(json={"object": "list", "data": []}, delay=2.0)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.embedding(model=MODEL, input="hi", timeout=0.2, **openai_kw)


def test_response_without_usage_gets_counted_tokens(server, openai_kw):
    server.enqueue(json={"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}]})
    r = llmswitch.embedding(model=MODEL, input="hello world", **openai_kw)
    counted = llmswitch.token_counter(
        model="text-embedding-3-small", text="hello world", count_response_tokens=True
    )
    assert r.usage.prompt_tokens == r.usage.total_tokens == counted
    assert r.model == "text-embedding-3-small"
    assert r._hidden_params["response_cost"] == pytest.approx(counted * price(MODEL))
    CreateEmbeddingResponse.model_validate(r)


def test_cost_against_the_catalogue(server, openai_kw):
    server.enqueue(
        json={
            "object": "list",
            "model": "text-embedding-3-large",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 1000, "total_tokens": 1000},
        }
    )
    r = llmswitch.embedding(model="openai/text-embedding-3-large", input="x", **openai_kw)
    info = llmswitch.get_model_info("text-embedding-3-large")
    assert info["mode"] == "embedding"
    assert info["input_cost_per_token"] == pytest.approx(0.13e-6)
    assert r._hidden_params["response_cost"] == pytest.approx(1000 * 0.13e-6)
    assert llmswitch.completion_cost(completion_response=r) == pytest.approx(1000 * 0.13e-6)
    # The plain dict (e.g. from a cache) costs the same by its model name.
    assert llmswitch.completion_cost(completion_response=dict(r)) == pytest.approx(1000 * 0.13e-6)
    # Custom prices win.
    r = llmswitch.embedding(model=MODEL, input="x", input_cost_per_token=1.0, **openai_kw)
    assert r._hidden_params["response_cost"] == pytest.approx(float(r.usage.prompt_tokens))


def test_unknown_model_costs_none(server, openai_kw):
    r = llmswitch.embedding(model="openai/my-private-embedder", input="x", **openai_kw)
    assert r._hidden_params["response_cost"] is None
    with pytest.raises(llmswitch.NotFoundError):
        llmswitch.completion_cost(completion_response=r)


def test_mock_provider_is_deterministic_and_offline():
    a = llmswitch.embedding(model="mock/anything", input=["alpha", "beta", "alpha"])
    CreateEmbeddingResponse.model_validate(a)
    va = vectors(a)
    assert len(va[0]) == 8
    assert va[0] == va[2]
    assert va[0] != va[1]
    assert math.fsum(x * x for x in va[1]) == pytest.approx(1.0, abs=1e-6)
    assert vectors(llmswitch.embedding(model="mock/other", input="alpha")) == [va[0]]
    b = llmswitch.embedding(model="mock/anything", input="alpha", dimensions=32)
    assert len(b.data[0].embedding) == 32
    assert a._hidden_params["response_cost"] == 0.0
    assert a._hidden_params["custom_llm_provider"] == "mock"


def test_mock_response_on_a_real_model():
    r = llmswitch.embedding(model=MODEL, input="hi", mock_response="anything")
    assert len(r.data[0].embedding) == 1536  # the model's vector size, from the catalogue
    assert r._hidden_params["response_cost"] == pytest.approx(r.usage.prompt_tokens * price(MODEL))
    # LiteLLM's form: the vector itself.
    r = llmswitch.embedding(model=MODEL, input=["a", "b"], mock_response=[0.25, 0.5])
    assert vectors(r) == [[0.25, 0.5], [0.25, 0.5]]
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.embedding(model=MODEL, input="hi", mock_response="litellm.RateLimitError")
    with pytest.raises(llmswitch.ContentPolicyViolationError):
        llmswitch.embedding(
            model=MODEL,
            input="hi",
            mock_response=llmswitch.ContentPolicyViolationError("nope", llm_provider="openai", model=MODEL),
        )


def test_aembedding_many_concurrent_calls(server, openai_kw):
    texts = [f"text number {i}" for i in range(64)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(llmswitch.aembedding(model=MODEL, input=t, **openai_kw) for t in texts))

    results = asyncio.run(main())
    assert server.hits == 64
    assert sorted(r["body"]["input"] for r in server.requests) == sorted(texts)
    for r in results:
        assert isinstance(r, llmswitch.EmbeddingResponse)
        CreateEmbeddingResponse.model_validate(r)
        assert r._hidden_params["response_cost"] > 0
    # Each answer is the vector of its own input (the mock server's are deterministic).
    expected = llmswitch.embedding(model="mock/x", input=texts[7])
    assert results[7].data[0].embedding == pytest.approx(expected.data[0].embedding, abs=1e-7)


def test_aembedding_raises_on_await(server, openai_kw):
    async def main() -> None:
        pending = llmswitch.aembedding(model="groq/llama-3.3-70b-versatile", input="hi")
        with pytest.raises(llmswitch.BadRequestError, match="no embeddings"):
            await pending
        server.enqueue(status=429, json=OPENAI_ERROR)
        with pytest.raises(llmswitch.RateLimitError):
            await llmswitch.aembedding(model=MODEL, input="hi", **openai_kw)

    asyncio.run(main())


def embedder(group: str, dep_id: str, server: Any, **params: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": MODEL, "api_key": TEST_KEY, "api_base": server.base_url, **params},
        "model_info": {"id": dep_id},
    }


@pytest.fixture()
def two_servers() -> Any:
    from llmswitch.testing import MockServer

    servers = [MockServer(), MockServer()]
    yield servers
    for s in servers:
        s.stop()


def test_router_embedding_retries_on_the_other_deployment(two_servers):
    first, second = two_servers
    first.enqueue(status=429, json=OPENAI_ERROR, headers={"retry-after": "0"})
    router = llmswitch.Router(
        model_list=[
            embedder("emb", "first", first, order=1),
            embedder("emb", "second", second, order=2, dimensions=12),
        ],
        num_retries=1,
    )
    r = router.embedding(model="emb", input=["a", "b"])
    assert isinstance(r, llmswitch.EmbeddingResponse)
    CreateEmbeddingResponse.model_validate(r)
    hidden = r._hidden_params
    assert hidden["model_id"] == "second"
    assert hidden["model_group"] == "emb"
    assert hidden["api_base"] == second.base_url
    assert hidden["attempts"] == ["first emb/first: RateLimitError", "retry emb/second: ok"]
    assert hidden["response_cost"] == pytest.approx(r.usage.prompt_tokens * price(MODEL))
    # Same wire format as a direct call, with the deployment's own parameters.
    assert first.requests[0]["body"] == {"model": "text-embedding-3-small", "input": ["a", "b"]}
    assert second.requests[0]["body"] == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "dimensions": 12,
    }
    assert len(r.data[0].embedding) == 12
    stats = router.stats()
    assert stats["first"]["failures"] == 1
    assert stats["second"]["successes"] == 1
    assert stats["second"]["spend"] == pytest.approx(hidden["response_cost"])


def test_router_embedding_falls_back_and_cools_down(two_servers):
    primary, backup = two_servers
    for _ in range(2):
        primary.enqueue(status=500, json=OPENAI_ERROR)
    router = llmswitch.Router(
        model_list=[embedder("emb", "p", primary), embedder("emb-backup", "b", backup)],
        num_retries=1,
        retry_after=0,
        allowed_fails=0,
        cooldown_time=60,
        fallbacks=[{"emb": ["emb-backup"]}],
    )
    r = router.embedding(model="emb", input="x")
    assert r._hidden_params["model_id"] == "b"
    assert r._hidden_params["attempts"][-1] == "fallback emb-backup/b: ok"
    assert r._hidden_params["attempts"][0] == "first emb/p: InternalServerError"
    assert router.stats()["p"]["cooling_down"]
    # While it cools down, the group's calls go straight to the fallback.
    hits = primary.hits
    r = router.embedding(model="emb", input="y")
    assert r._hidden_params["model_id"] == "b"
    assert primary.hits == hits


def test_router_embedding_errors_and_async(server):
    router = llmswitch.Router(model_list=[embedder("emb", "d", server)], num_retries=0)
    with pytest.raises(llmswitch.BadRequestError, match="empty list"):
        router.embedding(model="emb", input=[])
    with pytest.raises(llmswitch.BadRequestError, match="nope"):
        router.embedding(model="nope", input="x")
    assert server.hits == 0
    server.enqueue(status=401, json=OPENAI_ERROR)
    with pytest.raises(llmswitch.AuthenticationError) as e:
        router.embedding(model="emb", input="x")
    assert e.value.attempts == ["first emb/d: AuthenticationError"]

    async def main() -> list[Any]:
        pending = router.aembedding(model="emb", input=[])
        with pytest.raises(llmswitch.BadRequestError):
            await pending
        return await asyncio.gather(*(router.aembedding(model="emb", input=f"t{i}") for i in range(20)))

    results = asyncio.run(main())
    assert [r._hidden_params["model_id"] for r in results] == ["d"] * 20
    assert router.stats()["d"]["in_flight"] == 0


def test_router_embedding_mock_deployments():
    router = llmswitch.Router(
        model_list=[
            {"model_name": "emb", "litellm_params": {"model": "mock/embedder", "dimensions": 5}},
        ]
    )
    r = router.embedding(model="emb", input=["a", "b"], mock_response=[1.0, 0.0])
    assert vectors(r) == [[1.0, 0.0], [1.0, 0.0]]
    r = router.embedding(model="emb", input="a")
    assert len(r.data[0].embedding) == 5
    with pytest.raises(llmswitch.RateLimitError):
        router.embedding(model="emb", input="a", mock_response="litellm.RateLimitError", num_retries=0)


def test_aembedding_returns_a_coroutine():
    # As LiteLLM's `async def`: created outside a loop, run by asyncio.run / create_task.
    coro = llmswitch.aembedding(model="mock/x", input="a")
    assert asyncio.iscoroutine(coro)
    r = asyncio.run(coro)
    assert isinstance(r, llmswitch.EmbeddingResponse)
    router = llmswitch.Router(model_list=[{"model_name": "e", "litellm_params": {"model": "mock/x"}}])

    async def main() -> Any:
        return await asyncio.create_task(router.aembedding(model="e", input="a"))

    assert asyncio.run(main()).data == r.data


def test_embeddings_are_recorded_in_the_spend_ledger_and_budgeted(server, openai_kw):
    import uuid

    from llmswitch import budgets

    user = "emb-" + uuid.uuid4().hex[:12]
    llmswitch.spend.enable()
    server.enqueue(
        json={
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
            "usage": {"prompt_tokens": 1000, "total_tokens": 1000},
        }
    )
    try:
        name = budgets.add(limit=1000 * 0.02e-6, scope="user", id=user, period="daily")
        r = llmswitch.embedding(model=MODEL, input="x", metadata={"user": user}, **openai_kw)
        [rec] = [x for x in llmswitch.spend.records() if x["user"] == user]
        assert rec["status"] == "success" and rec["model"] == "text-embedding-3-small"
        assert (rec["prompt_tokens"], rec["completion_tokens"]) == (1000, 0)
        assert (
            rec["cost"] == pytest.approx(r._hidden_params["response_cost"]) == pytest.approx(1000 * 0.02e-6)
        )
        [status] = [s for s in budgets.status() if s["budget"] == name]
        assert status["spent"] == pytest.approx(1000 * 0.02e-6)
        # The budget is spent: the next embedding is refused before any request.
        with pytest.raises(llmswitch.BudgetExceededError):
            llmswitch.embedding(model=MODEL, input="y", metadata={"user": user}, **openai_kw)
        assert server.hits == 1
        statuses = [x["status"] for x in llmswitch.spend.records() if x["user"] == user]
        assert sorted(statuses) == ["blocked", "success"]
    finally:
        budgets.clear()


# --- Gemini (native batchEmbedContents) ---------------------------------------------------

GEMINI_KEY = "AIza-test-0123456789abcdef"


def test_gemini_embeddings_wire_format_and_response(server):
    r = llmswitch.embedding(
        model="gemini/gemini-embedding-001",
        input=["first", "second"],
        dimensions=12,
        task_type="RETRIEVAL_DOCUMENT",
        api_key=GEMINI_KEY,
        api_base=server.url,
    )
    (req,) = server.requests
    assert req["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert req["headers"]["x-goog-api-key"] == GEMINI_KEY
    assert GEMINI_KEY not in (req["query"] or "")
    one = {
        "model": "models/gemini-embedding-001",
        "outputDimensionality": 12,
        "taskType": "RETRIEVAL_DOCUMENT",
    }
    assert req["body"] == {
        "requests": [
            {**one, "content": {"parts": [{"text": "first"}]}},
            {**one, "content": {"parts": [{"text": "second"}]}},
        ]
    }
    CreateEmbeddingResponse.model_validate(r)
    assert [d.index for d in r.data] == [0, 1]
    assert len(r.data[0].embedding) == 12
    assert r.model == "gemini-embedding-001"
    # Gemini reports no tokens for embeddings: counted, and costed at the catalogue's price.
    counted = sum(
        llmswitch.token_counter(model="gemini-embedding-001", text=t, count_response_tokens=True)
        for t in ["first", "second"]
    )
    assert r.usage.prompt_tokens == counted
    assert r._hidden_params["response_cost"] == pytest.approx(counted * price("gemini/gemini-embedding-001"))
    assert r._hidden_params["custom_llm_provider"] == "gemini"


def test_gemini_embeddings_base64_tokens_and_errors(server):
    kw = {"api_key": GEMINI_KEY, "api_base": server.url}
    floats = llmswitch.embedding(model="gemini/gemini-embedding-001", input="same", dimensions=4, **kw)
    packed = llmswitch.embedding(
        model="gemini/gemini-embedding-001", input="same", dimensions=4, encoding_format="base64", **kw
    )
    # Gemini answers floats; the base64 OpenAI would send is made from them.
    assert "encodingFormat" not in json.dumps(server.requests[1]["body"])
    decoded = struct.unpack("<4f", base64.b64decode(packed.data[0].embedding))
    assert decoded == pytest.approx(floats.data[0].embedding, abs=1e-7)
    with pytest.raises(llmswitch.BadRequestError, match="text only"):
        llmswitch.embedding(model="gemini/gemini-embedding-001", input=[1, 2, 3], **kw)
    with pytest.raises(llmswitch.UnsupportedParamsError, match="user"):
        llmswitch.embedding(model="gemini/gemini-embedding-001", input="x", user="u", **kw)
    assert server.hits == 2
    server.enqueue(
        status=429,
        json={
            "error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}
        },
    )
    with pytest.raises(llmswitch.RateLimitError) as e:
        llmswitch.embedding(model="gemini/gemini-embedding-001", input="x", **kw)
    assert e.value.llm_provider == "gemini"
    with pytest.raises(llmswitch.AuthenticationError, match="GEMINI_API_KEY"):
        llmswitch.embedding(model="gemini/gemini-embedding-001", input="x", api_base=server.url)
    assert server.hits == 3

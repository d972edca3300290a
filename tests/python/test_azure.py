"""Azure OpenAI (``azure/<deployment>``) and Azure AI Foundry (``azure_ai/<model>``) against
the loopback mock, which answers Azure's deployment routes as Azure does (content-filter
annotations, the filter-first stream event, 401 without a key, 404 without
``api-version``) and plays Entra ID's token endpoint.

The official ``openai`` SDK's ``AzureOpenAI`` client is pointed at the same mock: it must
parse the mock's bodies and send the same requests llmswitch sends.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, TEST_KEY

AZURE_ENV = (
    "AZURE_API_BASE",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_API_VERSION",
    "AZURE_AD_TOKEN",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "AZURE_SCOPE",
    "AZURE_AI_API_BASE",
    "AZURE_AI_API_KEY",
)
DEFAULT_API_VERSION = "2025-02-01-preview"
ENTRA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.mock-entra"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(autouse=True)
def _no_azure_env(monkeypatch):
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url, "api_key": TEST_KEY}


def query(req: dict[str, Any]) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(req["query"] or ""))


def sse(obj: Any) -> str:
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj))


def azure_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": "chatcmpl-az",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-11-20",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "content_filter_results": {}}],
    }
    body.update(extra)
    return sse(body)


FILTER_FIRST = sse(
    {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
)


# --- requests ---------------------------------------------------------------------------


def test_deployment_route_key_header_and_default_version(server, kw):
    r = llmswitch.completion(
        model="azure/my-gpt4o", messages=MESSAGES, **{**kw, "api_base": server.url + "/"}
    )
    (req,) = server.requests
    assert req["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert query(req) == {"api-version": DEFAULT_API_VERSION}
    assert req["headers"]["api-key"] == TEST_KEY
    assert "authorization" not in req["headers"]
    assert req["body"] == {"model": "my-gpt4o", "messages": MESSAGES}
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.model == "gpt-4o-2024-11-20"
    assert r._hidden_params["custom_llm_provider"] == "azure"
    # Azure's annotations pass through.
    assert r.prompt_filter_results[0]["prompt_index"] == 0
    assert r.choices[0].content_filter_results["hate"]["filtered"] is False


def test_environment_and_explicit_version(server, monkeypatch):
    monkeypatch.setenv("AZURE_API_BASE", server.url)
    monkeypatch.setenv("AZURE_API_KEY", "env-key")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    llmswitch.completion(model="azure/dep", messages=MESSAGES)
    llmswitch.completion(model="azure/dep", messages=MESSAGES, api_version="2024-06-01")
    first, second = server.requests
    assert first["headers"]["api-key"] == "env-key"
    assert query(first) == {"api-version": "2024-10-21"}
    assert query(second) == {"api-version": "2024-06-01"}


def test_v1_api_version_uses_the_v1_route(server, kw):
    llmswitch.completion(model="azure/dep", messages=MESSAGES, api_version="v1", **kw)
    (req,) = server.requests
    assert req["path"] == "/openai/v1/chat/completions"
    assert req["query"] is None
    assert req["body"]["model"] == "dep"


def test_missing_endpoint_and_credentials_fail_before_any_request(server, kw):
    with pytest.raises(llmswitch.BadRequestError, match="AZURE_API_BASE"):
        llmswitch.completion(model="azure/dep", messages=MESSAGES, api_key=TEST_KEY)
    with pytest.raises(llmswitch.AuthenticationError) as e:
        llmswitch.completion(model="azure/dep", messages=MESSAGES, api_base=server.url)
    for name in ("AZURE_API_KEY", "AZURE_AD_TOKEN", "azure_ad_token_provider", "AZURE_CLIENT_SECRET"):
        assert name in str(e.value)
    assert e.value.llm_provider == "azure"
    with pytest.raises(llmswitch.BadRequestError, match="deployment name"):
        llmswitch.completion(model="azure/bad name", messages=MESSAGES, **kw)
    assert server.requests == []


def test_azure_ad_token_is_a_bearer_token_and_is_redacted(server, monkeypatch):
    llmswitch.completion(
        model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token="ad-token-0123456789"
    )
    monkeypatch.setenv("AZURE_AD_TOKEN", "env-ad-token-0123456789")
    server.enqueue(status=400, json={"error": {"message": "bad token env-ad-token-0123456789", "code": "x"}})
    with pytest.raises(llmswitch.BadRequestError) as e:
        llmswitch.completion(model="azure/dep", messages=MESSAGES, api_base=server.url)
    first, second = server.requests
    assert first["headers"]["authorization"] == "Bearer ad-token-0123456789"
    assert "api-key" not in first["headers"]
    assert "azure_ad_token" not in first["body"]
    assert second["headers"]["authorization"] == "Bearer env-ad-token-0123456789"
    assert "env-ad-token-0123456789" not in str(e.value)


def test_token_provider_is_called_per_request(server):
    calls = []

    def provider() -> str:
        calls.append(1)
        return f"provider-token-{len(calls)}"

    for _ in range(2):
        llmswitch.completion(
            model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token_provider=provider
        )
    asyncio.run(
        llmswitch.acompletion(
            model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token_provider=provider
        )
    )
    assert len(calls) == 3
    assert [r["headers"]["authorization"] for r in server.requests] == [
        "Bearer provider-token-1",
        "Bearer provider-token-2",
        "Bearer provider-token-3",
    ]

    def broken() -> str:
        raise RuntimeError("no credential available")

    with pytest.raises(llmswitch.AuthenticationError, match="no credential available"):
        llmswitch.completion(
            model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token_provider=broken
        )
    with pytest.raises(llmswitch.AuthenticationError, match="must return a str"):
        llmswitch.completion(
            model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token_provider=lambda: 42
        )
    with pytest.raises(llmswitch.BadRequestError, match="callable"):
        llmswitch.completion(
            model="azure/dep", messages=MESSAGES, api_base=server.url, azure_ad_token_provider="not callable"
        )
    assert len(server.requests) == 3


def test_service_principal_token_is_fetched_once_and_cached(server, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", server.url)
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-a")
    monkeypatch.setenv("AZURE_CLIENT_ID", "client-cached")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "secret-a")
    for _ in range(3):
        llmswitch.completion(model="azure/dep", messages=MESSAGES, api_base=server.url)
    token_req, *calls = server.requests
    assert token_req["path"] == "/tenant-a/oauth2/v2.0/token"
    form = dict(urllib.parse.parse_qsl(token_req["body"]))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-cached",
        "client_secret": "secret-a",
        "scope": "https://cognitiveservices.azure.com/.default",
    }
    assert len(calls) == 3
    assert {c["headers"]["authorization"] for c in calls} == {f"Bearer {ENTRA_TOKEN}.client-cached"}

    # Per-call service principal (LiteLLM's tenant_id / client_id / client_secret), and a
    # refused secret: an AuthenticationError with Entra's reason and without the secret.
    server.reset()
    with pytest.raises(llmswitch.AuthenticationError) as e:
        llmswitch.completion(
            model="azure/dep",
            messages=MESSAGES,
            api_base=server.url,
            tenant_id="tenant-b",
            client_id="client-b",
            client_secret="wrong-secret",
        )
    assert "AADSTS7000215" in str(e.value)
    assert "wrong-secret" not in str(e.value)
    (only,) = server.requests
    assert only["path"] == "/tenant-b/oauth2/v2.0/token"


def test_base_model_prices_the_call_and_applies_reasoning_rules(server, kw):
    r = llmswitch.completion(
        model="azure/prod-reasoner", messages=MESSAGES, base_model="azure/o3-mini", max_tokens=50, **kw
    )
    body = server.requests[0]["body"]
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body
    assert "base_model" not in body
    assert server.requests[0]["path"] == "/openai/deployments/prod-reasoner/chat/completions"
    o3 = llmswitch.model_cost["o3-mini"]
    assert r._hidden_params["response_cost"] == pytest.approx(
        9 * o3["input_cost_per_token"] + 6 * o3["output_cost_per_token"]
    )
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(
            model="azure/prod-reasoner", messages=MESSAGES, base_model="o3-mini", temperature=0.2, **kw
        )
    # model_info={"base_model": ...}, as the Router and LiteLLM configs pass it.
    llmswitch.completion(
        model="azure/prod-5", messages=MESSAGES, model_info={"base_model": "gpt-5-mini"}, max_tokens=7, **kw
    )
    assert server.requests[-1]["body"]["max_completion_tokens"] == 7
    # LiteLLM's o_series/ route marks a deployment whose name does not tell.
    llmswitch.completion(model="azure/o_series/reasoner", messages=MESSAGES, max_tokens=5, **kw)
    req = server.requests[-1]
    assert req["path"] == "/openai/deployments/reasoner/chat/completions"
    assert req["body"]["max_completion_tokens"] == 5
    assert "temperature" not in llmswitch.get_supported_openai_params("azure/o_series/reasoner")


def test_router_deployment_with_base_model(server):
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "reasoner",
                "litellm_params": {"model": "azure/prod-o3", "api_base": server.url, "api_key": TEST_KEY},
                "model_info": {"id": "az-1", "base_model": "azure/o3-mini"},
            }
        ]
    )
    r = router.completion(model="reasoner", messages=MESSAGES, max_tokens=9)
    assert server.requests[0]["body"]["max_completion_tokens"] == 9
    assert r._hidden_params["response_cost"] > 0


# --- streams ----------------------------------------------------------------------------


def test_filter_first_stream_yields_no_empty_chunk_and_one_id_and_model(server, kw):
    chunks = list(
        llmswitch.completion(
            model="azure/dep", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **kw
        )
    )
    assert server.requests[0]["body"]["stream"] is True
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert {(c.id, c.model) for c in chunks} == {("chatcmpl-azure-mock", "gpt-4o-2024-11-20")}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text.startswith("Hello")
    assert chunks[-1].usage.prompt_tokens == 9
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    assert rebuilt.id == "chatcmpl-azure-mock"


def test_stream_with_tool_calls(server, kw):
    server.enqueue(
        sse=[
            FILTER_FIRST,
            azure_chunk(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                }
            ),
            azure_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            azure_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            azure_chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        }
                    ]
                }
            ),
            azure_chunk({}, "tool_calls"),
            "data: [DONE]",
        ]
    )
    chunks = list(
        llmswitch.completion(model="azure/dep", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True, **kw)
    )
    assert all(c.id == "chatcmpl-az" for c in chunks)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    calls = rebuilt.choices[0].message.tool_calls
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_weather", {"city": "Rome"}),
    ]
    assert rebuilt.choices[0].finish_reason == "tool_calls"


def test_async_stream(server, kw):
    async def run() -> list[Any]:
        stream = await llmswitch.acompletion(model="azure/dep", messages=MESSAGES, stream=True, **kw)
        return [c async for c in stream]

    chunks = asyncio.run(run())
    assert len({c.id for c in chunks}) == 1 and chunks[0].id


# --- content filter and errors ----------------------------------------------------------

FILTERED_PROMPT = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": True, "detected": True},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        },
    }
}


def test_content_filter_refusal_carries_the_filter_results(server, kw):
    server.enqueue(status=400, json=FILTERED_PROMPT)
    with pytest.raises(llmswitch.ContentPolicyViolationError) as e:
        llmswitch.completion(model="azure/dep", messages=MESSAGES, **kw)
    err = e.value
    assert isinstance(err, llmswitch.BadRequestError) and isinstance(err, openai.BadRequestError)
    assert err.status_code == 400 and err.llm_provider == "azure" and err.code == "content_filter"
    fields = err.provider_specific_fields
    assert fields["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert fields["inner_error"]["content_filter_result"]["jailbreak"]["filtered"] is True
    assert fields["azure_error"]["param"] == "prompt"


def test_completion_cut_by_the_filter_passes(server, kw):
    server.enqueue(
        json={
            "id": "chatcmpl-cut",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "content_filter",
                    "message": {"role": "assistant", "content": None},
                    "content_filter_results": {"violence": {"filtered": True, "severity": "medium"}},
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
        }
    )
    r = llmswitch.completion(model="azure/dep", messages=MESSAGES, **kw)
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].content_filter_results["violence"]["filtered"] is True


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (
            401,
            {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}},
            "AuthenticationError",
        ),
        (
            404,
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            },
            "NotFoundError",
        ),
        (
            429,
            {
                "error": {
                    "code": "429",
                    "message": "Requests to the ChatCompletions_Create Operation have exceeded token rate limit.",
                }
            },
            "RateLimitError",
        ),
        (
            400,
            {
                "error": {
                    "code": "context_length_exceeded",
                    "message": "This model's maximum context length is 128000 tokens.",
                }
            },
            "ContextWindowExceededError",
        ),
        (
            400,
            {"error": {"code": "BadRequest", "message": "Invalid value for 'temperature'."}},
            "BadRequestError",
        ),
        (
            500,
            {"error": {"code": "InternalServerError", "message": "The server had an error."}},
            "InternalServerError",
        ),
        (
            503,
            {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unable."}},
            "ServiceUnavailableError",
        ),
    ],
)
def test_error_classes(server, kw, status, body, cls):
    server.enqueue(status=status, json=body, headers={"retry-after": "3"} if status == 429 else None)
    with pytest.raises(getattr(llmswitch, cls)) as e:
        llmswitch.completion(model="azure/dep", messages=MESSAGES, **kw)
    assert type(e.value).__name__ == cls
    assert e.value.status_code == status
    assert e.value.llm_provider == "azure" and e.value.model == "dep"
    if status == 429:
        assert e.value.retry_after == 3


def test_mock_refuses_what_azure_refuses(server):
    # Without api-version Azure answers 404; without credentials, 401.
    with pytest.raises(llmswitch.NotFoundError, match="Resource not found"):
        llmswitch.completion(
            model="azure/dep",
            messages=MESSAGES,
            api_base=server.url + "/openai/deployments/dep",
            api_key="k",
            api_version="v1",
        )


# --- embeddings -------------------------------------------------------------------------


def test_embeddings(server, kw):
    r = llmswitch.embedding(model="azure/my-embedder", input=["a", "b"], dimensions=8, **kw)
    (req,) = server.requests
    assert req["path"] == "/openai/deployments/my-embedder/embeddings"
    assert query(req) == {"api-version": DEFAULT_API_VERSION}
    assert req["headers"]["api-key"] == TEST_KEY
    assert req["body"] == {"model": "my-embedder", "input": ["a", "b"], "dimensions": 8}
    assert [d["index"] for d in r.data] == [0, 1]
    assert len(r.data[0]["embedding"]) == 8


# --- Azure AI Foundry -------------------------------------------------------------------


def test_foundry_chat_and_embeddings(server, monkeypatch):
    monkeypatch.setenv("AZURE_AI_API_BASE", server.url + "/models")
    monkeypatch.setenv("AZURE_AI_API_KEY", "foundry-key")
    r = llmswitch.completion(
        model="azure_ai/Llama-3.3-70B-Instruct", messages=MESSAGES, api_version="2024-05-01-preview"
    )
    llmswitch.embedding(model="azure_ai/embed-v-4-0", input="hello")
    chat, emb = server.requests
    assert chat["path"] == "/models/chat/completions"
    assert query(chat) == {"api-version": "2024-05-01-preview"}
    # Not an Azure host: the key goes as a bearer token (LiteLLM's rule).
    assert chat["headers"]["authorization"] == "Bearer foundry-key"
    assert chat["body"] == {"model": "Llama-3.3-70B-Instruct", "messages": MESSAGES}
    assert r._hidden_params["custom_llm_provider"] == "azure_ai"
    assert emb["path"] == "/models/embeddings" and emb["query"] is None
    assert emb["body"]["model"] == "embed-v-4-0"
    with pytest.raises(llmswitch.AuthenticationError, match="AZURE_AI_API_KEY"):
        monkeypatch.delenv("AZURE_AI_API_KEY")
        llmswitch.completion(model="azure_ai/m", messages=MESSAGES)


# --- the official SDK against the same mock ---------------------------------------------


def test_openai_azure_sdk_parses_the_mock_and_sends_what_llmswitch_sends(server):
    client = openai.AzureOpenAI(azure_endpoint=server.url, api_key=TEST_KEY, api_version="2024-10-21")
    sdk = client.chat.completions.create(model="dep", messages=MESSAGES)
    assert sdk.choices[0].message.content == "Hello from the mock server."
    ours = llmswitch.completion(
        model="azure/dep", messages=MESSAGES, api_base=server.url, api_key=TEST_KEY, api_version="2024-10-21"
    )
    assert ours.choices[0].message.content == sdk.choices[0].message.content
    sdk_req, our_req = server.requests
    assert our_req["path"] == sdk_req["path"]
    assert query(our_req) == query(sdk_req)
    assert our_req["headers"]["api-key"] == sdk_req["headers"]["api-key"]
    assert our_req["body"] == sdk_req["body"]

    # Streams: the SDK accepts the filter-first event (a chunk without choices) and the
    # annotated chunks; llmswitch yields the same text without that event.
    sdk_chunks = list(client.chat.completions.create(model="dep", messages=MESSAGES, stream=True))
    assert sdk_chunks[0].choices == [] and sdk_chunks[0].id == ""
    sdk_text = "".join(c.choices[0].delta.content or "" for c in sdk_chunks if c.choices)
    our_chunks = list(
        llmswitch.completion(
            model="azure/dep",
            messages=MESSAGES,
            stream=True,
            api_base=server.url,
            api_key=TEST_KEY,
            api_version="2024-10-21",
        )
    )
    assert "".join(c.choices[0].delta.get("content") or "" for c in our_chunks if c.choices) == sdk_text
    assert all(c.id for c in our_chunks)

    emb = client.embeddings.create(model="emb", input="hi")
    assert len(emb.data[0].embedding) == 8

    # Azure's refusal body is what the SDK reads as a BadRequestError with the code.
    server.enqueue(status=400, json=FILTERED_PROMPT)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="dep", messages=MESSAGES)
    assert e.value.code == "content_filter"

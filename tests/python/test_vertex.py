"""Vertex AI: OAuth2 service-account flow against a loopback token endpoint, URLs, Gemini
on Vertex, errors.

The service account in tests/data is a throwaway key made for these tests (see its
``_comment``); its ``token_uri`` is pointed at the mock server, which plays Google's OAuth2
token endpoint as well as Vertex AI.
"""

from __future__ import annotations

import base64
import json
import pathlib
import urllib.parse
import uuid

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES

SERVICE_ACCOUNT = pathlib.Path(__file__).parent.parent / "data" / "vertex_test_service_account.json"
GEMINI_PATH = "/v1/projects/llmswitch-test-project/locations/us-central1/publishers/google/models/{}"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
VERTEX_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "VERTEXAI_PROJECT",
    "VERTEX_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "VERTEXAI_LOCATION",
    "VERTEX_LOCATION",
)


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch, tmp_path):
    for name in VERTEX_ENV:
        monkeypatch.delenv(name, raising=False)
    # No gcloud application-default credentials either.
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture()
def credentials(server):
    """The test service account, with a token_uri on the mock server. Each test gets a
    distinct copy, so tokens cached by earlier tests are not reused."""
    sa = json.loads(SERVICE_ACCOUNT.read_text())
    sa["token_uri"] = server.url + "/token"
    sa["private_key_id"] = f"test-key-{uuid.uuid4().hex}"
    return sa


def jwt_part(token, index):
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_service_account_flow_and_gemini_on_vertex(server, credentials):
    kw = {"api_base": server.url, "vertex_credentials": credentials}
    r = llmswitch.completion(model="vertex_ai/gemini-2.5-pro", messages=MESSAGES, **kw)
    llmswitch.completion(model="vertex_ai/gemini-2.5-pro", messages=MESSAGES, temperature=0.1, **kw)
    token_req, first, second = server.requests

    assert token_req["method"] == "POST" and token_req["path"] == "/token"
    assert token_req["headers"]["content-type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(token_req["body"]))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims = jwt_part(form["assertion"], 0), jwt_part(form["assertion"], 1)
    assert header == {"typ": "JWT", "alg": "RS256", "kid": credentials["private_key_id"]}
    assert claims["iss"] == credentials["client_email"]
    assert claims["aud"] == credentials["token_uri"]
    assert claims["scope"] == SCOPE
    assert claims["exp"] - claims["iat"] == 3600

    for req in (first, second):
        assert req["path"] == GEMINI_PATH.format("gemini-2.5-pro:generateContent")
        assert req["headers"]["authorization"] == "Bearer ya29.mock-access-token"
        assert "x-goog-api-key" not in req["headers"]
    assert first["body"] == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert second["body"]["generationConfig"] == {"temperature": 0.1}

    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r._hidden_params["custom_llm_provider"] == "vertex_ai"
    assert r.usage.total_tokens == 15


def test_credentials_as_path_json_text_and_env(server, credentials, tmp_path, monkeypatch):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(credentials))
    llmswitch.completion(
        model="vertex_ai/gemini-2.5-flash",
        messages=MESSAGES,
        api_base=server.url,
        vertex_credentials=str(path),
    )
    credentials["private_key_id"] += "-text"
    llmswitch.completion(
        model="vertex_ai/gemini-2.5-flash",
        messages=MESSAGES,
        api_base=server.url,
        vertex_credentials=json.dumps(credentials),
    )
    env_path = tmp_path / "env.json"
    credentials["private_key_id"] += "-env"
    env_path.write_text(json.dumps(credentials))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(env_path))
    llmswitch.completion(model="vertex_ai/gemini-2.5-flash", messages=MESSAGES, api_base=server.url)
    paths = [r["path"] for r in server.requests]
    assert paths == ["/token", GEMINI_PATH.format("gemini-2.5-flash:generateContent")] * 3


def test_project_and_location_from_kwargs_and_env(server, credentials, monkeypatch):
    kw = {"api_base": server.url, "vertex_credentials": credentials}
    llmswitch.completion(
        model="vertex_ai/gemini-2.5-pro",
        messages=MESSAGES,
        vertex_project="kw-project",
        vertex_location="europe-west4",
        **kw,
    )
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "global")
    llmswitch.completion(model="vertex_ai/gemini-2.5-pro", messages=MESSAGES, **kw)
    paths = [r["path"] for r in server.requests if r["path"] != "/token"]
    assert paths == [
        "/v1/projects/kw-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
        "/v1/projects/env-project/locations/global/publishers/google/models/gemini-2.5-pro:generateContent",
    ]


def test_missing_project_or_credentials_fail_before_any_request(server, credentials):
    del credentials["project_id"]
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(
            model="vertex_ai/gemini-2.5-pro",
            messages=MESSAGES,
            api_base=server.url,
            vertex_credentials=credentials,
        )
    assert "vertex_project" in str(info.value) and "VERTEXAI_PROJECT" in str(info.value)
    assert info.value.llm_provider == "vertex_ai"

    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(
            model="vertex_ai/gemini-2.5-pro", messages=MESSAGES, api_base=server.url, vertex_project="p"
        )
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value)

    with pytest.raises(llmswitch.AuthenticationError, match="Could not read"):
        llmswitch.completion(
            model="vertex_ai/gemini-2.5-pro",
            messages=MESSAGES,
            api_base=server.url,
            vertex_credentials="/no/such/credentials.json",
        )
    assert server.hits == 0


def test_token_is_cached_then_refreshed_when_it_expires(server, credentials):
    server.enqueue(json={"access_token": "ya29.short-lived", "expires_in": 30, "token_type": "Bearer"})
    server.enqueue()  # generateContent
    server.enqueue(json={"access_token": "ya29.renewed", "expires_in": 3599, "token_type": "Bearer"})
    kw = {"api_base": server.url, "vertex_credentials": credentials}
    for _ in range(4):
        llmswitch.completion(model="vertex_ai/gemini-2.5-pro", messages=MESSAGES, **kw)
    seen = [(r["path"], r["headers"].get("authorization")) for r in server.requests]
    call = GEMINI_PATH.format("gemini-2.5-pro:generateContent")
    # The first token expires within the refresh margin: the next call gets a new one,
    # which then serves every later call.
    assert seen == [
        ("/token", None),
        (call, "Bearer ya29.short-lived"),
        ("/token", None),
        (call, "Bearer ya29.renewed"),
        (call, "Bearer ya29.renewed"),
        (call, "Bearer ya29.renewed"),
    ]


def test_token_exchange_errors(server, credentials):
    server.enqueue(status=400, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(
            model="vertex_ai/gemini-2.5-pro",
            messages=MESSAGES,
            api_base=server.url,
            vertex_credentials=credentials,
        )
    message = str(info.value)
    assert "invalid_grant: Invalid JWT Signature." in message
    assert "PRIVATE KEY" not in message
    assert info.value.llm_provider == "vertex_ai"
    assert [r["path"] for r in server.requests] == ["/token"]


def test_api_key_is_used_as_access_token(server):
    llmswitch.completion(
        model="vertex_ai/gemini-2.5-pro",
        messages=MESSAGES,
        api_base=server.url,
        api_key="ya29.given-token",
        vertex_project="my-project",
    )
    (req,) = server.requests
    assert req["headers"]["authorization"] == "Bearer ya29.given-token"
    assert req["path"].startswith("/v1/projects/my-project/locations/us-central1/")


def test_vertex_stream_and_errors(server, credentials):
    kw = {"api_base": server.url, "vertex_credentials": credentials}
    chunks = list(
        llmswitch.completion(
            model="vertex_ai/gemini-2.5-flash",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    stream_req = server.requests[-1]
    assert stream_req["path"] == GEMINI_PATH.format("gemini-2.5-flash:streamGenerateContent")
    assert stream_req["query"] == "alt=sse"
    assert stream_req["headers"]["authorization"] == "Bearer ya29.mock-access-token"
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    full = llmswitch.stream_chunk_builder(chunks)
    assert full.choices[0].message.content.startswith("Hello")
    assert full.usage.prompt_tokens == 9

    server.enqueue(
        status=429,
        json={
            "error": {"code": 429, "message": "Quota exceeded for aiplatform", "status": "RESOURCE_EXHAUSTED"}
        },
    )
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="vertex_ai/gemini-2.5-flash", messages=MESSAGES, **kw)
    assert info.value.llm_provider == "vertex_ai" and info.value.status_code == 429


def test_vertex_params_and_provider_list():
    assert "vertex_ai" in llmswitch.provider_list
    assert llmswitch.get_llm_provider("vertex_ai/gemini-2.5-pro")[:2] == ("gemini-2.5-pro", "vertex_ai")
    params = llmswitch.get_supported_openai_params("vertex_ai/gemini-2.5-pro")
    assert "tools" in params and "reasoning_effort" in params and "logit_bias" not in params


CLAUDE = "claude-sonnet-4@20250514"
CLAUDE_PATH = f"/v1/projects/llmswitch-test-project/locations/us-east5/publishers/anthropic/models/{CLAUDE}"


def anthropic_events(*payloads):
    return [f"event: {p['type']}\ndata: {json.dumps(p)}" for p in payloads]


def test_claude_on_vertex_uses_the_messages_body_with_vertex_auth(server, credentials):
    kw = {"api_base": server.url, "vertex_credentials": credentials, "vertex_location": "us-east5"}
    r = llmswitch.completion(
        model=f"vertex_ai/{CLAUDE}",
        messages=[{"role": "system", "content": "be brief"}, *MESSAGES],
        max_tokens=100,
        temperature=0.3,
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        **kw,
    )
    token_req, req = server.requests
    assert token_req["path"] == "/token"
    assert req["path"] == CLAUDE_PATH + ":rawPredict"
    assert req["headers"]["authorization"] == "Bearer ya29.mock-access-token"
    assert req["headers"]["anthropic-beta"] == "context-1m-2025-08-07"
    assert "x-api-key" not in req["headers"] and "anthropic-version" not in req["headers"]
    assert req["body"] == {
        "anthropic_version": "vertex-2023-10-16",
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "temperature": 0.3,
    }
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r._hidden_params["custom_llm_provider"] == "vertex_ai"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (9, 6)

    # Without max_tokens: 4096, as for anthropic/ (and LiteLLM), not the output limit.
    llmswitch.completion(model=f"vertex_ai/{CLAUDE}", messages=MESSAGES, **kw)
    assert server.requests[-1]["body"]["max_tokens"] == 4096


def test_claude_on_vertex_tool_calls_and_stream(server, credentials):
    kw = {"api_base": server.url, "vertex_credentials": credentials, "vertex_location": "us-east5"}
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
    server.enqueue()  # token
    server.enqueue(
        sse=anthropic_events(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "claude-sonnet-4-20250514",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 20, "output_tokens": 1},
                },
            },
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"location": "Par'},
            },
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": 'is"}'},
            },
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
            {"type": "message_stop"},
        )
    )
    chunks = list(
        llmswitch.completion(
            model=f"vertex_ai/{CLAUDE}",
            messages=MESSAGES,
            tools=[tool],
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    req = server.requests[-1]
    assert req["path"] == CLAUDE_PATH + ":streamRawPredict"
    assert req["body"]["stream"] is True and "model" not in req["body"]
    assert req["body"]["tools"] == [
        {
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
        }
    ]
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    full = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(full)
    (call,) = full.choices[0].message.tool_calls
    assert call.id == "toolu_01" and json.loads(call.function.arguments) == {"location": "Paris"}
    assert full.choices[0].finish_reason == "tool_calls"
    assert full.usage.completion_tokens == 12


def test_claude_on_vertex_errors_and_params(server, credentials):
    kw = {"api_base": server.url, "vertex_credentials": credentials, "vertex_location": "us-east5"}
    server.enqueue()  # token
    server.enqueue(
        status=529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with pytest.raises(llmswitch.ServiceUnavailableError, match="Overloaded"):
        llmswitch.completion(model=f"vertex_ai/{CLAUDE}", messages=MESSAGES, **kw)
    # Vertex AI's own errors (quota) come in Google's format.
    server.enqueue(
        status=429,
        json={
            "error": {
                "code": 429,
                "message": "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
    )
    with pytest.raises(llmswitch.RateLimitError, match="Quota exceeded") as info:
        llmswitch.completion(model=f"vertex_ai/{CLAUDE}", messages=MESSAGES, **kw)
    assert info.value.llm_provider == "vertex_ai"

    params = llmswitch.get_supported_openai_params(f"vertex_ai/{CLAUDE}")
    assert params == llmswitch.get_supported_openai_params("anthropic/claude-sonnet-4-20250514")
    hits = server.hits
    with pytest.raises(llmswitch.UnsupportedParamsError, match="n=2"):
        llmswitch.completion(model=f"vertex_ai/{CLAUDE}", messages=MESSAGES, n=2, **kw)
    assert server.hits == hits


def test_gcloud_user_credentials_from_the_adc_file(server, tmp_path, monkeypatch):
    """`gcloud auth application-default login` credentials: a refresh-token exchange."""
    gcloud = tmp_path / "gcloud-config"
    gcloud.mkdir()
    user = {
        "type": "authorized_user",
        "client_id": "test-client.apps.googleusercontent.com",
        "client_secret": "test-client-secret",
        "refresh_token": f"1//test-refresh-{uuid.uuid4().hex}+/=",
        "token_uri": server.url + "/token",
    }
    (gcloud / "application_default_credentials.json").write_text(json.dumps(user))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    server.enqueue(json={"access_token": "ya29.user-token", "expires_in": 3599, "token_type": "Bearer"})
    llmswitch.completion(
        model="vertex_ai/gemini-2.5-pro",
        messages=MESSAGES,
        api_base=server.url,
        vertex_project="user-project",
    )
    token_req, req = server.requests
    assert dict(urllib.parse.parse_qsl(token_req["body"])) == {
        "grant_type": "refresh_token",
        "client_id": user["client_id"],
        "client_secret": user["client_secret"],
        "refresh_token": user["refresh_token"],
    }
    assert req["headers"]["authorization"] == "Bearer ya29.user-token"
    assert req["path"].startswith("/v1/projects/user-project/locations/us-central1/")

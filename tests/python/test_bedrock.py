"""AWS Bedrock (``bedrock/<model-id>``) against the loopback mock, which plays Bedrock's
runtime (Converse, ConverseStream as a binary event stream, InvokeModel for Claude and the
embedding models) and STS, and verifies every SigV4 signature it receives.

Credentials the mock accepts: access key ids ``AKIDMOCK…`` with secret ``mock-secret-<id>``,
and the temporary ``ASIAMOCK…`` credentials its STS issues. boto3's ``bedrock-runtime``
client is pointed at the same mock: its parsers must read the mock's answers (so they are
what Bedrock sends), and its signatures must verify (so the mock's check is AWS's).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.parse
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0"
KEY_ID = "AKIDMOCKPYTEST"
CREDS = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": f"mock-secret-{KEY_ID}"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(autouse=True)
def _isolated_aws(monkeypatch, tmp_path):
    """No AWS variables or files of the developer's: HOME is a temp directory."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture()
def kw(server) -> dict[str, Any]:
    return {"api_base": server.url, "aws_region_name": "us-east-1", **CREDS}


def frame(name: str, data: dict[str, Any], *, exception: bool = False, corrupt: bool = False) -> str:
    """A scripted event-stream message (the mock encodes it in AWS's binary framing)."""
    spec: dict[str, Any] = {"exception" if exception else "event": name, "data": data}
    if corrupt:
        spec["corrupt"] = True
    return json.dumps(spec)


def auth_header(req: dict[str, Any]) -> str:
    return str(req["headers"]["authorization"])


# --- Converse ---------------------------------------------------------------------------


def test_converse_request_signature_and_response(server, kw):
    r = llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, max_tokens=100, **kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == f"{HAIKU_PATH}/converse"
    assert req["body"] == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 100},
    }
    auth = auth_header(req)
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" in auth
    assert "x-amz-security-token" not in req["headers"]
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (9, 6)
    assert r.model == HAIKU
    assert r._hidden_params["custom_llm_provider"] == "bedrock"
    price = llmswitch.model_cost[HAIKU]
    assert r._hidden_params["response_cost"] == pytest.approx(
        9 * price["input_cost_per_token"] + 6 * price["output_cost_per_token"]
    )


def test_profiles_arns_and_regions_in_the_url(server):
    llmswitch.completion(
        model="bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        messages=MESSAGES,
        api_base=server.url,
        **CREDS,
    )
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    r = llmswitch.completion(model=f"bedrock/{arn}", messages=MESSAGES, api_base=server.url, **CREDS)
    llmswitch.completion(
        model="bedrock/converse/ap-south-1/meta.llama3-1-70b-instruct-v1:0",
        messages=MESSAGES,
        api_base=server.url,
        **CREDS,
    )
    profile, by_arn, by_path = server.requests
    assert profile["path"] == "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
    # Without aws_region_name: LiteLLM's default region, the ARN's, the path's.
    assert "/us-west-2/bedrock/" in auth_header(profile)
    assert by_arn["path"] == "/model/" + urllib.parse.quote(arn, safe="") + "/converse"
    assert "/eu-west-1/bedrock/" in auth_header(by_arn)
    assert "/ap-south-1/bedrock/" in auth_header(by_path)
    assert r._hidden_params["response_cost"] > 0  # priced as the model behind the ARN's profile


def test_tools_images_system_and_tool_results(server, kw):
    messages = [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": "22C, sunny"},
    ]
    llmswitch.completion(
        model=f"bedrock/{HAIKU}",
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0.2,
        **kw,
    )
    body = server.requests[0]["body"]
    assert body["system"] == [{"text": "You are terse."}]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "Weather where this photo was taken?"},
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/4AAQ"}}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "call_abc", "name": "get_weather", "input": {"city": "Paris"}}}
            ],
        },
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "call_abc", "content": [{"text": "22C, sunny"}]}}],
        },
    ]
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Get the weather",
                    "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"auto": {}},
    }
    assert body["inferenceConfig"] == {"temperature": 0.2}


def test_tool_call_response_and_response_format(server, kw):
    server.enqueue(
        json={
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"text": "Checking."},
                        {
                            "toolUse": {
                                "toolUseId": "tooluse_1",
                                "name": "get_weather",
                                "input": {"city": "Oslo"},
                            }
                        },
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 50, "outputTokens": 20, "totalTokens": 70},
        }
    )
    r = llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, tools=[WEATHER_TOOL], **kw)
    ChatCompletion.model_validate(r)
    call = r.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "tooluse_1",
        "get_weather",
        {"city": "Oslo"},
    )
    assert r.choices[0].finish_reason == "tool_calls"

    # response_format: a forced tool whose input is the content (the mock calls the forced tool).
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    r = llmswitch.completion(
        model=f"bedrock/{HAIKU}",
        messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        **kw,
    )
    body = server.requests[-1]["body"]
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "json_tool_call"}}
    assert json.loads(r.choices[0].message.content) == {"answer": 42}
    assert r.choices[0].finish_reason == "stop"


def test_thinking_top_k_and_cache_usage(server, kw):
    server.enqueue(
        json={
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {
                            "reasoningContent": {
                                "reasoningText": {"text": "Let me think.", "signature": "c2ln"}
                            }
                        },
                        {"text": "42"},
                    ],
                }
            },
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 100,
                "outputTokens": 50,
                "totalTokens": 1650,
                "cacheReadInputTokens": 1000,
                "cacheWriteInputTokens": 500,
            },
        }
    )
    model = "bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    r = llmswitch.completion(model=model, messages=MESSAGES, reasoning_effort="medium", **kw)
    body = server.requests[0]["body"]
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"]["maxTokens"] > 2048
    m = r.choices[0].message
    assert m.reasoning_content == "Let me think."
    assert m.thinking_blocks == [{"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"}]
    assert r.usage.prompt_tokens == 1600
    assert (r.usage.cache_read_input_tokens, r.usage.cache_creation_input_tokens) == (1000, 500)
    assert r.usage.prompt_tokens_details.cached_tokens == 1000

    # Claude's top_k and thinking conflicts, as for anthropic/.
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, top_k=40, **kw)
    assert server.requests[-1]["body"]["additionalModelRequestFields"] == {"top_k": 40}
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.completion(model=model, messages=MESSAGES, reasoning_effort="low", temperature=0.3, **kw)
    with pytest.raises(llmswitch.UnsupportedParamsError, match="user"):
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, user="u1", **kw)


@pytest.mark.parametrize(
    ("status", "error_type", "message", "cls"),
    [
        (429, "ThrottlingException", "Too many requests, please wait before trying again.", "RateLimitError"),
        (400, "ValidationException", "Input is too long for requested model.", "ContextWindowExceededError"),
        (400, "ValidationException", "The provided model identifier is invalid.", "BadRequestError"),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            "PermissionDeniedError",
        ),
        (404, "ResourceNotFoundException", "Could not resolve the foundation model.", "NotFoundError"),
        (429, "ModelNotReadyException", "Model is not ready for inference.", "ServiceUnavailableError"),
        (503, "ServiceUnavailableException", "Service unavailable.", "ServiceUnavailableError"),
        (408, "ModelTimeoutException", "Model has timed out in processing the request.", "Timeout"),
        (500, "InternalServerException", "Internal server error.", "InternalServerError"),
    ],
)
def test_error_classes(server, kw, status, error_type, message, cls):
    server.enqueue(
        status=status,
        json={"message": message},
        headers={"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )
    with pytest.raises(getattr(llmswitch, cls)) as e:
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, **kw)
    assert type(e.value).__name__ == cls
    assert e.value.status_code == status
    assert e.value.llm_provider == "bedrock" and e.value.model == HAIKU
    assert error_type in str(e.value) and message in str(e.value)


# --- streams ----------------------------------------------------------------------------


def test_converse_stream_default(server, kw):
    chunks = list(
        llmswitch.completion(
            model=f"bedrock/{HAIKU}",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    assert server.requests[0]["path"] == f"{HAIKU_PATH}/converse-stream"
    assert server.requests[0]["headers"]["accept"] == "application/vnd.amazon.eventstream"
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert len({(c.id, c.model) for c in chunks}) == 1
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2 w3 w4 w5"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.prompt_tokens == 9


def test_converse_stream_with_tool_calls(server, kw):
    server.enqueue(
        sse=[
            frame("messageStart", {"role": "assistant"}),
            frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
            frame("contentBlockStop", {"contentBlockIndex": 0}),
            frame(
                "contentBlockStart",
                {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "tooluse_p", "name": "get_weather"}},
                },
            ),
            frame(
                "contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city": "Pa'}}}
            ),
            frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'ris"}'}}}),
            frame("contentBlockStop", {"contentBlockIndex": 1}),
            frame(
                "contentBlockStart",
                {
                    "contentBlockIndex": 2,
                    "start": {"toolUse": {"toolUseId": "tooluse_r", "name": "get_weather"}},
                },
            ),
            frame(
                "contentBlockDelta",
                {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"city": "Rome"}'}}},
            ),
            frame("contentBlockStop", {"contentBlockIndex": 2}),
            frame("messageStop", {"stopReason": "tool_use"}),
            frame(
                "metadata",
                {
                    "usage": {"inputTokens": 80, "outputTokens": 40, "totalTokens": 120},
                    "metrics": {"latencyMs": 5},
                },
            ),
        ]
    )
    chunks = list(
        llmswitch.completion(
            model=f"bedrock/{HAIKU}",
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            **kw,
        )
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    rebuilt = llmswitch.stream_chunk_builder(chunks)
    calls = rebuilt.choices[0].message.tool_calls
    assert [(c.id, json.loads(c.function.arguments)) for c in calls] == [
        ("tooluse_p", {"city": "Paris"}),
        ("tooluse_r", {"city": "Rome"}),
    ]
    assert rebuilt.choices[0].message.content == "Let me check."
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    assert rebuilt.usage.prompt_tokens == 80
    assert rebuilt._hidden_params["response_cost"] > 0


@pytest.mark.parametrize(
    ("exception", "cls"),
    [
        ("throttlingException", "RateLimitError"),
        ("validationException", "BadRequestError"),
        ("modelStreamErrorException", "APIError"),
        ("serviceUnavailableException", "ServiceUnavailableError"),
        ("internalServerException", "InternalServerError"),
    ],
)
def test_exception_frames_raise_the_mapped_class(server, kw, exception, cls):
    server.enqueue(
        sse=[
            frame("messageStart", {"role": "assistant"}),
            frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
            frame(exception, {"message": "stream failed here"}, exception=True),
        ]
    )
    got: list[str] = []
    with pytest.raises(getattr(llmswitch, cls)) as e:
        for c in llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, stream=True, **kw):
            got.append(c.choices[0].delta.get("content") or "" if c.choices else "")
    assert type(e.value).__name__ == cls
    assert "stream failed here" in str(e.value)
    assert "".join(got) == "partial"


def test_corrupted_frame_is_an_api_connection_error(server, kw):
    server.enqueue(
        sse=[
            frame("messageStart", {"role": "assistant"}),
            frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "fine"}}),
            frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "GARBAGE"}}, corrupt=True),
            frame("messageStop", {"stopReason": "end_turn"}),
        ]
    )
    got = []
    with pytest.raises(llmswitch.APIConnectionError, match="corrupt") as e:
        for c in llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, stream=True, **kw):
            got.append(c.choices[0].delta.get("content") or "" if c.choices else "")
    assert "GARBAGE" not in "".join(got)
    assert e.value.llm_provider == "bedrock"


def test_async_stream(server, kw):
    async def run() -> list[Any]:
        stream = await llmswitch.acompletion(model=f"bedrock/{HAIKU}", messages=MESSAGES, stream=True, **kw)
        return [c async for c in stream]

    chunks = asyncio.run(run())
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices).startswith("Hello")


# --- InvokeModel (Claude's own body) ----------------------------------------------------


def test_invoke_route_sends_anthropics_body(server, kw):
    r = llmswitch.completion(
        model=f"bedrock/invoke/{HAIKU}",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        max_tokens=64,
        anthropic_beta=["token-efficient-tools-2025-02-19"],
        **kw,
    )
    (req,) = server.requests
    assert req["path"] == f"{HAIKU_PATH}/invoke"
    assert req["body"] == {
        "anthropic_version": "bedrock-2023-05-31",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 64,
        "anthropic_beta": ["token-efficient-tools-2025-02-19"],
    }
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == "Hello from the mock server."

    chunks = list(llmswitch.completion(model=f"bedrock/invoke/{HAIKU}", messages=MESSAGES, stream=True, **kw))
    assert server.requests[1]["path"] == f"{HAIKU_PATH}/invoke-with-response-stream"
    assert "stream" not in server.requests[1]["body"]
    assert (
        "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
        == "Hello w1 w2 w3 w4 w5"
    )
    with pytest.raises(llmswitch.BadRequestError, match="Anthropic models only"):
        llmswitch.completion(model="bedrock/invoke/meta.llama3-70b-instruct-v1:0", messages=MESSAGES, **kw)


# --- embeddings -------------------------------------------------------------------------


def test_titan_and_cohere_embeddings(server, kw):
    r = llmswitch.embedding(
        model="bedrock/amazon.titan-embed-text-v2:0", input="hello world", dimensions=16, **kw
    )
    req = server.requests[0]
    assert req["path"] == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert req["body"] == {"inputText": "hello world", "dimensions": 16}
    assert len(r.data[0]["embedding"]) == 16
    assert r.usage.prompt_tokens == 2
    assert r._hidden_params["response_cost"] == pytest.approx(
        2 * llmswitch.model_cost["amazon.titan-embed-text-v2:0"]["input_cost_per_token"]
    )
    with pytest.raises(llmswitch.BadRequestError, match="one text per request"):
        llmswitch.embedding(model="bedrock/amazon.titan-embed-text-v2:0", input=["a", "b"], **kw)

    r = llmswitch.embedding(
        model="bedrock/cohere.embed-english-v3", input=["a", "b", "c"], input_type="search_query", **kw
    )
    assert server.requests[-1]["body"] == {"texts": ["a", "b", "c"], "input_type": "search_query"}
    assert [d["index"] for d in r.data] == [0, 1, 2]
    r = llmswitch.embedding(
        model="bedrock/cohere.embed-multilingual-v3", input="x", encoding_format="base64", **kw
    )
    assert isinstance(r.data[0]["embedding"], str)
    with pytest.raises(llmswitch.UnsupportedParamsError):
        llmswitch.embedding(model="bedrock/cohere.embed-english-v3", input="x", dimensions=8, **kw)


# --- credentials ------------------------------------------------------------------------


def test_missing_credentials_fail_before_any_request_naming_what_was_looked_for(server):
    with pytest.raises(llmswitch.AuthenticationError) as e:
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)
    message = str(e.value)
    for looked_for in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ACCESS_KEY_ID",
        "aws_role_name",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_PROFILE",
        ".aws/credentials",
    ):
        assert looked_for in message
    assert server.requests == []


def test_environment_keys_and_region(server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDMOCKENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "mock-secret-AKIDMOCKENV")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)
    auth = auth_header(server.requests[0])
    assert "Credential=AKIDMOCKENV/" in auth and "/eu-central-1/bedrock/" in auth
    # A wrong secret is refused by the mock's signature check, as by AWS.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(llmswitch.AuthenticationError, match="InvalidSignatureException"):
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)


def test_shared_credentials_and_config_files(server, monkeypatch, tmp_path):
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDMOCKDEFAULT\naws_secret_access_key = mock-secret-AKIDMOCKDEFAULT\n\n"
        "[team]\naws_access_key_id = AKIDMOCKTEAM\naws_secret_access_key = mock-secret-AKIDMOCKTEAM\n"
    )
    (aws / "config").write_text(
        "[default]\nregion = ca-central-1\n\n[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\n"
        "source_profile = team\nrole_session_name = ops-session\n"
    )
    monkeypatch.setenv("AWS_STS_ENDPOINT", server.url)
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)
    llmswitch.completion(
        model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, aws_profile_name="team"
    )
    default, team = server.requests
    assert "Credential=AKIDMOCKDEFAULT/" in auth_header(default)
    assert "/ca-central-1/bedrock/" in auth_header(default)  # the config file's region
    assert "Credential=AKIDMOCKTEAM/" in auth_header(team)

    # A profile that assumes a role with another profile's keys: one STS call, cached.
    server.reset()
    for _ in range(3):
        llmswitch.completion(
            model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, aws_profile_name="ops"
        )
    sts, *calls = server.requests
    form = dict(urllib.parse.parse_qsl(sts["body"]))
    assert form["Action"] == "AssumeRole"
    assert form["RoleArn"] == "arn:aws:iam::123456789012:role/ops"
    assert form["RoleSessionName"] == "ops-session"
    assert "Credential=AKIDMOCKTEAM/" in auth_header(sts) and "/sts/aws4_request" in auth_header(sts)
    assert len(calls) == 3
    assert all("Credential=ASIAMOCK" in auth_header(c) for c in calls)
    assert all(c["headers"]["x-amz-security-token"].startswith("mock-session-token-ASIAMOCK") for c in calls)

    with pytest.raises(llmswitch.AuthenticationError, match="profile 'nope' not found"):
        llmswitch.completion(
            model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, aws_profile_name="nope"
        )


def test_assume_role_with_parameters_is_cached(server, kw):
    role = {
        "aws_role_name": "arn:aws:iam::123456789012:role/llm",
        "aws_session_name": "pytest-session",
        "aws_sts_endpoint": server.url,
    }
    for _ in range(3):
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, **kw, **role)
    hits = [r for r in server.requests if isinstance(r["body"], str) and "AssumeRole" in r["body"]]
    assert len(hits) == 1
    assert len(server.requests) == 4
    with pytest.raises(llmswitch.AuthenticationError, match="AccessDenied"):
        llmswitch.completion(
            model=f"bedrock/{HAIKU}",
            messages=MESSAGES,
            **kw,
            aws_role_name="arn:aws:iam::1:role/denied",
            aws_sts_endpoint=server.url,
        )


def test_web_identity_token_file(server, monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eks-token.sig\n")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/eks-pod")
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pod-1")
    monkeypatch.setenv("AWS_STS_ENDPOINT", server.url)
    for _ in range(2):
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)
    sts, *calls = server.requests
    form = dict(urllib.parse.parse_qsl(sts["body"]))
    assert form["Action"] == "AssumeRoleWithWebIdentity"
    assert form["WebIdentityToken"] == "eyJhbGciOiJSUzI1NiJ9.eks-token.sig"
    assert form["RoleArn"] == "arn:aws:iam::123456789012:role/eks-pod"
    assert form["RoleSessionName"] == "pod-1"
    assert "authorization" not in sts["headers"]  # the token is the proof
    assert len(calls) == 2 and all("Credential=ASIAMOCK" in auth_header(c) for c in calls)


def test_web_identity_token_parameter(server):
    params = {
        "aws_web_identity_token": "eyJhbGciOiJSUzI1NiJ9.github-oidc.sig",
        "aws_role_name": "arn:aws:iam::123456789012:role/ci",
        "aws_session_name": "ci-run",
        "aws_sts_endpoint": server.url,
    }
    for _ in range(2):
        llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, **params)
    sts, *calls = server.requests
    form = dict(urllib.parse.parse_qsl(sts["body"]))
    assert (form["Action"], form["WebIdentityToken"], form["RoleSessionName"]) == (
        "AssumeRoleWithWebIdentity",
        "eyJhbGciOiJSUzI1NiJ9.github-oidc.sig",
        "ci-run",
    )
    assert len(calls) == 2
    with pytest.raises(llmswitch.AuthenticationError, match="ExpiredTokenException"):
        llmswitch.completion(
            model=f"bedrock/{HAIKU}",
            messages=MESSAGES,
            api_base=server.url,
            **{**params, "aws_web_identity_token": "expired-token"},
        )


def test_bedrock_api_keys(server, monkeypatch):
    llmswitch.completion(
        model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, api_key="bedrock-api-key-1"
    )
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-env")
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url)
    # Explicit AWS credentials win over the environment's API key.
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, api_base=server.url, **CREDS)
    given, env_key, signed = server.requests
    assert given["headers"]["authorization"] == "Bearer bedrock-api-key-1"
    assert env_key["headers"]["authorization"] == "Bearer bedrock-api-key-env"
    assert "x-amz-date" not in env_key["headers"]
    assert auth_header(signed).startswith("AWS4-HMAC-SHA256")


def test_secrets_never_appear_in_errors(server, kw):
    server.enqueue(
        status=400,
        json={"message": f"echo {CREDS['aws_secret_access_key']}"},
        headers={"x-amzn-ErrorType": "ValidationException"},
    )
    with pytest.raises(llmswitch.BadRequestError) as e:
        llmswitch.completion(
            model=f"bedrock/{HAIKU}",
            messages=MESSAGES,
            api_key="bedrock-key-abcdef123456",
            api_base=server.url,
        )
    assert "bedrock-key-abcdef123456" not in str(e.value)


# --- botocore's parsers and signer against the same mock --------------------------------


@pytest.fixture()
def boto_client(server):
    boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (make test installs it)")
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id="AKIDMOCKBOTO",
        aws_secret_access_key="mock-secret-AKIDMOCKBOTO",
        config=Config(retries={"max_attempts": 1}),
    )
    yield client
    # Its connection pool, closed now rather than by the garbage collector.
    client.close()


def test_boto3_parses_the_mocks_converse_and_sends_what_llmswitch_sends(server, kw, boto_client):
    out = boto_client.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        inferenceConfig={"maxTokens": 100},
    )
    assert out["output"]["message"]["content"][0]["text"] == "Hello from the mock server."
    assert out["stopReason"] == "end_turn"
    assert out["usage"] == {"inputTokens": 9, "outputTokens": 6, "totalTokens": 15}
    llmswitch.completion(model=f"bedrock/{HAIKU}", messages=MESSAGES, max_tokens=100, **kw)
    boto_req, our_req = server.requests
    # The mock verified botocore's signature too: both signers agree with its check.
    assert auth_header(boto_req).startswith("AWS4-HMAC-SHA256 Credential=AKIDMOCKBOTO/")
    assert our_req["path"] == boto_req["path"]
    assert our_req["body"] == boto_req["body"]


def test_boto3_parses_the_mocks_converse_stream(server, boto_client):
    server.enqueue(
        sse=[
            frame("messageStart", {"role": "assistant"}),
            frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            frame("contentBlockStop", {"contentBlockIndex": 0}),
            frame(
                "contentBlockStart",
                {
                    "contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "tooluse_x", "name": "get_weather"}},
                },
            ),
            frame(
                "contentBlockDelta",
                {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":"Oslo"}'}}},
            ),
            frame("contentBlockStop", {"contentBlockIndex": 1}),
            frame("messageStop", {"stopReason": "tool_use"}),
            frame(
                "metadata",
                {
                    "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
                    "metrics": {"latencyMs": 1},
                },
            ),
        ]
    )
    out = boto_client.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    events = list(out["stream"])
    assert [next(iter(e)) for e in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[3]["contentBlockStart"]["start"]["toolUse"]["name"] == "get_weather"
    assert events[7]["metadata"]["usage"]["totalTokens"] == 7

    # The default stream and an exception frame, as botocore reads them.
    out = boto_client.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in out["stream"] if "contentBlockDelta" in e)
    assert text == "Hello w1 w2 w3 w4 w5"
    server.enqueue(sse=[frame("throttlingException", {"message": "slow down"}, exception=True)])
    out = boto_client.converse_stream(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    try:
        with pytest.raises(Exception, match=r"(?i)throttlingException"):
            list(out["stream"])
    finally:
        out["stream"].close()


def test_boto3_parses_invoke_and_embeddings(server, boto_client):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": MESSAGES})
    out = boto_client.invoke_model(modelId=HAIKU, body=body)
    assert json.loads(out["body"].read())["content"][0]["text"] == "Hello from the mock server."
    out = boto_client.invoke_model_with_response_stream(modelId=HAIKU, body=body)
    events = [
        json.loads(
            base64.b64decode(e["chunk"]["bytes"])
            if isinstance(e["chunk"]["bytes"], str)
            else e["chunk"]["bytes"]
        )
        for e in out["body"]
    ]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    out = boto_client.invoke_model(
        modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello", "dimensions": 8})
    )
    assert len(json.loads(out["body"].read())["embedding"]) == 8

"""Google Gemini (AI Studio): request translation, responses, streaming, errors.

The mock server speaks Gemini's generateContent API; request bodies are asserted field by
field against the shapes in Google's API reference (camelCase REST field names).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import llmswitch
from conftest import MESSAGES, sse

KEY = "AIza-test-0123456789abcdef"


@pytest.fixture()
def gemini_kw(server):
    return {"api_base": server.url, "api_key": KEY}


def gemini_response(parts, finish="STOP", usage=None, **extra):
    body = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
        "usageMetadata": usage or {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
        "modelVersion": "gemini-2.5-pro",
        "responseId": "resp-abc",
    }
    body.update(extra)
    return body


def test_basic_call_wire_format_and_response(server, gemini_kw):
    r = llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
    (req,) = server.requests
    assert req["method"] == "POST"
    assert req["path"] == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert req["query"] is None  # the key never goes in the URL
    assert req["headers"]["x-goog-api-key"] == KEY
    assert "authorization" not in req["headers"]
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

    ChatCompletion.model_validate(r)
    assert r.id == "mock-gemini-response"
    assert r.model == "gemini-2.5-pro"
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Hello from the mock server."
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (9, 6, 15)
    assert r._hidden_params["custom_llm_provider"] == "gemini"


def test_bare_gemini_model_name_is_inferred(server, gemini_kw):
    r = llmswitch.completion(model="gemini-2.5-flash", messages=MESSAGES, **gemini_kw)
    assert r._hidden_params["custom_llm_provider"] == "gemini"
    assert server.requests[0]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert llmswitch.get_llm_provider("gemini-2.5-pro")[:2] == ("gemini-2.5-pro", "gemini")
    assert llmswitch.get_llm_provider("gemini/gemini-2.5-pro")[:2] == ("gemini-2.5-pro", "gemini")
    assert "gemini" in llmswitch.provider_list


def test_missing_key_fails_before_any_request_and_env_keys_work(server, monkeypatch):
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, api_base=server.url)
    assert "GEMINI_API_KEY" in str(info.value) and "GOOGLE_API_KEY" in str(info.value)
    assert info.value.llm_provider == "gemini"
    assert server.hits == 0

    monkeypatch.setenv("GOOGLE_API_KEY", "google-env-key-1")
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, api_base=server.url)
    assert server.requests[-1]["headers"]["x-goog-api-key"] == "google-env-key-1"
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-env-key-1")
    monkeypatch.setenv("GEMINI_API_BASE", server.url)
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES)
    assert server.requests[-1]["headers"]["x-goog-api-key"] == "gemini-env-key-1"


def test_api_base_with_version_and_api_version(server, gemini_kw):
    llmswitch.completion(
        model="gemini/gemini-2.5-pro", messages=MESSAGES, api_key=KEY, api_base=server.url + "/v1beta/"
    )
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, api_version="v1alpha", **gemini_kw)
    paths = [r["path"] for r in server.requests]
    assert paths == [
        "/v1beta/models/gemini-2.5-pro:generateContent",
        "/v1alpha/models/gemini-2.5-pro:generateContent",
    ]


def test_messages_translate_to_contents(server, gemini_kw):
    messages = [
        {"role": "system", "content": "You are a cat."},
        {"role": "user", "content": "Your name is Neko."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                {"type": "image_url", "image_url": "gs://cloud-samples-data/generative-ai/image/scones.jpg"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/doc", "format": "application/pdf"},
                },
                {"type": "input_audio", "input_audio": {"data": "UklGRiQ=", "format": "wav"}},
            ],
        },
        {"role": "assistant", "content": "Meow."},
        {"role": "assistant", "content": [{"type": "text", "text": "Purr."}]},
        {"role": "user", "content": "Good cat."},
    ]
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=messages, **gemini_kw)
    assert server.requests[0]["body"] == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Your name is Neko."},
                    {"text": "What is in these?"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                    {
                        "fileData": {
                            "mimeType": "image/jpeg",
                            "fileUri": "gs://cloud-samples-data/generative-ai/image/scones.jpg",
                        }
                    },
                    {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/doc"}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGRiQ="}},
                ],
            },
            {"role": "model", "parts": [{"text": "Meow."}, {"text": "Purr."}]},
            {"role": "user", "parts": [{"text": "Good cat."}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are a cat."}]},
    }


def test_unsupported_content_fails_before_network(server, gemini_kw):
    bad = [{"role": "system", "content": [{"type": "image_url", "image_url": "https://x.test/a.png"}]}]
    with pytest.raises(llmswitch.BadRequestError, match="system instruction takes text only"):
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=bad, **gemini_kw)
    orphan = [{"role": "tool", "tool_call_id": "call_x", "content": "42"}]
    with pytest.raises(llmswitch.BadRequestError, match="call_x"):
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=orphan, **gemini_kw)
    assert server.hits == 0


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def test_generation_config_tools_and_tool_config(server, gemini_kw):
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        temperature=0.5,
        top_p=0.8,
        top_k=20,
        max_tokens=256,
        n=2,
        stop="END",
        seed=42,
        presence_penalty=0.25,
        frequency_penalty=-0.25,
        reasoning_effort="high",
        tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}],
        tool_choice="required",
        safety_settings=[{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}],
        **gemini_kw,
    )
    body = server.requests[0]["body"]
    assert body["generationConfig"] == {
        "stopSequences": ["END"],
        "candidateCount": 2,
        "maxOutputTokens": 256,
        "temperature": 0.5,
        "topP": 0.8,
        "topK": 20,
        "seed": 42,
        "presencePenalty": 0.25,
        "frequencyPenalty": -0.25,
        "thinkingConfig": {"thinkingBudget": 4096, "includeThoughts": True},
    }
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "parameters": {
                        "type": "OBJECT",
                        "required": ["location"],
                        "properties": {
                            "location": {
                                "type": "STRING",
                                "description": "The city and state, e.g. San Francisco, CA",
                            },
                            "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"], "nullable": True},
                        },
                    },
                },
                {"name": "now"},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]


@pytest.mark.parametrize(
    ("tool_choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(server, gemini_kw, tool_choice, config):
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
        tool_choice=tool_choice,
        **gemini_kw,
    )
    assert server.requests[0]["body"]["toolConfig"] == {"functionCallingConfig": config}


def test_response_format_json_schema_and_json_object(server, gemini_kw):
    # The shape pydantic's model_json_schema() gives, with $defs and a nullable field.
    schema = {
        "$defs": {
            "Ingredient": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "grams": {"type": "number"}},
                "required": ["name", "grams"],
                "additionalProperties": False,
            }
        },
        "type": "object",
        "properties": {
            "recipe_name": {"type": "string"},
            "ingredients": {"type": "array", "items": {"$ref": "#/$defs/Ingredient"}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["recipe_name", "ingredients", "note"],
        "additionalProperties": False,
    }
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": schema, "strict": True},
        },
        **gemini_kw,
    )
    llmswitch.completion(
        model="gemini/gemini-2.5-pro", messages=MESSAGES, response_format={"type": "json_object"}, **gemini_kw
    )
    first, second = (r["body"]["generationConfig"] for r in server.requests)
    assert first == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "required": ["recipe_name", "ingredients", "note"],
            "propertyOrdering": ["recipe_name", "ingredients", "note"],
            "properties": {
                "recipe_name": {"type": "STRING"},
                "ingredients": {
                    "type": "ARRAY",
                    "items": {
                        "type": "OBJECT",
                        "required": ["name", "grams"],
                        "propertyOrdering": ["name", "grams"],
                        "properties": {"name": {"type": "STRING"}, "grams": {"type": "NUMBER"}},
                    },
                },
                "note": {"type": "STRING", "nullable": True},
            },
        },
    }
    assert second == {"responseMimeType": "application/json"}


def test_reasoning_effort_and_supported_params(server, gemini_kw):
    llmswitch.completion(
        model="gemini/gemini-2.5-flash", messages=MESSAGES, reasoning_effort="none", **gemini_kw
    )
    llmswitch.completion(
        model="gemini/gemini-3-pro-preview", messages=MESSAGES, reasoning_effort="low", **gemini_kw
    )
    configs = [r["body"]["generationConfig"]["thinkingConfig"] for r in server.requests]
    assert configs == [
        {"thinkingBudget": 0, "includeThoughts": False},
        {"thinkingLevel": "low", "includeThoughts": True},
    ]
    params = llmswitch.get_supported_openai_params("gemini/gemini-2.5-pro")
    for p in ("temperature", "top_p", "max_tokens", "n", "stop", "tools", "tool_choice", "response_format"):
        assert p in params
    assert "reasoning_effort" in params and "logit_bias" not in params
    assert "reasoning_effort" not in llmswitch.get_supported_openai_params("gemini/gemini-2.0-flash")
    assert "presence_penalty" not in llmswitch.get_supported_openai_params("gemini-3-pro-preview")


def test_unsupported_params_raise_or_drop(server, gemini_kw):
    with pytest.raises(llmswitch.UnsupportedParamsError, match="logit_bias"):
        llmswitch.completion(
            model="gemini/gemini-2.5-pro", messages=MESSAGES, logit_bias={"1": 1}, **gemini_kw
        )
    assert server.hits == 0
    llmswitch.completion(
        model="gemini/gemini-2.5-pro", messages=MESSAGES, logit_bias={"1": 1}, drop_params=True, **gemini_kw
    )
    assert "logit_bias" not in json.dumps(server.requests[0]["body"])
    with pytest.raises(llmswitch.BadRequestError, match="reasoning_effort"):
        llmswitch.completion(
            model="gemini/gemini-2.5-pro", messages=MESSAGES, reasoning_effort="max", **gemini_kw
        )


def test_response_tool_calls_thoughts_and_usage(server, gemini_kw):
    server.enqueue(
        json=gemini_response(
            [
                {"text": "The user wants weather.", "thought": True},
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"location": "Paris", "unit": "celsius"}},
                    "thoughtSignature": "CiQB4/H/Xt5tdo+i0VpVKLh7ostYBjJu",
                },
                {"functionCall": {"name": "get_weather", "args": {"location": "Rome"}}},
            ],
            usage={
                "promptTokenCount": 100,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 30,
                "cachedContentTokenCount": 64,
                "totalTokenCount": 150,
            },
        )
    )
    r = llmswitch.completion(
        model="gemini/gemini-2.5-pro", messages=MESSAGES, tools=[WEATHER_TOOL], **gemini_kw
    )
    ChatCompletion.model_validate(r)
    msg = r.choices[0].message
    assert msg.content == "Checking."
    assert msg.reasoning_content == "The user wants weather."
    first, second = msg.tool_calls
    assert first.type == "function" and first.function.name == "get_weather"
    assert json.loads(first.function.arguments) == {"location": "Paris", "unit": "celsius"}
    assert first.id.startswith("call_") and first.id.endswith("__thought__CiQB4/H/Xt5tdo+i0VpVKLh7ostYBjJu")
    assert second.id.startswith("call_") and "__thought__" not in second.id and second.id != first.id
    assert r.choices[0].finish_reason == "tool_calls"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (100, 50, 150)
    assert r.usage.prompt_tokens_details.cached_tokens == 64
    assert r.usage.completion_tokens_details.reasoning_tokens == 30

    # The assistant turn goes back with its signature, and the results get their names.
    server.reset()
    follow_up = [
        *MESSAGES,
        r.choices[0].message,
        {"role": "tool", "tool_call_id": first.id, "content": '{"temperature": 21}'},
        {"role": "tool", "tool_call_id": second.id, "content": "sunny, 25C"},
    ]
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=follow_up, **gemini_kw)
    assert server.requests[0]["body"]["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"location": "Paris", "unit": "celsius"}},
                    "thoughtSignature": "CiQB4/H/Xt5tdo+i0VpVKLh7ostYBjJu",
                },
                {"functionCall": {"name": "get_weather", "args": {"location": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny, 25C"}}},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("gemini_reason", "openai_reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons(server, gemini_kw, gemini_reason, openai_reason):
    server.enqueue(json=gemini_response([{"text": "partial"}], finish=gemini_reason))
    r = llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
    assert r.choices[0].finish_reason == openai_reason
    ChatCompletion.model_validate(r)


def test_several_candidates_become_choices(server, gemini_kw):
    body = gemini_response([{"text": "one"}])
    body["candidates"].append(
        {"content": {"role": "model", "parts": [{"text": "two"}]}, "finishReason": "MAX_TOKENS", "index": 1}
    )
    server.enqueue(json=body)
    r = llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, n=2, **gemini_kw)
    assert [(c.index, c.message.content, c.finish_reason) for c in r.choices] == [
        (0, "one", "stop"),
        (1, "two", "length"),
    ]


def test_blocked_prompt_is_content_policy_violation(server, gemini_kw):
    server.enqueue(
        json={
            "promptFeedback": {
                "blockReason": "PROHIBITED_CONTENT",
                "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}],
            },
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.5-pro",
        }
    )
    with pytest.raises(llmswitch.ContentPolicyViolationError) as info:
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
    assert "PROHIBITED_CONTENT" in str(info.value)
    assert info.value.llm_provider == "gemini"
    assert info.value.body["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"


def google_error(code, status, message, details=None):
    error = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


@pytest.mark.parametrize(
    ("code", "status", "message", "exc"),
    [
        (
            400,
            "INVALID_ARGUMENT",
            "Invalid value at 'generation_config.temperature'",
            llmswitch.BadRequestError,
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1500000) exceeds the maximum number of tokens allowed (1048576).",
            llmswitch.ContextWindowExceededError,
        ),
        (
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            llmswitch.AuthenticationError,
        ),
        (403, "PERMISSION_DENIED", "The caller does not have permission", llmswitch.PermissionDeniedError),
        (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta", llmswitch.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota", llmswitch.RateLimitError),
        (500, "INTERNAL", "An internal error has occurred.", llmswitch.InternalServerError),
        (
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            llmswitch.ServiceUnavailableError,
        ),
        (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", llmswitch.Timeout),
    ],
)
def test_google_errors_map_to_classes(server, gemini_kw, code, status, message, exc):
    server.enqueue(status=code, json=google_error(code, status, message))
    with pytest.raises(exc) as info:
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
    err = info.value
    assert err.status_code == code
    assert message in str(err)
    assert err.llm_provider == "gemini"
    assert err.body["error"]["status"] == status


def test_invalid_key_and_retry_info(server, gemini_kw):
    server.enqueue(
        status=400,
        json=google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
    )
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
    assert KEY not in str(info.value)
    # Google says 400 INVALID_ARGUMENT; the class (and LiteLLM 1.106.2) say 401.
    assert info.value.status_code == 401
    assert info.value.body["error"]["code"] == 400

    server.enqueue(
        status=429,
        json=google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}],
        ),
    )
    r = llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, num_retries=1, **gemini_kw)
    assert r._hidden_params["retries"] == 1
    assert r.choices[0].message.content == "Hello from the mock server."


def test_stream_text_and_usage(server, gemini_kw):
    chunks = list(
        llmswitch.completion(
            model="gemini/gemini-2.5-pro",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-mock-chunks": "3"},
            **gemini_kw,
        )
    )
    req = server.requests[0]
    assert req["path"] == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert req["query"] == "alt=sse"
    assert req["headers"]["x-goog-api-key"] == KEY
    assert req["body"] == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert {c.id for c in chunks} == {"mock-gemini-response"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 12
    full = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(full)
    assert full.choices[0].message.content == "Hello w1 w2"
    assert full.usage.completion_tokens == 3

    # Without include_usage the usage chunk is hidden.
    chunks = list(
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, stream=True, **gemini_kw)
    )
    assert all(c.choices for c in chunks)
    assert server.open_streams == 0


def gemini_frame(parts, finish=None, usage=None):
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return sse(
        {
            "candidates": [candidate],
            "usageMetadata": usage or {"promptTokenCount": 12, "totalTokenCount": 12},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "stream-1",
        }
    )


def test_stream_tool_calls_and_thoughts(server, gemini_kw):
    server.enqueue(
        sse=[
            gemini_frame([{"text": "Planning the call.", "thought": True}]),
            gemini_frame([{"text": "Let me check."}]),
            gemini_frame(
                [
                    {
                        "functionCall": {"name": "get_weather", "args": {"location": "Boston, MA"}},
                        "thoughtSignature": "c2lnbmF0dXJl",
                    },
                    {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
                ],
                finish="STOP",
                usage={
                    "promptTokenCount": 12,
                    "candidatesTokenCount": 10,
                    "thoughtsTokenCount": 5,
                    "totalTokenCount": 27,
                },
            ),
        ]
    )
    chunks = list(
        llmswitch.completion(
            model="gemini/gemini-2.5-flash",
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            stream=True,
            stream_options={"include_usage": True},
            **gemini_kw,
        )
    )
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert any(d.get("reasoning_content") == "Planning the call." for d in deltas)
    calls = [tc for d in deltas for tc in (d.get("tool_calls") or [])]
    assert [tc.index for tc in calls] == [0, 1]
    assert all(tc.type == "function" and tc.function.name == "get_weather" for tc in calls)
    assert calls[0].id.endswith("__thought__c2lnbmF0dXJl")
    full = llmswitch.stream_chunk_builder(chunks)
    ChatCompletion.model_validate(full)
    msg = full.choices[0].message
    assert msg.content == "Let me check."
    assert [json.loads(tc.function.arguments) for tc in msg.tool_calls] == [
        {"location": "Boston, MA"},
        {"location": "Paris"},
    ]
    assert full.choices[0].finish_reason == "tool_calls"
    assert (full.usage.completion_tokens, full.usage.total_tokens) == (15, 27)
    assert full.usage.completion_tokens_details.reasoning_tokens == 5


def test_stream_blocked_prompt_and_errors(server, gemini_kw):
    server.enqueue(
        sse=[sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})]
    )
    with pytest.raises(llmswitch.ContentPolicyViolationError, match="SAFETY"):
        list(llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, stream=True, **gemini_kw))

    server.enqueue(status=429, json=google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted"))
    with pytest.raises(llmswitch.RateLimitError, match="exhausted"):
        llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, stream=True, **gemini_kw)

    server.enqueue(
        sse=[
            gemini_frame([{"text": "Hel"}]),
            sse(google_error(500, "INTERNAL", "An internal error has occurred.")),
        ]
    )
    stream = llmswitch.completion(model="gemini/gemini-2.5-pro", messages=MESSAGES, stream=True, **gemini_kw)
    with pytest.raises(llmswitch.InternalServerError, match="internal error"):
        list(stream)


def test_acompletion_and_async_stream(server, gemini_kw):
    async def run():
        r = await llmswitch.acompletion(model="gemini/gemini-2.5-pro", messages=MESSAGES, **gemini_kw)
        stream = await llmswitch.acompletion(
            model="gemini/gemini-2.5-pro", messages=MESSAGES, stream=True, **gemini_kw
        )
        pieces = [c.choices[0].delta.get("content") or "" async for c in stream if c.choices]
        return r, "".join(pieces)

    r, text = asyncio.run(run())
    assert r.choices[0].message.content == "Hello from the mock server."
    assert text.startswith("Hello")


def test_parallel_tool_calls(server, gemini_kw):
    two_tools = [WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}]
    with pytest.raises(llmswitch.UnsupportedParamsError, match="parallel_tool_calls"):
        llmswitch.completion(
            model="gemini/gemini-2.5-pro",
            messages=MESSAGES,
            tools=two_tools,
            parallel_tool_calls=False,
            **gemini_kw,
        )
    assert server.hits == 0
    # One tool cannot be called in parallel anyway; True is Gemini's behaviour; drop_params drops.
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        tools=[WEATHER_TOOL],
        parallel_tool_calls=False,
        **gemini_kw,
    )
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        tools=two_tools,
        parallel_tool_calls=True,
        **gemini_kw,
    )
    llmswitch.completion(
        model="gemini/gemini-2.5-pro",
        messages=MESSAGES,
        tools=two_tools,
        parallel_tool_calls=False,
        drop_params=True,
        **gemini_kw,
    )
    assert server.hits == 3
    assert all("parallel" not in json.dumps(r["body"]) for r in server.requests)


def test_gemini_history_continues_on_other_providers(server, gemini_kw):
    """A conversation begun on Gemini goes on with gpt-4o or Claude by changing the model
    string: the thought signatures carried in tool-call ids are cut off for them."""
    server.enqueue(
        json=gemini_response(
            [
                {
                    "functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
                    "thoughtSignature": "c2ln+/=",
                }
            ]
        )
    )
    r = llmswitch.completion(
        model="gemini/gemini-2.5-pro", messages=MESSAGES, tools=[WEATHER_TOOL], **gemini_kw
    )
    call = r.choices[0].message.tool_calls[0]
    history = [
        *MESSAGES,
        r.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    plain_id = call.id.split("__thought__")[0]
    llmswitch.completion(model="openai/gpt-4o", messages=history, api_base=server.base_url, api_key=KEY)
    sent = server.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == plain_id and sent[2]["tool_call_id"] == plain_id
    llmswitch.completion(
        model="anthropic/claude-sonnet-4-20250514", messages=history, api_base=server.url, api_key=KEY
    )
    blocks = server.requests[-1]["body"]["messages"]
    assert blocks[1]["content"][0]["id"] == plain_id
    assert blocks[2]["content"][0]["tool_use_id"] == plain_id
    # Gemini itself still gets the signature back.
    llmswitch.completion(model="gemini/gemini-2.5-pro", messages=history, **gemini_kw)
    assert server.requests[-1]["body"]["contents"][1]["parts"][0]["thoughtSignature"] == "c2ln+/="


@pytest.mark.parametrize("stream", [False, True])
def test_switching_provider_is_one_string(server, stream):
    """gpt-4o, Claude and Gemini answer the same call in the same OpenAI shape."""
    shapes = []
    for model, base in (
        ("openai/gpt-4o", server.base_url),
        ("anthropic/claude-sonnet-4-20250514", server.url),
        ("gemini/gemini-2.5-pro", server.url),
    ):
        r = llmswitch.completion(
            model=model,
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            tool_choice="auto",
            temperature=0.2,
            max_tokens=50,
            stream=stream,
            api_base=base,
            api_key=KEY,
            extra_headers={"x-mock-chunks": "3"},
        )
        if stream:
            chunks = list(r)
            for c in chunks:
                ChatCompletionChunk.model_validate(c)
            r = llmswitch.stream_chunk_builder(chunks)
        ChatCompletion.model_validate(r)
        choice = r.choices[0]
        shapes.append(
            (sorted(r), sorted(choice), sorted(choice.message), choice.message.content, choice.finish_reason)
        )
    assert shapes[0] == shapes[1] == shapes[2], shapes

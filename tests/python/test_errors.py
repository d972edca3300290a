"""Every provider error maps to the right exception class, with its attributes."""

from __future__ import annotations

import openai
import pytest

import llmswitch
from conftest import MESSAGES, TEST_KEY


@pytest.mark.parametrize(
    ("status", "body", "cls", "openai_cls"),
    [
        (400, {"error": {"message": "bad temperature", "type": "invalid_request_error"}}, llmswitch.BadRequestError,
         openai.BadRequestError),
        (401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}},
         llmswitch.AuthenticationError, openai.AuthenticationError),
        (403, {"error": {"message": "not allowed"}}, llmswitch.PermissionDeniedError, openai.PermissionDeniedError),
        (404, {"error": {"message": "model not found"}}, llmswitch.NotFoundError, openai.NotFoundError),
        (422, {"error": {"message": "unprocessable"}}, llmswitch.UnprocessableEntityError,
         openai.UnprocessableEntityError),
        (429, {"error": {"message": "Rate limit reached"}}, llmswitch.RateLimitError, openai.RateLimitError),
        (500, {"error": {"message": "internal"}}, llmswitch.InternalServerError, openai.InternalServerError),
        (502, {"error": {"message": "bad gateway"}}, llmswitch.ServiceUnavailableError, openai.APIStatusError),
        (503, {"error": {"message": "overloaded"}}, llmswitch.ServiceUnavailableError, openai.APIStatusError),
        (504, {"error": {"message": "gateway timeout"}}, llmswitch.ServiceUnavailableError, openai.APIStatusError),
        (418, {"error": {"message": "teapot"}}, llmswitch.APIError, openai.APIError),
        (400, {"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages "
                                    "resulted in 9000 tokens.", "code": "context_length_exceeded"}},
         llmswitch.ContextWindowExceededError, openai.BadRequestError),
        (400, {"error": {"message": "Please reduce the length of the messages."}},
         llmswitch.ContextWindowExceededError, openai.BadRequestError),
        (400, {"error": {"message": "Your request was rejected as a result of our safety system.",
                         "code": "content_policy_violation"}},
         llmswitch.ContentPolicyViolationError, openai.BadRequestError),
    ],
)  # fmt: skip
def test_status_and_body_map_to_class(server, openai_kw, status, body, cls, openai_cls):
    server.enqueue(status=status, json=body)
    with pytest.raises(cls) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    e = info.value
    assert type(e) is cls
    assert isinstance(e, openai_cls), "LiteLLM's classes subclass openai's; so do ours"
    assert isinstance(e, llmswitch.LLMSwitchError)
    assert e.status_code == status
    assert e.llm_provider == "openai" and e.model == "gpt-4o"
    # LiteLLM's form, which log parsers match on: "litellm.<ClassName>: <provider> - <message>".
    assert e.message == f"litellm.{cls.__name__}: openai - {body['error']['message']}"
    assert str(e).startswith(f"litellm.{cls.__name__}: ")
    assert e.code == body["error"].get("code", "429" if status == 429 else None)
    assert e.body == body
    assert body["error"]["message"] in str(e)


def test_retry_after_headers(server, openai_kw):
    server.enqueue(status=429, json={"error": {"message": "slow"}}, headers={"retry-after": "12"})
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert info.value.retry_after == 12.0
    assert info.value.response.headers["retry-after"] == "12.0"
    server.enqueue(status=429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "250"})
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert info.value.retry_after == 0.25


def test_non_json_error_body(server, openai_kw):
    server.enqueue(status=502, body="<html>Bad Gateway</html>")
    with pytest.raises(llmswitch.ServiceUnavailableError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert "Bad Gateway" in str(info.value)
    assert info.value.body == "<html>Bad Gateway</html>"


def test_empty_error_body(server, openai_kw):
    server.enqueue(status=500, body="")
    with pytest.raises(llmswitch.InternalServerError, match="empty body"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)


def test_error_with_200_status(server, openai_kw):
    server.enqueue(status=200, json={"error": {"message": "upstream provider failed", "code": 502}})
    with pytest.raises(llmswitch.InternalServerError, match="upstream provider failed"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)


def test_unparseable_success_body(server, openai_kw):
    server.enqueue(status=200, body="not json at all")
    with pytest.raises(llmswitch.APIError, match="Could not parse"):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)


def test_keys_are_redacted_everywhere(server):
    key = "sk-proj-SECRETSECRETSECRET1234"
    server.enqueue(
        status=401,
        json={"error": {"message": f"Incorrect API key provided: {key}. Find your key at ...", "param": key}},
    )
    with pytest.raises(llmswitch.AuthenticationError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=server.base_url, api_key=key)
    e = info.value
    for text in (str(e), repr(e), e.message, repr(e.body), repr(e.__dict__)):
        assert key not in text
        assert "SECRETSECRET" not in text


def test_key_shapes_from_other_sources_are_masked(server, openai_kw):
    server.enqueue(
        status=400,
        json={"error": {"message": "saw header Bearer abcdefghijklmnopqrstu and gsk_0123456789abcdef"}},
    )
    with pytest.raises(llmswitch.BadRequestError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert "abcdefghijklmnopqrstu" not in str(info.value)
    assert "gsk_0123456789abcdef" not in str(info.value)


def test_timeout(server, openai_kw):
    server.enqueue(delay=2.0)
    with pytest.raises(llmswitch.Timeout) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, timeout=0.2, **openai_kw)
    assert isinstance(info.value, openai.APITimeoutError)
    assert info.value.status_code == 408
    assert "timeout" in str(info.value).lower()


def test_timeout_accepts_httpx_style_object(server, openai_kw):
    class T:
        connect = 0.1
        read = 0.2
        write = None
        pool = None

    server.enqueue(delay=2.0)
    with pytest.raises(llmswitch.Timeout):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, timeout=T(), **openai_kw)


def test_connection_refused():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    with pytest.raises(llmswitch.APIConnectionError) as info:
        llmswitch.completion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=f"http://127.0.0.1:{port}/v1", api_key=TEST_KEY
        )
    assert isinstance(info.value, openai.APIConnectionError)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_dropped_connection(server, openai_kw):
    server.enqueue(disconnect=True)
    with pytest.raises(llmswitch.APIConnectionError):
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)


def test_async_errors_raise_on_await(server, openai_kw):
    import asyncio

    async def run():
        bad = llmswitch.acompletion(model="nosuch/model", messages=MESSAGES)  # no raise yet
        server.enqueue(status=429, json={"error": {"message": "slow"}})
        results = await asyncio.gather(
            bad,
            llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw),
            return_exceptions=True,
        )
        return results

    bad, limited = asyncio.run(run())
    assert isinstance(bad, llmswitch.BadRequestError)
    assert isinstance(limited, llmswitch.RateLimitError)


def test_mock_response_errors():
    with pytest.raises(llmswitch.RateLimitError):
        llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response="litellm.RateLimitError")
    with pytest.raises(llmswitch.ContextWindowExceededError):
        llmswitch.completion(
            model="gpt-4o", messages=MESSAGES, mock_response="llmswitch.ContextWindowExceededError"
        )
    with pytest.raises(llmswitch.ServiceUnavailableError) as info:
        llmswitch.completion(
            model="mock/m",
            messages=MESSAGES,
            mock_response=llmswitch.ServiceUnavailableError("down", retry_after=3),
        )
    assert info.value.retry_after == 3
    with pytest.raises(llmswitch.InternalServerError, match="boom"):
        llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response=ValueError("boom"))


def test_exceptions_construct_like_litellm():
    e = llmswitch.RateLimitError(message="slow", llm_provider="openai", model="gpt-4o")
    assert e.status_code == 429 and e.llm_provider == "openai" and e.message == "litellm.RateLimitError: slow"
    e = llmswitch.BadRequestError("bad", "anthropic", "claude")
    assert e.status_code == 400
    assert issubclass(llmswitch.ContextWindowExceededError, llmswitch.BadRequestError)
    assert issubclass(llmswitch.UnsupportedParamsError, llmswitch.BadRequestError)
    assert issubclass(llmswitch.ContentPolicyViolationError, llmswitch.BadRequestError)
    assert issubclass(llmswitch.Timeout, openai.APITimeoutError)
    assert issubclass(llmswitch.RouterRateLimitError, ValueError)
    assert llmswitch.exceptions.RateLimitError is llmswitch.RateLimitError

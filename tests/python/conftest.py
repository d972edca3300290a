"""Shared fixtures: a loopback mock provider server and helpers to call it."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from llmswitch.testing import MockServer

#: A key that looks real enough for the redaction tests; never a real key.
TEST_KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="session")
def server_session() -> Any:
    server = MockServer()
    yield server
    server.stop()


@pytest.fixture()
def server(server_session: MockServer) -> MockServer:
    """A mock provider server, with recorded requests and queued replies reset."""
    server_session.reset()
    return server_session


@pytest.fixture()
def openai_kw(server: MockServer) -> dict[str, Any]:
    """Keyword arguments that point an OpenAI-format call at the mock server."""
    return {"api_base": server.base_url, "api_key": TEST_KEY}


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real keys."""
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.endswith("_API_BASE") or name in ("OPENAI_BASE_URL",):
            monkeypatch.delenv(name, raising=False)


MESSAGES = [{"role": "user", "content": "hi"}]


def sse(obj: Any) -> str:
    """One SSE data frame."""
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj))


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    body.update(extra)
    return sse(body)

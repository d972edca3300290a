"""Every row of the OpenAI-compatible host table, end to end against the loopback mock.

Each provider is pointed at the one mock server through its own base-URL variable (or
``api_base=`` where LiteLLM has none), keeping the path of its default URL, and called with
its key in the first of its key variables. The request must arrive at the host's path with
the key in the host's auth header and the body in the host's dialect (renamed and rejected
parameters); the completion and the stream must parse as the OpenAI SDK's types; hosts with
embeddings must embed. The table's URLs themselves are checked against each host's docs in
``src/providers/openai_compatible/tests.rs``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tests' tomli dependency
    import tomli as tomllib

import llmswitch
from conftest import MESSAGES
from llmswitch.testing import MockServer

TABLE = Path(__file__).resolve().parents[2] / "src" / "data" / "openai_compatible.toml"
KEY = "sk-host-test-0123456789"
MODEL = "test-model"
DEFAULT_REPLY = "Hello from the mock server."


def _providers() -> list[tuple[str, dict[str, Any]]]:
    rows = tomllib.loads(TABLE.read_text())["host"]
    return [(name, row) for row in rows for name in [row["name"], *row.get("aliases", [])]]


PROVIDERS = _providers()


def _fill(template: str) -> str:
    """The table's base URL with every placeholder given the value "acct" (or its default)."""

    def value(match: re.Match[str]) -> str:
        _, _, default = match.group(1).partition(":-")
        return default or "acct"

    return re.sub(r"\{([^}]*)\}", value, template)


def _join(base_path: str, path: str) -> str:
    """The path llmswitch is documented to request: the base path, then the endpoint path
    without the segments the base already ends with."""
    base = base_path.rstrip("/").split("/") if base_path.strip("/") else [""]
    segments = [s for s in path.split("/") if s]
    for k in range(len(segments) - 1, 0, -1):
        if base[-k:] == segments[:k]:
            return "/".join(base + segments[k:])
    return "/".join([*base, *segments])


class Host:
    """How one provider is called at the mock, and what it must receive."""

    def __init__(self, name: str, row: dict[str, Any], server: MockServer, monkeypatch: pytest.MonkeyPatch):
        self.name, self.row = name, row
        base_path = urlsplit(_fill(row["api_base"])).path if row.get("api_base") else "/v1"
        self.base = server.url.rstrip("/") + base_path
        self.kwargs: dict[str, Any] = {}
        if row.get("api_base_env"):
            monkeypatch.setenv(row["api_base_env"][0], self.base)
        else:
            self.kwargs["api_base"] = self.base
        monkeypatch.setenv(row["api_key_env"][0], KEY)
        self.chat_path = _join(base_path, row.get("chat_path", "/chat/completions"))
        self.embeddings_path = _join(base_path, row.get("embeddings_path", "/embeddings"))
        self.rejects = set(row.get("rejects", []))
        self.renames = row.get("rename", {})

    @property
    def model(self) -> str:
        return f"{self.name}/{MODEL}"

    @property
    def sent_model(self) -> str:
        return self.row.get("model_prefix", "") + MODEL

    def assert_auth(self, request: dict[str, Any]) -> None:
        scheme = self.row.get("auth_scheme", "Bearer")
        assert request["headers"].get("authorization") == (f"{scheme} {KEY}" if scheme else KEY)


@pytest.fixture(params=[name for name, _ in PROVIDERS])
def host(request: pytest.FixtureRequest, server: MockServer, monkeypatch: pytest.MonkeyPatch) -> Host:
    return Host(request.param, dict(PROVIDERS)[request.param], server, monkeypatch)


def test_every_row_is_a_registered_provider() -> None:
    assert {name for name, _ in PROVIDERS} <= set(llmswitch.provider_list)
    assert len(PROVIDERS) >= 90


def test_completion_and_stream(host: Host, server: MockServer) -> None:
    if not host.row.get("chat", True):
        with pytest.raises(llmswitch.BadRequestError, match="embeddings only"):
            llmswitch.completion(model=host.model, messages=MESSAGES, **host.kwargs)
        assert server.hits == 0
        return

    r = llmswitch.completion(model=host.model, messages=MESSAGES, **host.kwargs)
    ChatCompletion.model_validate(r)
    assert r.choices[0].message.content == DEFAULT_REPLY
    assert r._hidden_params["custom_llm_provider"] == host.name
    (sent,) = server.requests
    assert sent["method"] == "POST"
    assert sent["path"] == host.chat_path
    host.assert_auth(sent)
    assert sent["body"]["model"] == host.sent_model or "model_format" in host.row
    assert sent["body"]["messages"] == MESSAGES

    chunks = list(llmswitch.completion(model=host.model, messages=MESSAGES, stream=True, **host.kwargs))
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    sent = server.requests[-1]
    assert sent["path"] == host.chat_path and sent["body"]["stream"] is True
    host.assert_auth(sent)
    # Usage is asked for exactly where the host honours stream_options.
    assert ("stream_options" in sent["body"]) == host.row.get("stream_usage", True)


def test_token_limit_arrives_under_the_hosts_name(host: Host, server: MockServer) -> None:
    if not host.row.get("chat", True):
        pytest.skip("embeddings only")
    if "max_tokens" in host.rejects:
        with pytest.raises(llmswitch.UnsupportedParamsError, match="max_tokens"):
            llmswitch.completion(model=host.model, messages=MESSAGES, max_tokens=7, **host.kwargs)
        assert server.hits == 0
        llmswitch.completion(
            model=host.model, messages=MESSAGES, max_tokens=7, drop_params=True, **host.kwargs
        )
        assert "max_tokens" not in server.requests[-1]["body"]
        return
    llmswitch.completion(model=host.model, messages=MESSAGES, max_completion_tokens=7, **host.kwargs)
    body = server.requests[-1]["body"]
    sent_as = host.renames.get("max_completion_tokens", "max_completion_tokens")
    assert body[sent_as] == 7
    llmswitch.completion(model=host.model, messages=MESSAGES, max_tokens=5, **host.kwargs)
    body = server.requests[-1]["body"]
    sent_as = host.renames.get("max_tokens", "max_tokens")
    assert body[sent_as] == 5
    assert set(body) & {"max_tokens", "max_completion_tokens"} == {sent_as}


def test_rejected_params_fail_before_any_request(host: Host, server: MockServer) -> None:
    if not host.row.get("chat", True) or not host.rejects:
        pytest.skip("nothing rejected")
    values = {
        "logit_bias": {"1": 1},
        "n": 2,
        "seed": 1,
        "user": "u",
        "store": True,
        "temperature": 0.5,
        "stop": "x",
    }
    param = next((p for p in values if p in host.rejects), None)
    if param is None:
        pytest.skip("no simple rejected param")
    with pytest.raises(llmswitch.UnsupportedParamsError, match=param):
        llmswitch.completion(model=host.model, messages=MESSAGES, **{param: values[param]}, **host.kwargs)
    assert server.hits == 0
    llmswitch.completion(
        model=host.model, messages=MESSAGES, drop_params=True, **{param: values[param]}, **host.kwargs
    )
    assert param not in server.requests[-1]["body"]


def test_embeddings(host: Host, server: MockServer) -> None:
    if not host.row.get("embeddings", False):
        with pytest.raises(llmswitch.BadRequestError, match="no embeddings API"):
            llmswitch.embedding(model=host.model, input=["a"], **host.kwargs)
        assert server.hits == 0
        return
    r = llmswitch.embedding(model=host.model, input=["a", "b"], **host.kwargs)
    CreateEmbeddingResponse.model_validate(r)
    assert len(r.data) == 2
    (sent,) = server.requests
    assert sent["path"] == host.embeddings_path
    host.assert_auth(sent)
    assert sent["body"]["input"] == ["a", "b"]
    assert sent["body"]["model"] == host.sent_model or "model_format" in host.row
    renamed = host.row.get("embedding_rename", {})
    if "dimensions" not in host.row.get("embedding_rejects", []):
        llmswitch.embedding(model=host.model, input=["a"], dimensions=4, **host.kwargs)
        body = server.requests[-1]["body"]
        assert body[renamed.get("dimensions", "dimensions")] == 4
        assert "dimensions" not in body or "dimensions" not in renamed


def test_clarifai_model_ids_become_model_urls(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARIFAI_API_KEY", KEY)
    kw = {"api_base": server.url + "/v2/ext/openai/v1"}
    llmswitch.completion(model="clarifai/openai.chat-completion.gpt-4o", messages=MESSAGES, **kw)
    assert server.requests[-1]["body"]["model"] == "https://clarifai.com/openai/chat-completion/models/gpt-4o"
    url = "https://clarifai.com/deepseek-ai/deepseek-chat/models/DeepSeek-R1-0528-Qwen3-8B"
    llmswitch.completion(model=f"clarifai/{url}", messages=MESSAGES, **kw)
    assert server.requests[-1]["body"]["model"] == url


def test_url_placeholders_come_from_the_environment(
    server: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_KEY", KEY)
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    with pytest.raises(llmswitch.BadRequestError, match="CLOUDFLARE_ACCOUNT_ID"):
        llmswitch.completion(model="cloudflare/@cf/meta/llama-3.1-8b-instruct", messages=MESSAGES)
    assert server.hits == 0


def test_missing_key_names_the_hosts_variables(server: MockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(llmswitch.AuthenticationError, match="HUGGINGFACE_API_KEY or HF_TOKEN"):
        llmswitch.completion(model="huggingface/deepseek-ai/DeepSeek-R1", messages=MESSAGES)
    assert server.hits == 0

"""The gateway (``llmswitch.proxy``) with the official clients: the openai SDK (sync and
async), the anthropic SDK and LangChain's ChatOpenAI, against loopback mock providers."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import llmswitch.proxy
from conftest import chunk, sse
from llmswitch.testing import MockServer

MASTER = "sk-gateway-test-master"
MOCK_REPLY = "Hello from the mock server."


def gateway_config(server: MockServer, **general: Any) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-up", "api_base": server.base_url},
                "model_info": {"id": "gpt-1"},
            },
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "sk-up",
                    "api_base": server.base_url,
                },
                "model_info": {"id": "backup-1"},
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-20250514",
                    "api_key": "sk-ant-up",
                    "api_base": server.url,
                },
                "model_info": {"id": "claude-1"},
            },
            {
                "model_name": "embed",
                "litellm_params": {
                    "model": "openai/text-embedding-3-small",
                    "api_key": "sk-up",
                    "api_base": server.base_url,
                },
            },
        ],
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "litellm_settings": {"fallbacks": [{"backup": ["gpt"]}]},
        "general_settings": {"master_key": MASTER, **general},
    }


@pytest.fixture()
def gateway(server: MockServer) -> Iterator[llmswitch.proxy.ProxyServer]:
    with llmswitch.proxy.start(gateway_config(server)) as gw:
        yield gw


@pytest.fixture()
def client(gateway: llmswitch.proxy.ProxyServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)


def tool_call_response() -> dict[str, Any]:
    return {
        "id": "chatcmpl-tool",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
    }


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


# --- the openai SDK ----------------------------------------------------------------------


def test_openai_chat(client: openai.OpenAI, server: MockServer) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": "Hi"}]
    )
    r = raw.parse()
    assert r.choices[0].message.content == MOCK_REPLY
    assert r.model == "gpt"
    assert r.usage is not None and r.usage.total_tokens == 15
    assert raw.headers["x-litellm-model-id"] == "gpt-1"
    assert float(raw.headers["x-litellm-response-cost"]) > 0
    assert len(raw.headers["x-litellm-call-id"]) == 36
    # The provider saw the deployment's key, never the gateway's.
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-up"


def test_openai_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello w1 w2 w3 w4 w5"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert all(c.model == "gpt" for c in chunks)


def test_openai_tools(client: openai.OpenAI, server: MockServer) -> None:
    server.enqueue(json=tool_call_response())
    r = client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS
    )
    call = r.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert r.choices[0].finish_reason == "tool_calls"
    assert server.requests[0]["body"]["tools"][0]["function"]["name"] == "get_weather"


def test_openai_streamed_tool_calls(client: openai.OpenAI, server: MockServer) -> None:
    frames = [
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk({}, "tool_calls"),
        sse("[DONE]"),
    ]
    server.enqueue(sse=frames)
    args = ""
    for c in client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "x"}], tools=TOOLS, stream=True
    ):
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            args += tc.function.arguments or ""
    assert json.loads(args) == {"city": "Paris"}


def test_openai_embeddings(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model="embed", input=["a", "b"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 8
    assert r.model == "embed"


def test_openai_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["gpt", "backup", "claude", "embed"]
    assert client.models.retrieve("claude").id == "claude"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_provider_errors_raise_the_sdks_own_classes(
    client: openai.OpenAI, server: MockServer, status: int, exc: type[Exception]
) -> None:
    server.enqueue(status=status, json={"error": {"message": f"upstream said {status}", "type": "x"}})
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "Hi"}])
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert f"upstream said {status}" in str(info.value)


def test_gateway_errors_raise_the_sdks_own_classes(gateway: llmswitch.proxy.ProxyServer) -> None:
    wrong = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "Hi"}])
    good = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="Invalid model name"):
        good.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.BadRequestError, match="api_base is not allowed"):
        good.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "Hi"}], extra_body={"api_base": "http://x"}
        )


def test_openai_async(gateway: llmswitch.proxy.ProxyServer) -> None:
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)
        r = await client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "Hi"}])
        text = ""
        async for c in await client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "Hi"}], stream=True
        ):
            text += c.choices[0].delta.content or "" if c.choices else ""
        await client.close()
        return r.choices[0].message.content or "", text

    full, streamed = asyncio.run(run())
    assert full == MOCK_REPLY
    assert streamed == "Hello w1 w2 w3 w4 w5"


def test_many_concurrent_async_requests(gateway: llmswitch.proxy.ProxyServer) -> None:
    async def run() -> list[str]:
        client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)
        rs = await asyncio.gather(
            *[
                client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": str(i)}])
                for i in range(50)
            ]
        )
        await client.close()
        return [r.choices[0].message.content or "" for r in rs]

    assert asyncio.run(run()) == [MOCK_REPLY] * 50


def test_fallbacks_through_the_gateway(client: openai.OpenAI, server: MockServer) -> None:
    server.enqueue(status=500, json={"error": {"message": "backup down"}})
    raw = client.chat.completions.with_raw_response.create(
        model="backup", messages=[{"role": "user", "content": "Hi"}]
    )
    assert raw.parse().choices[0].message.content == MOCK_REPLY
    assert raw.headers["x-litellm-model-id"] == "gpt-1"
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"


# --- the anthropic SDK -------------------------------------------------------------------


@pytest.fixture()
def claude(gateway: llmswitch.proxy.ProxyServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0)


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_anthropic_messages(claude: anthropic.Anthropic, model: str) -> None:
    m = claude.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    assert m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_anthropic_streaming(claude: anthropic.Anthropic, model: str) -> None:
    with claude.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_anthropic_tool_use_in_front_of_an_openai_model(
    claude: anthropic.Anthropic, server: MockServer
) -> None:
    server.enqueue(json=tool_call_response())
    m = claude.messages.create(
        model="gpt",
        max_tokens=64,
        tools=[
            {
                "name": "get_weather",
                "description": "Weather",
                "input_schema": TOOLS[0]["function"]["parameters"],
            }
        ],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert m.stop_reason == "tool_use"
    block = m.content[0]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "Paris"}
    # The tool result goes back the same way.
    server.enqueue(
        json={
            **tool_call_response(),
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "18C"}}
            ],
        }
    )
    m2 = claude.messages.create(
        model="gpt",
        max_tokens=64,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [block.model_dump()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "18C"}]},
        ],
    )
    assert m2.content[0].text == "18C"  # type: ignore[union-attr]
    sent = server.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "18C"}


def test_anthropic_streamed_tool_use(claude: anthropic.Anthropic, server: MockServer) -> None:
    frames = [
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"ci'},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
        chunk({}, "tool_calls"),
        sse("[DONE]"),
    ]
    server.enqueue(sse=frames)
    with claude.messages.stream(
        model="gpt",
        max_tokens=64,
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use" and block.id == "call_9" and block.input == {"city": "Oslo"}


def test_anthropic_errors_raise_the_sdks_classes(claude: anthropic.Anthropic, server: MockServer) -> None:
    server.enqueue(
        status=429, json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    )
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    server.enqueue(status=400, json={"error": {"message": "bad", "type": "invalid_request_error"}})
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="gpt", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])


def test_anthropic_count_tokens(claude: anthropic.Anthropic) -> None:
    n = claude.messages.count_tokens(model="gpt", messages=[{"role": "user", "content": "Hello there"}])
    assert n.input_tokens > 0


# --- LangChain ---------------------------------------------------------------------------


def test_langchain_chat_openai(gateway: llmswitch.proxy.ProxyServer) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt", base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)  # type: ignore[arg-type]
    assert llm.invoke("Hi").content == MOCK_REPLY
    assert "".join(str(c.content) for c in llm.stream("Hi")) == "Hello w1 w2 w3 w4 w5"


# --- auth over the wire ------------------------------------------------------------------


def raw_request(
    gw: llmswitch.proxy.ProxyServer, method: str, path: str, headers: list[tuple[str, str]]
) -> int:
    """A request sent as written: no path normalisation, headers repeated as given."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_auth_over_the_wire(gateway: llmswitch.proxy.ProxyServer) -> None:
    auth = ("Authorization", f"Bearer {MASTER}")
    host = ("Host", "localhost")
    assert raw_request(gateway, "GET", "/health/liveliness", [host]) == 200
    assert raw_request(gateway, "GET", "/v1/models", [host]) == 401
    assert raw_request(gateway, "GET", "/v1/models", [host, ("Authorization", "Bearer sk-wrong")]) == 401
    assert raw_request(gateway, "GET", "/v1/models", [host, auth]) == 200
    assert raw_request(gateway, "GET", "/v1/models", [host, auth, auth]) == 401
    assert raw_request(gateway, "GET", "/v1/models", [host, auth, ("x-api-key", "sk-other")]) == 401
    for path in [
        "//v1/models",
        "/v1/../v1/models",
        "/v1/%2e%2e/metrics",
        "/v1%2Fmodels",
        "/health/liveliness/../../metrics",
    ]:
        assert raw_request(gateway, "GET", path, [host]) == 404, path
    for h in ["localhost", "admin.internal", "127.0.0.1:1"]:
        assert raw_request(gateway, "GET", "/metrics", [("Host", h)]) == 401, h


# --- lifecycle ---------------------------------------------------------------------------


def test_start_accepts_a_yaml_path_and_stops(tmp_path: Any, server: MockServer) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(gateway_config(server)))  # JSON is YAML
    gw = llmswitch.proxy.start(str(path))
    with urllib.request.urlopen(gw.url + "/health/liveliness") as r:
        assert json.loads(r.read()) == "I'm alive!"
    assert gw.stop() is True
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(gw.url + "/health/liveliness", timeout=2)


def test_bad_config_names_the_key(server: MockServer) -> None:
    cfg = gateway_config(server, max_request_size_mb="lots")
    with pytest.raises(
        ValueError, match=r"general_settings\.max_request_size_mb: expected a positive number"
    ):
        llmswitch.proxy.start(cfg)
    with pytest.raises(ValueError, match="refusing to start: no master key"):
        llmswitch.proxy.start({"model_list": []})


def test_graceful_shutdown_finishes_in_flight_streams(server: MockServer) -> None:
    frames = [chunk({"content": f"w{i} "}) for i in range(20)] + [chunk({}, "stop"), sse("[DONE]")]
    n = 12
    for _ in range(n):
        server.enqueue(sse=frames, chunk_delay=0.02)
    gw = llmswitch.proxy.start(gateway_config(server))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER, max_retries=0)
    results: list[str] = []
    started = threading.Barrier(n + 1)

    def consume() -> None:
        stream = client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "x"}], stream=True
        )
        started.wait()
        results.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    threads = [threading.Thread(target=consume) for _ in range(n)]
    for t in threads:
        t.start()
    started.wait()
    assert gw.stop() is True  # every stream finished within the grace period
    for t in threads:
        t.join()
    expected = "".join(f"w{i} " for i in range(20))
    assert results == [expected] * n


def wait_ready(url: str, deadline: float) -> float:
    started = time.monotonic()
    req = urllib.request.Request(url + "/health/readiness", headers={"Authorization": f"Bearer {MASTER}"})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except OSError:  # refused, reset, or not answered yet (a read timeout): ask again
            time.sleep(0.005)
    raise AssertionError("the gateway did not become ready")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_exits_0_on_signal(tmp_path: Any, server: MockServer, sig: int) -> None:
    path = tmp_path / "config.json"  # JSON is YAML
    path.write_text(json.dumps(gateway_config(server)))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmswitch", "proxy", "--config", str(path), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", time.monotonic() + 30)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "listening on" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_exits_0_on_sigint_when_started_with_sigint_ignored(tmp_path: Any, server: MockServer) -> None:
    # A background job of a shell script (and a test runner started from one) starts its
    # children with SIGINT ignored; the gateway must still stop on it.
    path = tmp_path / "config.json"
    path.write_text(json.dumps(gateway_config(server)))
    import shlex
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = shlex.join([sys.executable, "-m", "llmswitch", "proxy", "--config", str(path), "--port", str(port)])
    proc = subprocess.Popen(["sh", "-c", f"trap '' INT; exec {cmd}"], stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", time.monotonic() + 30)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_the_ready_callback_runs_before_the_gateway_answers(tmp_path: Any, server: MockServer) -> None:
    # A client that got an answer may signal at once (the test above): the callback that
    # logs "listening on" must have run by then, or Ctrl-C's KeyboardInterrupt cuts it short.
    path = tmp_path / "config.json"
    path.write_text(json.dumps(gateway_config(server)))
    marker = tmp_path / "ready"
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = (
        "import pathlib, time\n"
        "from llmswitch._llmswitch import _proxy_serve\n"
        "def ready(url):\n"
        "    time.sleep(1.0)  # a slow callback: readiness must wait for it\n"
        f"    pathlib.Path({str(marker)!r}).write_text(url)\n"
        f"_proxy_serve({str(path)!r}, '127.0.0.1', {port}, on_ready=ready)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", time.monotonic() + 30)
        assert marker.exists(), "the gateway answered before its ready callback had run"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_reports_a_bad_config_and_exits_1(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "general_settings:\n  master_key: sk-a-real-one\nlitellm_settings:\n  drop_params: maybe\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "llmswitch", "proxy", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"{path}: litellm_settings.drop_params: expected true or false" in proc.stderr

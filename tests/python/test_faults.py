"""Provider faults, for every provider family: a loopback server that misbehaves on purpose
(``faults.py``). Each call ends in the right exception within its timeout plus one second,
or succeeds with the right content; nothing hangs (pytest-timeout is the guard)."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import pathlib
import resource
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from faults import (
    FAMILIES,
    Family,
    FaultServer,
    close_before_headers,
    drip,
    endless_event,
    gzip_bomb,
    headers_never_come,
    partial_head,
    redirect,
    reset_before_headers,
    respond,
    trickle,
)

import llmswitch

pytestmark = pytest.mark.timeout(60)

MESSAGES = [{"role": "user", "content": "hi"}]
TIMEOUT = 2.5
# "In time": the call's timeout plus slack for a loaded 2-core machine, kept under two
# timeouts so a hidden second attempt still shows.
IN_TIME = TIMEOUT + 2.4
SERVICE_ACCOUNT = pathlib.Path(__file__).parent.parent / "data" / "vertex_test_service_account.json"


@pytest.fixture(scope="module")
def fault() -> Iterator[FaultServer]:
    s = FaultServer()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "VERTEXAI_PROJECT",
        "VERTEX_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


def _vertex(token_url: str) -> Family:
    """Gemini on Vertex AI: the token comes from the well-behaved mock, the call goes to
    the faulty server."""
    sa = json.loads(SERVICE_ACCOUNT.read_text())
    sa["token_uri"] = token_url + "/token"
    sa["private_key_id"] = f"fault-{uuid.uuid4().hex}"
    gemini = next(f for f in FAMILIES if f.name == "gemini")
    return dataclasses.replace(
        gemini,
        name="vertex_ai",
        model="vertex_ai/gemini-2.5-flash",
        kwargs=lambda url: {"api_base": url, "vertex_credentials": sa, "vertex_location": "us-central1"},
    )


FAMILY_NAMES = [f.name for f in FAMILIES] + ["vertex_ai"]


@pytest.fixture(params=FAMILY_NAMES)
def family(request: pytest.FixtureRequest, server: Any) -> Family:
    if request.param == "vertex_ai":
        return _vertex(server.url)
    return next(f for f in FAMILIES if f.name == request.param)


def call(family: Family, fault: FaultServer, stream: bool = False, **extra: Any) -> Any:
    kw = {"timeout": TIMEOUT, "num_retries": 0, **family.kwargs(fault.url), **extra}
    return llmswitch.completion(model=family.model, messages=MESSAGES, stream=stream, **kw)


def consume(stream: Any) -> str:
    text = ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
    return text


def raises_within(
    exc: type[BaseException] | tuple[type[BaseException], ...], fn: Any, limit: float = IN_TIME
) -> Any:
    start = time.monotonic()
    with pytest.raises(exc) as info:
        fn()
    elapsed = time.monotonic() - start
    assert elapsed < limit, f"{info.value!r} after {elapsed:.2f} s"
    assert isinstance(info.value, openai.APIError), repr(info.value)
    return info.value


def closed_port() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# ---- before any byte of the response -------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_connection_refused(family: Family, stream: bool) -> None:
    kw = {"timeout": TIMEOUT, "num_retries": 0, **family.kwargs(closed_port())}
    e = raises_within(
        llmswitch.APIConnectionError,
        lambda: (
            consume(llmswitch.completion(model=family.model, messages=MESSAGES, stream=True, **kw))
            if stream
            else llmswitch.completion(model=family.model, messages=MESSAGES, **kw)
        ),
    )
    assert e.llm_provider


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("action", [reset_before_headers, close_before_headers, partial_head])
def test_broken_before_headers(family: Family, fault: FaultServer, stream: bool, action: Any) -> None:
    fault.serve(action)
    if action is partial_head:
        raises_within(
            llmswitch.Timeout, lambda: consume(call(family, fault, stream)) if stream else call(family, fault)
        )
    else:
        raises_within(
            llmswitch.APIConnectionError,
            lambda: consume(call(family, fault, stream)) if stream else call(family, fault),
        )


@pytest.mark.parametrize("stream", [False, True])
def test_headers_never_come(family: Family, fault: FaultServer, stream: bool) -> None:
    fault.serve(headers_never_come)
    e = raises_within(
        llmswitch.Timeout, lambda: consume(call(family, fault, stream)) if stream else call(family, fault)
    )
    assert e.status_code == 408


# ---- bodies --------------------------------------------------------------------------


def test_reset_mid_body(family: Family, fault: FaultServer) -> None:
    body = family.answer("a complete answer " * 50)
    fault.serve(respond(200, body[: len(body) // 2], content_length=len(body), then="reset"))
    raises_within(llmswitch.APIConnectionError, lambda: call(family, fault))


def test_body_shorter_than_its_length(family: Family, fault: FaultServer) -> None:
    body = family.answer("a complete answer")
    fault.serve(respond(200, body[:-10], content_length=len(body)))
    raises_within(llmswitch.APIConnectionError, lambda: call(family, fault))


def test_slow_drip_body_times_out(family: Family, fault: FaultServer) -> None:
    fault.serve(drip(family.answer("slow"), every=0.1))
    raises_within(llmswitch.Timeout, lambda: call(family, fault))


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00garbage\xc3",
        b"",
        b"null",
        b"[]",
        b'"a string"',
        b"12",
        b'{"unexpected": true}',
    ],
    ids=["invalid", "binary", "empty", "null", "array", "string", "number", "wrong-shape"],
)
def test_unusable_success_body(family: Family, fault: FaultServer, body: bytes) -> None:
    fault.serve(respond(200, body))
    e = raises_within(openai.APIError, lambda: call(family, fault))
    assert e.status_code >= 500 or isinstance(e, llmswitch.APIConnectionError), repr(e)


def test_200_with_an_error_body(family: Family, fault: FaultServer) -> None:
    fault.serve(respond(200, family.error_200))
    e = raises_within(openai.APIError, lambda: call(family, fault))
    assert e.status_code >= 500, repr(e)


def test_split_utf8_and_large_answer_arrive_whole(family: Family, fault: FaultServer) -> None:
    text = "héllo wörld 😀 " * 300_000  # ~5 MB
    body = family.answer(text)
    # Every piece boundary falls inside a multi-byte character.
    cuts = [i for i in range(1, len(body)) if body[i] & 0xC0 == 0x80][:50:7]
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
    fault.serve(respond(200, pieces, pause=0.005))
    r = call(family, fault, timeout=30)
    assert r.choices[0].message.content == text


# ---- streams -------------------------------------------------------------------------


def frames_type(family: Family) -> dict[str, Any]:
    return {"content_type": family.stream_type, "chunked": True}


def test_stream_reset_mid_stream(family: Family, fault: FaultServer) -> None:
    frames = family.frames("partial")
    fault.serve(respond(200, frames[:2], pause=0.01, then="reset", **frames_type(family)))
    raises_within(llmswitch.APIConnectionError, lambda: consume(call(family, fault, True)))


def test_stream_truncated_inside_a_frame(family: Family, fault: FaultServer) -> None:
    frames = family.frames("partial")
    cut = frames[2][: len(frames[2]) // 2]
    fault.serve(respond(200, [*frames[:2], cut], pause=0.01, then="truncate", **frames_type(family)))
    raises_within(llmswitch.APIConnectionError, lambda: consume(call(family, fault, True)))


def test_stream_stalls_after_a_frame(family: Family, fault: FaultServer) -> None:
    frames = family.frames("partial")
    fault.serve(respond(200, frames[:2], then="hang", **frames_type(family)))
    raises_within(llmswitch.Timeout, lambda: consume(call(family, fault, True)))


@pytest.mark.parametrize("where", ["before-the-first-event", "after-a-frame"])
def test_stream_that_trickles_bytes_times_out(family: Family, fault: FaultServer, where: str) -> None:
    # Bytes keep arriving (one every 50 ms), but no event ever completes: `timeout=` holds
    # between events however the bytes arrive (issue 14's fault 4), blocking and async.
    start, filler = endless_event(family)
    prefix = [start] if where == "before-the-first-event" else [*family.frames("partial")[:2], start]
    fault.serve(trickle(family.stream_type, prefix, filler))
    raises_within(llmswitch.Timeout, lambda: consume(call(family, fault, True)))

    async def stream_once() -> None:
        kw = {"timeout": TIMEOUT, "num_retries": 0, **family.kwargs(fault.url)}
        s = await llmswitch.acompletion(model=family.model, messages=MESSAGES, stream=True, **kw)
        async for _ in s:
            pass

    raises_within(llmswitch.Timeout, lambda: asyncio.run(stream_once()))


def test_stream_split_utf8_and_a_multi_megabyte_event(family: Family, fault: FaultServer) -> None:
    text = "héllo wörld 😀 " * 300_000  # one ~5 MB event
    data = b"".join(family.frames(text))
    cuts = [i for i in range(1, len(data)) if data[i] & 0xC0 == 0x80][:60:7]
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    fault.serve(respond(200, pieces, pause=0.005, **frames_type(family)))
    assert consume(call(family, fault, True, timeout=30)) == text


def test_stream_garbage_frame(family: Family, fault: FaultServer) -> None:
    frames = family.frames("x")
    if family.stream_type == "application/vnd.amazon.eventstream":
        garbage = b"\x00\x00\x00\x20\x00\x00\x00\x00\xde\xad\xbe\xef" + b"\xff" * 20
    elif family.stream_type == "application/x-ndjson":
        garbage = b"\xff\xfe{garbage\xc3\n"
    else:
        garbage = b"data: \xff\xfe{garbage\xc3\n\n"
    fault.serve(respond(200, [frames[0], garbage, *frames[1:]], pause=0.01, **frames_type(family)))
    raises_within(openai.APIError, lambda: consume(call(family, fault, True)))


# ---- redirects, encodings, size ------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_host_is_not_followed(family: Family, fault: FaultServer, status: int) -> None:
    other = FaultServer()
    try:
        other.serve(respond(200, family.answer("from elsewhere")))
        fault.serve(redirect(status, other.url + "/elsewhere"))
        e = raises_within(openai.APIError, lambda: call(family, fault))
        assert str(status) in str(e)
        # Nothing went to the other host: not the key, not the body.
        assert other.requests == []
    finally:
        other.stop()


def test_redirect_loop_ends(family: Family, fault: FaultServer) -> None:
    fault.serve(redirect(307, fault.url + "/again"))
    raises_within(openai.APIError, lambda: call(family, fault))
    assert len(fault.requests) <= 11


def test_gzip_bomb_is_bounded(family: Family, fault: FaultServer) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fault.serve(respond(200, gzip_bomb(2 << 30), headers={"Content-Encoding": "gzip"}))
    raises_within(openai.APIError, lambda: call(family, fault, timeout=10), limit=10 + 2.4)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"peak RSS grew {grown_mib:.0f} MiB"


def test_oversized_response_is_refused(
    family: Family, fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmswitch, "max_response_bytes", 1 << 20)
    body = family.answer("x" * (1 << 20))
    fault.serve(respond(200, [body[i : i + 65536] for i in range(0, len(body), 65536)]))
    e = raises_within(openai.APIError, lambda: call(family, fault))
    assert "max_response_bytes" in str(e)


def test_default_cap_and_environment(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    assert llmswitch.max_response_bytes == 256 * 1024 * 1024
    out = subprocess.run(
        [sys.executable, "-c", "import llmswitch; print(llmswitch.max_response_bytes)"],
        env={"LLMSWITCH_MAX_RESPONSE_BYTES": "12345", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "12345"


def test_response_without_length_over_the_cap_is_refused(
    fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    family = FAMILIES[0]
    monkeypatch.setattr(llmswitch, "max_response_bytes", 1 << 20)
    body = family.answer("x" * (2 << 20))
    fault.serve(respond(200, [body[i : i + 65536] for i in range(0, len(body), 65536)], chunked=True))
    e = raises_within(openai.APIError, lambda: call(family, fault))
    assert "max_response_bytes" in str(e)
    # Under the cap it is fine.
    small = family.answer("y" * 1000)
    fault.serve(respond(200, small, chunked=True))
    assert call(family, fault).choices[0].message.content == "y" * 1000


def test_stream_event_over_the_cap_is_refused(
    family: Family, fault: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmswitch, "max_response_bytes", 1 << 20)
    data = b"".join(family.frames("z" * (2 << 20)))
    fault.serve(
        respond(200, [data[i : i + 65536] for i in range(0, len(data), 65536)], **frames_type(family))
    )
    e = raises_within(openai.APIError, lambda: consume(call(family, fault, True)))
    assert "max_response_bytes" in str(e)


# ---- through the Router and the gateway ----------------------------------------------

# Faults that happen before any chunk: a retry or a fallback can still answer.
EARLY_FAULTS = {
    "refused": None,
    "reset-before-headers": reset_before_headers,
    "close-before-headers": close_before_headers,
    "headers-never-come": headers_never_come,
    "invalid-json": respond(200, b"{not json"),
    "200-error": respond(200, FAMILIES[0].error_200),
    "500": respond(500, FAMILIES[0].error_200),
    "reset-mid-body": respond(200, b'{"id": "x", "choi', content_length=400, then="reset"),
    "redirect-elsewhere": redirect(307, "http://127.0.0.1:9/v1/chat/completions"),
    "stream-reset-before-first-chunk": respond(
        200, b": ping\n\n", "text/event-stream", chunked=True, then="reset"
    ),
    # Streams without a single event (issue 14's fault 5): a retryable APIConnectionError.
    "stream-empty-200": respond(200, b"", "text/event-stream"),
    "stream-json-instead-of-sse": respond(200, FAMILIES[0].answer("not a stream")),
    "stream-compressed": respond(
        200,
        gzip.compress(b"".join(FAMILIES[0].frames("compressed"))),
        "text/event-stream",
        headers={"Content-Encoding": "gzip"},
    ),
    # Bytes keep coming, one every 50 ms, but the first event never completes (fault 4).
    "stream-trickle-before-first-event": trickle("text/event-stream", [b"data: "]),
}

# Faults only a stream can meet (a JSON answer is a fine non-streaming reply).
STREAM_ONLY = {n for n in EARLY_FAULTS if n.startswith("stream-")}


def early_cases(names: Any = EARLY_FAULTS) -> list[Any]:
    return [(n, s) for n in names for s in (False, True) if s or n not in STREAM_ONLY]


def fault_base(fault: FaultServer, name: str) -> str:
    return closed_port() + "/v1" if EARLY_FAULTS[name] is None else fault.url + "/v1"


def router_deployments(bad_base: str, good: Any) -> list[dict[str, Any]]:
    def dep(group: str, dep_id: str, base: str) -> dict[str, Any]:
        return {
            "model_name": group,
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_key": "sk-fault-0123456789abcdef",
                "api_base": base,
                "timeout": TIMEOUT,
            },
            "model_info": {"id": dep_id},
        }

    return [
        dep("bad", "bad-1", bad_base),
        dep("good", "good-1", good.base_url),
        dep("mixed", "mixed-bad", bad_base),
        dep("mixed", "mixed-good", good.base_url),
    ]


@pytest.mark.parametrize(("name", "stream"), early_cases())
def test_router_falls_back_and_retries_past_early_faults(
    fault: FaultServer, server: Any, name: str, stream: bool
) -> None:
    if EARLY_FAULTS[name] is not None:
        fault.serve(EARLY_FAULTS[name])
    router = llmswitch.Router(
        model_list=router_deployments(fault_base(fault, name), server),
        fallbacks=[{"bad": ["good"]}],
        num_retries=0,
        disable_cooldowns=True,
    )

    def answer(r: Any) -> str:
        return consume(r) if stream else r.choices[0].message.content

    start = time.monotonic()
    # Fallback to another group.
    assert answer(router.completion(model="bad", messages=MESSAGES, stream=stream)).startswith("Hello")
    # A retry within the group, on its other deployment.
    for _ in range(3):
        assert answer(
            router.completion(model="mixed", messages=MESSAGES, stream=stream, num_retries=1)
        ).startswith("Hello")
    assert time.monotonic() - start < 4 * IN_TIME
    # With nowhere else to go, the fault's own error, in time.
    only = llmswitch.Router(model_list=router_deployments(fault_base(fault, name), server)[:1], num_retries=0)
    raises_within(
        openai.APIError, lambda: answer(only.completion(model="bad", messages=MESSAGES, stream=stream))
    )


def test_router_stream_broken_after_chunks_raises(fault: FaultServer, server: Any) -> None:
    family = FAMILIES[0]
    fault.serve(respond(200, family.frames("partial")[:2], pause=0.01, then="reset", **frames_type(family)))
    router = llmswitch.Router(
        model_list=router_deployments(fault.url + "/v1", server), fallbacks=[{"bad": ["good"]}], num_retries=0
    )
    raises_within(
        llmswitch.APIConnectionError,
        lambda: consume(router.completion(model="bad", messages=MESSAGES, stream=True)),
    )


def test_router_stream_trickling_after_chunks_times_out(fault: FaultServer, server: Any) -> None:
    family = FAMILIES[0]
    fault.serve(trickle(family.stream_type, [*family.frames("partial")[:2], b"data: "]))
    router = llmswitch.Router(
        model_list=router_deployments(fault.url + "/v1", server), fallbacks=[{"bad": ["good"]}], num_retries=0
    )
    got: list[str] = []

    def read() -> None:
        for c in router.completion(model="bad", messages=MESSAGES, stream=True):
            got.append(c.choices[0].delta.content or "")

    raises_within(llmswitch.Timeout, read)
    assert "".join(got) == "partial"  # chunks handed out: no fallback after them


@pytest.fixture()
def gateway(fault: FaultServer, server: Any) -> Iterator[Any]:
    import llmswitch.proxy

    deps = router_deployments(fault.url + "/v1", server)
    config = {
        "model_list": deps,
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "litellm_settings": {"fallbacks": [{"bad": ["good"]}]},
        "general_settings": {"master_key": "sk-gw-fault-master"},
    }
    with llmswitch.proxy.start(config) as gw:
        yield gw


@pytest.mark.parametrize(("name", "stream"), early_cases([n for n in EARLY_FAULTS if n != "refused"]))
def test_gateway_falls_back_past_early_faults(
    fault: FaultServer, gateway: Any, name: str, stream: bool
) -> None:
    fault.serve(EARLY_FAULTS[name])
    client = openai.OpenAI(
        base_url=gateway.url + "/v1", api_key="sk-gw-fault-master", max_retries=0, timeout=30
    )
    r = client.chat.completions.create(model="bad", messages=MESSAGES, stream=stream)  # type: ignore[call-overload]
    text = (
        "".join(c.choices[0].delta.content or "" for c in r if c.choices)
        if stream
        else r.choices[0].message.content
    )
    assert text.startswith("Hello")


def test_gateway_stream_broken_after_chunks_ends_the_client_stream(fault: FaultServer, server: Any) -> None:
    import llmswitch.proxy

    family = FAMILIES[0]
    fault.serve(respond(200, family.frames("partial")[:2], pause=0.01, then="reset", **frames_type(family)))
    deps = router_deployments(fault.url + "/v1", server)[:1]
    config = {
        "model_list": deps,
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": "sk-gw-fault-master"},
    }
    with llmswitch.proxy.start(config) as gw:
        client = openai.OpenAI(
            base_url=gw.url + "/v1", api_key="sk-gw-fault-master", max_retries=0, timeout=30
        )
        start = time.monotonic()
        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(model="bad", messages=MESSAGES, stream=True):
                pass
        assert time.monotonic() - start < IN_TIME
        # A stream that trickles bytes after its chunks ends the client's stream in time.
        fault.serve(trickle(family.stream_type, [*family.frames("partial")[:2], b"data: "]))
        start = time.monotonic()
        got = []
        with pytest.raises(openai.APIError):
            for c in client.chat.completions.create(model="bad", messages=MESSAGES, stream=True):
                got.append(c.choices[0].delta.content or "" if c.choices else "")
        assert time.monotonic() - start < IN_TIME
        assert "".join(got) == "partial"
        # Faults before any byte come back as the provider error's status, in time.
        for action, status in (
            (reset_before_headers, 500),
            (headers_never_come, 408),
            (respond(200, b"{not json"), 500),
            (trickle("application/json", [b"{"]), 408),
        ):
            fault.serve(action)
            start = time.monotonic()
            with pytest.raises(openai.APIStatusError) as info:
                client.chat.completions.create(model="bad", messages=MESSAGES)
            assert info.value.status_code == status
            assert time.monotonic() - start < IN_TIME


# ---- embeddings and async calls --------------------------------------------------------

EMBEDDING_MODELS = {
    "openai": "openai/text-embedding-3-small",
    "mistral": "mistral/mistral-embed",
    "azure": "azure/my-embeddings",
    "gemini": "gemini/text-embedding-004",
    "cohere": "cohere/embed-v4.0",
    "ollama": "ollama/nomic-embed-text",
    "bedrock": "bedrock/amazon.titan-embed-text-v2:0",
}

EMBEDDING_FAULTS = {
    "reset-before-headers": (reset_before_headers, llmswitch.APIConnectionError),
    "headers-never-come": (headers_never_come, llmswitch.Timeout),
    "reset-mid-body": (
        respond(200, b'{"data": [{"embedd', content_length=500, then="reset"),
        llmswitch.APIConnectionError,
    ),
    "invalid-json": (respond(200, b"{not json"), openai.APIError),
    "wrong-shape": (respond(200, b'{"unexpected": [1, 2]}'), openai.APIError),
    "oversized": (respond(200, b"[" + b"0.125, " * 200_000 + b"0]"), openai.APIError),
}


@pytest.mark.parametrize("fault_name", list(EMBEDDING_FAULTS))
@pytest.mark.parametrize("name", list(EMBEDDING_MODELS))
def test_embedding_faults(
    fault: FaultServer, name: str, fault_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llmswitch, "max_response_bytes", 1 << 20)
    family = next(f for f in FAMILIES if f.name == name)
    action, exc = EMBEDDING_FAULTS[fault_name]
    fault.serve(action)
    kw = {"timeout": TIMEOUT, "num_retries": 0, **family.kwargs(fault.url)}
    # Titan on Bedrock embeds one text per request.
    inputs = "a" if name == "bedrock" else ["a", "b"]
    raises_within(exc, lambda: llmswitch.embedding(model=EMBEDDING_MODELS[name], input=inputs, **kw))


ASYNC_FAULTS = {
    "reset-before-headers": (reset_before_headers, llmswitch.APIConnectionError),
    "headers-never-come": (headers_never_come, llmswitch.Timeout),
    "invalid-json": (respond(200, b"{not json"), openai.APIError),
}


@pytest.mark.parametrize("fault_name", list(ASYNC_FAULTS))
def test_async_calls_and_streams(family: Family, fault: FaultServer, fault_name: str) -> None:
    action, exc = ASYNC_FAULTS[fault_name]
    fault.serve(action)
    kw = {"timeout": TIMEOUT, "num_retries": 0, **family.kwargs(fault.url)}

    async def call_once() -> None:
        await llmswitch.acompletion(model=family.model, messages=MESSAGES, **kw)

    async def stream_once() -> None:
        s = await llmswitch.acompletion(model=family.model, messages=MESSAGES, stream=True, **kw)
        async for _ in s:
            pass

    raises_within(exc, lambda: asyncio.run(call_once()))
    # Invalid JSON for a stream: no events (an APIConnectionError, fault 5) or, where a
    # line is a frame (NDJSON), a garbage frame (an APIError).
    raises_within(exc, lambda: asyncio.run(stream_once()))
    # A stream stalled after its first frame, async.
    fault.serve(respond(200, family.frames("partial")[:2], then="hang", **frames_type(family)))
    raises_within(llmswitch.Timeout, lambda: asyncio.run(stream_once()))

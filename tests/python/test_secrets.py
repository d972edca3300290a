"""Secrets: recognisable keys in every credential position (parameters, environment,
headers, Anthropic's and Azure's key headers, Vertex AI's service account and its access
token, AWS's secret key and session token, the gateway's master, virtual and upstream keys),
with providers that echo them back in errors, and a grep of every output channel:
exceptions (str, repr, attributes, body), responses and stream chunks (repr,
``_hidden_params``), callback kwargs, logs at every level, standard output and error, the
spend ledger and its SQLite file, Router stats and repr, the gateway's responses (errors,
models, model info, metrics, spend logs, key info) and its SQLite state file.

Passwords in ``api_base`` user-info (``http://user:SECRET@host/v1``) are grepped for in the
same channels, for the library, the Router and the gateway."""

from __future__ import annotations

import hashlib
import json
import logging
import pathlib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import llmswitch
from llmswitch.testing import MockServer

# Long, distinctive and each different: a hit is never a coincidence.
OPENAI_KEY = "sk-proj-SECRETopenaiKEY0123456789abcdef"
ENV_KEY = "sk-proj-SECRETenvKEY0123456789abcdef"
HEADER_KEY = "sk-SECREThdrKEY0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-api03-SECRETanthropicKEY0123456789"
AZURE_KEY = "SECRETazureKEY0123456789abcdef0123"
GEMINI_KEY = "AIzaSECRETgeminiKEY0123456789abcdef"
AWS_SECRET = "SECRETawsSECRETkey0123456789abcdef0123"
AWS_SESSION = "SECRETawsSESSIONtoken0123456789abcdef"
AWS_MOCK_SECRET = "mock-secret-AKIDMOCKPYTEST"  # the secret the mock checks signatures with
MASTER = "sk-SECRETmasterKEY0123456789abcdef"
UPSTREAM = "sk-SECRETupstreamKEY0123456789abcdef"
VERTEX_TOKEN = "ya29.mock-access-token"  # what the mock's token endpoint hands out
USERINFO = "SECRETuserinfoPASS0123456789abcdef"  # the password in api_base's user-info

SECRETS = [
    OPENAI_KEY,
    ENV_KEY,
    HEADER_KEY,
    ANTHROPIC_KEY,
    AZURE_KEY,
    GEMINI_KEY,
    AWS_SECRET,
    AWS_SESSION,
    AWS_MOCK_SECRET,
    MASTER,
    UPSTREAM,
    VERTEX_TOKEN,
    USERINFO,
]
# A secret's middle is enough to find it cut, masked at its ends, or re-encoded.
FRAGMENTS = [s[6:-6] for s in SECRETS]
SERVICE_ACCOUNT = pathlib.Path(__file__).parent.parent / "data" / "vertex_test_service_account.json"
MESSAGES = [{"role": "user", "content": "hi"}]


def leaks(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f in text]


class Channels:
    """Everything collected from the output channels, grepped at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, *objs: Any) -> None:
        for obj in objs:
            self.texts.append(obj if isinstance(obj, str) else repr(obj))
            if isinstance(obj, BaseException):
                self.texts.append(str(obj))
                self.texts.append(repr(vars(obj)))
                for attr in ("message", "body", "response", "llm_provider", "model"):
                    self.texts.append(repr(getattr(obj, attr, None)))
            hidden = getattr(obj, "_hidden_params", None)
            if hidden is not None:
                self.texts.append(repr(hidden))
            if isinstance(obj, dict):
                self.texts.append(json.dumps(obj, default=repr))

    def check(self) -> None:
        found = {
            f: (i, t[max(0, t.find(f) - 300) : t.find(f) + 60])
            for i, t in enumerate(self.texts)
            for f in leaks(t)
        }
        assert not found, f"secrets leaked: {found}"


@pytest.fixture()
def channels(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[Channels]:
    c = Channels()
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    seen: list[Any] = []

    def success(kwargs: Any, response: Any, start: Any, end: Any) -> None:
        seen.append((kwargs, response))

    def failure(kwargs: Any, response: Any, start: Any, end: Any) -> None:
        seen.append((kwargs, response))

    old = (llmswitch.success_callback, llmswitch.failure_callback)
    llmswitch.success_callback = [success]
    llmswitch.failure_callback = [failure]
    try:
        yield c
    finally:
        llmswitch.success_callback, llmswitch.failure_callback = old
    for kwargs, response in seen:
        c.add(kwargs, response)
    c.texts.extend(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    c.texts.extend([out, err])
    assert seen, "the callbacks saw nothing: the test did not exercise them"
    c.check()


def echo_error(server: MockServer, status: int, *secrets: str) -> None:
    """A provider that echoes what it was sent: the key, in the message and elsewhere."""
    text = " ".join(secrets)
    server.enqueue(
        status=status,
        json={
            "error": {
                "message": f"Incorrect API key provided: {text}",
                "param": text,
                "type": "auth",
                "code": text,
            },
            "type": "error",
            "message": f"bad key {text}",
        },
        headers={"x-echo": text},
    )


def exercise(
    channels: Channels, server: MockServer, model: str, status: int, secrets: tuple[str, ...], **kw: Any
) -> None:
    """A success, a stream read to the end, and an error that echoes the secrets."""
    channels.add(llmswitch.completion(model=model, messages=MESSAGES, **kw))
    chunks = list(llmswitch.completion(model=model, messages=MESSAGES, stream=True, **kw))
    channels.add(chunks, llmswitch.stream_chunk_builder(chunks))
    echo_error(server, status, *secrets)
    with pytest.raises(Exception) as info:
        llmswitch.completion(model=model, messages=MESSAGES, num_retries=0, **kw)
    channels.add(info.value)


@pytest.fixture()
def ledger(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    path = tmp_path / "ledger.sqlite"
    llmswitch.spend.enable(path)
    try:
        yield path
    finally:
        llmswitch.spend.disable()


def grep_ledger(channels: Channels, path: pathlib.Path) -> None:
    llmswitch.spend.flush()
    channels.add(
        llmswitch.spend.records(),
        str(llmswitch.spend_report()),
        str(llmswitch.spend_report(group_by="model")),
    )
    for f in path.parent.iterdir():
        if f.name.startswith(path.name):
            data = f.read_bytes().decode("latin-1")
            assert not leaks(data), f"secret in {f.name}"


def test_library_keys_in_every_position(
    channels: Channels, server: MockServer, ledger: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parameter.
    exercise(
        channels, server, "openai/gpt-4o", 401, (OPENAI_KEY,), api_base=server.base_url, api_key=OPENAI_KEY
    )
    # The environment.
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    exercise(channels, server, "openai/gpt-4o", 401, (ENV_KEY,), api_base=server.base_url)
    # Headers the caller adds.
    exercise(
        channels,
        server,
        "openai/gpt-4o",
        400,
        (HEADER_KEY,),
        api_base=server.base_url,
        api_key=OPENAI_KEY,
        extra_headers={"Authorization": f"Bearer {HEADER_KEY}", "X-Api-Key": HEADER_KEY},
    )
    # Anthropic's x-api-key, Azure's api-key, Gemini's x-goog-api-key.
    exercise(
        channels,
        server,
        "anthropic/claude-sonnet-4-20250514",
        401,
        (ANTHROPIC_KEY,),
        api_base=server.url,
        api_key=ANTHROPIC_KEY,
    )
    exercise(
        channels,
        server,
        "azure/dep",
        401,
        (AZURE_KEY,),
        api_base=server.url,
        api_key=AZURE_KEY,
        api_version="2024-10-21",
    )
    exercise(
        channels,
        server,
        "gemini/gemini-2.5-flash",
        400,
        (GEMINI_KEY,),
        api_base=server.url,
        api_key=GEMINI_KEY,
    )
    # AWS: the secret key and the session token (the access key id is not a secret).
    exercise(
        channels,
        server,
        "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        403,
        (AWS_MOCK_SECRET, AWS_SESSION),
        api_base=server.url,
        aws_region_name="us-east-1",
        aws_access_key_id="AKIDMOCKPYTEST",
        aws_secret_access_key=AWS_MOCK_SECRET,
        aws_session_token=AWS_SESSION,
    )
    # A wrong AWS secret is refused by the mock (signature mismatch), echoed, and redacted.
    with pytest.raises(Exception) as info:
        llmswitch.completion(
            model="bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            messages=MESSAGES,
            api_base=server.url,
            aws_region_name="us-east-1",
            aws_access_key_id="AKIDMOCKPYTEST",
            aws_secret_access_key=AWS_SECRET,
        )
    channels.add(info.value)
    grep_ledger(channels, ledger)


def test_vertex_service_account_and_token(
    channels: Channels, server: MockServer, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "VERTEXAI_PROJECT",
        "VERTEX_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    sa = json.loads(SERVICE_ACCOUNT.read_text())
    sa["token_uri"] = server.url + "/token"
    sa["private_key_id"] = f"secret-{uuid.uuid4().hex}"
    key_lines = [
        line for line in sa["private_key"].splitlines() if "PRIVATE KEY" not in line and len(line) > 40
    ]
    FRAGMENTS.extend(line[5:-5] for line in key_lines[:3])
    try:
        kw = {"api_base": server.url, "vertex_credentials": sa}
        channels.add(llmswitch.completion(model="vertex_ai/gemini-2.5-flash", messages=MESSAGES, **kw))
        channels.add(
            list(
                llmswitch.completion(model="vertex_ai/gemini-2.5-flash", messages=MESSAGES, stream=True, **kw)
            )
        )
        # The private key never leaves the process (only a signed JWT does): a provider can
        # echo the access token, which must not show.
        echo_error(server, 401, VERTEX_TOKEN)
        with pytest.raises(Exception) as info:
            llmswitch.completion(model="vertex_ai/gemini-2.5-flash", messages=MESSAGES, num_retries=0, **kw)
        channels.add(info.value)
        # Credentials that cannot be used: the error names the problem, not the key.
        pem = sa["private_key"].splitlines()
        broken = {
            **sa,
            "private_key": "\n".join([*pem[:6], pem[-1]]),
            "private_key_id": f"broken-{uuid.uuid4().hex}",
        }
        with pytest.raises(Exception) as info:
            llmswitch.completion(
                model="vertex_ai/gemini-2.5-flash",
                messages=MESSAGES,
                api_base=server.url,
                vertex_credentials=broken,
            )
        channels.add(info.value)
        channels.check()
    finally:
        del FRAGMENTS[len(SECRETS) :]


def test_router_keys(channels: Channels, server: MockServer) -> None:
    deps = [
        {
            "model_name": "g",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": OPENAI_KEY, "api_base": server.base_url},
            "model_info": {"id": "g-1"},
        },
        {
            "model_name": "c",
            "litellm_params": {
                "model": "anthropic/claude-sonnet-4-20250514",
                "api_key": ANTHROPIC_KEY,
                "api_base": server.url,
            },
            "model_info": {"id": "c-1"},
        },
    ]
    router = llmswitch.Router(model_list=deps, num_retries=0, fallbacks=[{"g": ["c"]}])
    channels.add(router, router.stats(), router.get_model_names())
    channels.add(router.completion(model="g", messages=MESSAGES))
    channels.add(list(router.completion(model="c", messages=MESSAGES, stream=True)))
    echo_error(server, 401, OPENAI_KEY)
    echo_error(server, 401, ANTHROPIC_KEY)
    with pytest.raises(Exception) as info:
        router.completion(model="g", messages=MESSAGES)
    channels.add(info.value, router.stats(), repr(router))


def test_gateway_keys(channels: Channels, server: MockServer, tmp_path: pathlib.Path) -> None:
    import openai

    import llmswitch.proxy

    db = tmp_path / "state.sqlite"
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": UPSTREAM,
                    "api_base": server.base_url,
                },
                "model_info": {"id": "gpt-1"},
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-20250514",
                    "api_key": ANTHROPIC_KEY,
                    "api_base": server.url,
                },
                "model_info": {"id": "claude-1"},
            },
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER, "database_url": str(db), "proxy_batch_write_at": 0.05},
    }
    # The callbacks see the library's calls; the gateway's own go to its logs and files.
    channels.add(llmswitch.completion(model="mock/x", messages=MESSAGES))
    with llmswitch.proxy.start(config) as gw:

        def http(path: str, key: str = MASTER, body: Any = None) -> tuple[str, str]:
            """The body and the headers of an answer."""
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(
                gw.url + path,
                data=data,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.read().decode(), repr(dict(r.headers))
            except urllib.error.HTTPError as e:
                return e.read().decode(), repr(dict(e.headers))

        generated, _ = http("/key/generate", body={"models": ["gpt", "claude"], "key_alias": "secret-test"})
        virtual = json.loads(generated)["key"]
        FRAGMENTS.append(virtual[6:-6])
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=virtual, max_retries=0)
        channels.add(client.chat.completions.create(model="gpt", messages=MESSAGES).model_dump_json())  # type: ignore[arg-type]
        stream = client.chat.completions.create(model="claude", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        channels.add([c.model_dump_json() for c in stream])
        echo_error(server, 401, UPSTREAM)
        with pytest.raises(openai.APIError) as info:
            client.chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]
        channels.add(info.value, str(info.value.body))
        # A wrong key: the refusal does not repeat it.
        channels.add(
            *http(
                "/v1/chat/completions", key=MASTER[:-3] + "xyz", body={"model": "gpt", "messages": MESSAGES}
            )
        )
        for path in (
            "/v1/models",
            "/model/info",
            "/metrics",
            "/spend/logs",
            "/health/readiness",
        ):
            channels.add(*http(path))
        # /key/info answers the key it was asked about, as LiteLLM's does: only that.
        for asked in (http("/key/info?key=" + virtual), http("/key/info", key=virtual)):
            info_body = json.loads(asked[0])
            assert info_body.pop("key") in (virtual, hashlib.sha256(virtual.encode()).hexdigest())
            channels.add(json.dumps(info_body), asked[1])
    try:
        for f in tmp_path.iterdir():
            data = f.read_bytes().decode("latin-1")
            assert not leaks(data), f"secret in {f.name}"
        channels.check()
    finally:
        del FRAGMENTS[len(SECRETS) :]


def with_userinfo(url: str) -> str:
    return url.replace("http://", f"http://svc-user:{USERINFO}@", 1)


def test_api_base_user_info_in_every_channel(
    channels: Channels, server: MockServer, ledger: pathlib.Path
) -> None:
    import asyncio

    base = with_userinfo(server.base_url)
    # A success, a stream, and an error that echoes the password (a provider or a proxy
    # in front of it repeating the URL it was asked for).
    exercise(channels, server, "openai/gpt-4o", 401, (USERINFO, base), api_base=base, api_key=OPENAI_KEY)
    # The same through other families' URL builders.
    exercise(
        channels,
        server,
        "anthropic/claude-sonnet-4-20250514",
        401,
        (USERINFO,),
        api_base=with_userinfo(server.url),
        api_key=ANTHROPIC_KEY,
    )
    channels.add(
        llmswitch.embedding(
            model="openai/text-embedding-3-small", input="hi", api_base=base, api_key=OPENAI_KEY
        )
    )

    async def async_calls() -> None:
        channels.add(
            await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, api_base=base, api_key="k")
        )
        s = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=base, api_key="k", stream=True
        )
        channels.add([c async for c in s], s)
        echo_error(server, 500, USERINFO, base)
        try:
            await llmswitch.acompletion(
                model="openai/gpt-4o", messages=MESSAGES, api_base=base, api_key="k", num_retries=0
            )
        except Exception as e:  # the exception is a channel
            channels.add(e)

    asyncio.run(async_calls())
    # Nothing listening: a connection error names the URL it could not reach.
    dead = with_userinfo("http://127.0.0.1:9/v1")
    with pytest.raises(Exception) as info:
        llmswitch.completion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=dead, api_key="k", num_retries=0
        )
    channels.add(info.value)
    # The Router: stats, repr, deployments, errors.
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "g",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": OPENAI_KEY, "api_base": base},
                "model_info": {"id": "g-1"},
            },
            {
                "model_name": "dead",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": OPENAI_KEY, "api_base": dead},
                "model_info": {"id": "dead-1"},
            },
        ],
        num_retries=0,
    )
    channels.add(router.completion(model="g", messages=MESSAGES))
    channels.add(list(router.completion(model="g", messages=MESSAGES, stream=True)))
    echo_error(server, 401, USERINFO)
    for group in ("g", "dead"):
        with pytest.raises(Exception) as info:
            router.completion(model=group, messages=MESSAGES)
        channels.add(info.value)
    channels.add(router, router.stats(), router.get_model_names())
    grep_ledger(channels, ledger)
    # Each channel was exercised with the secret in the URL: a redacted form shows.
    assert any("[REDACTED]@127.0.0.1" in t for t in channels.texts)


def test_gateway_upstream_api_base_user_info(
    channels: Channels, server: MockServer, tmp_path: pathlib.Path
) -> None:
    import openai

    import llmswitch.proxy

    db = tmp_path / "state.sqlite"
    base = with_userinfo(server.base_url)
    dead = with_userinfo("http://127.0.0.1:9/v1")
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": UPSTREAM, "api_base": base},
                "model_info": {"id": "gpt-1"},
            },
            {
                "model_name": "dead",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": UPSTREAM, "api_base": dead},
                "model_info": {"id": "dead-1"},
            },
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER, "database_url": str(db), "proxy_batch_write_at": 0.05},
    }
    channels.add(llmswitch.completion(model="mock/x", messages=MESSAGES))  # the callbacks' channel
    with llmswitch.proxy.start(config) as gw:

        def http(path: str) -> tuple[str, str]:
            req = urllib.request.Request(gw.url + path, headers={"Authorization": f"Bearer {MASTER}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.read().decode(), repr(dict(r.headers))
            except urllib.error.HTTPError as e:
                return e.read().decode(), repr(dict(e.headers))

        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER, max_retries=0)
        channels.add(client.chat.completions.create(model="gpt", messages=MESSAGES).model_dump_json())  # type: ignore[arg-type]
        stream = client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        channels.add([c.model_dump_json() for c in stream])
        echo_error(server, 401, USERINFO, base)
        for model in ("gpt", "dead"):
            with pytest.raises(openai.APIError) as info:
                client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
            channels.add(info.value, str(info.value.body))
        for path in (
            "/v1/models",
            "/model/info",
            "/v2/model/info",
            "/metrics",
            "/spend/logs",
            "/health",
            "/health?probe=true",
        ):
            channels.add(*http(path))
    for f in tmp_path.iterdir():
        try:
            data = f.read_bytes().decode("latin-1")
        except FileNotFoundError:
            continue  # the -wal and -shm files go when the gateway's last connection closes
        assert not leaks(data), f"secret in {f.name}"
    channels.check()

"""The gateway's state plane through HTTP: virtual keys, teams, customers, limits and
budgets under concurrency, spend logs across a graceful shutdown, and SQLite state across a
restart. Clients are the official openai SDK and plain HTTP, against loopback mock
providers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import llmswitch.proxy
from llmswitch.testing import MockServer

MASTER = "sk-state-test-master"
# The mock provider answers 9 prompt and 6 completion tokens.
INPUT_PRICE = 0.001
OUTPUT_PRICE = 0.002
CALL_COST = 9 * INPUT_PRICE + 6 * OUTPUT_PRICE


def config(server: MockServer, **general: Any) -> dict[str, Any]:
    priced = {"input_cost_per_token": INPUT_PRICE, "output_cost_per_token": OUTPUT_PRICE}
    return {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-up", "api_base": server.base_url},
                "model_info": {"id": "gpt-1", **priced},
            },
            {
                "model_name": "mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "sk-up",
                    "api_base": server.base_url,
                },
                "model_info": {"id": "mini-1", **priced},
            },
        ],
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        "general_settings": {"master_key": MASTER, "proxy_batch_write_at": 0.05, **general},
    }


def write_config(path: Path, server: MockServer, **general: Any) -> Path:
    # JSON is YAML.
    path.write_text(json.dumps(config(server, **general)))
    return path


class Admin:
    """Plain-HTTP calls to the admin routes."""

    def __init__(self, url: str, key: str = MASTER) -> None:
        self.url = url
        self.key = key

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def post(self, path: str, body: Any) -> Any:
        status, out = self.call("POST", path, body)
        assert status == 200, (path, status, out)
        return out

    def get(self, path: str) -> Any:
        status, out = self.call("GET", path)
        assert status == 200, (path, status, out)
        return out


@pytest.fixture()
def gateway(server: MockServer, tmp_path: Path) -> Iterator[llmswitch.proxy.ProxyServer]:
    with llmswitch.proxy.start(write_config(tmp_path / "proxy.yaml", server)) as gw:
        yield gw


@pytest.fixture()
def admin(gateway: llmswitch.proxy.ProxyServer) -> Admin:
    return Admin(gateway.url)


def client(gateway: llmswitch.proxy.ProxyServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0)


def chat(gateway: llmswitch.proxy.ProxyServer, key: str, model: str = "gpt", **kw: Any) -> Any:
    return client(gateway, key).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **kw
    )


def test_key_lifecycle_with_the_openai_sdk(gateway: llmswitch.proxy.ProxyServer, admin: Admin) -> None:
    made = admin.post("/key/generate", {"models": ["gpt"], "key_alias": "ci", "max_budget": 5})
    key = made["key"]
    # Stored only as LiteLLM's hash_token: sha256 of the key, hex.
    assert made["token"] == hashlib.sha256(key.encode()).hexdigest()
    assert chat(gateway, key).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        chat(gateway, key, model="mini")
    info = admin.get(f"/key/info?key={made['token']}")
    assert info["info"]["key_alias"] == "ci" and info["info"]["status"] == "active"

    admin.post("/key/block", {"key": key})
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, key)
    admin.post("/key/unblock", {"key": key})
    chat(gateway, key)

    admin.post("/key/update", {"key": key, "models": ["gpt", "mini"]})
    chat(gateway, key, model="mini")

    new = admin.post("/key/regenerate", {"key": key})["key"]
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, key)
    chat(gateway, new)

    assert admin.post("/key/delete", {"keys": [new]}) == {"deleted_keys": [new]}
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, new)


def test_expired_keys_and_wrong_keys_are_refused(gateway: llmswitch.proxy.ProxyServer, admin: Admin) -> None:
    short = admin.post("/key/generate", {"duration": "1s"})["key"]
    chat(gateway, short)
    time.sleep(1.5)
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, short)
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, "sk-not-a-real-key-000000")
    made = admin.post("/key/generate", {})
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, made["token"])  # the hash is not a key


def test_virtual_keys_cannot_use_admin_routes(gateway: llmswitch.proxy.ProxyServer, admin: Admin) -> None:
    key = admin.post("/key/generate", {})["key"]
    as_key = Admin(gateway.url, key)
    for method, path, body in [
        ("POST", "/key/generate", {}),
        ("GET", "/key/list", None),
        ("POST", "/key/delete", {"keys": [key]}),
        ("POST", "/team/new", {}),
        ("GET", "/team/list", None),
        ("POST", "/customer/new", {"user_id": "x"}),
        ("GET", "/spend/logs", None),
        ("GET", "/global/spend/report?start_date=2020-01-01&end_date=2020-01-02", None),
    ]:
        status, out = as_key.call(method, path, body)
        assert status == 401, (path, status, out)
        assert out["error"]["type"] == "auth_error"
    # It may read its own info, not another key's.
    status, own = as_key.call("GET", "/key/info")
    assert status == 200 and own["info"]["status"] == "active"
    other = admin.post("/key/generate", {})["token"]
    assert as_key.call("GET", f"/key/info?key={other}")[0] == 403


def test_team_lifecycle_and_inheritance(gateway: llmswitch.proxy.ProxyServer, admin: Admin) -> None:
    team = admin.post("/team/new", {"team_alias": "search", "models": ["gpt"]})
    key = admin.post("/key/generate", {"team_id": team["team_id"]})["key"]
    chat(gateway, key)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        chat(gateway, key, model="mini")
    assert "mini" in str(denied.value)
    # The key lists what its team allows.
    assert [m.id for m in client(gateway, key).models.list()] == ["gpt"]
    assert admin.get(f"/team/info?team_id={team['team_id']}")["team_info"]["team_alias"] == "search"
    admin.post("/team/update", {"team_id": team["team_id"], "models": ["gpt", "mini"]})
    chat(gateway, key, model="mini")
    admin.post("/team/block", {"team_id": team["team_id"]})
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, key)
    admin.post("/team/unblock", {"team_id": team["team_id"]})
    assert [t["team_id"] for t in admin.get("/team/list")] == [team["team_id"]]
    admin.post("/team/delete", {"team_ids": [team["team_id"]]})
    with pytest.raises(openai.AuthenticationError):
        chat(gateway, key)


async def _burst(gateway: llmswitch.proxy.ProxyServer, key: str, n: int, **kw: Any) -> list[Any]:
    c = openai.AsyncOpenAI(base_url=gateway.url, api_key=key, max_retries=0)

    async def one() -> Any:
        try:
            return await c.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "hi"}], max_tokens=6, **kw
            )
        except openai.APIStatusError as e:
            return e

    try:
        return await asyncio.gather(*(one() for _ in range(n)))
    finally:
        await c.close()


def test_a_key_budget_holds_under_200_concurrent_requests(
    gateway: llmswitch.proxy.ProxyServer, admin: Admin
) -> None:
    budget = 10 * CALL_COST
    made = admin.post("/key/generate", {"max_budget": budget})
    results = asyncio.run(_burst(gateway, made["key"], 200))
    ok = [r for r in results if not isinstance(r, Exception)]
    refused: list[Any] = [r for r in results if isinstance(r, Exception)]
    assert ok and refused
    for e in refused:
        assert e.status_code == 422, e
        assert e.body["type"] == "budget_exceeded"
    # Each admitted call reserved its projection: at most the budget plus the projections'
    # error is spent (here under one call's cost).
    assert len(ok) * CALL_COST <= budget + CALL_COST + 1e-9
    deadline = time.time() + 10
    while time.time() < deadline:
        spend = admin.get(f"/key/info?key={made['token']}")["info"]["spend"]
        if abs(spend - len(ok) * CALL_COST) < 1e-9:
            break
        time.sleep(0.05)
    assert spend == pytest.approx(len(ok) * CALL_COST)
    with pytest.raises(openai.UnprocessableEntityError):
        chat(gateway, made["key"], max_tokens=6)


def test_rate_limits_under_200_concurrent_requests(
    gateway: llmswitch.proxy.ProxyServer, admin: Admin
) -> None:
    key = admin.post("/key/generate", {"rpm_limit": 5})["key"]
    results = asyncio.run(_burst(gateway, key, 200))
    ok = [r for r in results if not isinstance(r, Exception)]
    limited = [r for r in results if isinstance(r, openai.RateLimitError)]
    # Five in this minute (ten if the burst straddles a minute boundary).
    assert 5 <= len(ok) <= 10
    assert len(ok) + len(limited) == 200
    assert all(1 <= int(e.response.headers["retry-after"]) <= 60 for e in limited)

    parallel = admin.post("/key/generate", {"max_parallel_requests": 1})["key"]
    results = asyncio.run(_burst(gateway, parallel, 50))
    assert any(not isinstance(r, Exception) for r in results)
    for r in results:
        if isinstance(r, Exception):
            assert isinstance(r, openai.RateLimitError)
            assert r.response.headers["retry-after"] == "1"


def test_customer_budgets_and_blocks(gateway: llmswitch.proxy.ProxyServer, admin: Admin) -> None:
    admin.post("/customer/new", {"user_id": "acme", "max_budget": 2 * CALL_COST})
    key = admin.post("/key/generate", {})["key"]
    for _ in range(2):
        chat(gateway, key, user="acme", max_tokens=6)
    with pytest.raises(openai.UnprocessableEntityError) as over:
        chat(gateway, key, user="acme", max_tokens=6)
    assert "End User=acme" in str(over.value)
    chat(gateway, key, user="someone-else")
    admin.post("/customer/block", {"user_ids": ["blocked-user"]})
    with pytest.raises(openai.PermissionDeniedError):
        chat(gateway, key, user="blocked-user")
    assert admin.get("/customer/info?end_user_id=acme")["user_id"] == "acme"


def test_spend_logs_are_complete_after_a_graceful_shutdown_under_load(
    server: MockServer, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "proxy.yaml", server, proxy_batch_write_at=1.0)
    answered: list[str] = []
    with llmswitch.proxy.start(path) as gw:
        key = Admin(gw.url).post("/key/generate", {"key_alias": "load"})["key"]
        stop = threading.Event()

        def load() -> None:
            c = client(gw, key)
            while not stop.is_set():
                try:
                    r = c.chat.completions.with_raw_response.create(
                        model="gpt", messages=[{"role": "user", "content": "hi"}], user="load-user"
                    )
                    answered.append(r.headers["x-litellm-call-id"])
                except (openai.APIConnectionError, openai.APIStatusError):
                    return

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        # Under load (each thread first builds its OpenAI client) a fixed second may pass
        # before any request is answered: wait for answers instead.
        deadline = time.monotonic() + 60
        while len(answered) <= 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        gw.stop()
        stop.set()
        for t in threads:
            t.join()
    assert len(answered) > 20
    with llmswitch.proxy.start(path) as gw:
        logs = Admin(gw.url).get("/spend/logs?key_alias=load")
        ids = {row["request_id"] for row in logs}
        assert set(answered) <= ids
        row = logs[0]
        assert row["api_key"] == hashlib.sha256(key.encode()).hexdigest()
        assert row["end_user"] == "load-user" and row["model_group"] == "gpt"
        assert row["spend"] == pytest.approx(CALL_COST)
        info = Admin(gw.url).get(f"/key/info?key={key}")
        assert info["info"]["spend"] == pytest.approx(len(ids) * CALL_COST)


def test_sqlite_state_survives_a_restart(server: MockServer, tmp_path: Path) -> None:
    path = write_config(tmp_path / "proxy.yaml", server)
    with llmswitch.proxy.start(path) as gw:
        admin = Admin(gw.url)
        team = admin.post("/team/new", {"team_alias": "kept"})["team_id"]
        key = admin.post("/key/generate", {"team_id": team, "max_budget": CALL_COST})["key"]
        chat(gw, key, max_tokens=6)
    assert (tmp_path / "proxy.llmswitch.sqlite").exists()
    with llmswitch.proxy.start(path) as gw:
        admin = Admin(gw.url)
        assert admin.get(f"/team/info?team_id={team}")["team_info"]["team_alias"] == "kept"
        assert admin.get(f"/key/info?key={key}")["info"]["spend"] == pytest.approx(CALL_COST)
        # The budget spent before the restart still counts.
        with pytest.raises(openai.UnprocessableEntityError):
            chat(gw, key, max_tokens=6)
        today = time.strftime("%Y-%m-%d", time.gmtime())
        report = admin.get(f"/global/spend/report?start_date={today}&end_date={today}&group_by=api_key")
        assert report[0]["total_cost"] == pytest.approx(CALL_COST)

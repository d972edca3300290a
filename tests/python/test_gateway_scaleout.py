"""Several gateways on one PostgreSQL database (a throwaway cluster): keys, teams and spend
made on one are used and seen by the others; the state survives every gateway; spend logs
of all land in LiteLLM's table. Clients are the openai SDK and plain HTTP."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from test_gateway_state import CALL_COST, Admin, chat, write_config

import llmswitch.proxy
from llmswitch.testing import MockServer


@pytest.fixture()
def database(postgres_cluster: Any) -> str:
    return str(postgres_cluster.database())


def start(
    server: MockServer, tmp_path: Path, name: str, url: str, **general: Any
) -> llmswitch.proxy.ProxyServer:
    cfg = write_config(
        tmp_path / f"{name}.yaml", server, database_url=url, user_api_key_cache_ttl=0.2, **general
    )
    return llmswitch.proxy.start(cfg)


@pytest.fixture()
def pair(server: MockServer, tmp_path: Path, database: str) -> Iterator[list[llmswitch.proxy.ProxyServer]]:
    gateways = [start(server, tmp_path, f"gw{i}", database) for i in range(2)]
    yield gateways
    for g in gateways:
        g.stop()


def wait_until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def test_a_key_made_on_one_gateway_works_on_the_other(pair: list[llmswitch.proxy.ProxyServer]) -> None:
    a, b = pair
    made = Admin(a.url).post("/key/generate", {"models": ["gpt"], "key_alias": "shared", "max_budget": 100})
    key = made["key"]
    assert made["token"] == hashlib.sha256(key.encode()).hexdigest()
    assert chat(b, key).choices[0].message.content
    assert chat(a, key).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        chat(b, key, model="mini")

    # Spend from both is written (write-behind) to the one database and read back by either.
    def spent() -> float:
        info = Admin(b.url).get(f"/key/info?key={key}")
        return float(info["info"]["spend"])

    wait_until(lambda: abs(spent() - 2 * CALL_COST) < 1e-9, "both calls' spend in the key's row")
    wait_until(lambda: len(Admin(a.url).get(f"/spend/logs?api_key={made['token']}")) == 2, "two log rows")

    # Deleted on one gateway: refused by the other once its cache entry is read again.
    Admin(a.url).post("/key/delete", {"keys": [key]})

    def refused() -> bool:
        try:
            chat(b, key)
        except openai.AuthenticationError:
            return True
        return False

    wait_until(refused, "the deleted key refused by the other gateway")


def test_teams_and_budgets_are_shared_and_outlive_the_gateways(
    server: MockServer, tmp_path: Path, database: str
) -> None:
    first = start(server, tmp_path, "first", database)
    try:
        admin = Admin(first.url)
        team = admin.post("/team/new", {"team_alias": "Alpha", "models": ["gpt"], "max_budget": 500})
        key = admin.post("/key/generate", {"team_id": team["team_id"], "max_budget": 100})["key"]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: chat(first, key), range(8)))
    finally:
        first.stop()  # writes the queued spend
    second = start(server, tmp_path, "second", database)
    try:
        admin = Admin(second.url)
        info = admin.get(f"/team/info?team_id={team['team_id']}")
        assert info["team_info"]["team_alias"] == "Alpha"
        assert abs(float(info["team_info"]["spend"]) - 8 * CALL_COST) < 1e-9
        assert len(admin.get("/spend/logs")) == 8
        assert chat(second, key).choices[0].message.content
    finally:
        second.stop()


def test_a_bad_postgres_url_fails_at_start_without_the_password(server: MockServer, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "bad.yaml",
        server,
        database_url="postgresql://llm:s3cret-pw@127.0.0.1:1/nothing",
        database_connection_timeout=2,
    )
    with pytest.raises(Exception) as info:
        llmswitch.proxy.start(cfg)
    assert "s3cret-pw" not in str(info.value)
    assert "postgresql://llm@127.0.0.1:1/nothing" in str(info.value)

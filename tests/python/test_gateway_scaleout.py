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
from test_gateway_state import CALL_COST, MASTER, Admin, chat, write_config

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

    def successes() -> int:
        logs = Admin(a.url).get(f"/spend/logs?api_key={made['token']}")
        return sum(1 for row in logs if row["status"] == "success")

    wait_until(lambda: successes() == 2, "two successful requests in the spend log")

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
        assert sum(1 for row in admin.get("/spend/logs") if row["status"] == "success") == 8
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


# --- PostgreSQL and Redis: three gateways sharing limits and budgets --------------------------


def post_chat(url: str, key: str, **body: Any) -> int:
    """One chat request over plain HTTP; its status."""
    import json
    import urllib.error
    import urllib.request

    payload = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], **body}
    req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(payload).encode(), method="POST")
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        e.read()
        return int(e.code)


@pytest.fixture()
def trio(
    server: MockServer, tmp_path: Path, database: str, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[llmswitch.proxy.ProxyServer]]:
    # A loaded test machine can take longer than the production 250 ms to answer 300
    # admissions at once, which degrades a gateway to its own counters (and lets it admit
    # the budget again), as test_gateway_replicas.py's replicas also allow for. A stopped
    # Redis refuses at once: the outage tests do not wait on this.
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "10")
    gateways = []
    for i in range(3):
        cfg = write_config(tmp_path / f"r{i}.yaml", server, database_url=database, user_api_key_cache_ttl=0.2)
        text = cfg.read_text().replace(
            '"router_settings": {',
            f'"router_settings": {{"redis_host": "127.0.0.1", "redis_port": {redis_server.port}, ',
        )
        cfg.write_text(text)
        gateways.append(llmswitch.proxy.start(cfg))
    yield gateways
    for g in gateways:
        g.stop()


def degraded(gateway: llmswitch.proxy.ProxyServer) -> float:
    import urllib.request

    req = urllib.request.Request(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("llmswitch_shared_limits_degraded_total"):
            return float(line.split()[-1])
    raise AssertionError("no llmswitch_shared_limits_degraded_total in /metrics")


def test_a_budget_holds_across_three_gateways_under_300_concurrent_requests(
    trio: list[llmswitch.proxy.ProxyServer],
) -> None:
    budget = 10 * CALL_COST
    key = Admin(trio[0].url).post("/key/generate", {"models": ["gpt"], "max_budget": budget})["key"]
    with ThreadPoolExecutor(60) as pool:
        statuses = list(pool.map(lambda i: post_chat(trio[i % 3].url, key, max_tokens=6), range(300)))
    ok = statuses.count(200)
    assert set(statuses) <= {200, 422}, statuses
    # Each gateway alone would admit about 10: shared, all three together admit about 10
    # (projections of the prompt's tokens differ from the mock's count by a token or so).
    assert 1 <= ok <= 12, ok
    assert all(degraded(g) == 0 for g in trio)

    def spend() -> float:
        return float(Admin(trio[1].url).get(f"/key/info?key={key}")["info"]["spend"])

    wait_until(lambda: abs(spend() - ok * CALL_COST) < 1e-9, "every admitted call's spend written")
    assert spend() <= budget * 1.2


def test_rpm_holds_across_gateways_and_a_redis_restart_degrades_then_recovers(
    trio: list[llmswitch.proxy.ProxyServer], redis_server: Any
) -> None:
    key = Admin(trio[0].url).post("/key/generate", {"models": ["gpt"], "rpm_limit": 4})["key"]
    statuses = [post_chat(trio[i % 3].url, key) for i in range(12)]
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 8, statuses

    # Redis goes away: requests are never failed by it, limits become per gateway.
    other = Admin(trio[0].url).post("/key/generate", {"models": ["gpt"], "rpm_limit": 1000})["key"]
    redis_server.stop()
    assert [post_chat(g.url, other) for g in trio] == [200, 200, 200]
    assert all(degraded(g) >= 1 for g in trio)

    # It comes back: limits are shared again.
    redis_server.start()
    third = Admin(trio[0].url).post("/key/generate", {"models": ["gpt"], "rpm_limit": 2})["key"]

    def shared_again() -> bool:
        before = [degraded(g) for g in trio]
        post_chat(trio[0].url, other)
        post_chat(trio[1].url, other)
        post_chat(trio[2].url, other)
        return [degraded(g) for g in trio] == before

    wait_until(shared_again, "the gateways using Redis again")
    statuses = [post_chat(trio[i % 3].url, third) for i in range(6)]
    assert statuses.count(200) == 2, statuses


def test_a_deployment_failing_on_one_gateway_cools_down_on_the_others(
    server: MockServer, tmp_path: Path, database: str, redis_server: Any
) -> None:
    import json
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens here once closed
    gateways = []
    for i in range(3):
        cfg = write_config(tmp_path / f"c{i}.yaml", server, database_url=database)
        body = json.loads(cfg.read_text())
        body["model_list"].append(
            {
                "model_name": "flaky",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-up",
                    "api_base": f"http://127.0.0.1:{dead}/v1",
                },
                "model_info": {"id": "flaky-1"},
            }
        )
        body["router_settings"] = {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 120,
            "redis_host": "127.0.0.1",
            "redis_port": redis_server.port,
        }
        cfg.write_text(json.dumps(body))
        gateways.append(llmswitch.proxy.start(cfg))
    try:

        def health(g: llmswitch.proxy.ProxyServer) -> Any:
            req = urllib.request.Request(
                f"{g.url}/health?model=flaky", headers={"Authorization": f"Bearer {MASTER}"}
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                return json.loads(e.read())

        assert health(gateways[1])["healthy_count"] == 1
        assert post_chat(gateways[0].url, MASTER, model="flaky") >= 500
        assert "cooling down" in json.dumps(health(gateways[0]))
        # The others never called it: they learn the cooldown through Redis.
        for g in gateways[1:]:
            wait_until(lambda g=g: "cooling down" in json.dumps(health(g)), "the cooldown shared")
        assert post_chat(gateways[2].url, MASTER) == 200  # other groups are unaffected
    finally:
        for g in gateways:
            g.stop()


def start_shared(
    server: MockServer, tmp_path: Path, name: str, database: str, redis_port: int, **router: Any
) -> llmswitch.proxy.ProxyServer:
    """A gateway on `database` and the Redis at `redis_port`; keys cached for ten minutes, so
    only Redis can tell it of a change elsewhere in time."""
    import json

    cfg = write_config(tmp_path / f"{name}.yaml", server, database_url=database, user_api_key_cache_ttl=600)
    body = json.loads(cfg.read_text())
    body["router_settings"].update({"redis_host": "127.0.0.1", "redis_port": redis_port, **router})
    cfg.write_text(json.dumps(body))
    return llmswitch.proxy.start(cfg)


def test_keys_and_teams_changed_on_one_gateway_are_refused_by_the_other_at_once(
    server: MockServer, tmp_path: Path, database: str, redis_server: Any
) -> None:
    a = start_shared(server, tmp_path, "inv-a", database, redis_server.port)
    b = start_shared(server, tmp_path, "inv-b", database, redis_server.port)
    try:
        admin = Admin(a.url)
        key = admin.post("/key/generate", {"models": ["gpt"]})["key"]
        assert post_chat(b.url, key) == 200  # now cached on b, for ten minutes

        def status_on_b(k: str, expected: int) -> None:
            # Published when a answers; b applies it as it arrives (well within the TTL).
            wait_until(
                lambda: post_chat(b.url, k) == expected, f"{expected} from the other gateway", timeout=20
            )

        admin.post("/key/block", {"key": key})
        status_on_b(key, 401)
        admin.post("/key/unblock", {"key": key})
        status_on_b(key, 200)
        new = admin.post("/key/regenerate", {"key": key})["key"]
        status_on_b(key, 401)
        assert post_chat(b.url, new) == 200
        admin.post("/key/delete", {"keys": [new]})
        status_on_b(new, 401)

        team = admin.post("/team/new", {"models": ["gpt"]})
        member = admin.post("/key/generate", {"team_id": team["team_id"]})["key"]
        status_on_b(member, 200)  # once b has read the new team
        admin.post("/team/block", {"team_id": team["team_id"]})
        status_on_b(member, 401)
    finally:
        a.stop()
        b.stop()


def test_a_deployments_rpm_holds_across_gateways_and_survives_a_redis_outage(
    server: MockServer, tmp_path: Path, database: str, redis_server: Any
) -> None:
    import json

    gateways = []
    for i in range(3):
        cfg = write_config(tmp_path / f"d{i}.yaml", server, database_url=database)
        body = json.loads(cfg.read_text())
        body["model_list"][0]["litellm_params"]["rpm"] = 4
        body["model_list"][1]["litellm_params"]["rpm"] = 1000
        body["router_settings"].update(
            {
                "routing_strategy": "usage-based-routing",
                "redis_host": "127.0.0.1",
                "redis_port": redis_server.port,
            }
        )
        cfg.write_text(json.dumps(body))
        gateways.append(llmswitch.proxy.start(cfg))
    try:
        first_minute = time.time() // 60
        statuses = [post_chat(gateways[i % 3].url, MASTER) for i in range(12)]
        windows = 1 if time.time() // 60 == first_minute else 2
        # Each gateway alone would admit 4 (12 in all): shared, 4 per minute in all.
        assert statuses.count(200) <= 4 * windows, statuses
        assert statuses.count(200) >= 4, statuses
        assert set(statuses) <= {200, 429}, statuses

        # Redis goes away: calls are never failed by it; each gateway counts on its own.
        redis_server.stop()
        assert [post_chat(g.url, MASTER, model="mini") for g in gateways] == [200, 200, 200]
        assert all(degraded(g) >= 1 for g in gateways)
    finally:
        for g in gateways:
            g.stop()

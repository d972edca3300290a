"""Three gateway processes (`python -m llmswitch proxy`, each its own process, on its own
port) sharing one PostgreSQL database and one redis-server: a budget under 300 concurrent
requests spread over the three, an rpm limit across them, a deployment failing on one
cooling down on the others, a deployment's max_parallel_requests held across them, a
replica killed with SIGKILL under load losing no response it had sent (its spend journal is
replayed), and a Redis restart mid-run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_gateway_state import CALL_COST, MASTER, Admin, config

from llmswitch.testing import MockServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


class Replica:
    """One `python -m llmswitch proxy` process."""

    def __init__(self, cfg: Path, log: Path) -> None:
        self.cfg = cfg
        self.log_path = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmswitch", "proxy", "--config", str(self.cfg), "--port", str(self.port)],
            stdout=log,
            stderr=log,
            # A loaded test machine can take longer than the production 250 ms to answer 300
            # admissions at once, which would degrade a replica to its own counters (and let
            # it admit the budget again). A stopped Redis refuses at once: no wait on this.
            env={**os.environ, "REDIS_SOCKET_TIMEOUT": "10"},
        )
        log.close()

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.url}/health/liveliness", timeout=5) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(up, f"the gateway on port {self.port} up", timeout=120)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def post_chat(url: str, key: str, **body: Any) -> tuple[int, str | None]:
    """One chat request over plain HTTP: its status and call id (None if it never answered)."""
    payload = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], **body}
    req = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(payload).encode(), method="POST")
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()  # the whole body: the response was sent
            return int(r.status), r.headers.get("x-litellm-call-id")
    except urllib.error.HTTPError as e:
        e.read()
        return int(e.code), e.headers.get("x-litellm-call-id")
    except OSError:
        return 0, None  # the replica went away before answering


def metric(url: str, name: str) -> float:
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in /metrics")


class Cluster:
    def __init__(self, replicas: list[Replica], database: str, postgres: Any) -> None:
        self.replicas = replicas
        self.database = database
        self.postgres = postgres

    def sql(self, query: str) -> str:
        return str(self.postgres.psql(query, database=self.database.rsplit("/", 1)[1]))


@pytest.fixture()
def slow_server() -> Iterator[MockServer]:
    """The provider of the `slow` deployment (replies scripted with delays by a test)."""
    with MockServer() as s:
        yield s


@pytest.fixture()
def cluster(
    server: MockServer, slow_server: MockServer, tmp_path: Path, postgres_cluster: Any, redis_server: Any
) -> Iterator[Cluster]:
    database = postgres_cluster.database()
    replicas = []
    for i in range(3):
        body = config(
            server,
            database_url=database,
            user_api_key_cache_ttl=0.2,
            # Rows wait in memory for seconds: a killed replica has some unwritten.
            proxy_batch_write_at=2,
            spend_logs_journal=str(tmp_path / "journal"),
        )
        body["model_list"].append(
            {
                "model_name": "flaky",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-up",
                    "api_base": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens
                },
                "model_info": {"id": "flaky-1"},
            }
        )
        body["model_list"].append(
            {
                "model_name": "slow",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-up",
                    "api_base": slow_server.base_url,
                    "max_parallel_requests": 2,
                },
                "model_info": {"id": "slow-1"},
            }
        )
        body["router_settings"] = {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 300,
            "redis_host": "127.0.0.1",
            "redis_port": redis_server.port,
        }
        cfg = tmp_path / f"replica{i}.yaml"
        cfg.write_text(json.dumps(body))
        replicas.append(Replica(cfg, tmp_path / f"replica{i}.log"))
    try:
        for r in replicas:
            r.start()
        yield Cluster(replicas, database, postgres_cluster)
    finally:
        for r in replicas:
            r.stop()


def test_budget_rpm_and_cooldowns_hold_across_three_gateway_processes(cluster: Cluster) -> None:
    urls = [r.url for r in cluster.replicas]
    admin = Admin(urls[0])

    # A budget for 10 calls, 300 concurrent requests spread over the three processes.
    budget = 10 * CALL_COST
    key = admin.post("/key/generate", {"models": ["gpt"], "max_budget": budget})["key"]
    with ThreadPoolExecutor(60) as pool:
        statuses = [s for s, _ in pool.map(lambda i: post_chat(urls[i % 3], key, max_tokens=6), range(300))]
    ok = statuses.count(200)
    assert set(statuses) <= {200, 422}, statuses
    # Alone, each would admit about 10; together they admit about 10 (the prompt's projected
    # tokens differ from the mock's count by a token or so: the in-flight bound).
    assert 1 <= ok <= 12, ok

    # An rpm limit holds across the three within one window.
    limited = admin.post("/key/generate", {"models": ["gpt"], "rpm_limit": 4})["key"]
    statuses = [post_chat(urls[i % 3], limited)[0] for i in range(12)]
    assert statuses.count(200) == 4 and statuses.count(429) == 8, statuses

    # A deployment failing on one process cools down on the other two.
    def health(url: str) -> str:
        req = urllib.request.Request(
            f"{url}/health?model=flaky", headers={"Authorization": f"Bearer {MASTER}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            return e.read().decode()

    assert "cooling down" not in health(urls[1])
    assert post_chat(urls[0], MASTER, model="flaky")[0] >= 500
    for url in urls[1:]:
        wait_until(lambda url=url: "cooling down" in health(url), "the cooldown seen by the others")
    assert all(metric(u, "llmswitch_shared_limits_degraded_total") == 0 for u in urls)

    # Every admitted call's spend reached the key's row.
    def spend() -> float:
        return float(Admin(urls[1]).get(f"/key/info?key={key}")["info"]["spend"])

    wait_until(lambda: abs(spend() - ok * CALL_COST) < 1e-9, "every admitted call's spend written")


def test_a_deployments_max_parallel_requests_holds_across_the_replicas(
    cluster: Cluster, slow_server: MockServer
) -> None:
    urls = [r.url for r in cluster.replicas]
    # Every call takes seconds: 9 at once, 3 on each replica, would all be in flight together.
    for _ in range(9):
        slow_server.enqueue(delay=5.0)
    with ThreadPoolExecutor(9) as pool:
        statuses = list(pool.map(lambda i: post_chat(urls[i % 3], MASTER, model="slow")[0], range(9)))
    assert set(statuses) <= {200, 429}, statuses
    # Alone, each replica would let 2 through (6 in all); together they let 2.
    assert 1 <= statuses.count(200) <= 2, statuses
    assert slow_server.hits <= 2
    # The slots came back when those calls ended: each replica gets one again.
    slow_server.reset()
    assert [post_chat(url, MASTER, model="slow")[0] for url in urls] == [200, 200, 200]


class Load:
    """Clients sending requests to every replica until stopped, remembering what each
    answer was."""

    def __init__(self, urls: list[str], key: str, clients: int = 12) -> None:
        self.urls = urls
        self.key = key
        self.results: list[tuple[int, int, str | None]] = []  # (replica, status, call id)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]

    def run(self, i: int) -> None:
        n = 0
        while not self.stop.is_set():
            replica = (i + n) % len(self.urls)
            n += 1
            status, call_id = post_chat(self.urls[replica], self.key)
            with self.lock:
                self.results.append((replica, status, call_id))
            if status == 0:
                time.sleep(0.01)

    def count(self, replica: int, status: int = 200) -> int:
        with self.lock:
            return sum(1 for r, s, _ in self.results if r == replica and s == status)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def test_a_replica_killed_under_load_loses_no_acknowledged_response(cluster: Cluster) -> None:
    replicas = cluster.replicas
    key = Admin(replicas[1].url).post("/key/generate", {"models": ["gpt"]})["key"]
    with Load([r.url for r in replicas], key) as load:
        wait_until(lambda: load.count(0) >= 30, "the first replica answering under load")
        replicas[0].kill()  # SIGKILL: no flush, its batch of rows was in memory only
        before = load.count(1) + load.count(2)
        wait_until(lambda: load.count(1) + load.count(2) >= before + 30, "the others answering on")
        replicas[0].start()  # restarted on the same journal directory
        after = load.count(0)
        wait_until(lambda: load.count(0) >= after + 10, "the restarted replica answering")
    acknowledged = {call_id for _, status, call_id in load.results if status == 200}
    assert None not in acknowledged
    assert all(s in (0, 200) for _, s, _ in load.results), {s for _, s, _ in load.results}
    # The killed one had answered some whose rows were not yet written when it died.
    for r in replicas[1:]:
        r.stop()  # graceful: writes what they hold
    replicas[0].stop()

    def missing() -> set[str]:
        rows = cluster.sql('SELECT request_id FROM "LiteLLM_SpendLogs"').split()
        return acknowledged - set(rows)

    assert not missing(), f"{len(missing())} of {len(acknowledged)} answered requests have no spend log row"
    # Replayed rows were added to the key's spend once (none was written twice).
    token = hashlib.sha256(key.encode()).hexdigest()
    rows = int(cluster.sql(f"SELECT count(*) FROM \"LiteLLM_SpendLogs\" WHERE api_key = '{token}'"))
    spend = float(cluster.sql(f"SELECT spend FROM \"LiteLLM_VerificationToken\" WHERE token = '{token}'"))
    assert rows >= len(acknowledged)
    assert abs(spend - rows * CALL_COST) < 1e-6, (spend, rows)
    journal = Path(str(replicas[0].cfg).rsplit("/", 1)[0]) / "journal"
    assert not [p for p in journal.iterdir() if p.stat().st_size > 0], list(journal.iterdir())


def test_a_redis_restart_under_load_degrades_then_recovers(cluster: Cluster, redis_server: Any) -> None:
    urls = [r.url for r in cluster.replicas]
    key = Admin(urls[0]).post("/key/generate", {"models": ["gpt"], "rpm_limit": 100_000})["key"]
    with Load(urls, key, clients=6) as load:
        wait_until(lambda: all(load.count(i) >= 5 for i in range(3)), "load on every replica")
        redis_server.stop()
        wait_until(
            lambda: all(metric(u, "llmswitch_shared_limits_degraded_total") >= 1 for u in urls),
            "every replica degraded to its own counters",
        )
        before = [load.count(i) for i in range(3)]
        wait_until(
            lambda: all(load.count(i) >= before[i] + 5 for i in range(3)), "requests served without Redis"
        )
        redis_server.start()

        def shared_again() -> bool:
            seen = [metric(u, "llmswitch_shared_limits_degraded_total") for u in urls]
            time.sleep(1.5)
            return [metric(u, "llmswitch_shared_limits_degraded_total") for u in urls] == seen

        wait_until(shared_again, "every replica using Redis again")
    # Redis never failed a request.
    assert {s for _, s, _ in load.results} == {200}
    # Limits are shared again: 2 per minute across the three.
    limited = Admin(urls[0]).post("/key/generate", {"models": ["gpt"], "rpm_limit": 2})["key"]
    statuses = [post_chat(urls[i % 3], limited)[0] for i in range(6)]
    assert statuses.count(200) == 2, statuses

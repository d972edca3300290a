"""The gateway's state on PostgreSQL + Redis beside SQLite: latency of a virtual key's
request (sequential, one keep-alive connection, the loopback mock provider) and the
PostgreSQL statements per request on the steady path, counted by pg_stat_statements.

Usage: .venv/bin/python bench/scaleout_bench.py [requests]   (needs initdb and redis-server)
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))

from test_cache import RedisServer
from test_gateway_state import Admin, write_config

import llmswitch.proxy
from conftest import PostgresCluster
from llmswitch.testing import MockServer


def run(gw: Any, key: str, n: int) -> list[float]:
    host, port = gw.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    body = json.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/chat/completions", body, headers)
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t)
        assert r.status == 200, r.status
    conn.close()
    return out


def p(xs: list[float], q: float) -> float:
    return sorted(xs)[int(q * (len(xs) - 1))] * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    server = MockServer()
    tmp = Path(tempfile.mkdtemp())
    cluster = PostgresCluster("shared_preload_libraries=pg_stat_statements")
    redis = RedisServer()
    redis.start()
    try:
        limits = {"models": ["gpt"], "max_budget": 1e6, "rpm_limit": 10**9, "max_parallel_requests": 1000}
        rows = []
        for name, general, router in [
            ("SQLite, in-process counters", {}, {}),
            ("PostgreSQL, in-process counters", {"database_url": cluster.database()}, {}),
            ("SQLite + Redis counters", {}, {"redis_host": "127.0.0.1", "redis_port": redis.port}),
            (
                "PostgreSQL + Redis",
                {"database_url": cluster.database()},
                {"redis_host": "127.0.0.1", "redis_port": redis.port},
            ),
        ]:
            cfg = write_config(tmp / f"{len(rows)}.yaml", server, **general)
            body = json.loads(cfg.read_text())
            body["router_settings"].update(router)
            cfg.write_text(json.dumps(body))
            with llmswitch.proxy.start(cfg) as gw:
                key = Admin(gw.url).post("/key/generate", limits)["key"]
                run(gw, key, 200)  # warm: the key is cached, connections open
                url = general.get("database_url")
                if url:
                    db = url.rsplit("/", 1)[1]
                    cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db)
                    cluster.psql("SELECT pg_stat_statements_reset()", db)
                lat = run(gw, key, n)
                stmts = ""
                if url:
                    stmts = cluster.psql(
                        "SELECT string_agg(left(regexp_replace(query, '\\s+', ' ', 'g'), 60) || ' × ' || calls, ' | ') "
                        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                        f"WHERE d.datname = '{db}' AND query NOT LIKE '%pg_stat_statements%'",
                        db,
                    )
                rows.append((name, p(lat, 0.5), p(lat, 0.99), statistics.mean(lat) * 1e6, stmts))
        for name, p50, p99, mean, stmts in rows:
            print(f"| {name} | {p50:.0f} | {p99:.0f} | {mean:.0f} |")
            if stmts:
                print(f"statements during {n} requests: {stmts}")
    finally:
        redis.stop()
        cluster.stop()
        server.stop()


if __name__ == "__main__":
    main()

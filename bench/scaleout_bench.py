"""The gateway's state on PostgreSQL + Redis beside SQLite.

Two measurements (both need initdb and redis-server):

sequential (the default)
    latency of a virtual key's request (sequential, one keep-alive connection, the loopback
    mock provider) for one gateway on each state backend, and the PostgreSQL statements
    per request on the steady path, counted by pg_stat_statements.

``--loadgen BIN`` (bench/loadgen, built by bench/gateway.sh)
    added latency at a fixed rate (``--rate``, default 1,000 requests/s, latency counted
    from each request's scheduled time) over the mock provider directly: one gateway
    process on SQLite with in-process counters, then three gateway processes sharing one
    PostgreSQL and one Redis with the rate spread over the three. Virtual keys with a
    budget, an rpm and a parallel-request limit are used in turn. For each: p50/p99, CPU
    time per request (utime + stime of the gateway processes from /proc), context switches
    per request (every thread), RSS, and PostgreSQL statements per request during the
    timed run. Use a release build (``maturin develop --release``) for figures to publish.

``--smoke``: the three-replica PostgreSQL + Redis setup with a few hundred requests from
Python threads (no load generator), checking that every request succeeds and the spend
reaches PostgreSQL.

Usage: .venv/bin/python bench/scaleout_bench.py [requests]
       .venv/bin/python bench/scaleout_bench.py --loadgen BIN [--rate 1000] [--seconds 10] [--out FILE]
       .venv/bin/python bench/scaleout_bench.py --smoke
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
sys.path.insert(0, str(HERE))

from gateway_bench import (  # noqa: E402
    BODY,
    MASTER,
    Gateway,
    free_port,
    llmswitch_cmd,
    loadavg,
    post_json,
    start_mock,
)
from gateway_bench import config as gateway_config  # noqa: E402
from test_gateway_state import Admin, write_config  # noqa: E402

import llmswitch.proxy  # noqa: E402
from conftest import PostgresCluster, RedisServer  # noqa: E402
from llmswitch.testing import MockServer  # noqa: E402

# A virtual key's limits: every check runs (budget, rpm, parallel requests), none refuses.
LIMITS = {"models": ["gpt"], "max_budget": 1e6, "rpm_limit": 10**9, "max_parallel_requests": 1000}


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


def statements(cluster: PostgresCluster, db: str) -> str:
    return str(
        cluster.psql(
            "SELECT string_agg(left(regexp_replace(query, '\\s+', ' ', 'g'), 60) || ' × ' || calls, ' | ') "
            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            f"WHERE d.datname = '{db}' AND query NOT LIKE '%pg_stat_statements%'",
            db,
        )
    )


def sequential(n: int) -> None:
    server = MockServer()
    tmp = Path(tempfile.mkdtemp())
    cluster = PostgresCluster("shared_preload_libraries=pg_stat_statements")
    redis = RedisServer()
    redis.start()
    try:
        rows: list[tuple[str, float, float, float, str]] = []
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
                key = Admin(gw.url).post("/key/generate", LIMITS)["key"]
                run(gw, key, 200)  # warm: the key is cached, connections open
                url = general.get("database_url")
                if url:
                    db = url.rsplit("/", 1)[1]
                    cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db)
                    cluster.psql("SELECT pg_stat_statements_reset()", db)
                lat = run(gw, key, n)
                stmts = statements(cluster, db) if url else ""
                rows.append((name, p(lat, 0.5), p(lat, 0.99), statistics.mean(lat) * 1e6, stmts))
        for name, p50, p99, mean, stmts in rows:
            print(f"| {name} | {p50:.0f} | {p99:.0f} | {mean:.0f} |")
            if stmts:
                print(f"statements during {n} requests: {stmts}")
    finally:
        redis.stop()
        cluster.stop()
        server.stop()


# ---------------------------------------------------------------------------------------
# Fixed rate, three replicas


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of every thread of a process."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return total


def loadgen(bin_: str, urls: list[str], body: str, keys: Path, **opts: Any) -> dict[str, Any]:
    """bench/loadgen over `urls` (connections spread over them), the next key each request."""
    cmd = [bin_, *urls, "--body", body, "--keys", str(keys), "--conns", str(opts.get("conns", 64))]
    for name in ("rate", "seconds", "requests"):
        if opts.get(name):
            cmd += [f"--{name}", str(opts[name])]
    return dict(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))


class Replicas:
    """Gateway processes on one config each (the same state), started in turn."""

    def __init__(self, python: str, configs: list[Path]) -> None:
        self.gateways: list[Gateway] = []
        try:
            for cfg in configs:
                port = free_port()
                self.gateways.append(Gateway(llmswitch_cmd(python, cfg, port), port))
        except BaseException:
            self.stop()
            raise

    @property
    def urls(self) -> list[str]:
        return [g.url + "/v1/chat/completions" for g in self.gateways]

    def cpu(self) -> float:
        return sum(cpu_seconds(g.proc.pid) for g in self.gateways)

    def switches(self) -> int:
        return sum(context_switches(g.proc.pid) for g in self.gateways)

    def rss_mib(self) -> list[float]:
        return [round(g.rss(), 1) for g in self.gateways]

    def stop(self) -> None:
        for g in self.gateways:
            g.stop()


def replica_configs(
    tmp: Path, mock_url: str, n: int, general: dict[str, Any], router: dict[str, Any]
) -> list[Path]:
    out = []
    for i in range(n):
        body = gateway_config(mock_url)
        body["general_settings"].update(general)
        body["router_settings"] = router
        cfg = tmp / f"{len(list(tmp.glob('*.yaml')))}-{i}.yaml"
        cfg.write_text(json.dumps(body))  # JSON is YAML
        out.append(cfg)
    return out


def virtual_keys(url: str, n: int, path: Path) -> Path:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    keys = [
        str(post_json(port, "/key/generate", {**LIMITS, "key_alias": f"bench-{i}"})["key"]) for i in range(n)
    ]
    path.write_text("\n".join(keys) + "\n")
    return path


def statement_calls(cluster: PostgresCluster, db: str) -> dict[str, int]:
    """pg_stat_statements' calls in `db` by statement kind (SELECT, INSERT, ...)."""
    text = cluster.psql(
        "SELECT coalesce(string_agg(kind || '=' || n, ','), '') FROM ("
        "SELECT upper(split_part(ltrim(query), ' ', 1)) AS kind, sum(calls)::bigint AS n "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        f"WHERE d.datname = '{db}' AND query NOT LIKE '%pg_stat_statements%' GROUP BY 1) k",
        db,
    )
    return {k: int(v) for k, v in (item.split("=") for item in str(text).split(",") if item)}


def measure(
    loadgen_bin: str, replicas: Replicas, keys: Path, rate: int, seconds: float, on_reset: Any = None
) -> dict[str, Any]:
    loadgen(loadgen_bin, replicas.urls, BODY, keys, requests=2000, conns=16)  # warm up: keys cached
    if on_reset:
        on_reset()
    cpu, switches = replicas.cpu(), replicas.switches()
    r = loadgen(loadgen_bin, replicas.urls, BODY, keys, rate=rate, seconds=seconds)
    done = max(r["ok"] + r["errors"], 1)
    r["cpu_us_per_request"] = round((replicas.cpu() - cpu) * 1e6 / done, 1)
    r["context_switches_per_request"] = round((replicas.switches() - switches) / done, 2)
    r["rss_mib"] = replicas.rss_mib()
    return r


def fixed_rate(loadgen_bin: str, rate: int, seconds: float, n_keys: int) -> dict[str, Any]:
    python = sys.executable
    mock, mock_url = start_mock(python)
    tmp = Path(tempfile.mkdtemp())
    cluster = PostgresCluster("shared_preload_libraries=pg_stat_statements")
    redis = RedisServer()
    redis.start()
    results: dict[str, Any] = {
        "loadavg_before": loadavg(),
        "cpus": os.cpu_count(),
        "rate": rate,
        "keys": n_keys,
    }
    try:
        direct = mock_url + "/v1/chat/completions"
        master = tmp / "master.txt"
        master.write_text(MASTER + "\n")
        loadgen(loadgen_bin, [direct], BODY, master, requests=2000, conns=16)
        results["direct"] = loadgen(loadgen_bin, [direct], BODY, master, rate=rate, seconds=seconds)

        single = Replicas(python, replica_configs(tmp, mock_url, 1, {}, {}))
        try:
            keys = virtual_keys(single.gateways[0].url, n_keys, tmp / "keys-sqlite.txt")
            results["sqlite_one_gateway"] = measure(loadgen_bin, single, keys, rate, seconds)
        finally:
            single.stop()

        database = cluster.database()
        db = database.rsplit("/", 1)[1]
        shared = {"redis_host": "127.0.0.1", "redis_port": redis.port}
        three = Replicas(python, replica_configs(tmp, mock_url, 3, {"database_url": database}, shared))
        try:
            keys = virtual_keys(three.gateways[0].url, n_keys, tmp / "keys-pg.txt")
            cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db)

            def reset() -> None:
                cluster.psql("SELECT pg_stat_statements_reset()", db)

            r = measure(loadgen_bin, three, keys, rate, seconds, on_reset=reset)
            calls = statement_calls(cluster, db)
            done = max(r["ok"] + r["errors"], 1)
            r["postgres_statements"] = calls
            r["postgres_selects_per_request"] = round(calls.get("SELECT", 0) / done, 4)
            r["postgres_statements_per_request"] = round(sum(calls.values()) / done, 4)
            results["postgres_redis_three_gateways"] = r
        finally:
            three.stop()
    finally:
        redis.stop()
        cluster.stop()
        mock.terminate()
        mock.wait()
    results["loadavg_after"] = loadavg()
    d = results["direct"]
    for name in ("sqlite_one_gateway", "postgres_redis_three_gateways"):
        r = results[name]
        r["added_p50_us"] = r["p50_us"] - d["p50_us"]
        r["added_p99_us"] = r["p99_us"] - d["p99_us"]
    a, b = results["sqlite_one_gateway"], results["postgres_redis_three_gateways"]
    results["scaleout_minus_sqlite_p50_us"] = b["p50_us"] - a["p50_us"]
    return results


def markdown(r: dict[str, Any]) -> str:
    d, a, b = r["direct"], r["sqlite_one_gateway"], r["postgres_redis_three_gateways"]
    rows = [
        (
            "p50 / p99 (µs)",
            f"{d['p50_us']:,} / {d['p99_us']:,}",
            f"{a['p50_us']:,} / {a['p99_us']:,}",
            f"{b['p50_us']:,} / {b['p99_us']:,}",
        ),
        (
            "added p50 / p99 (µs)",
            "",
            f"{a['added_p50_us']:,} / {a['added_p99_us']:,}",
            f"{b['added_p50_us']:,} / {b['added_p99_us']:,}",
        ),
        (
            "requests ok / errors",
            f"{d['ok']:,} / {d['errors']}",
            f"{a['ok']:,} / {a['errors']}",
            f"{b['ok']:,} / {b['errors']}",
        ),
        (
            "gateway CPU per request (µs, all processes)",
            "",
            f"{a['cpu_us_per_request']:,}",
            f"{b['cpu_us_per_request']:,}",
        ),
        (
            "context switches per request",
            "",
            f"{a['context_switches_per_request']}",
            f"{b['context_switches_per_request']}",
        ),
        ("RSS (MiB)", "", " / ".join(map(str, a["rss_mib"])), " / ".join(map(str, b["rss_mib"]))),
        (
            "PostgreSQL SELECTs / statements per request",
            "",
            "",
            f"{b['postgres_selects_per_request']} / {b['postgres_statements_per_request']}",
        ),
    ]
    out = [
        f"At {r['rate']:,} requests/s (bench/loadgen, latency from the scheduled time), {r['keys']} virtual keys in turn:",
        "",
        "| | mock directly | one gateway, SQLite | three gateways, PostgreSQL + Redis |",
        "| --- | ---: | ---: | ---: |",
    ]
    out += [f"| {x} | {y} | {z} | {w} |" for x, y, z, w in rows]
    out.append(
        f"\nPostgreSQL + Redis minus SQLite at p50: {r['scaleout_minus_sqlite_p50_us']:,} µs. "
        f"Load average before {r['loadavg_before']}, after {r['loadavg_after']}."
    )
    return "\n".join(out)


def missing_servers() -> str | None:
    """What of PostgreSQL and redis-server is not installed (None: both are)."""
    import shutil

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server"
    try:
        PostgresCluster._bin_dir()
    except FileNotFoundError:
        return "PostgreSQL"
    return None


def smoke(requests: int = 300) -> dict[str, Any]:
    """Three replicas on PostgreSQL + Redis, a few hundred requests spread over them. Skipped
    (as the tests skip) where PostgreSQL or redis-server is not installed, unless
    LLMSWITCH_REQUIRE_REDIS / LLMSWITCH_REQUIRE_POSTGRES say they must be (.ci/run)."""
    missing = missing_servers()
    if missing:
        required = "1" in (
            os.environ.get("LLMSWITCH_REQUIRE_REDIS"),
            os.environ.get("LLMSWITCH_REQUIRE_POSTGRES"),
        )
        if required:
            raise SystemExit(f"scale-out smoke run: {missing} is required")
        print(f"scale-out smoke run skipped: {missing} is not installed", file=sys.stderr)
        return {"skipped": f"{missing} is not installed"}
    python = sys.executable
    mock, mock_url = start_mock(python)
    tmp = Path(tempfile.mkdtemp())
    cluster = PostgresCluster()
    redis = RedisServer()
    redis.start()
    try:
        database = cluster.database()
        shared = {"redis_host": "127.0.0.1", "redis_port": redis.port}
        three = Replicas(python, replica_configs(tmp, mock_url, 3, {"database_url": database}, shared))
        try:
            port = int(three.gateways[0].url.rsplit(":", 1)[1])
            key = str(post_json(port, "/key/generate", LIMITS)["key"])
            cpu = three.cpu()

            def one(i: int) -> int:
                g = three.gateways[i % 3]
                conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=60)
                try:
                    conn.request("POST", "/v1/chat/completions", BODY, {"Authorization": f"Bearer {key}"})
                    r = conn.getresponse()
                    r.read()
                    return r.status
                finally:
                    conn.close()

            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(one, range(requests)))
            cpu_us = (three.cpu() - cpu) * 1e6 / requests
        finally:
            three.stop()  # graceful: the spend log is written
        db = database.rsplit("/", 1)[1]
        rows = int(cluster.psql('SELECT count(*) FROM "LiteLLM_SpendLogs"', db))
        out = {
            "requests": requests,
            "ok": statuses.count(200),
            "spend_log_rows": rows,
            "cpu_us_per_request": round(cpu_us, 1),
        }
        if out["ok"] != requests or rows != requests:
            raise SystemExit(f"scale-out smoke run failed: {out}")
        return out
    finally:
        redis.stop()
        cluster.stop()
        mock.terminate()
        mock.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("requests", nargs="?", type=int, default=2000, help="sequential requests (default mode)")
    ap.add_argument("--loadgen", help="bench/loadgen binary: the fixed-rate run over three replicas")
    ap.add_argument("--rate", type=int, default=1000, help="requests/s of the fixed-rate run")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each timed fixed-rate load")
    ap.add_argument("--keys", type=int, default=100, help="virtual keys used in turn")
    ap.add_argument(
        "--smoke", action="store_true", help="three replicas, a few hundred requests, no load generator"
    )
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--markdown", metavar="JSON", help="print the table of a saved fixed-rate run")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    if args.smoke:
        result = smoke()
    elif args.loadgen:
        result = fixed_rate(args.loadgen, args.rate, args.seconds, args.keys)
    else:
        sequential(args.requests)
        return
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    if "direct" in result:
        print(markdown(result), file=sys.stderr)


if __name__ == "__main__":
    main()

"""The gateway under load, side by side with LiteLLM's proxy on the same mock provider.

``bench/gateway.sh`` runs it with a release build of llmswitch, ``oha`` (built into
bench/.tools) and LiteLLM 1.106.2 in a throwaway venv; ``--smoke`` (``make bench-smoke``)
runs a tiny version with the current build and no load generator, so CI keeps it working.

Measured, on loopback against one mock provider process (the same for every subject):
  latency   at a fixed 1,000 requests/s: p50/p99 of the mock directly and through each
            gateway (added latency = gateway - direct), non-streaming and streaming (the
            mock sends its chunks at once, so a stream's full time bounds its first byte)
  throughput  saturation requests/s at 64 connections, direct and through each gateway
  memory    the gateway's RSS after 10,000 and after 100,000 requests at 64 connections
  cold start  process start to the first 200 from /health/readiness (median of 5)

Every figure comes from this machine at the time of the run; the JSON records the load
average so that a run on a busy machine can be told from a quiet one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MASTER = "sk-bench-master-key-0123456789"
BODY = json.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
STREAM_BODY = json.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "stream": True})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(mock_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "sk-mock",
                    "api_base": mock_url + "/v1",
                },
            }
        ],
        "general_settings": {"master_key": MASTER},
    }


def get(port: int, path: str, key: str | None = MASTER, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Gateway:
    """A gateway process on a free port."""

    def __init__(self, cmd: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if get(port, "/health/readiness", timeout=1) == 200:
                    break
            except OSError:
                time.sleep(0.002)
            if self.proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {self.proc.returncode}")
        else:
            raise RuntimeError(f"{cmd} did not become ready")
        self.cold_start_ms = (time.perf_counter() - started) * 1000

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def oha(
    bin_: str,
    url: str,
    body: str,
    *,
    rate: int | None = None,
    seconds: float | None = None,
    requests: int | None = None,
    conns: int = 64,
) -> dict[str, Any]:
    cmd = [
        bin_,
        "--no-tui",
        "--output-format",
        "json",
        "-m",
        "POST",
        "-d",
        body,
        "-H",
        "content-type: application/json",
        "-H",
        f"authorization: Bearer {MASTER}",
        "-c",
        str(conns),
    ]
    if rate:
        cmd += ["-q", str(rate), "--latency-correction"]
    if seconds:
        cmd += ["-z", f"{seconds}s"]
    if requests:
        cmd += ["-n", str(requests)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    pct = data.get("latencyPercentiles", {})
    codes = data.get("statusCodeDistribution", {})
    return {
        "rps": round(data["summary"]["requestsPerSec"], 1),
        "p50_us": round(pct.get("p50", 0) * 1e6, 1),
        "p99_us": round(pct.get("p99", 0) * 1e6, 1),
        "ok": codes.get("200", 0),
        "errors": sum(v for k, v in codes.items() if k != "200") + len(data.get("errorDistribution", {})),
    }


def python_load(
    port: int, n: int, threads: int, stream: bool, keys: list[str] | None = None
) -> dict[str, Any]:
    """A small load without oha (smoke mode): n requests over keep-alive connections, with
    the master key or each of `keys` in turn."""
    keys = keys or [MASTER]
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    body = STREAM_BODY if stream else BODY

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(count):
            t = time.perf_counter()
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=body,
                headers={
                    "Authorization": f"Bearer {keys[i % len(keys)]}",
                    "content-type": "application/json",
                },
            )
            r = conn.getresponse()
            data = r.read()
            ok = r.status == 200 and (not stream or data.endswith(b"data: [DONE]\n\n"))
            with lock:
                samples.append((time.perf_counter() - t) * 1e6)
                errors[0] += 0 if ok else 1
        conn.close()

    started = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(n // threads,)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.perf_counter() - started
    s = sorted(samples)
    return {
        "rps": round(len(s) / took, 1),
        "p50_us": round(s[len(s) // 2], 1),
        "p99_us": round(s[int(len(s) * 0.99)], 1),
        "ok": len(s) - errors[0],
        "errors": errors[0],
    }


def start_mock(python: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [python, "-m", "llmswitch.testing", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def llmswitch_cmd(python: str, cfg: Path, port: int) -> list[str]:
    return [python, "-m", "llmswitch", "proxy", "--config", str(cfg), "--port", str(port)]


def litellm_cmd(litellm_python: str, cfg: Path, port: int) -> list[str]:
    litellm = str(Path(litellm_python).parent / "litellm")
    return [litellm, "--config", str(cfg), "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"]


def cold_starts(cmd_for_port: Any, runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        port = free_port()
        g = Gateway(cmd_for_port(port), port, env)
        times.append(g.cold_start_ms)
        g.stop()
    return round(statistics.median(times), 1)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def smoke(python: str) -> dict[str, Any]:
    mock, mock_url = start_mock(python)
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "config.yaml"
            cfg.write_text(json.dumps(config(mock_url)))
            port = free_port()
            g = Gateway(llmswitch_cmd(python, cfg, port), port)
            try:
                out: dict[str, Any] = {
                    "cold_start_ms": round(g.cold_start_ms, 1),
                    "non_streaming": python_load(port, 200, 4, stream=False),
                    "streaming": python_load(port, 100, 4, stream=True),
                    "rss_mib": round(g.rss(), 1),
                }
                # The keyed run's path in small: virtual keys with budgets, charged per call.
                keys = [generate_key(port, i) for i in range(20)]
                out["virtual_keys"] = python_load(port, 200, 4, stream=False, keys=keys)
                out["virtual_key_spend"] = key_spend(port, keys[-1])
                out["rss_with_keys_mib"] = round(g.rss(), 1)
            finally:
                g.stop()
        if out["virtual_keys"]["errors"] or not out["virtual_key_spend"] > 0:
            raise SystemExit(f"gateway smoke run with virtual keys failed: {out}")
        if out["non_streaming"]["errors"] or out["streaming"]["errors"]:
            raise SystemExit(f"gateway smoke run had errors: {out}")
        return out
    finally:
        mock.terminate()
        mock.wait()


def full(python: str, litellm_python: str | None, oha_bin: str, seconds: float) -> dict[str, Any]:
    mock, mock_url = start_mock(python)
    results: dict[str, Any] = {"loadavg_before": loadavg(), "cpus": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "config.yaml"
            cfg.write_text(json.dumps(config(mock_url)))
            direct = mock_url + "/v1/chat/completions"
            results["direct"] = {
                "latency": oha(oha_bin, direct, BODY, rate=1000, seconds=seconds),
                "latency_stream": oha(oha_bin, direct, STREAM_BODY, rate=1000, seconds=seconds),
                "saturation": oha(oha_bin, direct, BODY, seconds=seconds, conns=64),
            }
            subjects: list[tuple[str, Any, dict[str, str]]] = [
                ("llmswitch", lambda p: llmswitch_cmd(python, cfg, p), {}),
            ]
            if litellm_python:
                subjects.append(
                    (
                        "litellm",
                        lambda p: litellm_cmd(litellm_python, cfg, p),
                        {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"},
                    )
                )
            for name, cmd, env in subjects:
                r: dict[str, Any] = {"cold_start_ms": cold_starts(cmd, 5 if name == "llmswitch" else 2, env)}
                port = free_port()
                g = Gateway(cmd(port), port, env)
                url = g.url + "/v1/chat/completions"
                try:
                    oha(oha_bin, url, BODY, requests=2000, conns=16)  # warm up
                    r["latency"] = oha(oha_bin, url, BODY, rate=1000, seconds=seconds)
                    r["latency_stream"] = oha(oha_bin, url, STREAM_BODY, rate=1000, seconds=seconds)
                    r["saturation"] = oha(oha_bin, url, BODY, seconds=seconds, conns=64)
                    if name == "llmswitch":
                        g.stop()
                        g = Gateway(cmd(port), port, env)
                        oha(oha_bin, url, BODY, requests=10_000, conns=64)
                        r["rss_after_10k_mib"] = round(g.rss(), 1)
                        oha(oha_bin, url, BODY, requests=90_000, conns=64)
                        r["rss_after_100k_mib"] = round(g.rss(), 1)
                    else:
                        r["rss_after_load_mib"] = round(g.rss(), 1)
                finally:
                    g.stop()
                results[name] = r
    finally:
        mock.terminate()
        mock.wait()
    results["loadavg_after"] = loadavg()
    d = results["direct"]
    for name in ("llmswitch", "litellm"):
        if name in results:
            r = results[name]
            r["added_p50_us"] = round(r["latency"]["p50_us"] - d["latency"]["p50_us"], 1)
            r["added_p99_us"] = round(r["latency"]["p99_us"] - d["latency"]["p99_us"], 1)
            r["added_stream_p50_us"] = round(r["latency_stream"]["p50_us"] - d["latency_stream"]["p50_us"], 1)
            r["added_stream_p99_us"] = round(r["latency_stream"]["p99_us"] - d["latency_stream"]["p99_us"], 1)
            r["share_of_direct_throughput"] = round(r["saturation"]["rps"] / d["saturation"]["rps"], 3)
    if "litellm" in results:
        results["throughput_vs_litellm"] = round(
            results["llmswitch"]["saturation"]["rps"] / max(results["litellm"]["saturation"]["rps"], 0.1), 1
        )
    return results


def loadgen(
    bin_: str,
    url: str,
    body: str,
    keys: Path | str,
    *,
    rate: int | None = None,
    seconds: float | None = None,
    requests: int | None = None,
    conns: int = 64,
) -> dict[str, Any]:
    """bench/loadgen: oha's measurements, with the next key of a list on every request."""
    cmd = [bin_, url, "--body", body, "--conns", str(conns)]
    cmd += ["--keys", str(keys)] if isinstance(keys, Path) else ["--key", keys]
    if rate:
        cmd += ["--rate", str(rate)]
    if seconds:
        cmd += ["--seconds", str(seconds)]
    if requests:
        cmd += ["--requests", str(requests)]
    return dict(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))


def post_json(port: int, path: str, body: dict[str, Any], key: str = MASTER) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        r = conn.getresponse()
        data = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError(f"{path}: {r.status} {data}")
        return dict(data)
    finally:
        conn.close()


def keyed(python: str, loadgen_bin: str, seconds: float, n_keys: int = 1000) -> dict[str, Any]:
    """The real features on: n_keys virtual keys (each with a budget) in turn on every request,
    spend logged to the embedded SQLite store; against the master key on the same gateway and
    the mock directly, all measured by bench/loadgen."""
    mock, mock_url = start_mock(python)
    results: dict[str, Any] = {"loadavg_before": loadavg(), "keys": n_keys}
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "config.yaml"
            cfg.write_text(json.dumps(config(mock_url)))
            direct = mock_url + "/v1/chat/completions"
            results["direct"] = {
                "latency": loadgen(loadgen_bin, direct, BODY, MASTER, rate=1000, seconds=seconds),
                "latency_stream": loadgen(
                    loadgen_bin, direct, STREAM_BODY, MASTER, rate=1000, seconds=seconds
                ),
                "saturation": loadgen(loadgen_bin, direct, BODY, MASTER, seconds=seconds),
            }
            port = free_port()
            g = Gateway(llmswitch_cmd(python, cfg, port), port)
            url = g.url + "/v1/chat/completions"
            try:
                keys_file = Path(d) / "keys.txt"
                keys = [generate_key(port, i) for i in range(n_keys)]
                keys_file.write_text("\n".join(keys) + "\n")
                loadgen(loadgen_bin, url, BODY, keys_file, requests=2000, conns=16)  # warm up
                for name, key in (("master_key", MASTER), ("virtual_keys", keys_file)):
                    results[name] = {
                        "latency": loadgen(loadgen_bin, url, BODY, key, rate=1000, seconds=seconds),
                        "latency_stream": loadgen(
                            loadgen_bin, url, STREAM_BODY, key, rate=1000, seconds=seconds
                        ),
                        "saturation": loadgen(loadgen_bin, url, BODY, key, seconds=seconds),
                    }
                vk = results["virtual_keys"]
                loadgen(loadgen_bin, url, BODY, keys_file, requests=10_000)
                vk["rss_after_10k_mib"] = round(g.rss(), 1)
                loadgen(loadgen_bin, url, BODY, keys_file, requests=90_000)
                vk["rss_after_100k_mib"] = round(g.rss(), 1)
                # Every key was charged: the budgets and the spend log saw the load.
                vk["last_key_spend"] = key_spend(port, keys[-1])
            finally:
                g.stop()
    finally:
        mock.terminate()
        mock.wait()
    results["loadavg_after"] = loadavg()
    d = results["direct"]
    for name in ("master_key", "virtual_keys"):
        r = results[name]
        r["added_p50_us"] = r["latency"]["p50_us"] - d["latency"]["p50_us"]
        r["added_p99_us"] = r["latency"]["p99_us"] - d["latency"]["p99_us"]
        r["added_stream_p50_us"] = r["latency_stream"]["p50_us"] - d["latency_stream"]["p50_us"]
        r["added_stream_p99_us"] = r["latency_stream"]["p99_us"] - d["latency_stream"]["p99_us"]
        r["share_of_direct_throughput"] = round(r["saturation"]["rps"] / d["saturation"]["rps"], 3)
    return results


def generate_key(port: int, i: int) -> str:
    """A virtual key for the bench model with a budget (spent by the runs, never exhausted)."""
    body = {"models": ["gpt"], "max_budget": 1000.0, "budget_duration": "30d", "key_alias": f"bench-{i}"}
    return str(post_json(port, "/key/generate", body)["key"])


def key_spend(port: int, key: str) -> float:
    """A key's recorded spend, once the write-behind spend log has written it (≤ 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        spend = float(get_json(port, f"/key/info?key={key}")["info"]["spend"])
        if spend > 0 or time.monotonic() > deadline:
            return spend
        time.sleep(0.05)


def get_json(port: int, path: str, key: str = MASTER) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


GATEWAY_NOTE = (
    "Produced by `bench/gateway.sh` (`make bench-gateway`): a release build of llmswitch, `oha` as the load\n"
    "generator, LiteLLM's proxy 1.106.2 (one worker) in a throwaway venv, one mock provider process\n"
    "(`python -m llmswitch.testing`) shared by all, everything on loopback on the same 2 cores. Latency is\n"
    "oha's, at a fixed 1,000 requests/s with latency correction; the mock sends a stream's chunks at once,\n"
    "so a stream's full time bounds its time to first byte. Targets: added latency ≤ 150 µs p50 and\n"
    "≤ 500 µs p99; saturation ≥ half the mock's direct throughput and ≥ 30× LiteLLM's; RSS ≤ 30 MB after\n"
    "100k requests and < 2 MB growth from 10k to 100k; cold start < 150 ms."
)


def markdown(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section for a full run's JSON."""
    d, ls = r["direct"], r["llmswitch"]
    lt = r.get("litellm")

    def cell(sub: dict[str, Any] | None, *keys: str, unit: str = "") -> str:
        v: Any = sub
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return "n/a" if v is None else f"{v:,}{unit}"

    rows = [
        (
            "p50 at 1,000 req/s, non-streaming (µs)",
            cell(d, "latency", "p50_us"),
            cell(ls, "latency", "p50_us"),
            cell(lt, "latency", "p50_us"),
        ),
        (
            "p99 at 1,000 req/s, non-streaming (µs)",
            cell(d, "latency", "p99_us"),
            cell(ls, "latency", "p99_us"),
            cell(lt, "latency", "p99_us"),
        ),
        (
            "added p50 / p99, non-streaming (µs)",
            "",
            f"{ls['added_p50_us']:,} / {ls['added_p99_us']:,}",
            f"{lt['added_p50_us']:,} / {lt['added_p99_us']:,}" if lt else "n/a",
        ),
        (
            "p50 / p99 at 1,000 req/s, streaming (µs)",
            f"{d['latency_stream']['p50_us']:,} / {d['latency_stream']['p99_us']:,}",
            f"{ls['latency_stream']['p50_us']:,} / {ls['latency_stream']['p99_us']:,}",
            f"{lt['latency_stream']['p50_us']:,} / {lt['latency_stream']['p99_us']:,}" if lt else "n/a",
        ),
        (
            "added p50 / p99, streaming (µs)",
            "",
            f"{ls['added_stream_p50_us']:,} / {ls['added_stream_p99_us']:,}",
            f"{lt['added_stream_p50_us']:,} / {lt['added_stream_p99_us']:,}" if lt else "n/a",
        ),
        (
            "saturation, 64 connections (req/s)",
            cell(d, "saturation", "rps"),
            cell(ls, "saturation", "rps"),
            cell(lt, "saturation", "rps"),
        ),
        (
            "share of the mock's direct throughput",
            "1",
            cell(ls, "share_of_direct_throughput"),
            cell(lt, "share_of_direct_throughput"),
        ),
        (
            "errors under load",
            cell(d, "saturation", "errors"),
            cell(ls, "saturation", "errors"),
            cell(lt, "saturation", "errors"),
        ),
        (
            "RSS after 10k / 100k requests (MiB)",
            "",
            f"{ls['rss_after_10k_mib']} / {ls['rss_after_100k_mib']}",
            cell(lt, "rss_after_load_mib") + " (after the runs above)" if lt else "n/a",
        ),
        (
            "cold start to 200 from /health/readiness (ms)",
            "",
            cell(ls, "cold_start_ms"),
            cell(lt, "cold_start_ms"),
        ),
    ]
    out = ["| | mock directly | llmswitch gateway | LiteLLM proxy |", "| --- | ---: | ---: | ---: |"]
    out += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in rows]
    if "throughput_vs_litellm" in r:
        out.append(f"\nThroughput, llmswitch / LiteLLM: **{r['throughput_vs_litellm']}×**.")
    out.append(f"\n{r['cpus']} CPUs; load average before {r['loadavg_before']}, after {r['loadavg_after']}.")
    if "keyed" in r:
        out += ["", keyed_markdown(r["keyed"])]
    return "\n".join(out)


def keyed_markdown(k: dict[str, Any]) -> str:
    """The table of the run with virtual keys, budgets and spend logging on."""
    d, m, v = k["direct"], k["master_key"], k["virtual_keys"]

    def pair(sub: dict[str, Any], a: str, b: str) -> str:
        return f"{sub[a]:,} / {sub[b]:,}"

    rows = [
        (
            "p50 / p99 at 1,000 req/s, non-streaming (µs)",
            *(pair(x["latency"], "p50_us", "p99_us") for x in (d, m, v)),
        ),
        (
            "added p50 / p99, non-streaming (µs)",
            "",
            pair(m, "added_p50_us", "added_p99_us"),
            pair(v, "added_p50_us", "added_p99_us"),
        ),
        (
            "p50 / p99 at 1,000 req/s, streaming (µs)",
            *(pair(x["latency_stream"], "p50_us", "p99_us") for x in (d, m, v)),
        ),
        (
            "added p50 / p99, streaming (µs)",
            "",
            pair(m, "added_stream_p50_us", "added_stream_p99_us"),
            pair(v, "added_stream_p50_us", "added_stream_p99_us"),
        ),
        ("saturation, 64 connections (req/s)", *(f"{x['saturation']['rps']:,}" for x in (d, m, v))),
        (
            "share of the mock's direct throughput",
            "1",
            str(m["share_of_direct_throughput"]),
            str(v["share_of_direct_throughput"]),
        ),
        ("errors under load", *(str(x["saturation"]["errors"]) for x in (d, m, v))),
        (
            "RSS after 10k / 100k requests (MiB)",
            "",
            "",
            f"{v['rss_after_10k_mib']} / {v['rss_after_100k_mib']}",
        ),
    ]
    out = [
        f"With {k['keys']:,} virtual keys, each with a budget, used in turn, and spend logged to SQLite "
        f"(bench/loadgen; the last key's recorded spend afterwards: ${v['last_key_spend']:.6f}):",
        "",
        "| | mock directly | master key | virtual keys |",
        "| --- | ---: | ---: | ---: |",
    ]
    out += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in rows]
    out.append(f"\nLoad average before {k['loadavg_before']}, after {k['loadavg_after']}.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--smoke", action="store_true", help="tiny run with the current build, no oha, no LiteLLM"
    )
    ap.add_argument("--litellm-python", help="python of a venv with litellm[proxy] installed")
    ap.add_argument("--oha", default=shutil.which("oha") or "bench/.tools/bin/oha")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each timed load")
    ap.add_argument(
        "--loadgen", help="bench/loadgen binary: also run with 1,000 virtual keys, budgets, spend logs"
    )
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--markdown", metavar="JSON", help="print the BENCHMARKS.md section of a saved run")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return
    result = (
        smoke(sys.executable)
        if args.smoke
        else full(sys.executable, args.litellm_python, args.oha, args.seconds)
    )
    if args.loadgen and not args.smoke:
        result["keyed"] = keyed(sys.executable, args.loadgen, args.seconds)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

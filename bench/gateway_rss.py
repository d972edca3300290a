"""Where the gateway's resident memory is: /proc/<pid>/smaps per mapping, at start, after
10,000 and after 100,000 requests (or the `--points` given) at 64 connections (bench/loadgen),
with the master key or with N virtual keys (each with a budget, spend logged to SQLite) used
in turn.

    python bench/gateway_rss.py --loadgen bench/loadgen/target/release/llmswitch-loadgen [--keys 1000]
        [--points 10000,100000,200000]

Prints one JSON object: for each point, RSS by kind (anonymous memory, thread stacks,
the extension's mapped file, libpython and the python binary, other shared libraries, other
files), the thread count and the spend-log rows still waiting to be written
(`llmswitch_spend_log_queue_rows`; memory they hold is counted as anonymous), and once more
after the last point when that queue is empty ("drained"). Stacks are the anonymous mappings that hold a thread's stack
pointer (from /proc/<pid>/task/<tid>/syscall; the main thread's is [stack]).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from gateway_bench import (
    BODY,
    MASTER,
    Gateway,
    config,
    free_port,
    generate_key,
    key_spend,
    llmswitch_cmd,
    loadgen,
    start_mock,
)


def stack_pointers(pid: int) -> list[int]:
    sps = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
        except OSError:
            continue
        if len(fields) >= 8:  # "nr args... sp pc"; "running" when on a CPU
            sps.append(int(fields[-2], 16))
    return sps


def decompose(pid: int) -> dict[str, Any]:
    """RSS (KiB) by kind of mapping."""
    sps = stack_pointers(pid)
    kinds: dict[str, int] = {}
    mapping: tuple[int, int, str] | None = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                mapping = (lo, hi, head[5] if len(head) > 5 else "")
            elif head[0] == "Rss:" and mapping:
                lo, hi, path = mapping
                name = os.path.basename(path)
                if path == "[stack]" or (not path and any(lo <= sp < hi for sp in sps)):
                    kind = "thread_stacks"
                elif not path or path == "[heap]":
                    kind = "anonymous"
                elif "_llmswitch" in name:
                    kind = "extension_so"
                elif name.startswith("libpython") or name.startswith("python"):
                    kind = "python_and_libpython"
                elif ".so" in name:
                    kind = "other_shared_libraries"
                else:
                    kind = "other"
                kinds[kind] = kinds.get(kind, 0) + int(head[1])
    status = Path(f"/proc/{pid}/status").read_text()
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    out: dict[str, Any] = {k: round(v / 1024, 1) for k, v in sorted(kinds.items())}
    out["total_mib"] = round(rss / 1024, 1)
    out["threads"] = threads
    return out


def spend_queue_rows(url: str) -> int | None:
    """The spend writer's queue depth from /metrics (None: a gateway without the gauge)."""
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("llmswitch_spend_log_queue_rows "):
                return int(float(line.split()[1]))
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--keys", type=int, default=0, help="virtual keys with budgets (0: the master key)")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument(
        "--points", help="comma-separated request counts to read at (default: 10000 and --requests)"
    )
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args()
    mock, mock_url = start_mock(args.python)
    result: dict[str, Any] = {"keys": args.keys}
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "config.yaml"
            cfg.write_text(json.dumps(config(mock_url)))
            port = free_port()
            g = Gateway(llmswitch_cmd(args.python, cfg, port), port)
            url = g.url + "/v1/chat/completions"
            try:
                result["start"] = decompose(g.proc.pid)
                key: Path | str = MASTER
                if args.keys:
                    key = Path(d) / "keys.txt"
                    keys = [generate_key(port, i) for i in range(args.keys)]
                    key.write_text("\n".join(keys) + "\n")
                    result["keys_made"] = decompose(g.proc.pid)
                points = (
                    [int(p) for p in args.points.split(",")]
                    if args.points
                    else sorted({min(10_000, args.requests), args.requests})
                )
                done = 0
                for point in points:
                    loadgen(args.loadgen, url, BODY, key, requests=point - done)
                    done = point
                    result[f"after_{point // 1000}k"] = {
                        **decompose(g.proc.pid),
                        "spend_queue_rows": spend_queue_rows(g.url),
                    }
                deadline = time.monotonic() + 60
                if spend_queue_rows(g.url) is None:
                    time.sleep(15)  # no gauge: give the writer time
                while (spend_queue_rows(g.url) or 0) > 0 and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1.0)
                result["drained"] = {**decompose(g.proc.pid), "spend_queue_rows": spend_queue_rows(g.url)}
                if args.keys:
                    result["last_key_spend"] = key_spend(port, keys[-1])
            finally:
                g.stop()
    finally:
        mock.terminate()
        mock.wait()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

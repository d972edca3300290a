"""Soak: steady load on loopback for a while, sampling the process as it goes.

Blocking calls, streams (read to the end and closed early), async calls, embeddings and
Router calls against the loopback mock provider, from a few threads and an event loop, at a
steady rate. Every few seconds it samples RSS, open file descriptors, threads and the call
latencies of the last window, and prints one JSON object at the end:

    {"seconds": ..., "calls": ..., "errors": ..., "rss_mib": [...], "fds": [...],
     "threads": [...], "p50_ms": [...], "p99_ms": [...], "rss_growth": ..., "fd_growth": ...,
     "thread_growth": ...}

Growth is measured after the warm-up (the first quarter of the samples), from the median of
the three samples after it to the median of the last three.

    python bench/soak.py --seconds 600        # the long form (RELIABILITY.md)
    python bench/soak.py --seconds 40         # what tests/python/test_soak.py runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from typing import Any

import llmswitch
from llmswitch.testing import MockServer

MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "sk-soak-0123456789abcdef"


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


class Load:
    def __init__(self, server: MockServer, rate: float) -> None:
        self.server = server
        self.pause = 1.0 / rate
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.calls = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.router = llmswitch.Router(
            model_list=[
                {
                    "model_name": "g",
                    "litellm_params": {"model": "openai/gpt-4o", "api_key": KEY, "api_base": server.base_url},
                    "model_info": {"id": f"g-{i}"},
                }
                for i in range(2)
            ],
            num_retries=0,
        )

    def record(self, started: float, error: BaseException | None = None) -> None:
        with self.lock:
            self.calls += 1
            self.latencies.append(time.perf_counter() - started)
            if error is not None and len(self.errors) < 20:
                self.errors.append(repr(error))

    def one(self, i: int) -> None:
        kw: dict[str, Any] = {"api_base": self.server.base_url, "api_key": KEY}
        started = time.perf_counter()
        try:
            kind = i % 5
            if kind == 0:
                llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **kw)
            elif kind == 1:
                for _ in llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **kw):
                    pass
            elif kind == 2:
                with llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **kw) as s:
                    next(iter(s))
            elif kind == 3:
                llmswitch.embedding(model="openai/text-embedding-3-small", input=["a", "b"], **kw)
            else:
                self.router.completion(model="g", messages=MESSAGES)
        except Exception as e:
            self.record(started, e)
            return
        self.record(started)

    def thread(self, offset: int) -> None:
        i = offset
        while not self.stop.is_set():
            self.one(i)
            i += 1
            self.stop.wait(self.pause)

    async def aio(self) -> None:
        kw = {"api_base": self.server.base_url, "api_key": KEY}
        i = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                if i % 2:
                    await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **kw)
                else:
                    s = await llmswitch.acompletion(
                        model="openai/gpt-4o", messages=MESSAGES, stream=True, **kw
                    )
                    async for _ in s:
                        pass
            except Exception as e:
                self.record(started, e)
            else:
                self.record(started)
            i += 1
            await asyncio.sleep(self.pause)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--sample", type=float, default=0, help="seconds between samples (default: seconds/20)")
    ap.add_argument("--threads", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100, help="calls per second per worker, at most")
    ap.add_argument("--ledger-records", type=int, default=2000)
    args = ap.parse_args()
    sample_every = args.sample or max(1.0, args.seconds / 20)

    server = MockServer()
    server.set_recording(False)
    # The ledger's in-memory ring is bounded (100,000 records by default, 72 bytes each);
    # a smaller one fills during the warm-up, so growth after it is a leak, not the ring.
    llmswitch.spend.enable(max_records=args.ledger_records)
    load = Load(server, args.rate)
    workers = [threading.Thread(target=load.thread, args=(k,), daemon=True) for k in range(args.threads)]
    loop_thread = threading.Thread(target=lambda: asyncio.run(load.aio()), daemon=True)
    for w in [*workers, loop_thread]:
        w.start()

    samples: dict[str, list[float]] = {"rss_mib": [], "fds": [], "threads": [], "p50_ms": [], "p99_ms": []}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(min(sample_every, max(0.0, end - time.monotonic())))
        with load.lock:
            window, load.latencies = load.latencies, []
        samples["rss_mib"].append(round(rss_mib(), 2))
        samples["fds"].append(fds())
        samples["threads"].append(len(os.listdir("/proc/self/task")))
        samples["p50_ms"].append(round(percentile(window, 0.5) * 1000, 3))
        samples["p99_ms"].append(round(percentile(window, 0.99) * 1000, 3))
    load.stop.set()
    for w in [*workers, loop_thread]:
        w.join(timeout=10)
    # Every stream the load opened is closed (none held by a leaked task or object).
    settle = time.monotonic() + 5
    while server.open_streams and time.monotonic() < settle:
        time.sleep(0.05)

    def growth(xs: list[float]) -> float:
        warm = len(xs) // 4
        after, last = statistics.median(xs[warm : warm + 3]), statistics.median(xs[-3:])
        return (last - after) / after if after else 0.0

    report: dict[str, Any] = {
        "seconds": args.seconds,
        "calls": load.calls,
        "errors": len(load.errors),
        "open_streams_after": server.open_streams,
        "error_samples": load.errors[:5],
        **samples,
        "rss_growth": round(growth(samples["rss_mib"]), 4),
        "fd_growth": growth(samples["fds"]),
        "thread_growth": growth(samples["threads"]),
    }
    json.dump(report, sys.stdout)
    print()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Side-by-side library benchmarks against one local mock provider server.

Runs the subjects that are importable in the current interpreter (llmswitch, httpx, openai,
litellm) over the same workloads and prints one JSON document. ``bench/run.sh`` calls it once
in a venv with a release build of llmswitch and once in a throwaway venv with LiteLLM, then
``bench/report.py`` renders BENCHMARKS.md. ``--smoke`` runs tiny counts (CI keeps it working).

Workloads:
  sync      sequential non-streaming calls: p50/p99 latency (µs)
  async     N calls with 32 in flight in one asyncio loop: calls/s
  asynccmp  llmswitch.acompletion against a bare aiohttp client (POST, JSON in and out, no
            translation), 64 in flight, in alternating rounds: calls/s and the ratio
  stream    sequential 200-chunk streams: time per stream and per chunk (µs)
  memory    RSS after 1,000 and after 10,000 calls (MiB)
  import    import time and RSS of the package, in a fresh interpreter
  native    one OpenAI, Anthropic and Gemini round trip each (translation overhead)
  cost      get_model_info, get_llm_provider, cost_per_token, token_counter (µs per call)
  router    the same call through a one-deployment Router and directly (router overhead)
  ledger    completion() with the spend ledger recording to SQLite and with it off
  ledgermem bytes per in-memory ledger record: RSS growth over 100,000 recorded calls, in
            a fresh interpreter, next to the ledger's own count of its bytes
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

MESSAGES = [{"role": "user", "content": "hi"}]
BODY = {"model": "gpt-4o", "messages": MESSAGES}


def percentiles(samples_us: list[float]) -> dict[str, float]:
    s = sorted(samples_us)
    return {
        "p50_us": round(s[len(s) // 2], 1),
        "p99_us": round(s[min(len(s) - 1, int(len(s) * 0.99))], 1),
        "mean_us": round(statistics.fmean(s), 1),
        "n": len(s),
    }


def time_calls(fn: Callable[[], Any], n: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e6)
    return percentiles(samples)


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SUBJECTS: set[str] = set()


def has(module: str) -> bool:
    if SUBJECTS and module not in SUBJECTS:
        return False
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- subjects


def sync_subjects(url: str) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {}
    if has("llmswitch"):
        import llmswitch

        def ls() -> Any:
            return llmswitch.completion(
                model="openai/gpt-4o", messages=MESSAGES, api_base=url + "/v1", api_key="k"
            )

        out["llmswitch.completion"] = ls
    if has("httpx"):
        import httpx

        client = httpx.Client()

        def hx() -> Any:
            return client.post(
                url + "/v1/chat/completions", json=BODY, headers={"authorization": "Bearer k"}
            ).json()

        out["httpx.Client"] = hx
    if has("openai"):
        import openai

        oc = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)

        def oa() -> Any:
            return oc.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]

        out["openai SDK"] = oa
    if has("litellm"):
        import litellm

        def ll() -> Any:
            return litellm.completion(
                model="openai/gpt-4o", messages=MESSAGES, api_base=url + "/v1", api_key="k"
            )

        out["litellm.completion"] = ll
    return out


def async_subjects(url: str) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {}
    if has("llmswitch"):
        import llmswitch

        out["llmswitch.acompletion"] = lambda: llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=url + "/v1", api_key="k"
        )
    if has("httpx"):
        import httpx

        holder: dict[str, Any] = {}

        async def hx() -> Any:
            if "c" not in holder:
                holder["c"] = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))
            r = await holder["c"].post(
                url + "/v1/chat/completions", json=BODY, headers={"authorization": "Bearer k"}
            )
            return r.json()

        out["httpx.AsyncClient"] = hx
    if has("openai"):
        import openai

        holder2: dict[str, Any] = {}

        async def oa() -> Any:
            if "c" not in holder2:
                holder2["c"] = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
            return await holder2["c"].chat.completions.create(model="gpt-4o", messages=MESSAGES)

        out["openai AsyncOpenAI"] = oa
    if has("litellm"):
        import litellm

        out["litellm.acompletion"] = lambda: litellm.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=url + "/v1", api_key="k"
        )
    if has("aiohttp"):
        out["aiohttp (bare)"] = aiohttp_subject(url)
    return out


def aiohttp_subject(url: str) -> Callable[[], Any]:
    """A bare aiohttp client: POST the chat body, parse the JSON answer. No translation,
    no checks, no cost: the floor for an asyncio HTTP client in Python."""
    import aiohttp

    holder: dict[str, Any] = {}
    endpoint = url + "/v1/chat/completions"
    headers = {"authorization": "Bearer k"}

    async def call() -> Any:
        loop = asyncio.get_running_loop()
        if holder.get("loop") is not loop:
            holder["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128))
            holder["loop"] = loop
        async with holder["s"].post(endpoint, json=BODY, headers=headers) as r:
            return await r.json()

    async def close() -> None:
        holder.pop("loop", None)
        if "s" in holder:
            await holder.pop("s").close()

    call.close = close  # type: ignore[attr-defined]
    return call


def stream_subjects(url: str, chunks: int) -> dict[str, Callable[[], int]]:
    out: dict[str, Callable[[], int]] = {}
    headers = {"x-mock-chunks": str(chunks)}
    if has("llmswitch"):
        import llmswitch

        def ls() -> int:
            n = 0
            for _ in llmswitch.completion(
                model="openai/gpt-4o",
                messages=MESSAGES,
                stream=True,
                api_base=url + "/v1",
                api_key="k",
                extra_headers=headers,
            ):
                n += 1
            return n

        out["llmswitch.completion(stream=True)"] = ls
    if has("httpx"):
        import httpx

        client = httpx.Client()

        def hx() -> int:
            n = 0
            with client.stream(
                "POST",
                url + "/v1/chat/completions",
                json={**BODY, "stream": True},
                headers={**headers, "authorization": "Bearer k"},
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        n += 1
            return n

        out["httpx.Client.stream + json.loads"] = hx
    if has("litellm"):
        import litellm

        def ll() -> int:
            n = 0
            for _ in litellm.completion(
                model="openai/gpt-4o",
                messages=MESSAGES,
                stream=True,
                api_base=url + "/v1",
                api_key="k",
                extra_headers=headers,
            ):
                n += 1
            return n

        out["litellm.completion(stream=True)"] = ll
    return out


# --------------------------------------------------------------------------- workloads


def bench_sync(url: str, n: int) -> dict[str, Any]:
    return {name: time_calls(fn, n, warmup=max(5, n // 10)) for name, fn in sync_subjects(url).items()}


def raw_baseline(binary: str, url: str, n: int, stream_chunks: int | None = None) -> dict[str, Any]:
    """One run of the raw Rust client (examples/raw_baseline.rs)."""
    args = [binary, url + "/v1/chat/completions", str(n)]
    if stream_chunks:
        args.append(str(stream_chunks))
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def bench_overhead(url: str, raw_bin: str, n: int, rounds: int, chunks: int) -> dict[str, Any]:
    """llmswitch against the raw wire, in alternating rounds (raw client, then llmswitch,
    repeated), so that drift in the machine's speed between runs cannot skew the comparison.
    Reports per-round p50/p99 of both and the median of the per-round differences."""
    import llmswitch

    sync_fn = sync_subjects(url)["llmswitch.completion"]
    stream_fn = stream_subjects(url, chunks)["llmswitch.completion(stream=True)"]
    per = max(10, n // rounds)
    per_stream = max(3, per // 10)
    rows: dict[str, list[dict[str, float]]] = {"sync_raw": [], "sync": [], "stream_raw": [], "stream": []}
    got = stream_fn()
    for _ in range(rounds):
        rows["sync_raw"].append(raw_baseline(raw_bin, url, per))
        rows["sync"].append(time_calls(sync_fn, per, warmup=max(5, per // 10)))
        rows["stream_raw"].append(raw_baseline(raw_bin, url, per_stream, chunks))
        rows["stream"].append(time_calls(stream_fn, per_stream, warmup=2))

    def med(key: str, field: str) -> float:
        return round(statistics.median(r[field] for r in rows[key]), 1)

    def med_diff(a: str, b: str, field: str) -> float:
        return round(statistics.median(x[field] - y[field] for x, y in zip(rows[a], rows[b])), 1)

    del llmswitch
    return {
        "rounds": rounds,
        "calls_per_round": per,
        "streams_per_round": per_stream,
        "chunks": got,
        "sync": {
            "raw_p50_us": med("sync_raw", "p50_us"),
            "raw_p99_us": med("sync_raw", "p99_us"),
            "llmswitch_p50_us": med("sync", "p50_us"),
            "llmswitch_p99_us": med("sync", "p99_us"),
            "overhead_p50_us": med_diff("sync", "sync_raw", "p50_us"),
            "overhead_p99_us": med_diff("sync", "sync_raw", "p99_us"),
        },
        "stream": {
            "raw_p50_us": med("stream_raw", "p50_us"),
            "llmswitch_p50_us": med("stream", "p50_us"),
            "overhead_per_chunk_us": round(med_diff("stream", "stream_raw", "p50_us") / max(1, got), 2),
        },
        "per_round": rows,
    }


def bench_async(url: str, total: int, concurrency: int = 32) -> dict[str, Any]:
    results = {}
    for name, make in async_subjects(url).items():

        async def run(make: Callable[[], Any] = make) -> float:
            sem = asyncio.Semaphore(concurrency)

            async def one() -> None:
                async with sem:
                    await make()

            await asyncio.gather(*[one() for _ in range(min(200, total))])  # warm-up
            t = time.perf_counter()
            await asyncio.gather(*[one() for _ in range(total)])
            return time.perf_counter() - t

        elapsed = asyncio.run(run())
        results[name] = {"calls": total, "concurrency": concurrency, "calls_per_s": round(total / elapsed, 1)}
    return results


def calls_per_second(make: Callable[[], Any], total: int, concurrency: int) -> tuple[float, float]:
    """`total` calls with `concurrency` in flight in a fresh asyncio loop, after a warm-up:
    calls per second, and CPU time per call (µs, every thread of this process: the measure
    that a busy machine disturbs least)."""

    async def run() -> tuple[float, float]:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await make()

        await asyncio.gather(*[one() for _ in range(min(2 * concurrency, total))])  # warm-up
        t, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*[one() for _ in range(total)])
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        close = getattr(make, "close", None)
        if close is not None:
            await close()
        return elapsed, cpu

    elapsed, cpu = asyncio.run(run())
    return total / elapsed, cpu / total * 1e6


def bench_async_vs_aiohttp(url: str, total: int, rounds: int, concurrency: int = 64) -> dict[str, Any]:
    """llmswitch.acompletion and a bare aiohttp client in alternating rounds (aiohttp, then
    llmswitch, repeated), so drift in the machine's load hits both alike."""
    if not (has("llmswitch") and has("aiohttp")):
        return {}
    import llmswitch

    subjects = {
        "aiohttp (bare)": aiohttp_subject(url),
        "llmswitch.acompletion": lambda: llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, api_base=url + "/v1", api_key="k"
        ),
    }
    per_round: dict[str, list[float]] = {k: [] for k in subjects}
    cpu: dict[str, list[float]] = {k: [] for k in subjects}
    for _ in range(rounds):
        for name, make in subjects.items():
            rate, cpu_us = calls_per_second(make, total, concurrency)
            per_round[name].append(rate)
            cpu[name].append(cpu_us)
    ratios = [ls / ah for ls, ah in zip(per_round["llmswitch.acompletion"], per_round["aiohttp (bare)"])]
    return {
        "concurrency": concurrency,
        "calls_per_round": total,
        "rounds": rounds,
        "aiohttp_calls_per_s": round(statistics.median(per_round["aiohttp (bare)"]), 1),
        "llmswitch_calls_per_s": round(statistics.median(per_round["llmswitch.acompletion"]), 1),
        "aiohttp_cpu_us_per_call": round(statistics.median(cpu["aiohttp (bare)"]), 1),
        "llmswitch_cpu_us_per_call": round(statistics.median(cpu["llmswitch.acompletion"]), 1),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "per_round": per_round,
    }


def bench_stream(url: str, n: int, chunks: int) -> dict[str, Any]:
    results = {}
    for name, fn in stream_subjects(url, chunks).items():
        got = fn()
        stats = time_calls(fn, n, warmup=max(2, n // 10))
        stats["chunks"] = got
        stats["per_chunk_us"] = round(stats["p50_us"] / max(1, got), 2)
        results[name] = stats
    return results


def bench_memory(url: str, first: int, total: int) -> dict[str, Any]:
    results = {}
    subjects = sync_subjects(url)
    for name in ("llmswitch.completion", "litellm.completion"):
        fn = subjects.get(name)
        if fn is None:
            continue
        for _ in range(first):
            fn()
        after_first = rss_mib()
        for _ in range(total - first):
            fn()
        after_total = rss_mib()
        results[name] = {
            "calls_first": first,
            "calls_total": total,
            "rss_after_first_mib": round(after_first, 1),
            "rss_after_total_mib": round(after_total, 1),
            "growth_mib": round(after_total - after_first, 2),
        }
    return results


IMPORT_PROBE = """
import time, sys
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
with open("/proc/self/status") as f:
    rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
print(elapsed * 1000, rss)
"""


def bench_import(runs: int) -> dict[str, Any]:
    results = {}
    for module in ("llmswitch", "litellm"):
        if not has(module):
            continue
        times, rss = [], []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(module=module)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            times.append(float(out[0]))
            rss.append(float(out[1]))
        base = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE.format(module="os")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        results[module] = {
            "import_ms_median": round(statistics.median(times), 1),
            "rss_mib_median": round(statistics.median(rss), 1),
            "bare_interpreter_rss_mib": round(float(base[1]), 1),
            "runs": runs,
        }
    return results


LEDGER_MEMORY_PROBE = """
import json, llmswitch
from llmswitch._llmswitch import _spend_configure, _spend_footprint
N = {n}
MESSAGES = [{{"role": "user", "content": "hi"}}]

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def calls():
    for i in range(N):
        llmswitch.completion(
            model="mock/bench-model", messages=MESSAGES,
            metadata={{"user": f"user-{{i % 50}}", "project": "search", "tags": ["summarize"]}},
        )

_spend_configure(False, N)
calls()  # the same calls unrecorded first: the allocator reaches its steady state
before = rss_kib()
_spend_configure(True, N)
calls()
after = rss_kib()
records, accounted = _spend_footprint()
print(json.dumps({{"records": records, "rss_growth_bytes": (after - before) * 1024,
                  "accounted_bytes": accounted}}))
"""


def bench_ledger_memory(n: int) -> dict[str, Any]:
    """Bytes per in-memory ledger record (a fresh interpreter, mock provider, 50 users)."""
    if not has("llmswitch"):
        return {}
    out = subprocess.run(
        [sys.executable, "-c", LEDGER_MEMORY_PROBE.format(n=n)], capture_output=True, text=True, check=True
    ).stdout
    m = json.loads(out)
    records = max(1, m["records"])
    return {
        "records": m["records"],
        "rss_bytes_per_record": round(m["rss_growth_bytes"] / records, 1),
        "accounted_bytes_per_record": round(m["accounted_bytes"] / records, 1),
    }


def bench_native_providers(url: str, n: int) -> dict[str, Any]:
    """One Anthropic and one Gemini round trip through llmswitch, next to the OpenAI path."""
    if not has("llmswitch"):
        return {}
    import llmswitch

    results = {}
    cases = {
        "openai/gpt-4o": {"api_base": url + "/v1"},
        "anthropic/claude-sonnet-4-20250514": {"api_base": url},
        "gemini/gemini-2.5-pro": {"api_base": url},
    }
    for model, kw in cases.items():
        provider = model.split("/")[0]
        if provider not in llmswitch.provider_list:
            continue

        def call(model: str = model, kw: dict[str, Any] = kw) -> Any:
            return llmswitch.completion(model=model, messages=MESSAGES, api_key="k", **kw)

        results[model] = time_calls(call, n, warmup=max(5, n // 10))
    return results


def micro(fn: Callable[[], Any], n: int) -> float:
    """Mean µs per call of a cheap function, best of 5 runs."""
    for _ in range(max(10, n // 10)):
        fn()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return round(best, 3)


def bench_cost_functions(n: int) -> dict[str, Any]:
    """The catalogue, cost and token functions LiteLLM users call, by the same names."""
    import importlib

    name = "llmswitch" if has("llmswitch") else "litellm" if has("litellm") else None
    if name is None:
        return {}
    mod: Any = importlib.import_module(name)
    name = mod.__name__
    one = [{"role": "user", "content": "What is the capital of France?"}]
    return {
        f"{name}.get_model_info": micro(lambda: mod.get_model_info("gpt-4o"), n),
        f"{name}.get_llm_provider": micro(lambda: mod.get_llm_provider("groq/llama-3.3-70b-versatile"), n),
        f"{name}.cost_per_token": micro(
            lambda: mod.cost_per_token(model="gpt-4o", prompt_tokens=1000, completion_tokens=200), n
        ),
        f"{name}.token_counter": micro(lambda: mod.token_counter(model="gpt-4o", messages=one), n),
    }


def interleaved(fns: dict[str, Callable[[], Any]], n: int) -> dict[str, dict[str, float]]:
    """Time several functions call by call in turn, so drift in machine load hits all alike."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(5, n // 10)):
        for fn in fns.values():
            fn()
    for _ in range(n):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t) * 1e6)
    return {name: percentiles(s) for name, s in samples.items()}


def bench_ledger(url: str, n: int) -> dict[str, Any]:
    """completion() with the spend ledger recording to SQLite, and with it off, in
    alternating blocks (the ledger is process-wide state)."""
    if not has("llmswitch"):
        return {}
    import tempfile

    import llmswitch

    params: dict[str, Any] = {"model": "openai/gpt-4o", "api_base": url + "/v1", "api_key": "k"}
    db = os.path.join(tempfile.mkdtemp(), "bench-spend.sqlite")
    from llmswitch._llmswitch import _spend_configure

    samples: dict[str, list[float]] = {"ledger on (SQLite)": [], "ledger off": []}
    block = max(10, n // 10)
    for _ in range(block):  # warm-up (first call parses the catalogue)
        llmswitch.completion(messages=MESSAGES, **params)
    llmswitch.spend.enable(path=db)
    for _ in range(10):
        for label in samples:
            # Recording on/off, the SQLite writer staying open (re-enabling a path would
            # re-send the whole in-memory ledger to it).
            _spend_configure(label != "ledger off", None)
            for _ in range(block):
                t = time.perf_counter()
                llmswitch.completion(messages=MESSAGES, **params)
                samples[label].append((time.perf_counter() - t) * 1e6)
    llmswitch.spend.disable()
    llmswitch.spend.enable()
    return {label: percentiles(s) for label, s in samples.items()}


def bench_router(url: str, n: int) -> dict[str, Any]:
    """Router overhead: the same call through a one-deployment router and directly,
    interleaved."""
    results: dict[str, Any] = {}
    params: dict[str, Any] = {"model": "openai/gpt-4o", "api_base": url + "/v1", "api_key": "k"}
    if has("llmswitch"):
        import llmswitch

        router = llmswitch.Router(model_list=[{"model_name": "g", "litellm_params": params}])
        results["llmswitch"] = interleaved(
            {
                "completion": lambda: llmswitch.completion(messages=MESSAGES, **params),
                "Router.completion": lambda: router.completion(model="g", messages=MESSAGES),
            },
            n,
        )
    if has("litellm"):
        import litellm

        lrouter = litellm.Router(model_list=[{"model_name": "g", "litellm_params": params}])
        results["litellm"] = interleaved(
            {
                "completion": lambda: litellm.completion(messages=MESSAGES, **params),
                "Router.completion": lambda: lrouter.completion(model="g", messages=MESSAGES),
            },
            n,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="mock server URL (http://127.0.0.1:PORT); started here if omitted")
    parser.add_argument("--smoke", action="store_true", help="tiny counts, to check the benchmark runs")
    parser.add_argument(
        "--only", default="sync,async,asynccmp,stream,memory,import,native,cost,router,ledger,ledgermem"
    )
    parser.add_argument(
        "--subjects",
        default="",
        help="comma-separated module names to include (llmswitch,aiohttp,httpx,openai,litellm); default: all importable",
    )
    parser.add_argument("--out", help="write JSON here as well as to stdout")
    parser.add_argument(
        "--raw", help="path of the raw_baseline binary: adds the interleaved overhead workload"
    )
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        from llmswitch.testing import MockServer

        server = MockServer()
        server.set_recording(False)
        url = server.url

    smoke = args.smoke
    only = set(args.only.split(","))
    SUBJECTS.update(s for s in args.subjects.split(",") if s)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cpus": os.cpu_count(),
        "smoke": smoke,
    }
    if "sync" in only:
        results["sync"] = bench_sync(url, 30 if smoke else 3000)
    if "async" in only:
        results["async"] = bench_async(url, 100 if smoke else 20000)
    if "asynccmp" in only:
        results["async_vs_aiohttp"] = bench_async_vs_aiohttp(url, 200 if smoke else 5000, 2 if smoke else 10)
    if "stream" in only:
        results["stream"] = bench_stream(url, 3 if smoke else 300, 200)
    if "memory" in only:
        results["memory"] = bench_memory(url, 20 if smoke else 1000, 50 if smoke else 10000)
    if "import" in only:
        results["import"] = bench_import(2 if smoke else 15)
    if "native" in only:
        results["native"] = bench_native_providers(url, 30 if smoke else 3000)
    if "cost" in only:
        results["cost"] = bench_cost_functions(200 if smoke else 20000)
    if "router" in only:
        results["router"] = bench_router(url, 30 if smoke else 2000)
    if args.raw and has("llmswitch"):
        results["overhead"] = bench_overhead(url, args.raw, 200 if smoke else 5000, 2 if smoke else 10, 200)
    if "ledger" in only:
        results["ledger"] = bench_ledger(url, 100 if smoke else 3000)
    if "ledgermem" in only:
        results["ledger_memory"] = bench_ledger_memory(2000 if smoke else 100_000)

    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()

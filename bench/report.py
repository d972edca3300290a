"""Render bench/results/*.json (from bench/run.sh) as BENCHMARKS.md on stdout."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def load(d: Path, name: str) -> dict[str, Any]:
    p = d / name
    return json.loads(p.read_text()) if p.exists() else {}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import os

    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; Linux {platform.release()}; "
        f"CPython {sys.version.split()[0]}; {rustc}"
    )


def commit() -> str:
    """The commit the benchmarked wheel was built from (``-dirty`` with local changes)."""
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:,.1f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:,.1f}×"


def main() -> None:
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results")
    raw_sync = load(d, "raw_sync.json")
    raw_stream = load(d, "raw_stream.json")
    ls = load(d, "llmswitch.json")
    other = load(d, "others.json")
    out: list[str] = []
    w = out.append

    w("# Benchmarks\n")
    w("Produced by `bench/run.sh`: llmswitch and the raw Rust reqwest baseline built with the `dist`")
    w("profile (fat LTO, one codegen unit: what release wheels ship; `pip install .` builds the")
    w("faster-to-compile `release` profile), LiteLLM in a throwaway virtualenv, aiohttp next to")
    w("llmswitch for the async comparison, and one local mock provider server process,")
    w("`python -m llmswitch.testing`, shared by every subject. No timing is asserted in tests;")
    w("`make bench-smoke` runs the same script with tiny counts so it never rots.\n")
    w(f"Machine: {machine()}. Client and server share the 2 cores, as they do for every subject.\n")
    w(f"Measured build: commit {commit()}.\n")

    imp = {**ls.get("import", {}), **other.get("import", {})}
    if imp:
        w("## Import\n")
        w("| package | import time (median) | RSS after import | target |")
        w("| --- | --- | --- | --- |")
        li = imp.get("llmswitch", {})
        ll = imp.get("litellm", {})
        if li:
            w(
                f"| llmswitch | {fmt(li['import_ms_median'], ' ms')} | {fmt(li['rss_mib_median'], ' MiB')} "
                f"| ≤ 30 ms, ≤ 25 MiB |"
            )
        if ll:
            w(f"| litellm | {fmt(ll['import_ms_median'], ' ms')} | {fmt(ll['rss_mib_median'], ' MiB')} | |")
        if li and ll:
            w(
                f"\nllmswitch imports {ratio(ll['import_ms_median'], li['import_ms_median'])} faster and uses "
                f"{ratio(ll['rss_mib_median'], li['rss_mib_median'])} less memory "
                f"(bare interpreter: {fmt(li['bare_interpreter_rss_mib'], ' MiB')}).\n"
            )

    sync = {**ls.get("sync", {}), **other.get("sync", {})}
    if sync:
        w("## Blocking call latency (non-streaming, sequential, keep-alive)\n")
        base50 = raw_sync.get("p50_us")
        base99 = raw_sync.get("p99_us")
        w("| client | p50 | p99 | p50 over raw wire | p99 over raw wire | p50 vs llmswitch |")
        w("| --- | --- | --- | --- | --- | --- |")
        if raw_sync:
            w(f"| raw Rust reqwest (baseline) | {fmt(base50, ' µs')} | {fmt(base99, ' µs')} | – | – | – |")
        ref = sync.get("llmswitch.completion", {}).get("p50_us")
        for name, r in sync.items():
            over50 = r["p50_us"] - base50 if base50 else None
            over99 = r["p99_us"] - base99 if base99 else None
            w(
                f"| {name} | {fmt(r['p50_us'], ' µs')} | {fmt(r['p99_us'], ' µs')} | {fmt(over50, ' µs')} "
                f"| {fmt(over99, ' µs')} | {ratio(r['p50_us'], ref)} |"
            )
        w("\nTarget: llmswitch ≤ 50 µs p50 and ≤ 150 µs p99 over the raw wire round trip.\n")

    ov = ls.get("overhead")
    if ov:
        w("## llmswitch over the raw wire, interleaved\n")
        w(
            f"Alternating rounds ({ov['rounds']} × {ov['calls_per_round']:,} calls, "
            f"{ov['streams_per_round']} streams of {ov['chunks']} chunks): the raw client, then llmswitch, so "
            "drift in machine speed between runs cannot skew the difference. Medians over rounds.\n"
        )
        sy, st = ov["sync"], ov["stream"]
        w("| workload | raw wire | llmswitch | llmswitch adds | target |")
        w("| --- | --- | --- | --- | --- |")
        w(
            f"| blocking call, p50 | {fmt(sy['raw_p50_us'], ' µs')} | {fmt(sy['llmswitch_p50_us'], ' µs')} "
            f"| {fmt(sy['overhead_p50_us'], ' µs')} | ≤ 50 µs |"
        )
        w(
            f"| blocking call, p99 | {fmt(sy['raw_p99_us'], ' µs')} | {fmt(sy['llmswitch_p99_us'], ' µs')} "
            f"| {fmt(sy['overhead_p99_us'], ' µs')} | ≤ 150 µs |"
        )
        w(
            f"| 200-chunk stream, per chunk | {st['raw_p50_us'] / max(1, ov['chunks']):.2f} µs "
            f"| {st['llmswitch_p50_us'] / max(1, ov['chunks']):.2f} µs | {st['overhead_per_chunk_us']:.2f} µs | ≤ 5 µs |"
        )
        w("")

    asy = {**ls.get("async", {}), **other.get("async", {})}
    if asy:
        w("## Async throughput (32 in flight, one asyncio loop)\n")
        w("| client | calls | calls/s | llmswitch is |")
        w("| --- | --- | --- | --- |")
        ref = asy.get("llmswitch.acompletion", {}).get("calls_per_s")
        for name, r in asy.items():
            w(f"| {name} | {r['calls']:,} | {fmt(r['calls_per_s'])} | {ratio(ref, r['calls_per_s'])} |")
        w("\nTarget: llmswitch ≥ 5,000 calls/s.\n")

    cmp = ls.get("async_vs_aiohttp")
    if cmp:
        w(
            f"## acompletion against a bare aiohttp client ({cmp['concurrency']} in flight, alternating rounds)\n"
        )
        w(
            f"{cmp['rounds']} rounds of {cmp['calls_per_round']:,} calls each: aiohttp (POST the body, parse the JSON "
            "answer, no translation, no checks, no cost), then `llmswitch.acompletion`, in one asyncio loop each. "
            "CPU per call counts every thread of the client process (the tokio threads too): it is "
            "what a busy machine disturbs least.\n"
        )
        w("| client | calls/s (median) | CPU per call (median) |")
        w("| --- | --- | --- |")
        w(
            f"| aiohttp (bare) | {fmt(cmp['aiohttp_calls_per_s'])} | {fmt(cmp.get('aiohttp_cpu_us_per_call'), ' µs')} |"
        )
        w(
            f"| llmswitch.acompletion | {fmt(cmp['llmswitch_calls_per_s'])} "
            f"| {fmt(cmp.get('llmswitch_cpu_us_per_call'), ' µs')} |"
        )
        w(
            f"\nllmswitch ÷ aiohttp throughput, per round: median {cmp['ratio_median']:.2f}×, "
            f"lowest {cmp['ratio_min']:.2f}×. Target: ≥ 1.0×.\n"
        )

    st = {**ls.get("stream", {}), **other.get("stream", {})}
    if st:
        w("## Streaming (200-chunk response)\n")
        w("| client | time per stream (p50) | per chunk | per chunk over raw |")
        w("| --- | --- | --- | --- |")
        raw_chunks = raw_stream.get("frames") or 1
        raw_per = raw_stream["p50_us"] / raw_chunks if raw_stream else None
        if raw_stream:
            w(
                f"| raw Rust reqwest, frames counted (baseline) | {fmt(raw_stream['p50_us'], ' µs')} "
                f"| {fmt(raw_per, ' µs')} | – |"
            )
        for name, r in st.items():
            per = r["p50_us"] / max(1, r["chunks"])
            w(
                f"| {name} | {fmt(r['p50_us'], ' µs')} | {per:.2f} µs | {(per - raw_per):.2f} µs |"
                if raw_per
                else f"| {name} | {fmt(r['p50_us'], ' µs')} | {per:.2f} µs | – |"
            )
        w(
            "\nTarget: llmswitch ≤ 5 µs per chunk over the raw stream (chunks parsed into OpenAI chunk dicts).\n"
        )

    mem = {**ls.get("memory", {}), **other.get("memory", {})}
    if mem:
        w("## Memory over many calls\n")
        w("| client | RSS after first | RSS after total | growth |")
        w("| --- | --- | --- | --- |")
        for name, r in mem.items():
            w(
                f"| {name} | {fmt(r['rss_after_first_mib'], ' MiB')} ({r['calls_first']:,} calls) "
                f"| {fmt(r['rss_after_total_mib'], ' MiB')} ({r['calls_total']:,} calls) | {r['growth_mib']} MiB |"
            )
        w("\nTarget: llmswitch grows < 5 MiB from 1,000 to 10,000 calls.\n")

    nat = ls.get("native", {})
    if nat:
        w("## Native translation (one round trip each, same mock server)\n")
        w("| model | p50 | p99 | p50 over the OpenAI path |")
        w("| --- | --- | --- | --- |")
        ref = nat.get("openai/gpt-4o", {}).get("p50_us")
        for name, r in nat.items():
            over = r["p50_us"] - ref if ref else None
            w(f"| {name} | {fmt(r['p50_us'], ' µs')} | {fmt(r['p99_us'], ' µs')} | {fmt(over, ' µs')} |")
        w("")

    cost = {**ls.get("cost", {}), **other.get("cost", {})}
    if cost:
        w("## Catalogue, cost and token functions (µs per call, same names in both libraries)\n")
        w("| function | llmswitch | litellm | litellm time ÷ llmswitch time | target |")
        w("| --- | --- | --- | --- | --- |")
        targets = {
            "get_model_info": "≤ 1 µs",
            "get_llm_provider": "≤ 1 µs",
            "cost_per_token": "≤ 2 µs",
            "token_counter": "≤ 20 µs (one-message chat)",
        }
        for fn, target in targets.items():
            a = cost.get(f"llmswitch.{fn}")
            b = cost.get(f"litellm.{fn}")
            w(
                f"| {fn} | {fmt(a, ' µs') if a is not None else '–'} | {fmt(b, ' µs') if b is not None else '–'} "
                f"| {ratio(b, a) if a and b else '–'} | {target} |"
            )
        w("")

    rt = {**ls.get("router", {}), **other.get("router", {})}
    if rt:
        w("## Router overhead (one deployment, same mock server)\n")
        w("| library | completion() p50 | Router.completion p50 | router adds (p50) |")
        w("| --- | --- | --- | --- |")
        for lib, r in rt.items():
            d, ro = r["completion"]["p50_us"], r["Router.completion"]["p50_us"]
            w(f"| {lib} | {fmt(d, ' µs')} | {fmt(ro, ' µs')} | {fmt(ro - d, ' µs')} |")
        w("\nTarget: llmswitch's Router adds ≤ 10 µs p50 over `completion()`.\n")

    led = ls.get("ledger", {})
    if led:
        w("## Spend ledger cost on `completion()` (alternating blocks, same server)\n")
        w("| ledger | p50 | p99 |")
        w("| --- | --- | --- |")
        for label, r in led.items():
            w(f"| {label} | {fmt(r['p50_us'], ' µs')} | {fmt(r['p99_us'], ' µs')} |")
        w("\nTarget: recording adds no measurable time (SQLite writes are batched on a background thread).\n")

    lm = ls.get("ledger_memory")
    if lm:
        w("## In-memory spend ledger, bytes per recorded call\n")
        w(
            f"{lm['records']:,} calls recorded in a fresh interpreter (mock provider, `metadata` with 50 users, "
            "a project and a tag), after the same calls unrecorded: RSS growth per record, and the "
            "ledger's own count of its ring slots and interned strings.\n"
        )
        w("| measure | bytes per record | target |")
        w("| --- | --- | --- |")
        w(f"| RSS growth | {lm['rss_bytes_per_record']:.0f} | ≤ 100 |")
        w(f"| ledger's count | {lm['accounted_bytes_per_record']:.0f} | ≤ 100 |")
        w("")

    gw = load(d, "gateway.json")
    if gw:
        from gateway_bench import GATEWAY_NOTE, markdown

        w("## The gateway (`llmswitch proxy`) beside LiteLLM's proxy\n")
        w(GATEWAY_NOTE + "\n")
        w(markdown(gw) + "\n")

    # Measured separately (bench/framework_imports.py), kept as written.
    frameworks = Path(__file__).with_name("framework_imports.md")
    if frameworks.exists():
        w(frameworks.read_text())

    print("\n".join(out))


if __name__ == "__main__":
    main()

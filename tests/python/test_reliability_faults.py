"""Regression tests for the faults of issue 14 (each fails without its fix)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# Fault 1: deep or self-referencing input must raise a clean error naming the parameter,
# on the main thread and on a small-stack thread (run in a subprocess: before the fix the
# interpreter died with a segfault).
DEPTH_SCRIPT = """
    import json, sys, threading
    import llmswitch
    from llmswitch.testing import MockServer

    server = MockServer()
    kw = dict(model="openai/gpt-4o", api_key="k", api_base=server.base_url)
    msgs = [{"role": "user", "content": "hi"}]

    def deep(n):
        d = {"leaf": 1}
        for _ in range(n):
            d = {"a": d}
        return d

    def cyclic_list():
        l = []
        l.append(l)
        return l

    def cyclic_dict():
        d = {}
        d["self"] = d
        return d

    def tool(p):
        return [{"type": "function", "function": {"name": "f", "parameters": p}}]

    router = llmswitch.Router(model_list=[{"model_name": "g", "litellm_params": kw}])
    places = {
        "messages": lambda v: llmswitch.completion(messages=[{"role": "user", "content": v}], **kw),
        "stop": lambda v: llmswitch.completion(messages=msgs, stop=v, **kw),
        "logit_bias": lambda v: llmswitch.completion(messages=msgs, logit_bias=v, **kw),
        "tools": lambda v: llmswitch.completion(messages=msgs, tools=tool(v), **kw),
        "response_format": lambda v: llmswitch.completion(messages=msgs, response_format=v, **kw),
        "metadata": lambda v: llmswitch.completion(messages=msgs, metadata=v, **kw),
        "input": lambda v: llmswitch.embedding(model="openai/text-embedding-3-small", input=v, api_key="k", api_base=server.base_url),
        "router_kw": lambda v: router.completion(model="g", messages=msgs, metadata=v),
        "model_list": lambda v: llmswitch.Router(model_list=[{"model_name": "g", "litellm_params": dict(kw, extra_body=v)}]),
        "token_counter": lambda v: llmswitch.token_counter(model="gpt-4o", messages=[{"role": "user", "content": v}]),
        "chunks": lambda v: llmswitch.stream_chunk_builder([v]),
    }

    def run(out):
        for place, call in places.items():
            for label, value in (("deep", deep(10_000)), ("list", cyclic_list()), ("dict", cyclic_dict())):
                try:
                    call(value)
                    out.append([place, label, "no error", ""])
                except Exception as e:
                    out.append([place, label, type(e).__name__, str(e)])
        # At the bound: accepted (metadata is sent as is).
        try:
            llmswitch.completion(messages=msgs, metadata=deep(126), **kw)
            out.append(["metadata", "126", "ok", ""])
        except Exception as e:
            out.append(["metadata", "126", type(e).__name__, str(e)])

    main = []
    run(main)
    threading.stack_size(320 * 1024)
    small = []
    t = threading.Thread(target=run, args=(small,))
    t.start()
    t.join()
    print(json.dumps({"main": main, "small": small}))
"""


def _run(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )


def test_deep_and_self_referencing_input_raise_bad_request_naming_the_parameter() -> None:
    proc = _run(DEPTH_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    for thread in ("main", "small"):
        rows = results[thread]
        assert len(rows) == 34, rows
        for place, label, cls, message in rows:
            if label == "126":
                assert cls == "ok", (thread, message)
                continue
            assert cls == "BadRequestError", (thread, place, label, cls, message)
            name = {"router_kw": "metadata", "token_counter": "messages"}.get(place, place)
            assert name in message, (thread, place, message)
            if label == "deep":
                assert "nested more than 128 levels" in message, message
                assert len(message) < 600, message
            else:
                assert "contains itself" in message, message

"""Runtime behaviour: GIL release, Ctrl-C, event loops, concurrency, clean interpreter exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import llmswitch
from conftest import MESSAGES, chunk


def _count_while(fn):
    """Run fn() while a Python thread counts; return the count (stays ~0 if fn holds the GIL)."""
    stop = threading.Event()
    counter = [0]

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        fn()
    finally:
        stop.set()
        t.join()
    return counter[0]


def test_gil_released_during_blocking_call(server, openai_kw):
    server.enqueue(delay=0.5)
    count = _count_while(lambda: llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw))
    assert count > 10_000, count


def test_gil_released_while_waiting_for_stream_chunks(server, openai_kw):
    server.enqueue(
        sse=[chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "stop"), "data: [DONE]"],
        chunk_delay=0.4,
    )
    stream = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
    count = _count_while(lambda: list(stream))
    assert count > 10_000, count


def test_blocking_call_inside_running_event_loop(server, openai_kw):
    """As in Jupyter: a sync call from a coroutine, with the loop running on this thread."""

    async def main():
        r = llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        chunks = list(
            llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw)
        )
        r2 = await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        return r, chunks, r2

    r, chunks, r2 = asyncio.run(main())
    assert r.choices[0].message.content == r2.choices[0].message.content
    assert len(chunks) == 8


def test_blocking_calls_from_many_threads(server, openai_kw):
    from concurrent.futures import ThreadPoolExecutor

    def call(i):
        r = llmswitch.completion(
            model="openai/gpt-4o", messages=[{"role": "user", "content": str(i)}], **openai_kw
        )
        return r.choices[0].message.content

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(200)))
    assert results == ["Hello from the mock server."] * 200
    assert server.hits == 200


def test_500_concurrent_acompletions(server, openai_kw):
    async def main():
        calls = [
            llmswitch.acompletion(
                model="openai/gpt-4o", messages=[{"role": "user", "content": str(i)}], **openai_kw
            )
            for i in range(500)
        ]
        return await asyncio.gather(*calls)

    results = asyncio.run(main())
    assert len(results) == 500
    assert all(r.choices[0].message.content == "Hello from the mock server." for r in results)
    assert sorted(r["body"]["messages"][0]["content"] for r in server.requests) == sorted(
        str(i) for i in range(500)
    )


def test_async_calls_do_not_block_the_loop(server, openai_kw):
    server.enqueue(delay=0.5)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        t.cancel()
        return ticks

    assert asyncio.run(main()) >= 20


def test_cancelling_acompletion(server, openai_kw):
    server.enqueue(delay=5)

    async def main():
        start = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw), 0.2
            )
        return time.monotonic() - start

    assert asyncio.run(main()) < 2


def _run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )


INTERRUPT_SCRIPT = """
    import sys, time, json, llmswitch
    from llmswitch.testing import MockServer
    server = MockServer()
    mode = sys.argv[1] if len(sys.argv) > 1 else "{mode}"
    kw = dict(model="openai/gpt-4o", messages=[{{"role": "user", "content": "hi"}}], api_base=server.base_url, api_key="k")
    if mode == "stream":
        frame = "data: " + json.dumps({{"choices": [{{"index": 0, "delta": {{"content": "x"}}}}]}})
        server.enqueue(sse=[frame, frame], chunk_delay=60)
    else:
        server.enqueue(delay=60)
    print("ready", flush=True)
    start = time.monotonic()
    try:
        if mode == "stream":
            for _ in llmswitch.completion(stream=True, **kw):
                pass
        else:
            llmswitch.completion(**kw)
    except KeyboardInterrupt:
        print("interrupted %.2f" % (time.monotonic() - start), flush=True)
        sys.exit(0)
    sys.exit(3)
"""


@pytest.mark.parametrize("mode", ["call", "stream"])
def test_ctrl_c_interrupts_blocking_call(mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPT_SCRIPT.format(mode=mode))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("interrupted"), (out, err)
    assert elapsed < 5, elapsed


EXIT_SCRIPT = """
    import asyncio, json, llmswitch
    from llmswitch.testing import MockServer
    server = MockServer()
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}], api_base=server.base_url, api_key="k")
    assert llmswitch.completion(**kw).choices[0].message.content
    assert len(list(llmswitch.completion(stream=True, **kw))) == 8
    llmswitch.completion(model="mock/m", messages=kw["messages"])

    async def main():
        r = await llmswitch.acompletion(**kw)
        s = await llmswitch.acompletion(stream=True, **kw)
        chunks = [c async for c in s]
        rs = await asyncio.gather(*[llmswitch.acompletion(**kw) for _ in range(20)])
        # leave one call in flight (on its own server, so it cannot take another call's
        # scripted reply) and one stream half-read at exit
        slow = MockServer()
        slow.enqueue(delay=30)
        asyncio.ensure_future(llmswitch.acompletion(**{**kw, "api_base": slow.base_url}))
        half = await llmswitch.acompletion(stream=True, **kw)
        await half.__anext__()
        await asyncio.sleep(0.05)
        return r, chunks, rs, half

    result = asyncio.run(main())
    frame = "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]})
    server.enqueue(sse=[frame] * 3, chunk_delay=30)
    open_stream = llmswitch.completion(stream=True, **kw)
    next(open_stream)
    print("done", flush=True)
"""


def test_interpreter_exits_cleanly_repeatedly():
    for i in range(20):
        proc = _run_script(EXIT_SCRIPT, timeout=60)
        assert proc.returncode == 0, (i, proc.returncode, proc.stderr[-3000:])
        assert proc.stdout.strip() == "done", (i, proc.stdout, proc.stderr[-3000:])
        assert "panicked" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr[-3000:]


def test_import_does_not_import_openai_or_asyncio_heavy_modules():
    proc = _run_script(
        """
        import sys, llmswitch
        print(",".join(m for m in ("openai", "httpx", "pydantic") if m in sys.modules))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_exceptions_link_to_openai_when_imported_later():
    proc = _run_script(
        """
        import llmswitch
        e = llmswitch.RateLimitError("x")
        import openai
        assert isinstance(e, openai.RateLimitError)
        try:
            llmswitch.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}],
                                 mock_response="litellm.AuthenticationError")
        except openai.AuthenticationError as caught:
            print(type(caught).__name__)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "AuthenticationError"


def test_acompletion_returns_a_coroutine_like_litellm(server, openai_kw):
    import inspect
    from collections.abc import Coroutine

    # Created outside any event loop: nothing runs until awaited.
    coro = llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    assert isinstance(coro, Coroutine) and asyncio.iscoroutine(coro)
    assert inspect.isawaitable(coro)
    assert server.hits == 0
    r = asyncio.run(coro)
    assert r.choices[0].message.content == "Hello from the mock server."
    with pytest.raises(RuntimeError, match="already awaited"):
        asyncio.run(coro)

    async def main():
        task = asyncio.create_task(
            llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        )
        done = await asyncio.wait_for(llmswitch.acompletion(model="mock/m", messages=MESSAGES), 5)
        return await task, done

    r1, r2 = asyncio.run(main())
    assert r1.choices[0].message.content and r2.choices[0].message.content


def test_unawaited_coroutine_closes_without_running(server, openai_kw):
    coro = llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
    coro.close()
    assert server.hits == 0


def test_task_cancel_cancels_the_request(server, openai_kw):
    server.enqueue(delay=5)

    async def main():
        task = asyncio.create_task(
            llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The loop is free at once; the call did not run to its end.
        return task.cancelled()

    start = time.monotonic()
    assert asyncio.run(main())
    assert time.monotonic() - start < 2


def test_router_acompletion_is_a_coroutine(server, openai_kw):
    router = llmswitch.Router(
        model_list=[{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", **openai_kw}}]
    )
    coro = router.acompletion(model="g", messages=MESSAGES)
    assert asyncio.iscoroutine(coro)
    assert asyncio.run(coro).choices[0].message.content


FORK_SCRIPT = """
    import asyncio, os, sys, llmswitch
    from llmswitch.testing import MockServer
    server = MockServer()
    kw = dict(model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}], api_base=server.base_url, api_key="k")
    # The parent uses both runtimes (and keeps pooled connections) before forking.
    llmswitch.completion(**kw)
    asyncio.run(llmswitch.acompletion(**kw))
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            r = llmswitch.completion(**kw)  # fresh runtime and connections in the child
            assert r.choices[0].message.content
            assert len(list(llmswitch.completion(stream=True, **kw))) == 8
            try:
                asyncio.run(llmswitch.acompletion(**kw))
                code = 4  # should have raised: the async runtime's threads are the parent's
            except llmswitch.APIConnectionError as e:
                assert "forked" in str(e), e
        except BaseException as e:
            print("child failed:", repr(e), file=sys.stderr, flush=True)
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    # The parent is unaffected.
    assert llmswitch.completion(**kw).choices[0].message.content
    assert asyncio.run(llmswitch.acompletion(**kw)).choices[0].message.content
    print("ok", flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_blocking_calls_work_after_fork():
    proc = _run_script(FORK_SCRIPT, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok", (proc.stdout, proc.stderr[-3000:])

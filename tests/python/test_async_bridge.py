"""The asyncio bridge: futures of async calls are resolved on the loop's thread in batches
(one wake-up for many finished calls), cancelling a task aborts its request, every loop
gets its own wake-up socket, and a loop that cannot watch sockets still works."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import llmswitch
from conftest import MESSAGES


def _mock(i: int = 0, **kw):
    return llmswitch.acompletion(model="mock/m", messages=MESSAGES, mock_response=f"answer {i}", **kw)


def test_many_calls_in_flight_all_resolve_in_order_of_their_own():
    async def main():
        return await asyncio.gather(*[_mock(i) for i in range(300)])

    out = asyncio.run(main())
    assert [r.choices[0].message.content for r in out] == [f"answer {i}" for i in range(300)]


def test_each_new_loop_and_each_thread_gets_its_own_bridge():
    for _ in range(3):  # asyncio.run makes a new loop each time
        assert asyncio.run(_mock(7)).choices[0].message.content == "answer 7"
    results: dict[int, list[str]] = {}

    def worker(n: int) -> None:
        async def main():
            return await asyncio.gather(*[_mock(n * 100 + i) for i in range(50)])

        results[n] = [r.choices[0].message.content for r in asyncio.run(main())]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {n: [f"answer {n * 100 + i}" for i in range(50)] for n in range(4)}


def test_errors_are_raised_in_the_awaiting_task():
    async def main():
        return await llmswitch.acompletion(
            model="mock/m", messages=MESSAGES, mock_response="litellm.RateLimitError"
        )

    try:
        asyncio.run(main())
    except llmswitch.RateLimitError as e:
        assert e.status_code == 429
    else:
        raise AssertionError("no RateLimitError")


def test_cancelling_the_task_aborts_the_request(server, openai_kw):
    user = "cancel-" + uuid.uuid4().hex[:8]
    server.enqueue(delay=30)

    async def main():
        task = asyncio.create_task(
            llmswitch.acompletion(
                model="openai/gpt-4o", messages=MESSAGES, metadata={"user": user}, **openai_kw
            )
        )
        await asyncio.sleep(0.2)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    # The request's future was dropped on the runtime: the ledger records it cancelled.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        statuses = [r["status"] for r in llmswitch.spend.records() if r["user"] == user]
        if statuses:
            break
        time.sleep(0.01)
    assert statuses == ["cancelled"]


def test_a_cancelled_stream_read_leaves_the_stream_usable(server, openai_kw):
    from conftest import chunk

    server.enqueue(
        sse=[chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "stop"), "data: [DONE]"],
        chunk_delay=0.3,
    )

    async def main():
        stream = await llmswitch.acompletion(
            model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw
        )
        try:
            await asyncio.wait_for(stream.__anext__(), 0.01)
        except asyncio.TimeoutError:
            pass
        return [c.choices[0].delta.content async for c in stream]

    got = asyncio.run(main())
    assert "b" in got


class _NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch sockets (as Windows' proactor loop)."""

    def add_reader(self, *args, **kwargs):
        raise NotImplementedError


def test_a_loop_without_add_reader_still_resolves_calls():
    async def main():
        return await asyncio.gather(*[_mock(i) for i in range(20)])

    loop = _NoReaderLoop()
    try:
        out = loop.run_until_complete(main())
    finally:
        loop.close()
    assert [r.choices[0].message.content for r in out] == [f"answer {i}" for i in range(20)]

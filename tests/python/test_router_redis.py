"""`llmswitch.Router(..., redis_host=..., redis_port=...)` (or `redis_url`) in several
Python processes sharing one redis-server: a deployment that fails in one process is
cooled down in the others, as with LiteLLM's Router."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

WORKER = textwrap.dedent(
    """
    import json, sys, time
    import llmswitch

    role, how, port, dead = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    redis = {"redis_url": f"redis://127.0.0.1:{port}/0"} if how == "url" else {
        "redis_host": "127.0.0.1", "redis_port": port, "redis_password": None}
    router = llmswitch.Router(
        model_list=[{
            "model_name": "flaky",
            "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-x",
                               "api_base": f"http://127.0.0.1:{dead}/v1"},
            "model_info": {"id": "flaky-1"},
        }],
        num_retries=0, allowed_fails=0, cooldown_time=300, **redis)

    def cooling() -> bool:
        return bool(router.stats()["flaky-1"]["cooling_down"])

    print(json.dumps({"cooling": cooling()}), flush=True)
    if role == "fail":
        try:
            router.completion(model="flaky", messages=[{"role": "user", "content": "hi"}])
        except Exception as e:
            print(json.dumps({"error": type(e).__name__, "cooling": cooling()}), flush=True)
        sys.stdin.readline()  # stay up until the test is done
    else:
        sys.stdin.readline()  # the other process has failed by now
        deadline = time.monotonic() + 60
        while not cooling() and time.monotonic() < deadline:
            time.sleep(0.05)
        print(json.dumps({"cooling": cooling()}), flush=True)
    """
)


@pytest.fixture()
def redis_server() -> Iterator[Any]:
    import shutil

    from test_cache import RedisServer

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("LLMSWITCH_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required (LLMSWITCH_REQUIRE_REDIS=1)")
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def worker(role: str, how: str, port: int, dead: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, role, how, str(port), str(dead)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def line(proc: subprocess.Popen[str]) -> Any:
    import json

    assert proc.stdout is not None
    text = proc.stdout.readline()
    assert text, f"worker exited with {proc.wait(timeout=60)}"
    return json.loads(text)


@pytest.mark.parametrize("how", ["host", "url"])
def test_a_deployment_failing_in_one_process_cools_down_in_another(redis_server: Any, how: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens here once closed
    watcher = worker("watch", how, redis_server.port, dead)
    failer = worker("fail", how, redis_server.port, dead)
    try:
        assert line(watcher) == {"cooling": False}
        assert line(failer) == {"cooling": False}
        failed = line(failer)
        assert failed["cooling"] is True, failed
        assert failed["error"] in ("APIConnectionError", "InternalServerError", "ServiceUnavailableError"), (
            failed
        )
        assert watcher.stdin is not None
        watcher.stdin.write("go\n")
        watcher.stdin.flush()
        # The watcher never called the deployment: it learns the cooldown through Redis.
        assert line(watcher) == {"cooling": True}
        assert redis_server.cli("EXISTS", "llmswitch:cooldown:flaky-1") == "1"
    finally:
        for p in (watcher, failer):
            if p.poll() is None:
                assert p.stdin is not None
                p.stdin.close()
                p.wait(timeout=60)

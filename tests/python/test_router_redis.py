"""`llmswitch.Router(..., redis_host=..., redis_port=...)` (or `redis_url`) in several
Python processes sharing one redis-server: a deployment that fails in one process is
cooled down in the others, as with LiteLLM's Router."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
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


# ---------------------------------------------------------------------------------------
# Deployment usage shared through Redis (rpm/tpm, usage-based routing), also after edits
# and from a proxy config's router_settings
# ---------------------------------------------------------------------------------------

HI = [{"role": "user", "content": "hi"}]


def limited(rpm: int, id: str = "limited", group: str = "g") -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-x", "mock_response": "ok", "rpm": rpm},
        "model_info": {"id": id},
    }


def redis_kwargs(how: str, port: int) -> dict[str, Any]:
    if how == "url":
        return {"redis_url": f"redis://127.0.0.1:{port}/0"}
    return {"redis_host": "127.0.0.1", "redis_port": port, "redis_password": None}


def outcome(router: Any, model: str = "g") -> str:
    import llmswitch

    try:
        router.completion(model=model, messages=HI)
        return "ok"
    except llmswitch.RouterRateLimitError:
        return "limited"


def in_one_minute(scenario: Any) -> Any:
    """Run `scenario` within one UTC minute (rpm windows are UTC minutes, the same in
    every process): tried again in the next minute if the minute ended during it."""
    import time

    for _ in range(3):
        minute = int(time.time() // 60)
        result = scenario()
        if int(time.time() // 60) == minute:
            return result
    pytest.fail("the minute ended during each try")


@pytest.mark.parametrize("how", ["host", "url"])
def test_two_routers_on_one_redis_share_deployment_usage(redis_server: Any, how: str) -> None:
    import llmswitch

    def scenario() -> list[str]:
        kw = {
            "routing_strategy": "usage-based-routing",
            "num_retries": 0,
            **redis_kwargs(how, redis_server.port),
        }
        a = llmswitch.Router(model_list=[limited(3)], **kw)
        b = llmswitch.Router(model_list=[limited(3)], **kw)
        # Each router alone would allow 3 calls this minute; together they do too.
        return [outcome(r) for r in (a, a, b, a, b)]

    assert in_one_minute(scenario) == ["ok", "ok", "ok", "limited", "limited"]


USAGE_WORKER = textwrap.dedent(
    """
    import json, sys
    import llmswitch

    port, calls = int(sys.argv[1]), int(sys.argv[2])
    router = llmswitch.Router(
        model_list=[{"model_name": "g",
                     "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-x",
                                        "mock_response": "ok", "rpm": 2},
                     "model_info": {"id": "limited"}}],
        routing_strategy="usage-based-routing", num_retries=0,
        redis_host="127.0.0.1", redis_port=port)
    out = []
    for _ in range(calls):
        try:
            router.completion(model="g", messages=[{"role": "user", "content": "hi"}])
            out.append("ok")
        except llmswitch.RouterRateLimitError:
            out.append("limited")
    print(json.dumps(out), flush=True)
    """
)


def test_two_processes_on_one_redis_share_deployment_usage(redis_server: Any) -> None:
    import json

    def run(calls: int) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", USAGE_WORKER, str(redis_server.port), str(calls)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))

    def scenario() -> tuple[list[str], list[str]]:
        redis_server.cli("FLUSHALL")
        return run(1), run(2)

    # The second process counts the first one's call: one more is allowed, not two.
    assert in_one_minute(scenario) == (["ok"], ["ok", "limited"])


EDITS = ["set_model_list", "add_deployment", "upsert_deployment", "delete_deployment"]


def edit(router: Any, how: str) -> None:
    spare = limited(5, id="spare", group="h")
    if how == "set_model_list":
        router.set_model_list([limited(3), spare])
    elif how == "add_deployment":
        assert router.add_deployment(spare) is not None
    elif how == "upsert_deployment":
        assert router.upsert_deployment(limited(4, id="spare", group="h")) is not None
    else:
        assert router.delete_deployment("spare") is not None


@pytest.mark.parametrize("how", EDITS)
def test_an_edited_router_goes_on_sharing_deployment_usage(redis_server: Any, how: str) -> None:
    import llmswitch

    def scenario() -> list[str]:
        redis_server.cli("FLUSHALL")
        kw = {
            "routing_strategy": "usage-based-routing",
            "num_retries": 0,
            **redis_kwargs("host", redis_server.port),
        }
        start = (
            [limited(3)]
            if how in ("set_model_list", "add_deployment")
            else [limited(3), limited(5, "spare", "h")]
        )
        a = llmswitch.Router(model_list=start, **kw)
        b = llmswitch.Router(model_list=[limited(3)], **kw)
        first = outcome(a)
        edit(a, how)
        b.set_model_list([limited(3)])
        # a's call before the edit and its calls after it count for b, and b's for a.
        return [first, outcome(b), outcome(a), outcome(b), outcome(a)]

    assert in_one_minute(scenario) == ["ok", "ok", "ok", "limited", "limited"]


def test_an_edited_router_goes_on_sharing_cooldowns(redis_server: Any) -> None:
    import time

    import llmswitch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens here once closed
    flaky = {
        "model_name": "flaky",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": "sk-x",
            "api_base": f"http://127.0.0.1:{dead}/v1",
        },
        "model_info": {"id": "flaky-1"},
    }
    kw = {
        "num_retries": 0,
        "allowed_fails": 0,
        "cooldown_time": 300,
        **redis_kwargs("host", redis_server.port),
    }
    a = llmswitch.Router(model_list=[flaky], **kw)
    b = llmswitch.Router(model_list=[flaky], **kw)
    a.add_deployment(limited(5, id="spare", group="h"))
    b.set_model_list([flaky, limited(5, id="spare", group="h")])
    with pytest.raises(llmswitch.LLMSwitchError):
        a.completion(model="flaky", messages=HI)
    assert a.stats()["flaky-1"]["cooling_down"]
    deadline = time.monotonic() + 60
    while not b.stats()["flaky-1"]["cooling_down"] and time.monotonic() < deadline:
        time.sleep(0.05)
    # b never called the deployment: its rebuilt router learned the cooldown through Redis,
    # which a's rebuilt router told.
    assert b.stats()["flaky-1"]["cooling_down"]
    assert redis_server.cli("EXISTS", "llmswitch:cooldown:flaky-1") == "1"


@pytest.mark.parametrize("source", ["mapping", "yaml"])
def test_from_config_shares_through_router_settings_redis(
    redis_server: Any, source: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmswitch

    monkeypatch.setenv("TEST_ROUTER_REDIS_PORT", str(redis_server.port))
    settings: dict[str, Any] = {"routing_strategy": "usage-based-routing", "num_retries": 0}
    if source == "mapping":
        settings.update(redis_host="127.0.0.1", redis_port="os.environ/TEST_ROUTER_REDIS_PORT")
    else:
        settings["redis_url"] = f"redis://127.0.0.1:{redis_server.port}/0"
    config = {"model_list": [limited(3)], "router_settings": settings}

    def load() -> Any:
        if source == "mapping":
            return llmswitch.Router.from_config(config)
        import json

        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        return llmswitch.Router.from_config(str(path))

    def scenario() -> list[str]:
        redis_server.cli("FLUSHALL")
        a, b = load(), load()
        return [outcome(r) for r in (a, b, a, b, a)]

    assert in_one_minute(scenario) == ["ok", "ok", "ok", "limited", "limited"]


def test_from_config_without_redis_counts_in_process() -> None:
    import llmswitch

    config = {"model_list": [limited(2)], "router_settings": {"routing_strategy": "usage-based-routing"}}

    def scenario() -> list[str]:
        a, b = llmswitch.Router.from_config(config), llmswitch.Router.from_config(config)
        return [outcome(r) for r in (a, a, b, b, a)]

    assert in_one_minute(scenario) == ["ok", "ok", "ok", "ok", "limited"]


def test_redis_down_counts_per_process_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import llmswitch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # no Redis listens here
    kw = {
        "routing_strategy": "usage-based-routing",
        "num_retries": 0,
        "redis_host": "127.0.0.1",
        "redis_port": dead,
    }

    def scenario() -> list[str]:
        a = llmswitch.Router(model_list=[limited(3)], **kw)
        b = llmswitch.Router(model_list=[limited(3)], **kw)
        # Never a failed call: each router decides on its own counters.
        return [outcome(r) for r in (a, a, a, b, b, b, a, b)]

    with caplog.at_level(logging.WARNING, logger="llmswitch"):
        assert in_one_minute(scenario) == ["ok"] * 6 + ["limited", "limited"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "llmswitch"]
    assert any("is unavailable" in w and "counted per replica" in w for w in warnings), warnings

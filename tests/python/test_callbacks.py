"""LiteLLM-style logging callbacks: success_callback, failure_callback, callbacks (CustomLogger)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import subprocess
import sys
from typing import Any

import pytest

import llmswitch
from conftest import MESSAGES, TEST_KEY, chunk
from llmswitch.integrations.custom_logger import CustomLogger


class Recorder:
    """A success or failure callback function that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any, Any, Any]] = []

    def __call__(self, kwargs: dict[str, Any], response: Any, start: Any, end: Any) -> None:
        self.calls.append((kwargs, response, start, end))


class Logger(CustomLogger):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def log_pre_api_call(self, model, messages, kwargs):
        self.events.append(("pre", model))
        self.pre_kwargs = kwargs

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("success", response_obj))

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("failure", kwargs["exception"]))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        await asyncio.sleep(0)
        self.events.append(("async_success", response_obj))

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.events.append(("async_failure", kwargs["exception"]))


@pytest.fixture()
def hooks(monkeypatch):
    ok, failed = Recorder(), Recorder()
    monkeypatch.setattr(llmswitch, "success_callback", [ok])
    monkeypatch.setattr(llmswitch, "failure_callback", [failed])
    monkeypatch.setattr(llmswitch, "callbacks", [])
    return ok, failed


@pytest.fixture()
def logger(monkeypatch):
    logger = Logger()
    monkeypatch.setattr(llmswitch, "callbacks", [logger])
    return logger


async def settle_tasks():
    """Let hook tasks scheduled on this loop run."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_success_callback_gets_litellm_kwargs_response_and_times(server, openai_kw, hooks):
    ok, failed = hooks
    r = llmswitch.completion(
        model="openai/gpt-4o",
        messages=MESSAGES,
        temperature=0.2,
        user="u-7",
        metadata={"project": "alpha", "tags": ["triage"]},
        **openai_kw,
    )
    assert failed.calls == []
    ((kwargs, response, start, end),) = ok.calls
    assert response is r
    assert isinstance(start, datetime.datetime) and start <= end
    assert kwargs["model"] == "gpt-4o" and kwargs["messages"] == MESSAGES
    assert kwargs["call_type"] == "completion" and kwargs["stream"] is False
    assert kwargs["custom_llm_provider"] == "openai"
    assert kwargs["optional_params"] == {"temperature": 0.2, "user": "u-7"}
    assert kwargs["litellm_params"]["metadata"] == {"project": "alpha", "tags": ["triage"]}
    assert kwargs["litellm_params"]["api_base"] == server.base_url
    assert kwargs["litellm_params"]["acompletion"] is False
    assert kwargs["response_cost"] == r._hidden_params["response_cost"] > 0
    slo = kwargs["standard_logging_object"]
    assert slo["status"] == "success" and slo["id"] == kwargs["litellm_call_id"]
    usage = r.usage
    assert (slo["prompt_tokens"], slo["completion_tokens"], slo["total_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
    )
    assert slo["request_tags"] == ["triage"] and slo["end_user"] == "u-7"
    assert slo["startTime"] <= slo["completionStartTime"] <= slo["endTime"]
    # Callbacks commonly ship kwargs to logging services: no key in them, anywhere.
    assert TEST_KEY not in repr(kwargs)


def test_failure_callback_gets_the_exception_and_the_call_still_raises(server, openai_kw, hooks, logger):
    ok, failed = hooks
    server.enqueue(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(llmswitch.RateLimitError) as info:
        llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, num_retries=0, **openai_kw)
    assert ok.calls == []
    ((kwargs, response, _, _),) = failed.calls
    assert response is None
    assert kwargs["exception"] is info.value
    assert "RateLimitError" in kwargs["traceback_exception"]
    assert kwargs["standard_logging_object"]["status"] == "failure"
    assert kwargs["custom_llm_provider"] == "openai"
    assert logger.events == [("pre", "openai/gpt-4o"), ("failure", info.value)]
    assert logger.pre_kwargs["litellm_call_id"] == kwargs["litellm_call_id"]
    assert TEST_KEY not in repr(logger.pre_kwargs)


def test_bad_input_is_reported_as_a_failure_too(server, hooks):
    _, failed = hooks
    with pytest.raises(llmswitch.BadRequestError):
        llmswitch.completion(model="nope/x", messages=MESSAGES)
    ((kwargs, _, _, _),) = failed.calls
    assert isinstance(kwargs["exception"], llmswitch.BadRequestError)


def test_stream_reports_the_rebuilt_response_when_it_ends(server, openai_kw, hooks):
    ok, _ = hooks
    server.enqueue(sse=[chunk({"content": "Hel"}), chunk({"content": "lo"}, "stop"), "data: [DONE]"])
    got = []
    for c in llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw):
        got.append(c)
        assert ok.calls == []  # nothing until the stream has ended
    ((kwargs, response, _, _),) = ok.calls
    assert response.choices[0].message.content == "Hello"
    assert kwargs["complete_streaming_response"] is response
    assert kwargs["stream"] is True
    slo = kwargs["standard_logging_object"]
    assert slo["startTime"] <= slo["completionStartTime"] <= slo["endTime"]


def test_stream_broken_midway_is_a_failure(server, openai_kw, hooks):
    ok, failed = hooks
    server.enqueue(
        sse=[chunk({"content": "a"}), chunk({"content": "b"}), chunk({"content": "c"})], drop_after=2
    )
    with pytest.raises(llmswitch.APIConnectionError):
        for _ in llmswitch.completion(model="openai/gpt-4o", messages=MESSAGES, stream=True, **openai_kw):
            pass
    assert ok.calls == []
    ((kwargs, _, _, _),) = failed.calls
    assert isinstance(kwargs["exception"], llmswitch.APIConnectionError)


def test_async_calls_run_async_hooks_on_the_callers_loop(server, openai_kw, hooks, logger):
    ok, failed = hooks
    ran_in: list[Any] = []

    async def async_fn(kwargs, response, start, end):
        ran_in.append(asyncio.get_running_loop())

    llmswitch.success_callback.append(async_fn)

    async def main():
        r = await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES, **openai_kw)
        stream = await llmswitch.acompletion(
            model="mock/m", messages=MESSAGES, mock_response="x y", stream=True
        )
        chunks = [c async for c in stream]
        with pytest.raises(llmswitch.AuthenticationError):
            await llmswitch.acompletion(model="openai/gpt-4o", messages=MESSAGES)
        await settle_tasks()
        return r, chunks, asyncio.get_running_loop()

    r, chunks, loop = asyncio.run(main())
    assert [k["call_type"] for k, *_ in ok.calls] == ["acompletion", "acompletion"]
    assert ok.calls[0][1] is r and ok.calls[0][0]["litellm_params"]["acompletion"] is True
    assert ok.calls[1][1].choices[0].message.content == "x y" and len(chunks) > 1
    assert ran_in == [loop, loop]
    assert isinstance(failed.calls[0][0]["exception"], llmswitch.AuthenticationError)
    # The async hooks are tasks, so they interleave with later calls; each ran once.
    kinds = sorted(kind for kind, _ in logger.events)
    assert kinds == ["async_failure", "async_success", "async_success", "pre", "pre", "pre"]


def test_async_functions_do_not_run_for_blocking_calls(monkeypatch):
    called = []

    async def async_fn(kwargs, response, start, end):
        called.append(kwargs)

    monkeypatch.setattr(llmswitch, "success_callback", [async_fn])
    llmswitch.completion(model="mock/m", messages=MESSAGES)
    assert called == []


def test_a_raising_callback_is_logged_not_raised(monkeypatch, caplog):
    def broken(kwargs, response, start, end):
        raise RuntimeError("observer bug")

    after = Recorder()
    monkeypatch.setattr(llmswitch, "success_callback", [broken, after])
    with caplog.at_level(logging.ERROR, logger="llmswitch"):
        r = llmswitch.completion(model="mock/m", messages=MESSAGES)
    assert r.choices[0].message.content
    assert len(after.calls) == 1
    assert "observer bug" in caplog.text


def test_integration_names_are_skipped_with_one_warning(monkeypatch, caplog, hooks):
    """LiteLLM integrations named by string (frameworks set them) are skipped, with one
    warning, not an error on every call; the other entries still run."""
    ok, _ = hooks
    monkeypatch.setattr(llmswitch, "success_callback", ["langfuse-skip-test", ok])
    monkeypatch.setattr(llmswitch, "callbacks", [42])
    with caplog.at_level(logging.WARNING, logger="llmswitch"):
        r1 = llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response="a")
        r2 = llmswitch.completion(model="mock/m", messages=MESSAGES, mock_response="b")
    assert (r1.choices[0].message.content, r2.choices[0].message.content) == ("a", "b")
    assert len(ok.calls) == 2
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 2
    assert "'langfuse-skip-test'" in warnings[0] and "42" in warnings[1]


def test_router_and_embedding_calls_are_reported(server, openai_kw, hooks):
    ok, _ = hooks
    router = llmswitch.Router(
        model_list=[
            {
                "model_name": "smart",
                "litellm_params": {"model": "openai/gpt-4o", **openai_kw},
                "model_info": {"id": "dep-1"},
            }
        ]
    )
    router.completion(model="smart", messages=MESSAGES)
    llmswitch.embedding(model="openai/text-embedding-3-small", input=["a", "b"], **openai_kw)
    (chat, _, _, _), (emb, emb_response, _, _) = ok.calls
    assert chat["standard_logging_object"]["model_group"] == "smart"
    assert chat["standard_logging_object"]["model_id"] == "dep-1"
    assert emb["call_type"] == "embedding" and emb["messages"] == ["a", "b"]
    assert emb_response["object"] == "list"


def test_without_callbacks_the_callback_module_is_never_imported():
    code = (
        "import sys, llmswitch\n"
        "llmswitch.completion(model='mock/m', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "assert 'llmswitch._callbacks' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

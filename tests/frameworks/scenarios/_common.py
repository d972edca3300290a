"""Shared by the framework scenarios: the stand-in switch and the loopback mock provider.

A scenario runs in its own interpreter (through ``launch.py``), once with LiteLLM itself
(``FRAMEWORK_MODE=litellm``) and once with ``llmswitch.install_as_litellm()`` as the
program's first line (``FRAMEWORK_MODE=llmswitch``), against a
loopback OpenAI-format mock server whose replies it scripts, and prints one JSON document
of concrete results for the two runs to be compared.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from llmswitch.testing import MockServer

#: ``litellm`` or ``llmswitch`` (``launch.py`` installed the stand-in before this ran).
MODE = os.environ.get("FRAMEWORK_MODE", "litellm")

KEY = "sk-test-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"


def server() -> MockServer:
    s = MockServer()
    return s


def usage(prompt: int = 11, completion: int = 7) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A chat.completion body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate((c["name"], c["arguments"]) for c in tool_calls)
        ]
    return {
        "id": "chatcmpl-fw",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": usage(),
    }


def _frame(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-fw",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if with_usage:
        body["usage"] = usage()
    return "data: " + json.dumps(body)


def stream_text(*pieces: str) -> list[str]:
    """SSE frames of a streamed text answer (usage on the last chunk)."""
    frames = [_frame({"role": "assistant", "content": ""})]
    frames += [_frame({"content": p}) for p in pieces]
    frames.append(_frame({}, "stop", with_usage=True))
    return [*frames, "data: [DONE]"]


def stream_tool_call(name: str, arguments: dict[str, Any]) -> list[str]:
    """SSE frames of one streamed tool call, its arguments in two pieces."""
    text = json.dumps(arguments)
    half = len(text) // 2
    frames = [
        _frame({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_s", "type": "function", "function": {"name": name, "arguments": ""}}]}),
        _frame({"tool_calls": [{"index": 0, "function": {"arguments": text[:half]}}]}),
        _frame({"tool_calls": [{"index": 0, "function": {"arguments": text[half:]}}]}),
        _frame({}, "tool_calls", with_usage=True),
    ]  # fmt: skip
    return [*frames, "data: [DONE]"]


def report(result: dict[str, Any]) -> None:
    """Print the scenario's results (the last line of output)."""
    result["litellm_is_llmswitch"] = getattr(sys.modules.get("litellm"), "__llmswitch__", False)
    sys.stdout.write("\n" + json.dumps(result, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()

"""The stubs type what a user touches: mypy on small user scripts accepts correct code and
catches a misspelt response attribute and a wrong strategy name."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CORRECT = """
import asyncio

import llmswitch
from llmswitch.types import RoutingStrategy

MESSAGES = [{"role": "user", "content": "hi"}]

r = llmswitch.completion(model="mock/m", messages=MESSAGES)
text: str | None = r.choices[0].message.content
calls = r.choices[0].message.tool_calls or []
names: list[str | None] = [c.function.name for c in calls]
tokens: int = r.usage.prompt_tokens + r.usage.completion_tokens
details = r.usage.completion_tokens_details
reasoning: int | None = details.reasoning_tokens if details else None
cost = r._hidden_params["response_cost"]

with llmswitch.completion(model="mock/m", messages=MESSAGES, stream=True) as stream:
    for chunk in stream:
        delta: str | None = chunk.choices[0].delta.content if chunk.choices else None

async def main() -> None:
    r2 = await llmswitch.acompletion(model="mock/m", messages=MESSAGES)
    reply: str | None = r2.choices[0].message.content
    async with await llmswitch.acompletion(model="mock/m", messages=MESSAGES, stream=True) as s:
        async for c in s:
            finish: str | None = c.choices[0].finish_reason
    e = await llmswitch.aembedding(model="mock/e", input=["a"])
    vector = e.data[0].embedding

asyncio.run(main())

strategy: RoutingStrategy = "least-busy"
router = llmswitch.Router(model_list=[], routing_strategy=strategy)
rr = router.completion(model="g", messages=MESSAGES)
answer: str | None = rr.choices[0].message.content
report = llmswitch.spend_report(group_by=("project", "metadata.team"))
llmswitch.budgets.add(1.0, scope="user", period="daily")
"""

WRONG_ATTRIBUTE = """
import llmswitch

r = llmswitch.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}])
print(r.choices[0].mesage.content)
"""

WRONG_STRATEGY = """
import llmswitch

router = llmswitch.Router(model_list=[], routing_strategy="fastest-first")
"""

STREAM_IS_NOT_A_RESPONSE = """
import llmswitch

s = llmswitch.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}], stream=True)
print(s.choices)
"""


SCRIPTS = {
    "correct": CORRECT,
    "wrong_attribute": WRONG_ATTRIBUTE,
    "wrong_strategy": WRONG_STRATEGY,
    "stream": STREAM_IS_NOT_A_RESPONSE,
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One mypy run over every script; its report split by file."""
    tmp = tmp_path_factory.mktemp("typing")
    paths = []
    for name, source in SCRIPTS.items():
        path = tmp / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        paths.append(str(path))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp / "cache"),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "error: " in out.stdout and "Found " in out.stdout, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    return {name: "\n".join(line for line in lines if f"{name}.py:" in line) for name in SCRIPTS}


def test_correct_user_code_type_checks(results):
    assert results["correct"] == ""


def test_misspelt_response_attribute_is_caught(results):
    assert 'has no attribute "mesage"' in results["wrong_attribute"], results


def test_wrong_routing_strategy_is_caught(results):
    out = results["wrong_strategy"]
    assert "routing_strategy" in out and "fastest-first" in out, results


def test_stream_overload_returns_a_stream(results):
    assert '"SyncStream" has no attribute "choices"' in results["stream"], results

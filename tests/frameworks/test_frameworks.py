"""Each agent framework that imports ``litellm`` runs its normal use against a loopback mock
provider twice: with LiteLLM 1.106.2 itself, then with ``llmswitch.install_as_litellm()``;
the concrete results (answers, parsed objects, tool names and arguments, token usage) must
be the same. Run by ``make frameworks-test`` (part of ``make test``) in the virtual
environment of tests/frameworks/requirements.txt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
#: The frameworks installed in this environment (the Makefile names them per environment);
#: each has a scenario, so none is skipped unnoticed.
FRAMEWORKS = [f for f in os.environ.get("FRAMEWORKS", "").split(",") if f]
SCENARIOS = [f"{f}_scenario" for f in FRAMEWORKS]


def test_every_scenario_runs_in_some_environment():
    assert FRAMEWORKS, "set FRAMEWORKS (make frameworks-test does)"
    for scenario in SCENARIOS:
        assert (HERE / "scenarios" / f"{scenario}.py").exists(), scenario


def run(scenario: str, mode: str) -> dict:
    env = dict(os.environ)
    env.update(
        FRAMEWORK_MODE=mode,
        PYTHONPATH=os.pathsep.join([str(HERE / "scenarios"), str(HERE.parent.parent / "python")]),
        # Offline: LiteLLM's bundled price map, no telemetry or tracing exports.
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        OPENAI_AGENTS_DISABLE_TRACING="1",
        CREWAI_DISABLE_TELEMETRY="true",
        OTEL_SDK_DISABLED="true",
        DSPY_CACHEDIR=str(HERE / ".dspy_cache"),
    )
    env.pop("LLMSWITCH_AS_LITELLM", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / "launch.py"), str(HERE / "scenarios" / f"{scenario}.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"{scenario} ({mode}) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_results_with_litellm_and_llmswitch(scenario):
    reference = run(scenario, "litellm")
    standin = run(scenario, "llmswitch")
    assert reference.pop("litellm_is_llmswitch") is False
    assert standin.pop("litellm_is_llmswitch") is True
    assert standin == reference

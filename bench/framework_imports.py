"""Import time of each agent framework with LiteLLM and with llmswitch standing in for it.

Each measurement is a fresh interpreter that imports the framework's module that uses
``litellm`` and then ``litellm`` itself (some frameworks import it lazily): once as is
(LiteLLM 1.106.2), once after ``llmswitch.install_as_litellm()``. Median of ``--runs``
interpreters, in milliseconds. Uses the environments ``make frameworks-test`` builds
(.venv-frameworks, .venv-frameworks-crewai) and this checkout's llmswitch build.

    python bench/framework_imports.py [--runs 5] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: (framework, environment, the import that brings in its LiteLLM integration)
FRAMEWORKS = [
    ("DSPy", ".venv-frameworks", "import dspy"),
    ("langchain-litellm", ".venv-frameworks", "from langchain_litellm import ChatLiteLLM, ChatLiteLLMRouter"),
    ("instructor", ".venv-frameworks", "import instructor"),
    ("smolagents", ".venv-frameworks", "from smolagents import LiteLLMModel"),
    ("openai-agents", ".venv-frameworks", "from agents.extensions.models.litellm_model import LitellmModel"),
    ("CrewAI", ".venv-frameworks-crewai", "from crewai import LLM, Agent, Crew, Task"),
]

SCRIPT = """
import time, json
t = time.perf_counter()
{prelude}
{framework_import}
import litellm
from typing import Any
print(json.dumps({{"ms": (time.perf_counter() - t) * 1000, "standin": getattr(litellm, "__llmswitch__", False)}}))
"""


def once(python: Path, framework_import: str, standin: bool) -> float:
    prelude = "import llmswitch; llmswitch.install_as_litellm()" if standin else ""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), LITELLM_LOCAL_MODEL_COST_MAP="True")
    env.pop("LLMSWITCH_AS_LITELLM", None)
    out = subprocess.run(
        [str(python), "-c", SCRIPT.format(prelude=prelude, framework_import=framework_import)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["standin"] is standin
    return float(result["ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for name, venv, framework_import in FRAMEWORKS:
        python = ROOT / venv / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"{python} is missing: run `make frameworks-test` first")
        once(python, framework_import, False)  # warm the file cache
        litellm_ms = statistics.median(once(python, framework_import, False) for _ in range(args.runs))
        llmswitch_ms = statistics.median(once(python, framework_import, True) for _ in range(args.runs))
        rows.append({"framework": name, "litellm_ms": round(litellm_ms), "llmswitch_ms": round(llmswitch_ms)})
    if args.markdown:
        print("| framework | with LiteLLM 1.106.2 | with llmswitch | saved |")
        print("| --- | ---: | ---: | ---: |")
        for r in rows:
            saved = r["litellm_ms"] - r["llmswitch_ms"]
            print(f"| {r['framework']} | {r['litellm_ms']:,} ms | {r['llmswitch_ms']:,} ms | {saved:,} ms |")
    else:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""The README's first command runs the offline demo: keep it working."""

from __future__ import annotations

import subprocess
import sys


def test_offline_demo_runs(tmp_path):
    db = tmp_path / "spend.sqlite"
    proc = subprocess.run(
        [sys.executable, "-m", "llmswitch", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in (
        "This is a mock response from llmswitch.",
        "/v1/messages",
        ":generateContent",
        "rebuilt from",
        "after ['first smart/gpt-4o-a: RateLimitError', 'retry smart/gpt-4o-b: ok']",
        "BudgetExceededError",
        "Spend by project, model",
    ):
        assert expected in out, (expected, out)
    assert db.exists() and db.stat().st_size > 0

"""The README's first command runs the offline demo: keep it working."""

from __future__ import annotations

import subprocess
import sys

import llmswitch


def _run_demo(db):
    proc = subprocess.run(
        [sys.executable, "-m", "llmswitch", "demo", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_offline_demo_runs(tmp_path):
    db = tmp_path / "spend.sqlite"
    out = _run_demo(db)
    for expected in (
        "This is a mock response from llmswitch.",
        "/v1/messages",
        ":generateContent",
        "rebuilt from",
        "after ['first smart/gpt-4o-a: RateLimitError', 'retry smart/gpt-4o-b: ok']",
        "BudgetExceededError",
        "Spend by project, model",
        # Errors are printed whole, in words.
        "did you mean 'temperature'?",
        "temperature must be a number, got the string 'hot'",
        "To drop these, pass drop_params=True",
    ):
        assert expected in out, (expected, out)
    assert db.exists() and db.stat().st_size > 0
    assert "earlier runs" not in out


def test_demo_report_covers_this_run_and_the_file_persists(tmp_path):
    db = tmp_path / "spend.sqlite"
    first = _run_demo(db)
    second = _run_demo(db)

    def totals(out):  # "Spend by project, model: 15 calls, $0.000470 total, since ..."
        [header] = [line for line in out.splitlines() if line.startswith("Spend by project, model")]
        return header.split(", since")[0]

    # The second run's report counts only its own calls; the earlier ones are still in the file.
    assert totals(first) == totals(second)
    calls = int(totals(first).split(": ")[1].split(" calls")[0])
    assert f"(the file also holds {calls} calls from earlier runs: the ledger persists)" in second


def test_version_flag_and_command():
    for argv in (["--version"], ["version"]):
        proc = subprocess.run(
            [sys.executable, "-m", "llmswitch", *argv], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-1] == llmswitch.__version__


def test_package_metadata_names_homepage_and_authors():
    from importlib.metadata import metadata

    meta = metadata("llmswitch")
    assert meta["Author"] or meta["Author-email"]
    assert any(url.startswith("Homepage, https://") for url in meta.get_all("Project-URL") or [])
    # `pip show` (pip < 24 reads only this field) prints it as the home page.
    assert (meta["Home-page"] or "").startswith("https://")

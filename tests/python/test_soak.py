"""Soak, short form: ``bench/soak.py`` for 40 seconds of steady mixed load (blocking and
async calls, streams read to the end and closed early, embeddings, Router calls) on
loopback, in a subprocess. Leak bounds only (no timing asserts): RSS growth after the
warm-up under 2 %, no file-descriptor or thread growth, every stream closed at the end, no
errors. The figures go to the test's output; the 10-minute long form is in RELIABILITY.md."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

SOAK = pathlib.Path(__file__).parent.parent.parent / "bench" / "soak.py"


@pytest.mark.timeout(180)
def test_short_soak_has_no_leaks() -> None:
    out = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "40", "--sample", "2"],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    print(json.dumps({k: report[k] for k in ("calls", "rss_growth", "rss_mib", "fds", "threads", "p99_ms")}))
    assert report["calls"] > 1000
    assert report["errors"] == 0, report["error_samples"]
    assert report["rss_growth"] < 0.02, report["rss_mib"]
    # A few sockets come and go with the pool; a leak grows with every call.
    assert report["fd_growth"] <= 0.1, report["fds"]
    assert report["thread_growth"] == 0, report["threads"]
    assert report["open_streams_after"] == 0

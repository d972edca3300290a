"""Durability of the spend ledger's SQLite file and of the gateway's state database: kill -9
in the middle of a steady stream of writes, corrupt and truncated files. Never a corrupt
file, never silent loss of what was flushed, a clear error for a file that is not a
database.

Read-only and full filesystems, and SIGTERM, join when issue 14's faults 3 and 7 land (until
then a failing write is dropped silently, and SIGTERM skips the final flush)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

import llmswitch
from llmswitch.testing import MockServer

pytestmark = pytest.mark.timeout(120)

MASTER = "sk-durability-master"


def integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def ledger_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(
            db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in tables
            if "spend" in t or "record" in t or "call" in t
        )


WRITER = textwrap.dedent(
    """
    import sys, llmswitch
    llmswitch.spend.enable(sys.argv[1])
    n = 0
    while True:
        for _ in range(50):
            llmswitch.completion(model="mock/x", messages=[{"role": "user", "content": "hi"}])
            n += 1
        llmswitch.spend.flush()
        print(n, flush=True)   # everything up to n is on disk
    """
)


@pytest.mark.parametrize("after", [0.3, 1.0, 2.0])
def test_ledger_survives_kill_9_with_every_flushed_record(tmp_path: Path, after: float) -> None:
    path = tmp_path / "ledger.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    flushed = 0
    deadline = time.monotonic() + after
    while time.monotonic() < deadline or flushed == 0:
        line = proc.stdout.readline()
        if not line:
            break
        flushed = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert flushed > 0
    assert integrity(path) == "ok"
    # Everything flushed before the kill is there; at most what came after is lost.
    assert ledger_rows(path) >= flushed
    # The file opens again and keeps recording.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, llmswitch; llmswitch.spend.enable(sys.argv[1]); "
            "llmswitch.completion(model='mock/x', messages=[{'role': 'user', 'content': 'hi'}]); "
            "llmswitch.spend.flush(); print(len(llmswitch.spend.records()))",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= flushed + 1


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, b"\x00" * 8192],
    ids=["text", "bad-header", "zeros"],
)
def test_ledger_refuses_a_corrupt_file_clearly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(content)
    script = (
        "import sys, llmswitch\n"
        "try:\n"
        "    llmswitch.spend.enable(sys.argv[1])\n"
        "    llmswitch.completion(model='mock/x', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "    llmswitch.spend.flush()\n"
        "except Exception as e:\n"
        "    print('REFUSED', type(e).__name__, e)\n"
        "else:\n"
        "    print('ACCEPTED')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr  # no crash
    # The file is refused with a clear error, and left as it was for the user to inspect.
    assert out.stdout.startswith("REFUSED"), out.stdout
    assert str(path) in out.stdout or "database" in out.stdout.lower()
    assert path.read_bytes() == content


def test_ledger_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    llmswitch.spend.enable(path)
    try:
        for _ in range(200):
            llmswitch.completion(model="mock/x", messages=[{"role": "user", "content": "hi"}])
        llmswitch.spend.flush()
    finally:
        llmswitch.spend.disable()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, llmswitch\n"
            "try:\n"
            "    llmswitch.spend.enable(sys.argv[1]); llmswitch.spend_report(); print('OPENED')\n"
            "except Exception as e:\n"
            "    print('REFUSED', type(e).__name__, e)\n",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(("OPENED", "REFUSED")), out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, deadline: float) -> None:
    req = urllib.request.Request(url + "/health/readiness", headers={"Authorization": f"Bearer {MASTER}"})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(req, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.02)
    raise AssertionError("the gateway did not become ready")


def gateway_config(server: MockServer, db: Path) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-up", "api_base": server.base_url},
                "model_info": {"id": "gpt-1", "input_cost_per_token": 0.001, "output_cost_per_token": 0.002},
            }
        ],
        "general_settings": {"master_key": MASTER, "database_url": str(db), "proxy_batch_write_at": 0.05},
    }


def start_gateway(tmp_path: Path, server: MockServer, db: Path) -> tuple[subprocess.Popen[str], str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(gateway_config(server, db)))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmswitch", "proxy", "--config", str(config), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, time.monotonic() + 60)
    return proc, url


def test_gateway_state_survives_kill_9(tmp_path: Path, server: MockServer) -> None:
    db = tmp_path / "state.sqlite"
    proc, url = start_gateway(tmp_path, server, db)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
        req = urllib.request.Request(
            url + "/key/generate",
            data=b'{"models": ["gpt"]}',
            headers={"Authorization": f"Bearer {MASTER}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            key = json.loads(r.read())["key"]
        keyed = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        for _ in range(30):
            keyed.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
        time.sleep(0.5)  # ten write-behind batches: these rows are on disk
        for _ in range(30):
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert integrity(db) == "ok"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        logged = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()[0]
        keys = conn.execute('SELECT count(*) FROM "LiteLLM_VerificationToken"').fetchone()[0]
    assert logged >= 30 and keys == 1
    # It starts again on the same file, and the key still works.
    proc, url = start_gateway(tmp_path, server, db)
    try:
        keyed = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        assert keyed.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}]
        ).choices
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert integrity(db) == "ok"


def test_gateway_refuses_a_corrupt_state_file(tmp_path: Path, server: MockServer) -> None:
    db = tmp_path / "state.sqlite"
    db.write_bytes(b"not a database at all\n" * 200)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(gateway_config(server, db)))
    out = subprocess.run(
        [sys.executable, "-m", "llmswitch", "proxy", "--config", str(config), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stderr
    assert "database" in out.stderr.lower() or str(db) in out.stderr
    assert db.read_bytes() == b"not a database at all\n" * 200

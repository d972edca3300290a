"""Durability of the spend ledger's SQLite file and of the gateway's state database: kill -9
in the middle of a steady stream of writes, SIGTERM, read-only files and filesystems, a
full filesystem (a small tmpfs where mounting is permitted, else ``RLIMIT_FSIZE``), a file
over its size limit, corrupt and truncated files. Never a corrupt file, never silent loss
of what was flushed, a clear error for a file that is not a database or cannot be
written."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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
        except OSError:  # refused, reset, or not answered yet (a read timeout): ask again
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


def test_a_signal_while_the_gateway_reports_ready_stops_it_gracefully(
    tmp_path: Path, server: MockServer
) -> None:
    # Ctrl-C landing while the ready callback runs (the CLI logs "listening on" there) used
    # to escape as a traceback, skipping the graceful shutdown and the spend-log flush.
    config = tmp_path / "config.json"
    config.write_text(json.dumps(gateway_config(server, tmp_path / "state.sqlite")))
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from llmswitch._llmswitch import _proxy_serve

        def ready(url):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the KeyboardInterrupt lands here

        _proxy_serve(sys.argv[1], port=0, on_ready=ready)
        print("stopped cleanly")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(config)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stopped cleanly"
    assert integrity(tmp_path / "state.sqlite") == "ok"


# ---- SIGTERM -------------------------------------------------------------------------


def test_gateway_spend_logs_survive_sigterm(tmp_path: Path, server: MockServer) -> None:
    # A long write-behind interval: nothing is written before the signal but what the
    # graceful shutdown flushes.
    db = tmp_path / "state.sqlite"
    config = gateway_config(server, db)
    config["general_settings"]["proxy_batch_write_at"] = 60
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmswitch", "proxy", "--config", str(path), "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, time.monotonic() + 60)
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
        for i in range(40):
            if i % 2:
                client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
            else:
                list(
                    client.chat.completions.create(
                        model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
                    )
                )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert integrity(db) == "ok"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        logged = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()[0]
    assert logged == 40


# ---- read-only and full filesystems ----------------------------------------------------

#: Root ignores file permissions; without these capabilities (dropped from the bounding
#: set before exec) it honours them like any user.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def python_honouring_permissions() -> list[str]:
    if os.geteuid() != 0:
        return [sys.executable]
    probe = subprocess.run([*NO_DAC, "true"], capture_output=True) if shutil.which("setpriv") else None
    if probe is None or probe.returncode != 0:
        # Dropping capabilities needs CAP_SETPCAP (some containers lack it).
        pytest.skip("running as root and cannot drop capabilities: file permissions are not enforced")
    return [*NO_DAC, sys.executable]


def run_py(code: str, *args: str, prefix: list[str] | None = None, timeout: float = 120) -> Any:
    return subprocess.run(
        [*(prefix or [sys.executable]), "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


READ_ONLY = """
    import sys, llmswitch
    try:
        llmswitch.spend.enable(sys.argv[1])
        print("ENABLED")
    except OSError as e:
        print("REFUSED", e)
"""


def test_ledger_refuses_a_read_only_file_and_directory(tmp_path: Path) -> None:
    prefix = python_honouring_permissions()
    # A read-only file.
    ro_file = tmp_path / "ro.sqlite"
    out = run_py("import sys, llmswitch; llmswitch.spend.enable(sys.argv[1])", str(ro_file))
    assert out.returncode == 0, out.stderr
    before = ro_file.read_bytes()
    ro_file.chmod(0o444)
    out = run_py(READ_ONLY, str(ro_file), prefix=prefix)
    assert out.stdout.startswith("REFUSED"), (out.stdout, out.stderr[-2000:])
    assert "read-only" in out.stdout or "cannot write" in out.stdout, out.stdout
    assert ro_file.read_bytes() == before
    # A new file in a read-only directory.
    ro_dir = tmp_path / "ro-dir"
    ro_dir.mkdir()
    ro_dir.chmod(0o555)
    try:
        out = run_py(READ_ONLY, str(ro_dir / "new.sqlite"), prefix=prefix)
        assert out.stdout.startswith("REFUSED"), (out.stdout, out.stderr[-2000:])
        assert str(ro_dir) in out.stdout, out.stdout
        assert list(ro_dir.iterdir()) == []
    finally:
        ro_dir.chmod(0o755)


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(tempfile.mkdtemp(prefix="llmswitch-mount-probe-"))
    try:
        ok = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True
        )
        if ok.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


@contextlib.contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="llmswitch-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def test_ledger_refuses_a_read_only_filesystem(tmp_path: Path) -> None:
    if not can_mount():
        # The same refusal through permissions (the read-only file test) stands in.
        (tmp_path / "fallback").mkdir()
        return test_ledger_refuses_a_read_only_file_and_directory(tmp_path / "fallback")
    with small_tmpfs("1m") as fs:
        path = fs / "ledger.sqlite"
        out = run_py("import sys, llmswitch; llmswitch.spend.enable(sys.argv[1])", str(path))
        assert out.returncode == 0, out.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        out = run_py(READ_ONLY, str(path))
        assert out.stdout.startswith("REFUSED"), (out.stdout, out.stderr[-2000:])
        subprocess.run(["mount", "-o", "remount,rw", str(fs)], check=True)
        assert integrity(path) == "ok"


#: Fills the ledger's filesystem (or caps its files' size), makes calls, and checks that
#: nothing is lost: flush raises and counts, and once there is room again every record is
#: written.
FULL = """
    import json, os, resource, sys, llmswitch
    path, how = sys.argv[1], sys.argv[2]
    llmswitch.spend.enable(path)
    msgs = [{"role": "user", "content": "hi"}]
    for _ in range(20):
        llmswitch.completion(model="mock/x", messages=msgs, metadata={"user": "full"})
    llmswitch.spend.flush()
    filler = os.path.join(os.path.dirname(path), "filler")
    if how == "tmpfs":
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(bytes(4096))
            except OSError:
                pass
    else:  # no file of this process may grow past what it has now
        size = max(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    for _ in range(3000):
        llmswitch.completion(model="mock/x", messages=msgs, metadata={"user": "full"})
    out = {}
    try:
        llmswitch.spend.flush()
        out["flush"] = "ok"
    except OSError as e:
        out["flush"] = str(e)
    out["full"] = llmswitch.spend.status()
    if how == "tmpfs":
        os.remove(filler)
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    llmswitch.spend.flush()
    out["after"] = llmswitch.spend.status()
    print(json.dumps(out))
"""


def check_full(path: Path, out: Any) -> None:
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert "could not be written" in result["flush"], result
    full = result["full"]
    assert full["pending"] > 0 and full["dropped"] == 0 and full["last_error"], full
    after = result["after"]
    assert (after["pending"], after["dropped"], after["last_error"]) == (0, 0, None), after
    assert integrity(path) == "ok"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (n,) = db.execute("SELECT count(*) FROM spend WHERE user = 'full'").fetchone()
    assert n == 3020


def test_ledger_on_a_full_filesystem_loses_nothing(tmp_path: Path) -> None:
    if can_mount():
        with small_tmpfs("2m") as fs:
            path = fs / "ledger.sqlite"
            out = run_py(FULL, str(path), "tmpfs")
            check_full(path, out)
    else:  # where mounting is not permitted, the same through the file size limit
        path = tmp_path / "ledger.sqlite"
        check_full(path, run_py(FULL, str(path), "fsize"))


def test_ledger_over_its_file_size_limit_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    check_full(path, run_py(FULL, str(path), "fsize"))


def test_gateway_spend_logs_over_the_file_size_limit_lose_nothing(tmp_path: Path, server: MockServer) -> None:
    # The gateway's database cannot grow for a while (its RLIMIT_FSIZE set from outside;
    # Python ignores SIGXFSZ, so writes fail with EFBIG): the write-behind queue keeps the
    # rows and retries; once it can grow, every row is there.
    db = tmp_path / "state.sqlite"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(gateway_config(server, db)))
    port = free_port()
    log = tmp_path / "gateway.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmswitch", "proxy", "--config", str(config), "--port", str(port)],
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, time.monotonic() + 60)
        client = openai.OpenAI(base_url=url + "/v1", api_key=MASTER, max_retries=0)
        client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi"}])
        time.sleep(0.3)  # six write-behind batches: that row is written
        size = max(p.stat().st_size for p in (db, Path(str(db) + "-wal")) if p.exists())
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        for _ in range(100):
            client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "hi " * 50}])
        deadline = time.monotonic() + 30
        while "spend log write failed" not in (text := log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "spend log write failed" in text, text[-2000:]
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert integrity(db) == "ok"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        logged = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()[0]
    assert logged == 101

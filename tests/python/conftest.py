"""Shared fixtures: a loopback mock provider server and helpers to call it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmswitch.testing import MockServer

#: A key that looks real enough for the redaction tests; never a real key.
TEST_KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="session")
def server_session() -> Any:
    server = MockServer()
    yield server
    server.stop()


@pytest.fixture()
def server(server_session: MockServer) -> MockServer:
    """A mock provider server, with recorded requests and queued replies reset."""
    server_session.reset()
    return server_session


@pytest.fixture()
def openai_kw(server: MockServer) -> dict[str, Any]:
    """Keyword arguments that point an OpenAI-format call at the mock server."""
    return {"api_base": server.base_url, "api_key": TEST_KEY}


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real keys."""
    for name in list(os.environ):
        if name.endswith("_API_KEY") or name.endswith("_API_BASE") or name in ("OPENAI_BASE_URL",):
            monkeypatch.delenv(name, raising=False)


MESSAGES = [{"role": "user", "content": "hi"}]


def sse(obj: Any) -> str:
    """One SSE data frame."""
    return "data: " + (obj if isinstance(obj, str) else json.dumps(obj))


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    body.update(extra)
    return sse(body)


# --- PostgreSQL (a throwaway cluster) ---------------------------------------------------------


class PostgresCluster:
    """``initdb`` + ``postgres`` on a free loopback port in a temporary directory, as the
    ``postgres`` user when the tests run as root (PostgreSQL refuses root). ``database()``
    creates a fresh database and returns its URL."""

    def __init__(self, *settings: str) -> None:
        import shutil
        import socket
        import subprocess
        import tempfile

        self.bin = self._bin_dir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="llmswitch-pg-")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, user="postgres", group="postgres")
        data = os.path.join(self.dir, "data")
        self._run(
            [f"{self.bin}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "--no-locale"]
        )
        args = [
            f"{self.bin}/postgres",
            "-D",
            data,
            "-k",
            self.dir,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=300",
            *(arg for setting in settings for arg in ("-c", setting)),
        ]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(self._as_user(args), stdout=self.log, stderr=self.log)
        import time

        deadline = time.monotonic() + 60
        while self.psql("SELECT 1") != "1":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("PostgreSQL did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self._n = 0

    @staticmethod
    def _bin_dir() -> str:
        import glob
        import shutil

        found = shutil.which("initdb")
        if found:
            return os.path.dirname(os.path.realpath(found))
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not versions:
            raise FileNotFoundError("initdb")
        return versions[-1]

    def _as_user(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else args

    def _run(self, args: list[str]) -> None:
        import subprocess

        subprocess.run(self._as_user(args), check=True, capture_output=True, timeout=120)

    def psql(self, sql: str, database: str = "postgres") -> str:
        import subprocess

        out = subprocess.run(
            [
                f"{self.bin}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return out.stdout.strip()

    def psql_file(self, path: str, database: str) -> None:
        import subprocess

        subprocess.run(
            [
                f"{self.bin}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-f",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def database(self) -> str:
        self._n += 1
        name = f"t{os.getpid()}_{self._n}"
        self.psql(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        import shutil

        self.proc.terminate()  # smart shutdown; then fast if it lingers
        try:
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Any:
    try:
        cluster = PostgresCluster()
    except FileNotFoundError:
        if os.environ.get("LLMSWITCH_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "PostgreSQL is required (LLMSWITCH_REQUIRE_POSTGRES=1): apt-get install -y postgresql"
            )
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    yield cluster
    cluster.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a loopback port, stopped (and restartable) by tests."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return out.stdout.strip()


@pytest.fixture()
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of our own for one test (skipped where it is not installed, unless
    LLMSWITCH_REQUIRE_REDIS=1, as .ci/run sets, makes that a failure)."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("LLMSWITCH_REQUIRE_REDIS") == "1":
            pytest.fail(
                "redis-server is required (LLMSWITCH_REQUIRE_REDIS=1): apt-get install -y redis-server"
            )
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = RedisServer()
    server.start()
    yield server
    server.stop()

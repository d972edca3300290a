"""The gateway on PostgreSQL over TLS: a throwaway cluster with `ssl=on` and a certificate
signed by a CA made here (openssl), and `database_url`s with libpq's `sslmode` and
`sslrootcert`."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_gateway_state import Admin, chat, write_config

import llmswitch.proxy
from llmswitch.testing import MockServer


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def make_ca(d: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={name}",
        cwd=d,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[tuple[Any, Path]]:
    import tempfile

    from conftest import PostgresCluster

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    # Not under pytest's temporary directory: the postgres user must reach the files.
    d = Path(tempfile.mkdtemp(prefix="llmswitch-pg-tls-"))
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    # The server's certificate names `localhost` only.
    (d / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)  # fmt: skip
    os.chmod(d / "server.key", 0o600)
    os.chmod(d, 0o755)
    if os.geteuid() == 0:  # the cluster runs as postgres, which must own its key
        for f in ("server.key", "server.pem"):
            shutil.chown(d / f, user="postgres", group="postgres")
    try:
        cluster = PostgresCluster(
            "ssl=on", f"ssl_cert_file={d / 'server.pem'}", f"ssl_key_file={d / 'server.key'}"
        )
    except FileNotFoundError:
        shutil.rmtree(d, ignore_errors=True)
        if os.environ.get("LLMSWITCH_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (LLMSWITCH_REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL is not installed")
    yield cluster, d
    cluster.stop()
    shutil.rmtree(d, ignore_errors=True)


def url(cluster: Any, host: str, query: str) -> str:
    base = cluster.database().replace("@127.0.0.1:", f"@{host}:")
    return f"{base}?{query}"


def encrypted_connections(cluster: Any, database_url: str) -> int:
    name = database_url.split("?")[0].rsplit("/", 1)[1]
    return int(
        cluster.psql(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            f"WHERE ssl AND datname = '{name}'"
        )
    )


@pytest.mark.parametrize(
    ("host", "query"),
    [
        ("localhost", "sslmode=verify-full&sslrootcert={ca}"),
        ("127.0.0.1", "sslmode=verify-ca&sslrootcert={ca}"),
        ("127.0.0.1", "sslmode=require"),
    ],
)
def test_the_gateway_works_over_tls(
    tls_cluster: tuple[Any, Path], server: MockServer, tmp_path: Path, host: str, query: str
) -> None:
    cluster, d = tls_cluster
    database = url(cluster, host, query.format(ca=d / "ca.pem"))
    cfg = write_config(tmp_path / "tls.yaml", server, database_url=database, database_connection_timeout=20)
    with llmswitch.proxy.start(cfg) as gw:
        key = Admin(gw.url).post("/key/generate", {"models": ["gpt"]})["key"]
        assert chat(gw, key).choices[0].message.content
        assert encrypted_connections(cluster, database) >= 1


@pytest.mark.parametrize(
    ("host", "query", "why"),
    [
        # The certificate names localhost, not 127.0.0.1.
        ("127.0.0.1", "sslmode=verify-full&sslrootcert={ca}", "certificate not valid for name"),
        # Signed by a CA the gateway was not given.
        ("localhost", "sslmode=verify-full&sslrootcert={other}", "UnknownIssuer"),
        ("localhost", "sslmode=verify-ca&sslrootcert={other}", "UnknownIssuer"),
    ],
)
def test_a_server_certificate_that_does_not_verify_fails_at_start(
    tls_cluster: tuple[Any, Path], server: MockServer, tmp_path: Path, host: str, query: str, why: str
) -> None:
    cluster, d = tls_cluster
    database = url(cluster, host, query.format(ca=d / "ca.pem", other=d / "other-ca.pem"))
    cfg = write_config(tmp_path / "bad.yaml", server, database_url=database, database_connection_timeout=10)
    with pytest.raises(Exception) as info:
        llmswitch.proxy.start(cfg)
    assert why in str(info.value), str(info.value)


def test_an_unreadable_ca_file_or_a_client_certificate_fails_with_its_name(
    server: MockServer, tmp_path: Path
) -> None:
    for query, expected in [
        ("sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "/nonexistent/ca.pem"),
        ("sslmode=require&sslcert=/c.pem", "sslcert"),
        ("sslmode=sometimes", "sslmode=sometimes"),
    ]:
        cfg = write_config(
            tmp_path / "bad.yaml",
            server,
            database_url=f"postgresql://u:s3cret@127.0.0.1:1/db?{query}",
            database_connection_timeout=2,
        )
        with pytest.raises(Exception) as info:
            llmswitch.proxy.start(cfg)
        assert expected in str(info.value)
        assert "s3cret" not in str(info.value)

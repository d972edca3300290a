"""A database made by LiteLLM 1.106.2's own migrations (the SQL files of
litellm-proxy-extras 0.4.108, the version LiteLLM 1.106.2 pins, applied with psql as
LiteLLM's proxy applies them), holding keys, a team and spend in the rows LiteLLM's
/key/generate and /team/new write: the gateway uses it as is, every client keeps its key.

LiteLLM's proxy itself cannot run here (its Prisma engines are downloaded at first start,
and this environment has no access to binaries.prisma.sh), so the rows are written with
SQL in LiteLLM's shape: the token is LiteLLM's hash_token (SHA-256 hex of the key)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import openai
import pytest
from test_gateway_state import CALL_COST, Admin, chat, write_config

import llmswitch.proxy
from llmswitch.testing import MockServer

LEGACY_KEY = "sk-legacy-key-made-by-litellm-0123456789"
SPENT_KEY = "sk-legacy-key-over-its-budget-987654321"


def migrations() -> list[Path]:
    try:
        import litellm_proxy_extras  # type: ignore[import-not-found]
    except ImportError:
        if os.environ.get("LLMSWITCH_REQUIRE_POSTGRES") == "1":
            pytest.fail("litellm-proxy-extras is required: pip install litellm-proxy-extras==0.4.108")
        pytest.skip("litellm-proxy-extras is not installed")
    root = Path(litellm_proxy_extras.__file__).parent / "migrations"
    return sorted(root.glob("*/migration.sql"))


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture()
def litellm_db(postgres_cluster: Any) -> tuple[Any, str, str]:
    files = migrations()
    assert len(files) > 200
    url = postgres_cluster.database()
    db = url.rsplit("/", 1)[1]
    for f in files:
        postgres_cluster.psql_file(str(f), db)
    sql = f"""
    INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, admins, members, models, max_budget, spend,
        members_with_roles, created_at, updated_at)
    VALUES ('team-legacy', 'Legacy Team', ARRAY[]::text[], ARRAY[]::text[], ARRAY['gpt'], 100, 1.5,
        '[]', now(), now());
    INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, spend, models, team_id,
        max_budget, metadata, created_at, updated_at)
    VALUES ('{sha(LEGACY_KEY)}', 'sk-...6789', 'legacy', 0.25, ARRAY[]::text[], 'team-legacy', 10,
        '{{"tags": ["old"]}}', now(), now());
    INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, spend, models, max_budget,
        created_at, updated_at)
    VALUES ('{sha(SPENT_KEY)}', 'sk-...4321', 'spent', 2.0, ARRAY['gpt'], 2.0, now(), now());
    """
    postgres_cluster.psql(sql, db)
    return postgres_cluster, url, db


def columns(cluster: Any, db: str) -> str:
    return str(
        cluster.psql(
            "SELECT table_name, count(*) FROM information_schema.columns WHERE table_name LIKE 'LiteLLM_%' "
            "GROUP BY 1 ORDER BY 1",
            db,
        )
    )


def test_a_litellm_database_works_as_is(
    server: MockServer, tmp_path: Path, litellm_db: tuple[Any, str, str]
) -> None:
    cluster, url, db = litellm_db
    before = columns(cluster, db)
    gw = llmswitch.proxy.start(write_config(tmp_path / "gw.yaml", server, database_url=url))
    try:
        # LiteLLM's tables are left as they are.
        assert columns(cluster, db) == before
        admin = Admin(gw.url)
        info = admin.get(f"/key/info?key={LEGACY_KEY}")["info"]
        assert info["key_alias"] == "legacy"
        assert float(info["spend"]) == 0.25
        # The key works, within its team's models.
        assert chat(gw, LEGACY_KEY).choices[0].message.content
        with pytest.raises(openai.PermissionDeniedError):
            chat(gw, LEGACY_KEY, model="mini")
        # A key whose spend reached its budget under LiteLLM is refused here.
        with pytest.raises(openai.UnprocessableEntityError, match="Budget has been exceeded"):
            chat(gw, SPENT_KEY)
        # New keys, teams and end users written here satisfy LiteLLM's constraints.
        team = admin.post("/team/new", {"team_alias": "New", "models": ["gpt"]})
        made = admin.post("/key/generate", {"team_id": team["team_id"], "key_alias": "new"})
        assert chat(gw, made["key"]).choices[0].message.content
        admin.post("/customer/new", {"user_id": "cust-1", "max_budget": 5})
        admin.post("/key/delete", {"keys": [made["key"]]})
    finally:
        gw.stop()  # writes the spend
    spend = cluster.psql(
        f"""SELECT spend FROM "LiteLLM_VerificationToken" WHERE token = '{sha(LEGACY_KEY)}'""", db
    )
    assert abs(float(spend) - (0.25 + CALL_COST)) < 1e-9
    team_spend = cluster.psql("""SELECT spend FROM "LiteLLM_TeamTable" WHERE team_id = 'team-legacy'""", db)
    assert abs(float(team_spend) - (1.5 + CALL_COST)) < 1e-9
    logged = cluster.psql(
        f"""SELECT count(*) FROM "LiteLLM_SpendLogs" WHERE api_key = '{sha(LEGACY_KEY)}' AND status = 'success'""",
        db,
    )
    assert logged == "1"
    deleted = cluster.psql(
        """SELECT count(*) FROM "LiteLLM_DeletedVerificationToken" WHERE key_alias = 'new'""", db
    )
    assert deleted == "1"

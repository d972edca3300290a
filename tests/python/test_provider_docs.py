"""docs/providers/README.md lists every LiteLLM 1.106.2 provider, with statuses that match
what llmswitch registers (the list of LiteLLM's names is a committed data file, so this
test needs no LiteLLM)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tests' tomli dependency
    import tomli as tomllib

import llmswitch

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([^`]+)` \| (supported \((native|table)\)|not yet) \|(.*)$")


def _litellm_names() -> list[str]:
    text = (ROOT / "tests" / "data" / "litellm_providers.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _doc_rows() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "docs" / "providers" / "README.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            name, status, _, rest = m.groups()
            assert name not in rows, f"{name} is listed twice"
            rows[name] = (status, rest.strip(" |"))
    return rows


def _table_names() -> set[str]:
    hosts = tomllib.loads((ROOT / "src" / "data" / "openai_compatible.toml").read_text())["host"]
    return {name for h in hosts for name in [h["name"], *h.get("aliases", [])]}


def test_the_data_file_is_litellms_provider_enum() -> None:
    names = _litellm_names()
    assert len(names) == len(set(names)) == 166
    for name in ("openai", "anthropic", "bedrock", "huggingface", "cloudflare", "snowflake", "gdc"):
        assert name in names


def test_docs_list_every_litellm_provider() -> None:
    missing = set(_litellm_names()) - set(_doc_rows())
    assert not missing, f"docs/providers/README.md does not list {sorted(missing)}"


def test_doc_statuses_match_the_registered_providers() -> None:
    rows = _doc_rows()
    supported = {name for name, (status, _) in rows.items() if status.startswith("supported")}
    registered = set(llmswitch.provider_list)
    assert supported == registered, (
        f"registered but not marked supported: {sorted(registered - supported)}; "
        f"marked supported but not registered: {sorted(supported - registered)}"
    )
    table = _table_names()
    for name, (status, _) in rows.items():
        if status == "supported (table)":
            assert name in table, name
        if status == "supported (native)":
            assert name not in table, name


def test_every_not_yet_has_a_reason() -> None:
    for name, (status, reason) in _doc_rows().items():
        if status == "not yet":
            assert len(reason) > 10, f"{name}: no reason given"


def test_the_headline_count_is_current() -> None:
    text = (ROOT / "docs" / "providers" / "README.md").read_text()
    m = re.search(r"speaks to \*\*(\d+) providers\*\*", text)
    assert m and int(m.group(1)) == len(llmswitch.provider_list)
    supported_litellm = [n for n in _litellm_names() if n in set(llmswitch.provider_list)]
    assert f"{len(supported_litellm)} are supported here" in text
    assert len(llmswitch.provider_list) >= 70
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"speaks to \*\*(\d+) providers\*\*", readme)
    assert m and int(m.group(1)) == len(llmswitch.provider_list), "README.md's provider count"

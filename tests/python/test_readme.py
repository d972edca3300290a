"""The README stays what a new user needs: a first command that works on a Debian/Ubuntu
system Python, a Quickstart that runs as pasted, and links that lead somewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_quickstart_runs_as_pasted(tmp_path):
    code = "\n".join(re.findall(r"```python\n(.*?)```", section(README.read_text(), "Quickstart"), re.S))
    assert "..." not in code and "await " in code and "asyncio.run(" in code
    script = tmp_path / "quickstart.py"
    script.write_text(code)
    # A fresh interpreter in an empty directory, as a user pasting it would run it.
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "['answer 0', 'answer 1', 'answer 2']" in out.stdout
    assert "Spend by model:" in out.stdout


def test_first_command_uses_a_virtual_environment():
    first = re.search(r"```sh\n(.*?)\n```", section(README.read_text(), "The two commands"), re.S)
    assert first is not None
    command = first.group(1)
    # Debian's and Ubuntu's system Python refuse `pip install` outside a venv (PEP 668).
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install")
    assert command.endswith(".venv/bin/python -m llmswitch demo")


def test_readme_stays_short():
    # The reference lives in docs/; the README is read in five minutes.
    assert len(README.read_text()) < 16_000


def _anchors(path: Path) -> set[str]:
    anchors = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_links_in_readme_and_docs_resolve():
    pages = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert broken == []


def test_readme_names_the_crates_rust_version():
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'^rust-version = "([\d.]+)"', cargo, re.M)
    assert version is not None
    assert f"**Rust ≥ {version.group(1)}**" in README.read_text()

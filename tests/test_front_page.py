"""The README stays a front page: short, the two set-up commands first, every link landing on a page and heading.

What it shows is run by tests/test_readme.py; the reference lives in docs/ (tests/test_docs_site.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_at_most_300_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_the_readme_starts_with_the_two_set_up_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] == "```bash", lines[:3]
    block = lines[3 : lines.index("```", 3)]
    assert [line.split("#")[0].strip() for line in block] == ["scripts/serve.sh", "scripts/test.sh"], block


def headings(page: Path) -> set[str]:
    """The anchors MkDocs (Python-Markdown's toc) gives the page's headings."""
    slugify = pytest.importorskip("markdown.extensions.toc").slugify
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slugify(re.sub(r"[`*]", "", h), "-") for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_every_link_of_the_readme_lands():
    links = [link for link in LINK.findall(README.read_text(encoding="utf-8")) if not re.match(r"[a-z]+:", link)]
    assert len(links) >= 20, links
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else README
        assert target.is_file(), f"README links to {link}: no such file"
        if anchor:
            assert anchor in headings(target), f"README links to {link}: {path or 'README.md'} has no such heading"


def test_the_readme_links_into_every_group_of_the_docs():
    """A newcomer reaches each part of the documentation from the front page."""
    linked = {link.partition("#")[0] for link in LINK.findall(README.read_text(encoding="utf-8"))}
    for page in ("docs/index.md", "docs/server.md", "docs/own-model.md", "docs/model-repository.md",
                 "docs/protocol.md", "docs/friendly.md", "docs/deployment.md", "docs/load-testing.md",
                 "docs/benchmarks.md", "docs/reliability.md", "docs/architecture.md", "docs/changelog.md"):
        assert page in linked, page

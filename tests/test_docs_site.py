"""The docs site builds strictly (mkdocs.yml, docs/): no broken link or anchor, nothing from another origin."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                reason="mkdocs is not installed (pip install -e '.[dev]')")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=120, env=env)


def nav_pages(entries: list) -> list[str]:
    """Every page the navigation of mkdocs.yml lists, sections opened."""
    found: list[str] = []
    for entry in entries:
        for value in (entry.values() if isinstance(entry, dict) else [entry]):
            found += nav_pages(value) if isinstance(value, list) else [value]
    return found


def test_every_page_is_in_the_navigation_once():
    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(nav) == pages


def test_strict_build_has_every_page_and_picture(tmp_path):
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    pages = ["index.html", "playground/index.html", "server/index.html", "own-model/index.html",
             "model-repository/index.html", "reference-models/index.html", "results/digits/index.html",
             "results/denoiser/index.html", "results/vowels/index.html", "results/langid_transformer/index.html",
             "batching/index.html", "response-cache/index.html", "gpu/index.html", "protocol/index.html",
             "grpc/index.html", "shared-memory/index.html", "friendly/index.html", "deployment/index.html",
             "deployment-validation/index.html", "observability/index.html", "reliability/index.html",
             "security/index.html", "load-testing/index.html", "benchmarks/index.html",
             "architecture/index.html", "development/index.html", "changelog/index.html"]
    for page in pages:
        assert (site / page).is_file(), page
    assert len(pages) == len(list((ROOT / "docs").rglob("*.md")))
    for picture in ("attention.png", "img/five.png", "img/playground-digits.png", "img/playground-langid.png"):
        assert (site / picture).is_file(), picture


def test_built_pages_load_nothing_from_another_origin(tmp_path):
    assert build(ROOT / "mkdocs.yml", tmp_path / "site").returncode == 0
    for page in (tmp_path / "site").rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        loaded = re.findall(r'<(?:script|link|img)\b[^>]*?(?:src|href)="(https?:)?//[^"]*"', html)
        assert not loaded, f"{page.name} loads {loaded}"


def test_a_broken_anchor_fails_the_build(tmp_path):
    """The strictness is real: a link to a heading that does not exist stops the build."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "index.md").write_text((docs / "index.md").read_text() + "\nSee [nowhere](playground.md#no-such-heading).\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text())
    done = build(config, tmp_path / "site")
    assert done.returncode != 0 and "no-such-heading" in done.stderr

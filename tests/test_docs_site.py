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

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                                reason="mkdocs is not installed (pip install -e '.[dev]')")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=120, env=env)


def test_strict_build_has_every_page_and_picture(tmp_path):
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    for page in ("index.html", "playground/index.html", "own-model/index.html"):
        assert (site / page).is_file(), page
    for picture in ("attention.png", "img/playground-digits.png", "img/playground-langid.png"):
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

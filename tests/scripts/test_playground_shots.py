"""scripts/playground_shots.py writes one small PNG per main view of the playground."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from scripts import browser
from scripts.launcher import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))]


def test_writes_the_four_views(tmp_path):
    subprocess.run([sys.executable, "-m", "scripts.playground_shots", "--out", str(tmp_path)], cwd=PROJECT_ROOT,
                   check=True, capture_output=True, timeout=180)
    for view in ("digits", "langid", "vowels", "denoiser"):
        path = tmp_path / f"playground-{view}.png"
        with Image.open(path) as image:
            assert image.size == (1280, image.size[1]) and image.mode == "P"  # a 64-colour palette
        assert path.stat().st_size < 100_000

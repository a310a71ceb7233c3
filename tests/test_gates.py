"""The lint and type gates: ruff over the repository, mypy --strict over service/ (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "All checks passed!"


def test_mypy_strict_finds_nothing_in_service():
    # The files, strictness and plugin come from [tool.mypy]; --strict repeats the promise here.
    result = run("mypy", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")

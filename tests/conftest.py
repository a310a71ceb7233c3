from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.tiny_models import make_repository  # noqa: E402


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """A fresh repository of tiny fixture models (see tests/tiny_models.py)."""
    return make_repository(tmp_path / "repo")


@pytest.fixture
def mixed_repo(tmp_path: Path) -> Path:
    """A string model and an id-lookup model, unchecked and checked (see tests/tiny_models.py)."""
    from tests.tiny_models import make_mixed_repository

    return make_mixed_repository(tmp_path / "mixed")

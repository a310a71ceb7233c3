"""Shared helpers of the deployment tests (everything offline; no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
CONSTRAINTS = DEPLOY / "constraints.txt"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(what: str, hint: str) -> None:
    """Skip when a tool is genuinely missing here; fail in CI, whose .ci/run installs it."""
    message = f"{what} is not available: {hint}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: .ci/run must install it)")
    pytest.skip(message)


def venv_tool(name: str) -> str | None:
    """A console script of the interpreter running the tests (its venv's bin), else PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def load_yaml_docs(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def settings_fields() -> set[str]:
    """Names of the server's settings (ORTSERVE_<NAME> environment variables)."""
    from service.core.settings import Settings

    return set(Settings.model_fields)


def settings_default(name: str):
    from service.core.settings import Settings

    return Settings.model_fields[name].default


def check_ortserve_env(names, where: str) -> None:
    fields = settings_fields()
    for name in names:
        if name.startswith("ORTSERVE_"):
            assert name[len("ORTSERVE_") :].lower() in fields, (
                f"{where}: {name} is not a setting of service/core/settings.py (typo, or renamed?)"
            )


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def seconds(value) -> float:
    """Compose/Docker durations: 40s, 1m30s, 500ms, or a bare number of seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m or not any(m.groups()):
        raise ValueError(f"not a duration: {value!r}")
    h, mnt, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mnt * 60 + s + ms / 1000


@pytest.fixture(scope="session")
def stages():
    from tests.deploy import dockerfile

    return dockerfile.parse(DOCKERFILE)


@pytest.fixture(scope="session")
def compose() -> dict:
    with open(COMPOSE, encoding="utf-8") as f:
        return yaml.safe_load(f)
